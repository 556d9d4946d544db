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
- Precision-scalable fused PEs (BitFusion, Sharma et al. ISCA 2018; ANT, Guo et al. MICRO 2022):
  ``fused_dot`` (the lanes of two packed operand words, signed or unsigned, multiplied and summed, exact)
  and ``fused_mac`` (added to a wrapping accumulator; ``rtl/bitfusion_fu.v``).  The kernel multiplies
  whole operands; the RTL builds the same products from 2- or 4-bit slices.
- Processing in memory: ``pim_bank_dot`` (one row-buffer burst times the broadcast vector, exact)
  and ``pim_gemv`` (a bank's GEMV, accumulated per burst with wrap-around; ``rtl/pim_bank_mac.v``).

- Floating point (the section at the end): ``round_to_float`` (any (exp_bits, man_bits) format, ties to
  even), ``gemm_fp`` (fp16/bf16 operands, exact products, fp32 accumulation in K order), and L-Mul
  (Luo & Sun, arXiv 2410.00907) ``lmul`` / ``gemm_lmul``: a float multiply as one integer addition.

Left out: rounding modes of a requantisation step (only wrap and saturate are defined).
"""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = [
    "wrap", "wrap_unsigned", "saturate", "mac_int", "gemm_int",
    "shift_add_mul", "mac_dequant", "mixpe_group", "mixpe_dequant", "gemm_dequant_in_loop", "gemm_mixpe",
    "ternary_from_code", "ternary_acc_step", "ternary_matmul",
    "pim_bank_dot", "pim_gemv", "fused_dot", "fused_mac",
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
    """``wrap(acc + a * w, acc_bits)`` for signed ``a_bits``/``w_bits`` operands (wraps, never saturates)."""
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


# ---- floating point: fp16/bf16 GEMM with fp32 accumulation, L-Mul ---------------------------------------
# Formats are (exp_bits, man_bits) pairs: fp16 = (5, 10), bf16 = (8, 7), fp8 e4m3 = (4, 3), fp32 = (8, 23).
# IEEE-style: bias 2**(exp_bits-1) - 1, subnormals, the top exponent code reserved for inf/NaN (so e4m3 here
# is the IEEE-like variant, max 240, not OCP's 448), round to nearest, ties to even.  Values are carried
# as float64/float32 holding exactly representable numbers of the format.
import math as _math  # noqa: E402  (this section was appended after the integer kernels)

FP16 = (5, 10)
BF16 = (8, 7)
FP8_E4M3 = (4, 3)
FP32 = (8, 23)


@njit(cache=True)
def round_to_float(x, exp_bits, man_bits):
    """``x`` rounded to the nearest number of the (``exp_bits``, ``man_bits``) binary format, ties to even;
    subnormals kept, beyond the largest finite number (after rounding) +-inf; NaN and inf pass through.
    Exact for float64 ``x`` (one rounding: scaling by a power of two is exact)."""
    x = np.float64(x)
    if x != x or x == 0.0 or np.isinf(x):
        return x
    emax = (1 << (exp_bits - 1)) - 1
    emin = 1 - emax
    _, e = _math.frexp(x)  # |x| = f * 2**e, 0.5 <= f < 1: the leading bit has weight 2**(e - 1)
    lead = max(e - 1, emin)  # subnormals share the smallest normal exponent
    quantum = _math.ldexp(1.0, lead - man_bits)
    r = np.rint(x / quantum) * quantum
    largest = _math.ldexp(2.0 - _math.ldexp(1.0, -man_bits), emax)
    if abs(r) > largest:
        return np.inf if r > 0 else -np.inf
    return r


@njit(cache=True)
def gemm_fp(a, w, exp_bits, man_bits):
    """``C = A @ W`` with operands rounded to the (``exp_bits``, ``man_bits``) format (fp16, bf16), each
    product exact in fp32 (11 x 11 or 8 x 8 significand bits fit fp32's 24) and accumulated in fp32 in K
    order, one fp32 rounding (ties to even) per add: the fp16/bf16 MAC with fp32 accumulator of a PE or
    a tensor core without its internal wider adder trees.  Returns float32.  bf16 products outside fp32's
    range overflow or underflow as fp32 multiplies do."""
    m, k = a.shape
    n = w.shape[1]
    ar = np.empty((m, k), dtype=np.float32)
    wr = np.empty((k, n), dtype=np.float32)
    for i in range(m):
        for kk in range(k):
            ar[i, kk] = np.float32(round_to_float(a[i, kk], exp_bits, man_bits))
    for kk in range(k):
        for j in range(n):
            wr[kk, j] = np.float32(round_to_float(w[kk, j], exp_bits, man_bits))
    out = np.zeros((m, n), dtype=np.float32)
    for i in range(m):
        for j in range(n):
            acc = np.float32(0.0)
            for kk in range(k):
                acc = np.float32(acc + np.float32(ar[i, kk] * wr[kk, j]))
            out[i, j] = acc
    return out


@njit(cache=True)
def lmul_offset_exp(man_bits):
    """L-Mul's ``l(m)`` (Luo & Sun, arXiv 2410.00907, Eq. for L-Mul): ``m`` for ``m <= 3``, 3 for
    ``m = 4``, 4 for ``m > 4``; the offset added to the mantissa sum is ``2**-l(m)``."""
    if man_bits <= 3:
        return man_bits
    if man_bits == 4:
        return 3
    return 4


@njit(cache=True)
def lmul(x, y, exp_bits, man_bits):
    """L-Mul (Luo & Sun, arXiv 2410.00907): ``x * y`` approximated by one integer addition of the
    operands' exponent-and-mantissa fields.  With ``x = (1 + xm) 2**xe``, ``y = (1 + ym) 2**ye`` (operands
    first rounded to the format; subnormal operands flushed to zero) the result is
    ``(1 + xm + ym + 2**-l(m)) 2**(xe + ye)`` with the sign XORed, where a mantissa sum of 1 or more
    carries into the exponent as the integer addition does (giving ``(xm + ym + 2**-l(m)) 2**(xe+ye+1)``).
    The mantissa sum is exact in ``man_bits`` bits (``l(m) <= m``); an exponent above the format's range
    gives +-inf, below it 0."""
    x = round_to_float(x, exp_bits, man_bits)
    y = round_to_float(y, exp_bits, man_bits)
    if x != x or y != y:
        return np.nan
    emax = (1 << (exp_bits - 1)) - 1
    emin = 1 - emax
    sign = -1.0 if (x < 0) != (y < 0) else 1.0
    fx, ex = _math.frexp(abs(x))
    fy, ey = _math.frexp(abs(y))
    if x == 0.0 or y == 0.0 or ex - 1 < emin or ey - 1 < emin:
        return sign * 0.0
    if np.isinf(x) or np.isinf(y):
        return sign * np.inf
    one = np.int64(1) << man_bits
    mx = np.int64(np.rint((2.0 * fx - 1.0) * one))  # mantissa fields, exact integers
    my = np.int64(np.rint((2.0 * fy - 1.0) * one))
    msum = mx + my + (np.int64(1) << (man_bits - lmul_offset_exp(man_bits)))
    e = (ex - 1) + (ey - 1)
    if msum >= one:  # carry out of the mantissa field into the exponent
        msum -= one
        e += 1
    if e > emax:
        return sign * np.inf
    if e < emin:
        return sign * 0.0
    return sign * _math.ldexp(1.0 + msum / one, e)


@njit(cache=True)
def gemm_lmul(a, w, exp_bits, man_bits):
    """``C = A @ W`` with every product an `lmul` in the (``exp_bits``, ``man_bits``) format and the
    products accumulated in fp32 in K order (one fp32 rounding per add).  Returns float32."""
    m, k = a.shape
    n = w.shape[1]
    out = np.zeros((m, n), dtype=np.float32)
    for i in range(m):
        for j in range(n):
            acc = np.float32(0.0)
            for kk in range(k):
                acc = np.float32(acc + np.float32(lmul(a[i, kk], w[kk, j], exp_bits, man_bits)))
            out[i, j] = acc
    return out


__all__ += ["FP16", "BF16", "FP8_E4M3", "FP32", "round_to_float", "gemm_fp", "lmul_offset_exp", "lmul", "gemm_lmul"]


# ---- precision-scalable fused PEs (BitFusion / ANT) ------------------------------------------------
@njit(cache=True)
def fused_dot(a_word, w_word, a_bits, w_bits, a_signed, w_signed, lanes):
    """``sum_l a_l * w_l`` over ``lanes`` operand pairs packed in two words (lane ``l`` at bits
    ``[l*a_bits +: a_bits]`` of ``a_word`` and ``[l*w_bits +: w_bits]`` of ``w_word``), each read as
    two's complement when its ``*_signed`` flag is set, else unsigned; exact (no wrap)."""
    total = 0
    for lane in range(lanes):
        av = (a_word >> (lane * a_bits)) & ((1 << a_bits) - 1)
        wv = (w_word >> (lane * w_bits)) & ((1 << w_bits) - 1)
        if a_signed and av >> (a_bits - 1):
            av -= 1 << a_bits
        if w_signed and wv >> (w_bits - 1):
            wv -= 1 << w_bits
        total += av * wv
    return total


@njit(cache=True)
def fused_mac(a_word, w_word, acc, a_bits, w_bits, a_signed, w_signed, lanes, acc_bits):
    """``wrap(acc + fused_dot(...), acc_bits)``: one cycle of a fusion unit's accumulator."""
    return wrap(wrap(acc, acc_bits) + fused_dot(a_word, w_word, a_bits, w_bits, a_signed, w_signed, lanes),
                acc_bits)
