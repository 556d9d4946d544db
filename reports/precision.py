"""Precision sweep chart: latency, energy and area per PE type, side by side, in one Plotly figure.

Reads a table of simulation summaries (one row per precision x PE type; see `COLUMNS`); never simulates.
`dse precision` (`dse.sim_cmd.precision_sweep`) and `benchmarks/bench_precision.py` run the sweep (W16A16,
W8A8, W4A8, W4A16, W2A8, with the in-loop dequantising and the MixPE PE of each) and call
`write_precision_html`.

Panels: latency (ms), energy (J, stacked by component: MACs, dequantisation, SRAM, DRAM, leakage) and
area (mm^2, stacked: PE array incl. dequantisers, SRAM, the rest).  Bars are ordered as the table's rows
and labelled ``precision / PE type``.
"""

from __future__ import annotations

import html
from pathlib import Path

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

#: columns the table must have (the rest are optional).
COLUMNS = ("precision", "pe", "latency_s", "energy_j", "area_mm2")
#: energy components stacked in the energy panel (``energy_<c>_j`` columns), when present.
ENERGY_PARTS = ("mac", "dequant", "vector", "sram", "dram", "leakage")
#: area components stacked in the area panel (``area_<c>_mm2`` columns), when present.
AREA_PARTS = ("pe", "sram")
_PALETTE = ("#4C78A8", "#F58518", "#54A24B", "#E45756", "#72B7B2", "#B279A2", "#FF9DA6", "#9D755D")


def _check(table: pd.DataFrame) -> None:
    missing = [c for c in COLUMNS if c not in table.columns]
    if missing:
        raise ValueError(f"precision table lacks columns {missing}; expected at least {list(COLUMNS)}")
    if table.empty:
        raise ValueError("precision table is empty: nothing to plot")


def labels(table: pd.DataFrame) -> list[str]:
    """One x label per row: ``W4A8 / mixpe-w4a8``."""
    return [f"{p} / {pe}" for p, pe in zip(table["precision"], table["pe"])]


def precision_figure(table: pd.DataFrame, title: str = "PE types by precision") -> go.Figure:
    """Three panels (latency, energy by component, area by component) with one bar per table row."""
    _check(table)
    x = labels(table)
    fig = make_subplots(rows=1, cols=3, horizontal_spacing=0.07,
                        subplot_titles=("latency (ms)", "energy (J)", "area (mm²)"))
    precisions = list(dict.fromkeys(table["precision"]))
    colour = {p: _PALETTE[i % len(_PALETTE)] for i, p in enumerate(precisions)}
    fig.add_trace(go.Bar(x=x, y=table["latency_s"] * 1e3, marker_color=[colour[p] for p in table["precision"]],
                         name="latency", showlegend=False,
                         hovertemplate="%{x}<br>%{y:.4g} ms<extra></extra>"), row=1, col=1)
    parts = [c for c in ENERGY_PARTS if f"energy_{c}_j" in table.columns and table[f"energy_{c}_j"].abs().sum() > 0]
    for i, c in enumerate(parts):
        fig.add_trace(go.Bar(x=x, y=table[f"energy_{c}_j"], name=f"energy: {c}", legendgroup="energy",
                             marker_color=_PALETTE[i % len(_PALETTE)],
                             hovertemplate="%{x}<br>" + c + ": %{y:.4g} J<extra></extra>"), row=1, col=2)
    if not parts:
        fig.add_trace(go.Bar(x=x, y=table["energy_j"], name="energy", showlegend=False), row=1, col=2)
    area_parts = [c for c in AREA_PARTS if f"area_{c}_mm2" in table.columns]
    rest = table["area_mm2"] - sum((table[f"area_{c}_mm2"] for c in area_parts), 0.0)
    for i, c in enumerate(area_parts):
        fig.add_trace(go.Bar(x=x, y=table[f"area_{c}_mm2"], name=f"area: {c}", legendgroup="area",
                             marker_color=_PALETTE[(i + 5) % len(_PALETTE)],
                             hovertemplate="%{x}<br>" + c + ": %{y:.4g} mm²<extra></extra>"), row=1, col=3)
    fig.add_trace(go.Bar(x=x, y=rest, name="area: other" if area_parts else "area", legendgroup="area",
                         marker_color="#BAB0AC", hovertemplate="%{x}<br>%{y:.4g} mm²<extra></extra>"), row=1, col=3)
    fig.update_layout(barmode="stack", title=title, template="plotly_white", height=520,
                      legend_title="component", margin={"b": 160})
    fig.update_xaxes(tickangle=-45)
    return fig


def write_precision_html(table: pd.DataFrame, path: Path | str, title: str = "PE types by precision") -> Path:
    """Write `precision_figure` as a self-contained HTML page (plotly.js inlined) with the table below it."""
    path = Path(path)
    if path.exists() and path.is_dir():
        raise ValueError(f"{path} is a directory; give a file path ending in .html")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig = precision_figure(table, title)
    page = ("<!doctype html><html><head><meta charset='utf-8'><title>" + html.escape(title) + "</title></head><body>"
            + fig.to_html(full_html=False, include_plotlyjs=True, config={"responsive": True})
            + table.to_html(index=False, float_format=lambda v: f"{v:.4g}") + "</body></html>")
    path.write_text(page, encoding="utf-8")
    return path
