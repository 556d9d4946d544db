"""Validation: the MatMul-free LM on an FPGA, measured vs published (Zhu et al., "Scalable MatMul-free
Language Modeling", arXiv 2406.02528).

Published figures (the only numbers used; the 1.3B ones never fed into the model)
----------------------------------------------------------------------------------
- "We processed billion-parameter scale models at 13W beyond human readable throughput"   (abstract)
- Sec. 5.2 "The single core implementation" (v1-v5), quoted verbatim in the authors' repository's public issue
  github.com/ridgerchu/matmulfreellm/issues/36: the 370M model has "a projected runtime" of 16.08 ms per token
  (~62 tokens/s) and the 1.3B model 42 ms (23.8 tokens/s).  Stored with their provenance in
  `data/fpga/matmulfree_published.csv` (`data/fpga/README.md`: the quote's "d = 512" for 370M is not the released
  model's width, 1024; the issue also reports the paper's Table 3 listing 43 ms for both, unanswered).
- total board power 13.67 W (FPGA results table, as we recall it; printed as info, the test compares the
  abstract's 13 W)

Calibration and validation
--------------------------
The core's width could not be read, so the ternary engine's lane count of preset `matmulfree-fpga` is a named
calibration parameter, fitted by ``python scripts/fit_matmulfree.py --write`` on the 370M row only (multiples of
the 64-input adder tree; least squared log error): 384 lanes, 370M modelled at 60.5 tokens/s vs 62 (-2.4%).
The 1.3B row, the issue's acceptance ("billion-parameter model at about 13 W"), is held out: this test compares
it within +-30% (issue 9).  The model's scaling from 370M to 1.3B is 3.6x in time (ternary weights 3.6x) where
the paper projects 2.6x, so the held-out 1.3B lands near the tolerance's edge (printed).

What was read, and what was assumed
-----------------------------------
Read: the abstract of arXiv 2406.02528v5 (the "13W" sentence; v6's abstract drops the FPGA and reports a
multi-chip neuromorphic system instead, so the FPGA figures are v1-v5's) and the quote above.  The FPGA
section itself is not reachable with the search tool (pages corpus: the v5/v6 HTML pages and an
extracted-text copy return only their opening; code corpus: ridgerchu/matmulfreellm holds no FPGA material).
Recalled, not re-read: an Intel FPGA PAC D5005 (Stratix 10) in the Intel DevCloud, a 60 MHz SystemVerilog core
with a ternary matrix unit and row-wise/RMSNorm units fed by a DMA.  Assumed, each chosen before comparing
(preset `matmulfree-fpga`):

- The ternary engine: add/subtract/skip of int8 activations in 64-input adder trees, weights (2-bit codes)
  streamed from one DDR4-2400 bank every token; its width fitted as above.
- An 8-lane vector engine for RMSNorm, the MLGRU recurrence, gates and residuals.
- Power: static 6 W for the 1SX280 and 3 W of other board power (DDR4 banks, management, regulators) are
  assumptions, not measurements; they are most of the modelled total, so the power check tests them more
  than the dynamic model.  Dynamic power: `sim.fpga` (tech tables x the Kuon & Rose FPGA/ASIC gap).
- Workloads: the zoo's `matmulfree-370m` (374M parameters) and `matmulfree-1.3b` (1.36B), ternary BitLinear
  layers including the LM head, decode of one token at batch 1 (the recurrent state makes the context length
  irrelevant).
Tolerance +-30% (issue 9).
"""

from __future__ import annotations

import functools
import importlib.util
import sys
from pathlib import Path

import pytest

import arch
from sim import fpga, simulate
from workloads import zoo
from tests.validation.side_by_side import write_lines

ROOT = Path(__file__).resolve().parents[2]
PUBLISHED = {
    "power_w": (13.0, "arXiv 2406.02528 abstract: billion-parameter scale models at 13 W"),
    "board_w": (13.67, "arXiv 2406.02528 FPGA results table (recalled): total board power 13.67 W"),
}
TOLERANCE = 0.30
_ROWS: list[tuple[str, str, str, str]] = []


