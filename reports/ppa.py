"""The PPA report of one simulation: HTML (Plotly per-layer breakdown and roofline), Markdown,
CSV and Parquet of the per-op table, and the summary as JSON.  Reads a `Result`; never simulates.

`layer_rows` is the per-layer table for the console (`dse sim` without ``--out``): plain Python over the
result's columns, so that printing a simulation imports neither pandas nor plotly (~0.8 s of a ~2 s
command); `per_layer` is the same table as a DataFrame for the files.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd
    import plotly.graph_objects as go

#: Columns of the per-layer table, in order (`layer_rows` and `per_layer`).
LAYER_COLUMNS = ("layer", "ops", "cycles", "latency_s", "flops", "energy_j", "utilization")


def _energy_columns(per_op: pd.DataFrame) -> list[str]:
    return [c for c in per_op.columns if c.startswith("energy_") and c.endswith("_j") and c != "energy_j"]


def layer_rows(result: Any) -> list[dict[str, Any]]:
    """The per-layer table of `per_layer` as a list of dicts (keys `LAYER_COLUMNS`), in first-seen order,
    computed from ``result.column`` without making the per-op DataFrame: sums are correctly rounded
    (``math.fsum``), so layers with the same ops have exactly the same figures whatever their order."""
    names = result.column("name")
    n = len(names)

    def col(name: str, default: Any = None) -> list[Any]:
        try:
            return result.column(name)
        except KeyError:
            return [default] * n

    layer = ["other" if v is None or v != v else str(v) for v in col("tag_layer")]
    energy = col("energy_j", 0.0)
    macs, util = col("macs", 0), col("utilization")
    cycles, latency, flops = result.column("cycles"), result.column("latency_s"), result.column("flops")
    groups: dict[str, list[int]] = {}
    for i, lab in enumerate(layer):
        groups.setdefault(lab, []).append(i)
    rows = []
    for lab, idx in groups.items():
        peak = math.fsum(macs[i] / util[i] for i in idx if util[i] == util[i] and util[i] > 0)
        done = math.fsum(macs[i] for i in idx)
        rows.append({"layer": lab, "ops": len(idx), "cycles": _sum(cycles[i] for i in idx),
                     "latency_s": math.fsum(latency[i] for i in idx), "flops": _sum(flops[i] for i in idx),
                     "energy_j": math.fsum(energy[i] for i in idx if energy[i] == energy[i]),
                     "utilization": done / peak if peak > 0 else 0.0})
    return rows


def _sum(values: Any) -> int | float:
    """Exact for integers, correctly rounded (``math.fsum``) once a float is among them."""
    vals = list(values)
    return sum(vals) if all(isinstance(v, int) for v in vals) else math.fsum(vals)


def top_layers(rows: list[dict[str, Any]], n: int) -> list[dict[str, Any]]:
    """The `n` rows of `layer_rows` with the largest ``latency_s``; latencies equal to 9 significant digits
    (identical layers whose ops' end - start differ in the last bits) in table (layer) order."""
    order = sorted(range(len(rows)), key=lambda i: (-float(f"{rows[i]['latency_s']:.9g}"), i))
    return [rows[i] for i in order[:max(n, 0)]]


def per_layer(per_op: pd.DataFrame) -> pd.DataFrame:
    """Per-op rows grouped by their `layer` tag (ops without one go to "other"), in first-seen order.

    latency_s sums the ops' busy time (overlapped ops both count); utilization is MAC-weighted."""
    import pandas as pd

    df = per_op.copy()
    layer = df["tag_layer"] if "tag_layer" in df.columns else pd.Series([None] * len(df), index=df.index)
    df["layer"] = layer.where(layer.notna(), "other").astype(str)
    if "energy_j" not in df.columns:
        df["energy_j"] = df[_energy_columns(df)].sum(axis=1) if _energy_columns(df) else 0.0
    macs = df["macs"] if "macs" in df.columns else pd.Series(0, index=df.index)
    df["_peak_macs"] = (macs / df["utilization"].where(df["utilization"] > 0)).fillna(0.0)
    g = df.groupby("layer", sort=False)
    res = pd.DataFrame({
        "ops": g.size(),
        "cycles": g["cycles"].sum(),
        "latency_s": g["latency_s"].sum(),
        "flops": g["flops"].sum(),
        "energy_j": g["energy_j"].sum(),
    })
    peak = g["_peak_macs"].sum()
    res["utilization"] = (g["macs"].sum() / peak.where(peak > 0)).fillna(0.0) if "macs" in df.columns else 0.0
    return res.reset_index()


def breakdown_figure(per_op: pd.DataFrame, title: str) -> go.Figure:
    """Stacked bars: per layer, busy time by op kind."""
    import pandas as pd
    import plotly.graph_objects as go

    df = per_op.copy()
    layer = df["tag_layer"] if "tag_layer" in df.columns else pd.Series([None] * len(df), index=df.index)
    df["layer"] = layer.where(layer.notna(), "other").astype(str)
    order = list(dict.fromkeys(df["layer"]))
    fig = go.Figure()
    for kind, part in df.groupby("kind", sort=True):
        t = part.groupby("layer")["latency_s"].sum().reindex(order, fill_value=0.0)
        fig.add_bar(name=str(kind), x=order, y=t.values * 1e6, hovertemplate="%{x}<br>%{y:.3f} µs<extra>" + str(kind) + "</extra>")
    fig.update_layout(barmode="stack", title=f"{title}: time per layer by op kind", xaxis_title="layer",
                      yaxis_title="busy time (µs)", legend_title="op kind", template="plotly_white")
    return fig


def roofline_figure(per_op: pd.DataFrame, summary: dict[str, Any], title: str) -> go.Figure:
    """Achieved FLOP/s of each op against its arithmetic intensity, under the accelerator's roofline."""
    import plotly.graph_objects as go

    df = per_op[(per_op["flops"] > 0) & (per_op["latency_s"] > 0)].copy()
    # the roofline's bandwidth is off-chip, so intensity is FLOPs per off-chip byte
    offchip = summary.get("offchip_tiers") or []
    byte_cols = [f"bytes_{t}" for t in offchip if f"bytes_{t}" in df.columns]
    if not byte_cols:
        byte_cols = [c for c in df.columns if c.startswith("bytes_")]
    df["traffic"] = df[byte_cols].sum(axis=1)
    df = df[df["traffic"] > 0]
    df["intensity"] = df["flops"] / df["traffic"]
    df["achieved"] = df["flops"] / df["latency_s"]
    fig = go.Figure()
    for kind, part in df.groupby("kind", sort=True):
        fig.add_scatter(x=part["intensity"], y=part["achieved"], mode="markers", name=str(kind),
                        text=part["name"], hovertemplate="%{text}<br>%{x:.3g} FLOP/B<br>%{y:.3g} FLOP/s<extra></extra>")
    peak, bw = summary.get("peak_flops_per_s"), summary.get("offchip_bytes_per_s")
    if peak and bw and len(df):
        lo = min(df["intensity"].min(), peak / bw) / 4
        hi = max(df["intensity"].max(), peak / bw) * 4
        xs = [lo * (hi / lo) ** (i / 63) for i in range(64)]
        fig.add_scatter(x=xs, y=[min(peak, bw * x) for x in xs], mode="lines", name="roofline",
                        line={"color": "black", "dash": "dash"})
    fig.update_layout(title=f"{title}: roofline", xaxis_type="log", yaxis_type="log",
                      xaxis_title="arithmetic intensity (FLOP / off-chip byte)", yaxis_title="achieved FLOP/s",
                      template="plotly_white")
    return fig


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.6g}" if math.isfinite(v) else str(v)
    return str(v)


