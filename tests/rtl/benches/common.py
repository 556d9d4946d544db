"""What every cocotb bench shares: the clock, its settings from the environment, the checker, the report.

A bench is driver + model + checker in one coroutine: it drives inputs after a falling edge, lets the
rising edge happen, and at the next falling edge compares what the DUT shows with the model built from
`sim.kernels`.  Settings come from the environment (the pytest runner and `dse rtl verify` set them):
``COEX_VECTORS`` (random vectors to drive), ``COEX_SEED`` and ``COEX_BENCH_REPORT`` (a JSON file the
bench adds its counts to).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from cocotb.clock import Clock
from cocotb.triggers import FallingEdge, Timer

from tests import vectors

CLOCK_NS = 10


def settings(default_vectors: int) -> tuple[int, int]:
    """(vectors, seed) for this run."""
    return vectors.env_int("COEX_VECTORS", default_vectors), vectors.env_int("COEX_SEED", vectors.SEED)


def param(dut, name: str) -> int:
    """A Verilog parameter of the DUT (widths are read from the design, never assumed)."""
    return int(getattr(dut, name).value)


async def start(dut, **idle) -> None:
    """Start the clock, set the given inputs, and return at a falling edge."""
    for name, value in idle.items():
        getattr(dut, name).value = value
    Clock(dut.clk, CLOCK_NS, unit="ns").start()
    await FallingEdge(dut.clk)


async def skip_cycles(dut, n: int) -> None:
    """Let ``n`` clock cycles pass with the inputs held, without waking Python on each edge; returns at a
    falling edge (called at one)."""
    if n <= 0:
        return
    await Timer(CLOCK_NS * (n - 1) + CLOCK_NS // 2, unit="ns")
    await FallingEdge(dut.clk)


def signed(handle) -> int:
    return handle.value.to_signed()


def lane(handle, index: int, bits: int) -> int:
    """Lane ``index`` of a packed bus (bits ``[index*bits +: bits]``) as a signed number; the other lanes
    may hold X."""
    text = str(handle.value)                       # MSB first
    end = len(text) - index * bits
    v = int(text[end - bits:end], 2)
    return v - (1 << bits) if v >> (bits - 1) else v


class Checker:
    """Compares DUT outputs with the model; the first mismatch fails the test with its context."""

    def __init__(self, bench: str):
        self.bench = bench
        self.checks = 0

    def check(self, got: int, want: int, what: str, **context) -> None:
        self.checks += 1
        if got != want:
            ctx = ", ".join(f"{k}={v}" for k, v in context.items())
            raise AssertionError(f"{self.bench}: {what}: DUT {got} != model {want} (check {self.checks}; {ctx})")


def report(bench: str, **fields) -> None:
    """Add this bench's counts (vectors driven, outputs checked, ...) to ``COEX_BENCH_REPORT``."""
    path = os.environ.get("COEX_BENCH_REPORT")
    if not path:
        return
    p = Path(path)
    data = json.loads(p.read_text()) if p.exists() else {}
    data[bench] = fields
    p.write_text(json.dumps(data, indent=1))
