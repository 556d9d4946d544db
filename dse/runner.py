"""The DSE runner: ask a strategy for points, evaluate them on a backend, write each to the store.

    summary = run(space, "runs/sweep", workers=2)                # a new run
    summary = run(space, "runs/sweep", workers=2, resume=True)   # carry on after a kill
    summary = run(space, "runs/sweep", workers=4, backend="ray") # on a (local) Ray cluster

- Evaluation: ``evaluate(params) -> metrics`` (a picklable top-level function or object).  The default,
  `SimEvaluator`, applies the point's parameters to the space's base preset, validates the spec, runs
  ``sim.simulate`` on every workload and aggregates the summaries with the workloads' weights
  (`aggregate`).  Each worker keeps one evaluator, so workload graphs (and the base preset) are read
  once per worker.  The simulator memoises per-op costs by (op signature, unit, accelerator
  fingerprint): within a point the repeated layers cost one call each; across points only equal specs
  share them (a point's few distinct signatures are about 2 % of its time on BERT-base, see
  ``benchmarks/bench_engine.py --phases``).  A point reads only ``Result.summary``, so the per-op
  DataFrame is never built (`sim.result`).
- Backends (`dse.backends`): ``local`` evaluates in this process (``workers=1``) or in a
  process pool; ``ray`` on one Ray actor per worker.  They give the same store for the same seed.
- A point whose evaluation raises (an invalid combination of axis values, say) is stored with
  ``status='error'`` and the message; the run carries on.  Its outcome counts as infeasible.  So is a
  point whose worker process died (`dse.backends.WORKER_DIED`); the worker is replaced.
- Every finished point is committed to the store as it completes, before the next batch is asked.
- Resume replays the strategy from its seed, answering points already in the store from the store:
  since strategies are deterministic and ignore how many workers ran, the replay proposes the same
  points in the same order, so a resumed run ends with exactly the points of an uninterrupted one,
  re-evaluating only those that had not finished.
- Per-layer tables: when the strategy is done, the best feasible points (the Pareto front by the first
  objective, at most `LAYER_POINTS`; `best_keys`) are evaluated once more by the evaluator's
  ``layers(params)`` (the default evaluator has one) and their per-layer tables are written to the
  store's ``layers`` table, so that reports can show breakdowns without simulating.  Points that
  already have one are skipped, so this step resumes too.
"""

from __future__ import annotations

import functools
import math
import time
import traceback
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from dse.backends import Backend, open_backend
from dse.pareto import pareto_mask
from dse.space import Space, point_key
from dse.store import Record, Store
from dse.strategies import Outcome, make_strategy

Evaluate = Callable[[dict[str, Any]], dict[str, Any]]
VERSION = "0.1.0"
LAYER_POINTS = 20  # best points that get a per-layer table in the store

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
    """The default evaluator: base preset + point overrides -> `sim.simulate` on every workload.

    Calling it gives a point's metrics; `layers` gives the point's per-layer table (the same
    simulations, grouped by layer by `reports.ppa.layer_rows`)."""

    def __init__(self, space: Space):
        self.space = space
        self._graphs: dict[str, Any] = {}
        self._base: dict | None = None  # the base preset's mapping, read once (apply_overrides copies it)

    def _graph(self, w: Any) -> Any:
        if w.label not in self._graphs:
            import workloads

            self._graphs[w.label] = workloads.load(w.name, **w.kwargs)
        return self._graphs[w.label]

    def _simulate(self, params: dict[str, Any]) -> Iterable[tuple[str, Any]]:
        from arch.loader import apply_overrides, validate

        import sim

        if self._base is None:
            self._base = self.space.base_dict
        accelerator = validate(apply_overrides(self._base, params, origin="point"), origin="point")
        for w in self.space.workloads:
            yield w.label, sim.simulate(self._graph(w), accelerator)

    def __call__(self, params: dict[str, Any]) -> dict[str, Any]:
        per: dict[str, dict[str, Any]] = {}
        for label, result in self._simulate(params):
            per[label] = {k: v for k, v in result.summary.items() if isinstance(v, (int, float, str, bool))}
        out = aggregate(per, {w.label: w.weight for w in self.space.workloads})
        if len(per) > 1:
            out["per_workload"] = per
        return out

    def layers(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        """One row per (workload, layer): the columns of `dse.store.LAYER_COLUMNS`."""
        from reports.ppa import layer_rows  # the one grouping of per-op rows by layer, without a DataFrame

        rows: list[dict[str, Any]] = []
        for label, result in self._simulate(params):
            for rec in layer_rows(result):
                rows.append({"workload": label, **rec})
        return rows


def make_evaluator(space: Space) -> Evaluate:
    if space.evaluator == "sim":
        return SimEvaluator(space)
    from dse.space import resolve_evaluator

    return resolve_evaluator(space.evaluator)


def _build_evaluator(space: Space, evaluate: Evaluate | None) -> Evaluate:
    return evaluate if evaluate is not None else make_evaluator(space)


def _has_layers(space: Space, evaluate: Evaluate | None) -> bool:
    if evaluate is not None:
        return callable(getattr(evaluate, "layers", None))
    if space.evaluator == "sim":
        return True
    from dse.space import resolve_evaluator

    return callable(getattr(resolve_evaluator(space.evaluator), "layers", None))


# ---- what workers run (top-level, picklable; never raise) ----------------------------------------
def evaluate_point(evaluate: Evaluate, params: dict[str, Any]) -> tuple[dict[str, Any] | None, str | None]:
    """(metrics with the derived objectives, None), or (None, the error's type and message)."""
    try:
        metrics = evaluate(params)
        if not isinstance(metrics, dict):
            raise TypeError(f"the evaluator returned {type(metrics).__name__}, expected a dict of metrics")
        return derive(metrics), None
    except Exception as e:  # noqa: BLE001 - a failing point is data, not a crash
        return None, _message(e)


def point_layers(evaluate: Evaluate, params: dict[str, Any]) -> tuple[list[dict[str, Any]] | None, str | None]:
    """(the evaluator's per-layer rows, None), or (None, the error)."""
    try:
        rows = evaluate.layers(params)  # type: ignore[attr-defined]
        if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
            raise TypeError("the evaluator's layers() returned something other than a list of dicts")
        return rows, None
    except Exception as e:  # noqa: BLE001
        return None, _message(e)


def _message(e: Exception) -> str:
    msg = f"{type(e).__name__}: {e}".strip()
    if not str(e):
        msg += " at " + traceback.format_exc(limit=-1).strip().splitlines()[-2].strip()
    return msg


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
    elapsed_s: float = 0.0      # the whole call, per-layer tables included
    layers: int = 0             # points given a per-layer table by this call
    layers_s: float = 0.0       # time spent on them
    best: dict[str, Any] = field(default_factory=dict)

    @property
    def points_per_s(self) -> float:
        """Points evaluated per second of exploration (the per-layer tables' time left out)."""
        t = self.elapsed_s - self.layers_s
        return self.evaluated / t if t > 0 else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {"run_dir": str(self.run_dir), "total": self.total, "evaluated": self.evaluated,
                "resumed": self.resumed, "errors": self.errors, "infeasible": self.infeasible,
                "batches": self.batches, "elapsed_s": self.elapsed_s, "points_per_s": self.points_per_s,
                "layers": self.layers, "layers_s": self.layers_s, "best": self.best}


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
    backend: str = "local",
) -> RunSummary:
    """Explore `space`, writing every point to ``run_dir/results.sqlite``; returns what happened.

    `backend` is ``local`` (this process for one worker, else a process pool) or ``ray``."""
    if workers < 1:
        raise ValueError(f"--workers must be at least 1, got {workers}")
    check_backend(backend)
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
        make = functools.partial(_build_evaluator, space, evaluate)
        with open_backend(backend, make, workers, run_hint=f": resume with --resume {run_dir}") as b:
            _loop(space, store, known, summary, b, progress)
            if _has_layers(space, evaluate):
                t1 = time.perf_counter()
                summary.layers = _store_layers(space, store, b)
                summary.layers_s = time.perf_counter() - t1
        summary.best = _best(space, store)
    finally:
        summary.elapsed_s = time.perf_counter() - t0
        summary.total = len(store)
        store.close()
    return summary


