"""cocotb bench for rtl/mixpe_pe.v against sim.kernels (mixpe_group + mixpe_dequant, and mac_dequant).

Dot products of quantisation groups (`tests.vectors.group_dots`: the named edge groups first -- zero
activations, weights equal to the zero point, zero scale, all-negative weights, the largest sums -- then
random groups of 1..64 elements, so groups shorter than the serial dequantiser make it stall) are fed
with random bubbles.  Every cycle the handshake is checked against its rule (in_ready low only for a
group-closing element while more than one dequantisation step is left; busy while steps are left).
Whenever the PE is idle its accumulator must equal the kernel's sum over every group closed so far, and
each finished dot product must equal both the MixPE form and the dequantise-in-loop form.  Finally
one-element groups of the largest product are held until the accumulator wraps.
"""

from __future__ import annotations

import cocotb
from cocotb.triggers import FallingEdge, ReadOnly

from sim.kernels import mac_dequant, mixpe_dequant, mixpe_group, wrap
from tests import vectors
from tests.rtl.benches.common import Checker, param, report, settings, signed, skip_cycles, start


class Pe:
    def __init__(self, dut, chk: Checker):
        self.dut, self.chk = dut, chk
        self.a_bits, self.w_bits = param(dut, "A_BITS"), param(dut, "W_BITS")
        self.scale_bits, self.acc_bits = param(dut, "SCALE_BITS"), param(dut, "ACC_BITS")
        self.max_group = 1 << param(dut, "GROUP_BITS")
        self.steps = 0        # dequantisation steps left (the model of busy / in_ready)
        self.acc = 0          # the kernel's accumulator over the groups closed since the last clear
        self.cycles = 0
        self.elements = 0
        self.stalls = 0

    async def cycle(self, valid=0, last=0, a=0, q=0, zero=0, scale=0, clr=0, group=None) -> bool:
        dut = self.dut
        dut.valid.value, dut.last.value, dut.a.value, dut.q.value = valid, last, a, q
        dut.zero.value, dut.scale.value, dut.clr.value = zero, scale, clr
        await ReadOnly()
        ready = int(dut.in_ready.value)
        self.chk.check(ready, int(not (last and self.steps > 1)), "in_ready", cycle=self.cycles, steps=self.steps)
        taken = bool(valid and ready)
        await FallingEdge(dut.clk)
        self.cycles += 1
        if clr:
            self.acc = 0
        if taken:
            self.elements += 1
        if taken and last:
            gacc, asum = mixpe_group(group.a, group.q, self.a_bits, self.w_bits)
            self.acc = mixpe_dequant(gacc, asum, zero, scale, self.acc, self.w_bits, self.scale_bits, self.acc_bits)
            self.steps = self.scale_bits
        elif self.steps:
            self.steps -= 1
        if valid and not ready:
            self.stalls += 1
        self.chk.check(int(self.dut.busy.value), int(self.steps > 0), "busy", cycle=self.cycles)
        if self.steps == 0:
            self.chk.check(signed(self.dut.acc), self.acc, "acc while idle", cycle=self.cycles)
        return taken

    async def group(self, g: vectors.Group, clr_first: bool, rnd, bubbles: float) -> None:
        k, n = 0, len(g.a)
        clr = int(clr_first)
        while k < n:
            if rnd.random() < bubbles:
                await self.cycle(clr=clr)
                clr = 0
                continue
            last = int(k == n - 1)
            if await self.cycle(1, last, int(g.a[k]), int(g.q[k]), g.zero, g.scale, clr, g):
                k += 1
            clr = 0

    async def idle(self) -> None:
        while self.steps:
            await self.cycle()


def in_loop(dot: list[vectors.Group], a_bits: int, w_bits: int, scale_bits: int, acc_bits: int) -> int:
    acc = 0
    for g in dot:
        for a, q in zip(g.a, g.q):
            acc = mac_dequant(int(a), int(q), g.zero, g.scale, acc, a_bits, w_bits, scale_bits, acc_bits)
    return acc


@cocotb.test()
async def mixpe_pe_vectors(dut):
    n, seed = settings(3000)
    r = vectors.rng(seed)
    chk = Checker("mixpe_pe")
    await start(dut, rst=1, clr=0, valid=0, last=0, a=0, q=0, zero=0, scale=0)
    await FallingEdge(dut.clk)
    dut.rst.value = 0
    pe = Pe(dut, chk)
    dots = vectors.group_dots(r, n, pe.a_bits, pe.w_bits, pe.scale_bits, max_group=min(64, pe.max_group))
    for dot in dots:
        for i, g in enumerate(dot):
            await pe.group(g, clr_first=(i == 0), rnd=r, bubbles=0.08)
        await pe.idle()
        want = in_loop(dot, pe.a_bits, pe.w_bits, pe.scale_bits, pe.acc_bits)
        chk.check(pe.acc, want, "MixPE form vs in-loop form", groups=len(dot))
        chk.check(signed(dut.acc), want, "dot product", groups=len(dot), first=dot[0].name)

    # overflow: one-element groups of the largest product, held (a new group every SCALE_BITS cycles)
    lo = vectors.signed_range(pe.a_bits)[0]
    qmax, smax = (1 << pe.w_bits) - 1, (1 << pe.scale_bits) - 1
    per_group = lo * qmax * smax
    groups = -(-(1 << (pe.acc_bits - 1)) // abs(per_group)) + 2
    await pe.cycle(clr=1)
    pe.acc = 0
    dut.valid.value, dut.last.value, dut.a.value, dut.q.value = 1, 1, lo, qmax
    dut.zero.value, dut.scale.value, dut.clr.value = 0, smax, 0
    await skip_cycles(dut, (groups - 1) * pe.scale_bits + 1)
    dut.valid.value = 0
    for _ in range(pe.scale_bits + 1):
        await FallingEdge(dut.clk)
    want = wrap(groups * per_group, pe.acc_bits)
    chk.check(int(dut.busy.value), 0, "busy after the overflow run")
    chk.check(signed(dut.acc), want, "acc after wrapping", groups=groups)
    assert groups * abs(per_group) > (1 << (pe.acc_bits - 1)), "the overflow run must cross the range"
    report("mixpe_pe" if pe.w_bits == 4 else f"mixpe_pe_w{pe.w_bits}", vectors=pe.elements + groups,
           dots=len(dots), checks=chk.checks, stall_cycles=pe.stalls, overflow_groups=groups, seed=seed,
           groups=sum(len(d) for d in dots))

