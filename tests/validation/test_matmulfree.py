"""Validation: the MatMul-free LM on an FPGA, measured vs published (Zhu et al., "Scalable MatMul-free
Language Modeling", arXiv 2406.02528).

Published figures (the only numbers used, never fed into the model)
--------------------------------------------------------------------
- "We processed billion-parameter scale models at 13W beyond human readable throughput"   (abstract)
- 1.3B model: projected 42 ms per token = 23.8 tokens/s; total board power 13.67 W
  (FPGA section and its results table, as we recall them: the search tool reached only the abstract,
  so these two are recollections, printed as such; the test compares power with the abstract's 13 W)

What was read, and what was assumed
-----------------------------------
Read: the abstract of arXiv 2406.02528v5 (the "13W" sentence; v6's abstract drops the FPGA and reports a
multi-chip neuromorphic system instead, so the FPGA figures are v1-v5's).  Searched again for the FPGA
section (search tool, pages corpus: the v5/v6 HTML pages and an extracted-text copy return only their
opening; code corpus: ridgerchu/matmulfreellm holds no FPGA material): not reachable, so the core's
width, the 42 ms and the 13.67 W below are still recollections.  Recalled, not re-read: an Intel FPGA PAC D5005 (Stratix 10) in the Intel DevCloud,
a 60 MHz SystemVerilog core with a ternary matrix unit and row-wise/RMSNorm units fed by a DMA.  Assumed,
each chosen before comparing and not tuned to the published figures (preset `matmulfree-fpga`):

- The core's width: one 512-bit DDR4 EMIF word of 2-bit ternary codes per core cycle, i.e. 256 adder
  lanes (add/subtract/skip of int8 activations), weights streamed from one DDR4-2400 bank every token.
- An 8-lane vector engine for RMSNorm, the MLGRU recurrence, gates and residuals.
- Power: static 6 W for the 1SX280 and 3 W of other board power (DDR4 banks, management, regulators) are
  assumptions, not measurements; they are most of the modelled total, so the power check tests them more
  than the dynamic model.  Dynamic power: `sim.fpga` (tech tables x the Kuon & Rose FPGA/ASIC gap).
- Workload: the zoo's `matmulfree-1.3b` (1.36B parameters, ternary BitLinear layers including the LM head),
  decode of one token at batch 1 (the recurrent state makes the context length irrelevant).
Tolerance +-30% (issue 9).  The throughput misses (the modelled core is about half as wide as the
published projection implies); it is marked xfail(strict) with the measured value, and the test prints
how throughput scales with the core's width.
"""

from __future__ import annotations

import functools

import pytest

import arch
from sim import fpga, simulate
from workloads import zoo
from tests.validation.side_by_side import write_lines

PUBLISHED = {
    "tokens_per_s": (23.8, "arXiv 2406.02528 FPGA section (recalled): 1.3B projected 42 ms/token = 23.8 tokens/s"),
    "power_w": (13.0, "arXiv 2406.02528 abstract: billion-parameter scale models at 13 W"),
    "board_w": (13.67, "arXiv 2406.02528 FPGA results table (recalled): total board power 13.67 W"),
}
TOLERANCE = 0.30
_ROWS: list[tuple[str, str, str, str]] = []


@functools.cache
def run(lanes: int | None = None):
    overrides = {"units.fpga.engines.ternary.lanes": lanes} if lanes else None
    acc = arch.load("matmulfree-fpga", overrides=overrides)
    g = zoo.load("matmulfree-1.3b", phase="decode", batch=1)
    return simulate(g, acc)  # FPGA energy: sim.fpga's power model, applied by simulate


MEASURED_TOKENS_PER_S = run().summary["tokens_per_s"]


@pytest.fixture(scope="module", autouse=True)
def side_by_side(request):
    yield
    if not _ROWS:
        return
    lines = ["", "MatMul-free LM 1.3B on an FPGA (arXiv 2406.02528)",
             f"{'quantity':<46} {'published':>10} {'measured':>10}  verdict"]
    lines += [f"{q:<46} {p:>10} {m:>10}  {v}" for q, p, m, v in _ROWS]
    write_lines(request.config, lines)


def test_power_of_the_published_configuration():
    s = run().summary
    published, _ = PUBLISHED["power_w"]
    ok = abs(s["power_w"] / published - 1) <= TOLERANCE
    _ROWS.append(("power, 1.3B decode (W)", f"{published:.1f}", f"{s['power_w']:.2f}", "ok" if ok else "MISS"))
    _ROWS.append(("  total board power (recalled figure)", f"{PUBLISHED['board_w'][0]:.2f}", f"{s['power_w']:.2f}",
                  "info"))
    for c in fpga.FPGA_ENERGY:
        watts = s[f"energy_{c}_j"] / s["latency_s"]
        if watts >= 0.005:
            _ROWS.append((f"  {c} power (W)", "", f"{watts:.2f}", "info"))
    assert s["energy_dram_j"] > 0 and s["energy_adder_j"] > 0
    assert ok, f"power {s['power_w']:.2f} W vs published {published} W"


@pytest.mark.xfail(strict=True, reason=f"measured {MEASURED_TOKENS_PER_S:.1f} tokens/s vs published 23.8 (recalled): "
                   "the modelled 256-lane core (one 512-bit DDR4 word per 60 MHz cycle, assumed) is compute-bound "
                   "at about half the published projection; the paper's core width could not be read")
def test_throughput_of_the_published_configuration():
    s = run().summary
    published, _ = PUBLISHED["tokens_per_s"]
    ok = abs(s["tokens_per_s"] / published - 1) <= TOLERANCE
    _ROWS.append(("throughput, 1.3B decode (tokens/s)", f"{published:.1f}", f"{s['tokens_per_s']:.2f}",
                  "ok" if ok else "MISS (xfail)"))
    for lanes in (512, 1024):
        tps = run(lanes).summary["tokens_per_s"]
        _ROWS.append((f"  same core with {lanes} adder lanes (sensitivity)", "", f"{tps:.2f}", "info"))
    assert ok, f"throughput {s['tokens_per_s']:.2f} tokens/s vs published {published}"


def test_the_ternary_layers_run_on_adders_and_are_compute_bound():
    """The BitLinear GEMMs take no DSPs and no stall: the weight stream (3.84 GB/s of 2-bit codes at
    60 MHz) is below the DDR4 bank's 19.2 GB/s, so the adders set the pace."""
    r = run()
    gemms = r.per_op[r.per_op["kind"] == "gemm"]
    assert r.summary["energy_dsp_j"] == 0
    assert gemms["stall_cycles"].sum() == 0
    assert gemms["latency_s"].sum() / r.summary["latency_s"] > 0.9
