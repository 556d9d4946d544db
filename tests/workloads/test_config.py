"""`from_config`: phases and shapes, GQA, MoE routing, precisions, tags and edges, validation at the door."""

import math

import networkx as nx
import pytest

from workloads import from_config, zoo
from workloads.config import expert_counts
from workloads.op import GROUP_SCALE_BITS, OpKind

TINY_LLAMA = {"model_type": "llama", "hidden_size": 256, "intermediate_size": 512, "num_hidden_layers": 2,
              "num_attention_heads": 4, "num_key_value_heads": 2, "vocab_size": 1000, "max_position_embeddings": 512}
TINY_MIXTRAL = {**TINY_LLAMA, "model_type": "mixtral", "num_local_experts": 8, "num_experts_per_tok": 2}
TINY_GPT2 = {"model_type": "gpt2", "n_embd": 64, "n_layer": 2, "n_head": 4, "n_positions": 128, "vocab_size": 500}


def expert_ms(g, layer, matrix="gate_proj"):
    return [g[f"L{layer}.moe.e{e}.{matrix}"].mnk[0] for e in range(8)]


# ---- phases and shapes -----------------------------------------------------------------------------


def test_prefill_shapes():
    g = zoo.load("llama2-7b", num_hidden_layers=2, batch=2, seq_len=128)
    assert g["L0.attn.q_proj"].mnk == (256, 4096, 4096)  # M = batch * seq_len
    assert g["L1.mlp.down_proj"].mnk == (256, 4096, 11008)
    score, ctx = g["L0.attn.score"], g["L0.attn.context"]
    assert (score.mnk, score.batch) == ((128, 128, 128), 2 * 32)  # M = N = seq_len, K = head_dim
    assert (ctx.mnk, ctx.batch) == ((128, 128, 128), 2 * 32)
    assert dict(g["L0.attn.softmax"].dims) == {"rows": 2 * 32 * 128, "cols": 128}
    assert g["head.lm_head"].mnk == (256, 32000, 4096)
    assert {op.tags["phase"] for op in g} == {"prefill"}


def test_decode_shapes():
    g = zoo.load("llama2-7b", num_hidden_layers=2, phase="decode", batch=2, kv_len=300)
    assert g["L0.attn.q_proj"].mnk == (2, 4096, 4096)  # one new token per sequence
    assert g["L0.attn.score"].mnk == (1, 300, 128) and g["L0.attn.score"].batch == 64
    assert g["L0.attn.context"].mnk == (1, 128, 300)
    assert g["head.lm_head"].mnk == (2, 32000, 4096)
    assert g["embed.tokens"].dims["tokens"] == 2
    assert {op.tags["phase"] for op in g} == {"decode"}
    assert g.meta["kv_len"] == 300 and g.meta["tokens"] == 2
    # decode without kv_len attends over seq_len positions
    assert from_config(TINY_LLAMA, phase="decode", seq_len=77)["L0.attn.score"].mnk == (1, 77, 64)


def test_chunked_prefill_sliding_window_and_logits_to_keep():
    g = from_config(TINY_LLAMA, seq_len=64, kv_len=256)
    assert g["L0.attn.score"].mnk == (64, 256, 64)
    mistral = {**TINY_LLAMA, "model_type": "mistral", "sliding_window": 100}
    assert from_config(mistral, phase="decode", kv_len=400)["L0.attn.score"].mnk == (1, 100, 64)
    last = from_config({**TINY_LLAMA, "logits_to_keep": 1}, batch=3, seq_len=64)
    assert last["head.lm_head"].mnk == (3, 1000, 256)


def test_gqa_kv_projections_and_kv_bytes():
    g = zoo.load("llama2-70b", num_hidden_layers=1, phase="decode", batch=4, kv_len=1000)
    assert g["L0.attn.q_proj"].mnk == (4, 64 * 128, 8192)
    assert g["L0.attn.k_proj"].mnk == (4, 8 * 128, 8192)  # num_key_value_heads * head_dim
    assert g["L0.attn.v_proj"].mnk == (4, 8 * 128, 8192)
    score = g["L0.attn.score"]
    assert score.dims["kv_group"] == 8 and score.batch == 4 * 64
    # the 8 query heads of a group share one K cache: fp16 Q of every head plus K of every KV head
    assert score.input_bytes == 4 * 64 * 128 * 2 + 4 * 8 * 128 * 1000 * 2
    assert score.flops == 2 * 4 * 64 * 1000 * 128
    mha = zoo.load("llama2-7b", num_hidden_layers=1, phase="decode", batch=4, kv_len=1000)["L0.attn.score"]
    assert mha.dims["kv_group"] == 1 and mha.input_bytes == 4 * 32 * 128 * 2 + 4 * 32 * 128 * 1000 * 2


