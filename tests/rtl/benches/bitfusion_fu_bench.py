"""cocotb bench for rtl/bitfusion_fu.v (BitFusion's fusion unit; with 4-bit slices ANT's fused PE) against
sim.kernels.fused_mac.

Every precision mode pair (activation and weight each SLICE_BITS << m bits, m = 0 .. log2(K), plus the
out-of-range mode 3 that must act as the full width) with every signedness pair gets the edge words first:
all lanes at the most negative value, the most positive, all ones, zero, and mixes of them against each other
(unsigned all-ones x all-ones is the largest product); then random words over the whole bus (bits above the
last lane are random too and must be ignored) with a random mode, signedness, clear and enable on every
beat, so the unit switches precision between cycles.  The accumulator is checked after every edge.  Finally
the largest product is held until the accumulator wraps.
"""

from __future__ import annotations

import cocotb
from cocotb.triggers import FallingEdge

from sim.kernels import fused_mac
from tests import vectors
from tests.rtl.benches.common import Checker, param, report, settings, signed, skip_cycles, start


class Unit:
    def __init__(self, dut):
        self.s, self.f, self.acc_bits = param(dut, "SLICE_BITS"), param(dut, "FUSED_BITS"), param(dut, "ACC_BITS")
        self.k = self.f // self.s
        self.log2k = self.k.bit_length() - 1
        self.bus = self.k * self.f

    def shape(self, ma: int, mw: int) -> tuple[int, int, int]:
        """(activation bits, weight bits, lanes) of a mode pair (modes above log2(K) act as log2(K))."""
        ma, mw = min(ma, self.log2k), min(mw, self.log2k)
        return self.s << ma, self.s << mw, self.k * self.k >> (ma + mw)


def edge_words(bits: int, lanes: int, signed_: bool, bus: int) -> list[int]:
    lo, hi = (vectors.signed_range(bits) if signed_ else (0, (1 << bits) - 1))
    return [vectors.pack([lo] * lanes, bits), vectors.pack([hi] * lanes, bits), (1 << bus) - 1, 0,
            vectors.pack([lo, hi] * lanes, bits) & ((1 << bus) - 1)]


@cocotb.test()
async def bitfusion_fu_vectors(dut):
    u = Unit(dut)
    n, seed = settings(1500)
    r = vectors.rng(seed)
    chk = Checker("bitfusion_fu")
    await start(dut, clr=1, en=0, a=0, w=0, a_mode=0, w_mode=0, a_signed=0, w_signed=0)
    modes = list(range(u.log2k + 1)) + [3]
    beats = []
    for ma in modes:
        for mw in modes:
            a_bits, w_bits, lanes = u.shape(ma, mw)
            for sa in (0, 1):
                for sw in (0, 1):
                    for i, aw in enumerate(edge_words(a_bits, lanes, bool(sa), u.bus)):
                        for j, ww in enumerate(edge_words(w_bits, lanes, bool(sw), u.bus)):
                            beats.append((aw, ww, ma, mw, sa, sw, int(i == j == 0), 1))
    for _ in range(n):
        beats.append((int(r.integers(0, 1 << u.bus)), int(r.integers(0, 1 << u.bus)), int(r.choice(modes)),
                      int(r.choice(modes)), int(r.integers(0, 2)), int(r.integers(0, 2)), int(r.random() < 0.1),
                      int(r.random() < 0.85)))
    acc = 0
    for b, (aw, ww, ma, mw, sa, sw, clr, en) in enumerate(beats):
        dut.a.value, dut.w.value, dut.a_mode.value, dut.w_mode.value = aw, ww, ma, mw
        dut.a_signed.value, dut.w_signed.value, dut.clr.value, dut.en.value = sa, sw, clr, en
        await FallingEdge(dut.clk)
        a_bits, w_bits, lanes = u.shape(ma, mw)
        base = 0 if clr else acc
        acc = fused_mac(aw, ww, base, a_bits, w_bits, bool(sa), bool(sw), lanes, u.acc_bits) if en else base
        chk.check(signed(dut.acc), acc, "acc", beat=b, a=hex(aw), w=hex(ww), a_mode=ma, w_mode=mw, a_signed=sa,
                  w_signed=sw, clr=clr, en=en)

    # overflow: unsigned full-width all-ones x all-ones (the largest product) until the sum wraps
    top = u.log2k
    ones = (1 << u.f) - 1
    big = ones * ones
    runs = (1 << (u.acc_bits - 1)) // big + 2
    dut.a.value, dut.w.value, dut.a_mode.value, dut.w_mode.value = ones, ones, top, top
    dut.a_signed.value, dut.w_signed.value, dut.clr.value, dut.en.value = 0, 0, 1, 1
    await FallingEdge(dut.clk)
    dut.clr.value = 0
    await skip_cycles(dut, runs - 1)
    acc = 0
    for _ in range(runs):
        acc = fused_mac(ones, ones, acc, u.f, u.f, False, False, 1, u.acc_bits)
    chk.check(signed(dut.acc), acc, "acc after wrapping", macs=runs)
    assert runs * big > (1 << (u.acc_bits - 1)) and acc < 0, "the overflow run must cross the range"
    report("bitfusion_fu" if u.s == 2 else f"bitfusion_fu_s{u.s}", vectors=len(beats) + runs, checks=chk.checks,
           overflow_macs=runs, seed=seed)
