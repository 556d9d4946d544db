"""`dse sim`: simulate one workload on one accelerator, print a PPA table, optionally write a report.
`dse sim --phase mixed`: one continuous-batching step (``--batch`` decode requests + ``--prefill`` prompts,
`workloads.zoo`), with the busy time split into prefill attention, decode attention and shared ops.
`dse precision`: the same workload at W16A16, W8A8, W4A8, W4A16 and W2A8 on each PE type, one Plotly chart.

Operand formats (`dse sim --w-bits/--a-bits/--w-format/--a-format/--group-size`)
--------------------------------------------------------------------------------
The options set the formats of the workload's linear layers (``workloads.load``'s ``w_format``,
``a_format``, ``group_size``): ``--w-bits`` 2, 4, 8 are int2/int4/int8 weights and 16 is fp16;
``--a-bits`` 8 is int8 activations and 16 fp16; ``--w-format``/``--a-format`` name any format the
workloads know (bf16, fp8, ternary, ...).  ``--group-size`` (elements of K sharing a scale and zero point)
applies to integer weights only.  When formats are given, each systolic unit's PE type must run them
(`runs_on`): a PE without dequantisation (int8, fp16, ternary, ...) takes exactly its own weight and
activation formats; a dequantising PE (``w4a8-dequant``, ``mixpe-w4a8``, ...) takes integer weights no
wider than its own with its own activation format; a precision-scalable PE (``bitfusion``, ``ant``: `arch.pe`
``slice_bits``) takes any integer weights and activations, at a rate set by their widths.  A combination no PE
of the accelerator runs is an error naming the unit, its PE type, what it takes and the PE types that would run
it (``--set units.<unit>.pe=<type>``).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from dse.cli import (BATCH_HELP, KV_LEN_HELP, PHASE_HELP, PREFILL_HELP, SEQ_LEN_HELP, UsageError, _graph_kwargs,
                     _parse_sets, _print_json, _si, _user_errors, app, out)


@app.command("sim")
@_user_errors
def sim(
    arch_name: Annotated[str, typer.Option("--arch", help="preset name or YAML path")] = "tpu-v1",
    workload: Annotated[str, typer.Option("--workload", help="zoo name (see `dse workloads list`)")] = "bert-base",
    phase: Annotated[str | None, typer.Option(help=PHASE_HELP)] = None,
    batch: Annotated[int | None, typer.Option(help=BATCH_HELP)] = None,
    seq_len: Annotated[int | None, typer.Option(help=SEQ_LEN_HELP)] = None,
    kv_len: Annotated[int | None, typer.Option(help=KV_LEN_HELP)] = None,
    prefill: Annotated[int | None, typer.Option(help=PREFILL_HELP)] = None,
    set_: Annotated[list[str] | None, typer.Option("--set", help="override a spec field, e.g. units.mxu.rows=64")] = None,
    out_dir: Annotated[Path | None, typer.Option("--out", help="write report.html, report.md, per_op.csv/.parquet, "
                                                 "summary.json here")] = None,
    top: Annotated[int, typer.Option(help="rows of the per-layer table to print")] = 15,
    as_json: Annotated[bool, typer.Option("--json", help="print the summary as JSON only")] = False,
    w_bits: Annotated[int | None, typer.Option("--w-bits", help="linear-layer weights: 2, 4, 8 (int) or 16 "
                                               "(fp16)")] = None,
    a_bits: Annotated[int | None, typer.Option("--a-bits", help="linear-layer activations: 8 (int8) or 16 "
                                               "(fp16)")] = None,
    w_format: Annotated[str | None, typer.Option("--w-format", help="weight format by name (int4, fp8, "
                                                 "ternary, bf16, ...) instead of --w-bits")] = None,
    a_format: Annotated[str | None, typer.Option("--a-format", help="activation format by name instead of "
                                                 "--a-bits")] = None,
    group_size: Annotated[int | None, typer.Option("--group-size", help="weights per quantisation group "
                                                   "(integer weights only), e.g. 128")] = None,
    requests: Annotated[Path | None, typer.Option("--requests", help="CSV of the decode requests, one row each: "
                                                  "seq_len (context tokens) and optionally ch_idx (the memory channel "
                                                  "holding its KV cache; NeuPIMs' request-trace format). Sets --batch "
                                                  "to the rows and --kv-len, unless given, to their mean; an in-bank "
                                                  "PIM's attention takes as long as its busiest channel")] = None,
) -> None:
    """Simulate WORKLOAD on ARCH: per-layer and total cycles, latency, utilisation, energy, power, area.

    Quantised LLM example: dse sim --arch mixpe --workload llama2-7b --w-bits 4 --a-bits 8 --group-size 128.
    The format options set the linear layers' weights and activations; each systolic unit's PE type
    must run them (else an error lists the PE types that do: --set units.<unit>.pe=<type>).

    Continuous batching: dse sim --arch duplex --workload mixtral-8x7b --phase mixed --batch 64 --prefill 2
    --seq-len 512 --kv-len 1024 simulates one serving step in which 64 running requests decode one token
    each over 1024 cached positions while 2 new 512-token prompts are prefilled (llama, mistral, mixtral
    families); the report splits the busy time into prefill attention, decode attention and shared ops.

    Request traces: dse sim --arch neupims --workload gpt3-175b --requests data/neupims/share-gpt2-bs512-ms7B-tp4-rr-0.csv
    decodes one token for each request of the CSV (seq_len, optionally ch_idx); an in-bank PIM's attention takes
    as long as its busiest channel (shown as "busiest PIM channel"); without ch_idx the PIM unit's
    channel_balance (greedy or round_robin) places the requests.
    """
    import arch
    import sim as simulator
    import workloads

    accelerator = arch.load(arch_name, _parse_sets(set_ or []))
    fmt = format_kwargs(w_bits, a_bits, w_format, a_format, group_size)
    if fmt:
        check_formats(accelerator, fmt.get("w_format", "fp16"), fmt.get("a_format", "fp16"))
    lens = chans = None
    if requests is not None:
        lens, chans = read_requests(requests)
        if phase not in (None, "decode", "mixed"):
            raise UsageError(f"--requests gives decode requests: it needs --phase decode or mixed, got --phase {phase}")
        if batch is not None and batch != len(lens):
            raise UsageError(f"--batch {batch} but --requests {requests} lists {len(lens)} requests; give one or the "
                             f"other")
        phase, batch = phase or "decode", len(lens)
        kv_len = kv_len or max(1, round(sum(lens) / len(lens)))
    graph = workloads.load(workload, **_graph_kwargs(phase, batch, seq_len, kv_len, prefill), **fmt)
    if lens is not None:
        graph.meta["context_lens"] = lens
        if chans is not None:
            graph.meta["context_channels"] = chans
    if out_dir is not None and out_dir.exists() and not out_dir.is_dir():
        raise UsageError(f"--out {out_dir} exists and is not a directory")
    result = simulator.simulate(graph, accelerator)
    s = result.summary
    from reports.measured import measured_layer

    measured = measured_layer(graph, accelerator, result)  # a measured layer of this exact shape, if any
    if measured is not None:
        s["measured"] = measured
    if out_dir is not None:
        from reports.ppa import write_sim_report

        paths = write_sim_report(result, out_dir, title=f"{workload} on {accelerator.name}")
    step = graph.meta if "prefill" in graph.meta else None  # a continuous-batching step (workloads.serving)
    if as_json:
        extra = {}
        if step is not None:
            extra = {"step": {k: step[k] for k in ("decode", "context_len", "prefill", "prompt_len", "tokens")},
                     "busy_s_by_phase": phase_split(result)}
        _print_json({"workload": workload, "arch": accelerator.name, **s, **extra})
        return

    from reports.ppa import layer_rows, top_layers

    layers = layer_rows(result)  # plain Python: the console path imports no pandas
    table = Table(title=f"{workload} on {accelerator.name}: per layer (top {min(top, len(layers))} by latency)")
    for col in ("layer", "ops", "cycles", "latency", "util", "energy"):
        table.add_column(col, justify="right" if col != "layer" else "left")
    for r in top_layers(layers, top):
        table.add_row(str(r["layer"]), str(int(r["ops"])), f"{int(r['cycles']):,}", _si(r["latency_s"], "s"),
                      f"{r['utilization']:.1%}", _si(r["energy_j"], "J"))
    out.print(table)
    for line in measured["lines"] if measured is not None else []:
        out.print(line, markup=False)
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
    if fmt:
        tot.add_row("linear-layer formats", ", ".join(f"{k}={v}" for k, v in fmt.items()))
    if "pim_channel_skew" in s:
        tot.add_row("busiest PIM channel", f"{s['pim_channel_skew']:.3g}x the mean channel's PIM time")
    if step is not None:
        tot.add_row("step", f"{step['decode']} decode (kv {step['context_len']}) + {step['prefill']} prefill "
                            f"({step['prompt_len']} tokens)")
        for part, units in phase_split(result).items():
            tot.add_row(f"busy: {part}", _split_row(units))
    out.print(tot)
    for note in s.get("notes", []):
        out.print(f"note: {note}", markup=False)
    if out_dir is not None:
        out.print(f"report: {paths['html']}")


def read_requests(path: Path) -> tuple[list[int], list[int] | None]:
    """(context lengths, channels or None) of the decode requests in CSV `path` (``--requests``): a header with
    ``seq_len`` and optionally ``ch_idx``, one row per request; anything else is a `UsageError` naming the row."""
    import csv

    try:
        with open(path, newline="") as f:
            rows = list(csv.DictReader(f))
    except OSError as e:
        raise UsageError(f"--requests {path}: cannot read it ({e.strerror or e})") from None
    if not rows or "seq_len" not in rows[0]:
        raise UsageError(f"--requests {path}: expected a CSV header with a seq_len column (and optionally ch_idx) "
                         f"and one row per request, got {'no rows' if not rows else 'columns ' + str(list(rows[0]))}")
    has_ch = "ch_idx" in rows[0]
    lens, chans = [], []
    columns = (("seq_len", 1, lens), ("ch_idx", 0, chans)) if has_ch else (("seq_len", 1, lens),)
    for n, row in enumerate(rows, start=2):
        for key, low, dest in columns:
            try:
                val = int(row[key])
            except (TypeError, ValueError):
                val = None
            if val is None or val < low:
                raise UsageError(f"--requests {path}, line {n}: {key} must be an integer >= {low}, got {row[key]!r}")
            dest.append(val)
    return lens, (chans if has_ch else None)


#: `phase_split` rows: the ops' ``phase`` tag -> the row's name.
PHASE_PARTS = {"prefill": "prefill attention", "decode": "decode attention", "mixed": "shared ops"}


def phase_split(result) -> dict[str, dict[str, float]]:
    """Busy time (sum of the ops' latency_s, overlapped ops both count) of a mixed step's ops by their
    ``phase`` tag -- prefill attention, decode attention and the shared ops (projections, MLP/experts, norms,
    head) that run once over the tokens of both -- and, within each, by unit (largest first)."""
    busy: dict[str, dict[str, list[float]]] = {p: {} for p in PHASE_PARTS.values()}
    for p, u, t in zip(result.column("tag_phase"), result.column("unit"), result.column("latency_s")):
        busy.setdefault(PHASE_PARTS.get(p, str(p)), {}).setdefault(u, []).append(t)
    out = {}
    for part, units in busy.items():
        sums = {u: math.fsum(v) for u, v in units.items()}
        out[part] = dict(sorted(sums.items(), key=lambda kv: -kv[1]))
    return out


def _split_row(units: dict[str, float]) -> str:
    total = _si(math.fsum(units.values()), "s")
    if len(units) == 1:
        return f"{total} ({next(iter(units))})"
    return total + (" (" + ", ".join(f"{u} {_si(t, 's')}" for u, t in units.items()) + ")" if units else "")


# ---- operand formats ---------------------------------------------------------------------------------
W_BITS_FORMAT = {2: "int2", 4: "int4", 8: "int8", 16: "fp16"}
A_BITS_FORMAT = {8: "int8", 16: "fp16"}
INT_WEIGHT_BITS = {"int2": 2, "int4": 4, "int8": 8}


def format_kwargs(w_bits: int | None = None, a_bits: int | None = None, w_format: str | None = None,
                  a_format: str | None = None, group_size: int | None = None) -> dict[str, Any]:
    """``workloads.load`` keyword arguments for the format options of `dse sim` (module docstring); a bad or
    contradictory option is a `UsageError` naming it."""
    from workloads.config import FORMAT_BITS

    kw: dict[str, Any] = {}
    for flag, bits, name, table, key in (("--w-bits", w_bits, w_format, W_BITS_FORMAT, "w_format"),
                                         ("--a-bits", a_bits, a_format, A_BITS_FORMAT, "a_format")):
        fmt_flag = flag.replace("bits", "format")
        if bits is not None and name is not None:
            raise UsageError(f"give {flag} or {fmt_flag}, not both ({flag} {bits}, {fmt_flag} {name})")
        if bits is not None:
            if bits not in table:
                raise UsageError(f"{flag} {bits} is not supported; expected one of {', '.join(map(str, table))} "
                                 f"({', '.join(f'{b}={f}' for b, f in table.items())}); other formats by name "
                                 f"with {fmt_flag}")
            kw[key] = table[bits]
        elif name is not None:
            if name not in FORMAT_BITS:
                raise UsageError(f"{fmt_flag} {name!r} is not a format; expected one of "
                                 f"{', '.join(sorted(FORMAT_BITS))}")
            kw[key] = name
    if group_size is not None:
        if group_size <= 0:
            raise UsageError(f"--group-size must be positive, got {group_size}")
        wf = kw.get("w_format", "fp16")
        if wf not in INT_WEIGHT_BITS:
            raise UsageError(f"--group-size {group_size} needs integer weights (--w-bits 2, 4 or 8), but the "
                             f"weights are {wf}: per-group scales belong to quantised weights")
        kw["group_size"] = group_size
    return kw


def runs_on(pe_name: str, w_format: str, a_format: str) -> bool:
    """Whether PE type `pe_name` runs linear layers with `w_format` weights and `a_format` activations: a PE
    without dequantisation takes exactly its own formats; a dequantising one integer weights no wider than
    its own, with its own activation format; a precision-scalable one without dequantisation any integers."""
    from arch.pe import PE_TYPES

    pe = PE_TYPES[pe_name]
    if pe.scalable and pe.dequant == "none":  # fused slices: any integer widths (sim.systolic.FUSABLE_FORMATS)
        from sim.systolic import FUSABLE_FORMATS

        return w_format in FUSABLE_FORMATS and a_format in FUSABLE_FORMATS
    if a_format != pe.a_format:
        return False
    if pe.dequant == "none":
        return w_format == pe.w_format
    return w_format in INT_WEIGHT_BITS and INT_WEIGHT_BITS[w_format] <= INT_WEIGHT_BITS.get(pe.w_format, 0)


def check_formats(accelerator, w_format: str, a_format: str) -> None:
    """A `UsageError` unless every systolic unit of `accelerator` runs `w_format` x `a_format` (`runs_on`)."""
    from arch.pe import PE_TYPES

    for unit in accelerator.units_of("systolic"):
        if not runs_on(unit.pe, w_format, a_format):
            pe = PE_TYPES[unit.pe]
            takes = (f"{pe.w_format} weights" if pe.dequant == "none"
                     else f"integer weights of at most {INT_WEIGHT_BITS.get(pe.w_format, 0)} bits")
            fits = [n for n in PE_TYPES if runs_on(n, w_format, a_format)]
            hint = (f"; PE types that do: {', '.join(fits)} (--set units.{unit.name}.pe=<type>)" if fits
                    else "; no PE type runs this combination")
            raise UsageError(f"{w_format} weights x {a_format} activations do not run on unit {unit.name!r} of "
                             f"{accelerator.name!r}: its PE type {unit.pe!r} takes {takes} with {pe.a_format} "
                             f"activations{hint}")


# ---- precision sweep -----------------------------------------------------------------------------------
#: (precision, PE type, weight format, activation format, grouped?) in chart order.  The precision-scalable PEs
#: (arch.pe slice_bits: bitfusion, ant, mixpe-packed) at the integer precisions they run, per-channel weights on
#: BitFusion and ANT (no per-group dequantiser), per-group on the packed MixPE.
SWEEP = (
    ("W16A16", "fp16", "fp16", "fp16", False),
    ("W8A8", "int8", "int8", "int8", False),
    ("W8A8", "bitfusion", "int8", "int8", False),
    ("W8A8", "ant", "int8", "int8", False),
    ("W4A8", "w4a8-dequant", "int4", "int8", True),
    ("W4A8", "w4a8-dequant-fullrate", "int4", "int8", True),
    ("W4A8", "mixpe-w4a8", "int4", "int8", True),
    ("W4A8", "mixpe-packed", "int4", "int8", True),
    ("W4A8", "bitfusion", "int4", "int8", False),
    ("W4A8", "ant", "int4", "int8", False),
    ("W4A16", "w4a16-dequant", "int4", "fp16", True),
    ("W4A16", "mixpe-w4a16", "int4", "fp16", True),
    ("W2A8", "w2a8-dequant", "int2", "int8", True),
    ("W2A8", "w2a8-dequant-fullrate", "int2", "int8", True),
    ("W2A8", "mixpe-w2a8", "int2", "int8", True),
    ("W2A8", "mixpe-packed", "int2", "int8", True),
    ("W2A8", "bitfusion", "int2", "int8", False),
    ("W2A8", "ant", "int2", "int8", False),
)
PRECISIONS = tuple(dict.fromkeys(p for p, *_ in SWEEP))


def linear_layers(graph):
    """The weight GEMMs of a decoder's blocks (q/k/v/o projections, MLP), chained in graph order."""
    from workloads.graph import Graph
    from workloads.op import OpKind

    out_graph = Graph(graph.name + "-linear")
    prev = None
    for op in graph.ops():
        if op.kind is OpKind.GEMM and op.weights and op.tags.get("block") in ("attn", "mlp", "moe"):
            out_graph.add(op, [prev] if prev is not None else [])
            prev = op
    return out_graph


def array_area(acc) -> float:
    """PE-array area (mm^2) of `acc`, per-column dequantisers included."""
    from sim.ppa import area_breakdown

    return area_breakdown(acc)["pe_mm2"]


def iso_area(acc, budget_mm2: float, unit: str = "array"):
    """`acc` with its systolic `unit` resized to the largest square array within `budget_mm2` of PE area."""
    import arch

    u = acc.unit(unit)
    per_pe = array_area(acc) / (u.rows * u.cols)  # dequantisers per column spread over the PEs
    n = max(1, int(math.sqrt(budget_mm2 / per_pe)))
    return arch.load(acc, {f"units.{unit}.rows": n, f"units.{unit}.cols": n})


def precision_sweep(workload: str = "llama2-7b", arch_name: str = "mixpe", *, group_size: int = 128,
                    iso: bool = False, precisions=None, **graph_kwargs):
    """One row per `SWEEP` entry (those of `precisions`, default all): the linear layers of `workload` at that
    precision on `arch_name` with its systolic array's PE type replaced; latency, energy (by component), area.
    ``iso``: every array resized to the PE-array area of the preset's array with MixPE W4A8 PEs."""
    import pandas as pd

    import arch
    import sim
    import workloads

    chosen = PRECISIONS if precisions is None else tuple(precisions)
    bad = [p for p in chosen if p not in PRECISIONS]
    if bad:
        raise UsageError(f"unknown precision {', '.join(bad)}; expected one of {', '.join(PRECISIONS)}")
    if group_size <= 0:
        raise UsageError(f"--group-size must be positive, got {group_size}")
    base = arch.load(arch_name)
    arrays = base.units_of("systolic")
    if not arrays:
        raise UsageError(f"{base.name!r} has no systolic unit whose PE type could be swept")
    unit = arrays[0].name
    budget = array_area(arch.load(base, {f"units.{unit}.pe": "mixpe-w4a8"}))
    rows = []
    for precision, pe, wf, af, grouped in SWEEP:
        if precision not in chosen:
            continue
        g = linear_layers(workloads.load(workload, w_format=wf, a_format=af,
                                         group_size=group_size if grouped else None, **graph_kwargs))
        acc = arch.load(base, {f"units.{unit}.pe": pe})
        if iso:
            acc = iso_area(acc, budget, unit)
        s = sim.simulate(g, acc).summary
        u = acc.unit(unit)
        rows.append({"precision": precision, "pe": pe, "array": f"{u.rows}x{u.cols}",
                     "latency_s": s["latency_s"], "energy_j": s["energy_j"],
                     **{k: s[k] for k in s if k.startswith("energy_") and k.endswith("_j")},
                     "area_mm2": s["area_mm2"], "area_pe_mm2": s["area_pe_mm2"], "area_sram_mm2": s["area_sram_mm2"],
                     "utilization": s["utilization"], "dram_bytes": s["dram_bytes"]})
    return pd.DataFrame(rows)


@app.command("precision")
@_user_errors
def precision(
    arch_name: Annotated[str, typer.Option("--arch", help="preset whose systolic array's PE type is swept")] = "mixpe",
    workload: Annotated[str, typer.Option("--workload", help="zoo name of a decoder LLM")] = "llama2-7b",
    phase: Annotated[str, typer.Option(help="prefill or decode")] = "prefill",
    batch: Annotated[int, typer.Option(help="sequences per batch")] = 1,
    seq_len: Annotated[int, typer.Option(help="prompt tokens (prefill)")] = 1024,
    kv_len: Annotated[int, typer.Option(help="context tokens (decode)")] = 1024,
    group_size: Annotated[int, typer.Option("--group-size", help="weights per quantisation group")] = 128,
    only: Annotated[list[str] | None, typer.Option("--precision", help="only this precision (repeatable): "
                                                   + ", ".join(PRECISIONS))] = None,
    iso_area: Annotated[bool, typer.Option("--iso-area", help="equal PE-array area (that of the MixPE W4A8 "
                                           "array) instead of equal PE count")] = False,
    out_dir: Annotated[Path | None, typer.Option("--out", help="write precision.html (the chart) and "
                                                 "precision.csv here")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the rows as JSON")] = False,
) -> None:
    """Sweep W16A16, W8A8, W4A8, W4A16, W2A8 over the PE types (in-loop dequant, full-rate dequant unit and
    MixPE of each, int8, fp16, and the precision-scalable bitfusion, ant, mixpe-packed at W8A8/W4A8/W2A8):
    latency, energy and area side by side, and with --out one Plotly chart (reports/precision.py)."""
    if out_dir is not None and out_dir.exists() and not out_dir.is_dir():
        raise UsageError(f"--out {out_dir} exists and is not a directory")
    kw = _graph_kwargs(phase, batch, seq_len if phase == "prefill" else None, kv_len if phase == "decode" else None)
    table = precision_sweep(workload, arch_name, group_size=group_size, iso=iso_area, precisions=only or None, **kw)
    title = (f"{workload} linear layers, {phase} batch {batch}, {arch_name} "
             f"({'equal PE-array area' if iso_area else 'equal PE count'}), group {group_size}")
    paths = {}
    if out_dir is not None:
        from reports.precision import write_precision_html

        out_dir.mkdir(parents=True, exist_ok=True)
        table.to_csv(out_dir / "precision.csv", index=False)
        paths = {"csv": out_dir / "precision.csv",
                 "html": write_precision_html(table, out_dir / "precision.html", title=title)}
    if as_json:
        _print_json({"title": title, "rows": table.to_dict(orient="records"),
                     "files": {k: str(v) for k, v in paths.items()}})
        return
    t = Table(title=title)
    for col in ("precision", "PE type", "array", "latency", "energy", "dequant energy", "PE area", "area"):
        t.add_column(col, justify="left" if col in ("precision", "PE type") else "right", no_wrap=True)
    for _, r in table.iterrows():
        t.add_row(r["precision"], r["pe"], r["array"], _si(r["latency_s"], "s"), _si(r["energy_j"], "J"),
                  _si(r.get("energy_dequant_j", 0.0), "J"), f"{r['area_pe_mm2']:.4g} mm²", f"{r['area_mm2']:.4g} mm²")
    out.print(t)
    for p in PRECISIONS:
        sub = table[table["precision"] == p].set_index("pe")
        mix = [pe for pe in sub.index if pe.startswith("mixpe")]
        base = [pe for pe in sub.index if pe.endswith("-dequant")]
        if mix and base:
            m, b = sub.loc[mix[0]], sub.loc[base[0]]
            out.print(f"{p}: {mix[0]} is {b['latency_s'] / m['latency_s']:.2f}x faster and uses "
                      f"{b['energy_j'] / m['energy_j']:.2f}x less energy than {base[0]}")
    for kind, path in paths.items():
        out.print(f"{kind}: {path}")
