"""Purpose: the GPU and FPGA result passes (`sim.gpu.price`, `sim.fpga.price`, `sim.ppa.reprice`) work on the
plain per-op columns (`Result.column` / `Result.with_energies`) and give the figures the DataFrame version gave;
the total area is one rule (`sim.ppa.area_total`, the sum of the ``area_<part>_mm2`` keys) whatever order the
GPU and PIM passes run in.

The reference below is the DataFrame implementation these passes had before (pandas ``groupby`` busy times,
``df.loc`` energy swap, ``Series.sum`` totals, the GPU die area as ``die + pe + vector + overhead``), kept here so
that the column path is checked against it on every GPU, duplex, DGX and FPGA preset (1e-12 relative)."""

from __future__ import annotations

import math

import pytest

import arch
import sim
import workloads
from sim import engine, fpga, gpu, pim
from sim.cost import prepare
from sim.ppa import ENERGY_COMPONENTS, area_parts, area_total, priced_cost
from sim.result import Result, build

REL = 1e-12


# ---- the DataFrame reference (the passes as they were before they moved to plain columns) ------------------
def _ref_reprice(result, rows, parts, *, static_w, note):
    df = result.per_op.copy()
    for col in [c for c in df.columns if c.startswith("energy_") and c != "energy_j"]:
        df.loc[rows, col] = 0.0
    for comp, values in parts.items():
        col = f"energy_{comp}_j"
        if col not in df.columns:
            df[col] = 0.0
        df.loc[rows, col] = [v for v, r in zip(values, rows) if r]
    ecols = [c for c in df.columns if c.startswith("energy_") and c != "energy_j"]
    df = df[[c for c in df.columns if c != "energy_j"]]
    df.insert(df.columns.get_loc(ecols[-1]) + 1, "energy_j", df[ecols].sum(axis=1))
    s = {k: v for k, v in result.summary.items() if not k.startswith("energy_")}
    s["energy_j"] = float(df["energy_j"].sum())
    s.update({c: float(df[c].sum()) for c in ecols})
    lat = s.get("latency_s") or 0.0
    s["power_w"] = s["energy_j"] / lat if lat else 0.0
    s["leakage_w"] = static_w + (s.get("energy_leakage_j", 0.0) / lat if lat else 0.0)
    s["notes"] = [*[n for n in s.get("notes", []) if n != note], note]
    return Result(df, s, result.trace)


def _ref_gpu(result, graph, acc):
    gpus = [u for u in acc.units if u.type == "gpu"]
    s = dict(result.summary)
    s["notes"] = [n for n in s.get("notes", []) if not any(n.startswith(f"area of unit {u.name!r}") for u in gpus)]
    dies = sum(u.die_mm2 * u.count for u in gpus if u.die_mm2 is not None)
    if dies:
        rest = s.get("area_pe_mm2", 0.0) + s.get("area_vector_mm2", 0.0)
        s.update(area_sram_mm2=0.0, area_overhead_mm2=rest * acc.area_overhead_fraction, area_die_mm2=dies)
        s["area_mm2"] = dies + rest + s["area_overhead_mm2"]
    df = result.per_op
    priced = {u.name for u in gpus if u.tdp_w is not None}
    rows = df["unit"].isin(priced)
    key = engine.accelerator_key(acc)
    busy = df.groupby("unit", sort=False)["latency_s"].sum()
    parts = {k: [] for k in gpu.GPU_ENERGY}
    for name, unit_name, dur in zip(df["name"], df["unit"], df["latency_s"]):
        if unit_name not in priced:
            for k in gpu.GPU_ENERGY:
                parts[k].append(0.0)
            continue
        unit = acc.unit(unit_name)
        op = graph[name]
        joules = gpu.op_power_parts(op, engine.model_cost(engine.signature(op), unit_name, key), unit, acc, dur)
        parts["static"].append((unit.idle_w or 0.0) * unit.count * dur / float(busy[unit_name]) * s["latency_s"])
        for k, v in joules.items():
            parts[k].append(v)
    static = sum((acc.unit(u).idle_w or 0.0) * acc.unit(u).count for u in priced)
    return _ref_reprice(Result(df, s, result.trace), rows, parts, static_w=static, note=gpu.NOTE)


