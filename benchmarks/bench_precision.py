"""Precision sweep: latency, energy and area of each PE type at W16A16, W8A8, W4A8, W4A16 and W2A8.

For every precision the workload's linear layers (attention projections and MLP: the weight GEMMs a
PE type changes) are quantised to it (per-group scales, ``--group-size``) and simulated with
`sim.simulate` on the ``--arch`` preset (default `mixpe`: 64x64 output-stationary array) with its array's
PE type replaced: the conventional PE that dequantises each weight use in the loop and the MixPE PE
(shift-and-add, one dequantisation per group), plus int8 (W8A8) and fp16 (W16A16) references.  Prints the
table and writes the Plotly chart of `reports.precision` to OUT (an .html path).

With ``--iso-area`` every array is resized to a square whose PE-array area (dequantisers included)
matches the MixPE W4A8 array of the preset, instead of keeping the preset's PE count.

    python benchmarks/bench_precision.py runs/precision.html
    python benchmarks/bench_precision.py runs/precision.html --workload llama2-13b --phase decode --batch 32
    python benchmarks/bench_precision.py runs/precision.html --iso-area
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import pandas as pd  # noqa: E402

import arch  # noqa: E402
import sim  # noqa: E402
import workloads  # noqa: E402
from reports.precision import write_precision_html  # noqa: E402
from sim.ppa import area_breakdown  # noqa: E402
from workloads.graph import Graph  # noqa: E402
from workloads.op import OpKind  # noqa: E402

#: (precision, PE type, weight format, activation format, grouped?) in chart order.
SWEEP = (
    ("W16A16", "fp16", "fp16", "fp16", False),
    ("W8A8", "int8", "int8", "int8", False),
    ("W4A8", "w4a8-dequant", "int4", "int8", True),
    ("W4A8", "mixpe-w4a8", "int4", "int8", True),
    ("W4A16", "w4a16-dequant", "int4", "fp16", True),
    ("W4A16", "mixpe-w4a16", "int4", "fp16", True),
    ("W2A8", "w2a8-dequant", "int2", "int8", True),
    ("W2A8", "mixpe-w2a8", "int2", "int8", True),
)


def linear_layers(graph: Graph) -> Graph:
    """The weight GEMMs of a decoder's blocks (q/k/v/o projections, MLP), chained in graph order."""
    out = Graph(graph.name + "-linear")
    prev = None
    for op in graph.ops():
        if op.kind is OpKind.GEMM and op.weights and op.tags.get("block") in ("attn", "mlp", "moe"):
            out.add(op, [prev] if prev is not None else [])
            prev = op
    return out


def array_area(acc) -> float:
    return area_breakdown(acc)["pe_mm2"]


def iso_area(acc, budget_mm2: float, unit: str = "array"):
    """`acc` with its systolic `unit` resized to the largest square array within `budget_mm2` of PE area."""
    u = acc.unit(unit)
    per_pe = array_area(acc) / (u.rows * u.cols)  # dequantisers per column spread over the PEs
    n = max(1, int(math.sqrt(budget_mm2 / per_pe)))
    return arch.load(acc, {f"units.{unit}.rows": n, f"units.{unit}.cols": n})


def sweep(workload: str = "llama2-7b", arch_name: str = "mixpe", *, group_size: int = 128,
          iso: bool = False, **graph_kwargs) -> pd.DataFrame:
    """One row per SWEEP entry: the simulation summary's latency, energy (by component) and area."""
    base = arch.load(arch_name)
    unit = base.units_of("systolic")[0].name
    budget = array_area(arch.load(base, {f"units.{unit}.pe": "mixpe-w4a8"}))
    rows = []
    for precision, pe, wf, af, grouped in SWEEP:
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


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", type=Path, help="HTML file to write the chart to")
    ap.add_argument("--workload", default="llama2-7b", help="zoo name of a decoder LLM")
    ap.add_argument("--arch", default="mixpe", help="preset whose systolic array's PE type is swept")
    ap.add_argument("--phase", default="prefill", choices=["prefill", "decode"])
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--seq-len", type=int, default=1024, help="prompt tokens (prefill)")
    ap.add_argument("--kv-len", type=int, default=1024, help="context tokens (decode)")
    ap.add_argument("--group-size", type=int, default=128)
    ap.add_argument("--iso-area", action="store_true", help="equal PE-array area instead of equal PE count")
    args = ap.parse_args(argv)
    if args.out.suffix.lower() not in (".html", ".htm"):
        ap.error(f"OUT must be an .html path, got {args.out}")
    kw = {"phase": args.phase, "batch": args.batch}
    kw.update({"seq_len": args.seq_len} if args.phase == "prefill" else {"kv_len": args.kv_len})
    t0 = time.perf_counter()
    try:
        table = sweep(args.workload, args.arch, group_size=args.group_size, iso=args.iso_area, **kw)
    except (ValueError, KeyError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    wall = time.perf_counter() - t0
    ref = table.set_index("pe")
    cols = ["precision", "pe", "array", "latency_s", "energy_j", "energy_mac_j", "energy_dequant_j", "energy_dram_j",
            "area_pe_mm2", "area_mm2", "utilization"]
    shown = table[cols].copy()
    for pe_mix, pe_base in (("mixpe-w4a8", "w4a8-dequant"), ("mixpe-w4a16", "w4a16-dequant"),
                            ("mixpe-w2a8", "w2a8-dequant")):
        row = shown["pe"] == pe_mix
        shown.loc[row, "speedup_vs_dequant"] = ref.loc[pe_base, "latency_s"] / ref.loc[pe_mix, "latency_s"]
        shown.loc[row, "energy_gain_vs_dequant"] = ref.loc[pe_base, "energy_j"] / ref.loc[pe_mix, "energy_j"]
    title = (f"{args.workload} linear layers, {args.phase} batch {args.batch}, {args.arch} "
             f"({'equal PE-array area' if args.iso_area else 'equal PE count'})")
    with pd.option_context("display.width", 200, "display.max_columns", 30):
        print(title)
        print(shown.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    path = write_precision_html(table, args.out, title=title)
    print(f"\n{len(table)} designs simulated in {wall:.2f} s; chart: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