# ---- MoE -------------------------------------------------------------------------------------------


def test_expert_counts_uniform_split_gives_remainder_to_low_experts():
    assert expert_counts(10, 2, 8) == [3, 3, 3, 3, 2, 2, 2, 2]
    assert expert_counts(1, 2, 8) == [1, 1, 0, 0, 0, 0, 0, 0]
    assert sum(expert_counts(12345, 4, 16)) == 12345 * 4


def test_expert_counts_from_histograms():
    assert expert_counts(5, 2, 4, [4, 3, 2, 1]) == [4, 3, 2, 1]  # counts
    assert expert_counts(5, 2, 4, [0.5, 0.25, 0.25, 0.0]) == [5, 3, 2, 0]  # 2.5 / 2.5 tie to the lower index
    assert expert_counts(100, 2, 4, [0.1, 0.2, 0.3, 0.4]) == [20, 40, 60, 80]


def test_moe_uniform_routing_conserves_tokens():
    g = from_config(TINY_MIXTRAL, batch=1, seq_len=3)
    for layer in range(2):
        ms = expert_ms(g, layer)
        assert ms == [1, 1, 1, 1, 1, 1, 0, 0]
        assert sum(ms) == 3 * 2  # tokens * top_k
        assert expert_ms(g, layer, "down_proj") == ms
    e7 = g["L0.moe.e7.up_proj"]
    assert e7.tags["expert"] == 7 and e7.flops == 0 and e7.params == 256 * 512  # still counted
    assert g.params > g.active_params
    router = g["L0.moe.router"]
    assert router.kind is OpKind.ROUTER and router.mnk == (3, 8, 256)


def test_moe_histogram_routing_per_layer():
    hist = [0.5, 0.5, 0, 0, 0, 0, 0, 0]
    g = from_config(TINY_MIXTRAL, batch=2, seq_len=8, routing={1: hist})
    assert expert_ms(g, 0) == [4] * 8  # layers not listed are uniform
    assert expert_ms(g, 1) == [16, 16, 0, 0, 0, 0, 0, 0]
    g = from_config(TINY_MIXTRAL, batch=2, seq_len=8, routing=[16, 8, 8, 0, 0, 0, 0, 0])
    assert expert_ms(g, 0) == expert_ms(g, 1) == [16, 8, 8, 0, 0, 0, 0, 0]
    assert sum(expert_ms(g, 0)) == 2 * 8 * 2


@pytest.mark.parametrize("routing, message", [
    ([1, 1, 1], r"expected a list of 8 counts or fractions"),
    ([6, 0, 0, 0, 0, 0, 0, 0], r"expected at most 3 tokens per expert \(a token visits an expert once\); got 6"),
    ([5, 0, 0, 0, 0, 0, 0, 0], r"sums to 5: expected counts summing to tokens\*top_k = 3\*2 = 6"),
    ([0.5, 0.6, 0, 0, 0, 0, 0, 0], r"expected counts summing to .* or fractions summing to 1"),
    ([-1, 7, 0, 0, 0, 0, 0, 0], r"expected non-negative numbers"),
    ({7: [6, 0, 0, 0, 0, 0, 0, 0]}, r"routing key 7: expected an MoE layer index \[0, 1\]"),
])
def test_bad_routing_is_rejected(routing, message):
    with pytest.raises(ValueError, match=message):
        from_config(TINY_MIXTRAL, seq_len=3, routing=routing)


def test_mixtral_decode_batch1_reads_two_experts_per_layer():
    g = zoo.load("mixtral-8x7b", phase="decode", batch=1, kv_len=512)
    read = [op for op in g if op.tags.get("expert") is not None and op.kind is OpKind.GEMM and op.weight_bytes]
    assert len(read) == 32 * 2 * 3  # layers x top-2 x (gate, up, down)


