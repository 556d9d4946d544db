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
import functools
import json
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from sim.ppa import ENERGY_COMPONENTS, area_cached, leakage_w

if TYPE_CHECKING:  # pandas is imported when a table is made (a DSE point never makes one)
    import pandas as pd


class Result:
    """One simulation: ``per_op`` (DataFrame), ``summary`` (dict), ``trace`` (list of event dicts).

    ``Result(per_op, summary, trace)`` as before.  `build` hands over the per-op table as plain columns
    and the DataFrame is made on first access to ``per_op``: a caller that reads only the summary (a DSE
    point) never pays for it.  The table is the same either way."""

    def __init__(self, per_op: pd.DataFrame | None, summary: dict[str, Any],
                 trace: list[dict[str, Any]] | None = None, *, columns: _Columns | None = None):
        if per_op is None and columns is None:
            raise TypeError("Result needs a per_op DataFrame (or build()'s columns)")
        self._per_op = per_op
        self._columns = columns
        self.summary = summary
        self.trace = [] if trace is None else trace

    @property
    def per_op(self) -> pd.DataFrame:
        if self._per_op is None:
            self._per_op = self._columns.frame()  # type: ignore[union-attr]
            self._columns = None
        return self._per_op

    @per_op.setter
    def per_op(self, df: pd.DataFrame) -> None:
        self._per_op, self._columns = df, None

    def __repr__(self) -> str:
        rows = len(self._per_op) if self._per_op is not None else self._columns.rows  # type: ignore[union-attr]
        return (f"Result(per_op=<{rows} ops>, summary={{latency_s: {self.summary.get('latency_s')!r}, ...}}, "
                f"trace=<{len(self.trace)} events>)")

    def column(self, name: str) -> list[Any]:
        """One per-op column as a list, without making the DataFrame if it is not made yet."""
        if self._per_op is not None:
            return self._per_op[name].tolist()
        cols = self._columns.cols  # type: ignore[union-attr]
        if name == "energy_j" and name not in cols:  # the table's sum of the energy columns
            return self._columns.array_energy_j().tolist()  # type: ignore[union-attr]
        return list(cols[name])

    def with_energy(self, component: str, joules: list[float]) -> Result:
        """A copy with the per-op energy column ``energy_<component>_j`` set to `joules` (one value per op, in
        table order; an earlier column of that name is replaced, never added twice), ``energy_j`` per op and in
        the summary grown by the difference, and ``power_w`` recomputed.  On a table not yet made it works on
        the plain columns, so a result pass does not make the DataFrame for a caller that never reads it."""
        col = f"energy_{component}_j"
        summary = dict(self.summary)
        total = math.fsum(joules)
        summary["energy_j"] = summary.get("energy_j", 0.0) - float(summary.get(col, 0.0)) + total
        summary[col] = total
        lat = summary.get("latency_s") or 0.0
        summary["power_w"] = summary["energy_j"] / lat if lat else 0.0
        if self._per_op is None:
            cols, ecols = self._columns.cols, self._columns.energy_cols  # type: ignore[union-attr]
            if col in cols:
                new = {**cols, col: list(joules)}
            else:  # after the last energy column, where the table puts it
                new = {}
                for k, v in cols.items():
                    new[k] = v
                    if k == ecols[-1]:
                        new[col] = list(joules)
                ecols = [*ecols, col]
            return Result(None, summary, self.trace, columns=_Columns(new, ecols))
        import pandas as pd

        df = self.per_op.copy()
        values = pd.Series(joules, index=df.index, dtype="float64")
        if col in df.columns:
            df["energy_j"] -= df[col]
            df = df.drop(columns=col)
        df.insert(df.columns.get_loc("energy_j"), col, values)
        df["energy_j"] += values
        return Result(df, summary, self.trace)

    def with_summary(self, summary: dict[str, Any]) -> Result:
        """A copy with `summary` in place of this one's, sharing the per-op table (made or not: never makes it)."""
        return Result(self._per_op, summary, self.trace, columns=self._columns)

    def energy_columns(self) -> list[str]:
        """Names of the per-op energy component columns (``energy_<component>_j``, not ``energy_j``), in order."""
        if self._per_op is None:
            return list(self._columns.energy_cols)  # type: ignore[union-attr]
        return [c for c in self._per_op.columns if c.startswith("energy_") and c.endswith("_j") and c != "energy_j"]

    def with_energies(self, columns: dict[str, list[float]]) -> Result:
        """A copy with the per-op energy columns of `columns` (name ``energy_<component>_j`` -> joules per op, in
        table order) set: an existing column is replaced in place, a new one goes after the last energy column;
        ``energy_j`` per op is their row sum again, and the summary's ``energy_j``, every ``energy_<c>_j`` and
        ``power_w`` are the new columns' sums (as ``Series.sum`` gives them).  Like `with_energy`, it works on the
        plain columns when the table is not made yet (a result pass never makes the DataFrame)."""
        bad = [c for c in columns if not (c.startswith("energy_") and c.endswith("_j")) or c == "energy_j"]
        if bad:
            raise ValueError(f"with_energies: {bad} are not energy component columns (expected energy_<component>_j)")
        n = len(self.column("name"))
        for c, v in columns.items():
            if len(v) != n:
                raise ValueError(f"with_energies: column {c!r} has {len(v)} values; the table has {n} ops")
        summary = dict(self.summary)
        if self._per_op is None:
            cols, ecols = self._columns.cols, list(self._columns.energy_cols)  # type: ignore[union-attr]
            added = [c for c in columns if c not in cols]
            new: dict[str, list[Any]] = {}
            for k, v in cols.items():
                new[k] = list(columns[k]) if k in columns else v
                if k == ecols[-1]:
                    new.update({c: list(columns[c]) for c in added})
            table = _Columns(new, [*ecols, *added])
            for c in table.energy_cols:
                summary[c] = _fsum(np.asarray(table.cols[c], dtype="float64"))
            summary["energy_j"] = _fsum(table.array_energy_j())
            out = Result(None, summary, self.trace, columns=table)
        else:
            import pandas as pd

            df = self._per_op.copy()
            ecols = self.energy_columns()
            for c, v in columns.items():
                values = pd.Series(v, index=df.index, dtype="float64")
                if c in df.columns:
                    df[c] = values
                else:
                    df.insert(df.columns.get_loc(ecols[-1]) + 1, c, values)
                    ecols.append(c)
            df["energy_j"] = df[ecols].sum(axis=1)
            for c in ecols:
                summary[c] = float(df[c].sum())
            summary["energy_j"] = float(df["energy_j"].sum())
            out = Result(df, summary, self.trace)
        lat = summary.get("latency_s") or 0.0
        summary["power_w"] = summary["energy_j"] / lat if lat else 0.0
        return out

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
        import pandas as pd

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
    import pandas as pd

    df = pd.DataFrame({c: split["data"][c] for c in split["columns"]}, columns=split["columns"])
    for c, t in split["dtypes"].items():
        if t in ("object", "str", "string") or t.startswith("string"):
            continue
        df[c] = df[c].astype("float64" if df[c].isna().any() and t.startswith("int") else t)
    return df


