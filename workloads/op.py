"""The operation IR: `Op`, `OpKind`, precisions and the hashable `Dims`/`Tags` mappings.

An `Op` is one kernel-sized piece of work.  Every matmul-like op exposes a GEMM view
(`M`, `N`, `K`, `batch`): `batch` independent products of an ``M x K`` left operand
(activations, called A) by a ``K x N`` right operand (weights or a second activation, called B),
giving an ``M x N`` output (called C).  Convolutions keep their own dims and derive the GEMM view
im2col-style.  Vector ops (softmax, norms, element-wise) are ``rows x cols`` element grids.

FLOPs and bytes are *derived* from dims and precisions, never stored: a multiply-accumulate counts
two FLOPs; a vector op counts `VECTOR_FLOPS_PER_ELEM[kind]` FLOPs per element (documented below).
Ops are frozen and hashable so that cost models can be memoised on them; `Op.signature()` drops the
name and tags so that identical layers share one cost.
"""

from __future__ import annotations

import dataclasses
import enum
import math
from collections.abc import Iterator, Mapping
from typing import Any


class OpKind(str, enum.Enum):
    """What an op computes; decides which dims it carries and how FLOPs/bytes are derived."""

    GEMM = "gemm"  # dims M, N, K (B operand is a weight unless `weights=False`)
    CONV2D = "conv2d"  # dims H, W (input), R, S (filter), C (in channels), K (filters), stride, pad
    ATTN_SCORE = "attn_score"  # Q @ K^T: dims M=q_len, N=kv_len, K=head_dim; batch = batch * heads
    ATTN_CONTEXT = "attn_context"  # P @ V: dims M=q_len, N=head_dim, K=kv_len; batch = batch * heads
    # (attention ops may carry kv_group = query heads per K/V head (GQA); K/V bytes are read once per group)
    ROUTER = "router"  # MoE gate GEMM: dims M=tokens, N=experts, K=hidden
    SOFTMAX = "softmax"  # dims rows, cols
    NORM = "norm"  # dims rows, cols, affine (params per column: 2 LayerNorm, 1 RMSNorm)
    ELTWISE = "eltwise"  # dims rows, cols, inputs (operand count), flops_per_elem
    EMBED = "embed"  # dims tokens, vocab, hidden: a table lookup (no FLOPs)
    POOL = "pool"  # dims rows (output elements), cols (window size)
    SCAN = "scan"  # recurrent scan: dims L (steps), D (channels), N (state size)


MATMUL_KINDS = frozenset({OpKind.GEMM, OpKind.CONV2D, OpKind.ATTN_SCORE, OpKind.ATTN_CONTEXT, OpKind.ROUTER})
VECTOR_KINDS = frozenset({OpKind.SOFTMAX, OpKind.NORM, OpKind.ELTWISE, OpKind.POOL})

# FLOPs per element of vector ops (a documented convention, as in LLMCompass/roofline tools):
# softmax = max, subtract, exp, sum, divide; LayerNorm/RMSNorm = mean, subtract, square, sum,
# rsqrt-scale, affine; pool = one compare/add per window element (cols) and is handled in `flops`.
VECTOR_FLOPS_PER_ELEM = {OpKind.SOFTMAX: 5, OpKind.NORM: 7, OpKind.POOL: 1}
# Selective scan (Mamba) per (step, channel, state): exp(delta*A), delta*B*x, h = dA*h + dBx, y += C*h.
SCAN_FLOPS_PER_ELEM = 9

#: Storage bits per number format.  Ternary weights are stored as 2-bit codes (the MatMul-free LM
#: FPGA design packs them that way); 1.58 bits is the information-theoretic bound, not a storage size.
FORMAT_BITS: dict[str, int] = {
    "fp32": 32,
    "tf32": 32,
    "fp16": 16,
    "bf16": 16,
    "fp8": 8,
    "fp8_e4m3": 8,
    "fp8_e5m2": 8,
    "int32": 32,
    "int16": 16,
    "int8": 8,
    "int4": 4,
    "int2": 2,
    "ternary": 2,
}
#: Bits of a per-group quantisation scale and zero point (fp16 scale, zero point at weight width).
GROUP_SCALE_BITS = 16


