"""`dse tasks`: M3ViT's task switching on the command line -- frames of a multi-task MoE workload run back to
back in a task sequence, with and without M3ViT's computation reordering, as a table, a verdict line and
(``--out``) a Plotly timeline.

The model is `sim.fpga.task_switch_trace` (``expert_major`` = "reordered", ``task_resident`` = "no
reordering"); the figure and its summary are `reports.timeline.task_switch_figure` / `switch_summary`.  This
module only validates the options, builds the traces and prints or writes what they contain:

- ``compute_s`` of a design is its makespan less its reload time (reloads run alone, before the frame that
  needs them, so the rest of the trace is the frames' own run time);
- ``reload_bytes`` sums the ``bytes`` of its reload events;
- the verdict compares the two designs: reloads and reload time removed by reordering, and that time as a
  share of the no-reordering trace's makespan.
"""

from __future__ import annotations

import html
import json
import math
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from dse.cli import UsageError, _parse_sets, _print_json, _user_errors, app, out

#: --schedule value -> {design label: `task_switch_trace` schedule}; labels as in tests/validation/test_m3vit.py.
DESIGNS = {"expert_major": "reordered", "task_resident": "no reordering"}
SCHEDULE_CHOICES = ("both", *DESIGNS)
DEFAULT_FRAMES = 4


def workload_tasks(workload: str) -> list[str]:
    """The task names of zoo entry `workload`; a `UsageError` when it has none (not a multi-task MoE)."""
    from workloads import zoo

    tasks = zoo.config(workload).get("tasks")  # an unknown name: zoo's ValueError lists the known ones
    if not tasks:
        multi = [n for n in zoo.names() if zoo.config(n).get("tasks")]
        raise UsageError(f"--workload {workload!r} has no tasks; expected a multi-task MoE zoo entry (a config "
                         f"with 'tasks'): {', '.join(multi) or 'none in the zoo'}")
    return list(tasks)


def parse_sequence(text: str | None, tasks: list[str]) -> list[str]:
    """``--sequence`` (comma-separated task names) as a list; default: the first two of `tasks` alternating
    for `DEFAULT_FRAMES` frames.  Empty, blank or unknown names are `UsageError`s naming them."""
    if text is None:
        pair = tasks[:2]
        return [pair[i % len(pair)] for i in range(DEFAULT_FRAMES)]
    names = [t.strip() for t in text.split(",")]
    if not any(names):
        raise UsageError(f"--sequence {text!r} is empty; expected comma-separated task names from "
                         f"{', '.join(tasks)}, e.g. {','.join(tasks[:2] * 2)}")
    if not all(names):
        raise UsageError(f"--sequence {text!r} has an empty task name (two commas, or a leading/trailing one); "
                         f"expected comma-separated task names from {', '.join(tasks)}")
    unknown = list(dict.fromkeys(t for t in names if t not in tasks))
    if unknown:
        raise UsageError(f"--sequence names unknown task{'s' if len(unknown) > 1 else ''} "
                         f"{', '.join(map(repr, unknown))}; the workload's tasks are {', '.join(tasks)}")
    return names


def designs_for(schedule: str) -> dict[str, str]:
    """{design label: trace schedule} for ``--schedule`` (both, expert_major or task_resident)."""
    if schedule not in SCHEDULE_CHOICES:
        raise UsageError(f"--schedule {schedule!r} is not a schedule; expected one of {', '.join(SCHEDULE_CHOICES)} "
                         f"(expert_major = reordered, task_resident = no reordering)")
    return {label: s for s, label in DESIGNS.items() if schedule in ("both", s)}


def check_accelerator(acc: Any) -> Any:
    """The first off-chip tier of `acc` (the one `task_switch_trace` reloads experts over); a `UsageError`
    unless `acc` has an FPGA unit (M3ViT's engines) and an off-chip tier."""
    if not acc.units_of("fpga"):
        raise UsageError(f"--arch {acc.name!r} has no FPGA unit (units: "
                         f"{', '.join(f'{u.name}:{u.type}' for u in acc.units)}); task switching models M3ViT's "
                         f"FPGA engines: expected an accelerator with a unit of type fpga, e.g. m3vit-zcu104")
    if not acc.off_chip:
        raise UsageError(f"--arch {acc.name!r} has no off-chip memory tier (tiers: "
                         f"{', '.join(f'{m.name}:{m.kind}' for m in acc.memory) or 'none'}); expert weights stream "
                         f"and reload over one: expected an off-chip tier such as ddr4")
    return acc.off_chip[0]


