"""Task-switch timeline: a Plotly Gantt of frames run back to back on one accelerator, per design.

Reads event lists such as `sim.fpga.task_switch_trace` returns (dicts with frame, task, lane -- compute,
dma or reload --, op, start_s, end_s); never simulates.  Each design gets three rows: its compute
engine (one bar per frame, coloured by task), its off-chip transfers (overlapping transfers of a
frame merged into one bar) and its weight reloads (one bar per reload, in red).  `switch_summary`
tabulates what the figure shows: frames, makespan, reload count and time per design.

Unit timeline of one simulation (`unit_timeline_figure`): one row per unit of a `Result`'s per-op table
(start_s/end_s per op), bars coloured by op kind, so overlap between units (NeuPIMs' NPU GEMMs of one
sub-batch beside the PIM's attention of the other) is visible; `overlap_s` and `overlapping_units` say
whether and how long units ran at once (a report includes the figure when `overlapping_units` is not empty).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd
import plotly.graph_objects as go

LANES = ("compute", "dma", "reload")
RELOAD_COLOR = "#d62728"
DMA_COLOR = "#9e9e9e"
TASK_COLORS = ("#1f77b4", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b")


def _merge(intervals: list[tuple[float, float]]) -> list[tuple[float, float]]:
    out: list[tuple[float, float]] = []
    for s, e in sorted(intervals):
        if out and s <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], e))
        else:
            out.append((s, e))
    return out


def segments(events: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """The bars of one design: lane, frame, task, start_s, end_s (compute: the frame's span; dma:
    merged transfers of the frame; reload: as given)."""
    rows: list[dict[str, Any]] = []
    by_frame: dict[tuple[str, int], list[Mapping[str, Any]]] = {}
    for ev in events:
        if ev["lane"] not in LANES:
            raise ValueError(f"event {ev.get('op')!r}: lane {ev['lane']!r}; expected one of {list(LANES)}")
        by_frame.setdefault((ev["lane"], ev["frame"]), []).append(ev)
    for (lane, frame), evs in sorted(by_frame.items(), key=lambda kv: (LANES.index(kv[0][0]), kv[0][1])):
        task = evs[0]["task"]
        if lane == "compute":
            spans = [(min(e["start_s"] for e in evs), max(e["end_s"] for e in evs))]
        elif lane == "dma":
            spans = _merge([(e["start_s"], e["end_s"]) for e in evs])
        else:
            spans = [(e["start_s"], e["end_s"]) for e in evs]
        rows += [{"lane": lane, "frame": frame, "task": task, "start_s": s, "end_s": e} for s, e in spans]
    return pd.DataFrame(rows, columns=["lane", "frame", "task", "start_s", "end_s"])


def switch_summary(traces: Mapping[str, Sequence[Mapping[str, Any]]]) -> pd.DataFrame:
    """Per design: frames, makespan_s, reloads, reload_s (total time of reload events)."""
    out = []
    for design, events in traces.items():
        rel = [e for e in events if e["lane"] == "reload"]
        out.append({"design": design, "frames": len({e["frame"] for e in events}),
                    "makespan_s": max((e["end_s"] for e in events), default=0.0), "reloads": len(rel),
                    "reload_s": sum(e["end_s"] - e["start_s"] for e in rel)})
    return pd.DataFrame(out)


def task_switch_figure(traces: Mapping[str, Sequence[Mapping[str, Any]]], title: str = "Task switching") -> go.Figure:
    """Horizontal bars (time in ms) per design and lane; one legend entry per task, plus dma and reload."""
    fig = go.Figure()
    tasks = list(dict.fromkeys(e["task"] for evs in traces.values() for e in evs))
    color = {t: TASK_COLORS[i % len(TASK_COLORS)] for i, t in enumerate(tasks)}
    shown: set[str] = set()
    order: list[str] = []
    for design, events in traces.items():
        seg = segments(events)
        for lane in LANES:
            row = f"{design} · {lane}"
            order.append(row)
            part = seg[seg["lane"] == lane]
            groups = part.groupby("task", sort=False) if lane == "compute" else [(lane, part)]
            for name, g in groups:
                if g.empty:
                    continue
                c = color[name] if lane == "compute" else (RELOAD_COLOR if lane == "reload" else DMA_COLOR)
                fig.add_bar(
                    name=str(name), legendgroup=str(name), showlegend=str(name) not in shown, orientation="h",
                    y=[row] * len(g), base=(g["start_s"] * 1e3).tolist(),
                    x=((g["end_s"] - g["start_s"]) * 1e3).tolist(), marker_color=c,
                    customdata=g[["frame", "task"]].values.tolist(),
                    hovertemplate="frame %{customdata[0]} (%{customdata[1]})<br>%{base:.3f} ms + %{x:.3f} ms"
                                  f"<extra>{row}</extra>")
                shown.add(str(name))
    fig.update_layout(barmode="overlay", title=title, xaxis_title="time (ms)", template="plotly_white",
                      yaxis={"categoryorder": "array", "categoryarray": order[::-1]}, legend_title="task / lane",
                      height=140 + 40 * len(order))
    return fig


# ---- unit timeline of one simulation (NPU/PIM overlap) ---------------------------------------------------


def busy_intervals(per_op: pd.DataFrame, unit: str) -> list[tuple[float, float]]:
    """Merged (start_s, end_s) intervals during which `unit` ran an op (from a Result's per-op table)."""
    part = per_op[per_op["unit"] == unit]
    return _merge(list(zip(part["start_s"].astype(float), part["end_s"].astype(float))))


def overlap_s(per_op: pd.DataFrame, a: str, b: str) -> float:
    """Seconds during which units `a` and `b` both ran ops."""
    ia, ib = busy_intervals(per_op, a), busy_intervals(per_op, b)
    total, i, j = 0.0, 0, 0
    while i < len(ia) and j < len(ib):  # both sorted and disjoint: one sweep
        (s1, e1), (s2, e2) = ia[i], ib[j]
        total += max(0.0, min(e1, e2) - max(s1, s2))
        if e1 <= e2:
            i += 1
        else:
            j += 1
    return total


def overlapping_units(per_op: pd.DataFrame) -> list[str]:
    """Units (first-seen order) that ran an op while another unit was running one; [] when none did."""
    units = [u for u in dict.fromkeys(per_op["unit"])]
    return [u for u in units if any(overlap_s(per_op, u, v) > 0 for v in units if v != u)]


def unit_timeline_figure(per_op: pd.DataFrame, title: str, max_ops: int = 4000) -> go.Figure:
    """Horizontal bars (time in µs): one row per unit, one bar per op coloured by kind (the first
    `max_ops` ops by start time), so NPU GEMMs beside PIM attention show as overlapping rows."""
    df = per_op.sort_values("start_s").head(max_ops)
    units = list(dict.fromkeys(df["unit"]))
    fig = go.Figure()
    for i, (kind, part) in enumerate(df.groupby("kind", sort=True)):
        fig.add_bar(name=str(kind), orientation="h", y=part["unit"].tolist(),
                    base=(part["start_s"] * 1e6).tolist(), x=((part["end_s"] - part["start_s"]) * 1e6).tolist(),
                    marker_color=TASK_COLORS[i % len(TASK_COLORS)], text=part["name"].tolist(),
                    hovertemplate="%{text}<br>%{base:.2f} µs + %{x:.2f} µs<extra></extra>")
    fig.update_layout(barmode="overlay", title=f"{title}: unit timeline", xaxis_title="time (µs)",
                      yaxis={"categoryorder": "array", "categoryarray": units[::-1]}, legend_title="op kind",
                      template="plotly_white", height=140 + 50 * len(units))
    return fig


def unit_timeline_section(per_op: pd.DataFrame, title: str, include_plotlyjs: bool | str = False,
                          always: bool = False) -> str:
    """An HTML section (heading, overlap line and the `unit_timeline_figure`) for a simulation report, or ""
    when no two units ran at once (nothing to show).  With `always`, the section is there whenever two or more
    units ran ops, zero overlap included (a NeuPIMs run whose runtime kept one batch shows that its NPU and PIM
    took turns)."""
    units = overlapping_units(per_op)
    if not units and always:
        units = [u for u in dict.fromkeys(per_op["unit"])]
    if len(units) < 2:
        return ""
    pairs = [(a, b) for i, a in enumerate(units) for b in units[i + 1:]]
    lines = ", ".join(f"{a} + {b}: {overlap_s(per_op, a, b) * 1e6:.3g} µs" for a, b in pairs)
    fig = unit_timeline_figure(per_op, title).to_html(full_html=False, include_plotlyjs=include_plotlyjs)
    return f"<h2>Unit timeline</h2><p>units running at once ({lines})</p>{fig}"
