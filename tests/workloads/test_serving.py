"""workloads.serving: one continuous-batching iteration, checked against closed-form FLOPs and shapes.

Closed forms (per layer, T = decode + prefill * prompt_len tokens, h hidden, H heads, G kv heads, d head
dim, I expert/MLP width, k top-k): projections 2 T h (H d + 2 G d) + 2 T (H d) h; attention
2 * 2 * d * (prefill * H * P^2 + decode * H * C); experts 3 * 2 * h * I * (T k); dense MLP
3 * 2 * h * I * T.  Model shapes: Mixtral-8x7B config (workloads/zoo/mixtral-8x7b.json), a small
Llama-style GQA config written here.
"""

from __future__ import annotations

import pytest

from workloads.op import OpKind
from workloads.serving import serving_step

SMALL_GQA = {"model_type": "llama", "hidden_size": 256, "intermediate_size": 512, "num_hidden_layers": 3,
             "num_attention_heads": 8, "num_key_value_heads": 2, "vocab_size": 1000,
             "max_position_embeddings": 4096}


def _by_kind(g, kind):
    return [o for o in g.ops() if o.kind is kind]


def test_mixtral_layer_flops_match_closed_form():
    dec, ctx, pre, plen = 60, 2048, 2, 512
    g = serving_step("mixtral-8x7b", decode=dec, context_len=ctx, prefill=pre, prompt_len=plen, layers=1)
    h, H, G, d, inter, k = 4096, 32, 8, 128, 14336, 2
    t = dec + pre * plen
    proj = 2 * t * h * (H * d + 2 * G * d) + 2 * t * H * d * h
    attn = 2 * 2 * d * (pre * H * plen * plen + dec * H * ctx)
    experts = 3 * 2 * h * inter * t * k
    mm = sum(o.flops for o in g.ops() if o.is_matmul and o.tags["layer"] == 0 and o.kind is not OpKind.ROUTER)
    assert mm == proj + attn + experts
    assert g.meta["tokens"] == t and g.meta["model_layers"] == 32 and g.meta["layers"] == 1


def test_attention_split_by_request_kind_with_gqa_group():
    g = serving_step(SMALL_GQA, decode=5, context_len=300, prefill=3, prompt_len=40, layers=1)
    scores = {o.tags["phase"]: o for o in _by_kind(g, OpKind.ATTN_SCORE)}
    assert set(scores) == {"prefill", "decode"}
    p, d = scores["prefill"], scores["decode"]
    assert (p.mnk, p.batch, p.dims["causal"]) == ((40, 40, 32), 3 * 8, 1)
    assert (d.mnk, d.batch, d.dims["causal"]) == ((1, 300, 32), 5 * 8, 0)
    assert p.dims["kv_group"] == d.dims["kv_group"] == 4
    # the two halves are independent: neither depends on the other
    assert p.name not in {o.name for o in g.predecessors(d)} and d.name not in {o.name for o in g.predecessors(p)}
    # decode attention's Op/B is about the GQA group (4): the K/V cache is read once per group
    assert 3.5 < d.intensity < 4.0
    # both contexts feed o_proj
    o_proj = g["L0.attn.o_proj"]
    assert {o.name for o in g.predecessors(o_proj)} == {"L0.attn.prefill.context", "L0.attn.decode.context"}


def test_dense_model_mlp_and_head_rows():
    g = serving_step(SMALL_GQA, decode=7, context_len=100)
    t = 7
    mlp = sum(o.flops for o in g.ops() if o.tags.get("block") == "mlp" and o.is_matmul)
    assert mlp == 3 * 2 * 256 * 512 * t * 3  # three layers
    assert g["head.lm_head"].mnk == (7, 1000, 256)
    assert not [o for o in g.ops() if o.tags.get("phase") == "prefill"]
    assert g.meta["phase"] == "decode"


def test_expert_tokens_follow_routing_histogram():
    g = serving_step("mixtral-8x7b", decode=8, context_len=64, layers=1, routing=[4, 4, 2, 2, 2, 2, 0, 0])
    ms = [g[f"L0.moe.e{e}.up_proj"].mnk[0] for e in range(8)]
    assert ms == [4, 4, 2, 2, 2, 2, 0, 0]
    assert g["L0.moe.e7.up_proj"].flops == 0


@pytest.mark.parametrize("kwargs, match", [
    ({"decode": 0, "prefill": 0}, "at least one request"),
    ({"decode": -1}, "decode=-1"),
    ({"decode": 1, "context_len": 0}, "context_len=0"),
    ({"decode": 1, "context_len": 5000}, "max_position_embeddings=4096"),
    ({"decode": 1, "layers": 9}, "num_hidden_layers=3"),
    ({"decode": 1, "routing": [1, 1]}, "no experts"),
])
def test_bad_input_names_the_argument(kwargs, match):
    with pytest.raises(ValueError, match=match):
        serving_step(SMALL_GQA, **kwargs)


def test_unsupported_family_is_an_error():
    with pytest.raises(ValueError, match="model_type"):
        serving_step({**SMALL_GQA, "model_type": "bert"}, decode=1)
