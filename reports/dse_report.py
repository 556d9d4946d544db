"""The report of one DSE run: a self-contained HTML page plus every point as CSV and Parquet.

Reads ``RUN_DIR/results.sqlite`` (never simulates).  The page holds four Plotly figures (plotly.js
inlined once, so it opens offline) and a table:

- ``pareto``: the objectives against each other (2-D scatter, 3-D for three objectives, objective
  over proposal order for one); traces ``dominated``, ``Pareto front``, ``infeasible``; hovering a
  point shows its design parameters.
- ``hypervolume``: normalised hypervolume of the feasible points found up to each batch (1 trace).
- ``parallel``: a parallel-coordinates plot of every axis and objective over the successful points
  (1 trace; categorical axes as indexed ticks).
- ``sensitivity``: per axis (columns) and objective (rows), the best and the median objective over
  feasible points at each axis value (2 traces per cell).
- ``layers`` (when the store has per-layer tables, which the runner writes for the best points of runs
  with the simulator): busy time and energy per layer of the first `LAYER_DESIGNS` best designs, one
  row of subplots per workload (one bar trace per design, workload and quantity).
- the best designs: the Pareto front sorted by the first objective, with their PPA figures, and each
  one's per-layer table (folded) where the store has it.

The number of traces per figure is fixed by the space and the number of designs with per-layer tables
(`trace_counts`); it is written into the page as JSON (``<script id="coex-report-meta">``: ``figures``,
the traces per figure; ``drawn``, those a browser draws, see `drawn_traces`; ``points``) so that a
browser test can compare what rendered.  Besides report.html: points.csv and points.parquet (every point), and
layers.csv (every stored per-layer row, with the point's key) when there are per-layer tables.
"""

from __future__ import annotations

import html
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from dse.pareto import REF, hypervolume_by_batch, pareto_mask
from dse.runner import LAYER_POINTS
from dse.space import Space
from dse.store import LAYER_COLUMNS, Store

PPA_COLUMNS = ("latency_s", "throughput", "energy_j", "power_w", "area_mm2", "edp_js", "perf_per_w",
               "perf_per_mm2", "utilization")
LAYER_DESIGNS = 5  # best designs drawn in the per-layer figure
_LABELS = {"latency_s": "latency (s)", "throughput": "throughput (/s)", "energy_j": "energy (J)",
           "edp_js": "EDP (J·s)", "area_mm2": "area (mm²)", "power_w": "power (W)",
           "perf_per_w": "perf/W (/J)", "perf_per_mm2": "perf/mm² (/s/mm²)"}


def load_run(run_dir: Path | str) -> tuple[Space, pd.DataFrame]:
    """The run's space and one row per stored point (see `points_frame`)."""
    space, df, _ = load_run_layers(run_dir)
    return space, df


def load_run_layers(run_dir: Path | str) -> tuple[Space, pd.DataFrame, pd.DataFrame]:
    """`load_run` plus the stored per-layer rows (columns key, workload, pos, layer, `LAYER_COLUMNS`)."""
    with Store.open(run_dir) as store:
        meta = store.meta()
        if "space_json" not in meta:
            raise ValueError(f"{run_dir}: the store has no space (meta.space_json); was the run started by coex?")
        space = Space.model_validate_json(meta["space_json"])
        layers = pd.DataFrame(store.layers(), columns=["key", "workload", "pos", "layer", *LAYER_COLUMNS])
        return space, points_frame(space, store), layers


def points_frame(space: Space, store: Store) -> pd.DataFrame:
    """Columns: key, seq, batch, status, error, created_at, one per axis (its dotted path), the scalar
    metrics, feasible, violation, pareto (on the front of the space's objectives)."""
    rows = []
    for rec in store.records():
        row: dict[str, Any] = {"key": rec.key, "seq": rec.seq, "batch": rec.batch, "status": rec.status,
                               "error": rec.error, "created_at": rec.created_at}
        row.update({a: rec.params.get(a) for a in space.axes})
        for k, v in (rec.metrics or {}).items():
            if isinstance(v, (int, float, str, bool)) or v is None:
                row[k] = v
        row["feasible"] = bool(rec.metrics is not None and rec.metrics.get("feasible", True))
        rows.append(row)
    df = pd.DataFrame(rows)
    if df.empty:
        return pd.DataFrame(columns=["key", "seq", "batch", "status", "error", "created_at", *space.axes,
                                     "feasible", "pareto"])
    for col in [*(o.key for o in space.objectives), *PPA_COLUMNS]:
        if col not in df:
            df[col] = np.nan
    F = _objective_matrix(space, df)
    ok = df["feasible"].to_numpy(bool) & ~np.isnan(F).any(axis=1)
    mask = np.zeros(len(df), dtype=bool)
    if ok.any():
        mask[np.flatnonzero(ok)[pareto_mask(F[ok])]] = True
    df["pareto"] = mask
    return df