def _ref_fpga(result, graph, acc):
    df = result.per_op
    on = df["unit"].map(lambda u: acc.unit(u).type == "fpga" and acc.unit(u).power is not None).astype(bool)
    parts = fpga.energy_breakdown(graph, acc, result)
    static = sum(u.power.static_w for u in acc.units if u.type == "fpga" and u.power is not None)
    return _ref_reprice(result, on, parts, static_w=static, note=fpga.NOTE)


def _reference(graph, acc):
    """`sim.simulate` with the result passes done the DataFrame way (the per-op table made before the passes)."""
    graph = prepare(graph, acc)
    key = engine.accelerator_key(acc)
    timeline = engine.run(graph, acc, cost=lambda sig, unit: priced_cost(sig, unit, key))
    result = build(graph, acc, timeline, key)
    result.per_op  # noqa: B018 -- make the table: the reference works on the DataFrame
    for t in dict.fromkeys(u.type for u in acc.units):
        result = {"gpu": _ref_gpu, "fpga": _ref_fpga, "pim": pim.price}.get(t, lambda r, g, a: r)(result, graph, acc)
    return result


def _close(a, b) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return a == b or (math.isnan(a) and math.isnan(b)) or abs(a - b) <= REL * max(abs(a), abs(b))
    return a == b


CASES = [
    ("h100", "llama2-7b", {"phase": "decode", "batch": 4, "kv_len": 128}),
    ("gpu-a100", "bert-base", {}),
    ("dgx-h100", "llama2-7b", {"phase": "decode", "batch": 4, "kv_len": 128}),
    ("dgx-a100", "bert-base", {}),
    ("duplex-gpu-only", "mixtral-8x7b", {"phase": "decode", "batch": 4, "kv_len": 128}),
    ("duplex", "mixtral-8x7b", {"phase": "decode", "batch": 4, "kv_len": 128}),
    ("alveo-u280", "bert-base", {}),
    ("m3vit-zcu104", "m3vit", {}),
    ("matmulfree-fpga", "matmulfree-1.3b", {"phase": "decode", "batch": 1, "kv_len": 64}),
]


@pytest.mark.parametrize("preset, workload, kw", CASES, ids=[f"{p}-{w}" for p, w, _ in CASES])
def test_column_passes_give_the_dataframe_figures(preset, workload, kw):
    acc = arch.load(preset)
    graph = workloads.load(workload, **kw)
    got = sim.simulate(graph, acc)
    ref = _reference(graph, acc)
    new_keys = {f"{t}_static_w" for t in ("gpu", "fpga")}  # the static power each pass charged (reprice)
    assert set(got.summary) - new_keys == set(ref.summary)
    bad = {k: (got.summary[k], v) for k, v in ref.summary.items() if not _close(got.summary[k], v)}
    assert not bad
    assert math.isclose(got.summary["leakage_w"], ref.summary["leakage_w"], rel_tol=REL)
    assert got._per_op is None  # the passes never made the table
    df = got.per_op
    for col in [c for c in ref.per_op.columns if c.startswith("energy_")]:
        assert df[col].tolist() == pytest.approx(ref.per_op[col].tolist(), rel=REL, abs=0.0), col
    # the energy columns stay together, before the tags (the reference appended new ones after the tags)
    cols = list(df.columns)
    energy = [i for i, c in enumerate(cols) if c.startswith("energy_")]
    assert energy == list(range(energy[0], energy[-1] + 1)) and cols[energy[-1]] == "energy_j"


def test_with_energies_on_columns_and_on_a_made_table_agree():
    acc = arch.load("h100")
    g = workloads.load("llama2-7b", phase="decode", batch=2, kv_len=64, num_hidden_layers=1)
    r = sim.simulate(g, acc)
    n = len(r.column("name"))
    new = {"energy_mac_j": [1e-6] * n, "energy_extra_j": [float(i) * 1e-9 for i in range(n)]}
    lazy = r.with_energies(new)
    made = Result(r.per_op, r.summary, r.trace).with_energies(new)
    assert lazy._per_op is None and made._per_op is not None
    for k in ("energy_j", "energy_mac_j", "energy_extra_j", "power_w"):
        assert math.isclose(lazy.summary[k], made.summary[k], rel_tol=REL)
    assert lazy.summary["energy_extra_j"] == pytest.approx(sum(new["energy_extra_j"]), rel=REL)
    assert list(lazy.per_op.columns) == list(made.per_op.columns)
    assert lazy.per_op["energy_j"].tolist() == pytest.approx(made.per_op["energy_j"].tolist(), rel=REL)
    with pytest.raises(ValueError, match="energy_j.*not energy component"):
        r.with_energies({"energy_j": [0.0] * n})
    with pytest.raises(ValueError, match="'energy_x_j' has 1 values; the table has"):
        r.with_energies({"energy_x_j": [0.0]})


