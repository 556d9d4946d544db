"""The Op IR: GEMM views, derived FLOPs and bytes, validation, hashing; and Graph totals."""

import pickle

import pytest

import workloads as w
from workloads.op import GROUP_SCALE_BITS, Op, OpKind


def test_gemm_flops_and_bytes_are_derived_from_dims_and_precisions():
    op = w.gemm(128, 256, 512, dtype="int8")
    assert op.mnk == (128, 256, 512)
    assert op.macs == 128 * 256 * 512
    assert op.flops == 2 * 128 * 256 * 512
    assert op.input_bytes == 128 * 512  # int8 activations
    assert op.weight_bytes == 512 * 256
    assert op.output_bytes == 128 * 256
    assert op.bytes == 128 * 512 + 512 * 256 + 128 * 256
    assert op.params == 512 * 256


def test_grouped_int4_weights_carry_scale_and_zero_point():
    op = w.gemm(1, 4096, 4096, w_format="int4", a_format="fp16", group_size=128)
    groups = 4096 * 4096 // 128
    assert op.weight_bytes == (4096 * 4096 * 4 + groups * (GROUP_SCALE_BITS + 4)) / 8


def test_conv_is_lowered_im2col_style():
    op = w.conv2d(224, 224, 7, 7, 3, 64, stride=2)
    ho = (224 - 7) // 2 + 1
    assert op.conv_out_hw == (ho, ho)
    assert op.mnk == (ho * ho, 64, 7 * 7 * 3)
    assert op.params == 7 * 7 * 3 * 64
    padded = w.conv2d(56, 56, 3, 3, 64, 64, stride=1, pad=1)
    assert padded.conv_out_hw == (56, 56)


def test_attention_operands_are_activations():
    s = w.attention(1, 2048, 128, 32, batch=16, part="score")
    c = w.attention(1, 2048, 128, 32, batch=16, part="context")
    assert s.kind is OpKind.ATTN_SCORE and c.kind is OpKind.ATTN_CONTEXT
    assert s.batch == c.batch == 16 * 32
    assert s.params == 0 and s.weight_bytes == 0
    # the KV cache is read as an input: K is kv_len x head_dim per head
    assert s.input_bytes == 16 * 32 * (1 * 128 + 128 * 2048) * 2
    assert s.flops == c.flops == 2 * 16 * 32 * 2048 * 128


def test_unrouted_expert_is_not_read_but_is_counted():
    op = w.gemm(0, 14336, 4096, name="expert7")
    assert op.flops == 0 and op.weight_bytes == 0 and op.params == 14336 * 4096


@pytest.mark.parametrize(
    "build, message",
    [
        (lambda: w.gemm(4, 4, 4, dtype="int3"), "unknown number format"),
        (lambda: w.gemm(-1, 4, 4), "non-negative"),
        (lambda: Op("x", "matmul", {"M": 1}), "unknown kind"),
        (lambda: Op("x", OpKind.GEMM, {"M": 1, "N": 2}), "lacks dims"),
        (lambda: w.conv2d(4, 4, 5, 5, 1, 1), "larger than input"),
        (lambda: w.attention(1, 1, 1, 1, part="both"), "score"),
        (lambda: w.gemm(4, 4, 4, group_size=0), "group_size"),
    ],
)
def test_bad_ops_raise_clear_errors(build, message):
    with pytest.raises(ValueError, match=message):
        build()


def test_ops_are_hashable_and_signatures_ignore_names_and_tags():
    a = w.gemm(8, 8, 8, name="L0.q", layer=0)
    b = w.gemm(8, 8, 8, name="L1.q", layer=1)
    assert a != b and a.signature() == b.signature()
    assert len({a.signature(), b.signature()}) == 1
    assert pickle.loads(pickle.dumps(a)) == a
    with pytest.raises(AttributeError):
        a.dims._items = ()


def test_graph_orders_counts_and_shares_weights():
    g = w.Graph("tiny")
    emb = g.add(Op("embed", OpKind.EMBED, {"tokens": 4, "vocab": 100, "hidden": 8}, weight_id="wte"))
    fc = g.add(w.gemm(4, 8, 8, name="fc"), [emb])
    head = g.add(w.gemm(4, 100, 8, name="lm_head").replace(weight_id="wte"), [fc])
    assert [o.name for o in g.ops()] == ["embed", "fc", "lm_head"]
    assert g.params == 100 * 8 + 8 * 8  # the tied head counts once
    assert g.flops == fc.flops + head.flops
    assert g.count_by_kind() == {"embed": 1, "gemm": 2}
    assert list(g.summary()["name"]) == ["embed", "fc", "lm_head"]
    assert g.predecessors("lm_head") == [fc]
    with pytest.raises(ValueError, match="already has"):
        g.add(w.gemm(1, 1, 1, name="fc"))
    with pytest.raises(KeyError, match="not in graph"):
        g.add(w.gemm(1, 1, 1, name="x"), ["missing"])


def test_conv_batch_shares_filters():
    one, four = w.conv2d(56, 56, 3, 3, 64, 64), w.conv2d(56, 56, 3, 3, 64, 64, batch=4)
    assert four.params == one.params and four.weight_bytes == one.weight_bytes
    assert four.flops == 4 * one.flops and four.input_bytes == 4 * one.input_bytes
