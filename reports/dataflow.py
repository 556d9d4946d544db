"""Dataflow (RDU) reports: the fusion mapper's sections and their tier traffic as a table, and memory-wall
sweeps as Plotly line charts.  Reads `Result` per-op tables (columns of `sim.result` plus the ``section``,
``stage_pcus``, ``fused_ops`` / ``fused_into`` tags `sim.dataflow` adds); never simulates.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import plotly.graph_objects as go


def sections_table(per_op: pd.DataFrame) -> pd.DataFrame:
    """One row per fused section, in order: its ops, first and last op, carrier, PCUs given to its stages,
    latency, FLOPs, bytes per memory tier and utilisation.  Raises ValueError naming the missing column
    when the result has no sections (an unfused run or another family)."""
    if "tag_section" not in per_op.columns:
        raise ValueError("per_op has no 'tag_section' column: expected a result of a fused rdu accelerator "
                         "(sim.dataflow with units.<rdu>.fused: true)")
    df = per_op[per_op["tag_section"].notna()]
    tiers = [c for c in df.columns if c.startswith("bytes_")]
    rows = []
    for sec, g in df.groupby("tag_section", sort=False):
        carrier = g[g["tag_fused_ops"].notna()] if "tag_fused_ops" in g.columns else g.head(1)
        row: dict[str, Any] = {
            "section": sec, "ops": len(g), "first": g["name"].iloc[0], "last": g["name"].iloc[-1],
            "carrier": carrier["name"].iloc[0] if len(carrier) else g["name"].iloc[0],
            "pcus": int(g["tag_stage_pcus"].sum()) if "tag_stage_pcus" in g.columns else None,
            "start_s": float(g["start_s"].min()), "latency_s": float(g["latency_s"].sum()),
            "flops": float(g["flops"].sum()), "utilization": float(g["utilization"].iloc[0]),
        }
        row.update({t: float(g[t].sum()) for t in tiers})
        rows.append(row)
    return pd.DataFrame(rows)


def memory_wall_figure(df: pd.DataFrame, x: str, y: str, *, title: str, knee: float | None = None,
                       x_label: str | None = None, y_label: str | None = None) -> go.Figure:
    """Line chart of a sweep (``df[x]`` against ``df[y]``), with a dashed line at the capacity `knee`."""
    for col in (x, y):
        if col not in df.columns:
            raise ValueError(f"memory_wall_figure: no column {col!r}; columns are {list(df.columns)}")
    fig = go.Figure(go.Scatter(x=df[x], y=df[y], mode="lines+markers", name=y))
    if knee is not None:
        fig.add_vline(x=knee, line_dash="dash", annotation_text="capacity knee")
    fig.update_layout(title=title, xaxis_title=x_label or x, yaxis_title=y_label or y, template="plotly_white")
    return fig


def write_sections(result: Any, out_dir: Path | str, title: str) -> dict[str, Path]:
    """Write ``sections.csv`` and ``sections.md`` (the fusion choices of one run) into `out_dir`."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    table = sections_table(result.per_op)
    paths = {"csv": out / "sections.csv", "md": out / "sections.md"}
    table.to_csv(paths["csv"], index=False)
    cols = ["section", "ops", "first", "last", "pcus", "latency_s", "utilization",
            *[c for c in table.columns if c.startswith("bytes_")]]
    lines = [f"# {title}: fused sections", "", "| " + " | ".join(cols) + " |", "|" + " --- |" * len(cols)]
    for _, r in table.iterrows():
        lines.append("| " + " | ".join(f"{r[c]:.4g}" if isinstance(r[c], float) else str(r[c]) for c in cols) + " |")
    paths["md"].write_text("\n".join(lines) + "\n")
    return paths


def coe_latency_figure(machines: list[dict[str, Any]], *, title: str) -> go.Figure:
    """Stacked bars, one per machine, of the mean request latency of Composition-of-Experts serving split into
    its parts.  `machines`: dicts with ``name``, ``slots`` (experts resident in fast memory) and ``split_s``
    (part name -> mean seconds per request, e.g. router, switching, prefill, decode: `dse coe`)."""
    if not machines:
        raise ValueError("coe_latency_figure: expected at least one machine")
    parts = list(machines[0]["split_s"])
    names = [f"{m['name']}<br>{m['slots']} expert slots" for m in machines]
    fig = go.Figure([go.Bar(name=p, x=names, y=[m["split_s"][p] * 1e3 for m in machines]) for p in parts])
    fig.update_layout(barmode="stack", yaxis_title="mean request latency (ms)", title=title)
    return fig
