"""`Result`: what one simulation returns -- a per-op table, a summary dict and (on request) an event trace
-- and how it is built from the engine's `Timeline` and the PPA accounting.

Per-op columns (one row per op, topological order)
--------------------------------------------------
``name, kind, unit, start_s, end_s, latency_s`` (end - start), ``cycles`` (latency at the clock;
never below the cost model's), ``compute_cycles``, ``stall_cycles`` (cycles - compute: the cost
model's stalls plus waiting for the op's DMA), ``dma_start_s, dma_end_s`` (NaN without off-chip
traffic), ``flops, macs``, ``bytes_<tier>`` per memory tier (reads + writes), ``utilization`` (the cost
model's, scaled down by any DMA wait), ``energy_<component>_j`` for `sim.ppa.ENERGY_COMPONENTS` and
``energy_j`` (their sum), and ``tag_<name>`` per op tag.  Leakage is shared out over ops by busy time
so that the column sums to the summary's leakage energy.

Summary keys (unit-suffixed)
----------------------------
``latency_s, cycles, throughput`` (inferences per second; ``graph.meta["batch"]`` inferences per run,
default 1), ``tokens_per_s`` (when ``graph.meta["tokens"]`` is given), ``energy_j`` and
``energy_<component>_j``, ``power_w`` (energy / latency), ``leakage_w``, ``area_mm2`` and
``area_<part>_mm2``, ``utilization`` (MACs done / (peak MACs per cycle of the units that ran MAC ops x
cycles); over FLOPs of all ops when no op has MACs), ``flops, macs, ops``, ``<tier>_bytes`` per
tier, ``<unit>_busy_s`` per unit, ``peak_flops_per_s`` and ``offchip_bytes_per_s`` (for rooflines),
``workload, accelerator, clock_hz`` and ``notes`` (a list of caveats, e.g. units without area).
"""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path
from typing import Any

import pandas as pd

from sim.ppa import ENERGY_COMPONENTS, area_cached, leakage_w


@dataclasses.dataclass
class Result:
    """One simulation: ``per_op`` (DataFrame), ``summary`` (dict), ``trace`` (list of event dicts)."""

    per_op: pd.DataFrame
    summary: dict[str, Any]
    trace: list[dict[str, Any]] = dataclasses.field(default_factory=list)

    # ---- files (only where the caller says) ------------------------------------------------------
    def _payload(self) -> dict[str, Any]:
        df = self.per_op
        return {
            "summary": self.summary,
            "per_op": {"columns": list(df.columns), "dtypes": {c: str(t) for c, t in df.dtypes.items()},
                       "data": {c: [_plain(v) for v in df[c].tolist()] for c in df.columns}},
            "trace": self.trace,
        }

    def to_json(self, path: str | Path) -> Path:
        """Write summary, per-op table and trace to one JSON file; returns its path."""
        p = Path(path)
        p.write_text(json.dumps(self._payload(), indent=1, default=_plain))
        return p

    @classmethod
    def from_json(cls, path: str | Path) -> Result:
        data = json.loads(Path(path).read_text())
        return cls(_frame(data["per_op"]), data["summary"], data.get("trace", []))

    def to_parquet(self, directory: str | Path) -> dict[str, Path]:
        """Write ``per_op.parquet``, ``summary.json`` and ``trace.json`` into `directory` (created)."""
        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        paths = {"per_op": d / "per_op.parquet", "summary": d / "summary.json", "trace": d / "trace.json"}
        self.per_op.to_parquet(paths["per_op"], index=False)
        paths["summary"].write_text(json.dumps(self.summary, indent=1, default=_plain))
        paths["trace"].write_text(json.dumps(self.trace, default=_plain))
        return paths

    @classmethod
    def from_parquet(cls, directory: str | Path) -> Result:
        d = Path(directory)
        trace = json.loads((d / "trace.json").read_text()) if (d / "trace.json").exists() else []
        return cls(pd.read_parquet(d / "per_op.parquet"), json.loads((d / "summary.json").read_text()), trace)


def _plain(v: Any) -> Any:
    """JSON-safe scalar: numpy scalars to Python, NaN to None."""
    if hasattr(v, "item") and not isinstance(v, (list, dict, str)):
        v = v.item()
    if isinstance(v, float) and math.isnan(v):
        return None
    return v


def _frame(split: dict[str, Any]) -> pd.DataFrame:
    df = pd.DataFrame({c: split["data"][c] for c in split["columns"]}, columns=split["columns"])
    for c, t in split["dtypes"].items():
        if t in ("object", "str", "string") or t.startswith("string"):
            continue
        df[c] = df[c].astype("float64" if df[c].isna().any() and t.startswith("int") else t)
    return df