@dataclasses.dataclass
class _Columns:
    """The per-op table as plain columns (lists, one entry per op); ``frame()`` makes the DataFrame."""

    cols: dict[str, list[Any]]
    energy_cols: list[str]

    @property
    def rows(self) -> int:
        return len(self.cols["name"])

    def frame(self) -> pd.DataFrame:
        import pandas as pd

        per_op = pd.DataFrame(self.cols)
        ecols = self.energy_cols
        per_op.insert(per_op.columns.get_loc(ecols[-1]) + 1, "energy_j", per_op[ecols].sum(axis=1))
        return per_op

    def array_energy_j(self) -> np.ndarray:
        """Per-op ``energy_j``: the energy columns summed per row, NaN skipped, as ``frame()`` makes it."""
        a = np.asarray([self.cols[c] for c in self.energy_cols], dtype="float64")
        return np.nansum(a, axis=0) if len(a) else np.zeros(self.rows)

    def array(self, name: str) -> np.ndarray:
        """One column as the array pandas would hold (same dtype inference, so the same sums)."""
        return np.asarray(self.cols[name])


@functools.lru_cache(maxsize=1 << 16)
def _op_row(op: Any) -> tuple[str, str, int, int, dict[str, Any]]:
    """An op's columns that no accelerator changes (memoised: a DSE simulates one graph many times)."""
    return op.name, op.kind.value, op.flops, op.macs, dict(op.tags)


def build(graph: Any, accelerator: Any, timeline: Any, key: Any, *, trace: bool = False) -> Result:
    """Assemble a `Result` from the engine's `Timeline` (costs already priced by `sim.ppa`).

    The summary is computed from the per-op columns directly; the DataFrame waits for ``per_op``."""
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
    rows = [_op_row(r.op) for r in recs]
    tag_names = list(dict.fromkeys(k for row in rows for k in row[4]))

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
    tier_cols = [(t, cols[f"bytes_{t}"]) for t in tiers]
    energy_cols = [(k, cols[f"energy_{k}_j"]) for k in components]
    tag_cols = [(k, cols[f"tag_{k}"]) for k in tag_names]
    (c_name, c_kind, c_unit, c_start, c_end, c_lat, c_cyc, c_comp, c_stall, c_dma0, c_dma1, c_flops,
     c_macs) = (cols[k] for k in ("name", "kind", "unit", "start_s", "end_s", "latency_s", "cycles",
                                  "compute_cycles", "stall_cycles", "dma_start_s", "dma_end_s", "flops", "macs"))
    c_util = cols["utilization"]
    for r, (name, kind, flops, macs, tags) in zip(recs, rows):
        c = r.cost
        dur = r.end_s - r.start_s
        cycles = max(c.cycles, round(dur * clock))
        c_name.append(name)
        c_kind.append(kind)
        c_unit.append(r.unit)
        c_start.append(r.start_s)
        c_end.append(r.end_s)
        c_lat.append(dur)
        c_cyc.append(cycles)
        c_comp.append(c.compute_cycles)
        c_stall.append(cycles - c.compute_cycles)
        c_dma0.append(nan if r.dma_start_s is None else r.dma_start_s)
        c_dma1.append(nan if r.dma_end_s is None else r.dma_end_s)
        c_flops.append(flops)
        c_macs.append(macs)
        tb = c.tier_bytes
        for t, col in tier_cols:
            col.append(float(tb.get(t, 0.0)))
        c_util.append(c.utilization * c.cycles / cycles if cycles else 0.0)
        epj = c.energy_pj
        for k, col in energy_cols:
            if k == "leakage":
                col.append(leak_total_j * dur / busy_total if busy_total else 0.0)
            else:
                col.append(epj.get(k, 0.0) * 1e-12)
        for k, col in tag_cols:
            col.append(tags.get(k))
    table = _Columns(cols, [f"energy_{k}_j" for k in components])

    summary = _summary(graph, accelerator, timeline, table, components, tiers, area, list(notes), p_leak)
    events = [{"op": n, "unit": u, "start_s": s, "end_s": e, "kind": k} for n, u, s, e, k in timeline.trace] \
        if trace else []
    return Result(None, summary, events, columns=table)


