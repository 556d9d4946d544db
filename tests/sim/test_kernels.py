"""sim.kernels: the reference arithmetic, against values worked out by hand and against Python's
unbounded integers (hypothesis, through ``.py_func`` so failures shrink), on the shared vectors of
`tests.vectors` that the RTL benches drive too."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sim import kernels as k
from tests import vectors


def ref_wrap(x: int, bits: int) -> int:
    """Two's-complement wrap with Python integers: the definition the kernels must meet."""
    x &= (1 << bits) - 1
    return x - (1 << bits) if x >> (bits - 1) else x


def signed(bits):
    lo, hi = vectors.signed_range(bits)
    return st.integers(lo, hi)


# ---- widths ------------------------------------------------------------------------------------
@pytest.mark.parametrize("x, bits, want", [(2**31, 32, -2**31), (-2**31 - 1, 32, 2**31 - 1), (255, 8, -1),
                                           (128, 8, -128), (127, 8, 127), (-1, 1, -1), (1, 1, -1), (2, 1, 0)])
def test_wrap_by_hand(x, bits, want):
    assert k.wrap(x, bits) == want


def test_saturate_and_unsigned_wrap_by_hand():
    assert (k.saturate(200, 8), k.saturate(-200, 8), k.saturate(-5, 8)) == (127, -128, -5)
    assert (k.wrap_unsigned(-1, 4), k.wrap_unsigned(17, 4)) == (15, 1)


@given(st.integers(-2**61, 2**61), st.integers(1, 62))
def test_wrap_matches_python_integers(x, bits):
    assert k.wrap.py_func(x, bits) == ref_wrap(x, bits) == k.wrap(x, bits)


# ---- MAC and GEMM --------------------------------------------------------------------------------
def test_mac_int_by_hand():
    assert k.mac_int(-128, -128, 0, 8, 8, 32) == 16384                       # the largest int8 product
    assert k.mac_int(-128, -128, 2**31 - 16384, 8, 8, 32) == -2**31          # one past int32 max wraps
    assert k.mac_int(127, -128, 5, 8, 8, 32) == 5 - 16256
    assert k.mac_int(300, 1, 0, 8, 8, 32) == 44                              # 300 read as an 8-bit register


@given(signed(8), signed(8), signed(32))
def test_mac_int_is_a_wrapped_multiply_add(a, w, acc):
    want = ref_wrap(acc + a * w, 32)
    assert k.mac_int.py_func(a, w, acc, 8, 8, 32) == want == k.mac_int(a, w, acc, 8, 8, 32)


def test_mac_edges_products():
    for a, w in vectors.mac_edges(8, 8):
        assert k.mac_int(a, w, 0, 8, 8, 32) == a * w
    assert vectors.macs_to_overflow(8, 8, 32) == 131072                      # 2**31 / 2**14


def test_gemm_int_by_hand_and_wrapping():
    a = np.array([[1, 2], [3, 4]])
    w = np.array([[5, 6], [7, 8]])
    assert k.gemm_int(a, w, 8, 8, 32).tolist() == [[19, 22], [43, 50]]
    assert k.gemm_int(a, w, 8, 8, 6).tolist() == [[19, 22], [43 - 64, 50 - 64]]


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 6), st.integers(1, 6), st.integers(1, 40), st.integers(0, 2**32 - 1))
def test_gemm_int_matches_numpy(m, n, kk, seed):
    r = np.random.default_rng(seed)
    a = vectors.random_signed(r, (m, kk), 8)
    w = vectors.random_signed(r, (kk, n), 8)
    assert (k.gemm_int(a, w, 8, 8, 32) == a @ w).all()


# ---- MixPE -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("a, q, bits, want", [(-7, 0b1011, 4, -77), (-128, 15, 4, -1920), (5, 3, 2, 15),
                                              (127, 0, 4, 0), (-1, 7, 2, -3)])  # q read as 2 bits: 3
def test_shift_add_mul_by_hand(a, q, bits, want):
    assert k.shift_add_mul(a, q, bits) == want


@given(signed(8), st.integers(0, 15))
def test_shift_add_mul_is_multiplication(a, q):
    assert k.shift_add_mul.py_func(a, q, 4) == a * q


