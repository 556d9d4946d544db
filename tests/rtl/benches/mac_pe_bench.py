"""cocotb bench for rtl/mac_pe.v against sim.kernels.mac_int.

Drives the edge pairs of `tests.vectors.mac_stream` and random operands with random clear/enable,
checking the accumulator after every edge; then holds -128 x -128 until the accumulator crosses
2**(ACC_BITS-1) and checks it wrapped to the most negative value, and continues across the wrap.
"""

from __future__ import annotations

import cocotb
from cocotb.triggers import FallingEdge

from sim.kernels import mac_int
from tests import vectors
from tests.rtl.benches.common import Checker, param, report, settings, signed, skip_cycles, start


def step(acc: int, beat: vectors.MacBeat, a_bits: int, w_bits: int, acc_bits: int) -> int:
    """The PE's control around the kernel: clear zeroes the sum's start, enable adds a * w."""
    base = 0 if beat.clr else acc
    return mac_int(beat.a, beat.w, base, a_bits, w_bits, acc_bits) if beat.en else base


@cocotb.test()
async def mac_pe_vectors(dut):
    a_bits, w_bits, acc_bits = param(dut, "A_BITS"), param(dut, "W_BITS"), param(dut, "ACC_BITS")
    n, seed = settings(4000)
    chk = Checker("mac_pe")
    await start(dut, clr=1, en=0, a=0, w=0)
    acc = 0
    beats = vectors.mac_stream(vectors.rng(seed), n, a_bits, w_bits)
    for i, beat in enumerate(beats):
        dut.a.value, dut.w.value, dut.clr.value, dut.en.value = beat.a, beat.w, beat.clr, beat.en
        await FallingEdge(dut.clk)
        acc = step(acc, beat, a_bits, w_bits, acc_bits)
        chk.check(signed(dut.acc), acc, "acc", beat=i, a=beat.a, w=beat.w, clr=beat.clr, en=beat.en)

    # accumulator overflow: the largest product until the sum passes 2**(acc_bits - 1)
    lo_a, lo_w = vectors.signed_range(a_bits)[0], vectors.signed_range(w_bits)[0]
    runs = vectors.macs_to_overflow(a_bits, w_bits, acc_bits)
    dut.a.value, dut.w.value, dut.clr.value, dut.en.value = lo_a, lo_w, 1, 1
    await FallingEdge(dut.clk)
    dut.clr.value = 0
    await skip_cycles(dut, runs - 2)
    acc = lo_a * lo_w * (runs - 1)
    chk.check(signed(dut.acc), acc, "acc just below the overflow", macs=runs - 1)
    await FallingEdge(dut.clk)
    acc = mac_int(lo_a, lo_w, acc, a_bits, w_bits, acc_bits)
    chk.check(signed(dut.acc), acc, "acc after wrapping", macs=runs)
    assert acc == -(1 << (acc_bits - 1)) or runs * lo_a * lo_w > (1 << (acc_bits - 1))
    for _ in range(3):
        await FallingEdge(dut.clk)
        acc = mac_int(lo_a, lo_w, acc, a_bits, w_bits, acc_bits)
        chk.check(signed(dut.acc), acc, "acc past the wrap")
    report("mac_pe", vectors=len(beats) + runs + 3, checks=chk.checks, overflow_macs=runs, seed=seed)
