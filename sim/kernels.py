"""Reference integer arithmetic: the one definition of every PE's arithmetic, bit for bit.

Small numba ``@njit`` functions over Python/numpy integers.  Every bit width is an argument and every
overflow rule is named: ``wrap`` (two's-complement modulo ``2**bits``, what the RTL accumulators do)
or ``saturate`` (clamp).  Operands are read at their width first (``mac_int(300, ...)`` with
``a_bits=8`` multiplies by 44), as a ``bits``-wide register would hold them.  The cost models and
the cocotb benches in ``tests/rtl/benches`` import these functions; neither redefines arithmetic.
Hypothesis tests reach the pure-Python bodies through ``.py_func``.  Widths up to 62 bits (int64
intermediates).

What is here
------------
- ``mac_int`` and ``gemm_int``: signed ``a_bits x w_bits`` products accumulated in ``acc_bits``
  with wrap-around (the int8 x int8 -> int32 MAC of ``rtl/mac_pe.v`` and ``rtl/systolic_os.v``).
- Group-quantised mixed precision (MixPE, Zhang et al., arXiv 2411.16158).  A weight is stored as
  an unsigned ``w_bits`` code ``q`` with a per-group unsigned zero point ``zero`` and an unsigned
  ``scale_bits`` fixed-point scale: ``w = (q - zero) * scale``.  The fixed-point scale's binary point
  is the caller's (``scale = round(s * 2**f)``); all forms compute the same integer,
  ``sum_k a_k (q_k - zero_g) scale_g``, i.e. the result in units of ``2**-f``:

  (a) ``gemm_dequant_in_loop`` / ``mac_dequant``: the conventional way, each weight dequantised in
      the inner loop (``rtl/dequant_pe.v``);
  (b) ``gemm_mixpe`` / ``mixpe_group`` + ``mixpe_dequant``: MixPE's way, integer sums within the
      group, ``gacc = sum a q`` and ``asum = sum a``, then one dequantisation per group,
      ``(gacc - zero * asum) * scale`` (``rtl/mixpe_pe.v``);
  (c) ``shift_add_mul``: MixPE's multiplication of a signed activation by an unsigned low-bit code
      as a sum of shifted copies of the activation, one per set bit of the code.

  (a) and (b) are equal as integers (the group sums are exact; only the output accumulator wraps,
  and wrapping commutes with addition), and (c) equals ``a * q``.
- Ternary weights (MatMul-free LM, Zhu et al., arXiv 2406.02528): ``ternary_matmul`` by additions and
  subtractions only, ``ternary_acc_step`` for the ``rtl/ternary_acc.v`` lanes, ``ternary_from_code``
  for its 2-bit weight code.
- Processing in memory: ``pim_bank_dot`` (one row-buffer burst times the broadcast vector, exact)
  and ``pim_gemv`` (a bank's GEMV, accumulated per burst with wrap-around; ``rtl/pim_bank_mac.v``).

Left out: floating-point GEMMs (fp16/bf16 with fp32 accumulation), L-Mul, rounding modes of a
requantisation step (only wrap and saturate are defined).
"""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = [
    "wrap", "wrap_unsigned", "saturate", "mac_int", "gemm_int",
    "shift_add_mul", "mac_dequant", "mixpe_group", "mixpe_dequant", "gemm_dequant_in_loop", "gemm_mixpe",
    "ternary_from_code", "ternary_acc_step", "ternary_matmul",
    "pim_bank_dot", "pim_gemv",
]


# ---- widths -----------------------------------------------------------------------------------
@njit(cache=True)
def wrap(x, bits):
    """``x`` modulo ``2**bits`` read as a signed ``bits``-bit two's-complement number (1 <= bits <= 62)."""
    x = np.int64(x)
    size = np.int64(1) << bits
    v = x & (size - 1)
    if v >= size >> 1:
        v -= size
    return v


@njit(cache=True)
def wrap_unsigned(x, bits):
    """``x`` modulo ``2**bits`` read as an unsigned ``bits``-bit number."""
    return np.int64(x) & ((np.int64(1) << bits) - 1)