def test_mixpe_group_and_dequant_by_hand():
    # a = (3, -2, 5), q = (4, 1, 15), zero = 2, scale = 3:
    # gacc = 12 - 2 + 75 = 85, asum = 6, (85 - 2 * 6) * 3 = 219
    # in the loop: 3*(4-2)*3 + (-2)*(1-2)*3 + 5*(15-2)*3 = 18 + 6 + 195 = 219
    a, q = np.array([3, -2, 5]), np.array([4, 1, 15])
    assert k.mixpe_group(a, q, 8, 4) == (85, 6)
    assert k.mixpe_dequant(85, 6, 2, 3, 0, 4, 16, 40) == 219
    acc = 0
    for ai, qi in zip(a, q):
        acc = k.mac_dequant(int(ai), int(qi), 2, 3, acc, 8, 4, 16, 40)
    assert acc == 219


def test_group_gemm_by_hand():
    # one row, K = 4 in two groups of 2, one column: group 0 (zero 1, scale 2), group 1 (zero 0, scale 5)
    a = np.array([[1, -1, 2, 3]])
    q = np.array([[3], [0], [1], [2]])
    zero, scale = np.array([[1], [0]]), np.array([[2], [5]])
    # group 0: 1*(3-1)*2 + (-1)*(0-1)*2 = 6; group 1: 2*1*5 + 3*2*5 = 40
    args = (a, q, zero, scale, 2, 8, 4, 16, 40)
    assert k.gemm_dequant_in_loop(*args).tolist() == [[46]] == k.gemm_mixpe(*args).tolist()


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 4), st.integers(1, 4), st.integers(1, 70), st.sampled_from([1, 4, 16, 32, 64]),
       st.sampled_from([2, 4]), st.sampled_from([8, 16]), st.sampled_from([24, 32, 40]), st.integers(0, 2**32 - 1))