def _fit_script():
    spec = importlib.util.spec_from_file_location("fit_matmulfree", ROOT / "scripts" / "fit_matmulfree.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules["fit_matmulfree"] = mod
    spec.loader.exec_module(mod)
    return mod


FIT = _fit_script()
ROWS = {r["role"]: r for r in FIT.load_rows()}  # one fit row (370M), one held-out row (1.3B)


@functools.cache
def run(lanes: int | None = None, model: str = "matmulfree-1.3b"):
    overrides = {"units.fpga.engines.ternary.lanes": lanes} if lanes else None
    acc = arch.load("matmulfree-fpga", overrides=overrides)
    g = zoo.load(model, phase="decode", batch=1)
    return simulate(g, acc)  # FPGA energy: sim.fpga's power model, applied by simulate


@pytest.fixture(scope="module", autouse=True)
def side_by_side(request):
    yield
    if not _ROWS:
        return
    lines = ["", "MatMul-free LM on an FPGA (arXiv 2406.02528; runtimes quoted in ridgerchu/matmulfreellm#36)",
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


def test_preset_holds_the_fit_on_the_370m_projection():
    """The preset's lane count is what scripts/fit_matmulfree.py fits on the `fit` row (rerun it with --write
    after changing the FPGA model); the fit row lands within 5%."""
    best, table = FIT.fit()
    assert FIT.preset_lanes() == best
    assert [lanes for lanes, _ in table] == sorted(lanes for lanes, _ in table) and len(table) > 8
    fit_row = ROWS["fit"]
    tps = run(model=fit_row["zoo"]).summary["tokens_per_s"]
    _ROWS.append((f"throughput, {fit_row['model']} decode (tokens/s) [fit]", f"{fit_row['tokens_per_s']:.1f}",
                  f"{tps:.2f}", f"fitted: {best} lanes"))
    assert tps == pytest.approx(fit_row["tokens_per_s"], rel=0.05)


def test_throughput_of_the_held_out_1_3b_projection():
    row = ROWS["validate"]
    s = run(model=row["zoo"]).summary
    published = row["tokens_per_s"]
    err = s["tokens_per_s"] / published - 1
    ok = abs(err) <= TOLERANCE
    _ROWS.append((f"throughput, {row['model']} decode (tokens/s) [held out]", f"{published:.1f}",
                  f"{s['tokens_per_s']:.2f}", f"{'ok' if ok else 'MISS'} ({err:+.1%})"))
    small = run(model=ROWS["fit"]["zoo"]).summary["latency_s"]
    _ROWS.append(("  time per token 1.3B / 370M", f"{row['projected_ms_per_token'] / ROWS['fit']['projected_ms_per_token']:.2f}",
                  f"{s['latency_s'] / small:.2f}", "info"))
    for lanes in (512, 1024):
        tps = run(lanes).summary["tokens_per_s"]
        _ROWS.append((f"  same core with {lanes} adder lanes (sensitivity)", "", f"{tps:.2f}", "info"))
    assert ok, f"throughput {s['tokens_per_s']:.2f} tokens/s vs published {published} ({err:+.1%})"


def test_the_ternary_layers_run_on_adders_and_are_compute_bound():
    """The BitLinear GEMMs take no DSPs and no stall: the weight stream (5.76 GB/s of 2-bit codes at
    60 MHz) is below the DDR4 bank's 19.2 GB/s, so the adders set the pace."""
    r = run()
    gemms = r.per_op[r.per_op["kind"] == "gemm"]
    assert r.summary["energy_dsp_j"] == 0
    assert gemms["stall_cycles"].sum() == 0
    assert gemms["latency_s"].sum() / r.summary["latency_s"] > 0.9