@njit(cache=True)
def saturate(x, bits):
    """``x`` clamped to the signed ``bits``-bit range ``[-2**(bits-1), 2**(bits-1) - 1]``."""
    x = np.int64(x)
    hi = (np.int64(1) << (bits - 1)) - 1
    lo = -hi - 1
    return lo if x < lo else (hi if x > hi else x)


# ---- int8-style MAC and GEMM ----------------------------------------------------------------------
@njit(cache=True)
def mac_int(a, w, acc, a_bits, w_bits, acc_bits):
    """``wrap(acc + a * w, acc_bits)`` with ``a``, ``w`` signed ``a_bits``/``w_bits`` operands (wraps, never saturates)."""
    return wrap(wrap(acc, acc_bits) + wrap(a, a_bits) * wrap(w, w_bits), acc_bits)


@njit(cache=True)
def gemm_int(a, w, a_bits, w_bits, acc_bits):
    """``C = A @ W`` for signed integer ``A`` (M x K) and ``W`` (K x N), each sum accumulated with ``mac_int``."""
    m, k = a.shape
    n = w.shape[1]
    out = np.zeros((m, n), dtype=np.int64)
    for i in range(m):
        for j in range(n):
            acc = np.int64(0)
            for kk in range(k):
                acc = mac_int(a[i, kk], w[kk, j], acc, a_bits, w_bits, acc_bits)
            out[i, j] = acc
    return out


# ---- MixPE: group-quantised low-bit weights ---------------------------------------------------------
@njit(cache=True)
def shift_add_mul(a, q, w_bits):
    """``a * q`` for a signed activation ``a`` and an unsigned ``w_bits`` code ``q``, by shift-and-add:
    the sum of ``a << b`` over the set bits ``b`` of ``q`` (form (c))."""
    q = wrap_unsigned(q, w_bits)
    a = np.int64(a)
    p = np.int64(0)
    for b in range(w_bits):
        if (q >> b) & 1:
            p += a << b
    return p


@njit(cache=True)
def mac_dequant(a, q, zero, scale, acc, a_bits, w_bits, scale_bits, acc_bits):
    """One step of the conventional PE (form (a)): dequantise the weight, then multiply-accumulate:
    ``wrap(acc + a * ((q - zero) * scale), acc_bits)``; ``q``, ``zero``, ``scale`` unsigned."""
    wd = (wrap_unsigned(q, w_bits) - wrap_unsigned(zero, w_bits)) * wrap_unsigned(scale, scale_bits)
    return wrap(wrap(acc, acc_bits) + wrap(a, a_bits) * wd, acc_bits)


@njit(cache=True)
def mixpe_group(a, q, a_bits, w_bits):
    """MixPE's integer sums over one group: ``(gacc, asum) = (sum a_k * q_k, sum a_k)``, the products by
    `shift_add_mul`.  Exact: the RTL keeps ``a_bits + w_bits + log2(group)`` and ``a_bits + log2(group)`` bits."""
    gacc = np.int64(0)
    asum = np.int64(0)
    for k in range(a.shape[0]):
        ak = wrap(a[k], a_bits)
        gacc += shift_add_mul(ak, q[k], w_bits)
        asum += ak
    return gacc, asum


@njit(cache=True)
def mixpe_dequant(gacc, asum, zero, scale, acc, w_bits, scale_bits, acc_bits):
    """MixPE's one dequantisation per group (form (b)): ``wrap(acc + (gacc - zero * asum) * scale, acc_bits)``."""
    d = gacc - wrap_unsigned(zero, w_bits) * asum
    return wrap(wrap(acc, acc_bits) + d * wrap_unsigned(scale, scale_bits), acc_bits)


@njit(cache=True)
def gemm_dequant_in_loop(a, q, zero, scale, group, a_bits, w_bits, scale_bits, acc_bits):
    """Group-quantised GEMM, the conventional way (form (a)).  ``a``: M x K signed activations; ``q``:
    K x N unsigned weight codes; ``zero``, ``scale``: ceil(K/group) x N per-group parameters (group
    ``g`` covers rows ``g*group .. g*group + group - 1`` of ``q``).  Every weight is dequantised."""
    m, k = a.shape
    n = q.shape[1]
    out = np.zeros((m, n), dtype=np.int64)
    for i in range(m):
        for j in range(n):
            acc = np.int64(0)
            for kk in range(k):
                g = kk // group
                acc = mac_dequant(a[i, kk], q[kk, j], zero[g, j], scale[g, j], acc,
                                  a_bits, w_bits, scale_bits, acc_bits)
            out[i, j] = acc
    return out


