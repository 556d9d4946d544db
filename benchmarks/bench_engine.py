"""Engine speed: `sim.simulate` on Llama-2-7B decode (batch 16, KV 2048) and prefill (2048 tokens) on tpu-v1.

Prints, per case: ops, graph build time, and three simulate wall times: cold (every cache cleared),
new-arch (a different accelerator, mxu rows 128: its costs are computed afresh -- what a DSE point
pays) and warm (median of repeats on equal accelerators: every cost memoised); then the simulated
latency, energy and utilisation.  Goal: warm under 0.5 s.

``--phases`` answers where a DSE point's time goes instead: BERT-base (128 tokens) on ``--points``
distinct tpu-v1 variants (MXU rows x cols x dataflow, as dse/examples/tpu_sweep.yaml varies them), CPU
time per phase of what `dse.runner.SimEvaluator` does for a point -- apply the overrides and validate the
spec (pydantic), fingerprint it (`sim.engine.accelerator_key`), graph passes, the engine
(`sim.engine.run`, per-op costs included), the summary (`sim.result.build`) -- plus the per-op DataFrame
that a DSE point no longer builds; then one cProfile of the same loop (without the DataFrame) with its own time grouped by
package (simpy, sim.engine, cost models and pricing, workloads.Op properties, pandas/numpy, ...).

``--compare`` times the two implementations of the engine's model: `sim.engine.run` (the heap engine)
against `sim.engine.run_simpy` (the simpy reference), CPU ms per point with every cost memoised, on
every preset x (BERT-base, Llama-2-7B decode and prefill, ResNet-50), and checks their timelines and
traces equal.

    python benchmarks/bench_engine.py [--repeat 5] [--profile decode|prefill] [--phases [--points 64]] [--compare]
"""

from __future__ import annotations

import argparse
import cProfile
import gc
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


