"""The `dse` command: one entry point with verbs.

    dse workloads list | show NAME [--json]     the model zoo
    dse arch list | show NAME [--json]          accelerator presets
    dse sim --arch A --workload W [...]         simulate one workload on one accelerator, PPA report

Bad arguments (unknown names, invalid values, invalid specs) exit with code 2 and a one-line message.
"""

from __future__ import annotations

import functools
import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

app = typer.Typer(help="coex: accelerator co-design explorer.", no_args_is_help=True, add_completion=False,
                  pretty_exceptions_enable=False)
workloads_app = typer.Typer(help="List and inspect the model zoo.", no_args_is_help=True)
arch_app = typer.Typer(help="List and inspect accelerator presets.", no_args_is_help=True)
app.add_typer(workloads_app, name="workloads")
app.add_typer(arch_app, name="arch")

out = Console()
err = Console(stderr=True)


class UsageError(Exception):
    """A user mistake: reported in one line with exit code 2."""


def _user_errors(fn):
    """Turn validation errors into a one-line message and exit code 2."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from arch.loader import ArchError

        try:
            return fn(*args, **kwargs)
        except (UsageError, ArchError, ValueError, KeyError) as e:
            msg = e.args[0] if isinstance(e, KeyError) and e.args else str(e)
            err.print(f"[bold red]error:[/] {msg}", highlight=False, soft_wrap=True)
            raise typer.Exit(2) from None

    return wrapper


def _si(x: float, unit: str = "") -> str:
    for div, suffix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(x) >= div:
            return f"{x / div:.3g} {suffix}{unit}"
    return f"{x:.3g} {unit}".rstrip()


def _short(text: str, width: int = 48) -> str:
    """First clause of a source string, for list tables (`--json` prints it whole)."""
    text = text.split(" (")[0].split("; ")[0]
    return text if len(text) <= width else text[: width - 1] + "…"


def _print_json(obj: Any) -> None:
    sys.stdout.write(json.dumps(obj, indent=2, default=str) + "\n")


# ---- workloads -----------------------------------------------------------------------------------
@workloads_app.command("list")
@_user_errors
def workloads_list(as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False) -> None:
    """List the named workloads."""
    from workloads import zoo

    rows = []
    for name in zoo.names():
        cfg = zoo.config(name)
        g = zoo.load(name)
        rows.append({"name": name, "family": cfg.get("model_type", ""), "params": g.params,
                     "ops": len(g), "source": cfg.get("source", "")})
    if as_json:
        _print_json(rows)
        return
    table = Table(title="coex workload zoo (default phase and shapes; `dse workloads show NAME` for more)")
    for col in ("name", "family", "params", "ops", "source"):
        table.add_column(col, justify="right" if col in ("params", "ops") else "left",
                         no_wrap=col != "source", overflow="ellipsis")
    for r in rows:
        table.add_row(r["name"], r["family"], _si(r["params"]), str(r["ops"]), _short(r["source"]))
    out.print(table)


PHASES = ("prefill", "decode", "mixed")
PHASE_HELP = ("prefill, decode, or mixed: one continuous-batching step of --batch decode requests and --prefill "
              "prompts (llama, mistral, mixtral families)")
BATCH_HELP = "sequences per batch (with --phase mixed: decode requests, 0 or more)"
SEQ_LEN_HELP = "prompt tokens (prefill; with --phase mixed: of each --prefill prompt)"
KV_LEN_HELP = "context tokens (decode; with --phase mixed: of each decode request, default --seq-len)"
PREFILL_HELP = "prefill requests of a --phase mixed step, 0 or more (default 1)"


def _graph_kwargs(phase: str | None, batch: int | None, seq_len: int | None, kv_len: int | None,
                  prefill: int | None = None) -> dict:
    """``workloads.load`` keyword arguments of the shape options; a bad value is a `UsageError` naming it.

    ``--phase mixed`` (one continuous-batching step: ``--batch`` decode requests and ``--prefill`` prompts,
    either may be 0) is the only phase that takes ``--prefill``."""
    kw: dict[str, Any] = {}
    if phase is not None:
        if phase not in PHASES:
            raise UsageError(f"--phase must be one of {', '.join(PHASES)}, got {phase!r}")
        kw["phase"] = phase
    mixed = phase == "mixed"
    if prefill is not None and not mixed:
        raise UsageError(f"--prefill {prefill} needs --phase mixed (prefill requests share a continuous-batching "
                         f"step with --batch decode requests), got --phase {phase or '(the workload default)'}")
    for key, val in (("batch", batch), ("seq_len", seq_len), ("kv_len", kv_len), ("prefill", prefill)):
        if val is not None:
            if mixed and key in ("batch", "prefill"):
                if val < 0:
                    raise UsageError(f"--{key} must be 0 or more with --phase mixed, got {val}")
            elif val <= 0:
                raise UsageError(f"--{key.replace('_', '-')} must be positive, got {val}")
            kw[key] = val
    if mixed and batch == 0 and prefill == 0:
        raise UsageError("--batch 0 and --prefill 0: a mixed step needs at least one decode or prefill request")
    return kw


@workloads_app.command("show")
@_user_errors
def workloads_show(
    name: Annotated[str, typer.Argument(help="zoo name, e.g. llama2-7b")],
    phase: Annotated[str | None, typer.Option(help=PHASE_HELP)] = None,
    batch: Annotated[int | None, typer.Option(help=BATCH_HELP)] = None,
    seq_len: Annotated[int | None, typer.Option(help=SEQ_LEN_HELP)] = None,
    kv_len: Annotated[int | None, typer.Option(help=KV_LEN_HELP)] = None,
    prefill: Annotated[int | None, typer.Option(help=PREFILL_HELP)] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print totals as JSON")] = False,
) -> None:
    """Totals of one workload: parameters, FLOPs, weight bytes, op count by kind."""
    import workloads

    g = workloads.load(name, **_graph_kwargs(phase, batch, seq_len, kv_len, prefill))
    totals = g.totals()
    if as_json:
        _print_json(totals)
        return
    table = Table(title=f"{name}", show_header=False)
    table.add_column("quantity")
    table.add_column("value", justify="right")
    table.add_row("parameters", _si(totals["params"]))
    table.add_row("active parameters", _si(totals["active_params"]))
    table.add_row("FLOPs", _si(totals["flops"], "FLOP"))
    table.add_row("weight bytes", _si(totals["weight_bytes"], "B"))
    table.add_row("ops", str(totals["ops"]))
    for kind, n in totals["ops_by_kind"].items():
        table.add_row(f"  {kind}", str(n))
    out.print(table)


# ---- arch ----------------------------------------------------------------------------------------
@arch_app.command("list")
@_user_errors
def arch_list(as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False) -> None:
    """List the accelerator presets."""
    import arch

    rows = []
    for name in arch.preset_names():
        a = arch.load(name)
        rows.append({
            "name": name,
            "units": ", ".join(f"{u.name}:{u.type}" + (f"x{u.count}" if u.count > 1 else "") for u in a.units),
            "node_nm": a.tech.node_nm,
            "clock_hz": a.tech.clock_hz,
            "source": a.source or "",
        })
    if as_json:
        _print_json(rows)
        return
    table = Table(title="coex accelerator presets (`dse arch show NAME` for the whole spec)")
    for col in ("name", "units", "node", "clock", "source"):
        table.add_column(col, overflow="fold" if col == "units" else "ellipsis", no_wrap=col != "units")
    for r in rows:
        table.add_row(r["name"], r["units"], f"{r['node_nm']} nm", _si(r["clock_hz"], "Hz"), _short(r["source"]))
    out.print(table)


@arch_app.command("show")
@_user_errors
def arch_show(
    name: Annotated[str, typer.Argument(help="preset name or YAML path")],
    as_json: Annotated[bool, typer.Option("--json", help="print the validated spec as JSON")] = False,
) -> None:
    """Show one accelerator spec (validated, with `extends:` resolved)."""
    import arch

    a = arch.load(name)
    if as_json:
        _print_json(a.model_dump(mode="json"))
        return
    out.print(f"[bold]{a.name}[/]  {a.description or ''}")
    out.print(f"source: {a.source or '-'}")
    out.print(f"tech: {a.tech.node_nm} nm, {_si(a.tech.clock_hz, 'Hz')}")
    units = Table(title="units")
    for col in ("name", "type", "count", "spec"):
        units.add_column(col, overflow="fold")
    for u in a.units:
        spec = {k: v for k, v in u.model_dump().items() if k not in ("name", "type", "count", "source")}
        units.add_row(u.name, u.type, str(u.count), ", ".join(f"{k}={v}" for k, v in spec.items()))
    out.print(units)
    mem = Table(title="memory")
    for col in ("name", "kind", "capacity", "bandwidth"):
        mem.add_column(col)
    for m in a.memory:
        bw = _si(m.bytes_per_s(a.tech.clock_hz), "B/s")
        mem.add_row(m.name, m.kind, _si(m.capacity_bytes, "B"), bw)
    out.print(mem)


def _parse_sets(sets: list[str]) -> dict[str, Any]:
    import yaml

    overrides: dict[str, Any] = {}
    for item in sets:
        if "=" not in item:
            raise UsageError(f"--set expects KEY=VALUE (e.g. units.mxu.rows=64), got {item!r}")
        key, value = item.split("=", 1)
        overrides[key.strip()] = yaml.safe_load(value)
    return overrides


def _register_sim() -> None:
    from dse import sim_cmd  # noqa: F401  (registers `dse sim`)
    from dse import rtl_cmd  # noqa: F401  (registers `dse rtl synth` and `dse rtl verify`)
    from dse import run_cmd  # noqa: F401  (registers `dse run` and `dse report`)
    from dse import tasks_cmd  # noqa: F401  (registers `dse tasks`)
    from dse import coe_cmd  # noqa: F401  (registers `dse coe`)


def main() -> None:
    """Console-script entry point."""
    app()


_register_sim()