def test_m3vit_tasks_select_their_gates_and_share_experts():
    both = zoo.load("m3vit")
    depth = zoo.load("m3vit", tasks=["depth"])
    assert {op.tags["task"] for op in depth} == {"depth"}
    assert both.params - depth.params == 6 * 384 * 16  # one 384 x 16 gate per MoE block per task
    assert both.flops == pytest.approx(2 * depth.flops, rel=1e-9)
    fc1 = depth["depth.L1.moe.e3.fc1"]
    assert fc1.tags["expert"] == 3 and fc1.tags["task"] == "depth" and fc1.weight_id == "L1.moe.e3.fc1"
    assert "depth.L0.mlp.fc1" in depth and "depth.L0.moe.router" not in depth  # even blocks are dense
    tokens = 197
    assert sum(depth[f"depth.L1.moe.e{e}.fc1"].mnk[0] for e in range(16)) == tokens * 4  # top-4
    skewed = zoo.load("m3vit", routing={"semseg": [tokens * 4 // 4] * 4 + [0] * 12})
    assert skewed["semseg.L3.moe.e0.fc1"].mnk[0] == tokens and skewed["semseg.L3.moe.e15.fc1"].mnk[0] == 0
    assert skewed["depth.L3.moe.e15.fc1"].mnk[0] > 0  # the other task stays uniform
    with pytest.raises(ValueError, match=r"tasks=\['normals'\]: expected .* from \['semseg', 'depth'\]"):
        zoo.load("m3vit", tasks=["normals"])


# ---- precisions --------------------------------------------------------------------------------------


def tiny_llama_linear_params():
    h, ff, kv, v = 256, 512, 2 * 64, 1000
    per_layer = [h * h, h * kv, h * kv, h * h, h * ff, h * ff, ff * h]
    return [p for _ in range(2) for p in per_layer] + [h * v]  # + untied LM head


def test_int4_grouped_weight_bytes():
    g = from_config(TINY_LLAMA, w_format="int4", a_format="fp16", group_size=128)
    linear = tiny_llama_linear_params()
    other = 1000 * 256 + 2 * 2 * 256 + 256  # embedding and RMSNorm gains stay fp16
    expected = sum(p * 4 / 8 + math.ceil(p / 128) * (GROUP_SCALE_BITS + 4) / 8 for p in linear) + other * 2
    assert g.weight_bytes == expected
    assert g["L0.attn.q_proj"].w_format == "int4" and g["L0.attn.q_proj"].group_size == 128
    assert g["L0.attn.score"].a_format == "fp16"  # the KV cache stays in the storage format


def test_ternary_weight_bytes_and_matmulfree_defaults():
    cfg = {"model_type": "hgrn_bit", "hidden_size": 256, "num_hidden_layers": 2, "vocab_size": 1000}
    g = from_config(cfg, seq_len=16)
    ff = 256 * math.ceil(int(256 * 4 * 2 / 3) / 256)  # 682 -> 768
    linear = 2 * (4 * 256 * 256 + 256 * 2 * ff + ff * 256) + 256 * 1000
    assert g.weight_bytes == linear * 2 / 8 + (g.params - linear) * 2
    q = g["L0.mixer.i_proj"]
    assert (q.w_format, q.a_format) == ("ternary", "int8")
    scan = g["L0.mixer.scan"]
    assert scan.kind is OpKind.SCAN and dict(scan.dims) == {"L": 16, "D": 256, "N": 1, "params": 256}
    assert from_config(cfg, w_format="fp16", a_format="fp16").weight_bytes == g.params * 2


def test_tied_head_shares_the_embedding_weight():
    g = from_config(TINY_GPT2, seq_len=32)
    assert g["head.lm_head"].weight_id == "embed.tokens"
    h, v = 64, 500
    layer = 12 * h * h + 13 * h
    assert g.params == v * h + 128 * h + 2 * layer + 2 * h  # the head's 64 x 500 is not counted twice
    untied = from_config({**TINY_GPT2, "tie_word_embeddings": False}, seq_len=32)
    assert untied.params == g.params + v * h and untied["head.lm_head"].weight_id is None


# ---- other families ----------------------------------------------------------------------------------


def test_mamba_prefill_and_decode():
    g = zoo.load("mamba-1.4b", num_hidden_layers=1, batch=2, seq_len=64)
    scan = g["L0.mixer.scan"]
    assert (scan.dims["L"], scan.dims["D"], scan.dims["N"], scan.batch) == (64, 4096, 16, 2)
    assert g["L0.mixer.in_proj"].mnk == (128, 8192, 2048)
    assert g["L0.mixer.x_proj"].mnk == (128, 128 + 32, 4096)
    conv = g["L0.mixer.conv1d"]
    assert conv.mnk == (128, 1, 4) and conv.batch == 4096 and conv.params == 4096 * 5
    d = zoo.load("mamba-1.4b", num_hidden_layers=1, phase="decode", batch=2)
    assert d["L0.mixer.scan"].dims["L"] == 1 and d["L0.mixer.in_proj"].mnk == (2, 8192, 2048)


def test_opt_post_norm_with_projections():
    # facebook/opt-350m: word_embed_proj_dim 512, post-norm, no final LayerNorm; HF reports 331M parameters
    cfg = {"model_type": "opt", "hidden_size": 1024, "ffn_dim": 4096, "num_hidden_layers": 24,
           "num_attention_heads": 16, "vocab_size": 50272, "max_position_embeddings": 2048,
           "word_embed_proj_dim": 512, "do_layer_norm_before": False}
    g = from_config(cfg, seq_len=64)
    assert g.params == 331_196_416
    assert "embed.project_in" in g and "head.project_out" in g and "final_norm" not in g
    assert {p.name for p in g.predecessors("L0.attn_norm")} == {"L0.attn.residual"}


def test_vit_patch_embedding_as_gemm_or_conv():
    cfg = zoo.config("vit-b16")
    conv = from_config(cfg, batch=4)
    gemm = from_config({**cfg, "patch_embedding": "gemm"}, batch=4)
    assert conv["embed.patch"].kind is OpKind.CONV2D and gemm["embed.patch"].kind is OpKind.GEMM
    assert gemm["embed.patch"].mnk == (4 * 196, 768, 3 * 16 * 16)
    assert conv.params == gemm.params == 86_567_656 and conv.flops == gemm.flops
    pooled = from_config({k: v for k, v in cfg.items() if k != "num_labels"})
    assert "pooler.dense" in pooled and "head.classifier" not in pooled  # HF ViTModel
    assert pooled.params == 86_567_656 - (768 * 1000 + 1000) + (768 * 768 + 768)


def test_conv_batches_fold_images_without_copying_filters():
    one, eight = zoo.load("resnet-50"), zoo.load("resnet-50", batch=8)
    assert eight.params == one.params == 25_557_032
    assert eight.macs == 8 * one.macs
    stem = eight["stem.conv"]
    assert stem.dims["images"] == 8 and stem.mnk == (8 * 112 * 112, 64, 7 * 7 * 3)


# ---- the graph ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["llama2-7b", "mixtral-8x7b", "bert-base", "vit-b16", "mamba-1.4b",
                                  "matmulfree-1.3b", "m3vit", "resnet-50", "opt-66b"])
def test_every_op_is_tagged_and_the_graph_is_a_dag(name):
    over = {} if name in ("bert-base", "vit-b16", "m3vit", "resnet-50") else {"num_hidden_layers": 2, "seq_len": 16}
    g = zoo.load(name, **over)
    assert nx.is_directed_acyclic_graph(g.g)
    for op in g:
        assert "layer" in op.tags and op.tags["phase"] == "prefill", op.name
    sinks = [n for n in g.g if g.g.out_degree(n) == 0]
    if name in ("llama2-7b", "mixtral-8x7b", "mamba-1.4b", "matmulfree-1.3b", "opt-66b"):
        assert sinks == ["head.lm_head"]


def test_residual_adds_depend_on_the_right_inputs():
    g = from_config(TINY_LLAMA, seq_len=8)
    preds = lambda n: {p.name for p in g.predecessors(n)}  # noqa: E731
    assert preds("L0.attn.residual") == {"L0.attn.o_proj", "embed.tokens"}
    assert preds("L0.mlp.residual") == {"L0.mlp.down_proj", "L0.attn.residual"}
    assert preds("L1.attn.residual") == {"L1.attn.o_proj", "L0.mlp.residual"}
    assert preds("L0.attn.score") == {"L0.attn.rope"} and preds("L0.attn.rope") == {"L0.attn.q_proj", "L0.attn.k_proj"}
    assert preds("L0.attn.context") == {"L0.attn.softmax", "L0.attn.v_proj"}
    assert preds("L0.mlp.act") == {"L0.mlp.gate_proj", "L0.mlp.up_proj"}
    bert = zoo.load("bert-base")  # post-norm: the norm follows the add
    assert {p.name for p in bert.predecessors("L0.attn_norm")} == {"L0.attn.residual"}
    assert {p.name for p in bert.predecessors("L0.attn.residual")} == {"L0.attn.o_proj", "embed.norm"}


def test_llama2_70b_has_every_layer():
    # build time is measured by benchmarks/bench_engine.py, not asserted here
    g = zoo.load("llama2-70b")
    layers = {op.tags.get("layer") for op in g.ops() if op.kind.value == "gemm"}
    assert set(range(80)) <= layers


# ---- validation at the door ----------------------------------------------------------------------------


def without(cfg, key):
    return {k: v for k, v in cfg.items() if k != key}


@pytest.mark.parametrize("config, message", [
    ({**TINY_LLAMA, "model_type": "llama2"}, r"config key 'model_type'='llama2': expected one of \["),
    (without(TINY_LLAMA, "hidden_size"), r"model_type 'llama' lacks key 'hidden_size'.*expected a positive integer"),
    ({**without(TINY_LLAMA, "num_hidden_layers"), "num_hiden_layers": 2},
     r"lacks key 'num_hidden_layers'.*did you mean 'num_hiden_layers'"),
    ({**TINY_LLAMA, "num_hidden_layers": -2}, r"config key 'num_hidden_layers'=-2: expected a positive integer"),
    ({**TINY_LLAMA, "num_hidden_layers": 2.5}, r"'num_hidden_layers'=2.5: expected a positive integer"),
    ({**TINY_LLAMA, "num_attention_heads": 3}, r"'num_attention_heads'=3: expected a divisor of hidden_size=256"),
    ({**TINY_LLAMA, "num_key_value_heads": 3}, r"'num_key_value_heads'=3: expected a divisor of num_attention_heads=4"),
    ({**TINY_LLAMA, "tie_word_embeddings": "yes"}, r"'tie_word_embeddings'='yes': expected true or false"),
    ({**TINY_LLAMA, "hidden_act": "gelu2"}, r"'hidden_act'='gelu2': expected one of \["),
    ({**TINY_MIXTRAL, "num_experts_per_tok": 9}, r"'num_experts_per_tok'=9: expected at most num_local_experts=8"),
    ({**TINY_GPT2, "hidden_size": 128}, r"'hidden_size'=128 and 'n_embd'=64 name one setting but disagree"),
    ({**zoo.config("vit-b16"), "patch_size": 15}, r"'patch_size'=15: expected a divisor of image_size=224"),
    ({**zoo.config("resnet-50"), "hidden_sizes": [256, 512]},
     r"'hidden_sizes'=\[256, 512\]: expected one width per stage"),
    ({"model_type": "hgrn_bit", "hidden_size": 64, "num_hidden_layers": 1, "vocab_size": 10, "use_short_conv": True},
     r"'use_short_conv'=True: expected false"),
    ("llama", r"config=str: expected a dict"),
])
def test_bad_configs_raise_one_error_naming_key_value_and_expectation(config, message):
    with pytest.raises(ValueError, match=message):
        from_config(config)


@pytest.mark.parametrize("config, kwargs, message", [
    (TINY_LLAMA, {"phase": "train"}, r"phase='train': expected one of \['prefill', 'decode'\]"),
    (TINY_LLAMA, {"batch": 0}, r"batch=0: expected a positive integer"),
    (TINY_LLAMA, {"seq_len": 16, "kv_len": 8}, r"kv_len=8: expected at least seq_len=16"),
    (TINY_GPT2, {"seq_len": 129}, r"seq_len=129: expected at most 128"),
    (TINY_GPT2, {"phase": "decode", "kv_len": 200}, r"kv_len=200: expected at most 128"),
    (zoo.config("roberta-base"), {"seq_len": 513}, r"seq_len=513: expected at most 512"),
    (zoo.config("bert-base"), {"phase": "decode"}, r"phase='decode': expected 'prefill' for model_type 'bert'"),
    (zoo.config("vit-b16"), {"seq_len": 100}, r"seq_len=100.*expected None for model_type 'vit'"),
    (TINY_LLAMA, {"w_format": "int3"}, r"w_format='int3': expected one of \["),
    (TINY_LLAMA, {"a_format": "ternary"}, r"a_format='ternary': expected an activation format"),
    (TINY_LLAMA, {"group_size": 128}, r"group_size=128: expected None with w_format='fp16'"),
    (TINY_LLAMA, {"w_format": "int4", "group_size": -1}, r"group_size=-1: expected a positive integer"),
    (TINY_LLAMA, {"routing": [1, 1]}, r"routing=\[1, 1\]: expected None; model_type 'llama' has no experts"),
    (TINY_LLAMA, {"tasks": ["semseg"]}, r"tasks=\['semseg'\]: expected None; only model_type 'm3vit'"),
])
def test_bad_arguments_are_rejected(config, kwargs, message):
    with pytest.raises(ValueError, match=message):
        from_config(config, **kwargs)