def build_traces(workload: str, sequence: list[str], acc: Any, designs: dict[str, str]) -> dict[str, list[dict]]:
    """{design label: `sim.fpga.task_switch_trace` events} for `sequence` of single-task frames of `workload`."""
    from sim import fpga
    from workloads import zoo

    frames = {t: zoo.load(workload, tasks=[t]) for t in dict.fromkeys(sequence)}
    for t, g in frames.items():
        if not fpga.moe_layers(g):
            raise UsageError(f"--workload {workload!r}, task {t!r}: no MoE layers (ROUTER ops with expert-tagged "
                             f"ops); expected a multi-task MoE workload such as m3vit")
    return {label: fpga.task_switch_trace(frames, sequence, acc, schedule=s) for label, s in designs.items()}


def summary_rows(traces: dict[str, list[dict]]) -> list[dict[str, Any]]:
    """`reports.timeline.switch_summary` per design plus compute_s and reload_bytes (module docstring)."""
    from reports.timeline import switch_summary

    rows = []
    for r in switch_summary(traces).to_dict(orient="records"):
        events = traces[r["design"]]
        rows.append({"design": r["design"], "frames": int(r["frames"]), "reloads": int(r["reloads"]),
                     "reload_s": float(r["reload_s"]), "compute_s": float(r["makespan_s"] - r["reload_s"]),
                     "makespan_s": float(r["makespan_s"]),
                     "reload_bytes": math.fsum(e.get("bytes", 0.0) for e in events if e["lane"] == "reload")})
    return rows


def verdict(rows: list[dict[str, Any]]) -> dict[str, Any] | None:
    """What reordering removes (reloads, seconds, share of the no-reordering makespan); None unless both
    designs ran."""
    by = {r["design"]: r for r in rows}
    if set(by) != set(DESIGNS.values()):
        return None
    new, old = by["reordered"], by["no reordering"]
    saved = old["reload_s"] - new["reload_s"]
    share = saved / old["makespan_s"] if old["makespan_s"] > 0 else 0.0
    return {"reloads_removed": old["reloads"] - new["reloads"], "reload_s_removed": saved, "share": share,
            "line": f"reordering removes {old['reloads'] - new['reloads']} reloads, {saved * 1e3:.3f} ms "
                    f"({share:.1%} of the trace)"}


def write_outputs(out_dir: Path, traces: dict[str, list[dict]], summary: dict[str, Any], title: str) -> dict[str, Path]:
    """task_switch.html (the figure, plotly.js inlined, and the summary table), task_switch.csv (one row per
    event of every design) and summary.json under `out_dir`."""
    import pandas as pd

    from reports.timeline import task_switch_figure

    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {"html": out_dir / "task_switch.html", "csv": out_dir / "task_switch.csv",
             "json": out_dir / "summary.json"}
    events = pd.DataFrame([{"design": d, "frame": e["frame"], "task": e["task"], "lane": e["lane"], "op": e["op"],
                            "start_s": e["start_s"], "end_s": e["end_s"], "bytes": e.get("bytes", 0.0)}
                           for d, evs in traces.items() for e in evs],
                          columns=["design", "frame", "task", "lane", "op", "start_s", "end_s", "bytes"])
    events.to_csv(paths["csv"], index=False)
    fig = task_switch_figure(traces, title=title)
    table = pd.DataFrame(summary["designs"]).to_html(index=False, float_format=lambda v: f"{v:.6g}")
    line = f"<p>{html.escape(summary['verdict']['line'])}</p>" if summary["verdict"] else ""
    page = ("<!doctype html><html><head><meta charset='utf-8'><title>" + html.escape(title) + "</title></head><body>"
            + fig.to_html(full_html=False, include_plotlyjs=True, config={"responsive": True}) + line + table
            + "</body></html>")
    paths["html"].write_text(page, encoding="utf-8")
    paths["json"].write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    return paths