def _objective_matrix(space: Space, df: pd.DataFrame) -> np.ndarray:
    cols = []
    for o in space.objectives:
        v = pd.to_numeric(df[o.key], errors="coerce") if o.key in df else pd.Series(np.nan, index=df.index)
        cols.append((-v if o.sense == "max" else v).to_numpy(float))
    return np.column_stack(cols) if cols else np.zeros((len(df), 0))


def trace_counts(space: Space, layer_designs: int = 0) -> dict[str, int]:
    """How many traces each figure of the report has: fixed by the space, and for ``layers`` (only
    there when some best designs have per-layer tables) by how many of them are drawn."""
    counts = {"pareto": 3, "hypervolume": 1, "parallel": 1,
              "sensitivity": 2 * len(space.axes) * len(space.objectives)}
    if layer_designs:
        counts["layers"] = 2 * layer_designs * len(space.workloads)
    return counts


def drawn_traces(fig: go.Figure) -> int:
    """How many of a figure's traces a browser draws: Plotly skips 2-D traces with no points (an empty
    "infeasible" group, say); parallel coordinates and 3-D scatters are drawn even when empty."""
    return sum(1 for t in fig.data if t.type in ("parcoords", "scatter3d") or len(t.x if t.x is not None else ()))


def _hover(space: Space, df: pd.DataFrame) -> list[str]:
    lines = []
    for _, r in df.iterrows():
        parts = [f"{a} = {r[a]}" for a in space.axes]
        parts += [f"{o.key} = {_fmt(r.get(o.key))}" for o in space.objectives]
        lines.append("<br>".join(parts))
    return lines


def _fmt(v: Any) -> str:
    if isinstance(v, (float, np.floating)):
        return f"{v:.4g}" if math.isfinite(v) else str(v)
    return str(v)


def pareto_figure(space: Space, df: pd.DataFrame) -> go.Figure:
    objs = space.objectives
    ok = df[df["status"] == "ok"] if len(df) else df
    groups = [("dominated", ok[ok["feasible"] & ~ok["pareto"]], "#9aa5b1", "circle"),
              ("Pareto front", ok[ok["pareto"]], "#d62728", "diamond"),
              ("infeasible", ok[~ok["feasible"]], "#bbbbbb", "x")]
    fig = go.Figure()
    for name, part, color, symbol in groups:
        text = _hover(space, part)
        if len(objs) == 1:
            part = part.sort_values("seq") if name == "Pareto front" else part
            fig.add_scatter(x=part["seq"], y=part[objs[0].key], mode="markers", name=name, text=text,
                            marker={"color": color, "symbol": symbol}, hovertemplate="%{text}<extra></extra>")
        elif len(objs) == 2:
            if name == "Pareto front":
                part = part.sort_values(objs[0].key)
                text = _hover(space, part)
            fig.add_scatter(x=part[objs[0].key], y=part[objs[1].key], name=name, text=text,
                            mode="lines+markers" if name == "Pareto front" else "markers",
                            line={"shape": "hv", "color": color}, marker={"color": color, "symbol": symbol},
                            hovertemplate="%{text}<extra>" + name + "</extra>")
        else:
            sym = {"circle": "circle", "diamond": "diamond", "x": "x"}[symbol]
            fig.add_scatter3d(x=part[objs[0].key], y=part[objs[1].key], z=part[objs[2].key], mode="markers",
                              name=name, text=text, marker={"color": color, "symbol": sym, "size": 4},
                              hovertemplate="%{text}<extra>" + name + "</extra>")
    title = "Pareto front: " + " vs ".join(f"{o.metric} ({o.sense})" for o in objs)
    if len(objs) == 1:
        fig.update_layout(xaxis_title="point (proposal order)", yaxis_title=_LABELS.get(objs[0].key, objs[0].key))
    elif len(objs) == 2:
        fig.update_layout(xaxis_title=_LABELS.get(objs[0].key, objs[0].key),
                          yaxis_title=_LABELS.get(objs[1].key, objs[1].key))
    else:
        fig.update_layout(scene={"xaxis_title": objs[0].key, "yaxis_title": objs[1].key, "zaxis_title": objs[2].key})
    fig.update_layout(title=title, template="plotly_white", legend_title="points")
    return fig