def write_sim_report(result: Any, out_dir: Path | str, title: str) -> dict[str, Path]:
    """Write report.html, report.md, per_op.csv, per_op.parquet, per_layer.csv and summary.json."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    per_op: pd.DataFrame = result.per_op
    summary: dict[str, Any] = dict(result.summary)
    layers = per_layer(per_op)
    paths = {
        "html": out / "report.html",
        "md": out / "report.md",
        "csv": out / "per_op.csv",
        "parquet": out / "per_op.parquet",
        "layers": out / "per_layer.csv",
        "json": out / "summary.json",
    }
    per_op.to_csv(paths["csv"], index=False)
    per_op.to_parquet(paths["parquet"], index=False)
    layers.to_csv(paths["layers"], index=False)
    paths["json"].write_text(json.dumps(summary, indent=2, default=str))

    rows = "".join(f"<tr><td>{k}</td><td>{_fmt(v)}</td></tr>" for k, v in summary.items() if not isinstance(v, dict))
    figs = [breakdown_figure(per_op, title), roofline_figure(per_op, summary, title)]
    body = "".join(f.to_html(full_html=False, include_plotlyjs=(i == 0)) for i, f in enumerate(figs))
    from reports.timeline import unit_timeline_section

    # when units ran at once (e.g. NPU + PIM), or when a PIM runtime chose whether to interleave sub-batches
    body += unit_timeline_section(per_op, title, always="pim_sub_batches_used" in summary)
    if "tag_section" in per_op.columns:  # a dataflow (rdu) run: its fused sections
        from reports.dataflow import sections_table, write_sections

        paths.update({f"sections_{k}": v for k, v in write_sections(result, out, title).items()})
        sections = sections_table(per_op)
        body += ("<h2>Fused sections</h2>"
                 + sections.to_html(index=False, float_format=lambda x: f"{x:.4g}"))
    measured = summary.get("measured")
    if measured:  # reports.measured: a measured decoder layer of the simulated shape
        body += "<h2>Measured next to modelled</h2>" + "".join(f"<p>{line}</p>" for line in measured["lines"])
    paths["html"].write_text(
        "<!doctype html><html><head><meta charset='utf-8'><title>" + title + "</title>"
        "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
        "td{border:1px solid #ccc;padding:2px 8px}</style></head><body>"
        f"<h1>{title}</h1><h2>Summary</h2><table>{rows}</table><h2>Figures</h2>{body}"
        f"<h2>Per layer</h2>{layers.to_html(index=False, float_format=lambda x: f'{x:.4g}')}</body></html>"
    )
    md = [f"# {title}", "", "| quantity | value |", "| --- | --- |"]
    md += [f"| {k} | {_fmt(v)} |" for k, v in summary.items() if not isinstance(v, dict)]
    if measured:
        md += ["", "## Measured next to modelled", "", *[f"- {line}" for line in measured["lines"]]]
    md += ["", "## Per layer", "", "| " + " | ".join(layers.columns) + " |", "|" + " --- |" * len(layers.columns)]
    md += ["| " + " | ".join(_fmt(v) for v in r) + " |" for r in layers.itertuples(index=False)]
    paths["md"].write_text("\n".join(md) + "\n")
    return paths