def format_bits(fmt: str) -> int:
    """Storage bits of a number format; raises ValueError naming the known formats."""
    try:
        return FORMAT_BITS[fmt]
    except KeyError:
        raise ValueError(f"unknown number format {fmt!r}; expected one of {sorted(FORMAT_BITS)}") from None


class _FrozenMap(Mapping):
    """An immutable, hashable str-keyed mapping (used for `Op.dims` and `Op.tags`)."""

    __slots__ = ("_items", "_hash")

    def __init__(self, data: Mapping[str, Any] | None = None, **kw: Any):
        merged = dict(data or {}, **kw)
        object.__setattr__(self, "_items", tuple(sorted(merged.items())))
        object.__setattr__(self, "_hash", hash(self._items))

    def __getitem__(self, key: str) -> Any:
        for k, v in self._items:
            if k == key:
                return v
        raise KeyError(key)

    def __iter__(self) -> Iterator[str]:
        return (k for k, _ in self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __hash__(self) -> int:
        return self._hash

    def __eq__(self, other: object) -> bool:
        if isinstance(other, _FrozenMap):
            return self._items == other._items
        return isinstance(other, Mapping) and dict(self._items) == dict(other)

    def __setattr__(self, *_: Any) -> None:
        raise AttributeError(f"{type(self).__name__} is immutable")

    def __repr__(self) -> str:
        return f"{type(self).__name__}({dict(self._items)!r})"

    def __reduce__(self):
        return (type(self), (dict(self._items),))


class Dims(_FrozenMap):
    """Integer dimensions of an op (see `OpKind` for which keys each kind carries)."""

    def __init__(self, data: Mapping[str, int] | None = None, **kw: int):
        merged = dict(data or {}, **kw)
        for k, v in merged.items():
            if isinstance(v, bool) or not isinstance(v, int | float) or v != int(v) or v < 0:
                raise ValueError(f"dimension {k}={v!r} must be a non-negative integer")
        super().__init__({k: int(v) for k, v in merged.items()})


class Tags(_FrozenMap):
    """Free-form labels: layer, phase (prefill/decode), expert, task, sub_batch, block..."""


_REQUIRED_DIMS: dict[OpKind, tuple[str, ...]] = {
    OpKind.GEMM: ("M", "N", "K"),
    OpKind.ROUTER: ("M", "N", "K"),
    OpKind.ATTN_SCORE: ("M", "N", "K"),
    OpKind.ATTN_CONTEXT: ("M", "N", "K"),
    OpKind.CONV2D: ("H", "W", "R", "S", "C", "K"),
    OpKind.SOFTMAX: ("rows", "cols"),
    OpKind.NORM: ("rows", "cols"),
    OpKind.ELTWISE: ("rows", "cols"),
    OpKind.POOL: ("rows", "cols"),
    OpKind.EMBED: ("tokens", "vocab", "hidden"),
    OpKind.SCAN: ("L", "D", "N"),
}


@dataclasses.dataclass(frozen=True)
class Op:
    """One operation with shapes and operand precisions.  See the module docstring.

    `weights` says whether the B operand of a matmul-like op is a stored parameter (a linear layer)
    rather than an activation (attention's K and V, which in decode come from the KV cache).
    `weight_id` names the parameter tensor, so that tied or shared weights count once in a
    `Graph`'s parameter total (defaults to the op's name).
    """

    name: str
    kind: OpKind
    dims: Dims
    batch: int = 1
    w_format: str = "fp16"
    a_format: str = "fp16"
    acc_bits: int = 32
    group_size: int | None = None
    weights: bool = True
    bias: bool = False
    weight_id: str | None = None
    tags: Tags = dataclasses.field(default_factory=Tags)

    def __post_init__(self) -> None:
        if not isinstance(self.kind, OpKind):
            try:
                object.__setattr__(self, "kind", OpKind(self.kind))
            except ValueError:
                raise ValueError(
                    f"op {self.name!r}: unknown kind {self.kind!r}; expected one of {[k.value for k in OpKind]}"
                ) from None
        if not isinstance(self.dims, Dims):
            object.__setattr__(self, "dims", Dims(self.dims))
        if not isinstance(self.tags, Tags):
            object.__setattr__(self, "tags", Tags(self.tags))
        missing = [d for d in _REQUIRED_DIMS[self.kind] if d not in self.dims]
        if missing:
            raise ValueError(f"op {self.name!r} ({self.kind.value}) lacks dims {missing}; got {dict(self.dims)}")
        if not isinstance(self.batch, int) or self.batch < 0:
            raise ValueError(f"op {self.name!r}: batch must be a non-negative integer, got {self.batch!r}")
        format_bits(self.w_format)
        format_bits(self.a_format)
        if self.group_size is not None and self.group_size <= 0:
            raise ValueError(f"op {self.name!r}: group_size must be positive, got {self.group_size}")
        if self.kind is OpKind.CONV2D:
            d = self.dims
            if d["R"] > d["H"] + 2 * d.get("pad", 0) or d["S"] > d["W"] + 2 * d.get("pad", 0):
                raise ValueError(f"op {self.name!r}: filter {d['R']}x{d['S']} larger than input {d['H']}x{d['W']}")
            if d.get("stride", 1) < 1:
                raise ValueError(f"op {self.name!r}: stride must be >= 1")

    # ---- precisions -------------------------------------------------------------------------
    @property
    def w_bits(self) -> int:
        return FORMAT_BITS[self.w_format]

    @property
    def a_bits(self) -> int:
        return FORMAT_BITS[self.a_format]

    # ---- GEMM view ----------------------------------------------------------------------------
    @property
    def is_matmul(self) -> bool:
        return self.kind in MATMUL_KINDS

    @property
    def conv_out_hw(self) -> tuple[int, int]:
        """Output height and width of a convolution: floor((H + 2 pad - R) / stride) + 1."""
        d = self.dims
        stride, pad = d.get("stride", 1), d.get("pad", 0)
        return (d["H"] + 2 * pad - d["R"]) // stride + 1, (d["W"] + 2 * pad - d["S"]) // stride + 1

    @property
    def mnk(self) -> tuple[int, int, int]:
        """(M, N, K) of one of the `batch` products; convolutions are lowered im2col-style:
        M = output pixels (Ho * Wo), N = filters K, K = R * S * C (SCALE-Sim's convention)."""
        d = self.dims
        if self.kind is OpKind.CONV2D:
            ho, wo = self.conv_out_hw
            return ho * wo, d["K"], d["R"] * d["S"] * d["C"]
        if self.kind in MATMUL_KINDS:
            return d["M"], d["N"], d["K"]
        raise ValueError(f"op {self.name!r} ({self.kind.value}) has no GEMM view")

    @property
    def macs(self) -> int:
        if self.kind in MATMUL_KINDS:
            m, n, k = self.mnk
            return self.batch * m * n * k
        return 0

    @property
    def elements(self) -> int:
        """Elements produced by a non-matmul op (per the whole batch)."""
        d = self.dims
        if self.kind in VECTOR_KINDS:
            return self.batch * d["rows"] * d["cols"]
        if self.kind is OpKind.EMBED:
            return self.batch * d["tokens"] * d["hidden"]
        if self.kind is OpKind.SCAN:
            return self.batch * d["L"] * d["D"]
        m, n, _ = self.mnk
        return self.batch * m * n

    @property
    def flops(self) -> int:
        """Floating-point (or integer) operations: 2 per MAC; vector ops per `VECTOR_FLOPS_PER_ELEM`."""
        k = self.kind
        d = self.dims
        if k in MATMUL_KINDS:
            return 2 * self.macs
        if k is OpKind.ELTWISE:
            return self.elements * d.get("flops_per_elem", 1)
        if k is OpKind.POOL:
            return self.elements * VECTOR_FLOPS_PER_ELEM[k]
        if k in VECTOR_KINDS:
            return self.elements * VECTOR_FLOPS_PER_ELEM[k]
        if k is OpKind.SCAN:
            return self.batch * d["L"] * d["D"] * d["N"] * SCAN_FLOPS_PER_ELEM
        return 0

    # ---- parameters and bytes ------------------------------------------------------------------
    @property
    def params(self) -> int:
        """Stored parameters this op owns (0 for activation-only ops)."""
        k, d = self.kind, self.dims
        if k in MATMUL_KINDS and k not in (OpKind.ATTN_SCORE, OpKind.ATTN_CONTEXT) and self.weights:
            _, n, kk = self.mnk
            # batched GEMMs own one weight per product (e.g. per head); a convolution's batch is
            # images that share its filters
            copies = 1 if k is OpKind.CONV2D else self.batch
            return copies * (kk * n + (n if self.bias else 0))
        if k is OpKind.EMBED:
            return d["vocab"] * d["hidden"]
        if k is OpKind.NORM:
            return d.get("affine", 0) * d["cols"]
        if k is OpKind.SCAN:
            return d.get("params", 0)
        return 0

    @property
    def weight_bytes(self) -> float:
        """Bytes of stored parameters read by this op, including per-group scales/zero points."""
        if self.params == 0:
            return 0.0
        if self.kind is OpKind.EMBED:
            # a lookup reads only the rows it needs
            return self.batch * self.dims["tokens"] * self.dims["hidden"] * self.w_bits / 8
        if self.kind in MATMUL_KINDS and self.mnk[0] == 0:
            return 0.0  # an expert that no token was routed to is never read
        bits = self.params * self.w_bits
        if self.group_size and self.kind in MATMUL_KINDS:
            bits += math.ceil(self.params / self.group_size) * (GROUP_SCALE_BITS + self.w_bits)
        return bits / 8

    @property
    def input_bytes(self) -> float:
        """Bytes of activation inputs (A operand; for attention also the B operand)."""
        k, d, ab = self.kind, self.dims, self.a_bits / 8
        if k is OpKind.CONV2D:
            return self.batch * d["H"] * d["W"] * d["C"] * ab
        if k in MATMUL_KINDS:
            m, n, kk = self.mnk
            a = self.batch * m * kk * ab
            if not self.weights or k in (OpKind.ATTN_SCORE, OpKind.ATTN_CONTEXT):
                # grouped-query attention: dims["kv_group"] query heads share (read once) one K/V head
                a += self.batch * kk * n * self.w_bits / 8 / d.get("kv_group", 1)
            return a
        if k is OpKind.ELTWISE:
            return self.elements * d.get("inputs", 1) * ab
        if k is OpKind.POOL:
            return self.elements * d["cols"] * ab
        if k is OpKind.EMBED:
            return self.batch * d["tokens"] * 4  # int32 token ids
        if k is OpKind.SCAN:
            # x, delta, B, C streams plus the state matrix A
            return self.batch * d["L"] * (2 * d["D"] + 2 * d["N"]) * ab
        return self.elements * ab

    @property
    def output_bytes(self) -> float:
        return self.elements * self.a_bits / 8

    @property
    def bytes(self) -> float:
        """Compulsory traffic: inputs + weights + outputs, each read or written once."""
        return self.input_bytes + self.weight_bytes + self.output_bytes

    @property
    def intensity(self) -> float:
        """Arithmetic intensity, FLOPs per compulsory byte (Op/B in Duplex's terms)."""
        b = self.bytes
        return self.flops / b if b else 0.0

    # ---- identity -----------------------------------------------------------------------------
    def signature(self) -> Op:
        """This op with name, weight_id and tags cleared: equal signatures cost the same."""
        return dataclasses.replace(self, name="", weight_id=None, tags=Tags())

    def replace(self, **changes: Any) -> Op:
        return dataclasses.replace(self, **changes)

    def to_row(self) -> dict[str, Any]:
        """A flat dict for tables (`Graph.summary`)."""
        row: dict[str, Any] = {
            "name": self.name,
            "kind": self.kind.value,
            "batch": self.batch,
            "M": None,
            "N": None,
            "K": None,
            "w_format": self.w_format,
            "a_format": self.a_format,
            "flops": self.flops,
            "params": self.params,
            "weight_bytes": self.weight_bytes,
            "bytes": self.bytes,
        }
        if self.is_matmul:
            row["M"], row["N"], row["K"] = self.mnk
        row.update({f"tag_{k}": v for k, v in self.tags.items()})
        return row
