"""cocotb bench for rtl/ternary_acc.v against sim.kernels.ternary_acc_step.

Edge beats (every lane -128 with weight -1, the largest sum; +127 with +1; the "negative zero" code
2'b10 in every lane; all zeros) then random activations, random 2-bit codes (all four, so 2'b10 is
exercised) and random clear/enable, checked after every edge; then the largest sum is held until the
accumulator wraps.
"""

from __future__ import annotations

import cocotb
import numpy as np
from cocotb.triggers import FallingEdge

from sim.kernels import ternary_acc_step, ternary_from_code, wrap
from tests import vectors
from tests.rtl.benches.common import Checker, param, report, settings, signed, skip_cycles, start


@cocotb.test()
async def ternary_acc_vectors(dut):
    lanes, a_bits, acc_bits = param(dut, "LANES"), param(dut, "A_BITS"), param(dut, "ACC_BITS")
    n, seed = settings(3000)
    chk = Checker("ternary_acc")
    await start(dut, clr=1, en=0, a=0, t=0)
    beats = vectors.ternary_beats(vectors.rng(seed), n, lanes, a_bits)
    acc = 0
    for i, (a, codes, clr, en) in enumerate(beats):
        dut.a.value, dut.t.value = vectors.pack(a, a_bits), vectors.pack(codes, 2)
        dut.clr.value, dut.en.value = clr, en
        await FallingEdge(dut.clk)
        weights = np.array([ternary_from_code(c) for c in codes], dtype=np.int64)
        base = 0 if clr else acc
        acc = ternary_acc_step(base, np.array(a, dtype=np.int64), weights, a_bits, acc_bits) if en else base
        chk.check(signed(dut.acc), acc, "acc", beat=i, a=a, codes=codes, clr=clr, en=en)

    # overflow: every lane -128 x -1 until the sum passes 2**(ACC_BITS-1)
    lo = vectors.signed_range(a_bits)[0]
    runs = vectors.ternary_runs_to_overflow(lanes, a_bits, acc_bits) + 1
    dut.a.value, dut.t.value = vectors.pack([lo] * lanes, a_bits), vectors.pack([0b11] * lanes, 2)
    dut.clr.value, dut.en.value = 1, 1
    await FallingEdge(dut.clk)
    dut.clr.value = 0
    await skip_cycles(dut, runs - 1)
    want = wrap(runs * lanes * -lo, acc_bits)
    chk.check(signed(dut.acc), want, "acc after wrapping", beats=runs)
    report("ternary_acc", vectors=len(beats) + runs, checks=chk.checks, overflow_beats=runs, seed=seed)