def hypervolume_table(space: Space, df: pd.DataFrame) -> pd.DataFrame:
    """batch, points so far, normalised hypervolume so far (see dse.pareto)."""
    if df.empty:
        return pd.DataFrame(columns=["batch", "points", "hypervolume"])
    F = _objective_matrix(space, df)
    rows = hypervolume_by_batch(F, df["feasible"].to_numpy(bool), df["batch"].to_numpy(int))
    return pd.DataFrame(rows, columns=["batch", "points", "hypervolume"])


def hypervolume_figure(space: Space, df: pd.DataFrame) -> go.Figure:
    hv = hypervolume_table(space, df)
    fig = go.Figure()
    fig.add_scatter(x=hv["points"], y=hv["hypervolume"], mode="lines+markers", name="hypervolume",
                    text=[f"batch {b}" for b in hv["batch"]],
                    hovertemplate="%{text}<br>%{x} points<br>HV %{y:.4f}<extra></extra>")
    fig.update_layout(title=f"Hypervolume per batch (objectives normalised to the final front's ideal..nadir, "
                            f"reference {REF} each)", xaxis_title="points evaluated",
                      yaxis_title="hypervolume", template="plotly_white")
    return fig


def _numeric(values: list[Any]) -> bool:
    return all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in values)


def parallel_figure(space: Space, df: pd.DataFrame) -> go.Figure:
    ok = df[df["status"] == "ok"] if len(df) else df
    dims = []
    for a, values in space.axes.items():
        if _numeric(values):
            dims.append({"label": a, "values": ok[a].astype(float).tolist() if len(ok) else []})
        else:
            index = {json.dumps(v, default=str): i for i, v in enumerate(values)}
            dims.append({"label": a, "values": [index[json.dumps(v, default=str)] for v in ok[a]] if len(ok) else [],
                         "tickvals": list(range(len(values))), "ticktext": [str(v) for v in values]})
    for o in space.objectives:
        vals = pd.to_numeric(ok[o.key], errors="coerce").tolist() if o.key in ok else []
        dims.append({"label": f"{o.metric} ({o.sense})", "values": vals})
    first = space.objectives[0].key
    color = pd.to_numeric(ok[first], errors="coerce").tolist() if first in ok else []
    fig = go.Figure(go.Parcoords(dimensions=dims, line={"color": color, "colorscale": "Viridis", "showscale": True,
                                                        "colorbar": {"title": {"text": space.objectives[0].metric}}}))
    fig.update_layout(title="Axes vs objectives (successful points)", template="plotly_white")
    return fig


def _geometric(values: list[Any]) -> bool:
    """Positive numbers with a constant ratio > 1 (a 'log' range): shown on a log axis."""
    if len(values) < 3 or not _numeric(values) or min(values) <= 0:
        return False
    ratios = [b / a for a, b in zip(values, values[1:])]
    return ratios[0] > 1 and all(abs(q / ratios[0] - 1) < 0.05 for q in ratios)


def sensitivity_figure(space: Space, df: pd.DataFrame) -> go.Figure:
    axes, objs = list(space.axes), space.objectives
    fig = make_subplots(rows=len(objs), cols=len(axes), shared_yaxes=False,
                        column_titles=axes, row_titles=[o.metric for o in objs])
    feas = df[(df["status"] == "ok") & df["feasible"]] if len(df) else df
    for r, o in enumerate(objs, start=1):
        for c, a in enumerate(axes, start=1):
            values = space.axes[a]
            best, median, xs = [], [], []
            for v in values:
                sel = feas[feas[a].map(lambda x, v=v: json.dumps(x, default=str) == json.dumps(v, default=str))] \
                    if len(feas) else feas
                y = pd.to_numeric(sel[o.key], errors="coerce").dropna() if o.key in sel else pd.Series(dtype=float)
                xs.append(v if _numeric(values) else str(v))
                best.append((y.max() if o.sense == "max" else y.min()) if len(y) else None)
                median.append(y.median() if len(y) else None)
            first = r == 1 and c == 1
            fig.add_scatter(x=xs, y=best, mode="lines+markers", name="best", legendgroup="best", showlegend=first,
                            line={"color": "#d62728"}, row=r, col=c)
            fig.add_scatter(x=xs, y=median, mode="lines+markers", name="median", legendgroup="median",
                            showlegend=first, line={"color": "#1f77b4", "dash": "dot"}, row=r, col=c)
            if _geometric(values):
                fig.update_xaxes(type="log", row=r, col=c)
    fig.update_layout(title="Sensitivity: best and median objective over feasible points, per axis value",
                      template="plotly_white", height=max(320, 260 * len(objs)))
    return fig


