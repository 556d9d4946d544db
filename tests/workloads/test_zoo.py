"""The named zoo: every entry's parameters against its published size, and its FLOPs and weight bytes
against closed forms written out here per family (independently of `workloads.config`)."""

import functools
import math

import pytest

from workloads import zoo

# name -> (published parameter count, relative tolerance); where it comes from on each line.
PUBLISHED = {
    "bert-base": (109_482_240, 0.001),  # HF BertModel(bert-base-uncased) with pooler; Devlin et al. 2019 "110M"
    "roberta-base": (124_645_632, 0.001),  # HF RobertaModel(roberta-base) with pooler; Liu et al. 2019 "125M"
    "xlm-roberta-base": (278_043_648, 0.001),  # HF XLMRobertaModel(xlm-roberta-base) model page "278M"
    "vit-b16": (86_567_656, 0.001),  # timm vit_base_patch16_224 / HF ViTForImageClassification "86.6M"
    "resnet-50": (25_557_032, 0.001),  # torchvision resnet50 model card: 25,557,032 params
    "llama2-7b": (6.74e9, 0.01),  # Touvron et al. 2023 / HF Llama-2-7b-hf: 6,738,415,616
    "llama2-13b": (13.0e9, 0.01),  # HF Llama-2-13b-hf: 13,015,864,320
    "llama2-70b": (68.98e9, 0.01),  # HF Llama-2-70b-hf: 68,976,648,192
    "llama3-8b": (8.03e9, 0.01),  # HF Meta-Llama-3-8B: 8,030,261,248
    "mixtral-8x7b": (46.7e9, 0.01),  # Mistral AI release of Mixtral 8x7B: 46.7B total, 12.9B per token
    "opt-66b": (66e9, 0.02),  # Zhang et al. 2022 (OPT), Table 1: 66B
    "gpt3-175b": (175.0e9, 0.01),  # Brown et al. 2020, Table 2.1: 175.0B
    "mamba-1.4b": (1.37e9, 0.01),  # Gu & Dao 2023; HF state-spaces/mamba-1.4b-hf model page: 1.37B
    # Zhu et al. 2024 / matmulfreellm README: "1.3B" and "2.7B" are size labels.  HGRNBitConfig's
    # defaults (untied BitLinear LM head, GLU width rounded up to 256) give 1.365B and 2.702B; the
    # 370M sibling counts 374M by the same rule, so the labels round down.
    "matmulfree-370m": (370e6, 0.02),
    "matmulfree-1.3b": (1.3e9, 0.06),
    "matmulfree-2.7b": (2.7e9, 0.01),
}
UNPUBLISHED = {"m3vit"}  # no total parameter count in the paper; checked against the closed form only


@functools.cache
def default_graph(name):
    """The entry at its default workload, built once for the tests below (graphs are not mutated)."""
    return zoo.load(name)


def test_zoo_has_the_promised_entries():
    assert set(zoo.names()) == set(PUBLISHED) | UNPUBLISHED
    for name in zoo.names():
        cfg = zoo.config(name)
        assert cfg["source"] and "workload" in cfg and cfg["name"] == name


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_parameters_match_published_sizes(name):
    published, tol = PUBLISHED[name]
    assert default_graph(name).params == pytest.approx(published, rel=tol)


def test_mixtral_active_parameters_in_decode():
    # Mistral AI: 12.9B parameters used per token (2 of 8 experts); decode batch 1 routes 1 token x top-2
    g = zoo.load("mixtral-8x7b", phase="decode", batch=1, kv_len=1024)
    assert g.active_params == pytest.approx(12.9e9, rel=0.01)
    assert g.params == pytest.approx(46.7e9, rel=0.01)


def test_resnet50_macs_match_published():
    # torchvision resnet50 model card: 4.09 GFLOPS (multiply-accumulates) at 224x224
    assert default_graph("resnet-50").macs == pytest.approx(4.09e9, rel=0.01)


# ---- closed forms --------------------------------------------------------------------------------
# Each returns (params, flops, quantised_linear_params) for batch B, S tokens per sequence (prefill,
# attention over all S).  FLOPs: 2 per MAC of every matmul, 5 per softmax element, 9 per selective-scan
# element, 7 per norm element and 1 per ReLU where a family has many (ResNet), 8 per GELU (M3ViT);
# other element-wise work (under 0.5% of the total for these models) is left out, hence the 1% tolerance.


def attention_flops(B, S, heads, hd, layers):
    return layers * (2 * 2 * B * heads * S * S * hd + 5 * B * heads * S * S)


def llama_like(c, B, S):
    h, L, H = c["hidden_size"], c["num_hidden_layers"], c["num_attention_heads"]
    V, ff = c["vocab_size"], c["intermediate_size"]
    kvh = c.get("num_key_value_heads") or H
    hd = h // H
    E, k = c.get("num_local_experts", 1), c.get("num_experts_per_tok", 1)
    attn = h * H * hd + 2 * h * kvh * hd + H * hd * h
    expert = 3 * h * ff
    router = h * E if "num_local_experts" in c else 0
    norms = 2 * h
    params = V * h * 2 + L * (attn + E * expert + router + norms) + h  # untied head, final RMSNorm
    T = B * S
    flops = 2 * T * L * (attn + k * expert + router) + 2 * T * h * V + attention_flops(B, S, H, hd, L)
    return params, flops, None


