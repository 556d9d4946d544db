"""`dse sim`: simulate one workload on one accelerator, print a PPA table, optionally write a report."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from dse.cli import UsageError, _graph_kwargs, _parse_sets, _print_json, _si, _user_errors, app, out


@app.command("sim")
@_user_errors
def sim(
    arch_name: Annotated[str, typer.Option("--arch", help="preset name or YAML path")] = "tpu-v1",
    workload: Annotated[str, typer.Option("--workload", help="zoo name (see `dse workloads list`)")] = "bert-base",
    phase: Annotated[str | None, typer.Option(help="prefill or decode")] = None,
    batch: Annotated[int | None, typer.Option(help="sequences per batch")] = None,
    seq_len: Annotated[int | None, typer.Option(help="prompt tokens (prefill)")] = None,
    kv_len: Annotated[int | None, typer.Option(help="context tokens (decode)")] = None,
    set_: Annotated[list[str] | None, typer.Option("--set", help="override a spec field, e.g. units.mxu.rows=64")] = None,
    out_dir: Annotated[Path | None, typer.Option("--out", help="write report.html, report.md, per_op.csv/.parquet, "
                                                 "summary.json here")] = None,
    top: Annotated[int, typer.Option(help="rows of the per-layer table to print")] = 15,
    as_json: Annotated[bool, typer.Option("--json", help="print the summary as JSON only")] = False,
) -> None:
    """Simulate WORKLOAD on ARCH: per-layer and total cycles, latency, utilisation, energy, power, area."""
    import arch
    import sim as simulator
    import workloads

    accelerator = arch.load(arch_name, _parse_sets(set_ or []))
    graph = workloads.load(workload, **_graph_kwargs(phase, batch, seq_len, kv_len))
    if out_dir is not None and out_dir.exists() and not out_dir.is_dir():
        raise UsageError(f"--out {out_dir} exists and is not a directory")
    result = simulator.simulate(graph, accelerator)
    s = result.summary
    if out_dir is not None:
        from reports.ppa import write_sim_report

        paths = write_sim_report(result, out_dir, title=f"{workload} on {accelerator.name}")
    if as_json:
        _print_json({"workload": workload, "arch": accelerator.name, **s})
        return

    from reports.ppa import per_layer

    layers = per_layer(result.per_op)
    table = Table(title=f"{workload} on {accelerator.name}: per layer (top {min(top, len(layers))} by latency)")
    for col in ("layer", "ops", "cycles", "latency", "util", "energy"):
        table.add_column(col, justify="right" if col != "layer" else "left")
    for _, r in layers.sort_values("latency_s", ascending=False).head(top).iterrows():
        table.add_row(str(r["layer"]), str(int(r["ops"])), f"{int(r['cycles']):,}", _si(r["latency_s"], "s"),
                      f"{r['utilization']:.1%}", _si(r["energy_j"], "J"))
    out.print(table)
    tot = Table(title="total", show_header=False)
    tot.add_column("quantity")
    tot.add_column("value", justify="right")
    tot.add_row("cycles", f"{int(s['cycles']):,}")
    tot.add_row("latency", _si(s["latency_s"], "s"))
    tot.add_row("throughput", f"{s['throughput']:.4g} /s")
    if "tokens_per_s" in s:
        tot.add_row("tokens/s", f"{s['tokens_per_s']:.4g}")
    tot.add_row("utilization", f"{s['utilization']:.1%}")
    tot.add_row("energy", _si(s["energy_j"], "J"))
    tot.add_row("power", _si(s["power_w"], "W"))
    tot.add_row("area", f"{s['area_mm2']:.4g} mm²")
    out.print(tot)
    if out_dir is not None:
        out.print(f"report: {paths['html']}")