def _variants(n: int) -> list[dict]:
    sizes = [32, 64, 128, 256]
    out = [{"units.mxu.rows": r, "units.mxu.cols": c, "units.mxu.dataflow": df}
           for df in ("ws", "os") for r in sizes for c in sizes]
    return (out * (n // len(out) + 1))[:n] if n > len(out) else out[:n]


PACKAGES = (("simpy", "/simpy/"), ("sim.engine", "sim/engine.py"), ("sim.result", "sim/result.py"),
            ("sim cost models + ppa", "/sim/"),
            ("workloads (Op)", "/workloads/"), ("arch + pydantic", "/arch/"), ("arch + pydantic", "/pydantic"),
            ("pandas", "/pandas/"), ("numpy", "/numpy/"), ("networkx", "/networkx/"), ("dse", "/dse/"))


def phases(n: int) -> None:
    """Per-phase ms of a DSE point (module docstring), then the profile grouped by package."""
    import os

    from arch.loader import apply_overrides, load_dict, validate
    from sim.cost import prepare
    from sim.result import build

    graph = workloads.load("bert-base", seq_len=128)
    base, _ = load_dict("tpu-v1")
    points = _variants(n)
    sim.simulate(graph, validate(apply_overrides(base, points[0], origin="p"), origin="p"))  # imports, op memo

    def one(params: dict, t: dict[str, float], table: bool = True) -> None:
        t0 = time.process_time()
        acc = validate(apply_overrides(base, params, origin="point"), origin="point")
        t1 = time.process_time()
        key = engine.accelerator_key(acc)
        t2 = time.process_time()
        g = prepare(graph, acc)
        t3 = time.process_time()
        timeline = engine.run(g, acc, cost=lambda sig, unit: ppa.priced_cost(sig, unit, key))
        t4 = time.process_time()
        result = build(g, acc, timeline, key)
        t5 = time.process_time()
        if table:
            result.per_op  # noqa: B018 - the DataFrame a DSE point skips
        t6 = time.process_time()
        for k, dt in zip(t, (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4, t6 - t5)):
            t[k] += dt

    clear_caches()
    t = dict.fromkeys(("overrides + validate", "accelerator_key", "graph passes", "engine.run",
                       "build (summary)", "per_op DataFrame"), 0.0)
    for params in points:
        one(params, t)
    ops = len(graph)
    print(f"bert-base ({ops} ops) on {len(points)} tpu-v1 variants; load average {os.getloadavg()[0]:.1f}")
    print(f"{'phase':<22} {'ms/point':>9} {'us/op':>7}   (CPU time of this process)")
    for k, v in t.items():
        print(f"{k:<22} {1e3 * v / len(points):>9.2f} {1e6 * v / len(points) / ops:>7.1f}")
    point = sum(v for k, v in t.items() if k != "per_op DataFrame")
    print(f"{'a DSE point (no table)':<22} {1e3 * point / len(points):>9.2f}  -> {len(points) / point:.0f} points/s "
          "per core")
    clear_caches()
    prof = cProfile.Profile()
    prof.enable()
    for params in points:
        one(params, dict.fromkeys(t, 0.0), table=False)
    prof.disable()
    stats = pstats.Stats(prof).stats  # type: ignore[attr-defined]
    own: dict[str, float] = {}
    for (file, _, _), (_, _, tottime, _, _) in stats.items():
        label = next((name for name, frag in PACKAGES if frag in file), "other (builtins, stdlib)")
        own[label] = own.get(label, 0.0) + tottime
    total = sum(own.values())
    print(f"\nown time under cProfile, by package ({1e3 * total / len(points):.1f} ms/point profiled)")
    for label, v in sorted(own.items(), key=lambda kv: -kv[1]):
        print(f"{label:<26} {v / total:>6.1%}")


def compare() -> None:
    """Heap engine vs simpy reference, CPU ms per point (module docstring)."""
    from sim.cost import prepare

    cases = (("bert-base", {"seq_len": 128}), ("llama2-7b", {"phase": "decode", "batch": 8, "kv_len": 512}),
             ("llama2-7b", {"phase": "prefill", "seq_len": 256}), ("resnet-50", {}))
    print(f"{'preset':<20} {'workload':<22} {'ops':>5} {'same':>5} {'simpy ms':>9} {'heap ms':>8} {'x':>5}")
    total = [0.0, 0.0]
    same_all = True
    for name in arch.preset_names():
        acc = arch.load(name)
        key = engine.accelerator_key(acc)

        def cf(sig, unit, key=key):  # noqa: ANN001, ANN202
            return ppa.priced_cost(sig, unit, key)
        for wl, kw in cases:
            label = f"{wl} {kw.get('phase', '')}".strip()
            try:
                graph = prepare(workloads.load(wl, **kw), acc)
                engine.run(graph, acc, cost=cf)  # fills the cost memo for both
            except Exception as e:  # noqa: BLE001 - a preset that cannot run this workload
                print(f"{name:<20} {label:<22} skipped: {type(e).__name__}: {str(e).splitlines()[0][:60]}")
                continue
            gc.collect()
            gc.disable()  # a collection pause inside one timed run swamps a 10 ms point
            t0 = time.process_time()
            a = engine.run_simpy(graph, acc, trace=True, cost=cf)
            t1 = time.process_time()
            b = engine.run(graph, acc, trace=True, cost=cf)
            t2 = time.process_time()
            gc.enable()
            same = a.latency_s == b.latency_s and a.trace == b.trace and all(
                (x.unit, x.start_s, x.end_s, x.dma_start_s, x.dma_end_s) ==
                (y.unit, y.start_s, y.end_s, y.dma_start_s, y.dma_end_s) for x, y in zip(a.records, b.records))
            same_all &= same
            total[0] += t1 - t0
            total[1] += t2 - t1
            print(f"{name:<20} {label:<22} {len(graph):>5} {'yes' if same else 'NO':>5} {1e3 * (t1 - t0):>9.1f} "
                  f"{1e3 * (t2 - t1):>8.1f} {(t1 - t0) / max(t2 - t1, 1e-9):>5.1f}")
    print(f"all timelines and traces equal: {same_all}; CPU simpy {total[0]:.2f} s vs heap {total[1]:.2f} s "
          f"(x{total[0] / total[1]:.1f})")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--profile", choices=sorted(CASES), help="cProfile one warm run of this case")
    ap.add_argument("--phases", action="store_true", help="where a DSE point's time goes (bert-base)")
    ap.add_argument("--points", type=int, default=64, help="tpu-v1 variants for --phases")
    ap.add_argument("--compare", action="store_true", help="heap engine vs the simpy reference, every preset")
    args = ap.parse_args()
    if args.compare:
        compare()
        return
    if args.phases:
        phases(args.points)
        return
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
