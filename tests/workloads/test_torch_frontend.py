"""`from_torch` on real modules built on the meta device: transformers' BERT, Llama (GQA), Mixtral (MoE)
and ViT from small configs, and a plain-torch ResNet-style CNN.

Purpose: the traced GEMM FLOPs equal a closed form written here and agree with the analytical
`from_config`; parameters count exactly once; shapes, dependencies, tags and the MoE assumption are
what the module docstring promises; nothing is allocated.
"""

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from torch import nn  # noqa: E402

from workloads.op import MATMUL_KINDS, OpKind  # noqa: E402
from workloads.torch_frontend import from_torch, split_rows  # noqa: E402

B, S = 2, 16


def gemm_flops(graph) -> int:
    return sum(op.flops for op in graph.ops() if op.kind in MATMUL_KINDS)


def n_params(model) -> int:
    return sum(p.numel() for p in model.parameters())


def on_meta(model) -> bool:
    return all(p.device.type == "meta" for p in model.parameters()) and all(
        b.device.type == "meta" for b in model.buffers())


def ids(batch=B, seq=S):
    return torch.zeros(batch, seq, dtype=torch.long, device="meta")


def build(cls, cfg):
    with torch.device("meta"):
        return cls(cfg)


# ---- models (built once per module: tracing is the slow part) ---------------------------------
LLAMA = dict(hidden_size=256, intermediate_size=512, num_hidden_layers=2, num_attention_heads=8,
             num_key_value_heads=2, vocab_size=1000)
MIXTRAL = dict(hidden_size=128, intermediate_size=256, num_hidden_layers=2, num_attention_heads=4,
               num_key_value_heads=2, vocab_size=500, num_local_experts=4, num_experts_per_tok=2)
BERT = dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=4, intermediate_size=128,
            vocab_size=300, max_position_embeddings=64)
VIT = dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=4, intermediate_size=128, image_size=32,
           patch_size=8)


@pytest.fixture(scope="module")
def llama():
    cfg = transformers.LlamaConfig(**LLAMA)
    model = build(transformers.LlamaForCausalLM, cfg)
    return cfg, model, from_torch(model, ids())


@pytest.fixture(scope="module")
def mixtral():
    cfg = transformers.MixtralConfig(**MIXTRAL)
    model = build(transformers.MixtralForCausalLM, cfg)
    return cfg, model, from_torch(model, ids())


@pytest.fixture(scope="module")
def bert():
    cfg = transformers.BertConfig(**BERT)
    model = build(transformers.BertModel, cfg)
    return cfg, model, from_torch(model, ids())


@pytest.fixture(scope="module")
def vit():
    cfg = transformers.ViTConfig(**VIT)
    model = build(transformers.ViTModel, cfg)
    return cfg, model, from_torch(model, torch.zeros(B, 3, 32, 32, device="meta"))


# ---- closed forms (2 FLOPs per MAC; attention counted dense) ----------------------------------
def decoder_attention_flops(h, heads, kv_heads, layers, batch, seq):
    hd = h // heads
    proj = 2 * batch * seq * (h * h + 2 * h * kv_heads * hd + h * h)  # q, k, v, o
    attn = 2 * 2 * batch * heads * seq * seq * hd  # Q K^T and P V
    return layers * (proj + attn)


def llama_flops(c, batch=B, seq=S):
    t = batch * seq
    mlp = 2 * t * 3 * c["hidden_size"] * c["intermediate_size"]
    return (decoder_attention_flops(c["hidden_size"], c["num_attention_heads"], c["num_key_value_heads"],
                                    c["num_hidden_layers"], batch, seq)
            + c["num_hidden_layers"] * mlp + 2 * t * c["hidden_size"] * c["vocab_size"])


def mixtral_flops(c, batch=B, seq=S):
    t, h, e, k = batch * seq, c["hidden_size"], c["num_local_experts"], c["num_experts_per_tok"]
    moe = 2 * t * h * e + 2 * t * k * 3 * h * c["intermediate_size"]  # router + top-k experts
    return (decoder_attention_flops(h, c["num_attention_heads"], c["num_key_value_heads"],
                                    c["num_hidden_layers"], batch, seq)
            + c["num_hidden_layers"] * moe + 2 * t * h * c["vocab_size"])