def build(graph: Any, accelerator: Any, timeline: Any, key: Any, *, trace: bool = False) -> Result:
    """Assemble a `Result` from the engine's `Timeline` (costs already priced by `sim.ppa`)."""
    clock = timeline.clock_hz
    recs = timeline.records
    latency = timeline.latency_s
    area_items, notes = area_cached(key)
    area = dict(area_items)
    p_leak = leakage_w(accelerator, area["total_mm2"])

    tiers = [m.name for m in accelerator.memory]
    for r in recs:
        for t in r.cost.tier_bytes:
            if t not in tiers:
                tiers.append(t)
    extra_components = sorted({k for r in recs for k in r.cost.energy_pj} - set(ENERGY_COMPONENTS))
    components = [*ENERGY_COMPONENTS, *extra_components]
    tag_names = list(dict.fromkeys(k for r in recs for k in r.op.tags))

    cols: dict[str, list[Any]] = {k: [] for k in (
        "name", "kind", "unit", "start_s", "end_s", "latency_s", "cycles", "compute_cycles", "stall_cycles",
        "dma_start_s", "dma_end_s", "flops", "macs")}
    for t in tiers:
        cols[f"bytes_{t}"] = []
    cols["utilization"] = []
    for k in components:
        cols[f"energy_{k}_j"] = []
    for k in tag_names:
        cols[f"tag_{k}"] = []

    busy_total = sum(r.end_s - r.start_s for r in recs)
    leak_total_j = p_leak * latency
    nan = float("nan")
    for r in recs:
        op, c = r.op, r.cost
        dur = r.end_s - r.start_s
        cycles = max(c.cycles, round(dur * clock))
        cols["name"].append(op.name)
        cols["kind"].append(op.kind.value)
        cols["unit"].append(r.unit)
        cols["start_s"].append(r.start_s)
        cols["end_s"].append(r.end_s)
        cols["latency_s"].append(dur)
        cols["cycles"].append(cycles)
        cols["compute_cycles"].append(c.compute_cycles)
        cols["stall_cycles"].append(cycles - c.compute_cycles)
        cols["dma_start_s"].append(nan if r.dma_start_s is None else r.dma_start_s)
        cols["dma_end_s"].append(nan if r.dma_end_s is None else r.dma_end_s)
        cols["flops"].append(op.flops)
        cols["macs"].append(op.macs)
        for t in tiers:
            cols[f"bytes_{t}"].append(float(c.tier_bytes.get(t, 0.0)))
        cols["utilization"].append(c.utilization * c.cycles / cycles if cycles else 0.0)
        for k in components:
            if k == "leakage":
                v = leak_total_j * dur / busy_total if busy_total else 0.0
            else:
                v = c.energy_pj.get(k, 0.0) * 1e-12
            cols[f"energy_{k}_j"].append(v)
        for k in tag_names:
            cols[f"tag_{k}"].append(op.tags.get(k))
    per_op = pd.DataFrame(cols)
    ecols = [f"energy_{k}_j" for k in components]
    per_op.insert(per_op.columns.get_loc(ecols[-1]) + 1, "energy_j", per_op[ecols].sum(axis=1))

    summary = _summary(graph, accelerator, timeline, per_op, components, tiers, area, list(notes), p_leak)
    events = [{"op": n, "unit": u, "start_s": s, "end_s": e, "kind": k} for n, u, s, e, k in timeline.trace] \
        if trace else []
    return Result(per_op, summary, events)


def _summary(graph, accelerator, timeline, per_op, components, tiers, area, notes, p_leak) -> dict[str, Any]:
    clock = timeline.clock_hz
    latency = timeline.latency_s
    cycles = round(latency * clock)
    meta = getattr(graph, "meta", {}) or {}
    energy = {f"energy_{k}_j": float(per_op[f"energy_{k}_j"].sum()) for k in components}
    energy_j = float(sum(energy.values()))
    s: dict[str, Any] = {
        "workload": getattr(graph, "name", None),
        "accelerator": accelerator.name,
        "ops": len(per_op),
        "latency_s": latency,
        "cycles": cycles,
        "clock_hz": clock,
        "throughput": (meta.get("batch", 1) / latency) if latency else 0.0,
    }
    if meta.get("tokens"):
        s["tokens_per_s"] = meta["tokens"] / latency if latency else 0.0
    s["energy_j"] = energy_j
    s.update(energy)
    s["power_w"] = energy_j / latency if latency else 0.0
    s["leakage_w"] = p_leak
    s["area_mm2"] = area["total_mm2"]
    s.update({f"area_{k}": v for k, v in area.items() if k != "total_mm2"})
    s["utilization"] = _utilization(per_op, cycles)
    s["flops"] = int(per_op["flops"].sum())
    s["macs"] = int(per_op["macs"].sum())
    for t in tiers:
        s[f"{t}_bytes"] = float(per_op[f"bytes_{t}"].sum())
    busy = per_op.groupby("unit", sort=False)["latency_s"].sum()
    for u in accelerator.units:
        s[f"{u.name}_busy_s"] = float(busy.get(u.name, 0.0))
    s["peak_flops_per_s"] = _peak_flops(per_op) * clock
    s["offchip_bytes_per_s"] = float(sum(m.bytes_per_s(clock) for m in accelerator.off_chip))
    s["offchip_tiers"] = [m.name for m in accelerator.off_chip]
    s["notes"] = notes
    return s


def _utilization(per_op: pd.DataFrame, cycles: int) -> float:
    """Achieved / peak work rate over the run, for the units that did the work (module docstring)."""
    if not cycles or per_op.empty:
        return 0.0
    work = per_op[per_op["macs"] > 0]
    if work.empty:
        work = per_op[per_op["flops"] > 0]
    if work.empty:
        return 0.0
    units = work["unit"].nunique()
    return float((work["utilization"] * work["cycles"]).sum() / (units * cycles))


def _peak_flops(per_op: pd.DataFrame) -> float:
    """Peak FLOPs per cycle summed over units, recovered from each op's FLOPs / (utilization x cycles)."""
    df = per_op[(per_op["utilization"] > 0) & (per_op["flops"] > 0)]
    if df.empty:
        return 0.0
    peak = df["flops"] / (df["utilization"] * df["cycles"])
    return float(peak.groupby(df["unit"]).max().sum())
