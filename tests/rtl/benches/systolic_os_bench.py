"""cocotb bench for rtl/systolic_os.v against sim.kernels.gemm_int.

`systolic_os_tiles`: random R x K by K x C tiles (K = 1 first, then an all -128 tile and an extreme
checkerboard, whose sums wrap a narrow accumulator, then random K) fed one after another with random
bubbles; every drained result is compared with the kernel's product, in the order the drain emits it.
The handshake is checked every cycle: in_ready must fall for exactly R + C - 2 cycles after each fold's
last beat.

`systolic_os_cycles`: one M x N x K GEMM (``COEX_GEMM=M,N,K``) in ceil(M/R) * ceil(N/C) folds fed back
to back as fast as in_ready allows; records the edge of the last accumulation counted from the edge
that took the first beat (the cost model's "compute cycles") and checks every result.
"""

from __future__ import annotations

import os
from collections import deque

import cocotb
import numpy as np
from cocotb.triggers import FallingEdge

from sim.kernels import gemm_int
from tests import vectors
from tests.rtl.benches.common import Checker, lane, param, report, settings, start


class Array:
    """Driver and drain monitor around the DUT, one falling edge at a time."""

    def __init__(self, dut, chk: Checker):
        self.dut = dut
        self.chk = chk
        self.r, self.c = param(dut, "R"), param(dut, "C")
        self.a_bits, self.w_bits, self.acc_bits = param(dut, "A_BITS"), param(dut, "W_BITS"), param(dut, "ACC_BITS")
        self.expect = [deque() for _ in range(self.c)]   # per column: results in drain order
        self.edge = 0                                    # rising edges since start
        self.wait_left = 0                               # model of the in_ready countdown
        self.fold_done_edges: list[int] = []
        self.outputs = 0

    def expect_fold(self, a: np.ndarray, w: np.ndarray) -> None:
        prod = gemm_int(a, w, self.a_bits, self.w_bits, self.acc_bits)
        for j in range(self.c):
            self.expect[j].extend(int(prod[i, j]) for i in reversed(range(self.r)))

    async def cycle(self, valid: int, last: int = 0, a_col: int = 0, w_row: int = 0) -> bool:
        """Present one beat (or a bubble) for the next rising edge; returns whether it was taken."""
        dut = self.dut
        ready = int(dut.in_ready.value)
        self.chk.check(ready, int(self.wait_left == 0), "in_ready", edge=self.edge)
        dut.in_valid.value, dut.in_last.value, dut.a_col.value, dut.w_row.value = valid, last, a_col, w_row
        taken = bool(valid and ready)
        await FallingEdge(dut.clk)
        self.edge += 1
        if taken and last:
            self.wait_left = self.r + self.c - 2
        elif self.wait_left:
            self.wait_left -= 1
        if int(dut.fold_done.value):
            self.fold_done_edges.append(self.edge)
        valid_bits = int(dut.out_valid.value)
        if valid_bits:
            for j in range(self.c):
                if valid_bits >> j & 1:
                    if not self.expect[j]:
                        raise AssertionError(f"systolic_os: column {j} drained an unexpected result (edge {self.edge})")
                    got = lane(dut.out_data, j, self.acc_bits)
                    self.chk.check(got, self.expect[j].popleft(), f"C[.][{j}]", edge=self.edge)
                    self.outputs += 1
        return taken

    async def feed(self, a: np.ndarray, w: np.ndarray, bubbles: float = 0.0, rnd=None) -> None:
        """Feed one fold (a: R x K, w: K x C), waiting for in_ready, with random bubbles."""
        self.expect_fold(a, w)
        k = a.shape[1]
        kk = 0
        while kk < k:
            if rnd is not None and bubbles and rnd.random() < bubbles:
                await self.cycle(0)
                continue
            col = vectors.pack(a[:, kk], self.a_bits)
            row = vectors.pack(w[kk, :], self.w_bits)
            if await self.cycle(1, int(kk == k - 1), col, row):
                kk += 1

    async def drain(self) -> None:
        for _ in range(2 * self.r + self.c + 2):   # wavefront R + C - 2, capture 1, drain R
            await self.cycle(0)
        left = sum(len(q) for q in self.expect)
        if left:
            raise AssertionError(f"systolic_os: {left} results never drained")


@cocotb.test()
async def systolic_os_tiles(dut):
    n, seed = settings(2000)
    r = vectors.rng(seed)
    chk = Checker("systolic_os")
    await start(dut, rst=1, in_valid=0, in_last=0, a_col=0, w_row=0)
    await FallingEdge(dut.clk)
    dut.rst.value = 0
    arr = Array(dut, chk)
    beats = 0
    tiles = 0
    for a, w in vectors.gemm_tiles(r, n, arr.r, arr.c, arr.a_bits, arr.w_bits):
        if beats >= n:
            break
        await arr.feed(a, w, bubbles=0.1, rnd=r)
        beats += a.shape[1]
        tiles += 1
    await arr.drain()
    report("systolic_os", vectors=beats, checks=chk.checks, outputs=arr.outputs, folds=tiles, seed=seed)


@cocotb.test()
async def systolic_os_cycles(dut):
    m, n, k = (int(x) for x in os.environ.get("COEX_GEMM", "8,8,16").split(","))
    _, seed = settings(0)
    r = vectors.rng(seed)
    chk = Checker("systolic_os")
    await start(dut, rst=1, in_valid=0, in_last=0, a_col=0, w_row=0)
    await FallingEdge(dut.clk)
    dut.rst.value = 0
    arr = Array(dut, chk)
    a = vectors.random_signed(r, (m, k), arr.a_bits)
    w = vectors.random_signed(r, (k, n), arr.w_bits)
    rows, cols = arr.r, arr.c
    fr, fc = -(-m // rows), -(-n // cols)
    first_edge = None
    for cf in range(fc):                       # column folds outer, row folds inner (as SCALE-Sim)
        for rf in range(fr):
            a_t = np.zeros((rows, k), np.int64)
            w_t = np.zeros((k, cols), np.int64)
            a_blk = a[rf * rows:(rf + 1) * rows]
            w_blk = w[:, cf * cols:(cf + 1) * cols]
            a_t[: a_blk.shape[0]] = a_blk       # a partial fold leaves rows/columns idle (zeros)
            w_t[:, : w_blk.shape[1]] = w_blk
            if first_edge is None:
                while not int(dut.in_ready.value):
                    await arr.cycle(0)
                first_edge = arr.edge + 1       # the coming rising edge takes beat 0
            await arr.feed(a_t, w_t)
    await arr.drain()
    last = arr.fold_done_edges[-1]
    report(f"systolic_os_cycles_{m}x{n}x{k}", M=m, N=n, K=k, R=rows, C=cols, folds=fr * fc,
           compute_cycles=last - first_edge, fold_done_edges=[e - first_edge for e in arr.fold_done_edges],
           checks=chk.checks, outputs=arr.outputs, seed=seed)
