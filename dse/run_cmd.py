"""`dse run` and `dse report`: explore a design space, then report on the run.

    dse run SPACE.yaml --out RUN_DIR [--workers N]     a new run (RUN_DIR must not hold one)
    dse run SPACE.yaml --resume RUN_DIR [--workers N]  carry on a killed or finished run
    dse run ... --backend ray [--workers N]            the same on Ray (the dist extra): a local
                                                       cluster of N CPUs, or the one RAY_ADDRESS names
    dse report RUN_DIR [--out DIR]                     report.html, points.csv, points.parquet, layers.csv
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from dse.cli import UsageError, _print_json, _user_errors, app, out


@app.command("run")
@_user_errors
def run_cmd(
    space_file: Annotated[Path, typer.Argument(help="space YAML (base preset, axes, workloads, objectives, "
                                                    "constraints, strategy)", metavar="SPACE.yaml")],
    out_dir: Annotated[Path | None, typer.Option("--out", help="new run directory for results.sqlite")] = None,
    resume: Annotated[Path | None, typer.Option("--resume", help="run directory to carry on")] = None,
    workers: Annotated[int, typer.Option("--workers", "-j", help="worker processes (1: evaluate in this process)")] = 1,
    backend: Annotated[str, typer.Option("--backend", help="local (this process or a process pool) or ray "
                                                           "(Ray actors; needs the dist extra)")] = "local",
    progress: Annotated[bool, typer.Option("--progress/--no-progress", help="show a progress bar")] = True,
    as_json: Annotated[bool, typer.Option("--json", help="print the run summary as JSON")] = False,
) -> None:
    """Explore SPACE: evaluate its points in a process pool, storing each in RUN_DIR/results.sqlite."""
    from dse.runner import check_backend, run
    from dse.space import Space

    if (out_dir is None) == (resume is None):
        raise UsageError("give exactly one of --out RUN_DIR (a new run) or --resume RUN_DIR")
    if workers < 1:
        raise UsageError(f"--workers must be at least 1, got {workers}")
    check_backend(backend)
    space = Space.from_yaml(space_file)
    run_dir = resume if resume is not None else out_dir
    assert run_dir is not None
    summary = run(space, run_dir, workers=workers, resume=resume is not None, progress=progress and not as_json,
                  space_text=space_file.read_text(), backend=backend)
    if as_json:
        _print_json(summary.as_dict())
        return
    table = Table(title=f"{space.name}: {space.strategy.name}, seed {space.strategy.seed}", show_header=False)
    table.add_column("quantity")
    table.add_column("value", justify="right")
    table.add_row("points in store", str(summary.total))
    table.add_row("evaluated now", str(summary.evaluated))
    table.add_row("taken from the store", str(summary.resumed))
    table.add_row("failed", str(summary.errors))
    table.add_row("infeasible", str(summary.infeasible))
    table.add_row("time", f"{summary.elapsed_s:.2f} s")
    table.add_row("points/s", f"{summary.points_per_s:.1f}")
    if summary.layers:
        table.add_row("per-layer tables written", f"{summary.layers} ({summary.layers_s:.2f} s)")
    for metric, b in summary.best.items():
        params = ", ".join(f"{k}={v}" for k, v in b["params"].items())
        table.add_row(f"best {metric}", f"{b['value']:.4g}  ({params})")
    out.print(table)
    out.print(f"results: {run_dir / 'results.sqlite'}  (report: dse report {run_dir})")


@app.command("report")
@_user_errors
def report_cmd(
    run_dir: Annotated[Path, typer.Argument(help="a run directory made by `dse run`")],
    out_dir: Annotated[Path | None, typer.Option("--out", help="write here instead of RUN_DIR")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the written paths as JSON")] = False,
) -> None:
    """Write RUN_DIR/report.html (Pareto front, hypervolume, parallel coordinates, sensitivity,
    best designs and their per-layer breakdowns) and every point as points.csv and points.parquet
    (with layers.csv when the run stored per-layer tables)."""
    from reports.dse_report import write_dse_report

    if not run_dir.is_dir():
        raise UsageError(f"{run_dir}: no such run directory")
    paths = write_dse_report(run_dir, out_dir)
    if as_json:
        _print_json({k: str(v) for k, v in paths.items()})
        return
    for kind, p in paths.items():
        out.print(f"{kind}: {p}")