def best_designs(space: Space, df: pd.DataFrame, limit: int = LAYER_POINTS) -> pd.DataFrame:
    """The Pareto front sorted by the first objective (at most `limit` rows): axes, then PPA columns."""
    if df.empty or not df["pareto"].any():
        return pd.DataFrame(columns=[*space.axes, *PPA_COLUMNS])
    o = space.objectives[0]
    front = df[df["pareto"]].sort_values(o.key, ascending=o.sense == "min", kind="stable").head(limit)
    cols = [*space.axes, *[c for c in PPA_COLUMNS if c in front.columns], "key"]
    return front[cols].reset_index(drop=True)


def _design_label(space: Space, row: pd.Series, rank: int) -> str:
    """``#rank name=value, ...`` with each axis's last path component where those are unique."""
    short = {a: a.rsplit(".", 1)[-1] for a in space.axes}
    if len(set(short.values())) < len(short):
        short = {a: a for a in space.axes}
    return f"#{rank} " + ", ".join(f"{short[a]}={_fmt(row[a])}" for a in space.axes)


def layer_figure(space: Space, best: pd.DataFrame, layers: pd.DataFrame) -> go.Figure:
    """Busy time (left) and energy (right) per layer of the best designs in `best` (rows with a `key`
    present in `layers`), one row of subplots per workload, one bar trace per design and cell."""
    labels = [w.label for w in space.workloads]
    titles = [f"{label}: {q}" for label in labels for q in ("busy time (µs)", "energy (µJ)")]
    fig = make_subplots(rows=len(labels), cols=2, subplot_titles=titles, vertical_spacing=0.3 / len(labels))
    palette = ["#d62728", "#1f77b4", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2"]
    for n, (rank, row) in enumerate(best.iterrows()):
        name = _design_label(space, row, rank + 1)
        mine = layers[layers["key"] == row["key"]]
        for r, label in enumerate(labels, start=1):
            part = mine[mine["workload"] == label].sort_values("pos")
            for c, (col, scale) in enumerate((("latency_s", 1e6), ("energy_j", 1e6)), start=1):
                fig.add_bar(x=part["layer"].astype(str), y=part[col] * scale, name=name, legendgroup=name,
                            showlegend=r == 1 and c == 1, marker_color=palette[n % len(palette)],
                            customdata=part[["ops", "utilization"]].to_numpy(),
                            hovertemplate="layer %{x}<br>%{y:.4g}<br>%{customdata[0]} ops, utilisation "
                                          "%{customdata[1]:.3f}<extra>" + html.escape(name) + "</extra>",
                            row=r, col=c)
    fig.update_xaxes(type="category")
    fig.update_xaxes(title_text="layer", row=len(labels))
    fig.update_layout(title="Per-layer breakdown of the best designs (busy time sums ops that overlap)",
                      barmode="group", template="plotly_white", height=max(360, 300 * len(labels)))
    return fig


def _layer_tables_html(space: Space, best: pd.DataFrame, layers: pd.DataFrame) -> str:
    """A folded per-layer table for each best design that has one."""
    parts = []
    for rank, row in best.iterrows():
        mine = layers[layers["key"] == row["key"]]
        if mine.empty:
            continue
        order = {w.label: i for i, w in enumerate(space.workloads)}
        mine = mine.assign(_w=mine["workload"].map(order)).sort_values(["_w", "pos"])
        table = mine[["workload", "layer", *LAYER_COLUMNS]].reset_index(drop=True)
        parts.append(f"<details><summary>{html.escape(_design_label(space, row, rank + 1))}</summary>"
                     f"{_table_html(table)}</details>")
    return "" if not parts else "<h2>Per-layer tables of the best designs</h2>" + "".join(parts)


def _table_html(df: pd.DataFrame) -> str:
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in df.columns)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(_fmt(v))}</td>" for v in row) + "</tr>"
                   for row in df.itertuples(index=False))
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def build(space: Space, df: pd.DataFrame, layers: pd.DataFrame | None = None) -> dict[str, go.Figure]:
    figs = {"pareto": pareto_figure(space, df), "hypervolume": hypervolume_figure(space, df),
            "parallel": parallel_figure(space, df), "sensitivity": sensitivity_figure(space, df)}
    drawn = _layer_designs(space, df, layers)
    if len(drawn):
        figs["layers"] = layer_figure(space, drawn, layers)  # type: ignore[arg-type]
    return figs


