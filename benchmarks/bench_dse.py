"""DSE speed: design points evaluated per second on a space file, with 1 and N workers.

Runs the space (default: dse/examples/tpu_sweep.yaml, a systolic sweep on BERT-base) into a fresh
temporary run directory per backend and worker count and prints points, wall time and points/s,
counting pool start-up (spawned workers import coex) and the store's per-point commits, but not the
per-layer tables of the best points written after the exploration (their time is its own column).
A second row per worker count runs the same loop with a no-op evaluator: what the DSE machinery itself
costs per point.  ``--backend ray`` (the dist extra) adds rows on a local Ray cluster, whose start-up
(several seconds) is counted.  Goal (issue 4): at least 100 points/s on 2 cores for the systolic family.

    python benchmarks/bench_dse.py [--space FILE] [--workers 1 2] [--budget N] [--backend local ray]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dse.runner import run  # noqa: E402
from dse.space import Space  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def noop(params: dict) -> dict:
    """A stand-in evaluator with no simulation: measures the loop, the pool and the store."""
    return {"latency_s": 1.0 + len(str(params)) * 1e-3, "energy_j": 1.0, "area_mm2": 1.0}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--space", type=Path, default=ROOT / "dse" / "examples" / "tpu_sweep.yaml")
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--budget", type=int, default=None, help="random points instead of the space's strategy")
    ap.add_argument("--backend", nargs="+", default=["local"], choices=["local", "ray"])
    args = ap.parse_args()
    space = Space.from_yaml(args.space)
    if args.budget is not None:
        space = space.model_copy(update={"strategy": space.strategy.model_copy(
            update={"name": "random", "budget": args.budget})})
    print(f"space {space.name}: {space.size} points, strategy {space.strategy.name}, budget {space.budget}, "
          f"workloads {', '.join(w.label for w in space.workloads)}")
    print(f"{'backend':<8} {'evaluator':<10} {'workers':>7} {'points':>7} {'errors':>6} {'wall s':>8} "
          f"{'points/s':>9} {'layers s':>9}")
    for backend in args.backend:
        for evaluator, fn in (("sim", None), ("no-op", noop)):
            for w in args.workers:
                with tempfile.TemporaryDirectory() as tmp:
                    s = run(space, Path(tmp) / "run", workers=w, evaluate=fn, backend=backend)
                print(f"{backend:<8} {evaluator:<10} {w:>7} {s.evaluated:>7} {s.errors:>6} "
                      f"{s.elapsed_s - s.layers_s:>8.2f} {s.points_per_s:>9.1f} {s.layers_s:>9.2f}")


if __name__ == "__main__":
    main()
