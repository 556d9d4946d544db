"""Speed and accuracy of `sim.systolic` against SCALE-Sim 3.0.0 on the public cases.

One row per case of `tests/validation/data/scalesim_public.csv`: our compute cycles, SCALE-Sim's, whether
they match, our wall time (median per call of `compute_cycles`, and of the full `cost` with traffic and
stalls, in microseconds), SCALE-Sim's wall time for the layer and the speed-up ratios.

SCALE-Sim's wall time comes from the CSV's `wall_s` column unless ``--run-scalesim`` is given: then a
throwaway virtual environment is made in a temporary folder, ``pip install scalesim 'numpy<2'`` runs in it
(network needed), and SCALE-Sim itself is timed on the cases picked by ``--cases`` (default: the small
``gemm 64;64;64 8x8 os``).  Nothing is written outside the temporary folder.

    python benchmarks/bench_systolic.py                       # table from the CSV's SCALE-Sim timings
    python benchmarks/bench_systolic.py --run-scalesim        # also time SCALE-Sim on one small case
    python benchmarks/bench_systolic.py --run-scalesim --cases "gemm-64;64;64-8x8-os,gemm-64;64;64-32x32-ws"
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
import tempfile
import time
import timeit
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from arch.spec import Accelerator, MemoryTier, SystolicArray, Tech  # noqa: E402
from sim.systolic import compute_cycles, cost  # noqa: E402
from tests.validation.test_scalesim import CASES, case_id, case_op  # noqa: E402

GOAL = 10_000
DEFAULT_SCALESIM_CASES = "gemm-64;64;64-8x8-os"


def median_us(fn, calls: int = 2000, repeats: int = 9) -> float:
    """Median over `repeats` batches of the mean time per call, in microseconds."""
    return statistics.median(timeit.repeat(fn, number=calls, repeat=repeats)) / calls * 1e6


def scalesim_like_accelerator(rows: int, cols: int, dataflow: str) -> Accelerator:
    """The SCALE-Sim runs' machine: 6144/6144/2048 KiB ifmap/filter/ofmap, bandwidth that never stalls."""
    unit = SystolicArray(name="array", rows=rows, cols=cols, dataflow=dataflow, pe="int8",
                         ifmap_sram_bytes="6144KiB", filter_sram_bytes="6144KiB", ofmap_sram_bytes="2048KiB")
    return Accelerator(
        name="scalesim", tech=Tech(node_nm=45, clock_hz=1e9), units=[unit],
        memory=[MemoryTier(name="sram", kind="sram", capacity_bytes="14336KiB", read_bytes_per_cycle=1024),
                MemoryTier(name="dram", kind="ddr4", capacity_bytes="8GiB", bandwidth_gbps=1e6)],
    )


# ---- running SCALE-Sim itself ------------------------------------------------------------------------------

_CFG = """[general]
run_name = {name}

[architecture_presets]
ArrayHeight: {rows}
ArrayWidth: {cols}
IfmapSramSzkB: 6144
FilterSramSzkB: 6144
OfmapSramSzkB: 2048
IfmapOffset: 0
FilterOffset: 10000000
OfmapOffset: 20000000
Bandwidth : 10
Dataflow : {dataflow}
ReadRequestBuffer: 32
WriteRequestBuffer: 32

[layout]
IfmapCustomLayout: False
FilterCustomLayout: False
IfmapSRAMBankBandwidth: 10
IfmapSRAMBankNum: 10
IfmapSRAMBankPort: 2
FilterSRAMBankBandwidth: 10
FilterSRAMBankNum: 10
FilterSRAMBankPort: 2

[sparsity]
SparsitySupport : false
SparseRep : ellpack_block
OptimizedMapping : false
BlockSize : 8
RandomNumberGeneratorSeed : 40

[run_presets]
InterfaceBandwidth: CALC
UseRamulatorTrace: False
"""


