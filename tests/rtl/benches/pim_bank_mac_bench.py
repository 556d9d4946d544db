"""cocotb bench for rtl/pim_bank_mac.v against sim.kernels.pim_bank_dot / pim_gemv.

GEMV rows (`tests.vectors.pim_rows`: a single burst, an all -128 x -128 row, mixed extremes, then random
rows of 1..8 bursts) streamed burst by burst with random stall beats; out_valid must pulse exactly once
per row, on the cycle after its last burst, with the kernel's result.  Then one row of all -128 x -128
bursts long enough to wrap the accumulator.
"""

from __future__ import annotations

import cocotb
import numpy as np
from cocotb.triggers import FallingEdge

from sim.kernels import pim_bank_dot, pim_gemv, wrap
from tests import vectors
from tests.rtl.benches.common import Checker, param, report, settings, signed, skip_cycles, start


@cocotb.test()
async def pim_bank_mac_vectors(dut):
    lanes, a_bits = param(dut, "LANES"), param(dut, "A_BITS")
    w_bits, acc_bits = param(dut, "W_BITS"), param(dut, "ACC_BITS")
    n, seed = settings(3000)
    r = vectors.rng(seed)
    chk = Checker("pim_bank_mac")
    await start(dut, rst=1, col_valid=0, col_first=0, col_last=0, col_data=0, vec_data=0)
    await FallingEdge(dut.clk)
    dut.rst.value = 0
    rows = vectors.pim_rows(r, n, lanes, a_bits, w_bits)
    beats = outputs = 0
    for row, (w, x) in enumerate(rows):
        # the whole row as one GEMV row of the kernel: weights w.ravel(), activations x.ravel()
        want = int(pim_gemv(w.reshape(1, -1), x.ravel(), lanes, a_bits, w_bits, acc_bits)[0])
        b = 0
        while b < len(w):
            stall = r.random() < 0.1
            dut.col_valid.value = int(not stall)
            dut.col_first.value, dut.col_last.value = int(b == 0), int(b == len(w) - 1)
            dut.col_data.value, dut.vec_data.value = vectors.pack(w[b], w_bits), vectors.pack(x[b], a_bits)
            await FallingEdge(dut.clk)
            if not stall:
                b += 1
                beats += 1
            done = not stall and b == len(w)
            chk.check(int(dut.out_valid.value), int(done), "out_valid", row=row, burst=b)
            if done:
                chk.check(signed(dut.out_data), want, "y[row]", row=row, bursts=len(w))
                outputs += 1

    # overflow: one row of -128 x -128 bursts, each adding LANES * 2**14, until the sum wraps
    lo_a, lo_w = vectors.signed_range(a_bits)[0], vectors.signed_range(w_bits)[0]
    per = int(pim_bank_dot(np.full(lanes, lo_w, np.int64), np.full(lanes, lo_a, np.int64), a_bits, w_bits))
    runs = -(-(1 << (acc_bits - 1)) // per) + 1
    dut.col_data.value, dut.vec_data.value = vectors.pack([lo_w] * lanes, w_bits), vectors.pack([lo_a] * lanes, a_bits)
    dut.col_valid.value, dut.col_first.value, dut.col_last.value = 1, 1, 0
    await FallingEdge(dut.clk)
    dut.col_first.value = 0
    await skip_cycles(dut, runs - 2)
    dut.col_last.value = 1
    await FallingEdge(dut.clk)
    dut.col_valid.value = 0
    chk.check(int(dut.out_valid.value), 1, "out_valid after the long row")
    chk.check(signed(dut.out_data), wrap(runs * per, acc_bits), "y after wrapping", bursts=runs)
    report("pim_bank_mac", vectors=beats + runs, rows=len(rows) + 1, checks=chk.checks, outputs=outputs + 1,
           overflow_bursts=runs, seed=seed)
