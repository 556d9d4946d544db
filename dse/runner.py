"""The DSE runner: ask a strategy for points, evaluate them in a process pool, write each to the store.

    summary = run(space, "runs/sweep", workers=2)                # a new run
    summary = run(space, "runs/sweep", workers=2, resume=True)   # carry on after a kill

- Evaluation: ``evaluate(params) -> metrics`` (a picklable top-level function or object).  The default,
  `SimEvaluator`, applies the point's parameters to the space's base preset, validates the spec, runs
  ``sim.simulate`` on every workload and aggregates the summaries with the workloads' weights
  (`aggregate`).  Each worker process keeps one evaluator, so workload graphs are built once and the
  simulator's per-op cost memo is shared by every point that worker evaluates.
- ``workers=1`` evaluates in this process; ``workers>1`` uses a ``ProcessPoolExecutor`` with the
  spawn start method (only top-level functions cross the process boundary).
- A point whose evaluation raises (an invalid combination of axis values, say) is stored with
  ``status='error'`` and the message; the run carries on.  Its outcome counts as infeasible.
- Every finished point is committed to the store as it completes, before the next batch is asked.
- Resume replays the strategy from its seed, answering points already in the store from the store:
  since strategies are deterministic and ignore how many workers ran, the replay proposes the same
  points in the same order, so a resumed run ends with exactly the points of an uninterrupted one,
  re-evaluating only those that had not finished.
"""

from __future__ import annotations

import math
import multiprocessing
import time
import traceback
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from dse.space import Space, point_key
from dse.store import Record, Store
from dse.strategies import Outcome, make_strategy

Evaluate = Callable[[dict[str, Any]], dict[str, Any]]
VERSION = "0.1.0"

# summary keys aggregated as a weighted mean over workloads
_MEAN_KEYS = ("latency_s", "energy_j", "cycles", "utilization")


def aggregate(per_workload: dict[str, dict[str, Any]], weights: dict[str, float]) -> dict[str, Any]:
    """One point's metrics from its workloads' summaries.

    latency_s, energy_j, cycles, utilization: weighted means (weights normalised to 1);
    throughput: weighted harmonic mean (the rate of running the mix); power_w: mean energy over mean
    latency; area_mm2: the largest (the same hardware for every workload)."""
    total = sum(weights.values())
    w = {k: v / total for k, v in weights.items()}
    out: dict[str, Any] = {}
    for key in _MEAN_KEYS:
        vals = [(w[n], s.get(key)) for n, s in per_workload.items()]
        if all(isinstance(v, (int, float)) for _, v in vals):
            out[key] = float(sum(wi * v for wi, v in vals))
    thr = [(w[n], s.get("throughput")) for n, s in per_workload.items()]
    if all(isinstance(v, (int, float)) and v > 0 for _, v in thr):
        out["throughput"] = 1.0 / sum(wi / v for wi, v in thr)
    areas = [s.get("area_mm2") for s in per_workload.values() if isinstance(s.get("area_mm2"), (int, float))]
    if areas:
        out["area_mm2"] = float(max(areas))
    if len(per_workload) == 1:  # one workload: its summary's scalars as they are
        (only,) = per_workload.values()
        out = {**{k: v for k, v in only.items() if isinstance(v, (int, float, str, bool))}, **out}
    elif out.get("latency_s"):
        out["power_w"] = out["energy_j"] / out["latency_s"] if "energy_j" in out else None
    return derive(out)


def derive(metrics: dict[str, Any]) -> dict[str, Any]:
    """Add the derived objectives (edp_js, perf_per_w, perf_per_mm2, power_w) where they are missing."""
    m = dict(metrics)

    def num(k: str) -> float | None:
        v = m.get(k)
        return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) else None

    lat, en, thr, area = num("latency_s"), num("energy_j"), num("throughput"), num("area_mm2")
    if thr is None and lat:
        m["throughput"] = thr = 1.0 / lat
    if num("power_w") is None and en is not None and lat:
        m["power_w"] = en / lat
    pw = num("power_w")
    if "edp_js" not in m and en is not None and lat is not None:
        m["edp_js"] = en * lat
    if "perf_per_w" not in m and thr is not None and pw:
        m["perf_per_w"] = thr / pw
    if "perf_per_mm2" not in m and thr is not None and area:
        m["perf_per_mm2"] = thr / area
    return m


class SimEvaluator:
    """The default evaluator: base preset + point overrides -> `sim.simulate` on every workload."""

    def __init__(self, space: Space):
        self.space = space
        self._graphs: dict[str, Any] = {}

    def _graph(self, w: Any) -> Any:
        if w.label not in self._graphs:
            import workloads

            self._graphs[w.label] = workloads.load(w.name, **w.kwargs)
        return self._graphs[w.label]

    def __call__(self, params: dict[str, Any]) -> dict[str, Any]:
        from arch.loader import apply_overrides, validate

        import sim

        accelerator = validate(apply_overrides(self.space.base_dict, params, origin="point"), origin="point")
        per: dict[str, dict[str, Any]] = {}
        for w in self.space.workloads:
            summary = sim.simulate(self._graph(w), accelerator).summary
            per[w.label] = {k: v for k, v in summary.items() if isinstance(v, (int, float, str, bool))}
        out = aggregate(per, {w.label: w.weight for w in self.space.workloads})
        if len(per) > 1:
            out["per_workload"] = per
        return out