# ---- total area: one rule, any pass order -------------------------------------------------------------------
def _reversed_units(acc):
    return acc.model_copy(update={"units": list(reversed(acc.units))})


def test_duplex_area_is_the_sum_of_its_parts_in_either_unit_order():
    acc = arch.load("duplex")
    assert [u.type for u in acc.units] == ["gpu", "pim"]
    rev = _reversed_units(acc)
    g = workloads.load("llama2-7b", phase="decode", batch=4, kv_len=128, num_hidden_layers=1)
    a, b = sim.simulate(g, acc).summary, sim.simulate(g, rev).summary
    gpu_unit = acc.units_of("gpu")[0]
    for s in (a, b):
        assert s["area_mm2"] == area_total(s)
        assert s["area_die_mm2"] == gpu_unit.die_mm2 and s["area_sram_mm2"] == 0.0
        assert s["area_mm2"] == pytest.approx(gpu_unit.die_mm2 + s["area_pim_mm2"] + s["area_overhead_mm2"]
                                              + s["area_pe_mm2"] + s["area_vector_mm2"], rel=REL)
        assert s["area_pim_mm2"] > 0 and "area_pim_per_stack_mm2" not in area_parts(s)
    # every figure, not just area, is the same whichever pass runs first (the PIM's static power included)
    assert set(a) == set(b)
    assert not {k: (a[k], b[k]) for k in a if not _close(a[k], b[k])}
    assert a["leakage_w"] == pytest.approx(a["gpu_static_w"] + a["pim_static_w"] + a["energy_leakage_j"]
                                           / a["latency_s"], rel=REL)


def test_pim_area_survives_a_gpu_pass_that_runs_after_it():
    """The order that used to lose the PIM's area: a preset whose PIM unit is listed before its GPU."""
    rev = _reversed_units(arch.load("duplex"))
    assert [u.type for u in rev.units] == ["pim", "gpu"]
    r = sim.simulate(workloads.gemm(64, 64, 64, dtype="fp16"), rev)
    s = r.summary
    assert s["area_mm2"] > s["area_die_mm2"] + 0.5 * s["area_pim_mm2"] > s["area_die_mm2"]
    assert s["energy_pim_static_j"] == pytest.approx(s["pim_static_w"] * s["latency_s"], rel=1e-9)


def test_area_total_skips_the_per_stack_figure():
    s = {"area_mm2": 99.0, "area_pe_mm2": 1.0, "area_die_mm2": 2.5, "area_pim_mm2": 0.5,
         "area_pim_per_stack_mm2": 0.1, "area_pim_dram_overhead_pct": 3.0, "energy_j": 7.0}
    assert area_parts(s) == ["area_pe_mm2", "area_die_mm2", "area_pim_mm2"]
    assert area_total(s) == 4.0


def test_reprice_keeps_other_passes_columns_and_is_idempotent():
    acc = arch.load("h100")
    g = workloads.load("llama2-7b", phase="decode", batch=2, kv_len=64, num_hidden_layers=1)
    r = sim.simulate(g, acc)
    n = len(r.column("name"))
    marked = r.with_energy("pim_static", [1e-3] * n)
    again = gpu.price(marked, g, acc)
    assert again.column("energy_pim_static_j") == [1e-3] * n  # another pass's whole-run charge is kept
    assert again.summary["energy_j"] == pytest.approx(r.summary["energy_j"] + n * 1e-3, rel=REL)
    twice = gpu.price(again, g, acc)
    assert twice.summary["energy_j"] == pytest.approx(again.summary["energy_j"], rel=REL)
    assert twice.summary["leakage_w"] == pytest.approx(again.summary["leakage_w"], rel=REL)
    assert all(twice.column(f"energy_{c}_j") == again.column(f"energy_{c}_j") for c in ENERGY_COMPONENTS)
