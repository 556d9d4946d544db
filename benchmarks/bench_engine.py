"""Engine speed: `sim.simulate` on Llama-2-7B decode (batch 16, KV 2048) and prefill (2048 tokens) on tpu-v1.

Prints, per case: ops, graph build time, and three simulate wall times: cold (every cache cleared),
new-arch (a different accelerator, mxu rows 128: its costs are computed afresh -- what a DSE point
pays) and warm (median of repeats on equal accelerators: every cost memoised); then the simulated
latency, energy and utilisation.  Goal: warm under 0.5 s.

    python benchmarks/bench_engine.py [--repeat 5] [--profile decode|prefill]
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import arch  # noqa: E402
import sim  # noqa: E402
import workloads  # noqa: E402
from sim import engine, ppa  # noqa: E402

CASES = {
    "decode": dict(phase="decode", batch=16, kv_len=2048),
    "prefill": dict(phase="prefill", batch=1, seq_len=2048),
}


def clear_caches() -> None:
    for fn in (engine.model_cost, engine.signature, ppa.priced_cost, ppa.area_cached):
        fn.cache_clear()


def bench(name: str, repeat: int) -> dict:
    t = time.perf_counter()
    graph = workloads.load("llama2-7b", **CASES[name])
    build_s = time.perf_counter() - t
    acc, other = arch.load("tpu-v1"), arch.load("tpu-v1", {"units.mxu.rows": 128})
    clear_caches()
    t = time.perf_counter()
    result = sim.simulate(graph, acc)
    cold_s = time.perf_counter() - t
    t = time.perf_counter()
    sim.simulate(graph, other)
    new_s = time.perf_counter() - t
    warm = []
    for _ in range(repeat):
        acc = arch.load("tpu-v1")  # a fresh, equal object each time, as a DSE point would be
        t = time.perf_counter()
        sim.simulate(graph, acc)
        warm.append(time.perf_counter() - t)
    s = result.summary
    return {"case": name, "ops": len(graph), "build_s": build_s, "cold_s": cold_s, "new_s": new_s, "warm_s": statistics.median(warm),
            "latency_s": s["latency_s"], "energy_j": s["energy_j"], "utilization": s["utilization"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--profile", choices=sorted(CASES), help="cProfile one warm run of this case")
    args = ap.parse_args()
    if args.profile:
        graph = workloads.load("llama2-7b", **CASES[args.profile])
        acc = arch.load("tpu-v1")
        sim.simulate(graph, acc)
        prof = cProfile.Profile()
        prof.enable()
        sim.simulate(graph, acc)
        prof.disable()
        pstats.Stats(prof).sort_stats("cumulative").print_stats(25)
        return
    rows = [bench(name, args.repeat) for name in CASES]
    head = f"{'case':8} {'ops':>5} {'build':>8} {'cold':>8} {'new-arch':>8} {'warm':>8} {'latency':>11} {'energy':>9} {'util':>6}"
    print("llama2-7b on tpu-v1 (wall times in seconds)")
    print(head)
    print("-" * len(head))
    for r in rows:
        print(f"{r['case']:8} {r['ops']:5d} {r['build_s']:8.3f} {r['cold_s']:8.3f} {r['new_s']:8.3f} {r['warm_s']:8.3f} "
              f"{r['latency_s'] * 1e3:9.3f}ms {r['energy_j']:8.4f}J {r['utilization']:6.1%}")


if __name__ == "__main__":
    main()