def make_evaluator(space: Space) -> Evaluate:
    if space.evaluator == "sim":
        return SimEvaluator(space)
    from dse.space import resolve_evaluator

    return resolve_evaluator(space.evaluator)


# ---- worker side (top-level, spawn-safe) ---------------------------------------------------------
_WORKER_EVAL: Evaluate | None = None


def _init_worker(space: Space, evaluate: Evaluate | None) -> None:
    global _WORKER_EVAL
    _WORKER_EVAL = evaluate if evaluate is not None else make_evaluator(space)


def _evaluate_point(params: dict[str, Any]) -> tuple[dict[str, Any] | None, str | None]:
    assert _WORKER_EVAL is not None
    return _safe(_WORKER_EVAL, params)


def _safe(evaluate: Evaluate, params: dict[str, Any]) -> tuple[dict[str, Any] | None, str | None]:
    try:
        metrics = evaluate(params)
        if not isinstance(metrics, dict):
            raise TypeError(f"the evaluator returned {type(metrics).__name__}, expected a dict of metrics")
        return derive(metrics), None
    except Exception as e:  # noqa: BLE001 - a failing point is data, not a crash
        msg = f"{type(e).__name__}: {e}".strip()
        if not str(e):
            msg += " at " + traceback.format_exc(limit=-1).strip().splitlines()[-2].strip()
        return None, msg


# ---- the loop ------------------------------------------------------------------------------------
@dataclass
class RunSummary:
    run_dir: Path
    total: int = 0              # distinct points in the store at the end
    evaluated: int = 0          # points evaluated by this call
    resumed: int = 0            # points answered from the store
    errors: int = 0
    infeasible: int = 0
    batches: int = 0
    elapsed_s: float = 0.0
    best: dict[str, Any] = field(default_factory=dict)

    @property
    def points_per_s(self) -> float:
        return self.evaluated / self.elapsed_s if self.elapsed_s > 0 else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {"run_dir": str(self.run_dir), "total": self.total, "evaluated": self.evaluated,
                "resumed": self.resumed, "errors": self.errors, "infeasible": self.infeasible,
                "batches": self.batches, "elapsed_s": self.elapsed_s, "points_per_s": self.points_per_s,
                "best": self.best}


def outcome_of(space: Space, metrics: dict[str, Any] | None) -> Outcome:
    if metrics is None:
        return Outcome(None, math.inf)
    f = space.objective_vector(metrics)
    if any(math.isnan(x) for x in f):
        return Outcome(None, math.inf)
    return Outcome(tuple(f), space.violation(metrics))


class _Progress:
    """A rich progress bar: points done / budget, points/s, best so far, ETA."""

    def __init__(self, space: Space, enabled: bool):
        self.space = space
        self.best: float | None = None
        self.enabled = enabled
        self.bar = None
        if enabled:
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

            self.bar = Progress(
                TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                TextColumn("{task.fields[rate]}"), TextColumn("{task.fields[best]}"),
                TextColumn("ETA"), TimeRemainingColumn(), console=Console(stderr=True), transient=False,
            )
            self.task = self.bar.add_task(space.name, total=space.budget, rate="", best="")
        self.t0 = time.perf_counter()
        self.new = 0

    def __enter__(self) -> _Progress:
        if self.bar is not None:
            self.bar.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.bar is not None:
            self.bar.stop()

    def advance(self, outcome: Outcome, new: bool) -> None:
        o = self.space.objectives[0]
        if outcome.objectives is not None and outcome.violation <= 0:
            v = outcome.objectives[0]
            self.best = v if self.best is None else min(self.best, v)
        if new:
            self.new += 1
        if self.bar is None:
            return
        dt = time.perf_counter() - self.t0
        rate = f"{self.new / dt:.1f} pt/s" if dt > 0 and self.new else ""
        best = "" if self.best is None else f"best {o.metric} {(-self.best if o.sense == 'max' else self.best):.4g}"
        self.bar.update(self.task, advance=1, rate=rate, best=best)


