"""cocotb bench for rtl/dequant_pe.v (the conventional in-loop dequantising PE) against
sim.kernels.mac_dequant.

Every element of the edge groups of `tests.vectors.group_edges` (zero activations, weights at the zero
point, zero scale, all-negative weights, the largest products), then random operands with random
clear/enable; the accumulator is checked after every edge.  Then the largest negative product is held
until the accumulator wraps.
"""

from __future__ import annotations

import cocotb
from cocotb.triggers import FallingEdge

from sim.kernels import mac_dequant, wrap
from tests import vectors
from tests.rtl.benches.common import Checker, param, report, settings, signed, skip_cycles, start


@cocotb.test()
async def dequant_pe_vectors(dut):
    a_bits, w_bits = param(dut, "A_BITS"), param(dut, "W_BITS")
    scale_bits, acc_bits = param(dut, "SCALE_BITS"), param(dut, "ACC_BITS")
    n, seed = settings(3000)
    r = vectors.rng(seed)
    chk = Checker("dequant_pe")
    await start(dut, clr=1, en=0, a=0, q=0, zero=0, scale=0)
    beats = []
    for g in vectors.group_edges(4, a_bits, w_bits, scale_bits):
        beats += [(int(a), int(q), g.zero, g.scale, 0, 1) for a, q in zip(g.a, g.q)]
    a = vectors.random_signed(r, n, a_bits)
    q = vectors.random_unsigned(r, n, w_bits)
    z = vectors.random_unsigned(r, n, w_bits)
    s = vectors.random_unsigned(r, n, scale_bits)
    clr = r.random(n) < 0.04
    en = r.random(n) < 0.85
    beats += [(int(a[i]), int(q[i]), int(z[i]), int(s[i]), int(clr[i]), int(en[i])) for i in range(n)]
    acc = 0
    for i, (ai, qi, zi, si, ci, ei) in enumerate(beats):
        dut.a.value, dut.q.value, dut.zero.value, dut.scale.value = ai, qi, zi, si
        dut.clr.value, dut.en.value = ci, ei
        await FallingEdge(dut.clk)
        base = 0 if ci else acc
        acc = mac_dequant(ai, qi, zi, si, base, a_bits, w_bits, scale_bits, acc_bits) if ei else base
        chk.check(signed(dut.acc), acc, "acc", beat=i, a=ai, q=qi, zero=zi, scale=si, clr=ci, en=ei)

    # overflow: (q - zero) = -(2^W - 1) times the largest scale times +127, held until the sum wraps
    hi = vectors.signed_range(a_bits)[1]
    qmax, smax = (1 << w_bits) - 1, (1 << scale_bits) - 1
    per = hi * (0 - qmax) * smax
    runs = -(-(1 << (acc_bits - 1)) // abs(per)) + 1
    dut.a.value, dut.q.value, dut.zero.value, dut.scale.value, dut.clr.value, dut.en.value = hi, 0, qmax, smax, 1, 1
    await FallingEdge(dut.clk)
    dut.clr.value = 0
    await skip_cycles(dut, runs - 1)
    want = wrap(runs * per, acc_bits)
    chk.check(signed(dut.acc), want, "acc after wrapping", macs=runs)
    assert runs * abs(per) > (1 << (acc_bits - 1))
    report("dequant_pe", vectors=len(beats) + runs, checks=chk.checks, overflow_macs=runs, seed=seed)