def _summary(graph, accelerator, timeline, table: _Columns, components, tiers, area, notes, p_leak) -> dict[str, Any]:
    """The summary keys (module docstring), summed as pandas would sum the per-op columns."""
    clock = timeline.clock_hz
    latency = timeline.latency_s
    cycles = round(latency * clock)
    meta = getattr(graph, "meta", {}) or {}
    energy = {f"energy_{k}_j": _fsum(table.array(f"energy_{k}_j")) for k in components}
    energy_j = float(sum(energy.values()))
    s: dict[str, Any] = {
        "workload": getattr(graph, "name", None),
        "accelerator": accelerator.name,
        "ops": table.rows,
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
    unit, op_cycles = table.cols["unit"], table.array("cycles")
    flops, macs, util = table.array("flops"), table.array("macs"), table.array("utilization")
    s["utilization"] = _utilization(unit, op_cycles, flops, macs, util, cycles)
    s["flops"] = int(flops.sum()) if len(flops) else 0
    s["macs"] = int(macs.sum()) if len(macs) else 0
    for t in tiers:
        s[f"{t}_bytes"] = _fsum(table.array(f"bytes_{t}"))
    busy = _group_sum(unit, table.cols["latency_s"])
    for u in accelerator.units:
        s[f"{u.name}_busy_s"] = float(busy.get(u.name, 0.0))
    s["peak_flops_per_s"] = _peak_flops(unit, op_cycles, flops, util) * clock
    s["offchip_bytes_per_s"] = float(sum(m.bytes_per_s(clock) for m in accelerator.off_chip))
    s["offchip_tiers"] = [m.name for m in accelerator.off_chip]
    if accelerator.sockets > 1:
        s["sockets"] = accelerator.sockets
        notes.append(f"{accelerator.sockets} sockets: latency and throughput are the whole machine's; energy_j, "
                     f"power_w and area_mm2 are one socket's")
    s["notes"] = notes
    return s


def _fsum(a: np.ndarray) -> float:
    """A float column's sum as ``Series.sum`` gives it (numpy's pairwise sum, NaN skipped)."""
    if a.dtype.kind == "f":
        a = np.where(np.isnan(a), 0.0, a)
    return float(a.sum()) if len(a) else 0.0


def _group_sum(labels: list[str], values: list[float]) -> dict[str, float]:
    """Per-label sums (NaN skipped), correctly rounded (``math.fsum``): within an ulp of pandas' groupby."""
    groups: dict[str, list[float]] = {}
    for lab, v in zip(labels, values):
        if v == v:
            groups.setdefault(lab, []).append(v)
    return {lab: math.fsum(vs) for lab, vs in groups.items()}


def _utilization(unit: list[str], cycles: np.ndarray, flops: np.ndarray, macs: np.ndarray, util: np.ndarray,
                 run_cycles: int) -> float:
    """Achieved / peak work rate over the run, for the units that did the work (module docstring)."""
    if not run_cycles or not len(unit):
        return 0.0
    work = macs > 0
    if not work.any():
        work = flops > 0
    if not work.any():
        return 0.0
    units = len({u for u, w in zip(unit, work) if w})
    return float((util[work] * cycles[work]).sum() / (units * run_cycles))


def _peak_flops(unit: list[str], cycles: np.ndarray, flops: np.ndarray, util: np.ndarray) -> float:
    """Peak FLOPs per cycle summed over units, recovered from each op's FLOPs / (utilization x cycles)."""
    if not len(unit):
        return 0.0
    sel = (util > 0) & (flops > 0)
    if not sel.any():
        return 0.0
    peak = flops[sel] / (util[sel] * cycles[sel])
    best: dict[str, float] = {}
    for u, p in zip((u for u, k in zip(unit, sel) if k), peak.tolist()):
        if u not in best or p > best[u]:
            best[u] = p
    return float(np.asarray([best[u] for u in sorted(best)]).sum())
