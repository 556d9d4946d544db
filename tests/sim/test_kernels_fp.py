"""Purpose: pin the floating-point reference kernels of `sim.kernels` (rounding to fp16/bf16/fp8, the fp16
and bf16 GEMMs with fp32 accumulation, L-Mul) against independent oracles: numpy's IEEE float16
conversion, a bf16 round-to-nearest-even written here on float32 bit patterns, numpy float32 sequential
accumulation, hand-computed values; and measure L-Mul's error against exact multiplication.

L-Mul's published precision claims (Luo & Sun, "Addition is All You Need for Energy-efficient Language
Models", arXiv 2410.00907, abstract and Sec. 3): L-Mul with a 4-bit mantissa is about as precise as
float8 e4m3 multiplication, and with a 3-bit mantissa more precise than float8 e5m2.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sim.kernels import BF16, FP8_E4M3, FP16, gemm_fp, gemm_lmul, lmul, lmul_offset_exp, round_to_float

E5M2 = (5, 2)
pytestmark = pytest.mark.filterwarnings("ignore:overflow encountered in cast:RuntimeWarning")  # numpy's fp16 oracle


def bf16_oracle(x: np.ndarray) -> np.ndarray:
    """Round float32 values to bf16 (ties to even) on their bit patterns: an implementation independent of
    `round_to_float`."""
    bits = np.asarray(x, dtype=np.float32).view(np.uint32).astype(np.uint64)
    lsb = (bits >> 16) & 1
    rounded = ((bits + 0x7FFF + lsb) >> 16) << 16
    return rounded.astype(np.uint32).view(np.float32)


def f32_sequential_gemm(a: np.ndarray, w: np.ndarray) -> np.ndarray:
    """float32 products summed in K order in float32 (numpy's accumulate is sequential, not pairwise)."""
    prods = a.astype(np.float32)[:, :, None] * w.astype(np.float32)[None, :, :]
    return np.add.accumulate(prods, axis=1, dtype=np.float32)[:, -1, :]


# ---- rounding -----------------------------------------------------------------------------------------------

EDGES_FP16 = [0.0, -0.0, 1.0, 1 / 3, -1 / 3, 65504.0, 65519.99, 65520.0, -65520.0, 1e6, 2.0**-14, 2.0**-24,
              2.0**-25, 3 * 2.0**-26, 2.0**-26, 1.0 + 2.0**-11, 1.0 + 3 * 2.0**-11, np.inf, -np.inf, 6.1e-5, 1234.5678]


@pytest.mark.parametrize("x", EDGES_FP16)
def test_fp16_rounding_matches_ieee_float16(x):
    assert round_to_float(x, *FP16) == float(np.float16(x))
    assert np.signbit(round_to_float(x, *FP16)) == np.signbit(np.float16(x))


def test_fp16_rounding_matches_numpy_on_random_values():
    rng = np.random.default_rng(1)
    x = np.concatenate([rng.standard_normal(2000) * 10.0 ** rng.integers(-9, 6, 2000), rng.uniform(-7e4, 7e4, 500)])
    ours = np.array([round_to_float(v, *FP16) for v in x])
    np.testing.assert_array_equal(ours, x.astype(np.float16).astype(np.float64))


@settings(max_examples=200, deadline=None)
@given(st.floats(allow_nan=False, width=32))
def test_fp16_rounding_property(x):
    assert round_to_float.py_func(x, *FP16) == float(np.float16(x))


def test_bf16_rounding_matches_the_bit_pattern_oracle():
    rng = np.random.default_rng(2)
    x = (rng.standard_normal(3000) * 10.0 ** rng.integers(-30, 30, 3000)).astype(np.float32)
    x = np.concatenate([x, np.float32([1.0 + 2**-8, 1.0 + 3 * 2**-8, 3.3895314e38, -0.0])])
    ours = np.array([round_to_float(float(v), *BF16) for v in x])
    np.testing.assert_array_equal(ours, bf16_oracle(x).astype(np.float64))
    assert round_to_float(1 / 3, *BF16) == 0.333984375


def test_fp8_e4m3_values_by_hand():
    assert round_to_float(0.1, *FP8_E4M3) == 0.1015625  # 1.101b x 2**-4
    assert round_to_float(240.0, *FP8_E4M3) == 240.0  # largest finite (IEEE-like e4m3: top exponent reserved)
    assert round_to_float(248.0, *FP8_E4M3) == np.inf  # halfway to 256: ties to even overflow
    assert round_to_float(2.0**-9, *FP8_E4M3) == 2.0**-9  # smallest subnormal
    assert round_to_float(2.0**-10, *FP8_E4M3) == 0.0  # half of it: ties to even (zero)
    assert np.isnan(round_to_float(np.nan, *FP8_E4M3))


# ---- fp16 / bf16 GEMM with fp32 accumulation ----------------------------------------------------------------

@pytest.mark.parametrize("fmt", [FP16, BF16], ids=["fp16", "bf16"])
def test_gemm_fp_is_exact_products_and_sequential_fp32_sums(fmt):
    rng = np.random.default_rng(3)
    a = rng.standard_normal((5, 300)) * 3
    w = rng.standard_normal((300, 7))
    got = gemm_fp(a, w, *fmt)
    if fmt == FP16:
        ar, wr = a.astype(np.float16), w.astype(np.float16)
    else:
        ar, wr = bf16_oracle(a.astype(np.float32)), bf16_oracle(w.astype(np.float32))
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, f32_sequential_gemm(ar, wr))
    # products are exact in fp32: the only error against float64 is the K fp32 roundings of the sums
    exact = ar.astype(np.float64) @ wr.astype(np.float64)
    bound = 300 * 2.0**-24 * (np.abs(ar.astype(np.float64)) @ np.abs(wr.astype(np.float64)))
    assert np.all(np.abs(got - exact) <= bound)


