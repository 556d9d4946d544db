"""Shared test vectors: the edge cases and seeded random streams that the kernel tests
(`tests/sim/test_kernels.py`) and the cocotb benches (`tests/rtl/benches/`) both drive.

Everything is a plain function of a seed and the widths, so a bench and a kernel test that ask for
the same vectors get the same numbers.  Random streams put the edge cases first, then random
operands; control signals (clear, enable, bubbles) are random too.  Bus helpers `pack`/`unpack`
lay lanes out as the RTL does: lane ``l`` at bits ``[l*bits +: bits]``.
"""

from __future__ import annotations

import dataclasses
import os

import numpy as np

#: default seed of every stream; benches take ``COEX_SEED`` from the environment instead when set
SEED = 20261122


def rng(seed: int | None = None) -> np.random.Generator:
    return np.random.default_rng(SEED if seed is None else seed)


def env_int(name: str, default: int) -> int:
    """An integer from the environment (benches get their vector count and seed this way)."""
    value = os.environ.get(name, "")
    return int(value) if value.strip() else default


# ---- widths and buses --------------------------------------------------------------------------
def signed_range(bits: int) -> tuple[int, int]:
    """(lowest, highest) value of a signed ``bits``-bit number."""
    return -(1 << (bits - 1)), (1 << (bits - 1)) - 1


def pack(values, bits: int) -> int:
    """Lanes (signed or unsigned ints) -> one unsigned bus word, lane ``l`` at bits ``[l*bits +: bits]``."""
    word = 0
    mask = (1 << bits) - 1
    for lane, v in enumerate(values):
        word |= (int(v) & mask) << (lane * bits)
    return word


def unpack(word: int, count: int, bits: int, signed: bool = True) -> list[int]:
    """One bus word -> ``count`` lanes of ``bits`` bits (two's complement when ``signed``)."""
    mask = (1 << bits) - 1
    out = []
    for lane in range(count):
        v = (int(word) >> (lane * bits)) & mask
        if signed and v >> (bits - 1):
            v -= 1 << bits
        out.append(v)
    return out


def random_signed(r: np.random.Generator, shape, bits: int) -> np.ndarray:
    lo, hi = signed_range(bits)
    return r.integers(lo, hi + 1, size=shape, dtype=np.int64)


def random_unsigned(r: np.random.Generator, shape, bits: int) -> np.ndarray:
    return r.integers(0, 1 << bits, size=shape, dtype=np.int64)


# ---- MAC (mac_pe, systolic_os) -------------------------------------------------------------------
def mac_edges(a_bits: int = 8, w_bits: int = 8) -> list[tuple[int, int]]:
    """Operand corners: both extremes against each other (-128 x -128 is the largest product), zero,
    and +-1."""
    alo, ahi = signed_range(a_bits)
    wlo, whi = signed_range(w_bits)
    return [(alo, wlo), (alo, whi), (ahi, wlo), (ahi, whi), (0, wlo), (alo, 0), (-1, -1), (-1, 1), (1, -1),
            (alo, -1), (-1, wlo), (ahi, 1), (0, 0)]


@dataclasses.dataclass(frozen=True)
class MacBeat:
    a: int
    w: int
    clr: int
    en: int


def mac_stream(r: np.random.Generator, n: int, a_bits: int = 8, w_bits: int = 8) -> list[MacBeat]:
    """``n`` random beats for a clear/enable MAC: a clear first, then every edge pair (enabled), then
    random operands with clear on ~4 % and enable on ~85 % of the beats (both together: a new sum)."""
    beats = [MacBeat(0, 0, 1, 0)]
    beats += [MacBeat(a, w, 0, 1) for a, w in mac_edges(a_bits, w_bits)]
    a = random_signed(r, n, a_bits)
    w = random_signed(r, n, w_bits)
    clr = (r.random(n) < 0.04).astype(int)
    en = (r.random(n) < 0.85).astype(int)
    beats += [MacBeat(int(a[i]), int(w[i]), int(clr[i]), int(en[i])) for i in range(n)]
    return beats