def check_backend(name: str) -> None:
    """Fail before anything runs if `name` is unknown, or is ``ray`` without Ray installed."""
    import importlib.util

    from dse.backends import BACKENDS

    if name not in BACKENDS:
        raise ValueError(f"unknown backend {name!r}; expected one of {', '.join(BACKENDS)}")
    if name == "ray" and importlib.util.find_spec("ray") is None:
        raise ValueError("--backend ray needs Ray (ray>=2.9, coex's dist extra): pip install ray")


def _loop(space: Space, store: Store, known: dict[str, Record], summary: RunSummary, backend: Backend,
          progress: bool) -> None:
    strategy = make_strategy(space)
    memo: dict[str, Outcome] = {}
    seq = 0
    with _Progress(space, progress) as bar:
        batch_no = 0
        while genomes := strategy.ask():
            outcomes: list[Outcome | None] = [None] * len(genomes)
            todo: list[tuple[tuple[int, str, int], dict[str, Any]]] = []
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
                    todo.append(((i, key, seq), params))
                seq += 1
            for ((i, key, s), params), (metrics, error) in backend.map(evaluate_point, todo):
                outcome = outcome_of(space, metrics)
                if metrics is not None:
                    metrics = {**metrics, "feasible": outcome.violation <= 0, "violation": outcome.violation}
                store.put(key, s, batch_no, params, metrics, "ok" if error is None else "error", error)
                memo[key] = outcomes[i] = outcome
                summary.evaluated += 1
                _tally(summary, metrics, outcome)
                bar.advance(outcome, new=True)
            for i, g in enumerate(genomes):  # duplicates within the batch
                if outcomes[i] is None:
                    outcomes[i] = memo[point_key(space.decode(g))]
            strategy.tell(genomes, outcomes)  # type: ignore[arg-type]
            batch_no += 1
    summary.batches = batch_no


def best_keys(space: Space, records: Iterable[Record], limit: int = LAYER_POINTS) -> list[str]:
    """Keys of the feasible Pareto front of the space's objectives, best first by the first objective
    (ties in proposal order), at most `limit`: the points that get per-layer tables."""
    recs, rows = [], []
    for rec in records:
        if rec.metrics is None or not rec.metrics.get("feasible", True):
            continue
        f = space.objective_vector(rec.metrics)
        if not any(math.isnan(x) for x in f):
            recs.append(rec)
            rows.append(f)
    if not recs:
        return []
    F = np.asarray(rows, dtype=float)
    front = [i for i in np.flatnonzero(pareto_mask(F))]
    front.sort(key=lambda i: (F[i, 0], recs[i].seq))
    return [recs[i].key for i in front[:limit]]


def _store_layers(space: Space, store: Store, backend: Backend) -> int:
    """Per-layer tables for the best points that have none yet; returns how many were written."""
    have = store.layer_keys()
    todo = [(key, store.get(key).params) for key in best_keys(space, store.records()) if key not in have]
    n = 0
    for (key, _), (rows, error) in backend.map(point_layers, todo):
        if error is None:
            store.put_layers(key, rows)
            n += 1
    return n


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