@app.command("tasks")
@_user_errors
def tasks(
    arch_name: Annotated[str, typer.Option("--arch", help="FPGA preset name or YAML path")] = "m3vit-zcu104",
    workload: Annotated[str, typer.Option("--workload", help="multi-task MoE zoo name (with tasks)")] = "m3vit",
    sequence: Annotated[str | None, typer.Option("--sequence", help="comma-separated task names, one per frame "
                                                 "(default: the first two tasks alternating, 4 frames)")] = None,
    schedule: Annotated[str, typer.Option("--schedule", help="both, expert_major (reordered) or task_resident "
                                          "(no reordering)")] = "both",
    set_: Annotated[list[str] | None, typer.Option("--set", help="override a spec field, e.g. "
                                                   "memory.ddr.bandwidth_gbps=10")] = None,
    out_dir: Annotated[Path | None, typer.Option("--out", help="write task_switch.html (timeline), task_switch.csv "
                                                 "(events) and summary.json here")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the summary as JSON only")] = False,
) -> None:
    """Run frames of a multi-task MoE workload back to back in --sequence order on an FPGA, with and without
    M3ViT's computation reordering, and report what switching task costs.

    Reordered (expert_major): tokens are queued per expert and each expert runs on its whole queue while the
    next expert's weights stream from off-chip memory under compute, so every frame streams its experts once
    and no on-chip state depends on the task: a task change reloads nothing.  No reordering (task_resident):
    a token-order engine keeps the active task's routed experts on chip across frames and reloads them over the
    first off-chip tier (DDR) before the first frame and on every task change; each reload takes its bytes /
    that tier's bandwidth.

    Prints per design: frames, reloads, reload time, compute time (the frames' run time), total time and
    reload bytes, times in ms, and "reordering removes N reloads, X ms (Y% of the trace)".
    Example: dse tasks --sequence semseg,depth,semseg,depth --out runs/tasks
    """
    import arch

    designs = designs_for(schedule)
    task_names = workload_tasks(workload)
    seq = parse_sequence(sequence, task_names)
    if out_dir is not None and out_dir.exists() and not out_dir.is_dir():
        raise UsageError(f"--out {out_dir} exists and is not a directory")
    acc = arch.load(arch_name, _parse_sets(set_ or []))
    tier = check_accelerator(acc)
    traces = build_traces(workload, seq, acc, designs)
    rows = summary_rows(traces)
    v = verdict(rows)
    title = f"Task switching: {workload} on {acc.name}, {len(seq)} frames"
    summary = {"workload": workload, "arch": acc.name, "sequence": seq, "tasks": task_names,
               "reload_tier": {"name": tier.name, "kind": tier.kind,
                               "bytes_per_s": tier.bytes_per_s(acc.tech.clock_hz)},
               "designs": rows, "verdict": v}
    paths = write_outputs(out_dir, traces, summary, title) if out_dir is not None else {}
    if as_json:
        _print_json({**summary, "files": {k: str(p) for k, p in paths.items()}})
        return
    table = Table(title=f"{title}: {', '.join(seq)}")
    for col in ("design", "frames", "reloads", "reload ms", "compute ms", "total ms", "reload MB"):
        table.add_column(col, justify="left" if col == "design" else "right", no_wrap=col == "design")
    for r in rows:
        table.add_row(r["design"], str(r["frames"]), str(r["reloads"]), f"{r['reload_s'] * 1e3:.3f}",
                      f"{r['compute_s'] * 1e3:.3f}", f"{r['makespan_s'] * 1e3:.3f}", f"{r['reload_bytes'] / 1e6:.3f}")
    out.print(table)
    out.print(f"reloads over {tier.name} ({tier.kind}) at {tier.bytes_per_s(acc.tech.clock_hz) / 1e9:.4g} GB/s",
              markup=False)
    if v is not None:
        out.print(v["line"], markup=False)
    for kind, p in paths.items():
        out.print(f"{kind}: {p}", markup=False)