def gpt(c, B, S):
    h, L, H, V, P = c["n_embd"], c["n_layer"], c["n_head"], c["vocab_size"], c["n_positions"]
    ff = c.get("n_inner") or 4 * h
    layer = 4 * h * h + 4 * h + 2 * h * ff + ff + h + 4 * h  # qkv/proj with biases, fc/proj with biases, 2 LNs
    params = V * h + P * h + L * layer + 2 * h  # tied head, final LN
    T = B * S
    flops = 2 * T * L * (4 * h * h + 2 * h * ff) + 2 * T * h * V + attention_flops(B, S, H, h // H, L)
    return params, flops, None


def opt(c, B, S):
    h, L, H, V, P, ff = (c["hidden_size"], c["num_hidden_layers"], c["num_attention_heads"], c["vocab_size"],
                         c["max_position_embeddings"], c["ffn_dim"])
    layer = 4 * (h * h + h) + (h * ff + ff) + (ff * h + h) + 4 * h
    params = V * h + (P + 2) * h + L * layer + 2 * h  # learned positions offset by 2, tied head, final LN
    T = B * S
    flops = 2 * T * L * (4 * h * h + 2 * h * ff) + 2 * T * h * V + attention_flops(B, S, H, h // H, L)
    return params, flops, None


def bert(c, B, S):
    h, L, H, V, P, ff, tv = (c["hidden_size"], c["num_hidden_layers"], c["num_attention_heads"], c["vocab_size"],
                             c["max_position_embeddings"], c["intermediate_size"], c["type_vocab_size"])
    layer = 4 * (h * h + h) + (h * ff + ff) + (ff * h + h) + 4 * h
    params = (V + P + tv) * h + 2 * h + L * layer + h * h + h  # embeddings + LN, layers, pooler
    T = B * S
    flops = 2 * T * L * (4 * h * h + 2 * h * ff) + 2 * B * h * h + attention_flops(B, S, H, h // H, L)
    return params, flops, None


def vit(c, B, _S):
    h, L, H, ff, img, p, ch = (c["hidden_size"], c["num_hidden_layers"], c["num_attention_heads"],
                               c["intermediate_size"], c["image_size"], c["patch_size"], c["num_channels"])
    n = (img // p) ** 2
    S, labels = n + 1, c["num_labels"]
    layer = 4 * (h * h + h) + (h * ff + ff) + (ff * h + h) + 4 * h
    params = (ch * p * p * h + h) + h + S * h + L * layer + 2 * h + (h * labels + labels)
    flops = (2 * B * n * h * ch * p * p + 2 * B * S * L * (4 * h * h + 2 * h * ff) + 2 * B * h * labels
             + attention_flops(B, S, H, h // H, L))
    return params, flops, None


def m3vit(c, B, _S):
    h, L, H, ff, img, p, ch = (c["hidden_size"], c["num_hidden_layers"], c["num_attention_heads"],
                               c["intermediate_size"], c["image_size"], c["patch_size"], c["num_channels"])
    E, k, eff, tasks = c["num_experts"], c["num_experts_per_tok"], c["moe_intermediate_size"], len(c["tasks"])
    n = (img // p) ** 2
    S = n + 1
    attn = 4 * (h * h + h) + 4 * h  # fused qkv + proj with biases, 2 LNs
    dense = (h * ff + ff) + (ff * h + h)
    expert = (h * eff + eff) + (eff * h + h)
    moe_layers = L // 2  # blocks 1, 3, 5, ...
    params = (ch * p * p * h + h) + h + S * h + L * attn + (L - moe_layers) * dense + moe_layers * (
        E * expert + tasks * h * E)  # experts shared by the tasks, one gate per task
    T = B * S
    per_task = (2 * B * n * h * ch * p * p + 2 * T * L * 4 * h * h + 2 * T * (L - moe_layers) * 2 * h * ff
                + moe_layers * (2 * T * k * 2 * h * eff + 2 * T * h * E) + attention_flops(B, S, H, h // H, L)
                + 8 * T * ((L - moe_layers) * ff + moe_layers * k * eff))  # GELU: small model, many experts
    return params, tasks * per_task, None


def mamba(c, B, S):
    h, L, V, N = c["hidden_size"], c["num_hidden_layers"], c["vocab_size"], c["state_size"]
    di, r, kc = 2 * h, math.ceil(h / 16), 4
    layer = h * 2 * di + (di * kc + di) + di * (r + 2 * N) + (r * di + di) + di * N + di + di * h + h
    params = V * h + L * layer + h  # tied head
    T = B * S
    gemm = h * 2 * di + di * kc + di * (r + 2 * N) + r * di + di * h
    flops = 2 * T * L * gemm + 9 * T * L * di * N + 2 * T * h * V
    return params, flops, None


def matmulfree(c, B, S):
    h, L, V = c["hidden_size"], c["num_hidden_layers"], c["vocab_size"]
    ff = 256 * math.ceil(int(h * 4 * 2 / 3) / 256)  # HGRNBitMLP's width rule
    linear = 4 * h * h + 3 * h * ff  # i, f, g, o projections; fused gate/up and down
    norms = 2 * h + h + (4 * h + h + ff)  # attn/mlp norm, g_norm, BitLinear RMSNorms of i/f/g/o, gate_proj, down
    lower_bound = h  # this layer's row of the forget-gate lower-bound table
    params = V * h + L * (linear + norms + lower_bound) + h + (h + h * V)  # final norm, BitLinear LM head
    T = B * S
    flops = 2 * T * L * linear + 9 * T * L * h + 2 * T * h * V
    return params, flops, L * linear + h * V


def resnet(c, B, _S):
    params = macs = elems_bn = elems_relu = 0
    hw = c["image_size"]

    def conv(hw, k, cin, cout, stride):
        nonlocal params, macs, elems_bn
        ho = (hw + 2 * (k // 2) - k) // stride + 1
        params += k * k * cin * cout + 2 * cout  # conv + BN gain/shift
        macs += B * ho * ho * k * k * cin * cout
        elems_bn += B * ho * ho * cout
        return ho

    hw = conv(hw, 7, 3, 64, 2)
    elems_relu += B * hw * hw * 64
    hw = (hw + 2 - 3) // 2 + 1
    cin = 64
    for stage, (depth, out) in enumerate(zip(c["depths"], c["hidden_sizes"])):
        for j in range(depth):
            stride = 2 if j == 0 and stage > 0 else 1
            mid = out // 4
            h1 = conv(hw, 1, cin, mid, 1)
            h2 = conv(h1, 3, mid, mid, stride)
            h3 = conv(h2, 1, mid, out, 1)
            if j == 0:
                conv(hw, 1, cin, out, stride)
            elems_relu += B * (h1 * h1 * mid + h2 * h2 * mid + 2 * h3 * h3 * out)  # 2: add + ReLU
            hw, cin = h3, out
    params += cin * 1000 + 1000
    macs += B * cin * 1000
    return params, 2 * macs + 7 * elems_bn + elems_relu, None


CLOSED_FORMS = {
    "llama": llama_like, "mixtral": llama_like, "gpt3": gpt, "opt": opt, "bert": bert, "roberta": bert,
    "xlm-roberta": bert, "vit": vit, "m3vit": m3vit, "mamba": mamba, "hgrn_bit": matmulfree, "resnet": resnet,
}


@pytest.mark.parametrize("name", sorted(PUBLISHED) + sorted(UNPUBLISHED))
def test_flops_and_weight_bytes_match_closed_forms(name):
    cfg = zoo.config(name)
    g = default_graph(name)
    B, S = cfg["workload"]["batch"], cfg["workload"].get("seq_len")
    params, flops, quantised = CLOSED_FORMS[cfg["model_type"]](cfg, B, S)
    assert g.params == params  # the closed forms count every tensor, so they agree exactly
    assert g.flops == pytest.approx(flops, rel=0.01)
    if quantised is None:  # fp16 everywhere
        assert g.weight_bytes == pytest.approx(2 * params, rel=0.01)
    else:  # ternary BitLinear weights in 2-bit codes, the rest in fp16
        assert g.weight_bytes == pytest.approx(quantised * 2 / 8 + (params - quantised) * 2, rel=0.01)


def test_unknown_name_suggests_a_close_match():
    with pytest.raises(ValueError, match=r"unknown zoo workload 'llama2-7B'.*did you mean 'llama2-7b'"):
        zoo.load("llama2-7B")
    with pytest.raises(ValueError, match=r"'mixtral8x7b'.*did you mean 'mixtral-8x7b'.*known: \["):
        zoo.config("mixtral8x7b")


def test_overrides_reach_the_workload_or_the_config():
    g = zoo.load("llama2-7b", phase="decode", batch=4, kv_len=512, num_hidden_layers=2)
    assert g["L1.attn.q_proj"].mnk == (4, 4096, 4096) and "L2.attn.q_proj" not in g
    assert g.meta["phase"] == "decode" and g.name == "llama2-7b"
    with pytest.raises(ValueError, match=r"override num_hiden_layers=2.*did you mean 'num_hidden_layers'"):
        zoo.load("llama2-7b", num_hiden_layers=2)


def test_config_is_a_copy():
    zoo.config("bert-base")["hidden_size"] = 1
    assert zoo.config("bert-base")["hidden_size"] == 768


def test_zoo_files_ship_as_package_data():
    from importlib import resources

    folder = resources.files("workloads") / "zoo"
    assert sorted(p.name for p in folder.iterdir() if p.name.endswith(".json")) == [f"{n}.json" for n in zoo.names()]