def test_mixpe_equals_dequant_in_loop(m, n, kk, group, w_bits, scale_bits, acc_bits, seed):
    """(a) and (b) agree exactly, wrapping included; (c) is inside (b)."""
    r = np.random.default_rng(seed)
    g = -(-kk // group)
    a = vectors.random_signed(r, (m, kk), 8)
    q = vectors.random_unsigned(r, (kk, n), w_bits)
    zero = vectors.random_unsigned(r, (g, n), w_bits)
    scale = vectors.random_unsigned(r, (g, n), scale_bits)
    args = (a, q, zero, scale, group, 8, w_bits, scale_bits, acc_bits)
    got = k.gemm_mixpe(*args)
    assert (got == k.gemm_dequant_in_loop(*args)).all()
    exact = np.zeros((m, n), dtype=object)
    for kk_ in range(kk):  # Python integers, no wrapping until the end
        wd = (q[kk_].astype(object) - zero[kk_ // group].astype(object)) * scale[kk_ // group].astype(object)
        exact += np.outer(a[:, kk_].astype(object), wd)
    assert [[ref_wrap(int(x), acc_bits) for x in row] for row in exact] == got.tolist()


def test_mixpe_forms_agree_on_the_edge_groups():
    for size in (1, 64, 128):
        for grp in vectors.group_edges(size, 8, 4, 16):
            gacc, asum = k.mixpe_group.py_func(grp.a, grp.q, 8, 4)
            mixpe = k.mixpe_dequant(gacc, asum, grp.zero, grp.scale, 0, 4, 16, 40)
            loop = 0
            for ai, qi in zip(grp.a, grp.q):
                loop = k.mac_dequant(int(ai), int(qi), grp.zero, grp.scale, loop, 8, 4, 16, 40)
            assert mixpe == loop, grp.name
    biggest = vectors.group_edges(128, 8, 4, 16)[5]          # a = -128, q = 15, zero = 0, scale = 65535
    assert k.mixpe_group(biggest.a, biggest.q, 8, 4) == (-128 * 15 * 128, -128 * 128)
    assert k.mixpe_dequant(-245760, -16384, 0, 65535, 0, 4, 16, 40) == -245760 * 65535


def test_mixpe_output_wraps_like_the_loop():
    a, q = np.full(128, -128), np.full(128, 15)
    gacc, asum = k.mixpe_group(a, q, 8, 4)
    acc = 0
    for _ in range(40):                                          # 40 * 2**34 > 2**39: wraps at 40 bits
        acc = k.mixpe_dequant(gacc, asum, 0, 65535, acc, 4, 16, 40)
    assert acc == ref_wrap(40 * gacc * 65535, 40)


# ---- ternary ---------------------------------------------------------------------------------------
def test_ternary_by_hand():
    assert [k.ternary_from_code(c) for c in (0b00, 0b01, 0b10, 0b11)] == [0, 1, 0, -1]
    assert k.ternary_matmul(np.array([[1, -2, 3]]), np.array([[1], [-1], [0]]), 8, 32).tolist() == [[3]]
    assert k.ternary_matmul(np.array([[-128, -128]]), np.array([[-1], [-1]]), 8, 8).tolist() == [[0]]  # 256 wraps
    assert k.ternary_acc_step(10, np.array([-128, 5, 7, 1]), np.array([-1, 1, 0, -1]), 8, 32) == 10 + 128 + 5 - 1


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 5), st.integers(1, 5), st.integers(1, 50), st.integers(0, 2**32 - 1))
def test_ternary_matmul_matches_numpy(m, n, kk, seed):
    r = np.random.default_rng(seed)
    a = vectors.random_signed(r, (m, kk), 8)
    t = r.integers(-1, 2, size=(kk, n))
    assert (k.ternary_matmul.py_func(a, t, 8, 32) == a @ t).all()
    assert (k.ternary_matmul(a, t, 8, 32) == a @ t).all()


def test_ternary_vectors():
    beats = vectors.ternary_beats(vectors.rng(1), 10, 4)
    a, codes, clr, en = beats[1]                                    # every lane -128 with weight -1
    w = np.array([k.ternary_from_code(c) for c in codes])
    assert (clr, en) == (0, 1) and k.ternary_acc_step(0, np.array(a), w, 8, 32) == 512
    assert vectors.ternary_runs_to_overflow(4, 8, 20) == 1024      # 2**19 / 512


# ---- PIM ---------------------------------------------------------------------------------------------
def test_pim_by_hand():
    assert k.pim_bank_dot(np.array([1, 2, 3]), np.array([4, 5, 6]), 8, 8) == 32
    assert k.pim_bank_dot(np.full(16, -128), np.full(16, -128), 8, 8) == 16 * 16384
    w = np.array([[1, 2, 3, 4], [-1, -1, -1, -1]])
    assert k.pim_gemv(w, np.array([1, 1, 2, 2]), 2, 8, 8, 32).tolist() == [17, -6]
    assert k.pim_gemv(np.full((1, 4), -128), np.full(4, -128), 2, 8, 8, 16).tolist() == [0]  # 65536 wraps


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 5), st.sampled_from([1, 4, 16]), st.integers(1, 6), st.integers(0, 2**32 - 1))
def test_pim_gemv_matches_numpy(rows, lanes, bursts, seed):
    r = np.random.default_rng(seed)
    w = vectors.random_signed(r, (rows, lanes * bursts), 8)
    x = vectors.random_signed(r, lanes * bursts, 8)
    assert (k.pim_gemv(w, x, lanes, 8, 8, 32) == w @ x).all()
    assert (k.pim_gemv.py_func(w, x, lanes, 8, 8, 32) == w @ x).all()


# ---- the shared vectors themselves ------------------------------------------------------------------
def test_pack_unpack_round_trip():
    lanes = [-128, 127, 0, -1]
    assert vectors.unpack(vectors.pack(lanes, 8), 4, 8) == lanes
    assert vectors.pack([1, 2], 4) == 0x21
    assert vectors.unpack(0x21, 2, 4, signed=False) == [1, 2]


def test_streams_are_deterministic_and_start_with_the_edges():
    s1 = vectors.mac_stream(vectors.rng(), 50)
    s2 = vectors.mac_stream(vectors.rng(), 50)
    assert s1 == s2 and s1[0].clr == 1 and (s1[1].a, s1[1].w) == (-128, -128)
    tiles = vectors.gemm_tiles(vectors.rng(), 5, 3, 4)
    assert tiles[0][0].shape == (3, 1) and (tiles[1][0] == -128).all()
    dots = vectors.group_dots(vectors.rng(), 500)
    assert sum(len(g.a) for d in dots for g in d) >= 500 and dots[0][0].name == "zero activations"