@njit(cache=True)
def gemm_mixpe(a, q, zero, scale, group, a_bits, w_bits, scale_bits, acc_bits):
    """Group-quantised GEMM, MixPE's way (form (b)): shift-and-add integer sums within each group, one
    dequantisation per group.  Same arguments and, as integers, the same result as `gemm_dequant_in_loop`."""
    m, k = a.shape
    n = q.shape[1]
    out = np.zeros((m, n), dtype=np.int64)
    for i in range(m):
        for j in range(n):
            acc = np.int64(0)
            for g0 in range(0, k, group):
                g1 = min(g0 + group, k)
                gacc, asum = mixpe_group(a[i, g0:g1], q[g0:g1, j], a_bits, w_bits)
                g = g0 // group
                acc = mixpe_dequant(gacc, asum, zero[g, j], scale[g, j], acc, w_bits, scale_bits, acc_bits)
            out[i, j] = acc
    return out


# ---- ternary weights: additions only --------------------------------------------------------------
@njit(cache=True)
def ternary_from_code(code):
    """The weight of a 2-bit ``{neg, nz}`` code: 0b01 -> +1, 0b11 -> -1, 0b00 and 0b10 -> 0."""
    if code & 1 == 0:
        return 0
    return -1 if code & 2 else 1


@njit(cache=True)
def ternary_acc_step(acc, a, t, a_bits, acc_bits):
    """``wrap(acc + sum_l t_l * a_l, acc_bits)`` for ternary ``t`` (-1/0/+1) by adding or subtracting ``a_l``."""
    s = np.int64(0)
    for lane in range(a.shape[0]):
        if t[lane] > 0:
            s += wrap(a[lane], a_bits)
        elif t[lane] < 0:
            s -= wrap(a[lane], a_bits)
    return wrap(wrap(acc, acc_bits) + s, acc_bits)


@njit(cache=True)
def ternary_matmul(a, t, a_bits, acc_bits):
    """``C = A @ T`` for signed ``A`` (M x K) and ternary ``T`` (K x N, entries -1/0/+1), by additions:
    no multiplication, each product is ``+a``, ``-a`` or nothing; accumulators wrap at ``acc_bits``."""
    m, k = a.shape
    n = t.shape[1]
    out = np.zeros((m, n), dtype=np.int64)
    for i in range(m):
        for j in range(n):
            acc = np.int64(0)
            for kk in range(k):
                if t[kk, j] > 0:
                    acc = wrap(acc + wrap(a[i, kk], a_bits), acc_bits)
                elif t[kk, j] < 0:
                    acc = wrap(acc - wrap(a[i, kk], a_bits), acc_bits)
            out[i, j] = acc
    return out


# ---- processing in memory: a bank's MAC unit ---------------------------------------------------------
@njit(cache=True)
def pim_bank_dot(w, x, a_bits, w_bits):
    """One row-buffer burst ``w`` (LANES weights) times the broadcast activations ``x``: the exact sum
    of lane products (the RTL's adder tree keeps ``a_bits + w_bits + log2(LANES)`` bits)."""
    s = np.int64(0)
    for lane in range(w.shape[0]):
        s += wrap(w[lane], w_bits) * wrap(x[lane], a_bits)
    return s


@njit(cache=True)
def pim_gemv(w, x, lanes, a_bits, w_bits, acc_bits):
    """``y = W @ x`` as a PIM bank computes it: row ``r`` of ``W`` (length a multiple of ``lanes``) is read
    one burst of ``lanes`` weights at a time; each burst's exact dot product with the matching slice of
    ``x`` is added to a wrap-around ``acc_bits`` accumulator."""
    rows, cols = w.shape
    out = np.zeros(rows, dtype=np.int64)
    for r in range(rows):
        acc = np.int64(0)
        for c0 in range(0, cols, lanes):
            acc = wrap(acc + pim_bank_dot(w[r, c0:c0 + lanes], x[c0:c0 + lanes], a_bits, w_bits), acc_bits)
        out[r] = acc
    return out