def encoder_flops(h, inter, heads, layers, batch, seq):
    layer = 2 * batch * seq * (4 * h * h + 2 * h * inter) + 2 * 2 * batch * heads * seq * seq * (h // heads)
    return layers * layer + 2 * batch * h * h  # + pooler on the CLS token


def bert_flops(c, batch=B, seq=S):
    return encoder_flops(c["hidden_size"], c["intermediate_size"], c["num_attention_heads"],
                         c["num_hidden_layers"], batch, seq)


def vit_flops(c, batch=B):
    h, p = c["hidden_size"], c["patch_size"]
    patches = (c["image_size"] // p) ** 2
    patch_embed = 2 * batch * patches * 3 * p * p * h
    return patch_embed + encoder_flops(h, c["intermediate_size"], c["num_attention_heads"],
                                       c["num_hidden_layers"], batch, patches + 1)


CASES = [("llama", llama_flops), ("mixtral", mixtral_flops), ("bert", bert_flops), ("vit", vit_flops)]


@pytest.mark.parametrize("fixture, closed_form", CASES)
def test_gemm_flops_equal_the_closed_form(request, fixture, closed_form):
    cfg, _, graph = request.getfixturevalue(fixture)
    expected = closed_form(cfg.to_dict())
    assert gemm_flops(graph) == pytest.approx(expected, rel=0.01)
    assert gemm_flops(graph) == expected  # in fact exact


@pytest.mark.parametrize("fixture", ["llama", "mixtral", "bert", "vit"])
def test_gemm_flops_and_params_agree_with_from_config(request, fixture):
    from workloads.config import from_config

    cfg, _, graph = request.getfixturevalue(fixture)
    seq = None if fixture == "vit" else S
    analytical = from_config(cfg.to_dict(), phase="prefill", batch=B, seq_len=seq)
    assert gemm_flops(graph) == pytest.approx(gemm_flops(analytical), rel=0.01)
    assert graph.params == pytest.approx(analytical.params, rel=0.001)


@pytest.mark.parametrize("fixture", ["llama", "mixtral", "bert", "vit"])
def test_every_parameter_counts_once_and_none_is_allocated(request, fixture):
    _, model, graph = request.getfixturevalue(fixture)
    assert graph.params == n_params(model)
    assert graph.meta["unused_params"] == []
    assert on_meta(model)
    assert model.training  # built in training mode; traced in eval; mode restored


def test_llama_ops_shapes_tags_and_edges(llama):
    cfg, _, graph = llama
    h, heads, kvh = cfg.hidden_size, cfg.num_attention_heads, cfg.num_key_value_heads
    hd = h // heads
    q = graph["model.layers.1.self_attn.q_proj"]
    k = graph["model.layers.1.self_attn.k_proj"]
    assert (q.kind, q.mnk, q.weights, q.weight_id) == (OpKind.GEMM, (B * S, h, h), True,
                                                       "model.layers.1.self_attn.q_proj.weight")
    assert k.mnk == (B * S, kvh * hd, h)  # GQA: fewer K/V heads
    assert q.tags["layer"] == 1
    score = graph["model.layers.1.self_attn.attn_score"]
    ctx = graph["model.layers.1.self_attn.attn_context"]
    assert (score.kind, score.batch, score.mnk) == (OpKind.ATTN_SCORE, B * heads, (S, S, hd))
    assert (ctx.kind, ctx.batch, ctx.mnk) == (OpKind.ATTN_CONTEXT, B * heads, (S, hd, S))
    assert score.dims["kv_group"] == heads // kvh == ctx.dims["kv_group"]
    assert not score.weights
    # dependencies pass through views, rotary embedding and norms
    preds = lambda name: {p.name for p in graph.predecessors(name)}  # noqa: E731
    assert preds("model.layers.1.self_attn.q_proj") == {"model.layers.1.input_layernorm"}
    assert preds("model.layers.1.self_attn.attn_context") == {"model.layers.1.self_attn.softmax",
                                                              "model.layers.1.self_attn.v_proj"}
    assert preds("model.layers.1.self_attn.o_proj") == {"model.layers.1.self_attn.attn_context"}
    norm = graph["model.layers.1.input_layernorm"]  # RMSNorm decomposed by ATen, one NORM op here
    assert (norm.kind, norm.dims["rows"], norm.dims["cols"], norm.dims["affine"]) == (OpKind.NORM, B * S, h, 1)
    assert graph["lm_head"].mnk == (B * S, cfg.vocab_size, h)
    assert graph.count_by_kind()["norm"] == 2 * cfg.num_hidden_layers + 1
    assert graph.meta["unmapped"] == {}
    assert graph.meta["folded"]  # causal mask and rotary tables are shape constants


def test_eager_attention_traces_to_the_same_ops():
    cfg = transformers.LlamaConfig(**{**LLAMA, "num_hidden_layers": 1}, attn_implementation="eager")
    graph = from_torch(build(transformers.LlamaForCausalLM, cfg), ids())
    kinds = [op.kind for op in graph.ops() if op.kind in MATMUL_KINDS and not op.weights]
    assert kinds == [OpKind.ATTN_SCORE, OpKind.ATTN_CONTEXT]
    assert gemm_flops(graph) == llama_flops({**LLAMA, "num_hidden_layers": 1})
    assert graph["model.layers.0.self_attn.attn_score"].dims["kv_group"] == 4


def test_tied_embedding_and_head_count_once():
    cfg = transformers.LlamaConfig(**{**LLAMA, "num_hidden_layers": 1}, tie_word_embeddings=True)
    model = build(transformers.LlamaForCausalLM, cfg)
    graph = from_torch(model, ids())
    head, embed = graph["lm_head"], graph["model.embed_tokens"]
    assert head.weight_id == embed.weight_id == "model.embed_tokens.weight"
    assert graph.params == n_params(model)


def test_mixtral_experts_follow_the_uniform_assumption(mixtral):
    cfg, _, graph = mixtral
    e, k = cfg.num_local_experts, cfg.num_experts_per_tok
    routers = [op for op in graph.ops() if op.kind is OpKind.ROUTER]
    assert [r.mnk for r in routers] == [(B * S, e, cfg.hidden_size)] * cfg.num_hidden_layers
    experts = [op for op in graph.ops() if "expert" in op.tags]
    assert len(experts) == 2 * e * cfg.num_hidden_layers  # gate_up and down per expert per layer
    gate_up = [op for op in experts if op.tags["layer"] == 0 and "gate_up_proj" in op.name]
    assert [op.mnk for op in gate_up] == [(B * S * k // e, 2 * cfg.intermediate_size, cfg.hidden_size)] * e
    assert gate_up[2].weight_id == "model.layers.0.mlp.experts.gate_up_proj[2]"
    moe = graph.meta["moe"]
    assert moe["routing"] == "uniform" and "unknowable" in moe["assumption"]
    assert moe["rows_per_expert"]["model.layers.0.mlp.experts.down_proj"] == [B * S * k // e] * e
    assert "aten.topk.default" in graph.meta["unmapped"]  # what was skipped is visible


def test_mixtral_histogram_routing_moves_rows_not_flops():
    cfg = transformers.MixtralConfig(**{**MIXTRAL, "num_hidden_layers": 1})
    model = build(transformers.MixtralForCausalLM, cfg)
    graph = from_torch(model, ids(), expert_routing={0: [5, 2, 1, 0]})
    rows = [op.mnk[0] for op in graph.ops() if "expert" in op.tags and "down_proj" in op.name]
    slots = B * S * cfg.num_experts_per_tok
    assert rows == split_rows(slots, [5, 2, 1, 0]) == [40, 16, 8, 0]
    assert gemm_flops(graph) == mixtral_flops({**MIXTRAL, "num_hidden_layers": 1})
    assert graph.params == n_params(model)  # the unrouted expert still stores its weights
    assert graph.active_params < graph.params
    assert graph.meta["moe"]["routing"] == "histogram"
    with pytest.raises(ValueError, match="4 experts"):
        from_torch(model, ids(), expert_routing=[1, 1])
    assert model.config._experts_implementation == "grouped_mm"


def test_vit_patch_conv_and_parameter_reads(vit):
    cfg, _, graph = vit
    conv = graph["embeddings.patch_embeddings.projection"]
    patches = (cfg.image_size // cfg.patch_size) ** 2
    assert conv.kind is OpKind.CONV2D and conv.batch == B
    assert conv.mnk == (patches, cfg.hidden_size, 3 * cfg.patch_size ** 2)
    assert conv.params == cfg.hidden_size * (3 * cfg.patch_size ** 2 + 1)
    # the class token and position embeddings are read by cat/add, not by a GEMM
    assert graph["embeddings.position_embeddings"].params == (patches + 1) * cfg.hidden_size
    assert graph["embeddings.cls_token"].params == cfg.hidden_size


# ---- a plain-torch CNN --------------------------------------------------------------------------
class BasicBlock(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.conv1, self.bn1 = nn.Conv2d(c, c, 3, padding=1, bias=False), nn.BatchNorm2d(c)
        self.conv2, self.bn2 = nn.Conv2d(c, c, 3, padding=1, bias=False), nn.BatchNorm2d(c)

    def forward(self, x):
        y = torch.relu(self.bn1(self.conv1(x)))
        return torch.relu(x + self.bn2(self.conv2(y)))


class TinyResNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 16, 7, stride=2, padding=3)
        self.pool = nn.MaxPool2d(3, 2, 1)
        self.block = BasicBlock(16)
        self.down = nn.Conv2d(16, 32, 3, stride=2, padding=1)
        self.dw = nn.Conv2d(32, 32, 3, padding=1, groups=32)
        self.avg = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(32, 10)

    def forward(self, x):
        x = self.pool(torch.relu(self.stem(x)))
        x = self.dw(self.down(self.block(x)))
        return self.fc(torch.flatten(self.avg(x), 1))


def cnn_macs(n):
    # (Ho*Wo, K, R*S*C) per conv for a 64x64 input: stem 32x32, pool 16x16, block 16x16, down/dw 8x8
    convs = [(32 * 32, 16, 7 * 7 * 3), (16 * 16, 16, 9 * 16), (16 * 16, 16, 9 * 16), (8 * 8, 32, 9 * 16),
             (8 * 8, 32, 9 * 1)]
    return n * (sum(m * k * c for m, k, c in convs) + 32 * 10)


@pytest.fixture(scope="module")
def cnn():
    with torch.device("meta"):
        return TinyResNet()


def test_cnn_convs_have_the_right_output_sizes_and_params(cnn):
    graph = from_torch(cnn, torch.zeros(1, 3, 64, 64))
    stem, down, dw = graph["stem"], graph["down"], graph["dw"]
    assert (stem.dims["stride"], stem.dims["pad"], stem.conv_out_hw) == (2, 3, (32, 32))
    assert graph["block.conv1"].conv_out_hw == (16, 16)
    assert down.conv_out_hw == (8, 8) and down.params == 16 * 32 * 9 + 32 and down.bias
    assert (dw.dims["groups"], dw.dims["C"], dw.params) == (32, 1, 32 * 9 + 32)
    assert graph["block.bn1"].kind is OpKind.NORM and graph["block.bn1"].params == 2 * 16
    pool = graph["pool.max_pool2d"]
    assert (pool.kind, pool.dims["rows"], pool.dims["cols"]) == (OpKind.POOL, 16 * 16 * 16, 9)
    assert graph.macs == cnn_macs(1)
    assert graph.params == n_params(cnn)
    assert {p.name for p in graph.predecessors("block.add")} == {"pool.max_pool2d", "block.bn2"}
    assert on_meta(cnn)


@pytest.mark.parametrize("tracer", ["export", "fx"])
def test_cnn_batch_is_images_sharing_filters(cnn, tracer):
    graph = from_torch(cnn, torch.zeros(2, 3, 64, 64), tracer=tracer)
    assert graph.meta["tracer"] == ("export" if tracer == "export" else "make_fx")
    stem = graph["stem"]
    assert stem.batch == 2 and stem.conv_out_hw == (32, 32) and stem.dims["pad"] == 3
    assert graph.macs == cnn_macs(2)
    assert graph.params == n_params(cnn)


@pytest.mark.parametrize("conv, shape", [
    (nn.Conv1d(4, 8, 5, padding=2), (2, 4, 30)),
    (nn.Conv2d(3, 4, 3, dilation=2, padding=2), (2, 3, 12, 12)),
    (nn.Conv2d(3, 4, (1, 3), padding=(0, 1)), (1, 3, 9, 9)),
    (nn.Conv2d(3, 4, 3, stride=(2, 1)), (1, 3, 9, 9)),
    (nn.Conv2d(4, 4, 3, padding="same", groups=2), (1, 4, 7, 7)),
])
def test_irregular_convs_keep_exact_macs_and_params(conv, shape):
    out = conv(torch.zeros(shape))  # real (tiny) run for the reference output size
    (op,) = from_torch(conv, torch.zeros(shape)).ops()
    c_per_group, kernel = conv.in_channels // conv.groups, conv.weight[0, 0].numel()
    assert op.macs == out.numel() * c_per_group * kernel
    assert op.params == sum(p.numel() for p in conv.parameters())
    out_hw = (out.shape[-2], out.shape[-1]) if out.dim() == 4 else (1, out.shape[-1])
    assert op.batch == shape[0] and op.conv_out_hw == out_hw


def test_make_fx_fallback_maps_a_decoder_without_module_names():
    cfg = transformers.LlamaConfig(**{**LLAMA, "num_hidden_layers": 1})
    model = build(transformers.LlamaForCausalLM, cfg)
    graph = from_torch(model, ids(), tracer="fx")
    assert gemm_flops(graph) == llama_flops({**LLAMA, "num_hidden_layers": 1})
    assert graph.params == n_params(model)


# ---- small modules: unmapped ops, inputs, errors ---------------------------------------------
class Sorter(nn.Module):
    def __init__(self):
        super().__init__()
        self.a, self.b = nn.Linear(8, 8), nn.Linear(8, 4)

    def forward(self, x):
        return self.b(torch.sort(self.a(x), dim=-1).values)


def test_unknown_ops_are_counted_and_dependencies_pass_through():
    with torch.device("meta"):
        model = Sorter()
    graph = from_torch(model, torch.zeros(3, 5, 8))  # a CPU input is re-made on meta
    assert graph.meta["unmapped"] == {"aten.sort.default": 1}
    assert [p.name for p in graph.predecessors("b")] == ["a"]
    assert graph["a"].mnk == (15, 8, 8)  # leading dims fold into M
    assert graph.name == "Sorter" and graph.meta["inputs"] == [(3, 5, 8)]


def test_formats_follow_dtype_or_the_caller():
    with torch.device("meta"):
        model = Sorter().to(torch.bfloat16)
    x = torch.zeros(2, 8, dtype=torch.bfloat16)
    assert {op.w_format for op in from_torch(model, x).ops()} == {"bf16"}
    forced = from_torch(model, x, w_format="int4", a_format="int8", name="q")
    assert forced.name == "q" and {(op.w_format, op.a_format) for op in forced.ops()} == {("int4", "int8")}


def test_bad_arguments_are_refused_with_the_expected_values(cnn):
    with pytest.raises(ValueError, match="unknown number format 'int3'"):
        from_torch(cnn, torch.zeros(1, 3, 64, 64), w_format="int3")
    with pytest.raises(ValueError, match="expert_routing"):
        from_torch(cnn, torch.zeros(1, 3, 64, 64), expert_routing="zipf")
    with pytest.raises(TypeError, match="nn.Module"):
        from_torch(lambda x: x, torch.zeros(1))


def test_split_rows_is_exact_and_proportional():
    assert split_rows(64, [1, 1, 1, 1]) == [16] * 4
    assert split_rows(10, [1, 1, 1]) == [4, 3, 3]
    assert split_rows(7, [0.5, 0.25, 0.25]) == [3, 2, 2]  # 3.5, 1.75, 1.75: largest remainders
    assert sum(split_rows(1001, [3, 1, 4, 1, 5])) == 1001
