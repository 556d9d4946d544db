"""Precision sweep: latency, energy and area of each PE type at W16A16, W8A8, W4A8, W4A16 and W2A8.

For every precision the workload's linear layers (attention projections and MLP: the weight GEMMs a
PE type changes) are quantised to it (per-group scales, ``--group-size``) and simulated with
`sim.simulate` on the ``--arch`` preset (default `mixpe`: 64x64 output-stationary array) with its array's
PE type replaced: the conventional PE that dequantises each weight use in the loop (on its own MAC at
half rate, and with a dedicated full-rate dequantiser, `*-dequant-fullrate`) and the MixPE PE
(shift-and-add, one dequantisation per group), plus int8 (W8A8) and fp16 (W16A16) references.  Prints the
table and writes the Plotly chart of `reports.precision` to OUT (an .html path).

With ``--iso-area`` every array is resized to a square whose PE-array area (dequantisers included)
matches the MixPE W4A8 array of the preset, instead of keeping the preset's PE count.

    python benchmarks/bench_precision.py runs/precision.html
    python benchmarks/bench_precision.py runs/precision.html --workload llama2-13b --phase decode --batch 32
    python benchmarks/bench_precision.py runs/precision.html --iso-area

The same sweep from the CLI: ``dse precision --out runs/precision`` (chart + CSV).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import pandas as pd  # noqa: E402

from dse.sim_cmd import SWEEP, UsageError, precision_sweep  # noqa: E402,F401  (SWEEP: the chart's rows)
from reports.precision import write_precision_html  # noqa: E402


def sweep(workload: str = "llama2-7b", arch_name: str = "mixpe", *, group_size: int = 128,
          iso: bool = False, **graph_kwargs) -> pd.DataFrame:
    """One row per `SWEEP` entry (`dse.sim_cmd.precision_sweep`, which `dse precision` runs too)."""
    return precision_sweep(workload, arch_name, group_size=group_size, iso=iso, **graph_kwargs)


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
    except (ValueError, KeyError, UsageError) as e:
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
