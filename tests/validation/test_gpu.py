"""Purpose: `sim.gpu` on the H100 preset against kernel times measured on a real H100 SXM5
(`data/gpu/gpu_h100.csv`, provenance in `data/gpu/README.md`), on the rows `scripts/fit_gpu.py` did
*not* fit (the held-out half of a shape-hash split).

Acceptance (issue 10): per op family, on held-out shapes that ran at least 20 us, the median absolute
relative error is at most 10 % and the 90th percentile at most 25 %.  Predictions go through the public
entry point's cost model, checked to agree with ``sim.simulate(op, arch.load("h100")).summary["latency_s"]``
(an SDPA row is its score and context halves, which together are one fused kernel).  A table per family
(and softmax's rows by the torch kernel that ran them: data/gpu/gpu_h100_softmax.kernels.json) is printed
at the end of the module, with the modelled Llama-2-7B decode layer (batch 16, KV 2048) next
to the measured one, and the power model (`sim.gpu`, "Power and area": TDP 700 W from the H100 SXM5
datasheet, idle 75 W assumed) next to nvidia-smi's samples of the measuring run (`data/gpu/gpu_h100.json`:
max 706 W, median 417 W; no per-kernel power was measured), +-30% (no tolerance given for power).
"""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import arch
import sim
import workloads
from sim import gpu
from tests.validation.side_by_side import write_lines

ROOT = Path(__file__).resolve().parents[2]
MEDIAN_TOL, P90_TOL = 0.10, 0.25