def _layer_designs(space: Space, df: pd.DataFrame, layers: pd.DataFrame | None,
                   limit: int = LAYER_DESIGNS) -> pd.DataFrame:
    """The best designs (ranked as in the table) that have per-layer tables, at most `limit`."""
    best = best_designs(space, df)
    if layers is None or layers.empty or best.empty:
        return best.iloc[0:0]
    return best[best["key"].isin(set(layers["key"]))].head(limit)


def write_dse_report(run_dir: Path | str, out_dir: Path | str | None = None) -> dict[str, Path]:
    """Write report.html, points.csv, points.parquet and (with per-layer tables) layers.csv into
    `out_dir` (default the run directory); returns their paths."""
    run_dir = Path(run_dir)
    out = Path(out_dir) if out_dir is not None else run_dir
    space, df, layers = load_run_layers(run_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"html": out / "report.html", "csv": out / "points.csv", "parquet": out / "points.parquet"}
    df.to_csv(paths["csv"], index=False)
    if not layers.empty:
        paths["layers_csv"] = out / "layers.csv"
        layers.to_csv(paths["layers_csv"], index=False)
    pq = df.copy()
    for a in space.axes:  # mixed-type axes (numbers and strings) as text for Parquet
        if not _numeric(space.axes[a]) and a in pq:
            pq[a] = pq[a].map(lambda v: None if v is None else str(v))
    pq.to_parquet(paths["parquet"], index=False)

    figs = build(space, df, layers)
    counts = trace_counts(space, len(_layer_designs(space, df, layers)))
    for name, fig in figs.items():
        assert len(fig.data) == counts[name], (name, len(fig.data), counts[name])
    body = "".join(
        f"<section><h2>{html.escape(name)}</h2>"
        + fig.to_html(full_html=False, include_plotlyjs=(i == 0), div_id=name, config={"responsive": True})
        + "</section>"
        for i, (name, fig) in enumerate(figs.items())
    )
    n_ok = int((df["status"] == "ok").sum()) if len(df) else 0
    n_err = len(df) - n_ok
    n_feas = int(df["feasible"].sum()) if len(df) else 0
    hv = hypervolume_table(space, df)
    facts = {
        "space": space.name, "base": space.base, "strategy": space.strategy.name, "seed": space.strategy.seed,
        "points": len(df), "failed": n_err, "feasible": n_feas,
        "Pareto front": int(df["pareto"].sum()) if len(df) else 0,
        "final hypervolume": f"{hv['hypervolume'].iloc[-1]:.4f}" if len(hv) else "-",
        "objectives": ", ".join(f"{o.metric} ({o.sense})" for o in space.objectives),
        "constraints": ", ".join(str(c) for c in space.constraints) or "-",
        "workloads": ", ".join(f"{w.label} x{w.weight:g}" for w in space.workloads),
    }
    facts_html = "".join(f"<tr><td>{html.escape(k)}</td><td>{html.escape(str(v))}</td></tr>" for k, v in facts.items())
    errors = df[df["status"] == "error"]["error"].value_counts().head(10) if n_err else pd.Series(dtype=int)
    errors_html = "" if errors.empty else "<h2>Failed points (most common messages)</h2>" + _table_html(
        pd.DataFrame({"count": errors.values, "error": errors.index}))
    meta = json.dumps({"figures": counts, "drawn": {name: drawn_traces(fig) for name, fig in figs.items()},
                       "points": len(df)})
    title = f"DSE report: {space.name}"
    paths["html"].write_text(
        "<!doctype html><html><head><meta charset='utf-8'><title>" + html.escape(title) + "</title>"
        "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;margin:1em 0}"
        "td,th{border:1px solid #ccc;padding:2px 8px;text-align:right}th{background:#f4f4f4}</style>"
        f"<script type='application/json' id='coex-report-meta'>{meta}</script></head><body>"
        f"<h1>{html.escape(title)}</h1><table>{facts_html}</table>"
        f"<h2>Best designs (Pareto front, by {html.escape(space.objectives[0].metric)})</h2>"
        f"{_table_html(best_designs(space, df))}{body}{_layer_tables_html(space, best_designs(space, df), layers)}"
        f"{errors_html}</body></html>",
        encoding="utf-8",
    )
    return paths
