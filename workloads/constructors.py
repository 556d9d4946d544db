"""One-op constructors for quick questions and tests: `gemm`, `conv2d`, `attention`, `eltwise`,
`softmax`, `norm`.  Each returns a single validated `Op`."""

from __future__ import annotations

from typing import Any

from workloads.op import Op, OpKind


def _formats(dtype: str | None, w_format: str | None, a_format: str | None) -> tuple[str, str]:
    return (w_format or dtype or "fp16", a_format or dtype or "fp16")


def gemm(
    m: int,
    n: int,
    k: int,
    *,
    dtype: str | None = None,
    w_format: str | None = None,
    a_format: str | None = None,
    batch: int = 1,
    group_size: int | None = None,
    weights: bool = True,
    name: str = "gemm",
    **tags: Any,
) -> Op:
    """``batch`` products of an ``m x k`` activation by a ``k x n`` weight (or activation if
    ``weights=False``).  ``dtype`` sets both operand formats; ``w_format``/``a_format`` override."""
    wf, af = _formats(dtype, w_format, a_format)
    return Op(name, OpKind.GEMM, {"M": m, "N": n, "K": k}, batch=batch, w_format=wf, a_format=af,
              group_size=group_size, weights=weights, tags=tags)


def conv2d(
    h: int,
    w: int,
    r: int,
    s: int,
    c: int,
    k: int,
    stride: int = 1,
    *,
    pad: int = 0,
    batch: int = 1,
    dtype: str | None = None,
    w_format: str | None = None,
    a_format: str | None = None,
    name: str = "conv2d",
    **tags: Any,
) -> Op:
    """A convolution of an ``h x w x c`` input by ``k`` filters of ``r x s x c``."""
    wf, af = _formats(dtype, w_format, a_format)
    dims = {"H": h, "W": w, "R": r, "S": s, "C": c, "K": k, "stride": stride, "pad": pad}
    return Op(name, OpKind.CONV2D, dims, batch=batch, w_format=wf, a_format=af, tags=tags)


def attention(
    q_len: int,
    kv_len: int,
    head_dim: int,
    heads: int,
    *,
    batch: int = 1,
    part: str = "score",
    dtype: str | None = None,
    name: str | None = None,
    **tags: Any,
) -> Op:
    """One half of scaled-dot-product attention over ``batch * heads`` heads.

    ``part="score"``: Q K^T (M=q_len, N=kv_len, K=head_dim); ``part="context"``: P V
    (M=q_len, N=head_dim, K=kv_len).  Both operands are activations (the KV cache in decode)."""
    fmt = dtype or "fp16"
    if part == "score":
        return Op(name or "attn_score", OpKind.ATTN_SCORE, {"M": q_len, "N": kv_len, "K": head_dim},
                  batch=batch * heads, w_format=fmt, a_format=fmt, weights=False, tags=tags)
    if part == "context":
        return Op(name or "attn_context", OpKind.ATTN_CONTEXT, {"M": q_len, "N": head_dim, "K": kv_len},
                  batch=batch * heads, w_format=fmt, a_format=fmt, weights=False, tags=tags)
    raise ValueError(f"attention part must be 'score' or 'context', got {part!r}")


def eltwise(rows: int, cols: int, *, inputs: int = 2, flops_per_elem: int = 1, dtype: str = "fp16",
            name: str = "eltwise", **tags: Any) -> Op:
    """An element-wise op over a ``rows x cols`` tensor with ``inputs`` operands."""
    return Op(name, OpKind.ELTWISE, {"rows": rows, "cols": cols, "inputs": inputs, "flops_per_elem": flops_per_elem},
              w_format=dtype, a_format=dtype, weights=False, tags=tags)


def softmax(rows: int, cols: int, *, dtype: str = "fp16", batch: int = 1, name: str = "softmax", **tags: Any) -> Op:
    return Op(name, OpKind.SOFTMAX, {"rows": rows, "cols": cols}, batch=batch, w_format=dtype, a_format=dtype,
              weights=False, tags=tags)


def norm(rows: int, cols: int, *, affine: int = 1, dtype: str = "fp16", name: str = "norm", **tags: Any) -> Op:
    """LayerNorm (``affine=2``: gain and bias) or RMSNorm (``affine=1``)."""
    return Op(name, OpKind.NORM, {"rows": rows, "cols": cols, "affine": affine}, w_format=dtype, a_format=dtype,
              tags=tags)