def _fit_module():
    spec = importlib.util.spec_from_file_location("fit_gpu", ROOT / "scripts" / "fit_gpu.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


FIT = _fit_module()
H100 = arch.load("h100")
_REPORT: list[str] = []


def _latency(ops) -> float:
    return sum(sim.simulate(op, H100).summary["latency_s"] for op in ops)


@pytest.fixture(scope="module")
def held_out() -> pd.DataFrame:
    """Held-out rows with ``pred_s``: `sim.gpu.kernel_time_s` summed over the row's ops (the cost model
    `simulate` calls; `test_simulate_agrees_with_the_fitting_path` checks that the two agree)."""
    df = FIT.load(FIT.DATA)
    df = df[df["family"].isin(FIT.FAMILIES)]
    test = df[[FIT.half(r) == "test" for _, r in df.iterrows()]].copy()
    unit = H100.units_of("gpu")[0]
    hbm, l2 = gpu.bandwidths(H100)
    test["pred_s"] = [sum(gpu.kernel_time_s(op, unit, hbm, l2) for op in FIT.row_ops(r)) for _, r in test.iterrows()]
    return test


@pytest.fixture(scope="module")
def table(held_out) -> pd.DataFrame:
    return FIT.error_table(held_out)


@pytest.fixture(scope="module", autouse=True)
def report(request):
    """Print the error table and the layer comparison once the module's tests have run."""
    yield
    if not _REPORT:
        return
    write_lines(request.config, _REPORT)


def test_split_is_half_and_disjoint():
    df = FIT.load(FIT.DATA)
    df = df[df["family"].isin(FIT.FAMILIES)]
    halves = [FIT.half(r) for _, r in df.iterrows()]
    keys = [FIT.shape_key(r) for _, r in df.iterrows()]
    train = {k for k, h in zip(keys, halves) if h == "train"}
    test = {k for k, h in zip(keys, halves) if h == "test"}
    assert not train & test
    assert 0.4 < len(test) / len(df) < 0.6


def test_simulate_agrees_with_the_fitting_path(held_out):
    """``simulate(op, h100).summary["latency_s"]``, summed over a row's ops, gives the same seconds as the
    direct cost-model call (to a cycle per op), on five held-out rows of every family."""
    sample = held_out.groupby("family", sort=False).head(5)
    for _, r in sample.iterrows():
        ops = FIT.row_ops(r)
        assert _latency(ops) == pytest.approx(r["pred_s"], rel=1e-9, abs=len(ops) / H100.tech.clock_hz)


#: families measured beyond the issue's list (GEMM, element-wise, norms, SDPA) that miss the tolerance, and why.
#: Softmax missed (held-out median 16.2%, p90 28.9%) until the second measuring run (a sweep of 18 row widths,
#: data/gpu/README.md) and `sim.gpu.softmax_time` (torch 2.11's four row kernels, occupancy from their
#: registers, waves over the SMs, per-CTA reduction cost, L2 overflow of the multi-pass kernel).
KNOWN_MISSES: dict[str, str] = {}


def test_error_table(table):
    """Print the held-out table (every family, pass or not); every family has enough rows to judge."""
    fmt = {"median_abs_err": "{:.1%}", "p90_abs_err": "{:.1%}", "max_abs_err": "{:.1%}", "median_err": "{:+.1%}"}
    shown = table.assign(**{c: table[c].map(f.format) for c, f in fmt.items()})
    shown["pass"] = np.where((table["median_abs_err"] <= MEDIAN_TOL) & (table["p90_abs_err"] <= P90_TOL), "yes", "NO")
    prov = FIT.provenance(FIT.DATA)
    _REPORT.extend(["", f"sim.gpu vs {prov.get('gpu')} (driver {prov.get('driver')}, CUDA {prov.get('cuda')}, "
                        f"torch {prov.get('torch')}): held-out rows >= 20 us "
                        f"(tolerance: median <= {MEDIAN_TOL:.0%}, p90 <= {P90_TOL:.0%})",
                    *shown.to_string(index=False).splitlines()])
    assert list(table["family"]) == FIT.FAMILIES
    assert (table["n"] >= 5).all(), "too few held-out rows per family to judge"


def test_softmax_by_torch_kernel(held_out):
    """Softmax's held-out rows (>= 20 us) by the torch kernel `sim.gpu.softmax_kernel` says runs them (warp,
    register, shared-memory, multi-pass): printed, and every kernel has held-out rows of its own to judge."""
    d = held_out[(held_out["family"] == "softmax") & (held_out["time_s"] >= FIT.MIN_TIME_S)]
    path = [gpu.softmax_kernel(FIT.row_ops(r)[0]) for _, r in d.iterrows()]
    err = (d["pred_s"] / d["time_s"] - 1).abs().groupby(path)
    _REPORT.extend(["", "softmax held-out rows >= 20 us by torch kernel:",
                    *[f"  {k:5s} n {len(e):3d}  median {e.median():5.1%}  p90 {e.quantile(0.9):5.1%}  max {e.max():5.1%}"
                      for k, e in err]])
    assert {k: len(e) for k, e in err}.keys() == {"warp", "reg", "smem", "gmem"}
    assert min(len(e) for _, e in err) >= 5


@pytest.mark.parametrize("family", [
    pytest.param(f, marks=pytest.mark.xfail(strict=True, reason=KNOWN_MISSES[f])) if f in KNOWN_MISSES else f
    for f in FIT.FAMILIES])
def test_held_out_error_within_tolerance(table, family):
    row = table.set_index("family").loc[family]
    assert row["median_abs_err"] <= MEDIAN_TOL and row["p90_abs_err"] <= P90_TOL, (
        f"{family}: median |error| {row['median_abs_err']:.1%} (<= {MEDIAN_TOL:.0%}), "
        f"p90 {row['p90_abs_err']:.1%} (<= {P90_TOL:.0%}) over {int(row['n'])} held-out rows")


def test_llama2_decode_layer_next_to_the_measured_one():
    """`dse sim --arch h100 --workload llama2-7b --phase decode --batch 16` per layer vs the measured layer."""
    from typer.testing import CliRunner

    from dse.cli import app

    res = CliRunner().invoke(app, ["sim", "--arch", "h100", "--workload", "llama2-7b", "--phase", "decode",
                                   "--batch", "16", "--json"])
    assert res.exit_code == 0, res.output
    graph = workloads.load("llama2-7b", phase="decode", batch=16)
    per_op = sim.simulate(graph, H100).per_op
    layers = per_op[per_op["tag_block"].isin(["attn", "mlp"])]
    per_layer = layers.groupby("tag_layer")["latency_s"].sum()
    modelled = float(per_layer.median())
    measured = FIT.load(FIT.DATA).query("family == 'layer' and dtype == 'fp16'").set_index("mode")["time_s"]
    _REPORT.extend(["", "Llama-2-7B decoder layer, batch 16 decode, KV 2048, fp16:",
                    f"  coex h100 model (dse sim, per layer):  {modelled * 1e6:7.1f} us",
                    f"  measured, one CUDA graph:              {measured['graph'] * 1e6:7.1f} us "
                    f"({modelled / measured['graph'] - 1:+.1%})",
                    f"  measured, eager PyTorch:               {measured['eager'] * 1e6:7.1f} us "
                    "(bound by Python launch overhead, not the GPU)"])
    assert len(per_layer) == 32
    assert math.isclose(modelled, measured["graph"], rel_tol=0.25)


def _kernel_power(ops, unit) -> tuple[float, float]:
    """(joules, seconds) of one measured row's kernels under `sim.gpu`'s power model, from the cost model
    directly (`simulate` applies the same `op_power_parts` in its result pass; checked below)."""
    joules = seconds = 0.0
    for op in ops:
        c = gpu.cost(op, unit, H100)
        t = c.cycles / H100.tech.clock_hz
        joules += sum(gpu.op_power_parts(op, c, unit, H100, t).values()) + unit.idle_w * t
        seconds += t
    return joules, seconds


POWER_TOL = 0.30  # no tolerance in issue 10 for power; the FPGA power checks' +-30%


def test_board_power_next_to_the_measuring_run():
    """Power (no per-kernel power was measured; `data/gpu/gpu_h100.json` has nvidia-smi's 1 Hz samples of
    the whole measuring run): the model's largest kernel power against the run's largest sample (the
    700 W limit was reached), and the model's busy-time-weighted mean power over the same kernels (each
    case's timed GPU time = time_s x calls x repeats) against the run's median sample.  The samples also
    cover the gaps between cases (graph capture, host work) at lower power, so the mean is a loose check."""
    import json

    smi = json.loads((ROOT / "data" / "gpu" / "gpu_h100.json").read_text())["during_run"]
    unit = H100.units_of("gpu")[0]
    df = FIT.load(FIT.DATA)
    # the samples are the first run's: leave out the second run's softmax sweep (its own sidecar JSON)
    df = df[df["family"].isin(FIT.FAMILIES) & ~df["note"].astype(str).str.startswith("run 2")]
    power, weight = [], []
    for _, r in df.iterrows():
        j, t = _kernel_power(FIT.row_ops(r), unit)
        power.append(j / t)
        weight.append(r["time_s"] * r["calls"] * r["repeats"])
    power, weight = np.array(power), np.array(weight)
    mean = float((power * weight).sum() / weight.sum())
    for _, r in df[df["family"].isin(["gemm", "eltwise", "softmax"])].groupby("family").head(1).iterrows():
        (op,) = FIT.row_ops(r)  # simulate's result pass gives the same power as the direct path
        j, t = _kernel_power([op], unit)
        assert sim.simulate(op, H100).summary["power_w"] == pytest.approx(j / t, rel=1e-6)
    _REPORT.extend(["", f"H100 board power (model: TDP {unit.tdp_w:.0f} W, idle {unit.idle_w:.0f} W assumed) vs "
                        "nvidia-smi during the measuring run (1 Hz samples)",
                    f"  largest kernel power:      model {power.max():6.0f} W   measured max sample "
                    f"{smi['power_w_max']:6.0f} W ({power.max() / smi['power_w_max'] - 1:+.1%})",
                    f"  over the measured kernels: model busy-weighted mean {mean:6.0f} W   measured median sample "
                    f"{smi['power_w_median']:6.0f} W ({mean / smi['power_w_median'] - 1:+.1%})",
                    f"  model's idle-most kernel {power.min():.0f} W; kernels at the TDP cap: "
                    f"{int((power >= unit.tdp_w * 0.999).sum())} of {len(power)}"])
    assert power.max() <= unit.tdp_w * (1 + 1e-9) and power.min() >= unit.idle_w
    assert abs(power.max() / smi["power_w_max"] - 1) <= POWER_TOL
    assert abs(mean / smi["power_w_median"] - 1) <= POWER_TOL