def macs_to_overflow(a_bits: int, w_bits: int, acc_bits: int) -> int:
    """How many largest products (min x min) take a cleared accumulator from 0 to exactly ``2**(acc_bits-1)``,
    one past its largest value (wraps to the most negative)."""
    biggest = (1 << (a_bits - 1)) * (1 << (w_bits - 1))
    return -(-(1 << (acc_bits - 1)) // biggest)


# ---- output-stationary GEMM tiles (systolic_os) ---------------------------------------------------
def gemm_tiles(r: np.random.Generator, count: int, rows: int, cols: int, a_bits: int = 8, w_bits: int = 8,
               k_max: int = 24) -> list[tuple[np.ndarray, np.ndarray]]:
    """``count`` (A, W) pairs of shape (rows x K, K x cols): first K = 1, an all-minimum tile (every
    product -128 x -128) and an all-extreme checkerboard, then random K in 1..k_max."""
    alo, ahi = signed_range(a_bits)
    wlo, whi = signed_range(w_bits)
    tiles = [(random_signed(r, (rows, 1), a_bits), random_signed(r, (1, cols), w_bits)),
             (np.full((rows, k_max), alo, np.int64), np.full((k_max, cols), wlo, np.int64))]
    a = np.where(np.indices((rows, k_max)).sum(0) % 2 == 0, alo, ahi).astype(np.int64)
    w = np.where(np.indices((k_max, cols)).sum(0) % 2 == 0, whi, wlo).astype(np.int64)
    tiles.append((a, w))
    while len(tiles) < count:
        k = int(r.integers(1, k_max + 1))
        tiles.append((random_signed(r, (rows, k), a_bits), random_signed(r, (k, cols), w_bits)))
    return tiles[:count]


# ---- group-quantised weights (mixpe_pe, dequant_pe) --------------------------------------------------
@dataclasses.dataclass(frozen=True)
class Group:
    """One quantisation group of a dot product: activations ``a``, weight codes ``q``, and the group's
    ``zero`` point and ``scale``; ``name`` says which edge case it is ("" for random)."""

    a: np.ndarray
    q: np.ndarray
    zero: int
    scale: int
    name: str = ""


def group_edges(size: int, a_bits: int = 8, w_bits: int = 4, scale_bits: int = 16) -> list[Group]:
    """Named edge groups of ``size`` elements."""
    alo, ahi = signed_range(a_bits)
    qmax, smax = (1 << w_bits) - 1, (1 << scale_bits) - 1
    full = lambda v: np.full(size, v, np.int64)  # noqa: E731
    return [
        Group(full(0), full(qmax), 3 % (qmax + 1), smax, "zero activations"),
        Group(full(alo), full(5 % (qmax + 1)), 5 % (qmax + 1), smax, "weights equal to the zero point"),
        Group(full(ahi), full(qmax), 0, 0, "zero scale"),
        Group(full(ahi), full(0), qmax, smax, "all-negative weights (q=0, zero=max)"),
        Group(full(alo), full(0), qmax, smax, "all-negative weights, most negative activations"),
        Group(full(alo), full(qmax), 0, smax, "largest negative group sum"),
        Group(full(ahi), full(qmax), 0, smax, "largest positive group sum"),
    ]


def random_group(r: np.random.Generator, size: int, a_bits: int = 8, w_bits: int = 4,
                 scale_bits: int = 16) -> Group:
    return Group(random_signed(r, size, a_bits), random_unsigned(r, size, w_bits),
                 int(r.integers(0, 1 << w_bits)), int(r.integers(0, 1 << scale_bits)))


def group_dots(r: np.random.Generator, elements: int, a_bits: int = 8, w_bits: int = 4, scale_bits: int = 16,
               min_group: int = 1, max_group: int = 64) -> list[list[Group]]:
    """Dot products (lists of groups) with about ``elements`` elements in all: first one dot per edge group
    (at the largest size, so sums reach their extremes), then random dots of 1-4 groups of random sizes."""
    dots = [[g] for g in group_edges(max_group, a_bits, w_bits, scale_bits)]
    total = sum(len(d[0].a) for d in dots)
    while total < elements:
        dot = []
        for _ in range(int(r.integers(1, 5))):
            dot.append(random_group(r, int(r.integers(min_group, max_group + 1)), a_bits, w_bits, scale_bits))
            total += len(dot[-1].a)
        dots.append(dot)
    return dots


# ---- ternary weights (ternary_acc) ------------------------------------------------------------------
#: 2-bit {neg, nz} weight codes -> the weight (as sim.kernels.ternary_from_code)
TERNARY_CODES = {0b00: 0, 0b01: 1, 0b10: 0, 0b11: -1}


def ternary_beats(r: np.random.Generator, n: int, lanes: int, a_bits: int = 8):
    """(a lanes, code lanes, clr, en) beats: edge beats first (every lane -128 with -1 weights, the
    largest sum; +127 with +1; all "negative zero" codes; all zero), then random ones."""
    alo, ahi = signed_range(a_bits)
    beats = [([0] * lanes, [0] * lanes, 1, 0)]
    beats += [([alo] * lanes, [0b11] * lanes, 0, 1), ([ahi] * lanes, [0b01] * lanes, 0, 1),
              ([alo] * lanes, [0b10] * lanes, 0, 1), ([alo] * lanes, [0b01] * lanes, 0, 1),
              ([ahi] * lanes, [0b11] * lanes, 0, 1), ([0] * lanes, [0b11] * lanes, 0, 1)]
    a = random_signed(r, (n, lanes), a_bits)
    codes = r.integers(0, 4, size=(n, lanes))
    clr = r.random(n) < 0.04
    en = r.random(n) < 0.85
    beats += [(list(map(int, a[i])), list(map(int, codes[i])), int(clr[i]), int(en[i])) for i in range(n)]
    return beats


def ternary_runs_to_overflow(lanes: int, a_bits: int, acc_bits: int) -> int:
    """Beats of the largest sum (-128 x -1 in every lane) that take 0 to exactly ``2**(acc_bits-1)``."""
    return -(-(1 << (acc_bits - 1)) // (lanes << (a_bits - 1)))


# ---- PIM bank rows (pim_bank_mac) --------------------------------------------------------------------
def pim_rows(r: np.random.Generator, beats: int, lanes: int, a_bits: int = 8, w_bits: int = 8, max_bursts: int = 8):
    """(weights bursts x lanes, activations bursts x lanes) per output row, about ``beats`` bursts in all:
    first a single burst, an all-minimum row (every product -128 x -128) and mixed extremes, then random
    rows of 1..max_bursts bursts."""
    alo, ahi = signed_range(a_bits)
    wlo, whi = signed_range(w_bits)
    rows = [(random_signed(r, (1, lanes), w_bits), random_signed(r, (1, lanes), a_bits)),
            (np.full((max_bursts, lanes), wlo, np.int64), np.full((max_bursts, lanes), alo, np.int64)),
            (np.full((max_bursts, lanes), whi, np.int64), np.full((max_bursts, lanes), alo, np.int64))]
    total = sum(len(w) for w, _ in rows)
    while total < beats:
        n = int(r.integers(1, max_bursts + 1))
        rows.append((random_signed(r, (n, lanes), w_bits), random_signed(r, (n, lanes), a_bits)))
        total += n
    return rows