def test_gemm_fp_extremes():
    a = np.array([[70000.0, 1.0], [2.0**-25, 2.0**-24], [65504.0, 65504.0]])
    w = np.array([[1.0], [1.0]])
    got = gemm_fp(a, w, *FP16)
    assert got[0, 0] == np.inf  # 70000 overflows fp16 before the multiply
    assert got[1, 0] == np.float32(2.0**-24)  # 2**-25 rounds to 0 (tie to even), 2**-24 survives
    assert got[2, 0] == np.float32(131008.0)  # fp16 max + fp16 max: fine in the fp32 accumulator
    big = np.full((1, 4), 3.0e38)
    assert gemm_fp(big, np.ones((4, 1)), *BF16)[0, 0] == np.inf  # fp32 accumulator overflow


# ---- L-Mul --------------------------------------------------------------------------------------------------

def test_lmul_offset_exponent_rule():
    assert [lmul_offset_exp(m) for m in (1, 2, 3, 4, 5, 7, 10)] == [1, 2, 3, 3, 4, 4, 4]


def test_lmul_values_by_hand():
    # m = 3, offset 2**-3: (1 + 0.5 + 0.25 + 0.125) * 2**0
    assert lmul(1.5, 1.25, 4, 3) == 1.875
    # mantissa sum 1.125 >= 1 carries: (0.125 + 1) * 2**1
    assert lmul(1.5, 1.5, 4, 3) == 2.25
    assert lmul(1.0, 1.0, 4, 3) == 1.125  # the offset is always added
    assert lmul(-2.0, 3.0, *BF16) == -6.25  # m = 7: offset 2**-4; (1 + 0 + 0.5 + 0.0625) * 2**2
    assert lmul(0.0, 5.0, *BF16) == 0.0 and lmul(-3.0, 0.0, *BF16) == 0.0
    assert lmul(2.0**100, 2.0**100, *BF16) == np.inf  # exponent beyond bf16's range
    assert lmul(2.0**-70, 2.0**-70, *BF16) == 0.0


def test_lmul_is_symmetric_and_odd():
    rng = np.random.default_rng(4)
    for x, y in rng.standard_normal((200, 2)) * 5:
        assert lmul(x, y, *BF16) == lmul(y, x, *BF16) == -lmul(-x, y, *BF16)


def _mean_rel_error(f, x, y) -> float:
    exact = x * y
    got = np.array([f(a, b) for a, b in zip(x, y)])
    return float(np.mean(np.abs(got - exact) / np.abs(exact)))


def test_lmul_error_against_exact_multiplication():
    rng = np.random.default_rng(5)
    x, y = rng.standard_normal(20000), rng.standard_normal(20000)
    e4m3 = _mean_rel_error(lambda a, b: round_to_float(
        round_to_float(a, *FP8_E4M3) * round_to_float(b, *FP8_E4M3), *FP8_E4M3), x, y)
    e5m2 = _mean_rel_error(lambda a, b: round_to_float(
        round_to_float(a, *E5M2) * round_to_float(b, *E5M2), *E5M2), x, y)
    lmul4 = _mean_rel_error(lambda a, b: lmul(a, b, 8, 4), x, y)
    lmul3 = _mean_rel_error(lambda a, b: lmul(a, b, 8, 3), x, y)
    print(f"\nmean relative error vs exact product: L-Mul m=4 {lmul4:.4f}, fp8 e4m3 {e4m3:.4f}; "
          f"L-Mul m=3 {lmul3:.4f}, fp8 e5m2 {e5m2:.4f}")
    assert lmul4 == pytest.approx(e4m3, rel=0.25)  # "comparable to e4m3" (arXiv 2410.00907)
    assert lmul3 < e5m2  # "more precise than e5m2"
    assert lmul4 < 0.125  # never worse than the offset-free Mitchell bound on average


def test_gemm_lmul_sums_lmul_products_in_fp32():
    rng = np.random.default_rng(6)
    a, w = rng.standard_normal((3, 64)), rng.standard_normal((64, 4))
    got = gemm_lmul(a, w, *BF16)
    prods = np.array([[[lmul(a[i, k], w[k, j], *BF16) for j in range(4)] for k in range(64)] for i in range(3)])
    ref = np.add.accumulate(prods.astype(np.float32), axis=1, dtype=np.float32)[:, -1, :]
    np.testing.assert_array_equal(got, ref)
    rel = np.abs(got - a @ w) / (np.abs(a) @ np.abs(w))
    assert rel.max() < 0.1