def make_scalesim_venv(folder: Path) -> Path:
    """A throwaway venv in `folder` with SCALE-Sim 3 and numpy < 2; returns its python."""
    venv.create(folder, with_pip=True)
    python = folder / "bin" / "python"
    done = subprocess.run([str(python), "-m", "pip", "install", "-q", "scalesim", "numpy<2"],
                          check=False, capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(f"pip install scalesim 'numpy<2' failed:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    return python


def run_scalesim(python: Path, row: dict, work: Path) -> tuple[int, float]:
    """(compute cycles, wall seconds) of SCALE-Sim on one CSV row, run in `work`."""
    name = re.sub(r"[^A-Za-z0-9]+", "_", case_id(row))
    dims = [int(x) for x in row["dims"].split(";")]
    folder = work / name
    folder.mkdir()
    (folder / "scale.cfg").write_text(_CFG.format(name=name, rows=row["rows"], cols=row["cols"],
                                                  dataflow=row["dataflow"]))
    if row["kind"] == "gemm":
        topo = "Layer, M, N, K,\nlayer0, {}, {}, {},\n".format(*dims)
        kind = "gemm"
    else:
        h, w, r, s, c, k, stride = dims
        topo = ("Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, "
                f"Strides,\nlayer0, {h}, {w}, {r}, {s}, {c}, {k}, {stride},\n")
        kind = "conv"
    (folder / "topo.csv").write_text(topo)
    # SCALE-Sim parses a layout file even with custom layouts off: one row of unit factors/orders
    (folder / "layout.csv").write_text("Layer name," + ",".join(f"f{i}" for i in range(20)) + ",\n"
                                       + "layer0," + ",".join("1" for _ in range(20)) + ",\n")
    cmd = [str(python), "-m", "scalesim.scale", "-c", "scale.cfg", "-t", "topo.csv", "-l", "layout.csv",
           "-p", str(folder / "out"), "-i", kind, "-s", "N"]
    start = time.perf_counter()
    done = subprocess.run(cmd, check=False, cwd=folder, capture_output=True, text=True)
    wall = time.perf_counter() - start
    found = re.search(r"Compute cycles:\s*(\d+)", done.stdout)
    if done.returncode or not found:
        raise RuntimeError(f"SCALE-Sim failed on {case_id(row)}:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    return int(found.group(1)), wall


# ---- the table ---------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run-scalesim", action="store_true", help="time SCALE-Sim itself in a throwaway venv")
    parser.add_argument("--cases", default=DEFAULT_SCALESIM_CASES,
                        help="comma-separated case ids to run SCALE-Sim on (with --run-scalesim)")
    parser.add_argument("--calls", type=int, default=2000, help="calls per timing batch")
    args = parser.parse_args(argv)

    header = (f"{'case':<34} {'coex':>8} {'SCALE-Sim':>9} {'match':>5} {'cycles µs':>9} {'cost µs':>8} "
              f"{'SCALE-Sim s':>11} {'speed-up':>12} {'(cost)':>11}")
    print(header)
    print("-" * len(header))
    worst, worst_cost, matched = float("inf"), float("inf"), 0
    for row in CASES:
        op = case_op(row)
        rows, cols, df = int(row["rows"]), int(row["cols"]), row["dataflow"]
        ours = compute_cycles(op, rows, cols, df)
        acc = scalesim_like_accelerator(rows, cols, df)
        unit = acc.units[0]
        t_cycles = median_us(lambda op=op, r=rows, c=cols, d=df: compute_cycles(op, r, c, d), args.calls)
        t_cost = median_us(lambda op=op, u=unit, a=acc: cost(op, u, a), max(args.calls // 10, 50))
        theirs, wall = int(row["compute_cycles"]), float(row["wall_s"])
        ratio, ratio_cost = wall * 1e6 / t_cycles, wall * 1e6 / t_cost
        worst, worst_cost = min(worst, ratio), min(worst_cost, ratio_cost)
        matched += ours == theirs
        print(f"{case_id(row):<34} {ours:>8} {theirs:>9} {'yes' if ours == theirs else 'NO':>5} {t_cycles:>9.2f} "
              f"{t_cost:>8.1f} {wall:>11.2f} {ratio:>11,.0f}x {ratio_cost:>10,.0f}x")
    print("-" * len(header))
    print(f"{matched}/{len(CASES)} match; smallest speed-up {worst:,.0f}x (compute_cycles), "
          f"{worst_cost:,.0f}x (full cost with traffic and stalls); goal {GOAL:,}x: "
          f"{'met' if min(worst, worst_cost) >= GOAL else 'NOT met'}")

    if args.run_scalesim:
        wanted = [c.strip() for c in args.cases.split(",") if c.strip()]
        rows = [r for r in CASES if case_id(r) in wanted]
        missing = sorted(set(wanted) - {case_id(r) for r in rows})
        if missing:
            parser.error(f"unknown case id(s) {missing}; ids look like {case_id(CASES[0])!r}")
        with tempfile.TemporaryDirectory(prefix="coex-scalesim-") as tmp:
            print(f"\ninstalling scalesim and numpy<2 into a throwaway venv in {tmp} ...", flush=True)
            start = time.perf_counter()
            python = make_scalesim_venv(Path(tmp) / "venv")
            print(f"installed in {time.perf_counter() - start:.0f} s")
            print(f"{'case':<34} {'SCALE-Sim':>9} {'CSV':>9} {'coex':>9} {'wall s':>8} {'CSV wall s':>10} "
                  f"{'coex µs':>8} {'speed-up':>10}")
            for row in rows:
                cycles, wall = run_scalesim(python, row, Path(tmp))
                op = case_op(row)
                rows_, cols_, df = int(row["rows"]), int(row["cols"]), row["dataflow"]
                ours = compute_cycles(op, rows_, cols_, df)
                t = median_us(lambda op=op, r=rows_, c=cols_, d=df: compute_cycles(op, r, c, d), args.calls)
                print(f"{case_id(row):<34} {cycles:>9} {row['compute_cycles']:>9} {ours:>9} {wall:>8.2f} "
                      f"{float(row['wall_s']):>10.2f} {t:>8.2f} {wall * 1e6 / t:>9,.0f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