def run(
    space: Space,
    run_dir: Path | str,
    *,
    workers: int = 1,
    resume: bool = False,
    evaluate: Evaluate | None = None,
    progress: bool = False,
    space_text: str | None = None,
) -> RunSummary:
    """Explore `space`, writing every point to ``run_dir/results.sqlite``; returns what happened."""
    if workers < 1:
        raise ValueError(f"--workers must be at least 1, got {workers}")
    run_dir = Path(run_dir)
    fingerprint = space.fingerprint()
    if resume:
        store = Store.open(run_dir)
        had = store.meta().get("fingerprint")
        if had != fingerprint:
            store.close()
            raise ValueError(f"{run_dir} was made by a different space (fingerprint {had}, this space {fingerprint}); "
                             "resume with the space file that started it (only strategy.budget may change)")
    else:
        text = space_text if space_text is not None else yaml.safe_dump(space.model_dump(mode="json"), sort_keys=False)
        store = Store.create(run_dir, {"space": text, "space_json": space.model_dump_json(),
                                       "fingerprint": fingerprint, "seed": space.strategy.seed, "version": VERSION})
    summary = RunSummary(run_dir)
    t0 = time.perf_counter()
    try:
        known: dict[str, Record] = {r.key: r for r in store.records()}
        store.set_meta("space_json", space.model_dump_json())  # a resumed run may have grown its budget
        _loop(space, store, known, summary, workers, evaluate, progress)
    finally:
        summary.elapsed_s = time.perf_counter() - t0
        summary.total = len(store)
        store.close()
    return summary


def _loop(space: Space, store: Store, known: dict[str, Record], summary: RunSummary, workers: int,
          evaluate: Evaluate | None, progress: bool) -> None:
    strategy = make_strategy(space)
    memo: dict[str, Outcome] = {}
    seq = 0
    pool: ProcessPoolExecutor | None = None
    inline: Evaluate | None = None
    if workers == 1:
        inline = evaluate if evaluate is not None else make_evaluator(space)
    else:
        pool = ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"),
                                   initializer=_init_worker, initargs=(space, evaluate))
    try:
        with _Progress(space, progress) as bar:
            batch_no = 0
            while genomes := strategy.ask():
                outcomes: list[Outcome | None] = [None] * len(genomes)
                todo: list[tuple[int, str, int, dict[str, Any]]] = []
                first: dict[str, int] = {}
                for i, g in enumerate(genomes):
                    params = space.decode(g)
                    key = point_key(params)
                    if key in memo:
                        outcomes[i] = memo[key]
                        continue
                    if key in first:  # the same point twice in one batch
                        continue
                    first[key] = i
                    if key in known:
                        rec = known[key]
                        memo[key] = outcomes[i] = outcome_of(space, rec.metrics)
                        summary.resumed += 1
                        _tally(summary, rec.metrics, outcomes[i])
                        bar.advance(outcomes[i], new=False)
                    else:
                        todo.append((i, key, seq, params))
                    seq += 1

                def finish(i: int, key: str, s: int, params: dict, metrics: dict | None, error: str | None) -> None:
                    outcome = outcome_of(space, metrics)
                    if metrics is not None:
                        metrics = {**metrics, "feasible": outcome.violation <= 0, "violation": outcome.violation}
                    store.put(key, s, batch_no, params, metrics, "ok" if error is None else "error", error)
                    memo[key] = outcomes[i] = outcome
                    summary.evaluated += 1
                    _tally(summary, metrics, outcome)
                    bar.advance(outcome, new=True)

                if inline is not None:
                    for i, key, s, params in todo:
                        finish(i, key, s, params, *_safe(inline, params))
                else:
                    assert pool is not None
                    futures: dict[Future, tuple[int, str, int, dict]] = {
                        pool.submit(_evaluate_point, params): (i, key, s, params) for i, key, s, params in todo
                    }
                    pending = set(futures)
                    while pending:
                        done, pending = wait(pending, return_when=FIRST_COMPLETED)
                        for fut in sorted(done, key=lambda f: futures[f][2]):
                            i, key, s, params = futures[fut]
                            try:
                                result = fut.result()
                            except BrokenProcessPool:
                                raise RuntimeError(
                                    f"a worker process died (killed, or crashed in native code) while evaluating "
                                    f"one of {len(pending) + len(done)} points in flight; every finished point is "
                                    f"stored: resume with --resume {store.path.parent}") from None
                            finish(i, key, s, params, *result)
                for i, g in enumerate(genomes):  # duplicates within the batch
                    if outcomes[i] is None:
                        outcomes[i] = memo[point_key(space.decode(g))]
                strategy.tell(genomes, outcomes)  # type: ignore[arg-type]
                batch_no += 1
        summary.batches = batch_no
    finally:
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
    summary.best = _best(space, store)


def _tally(summary: RunSummary, metrics: dict | None, outcome: Outcome) -> None:
    if metrics is None:
        summary.errors += 1
    elif outcome.violation > 0:
        summary.infeasible += 1


def _best(space: Space, store: Store) -> dict[str, Any]:
    """The best feasible point for each objective: {metric: {value, params}}."""
    best: dict[str, Any] = {}
    for rec in store.records():
        if rec.metrics is None or not rec.metrics.get("feasible", True):
            continue
        for o, v in zip(space.objectives, space.objective_vector(rec.metrics)):
            if math.isnan(v):
                continue
            if o.metric not in best or v < best[o.metric]["_min"]:
                best[o.metric] = {"_min": v, "value": rec.metrics[o.key], "key": rec.key, "params": rec.params}
    for b in best.values():
        b.pop("_min")
    return best
