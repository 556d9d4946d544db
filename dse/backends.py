"""Where the DSE runner's evaluations run: in this process, in a process pool, or on a Ray cluster.

    with open_backend("local", make, workers=2) as backend:
        for job, (value, error) in backend.map(fn, jobs):   # jobs: (tag, params); unordered replies
            ...

- ``make`` is a picklable zero-argument factory of the evaluator; every worker calls it once and keeps
  the evaluator (its workload graphs and the simulator's per-op cost memo) for all its points.
- ``fn(evaluator, params) -> (value, error)`` is a picklable top-level function that never raises
  (`dse.runner.evaluate_point`, `dse.runner.point_layers`): a failing point is data.
- ``map`` yields each job with its reply as it completes, so the runner can store a point before the
  next one finishes.  The order of replies is not part of the contract: the runner's results depend
  only on the replies, which is why every backend gives the same store for the same seed.

Backends:

- ``local`` with one worker: `Inline`, in this process (a crash here ends the run: nothing to restart).
- ``local`` with N > 1 workers: `Pool`, a ``ProcessPoolExecutor`` with at most ``8 N`` points in flight
  (queued in the pool, so the workers never wait for the runner).  Workers are forked when that is
  safe -- the platform has ``fork`` and this process runs no other Python thread, so no lock can be
  held across the fork -- and spawned otherwise (`start_method`).  A forked worker inherits the modules
  already imported instead of importing coex again (about 0.7 s per worker, which is half the time of
  a 128-point run); the store's SQLite connection is never touched in a worker (workers leave through
  ``os._exit``, which runs no destructors).  ``COEX_DSE_START_METHOD=spawn`` (or ``fork``,
  ``forkserver``) overrides the choice.
- ``ray``: `Ray`, one actor per worker on a local Ray cluster started with ``num_cpus=N`` (or the
  cluster named by ``RAY_ADDRESS``, or one this process already joined), one point in flight per actor.

A worker that dies (SIGKILL, the OOM killer, a segfault in native code) costs one point, not the run:
its point gets the error `WORKER_DIED` and the worker is replaced.  A Ray actor runs one point at a
time, so the point it died on is known.  A broken process pool only says that *some* process died, so
`Pool` starts a fresh pool and re-runs the points that were in flight one at a time: the one that kills
its worker again is the culprit, the others get their ordinary results.  After `DEATH_LIMIT` deaths in a
row without a point finishing in between (a worker that cannot even start), the run stops with an error;
every finished point is in the store by then.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Any

Reply = tuple[Any, str | None]                  # (value, error): exactly one of them is None
Job = tuple[Any, dict[str, Any]]                # (the caller's tag, the point's parameters)
TaskFn = Callable[[Any, dict[str, Any]], Reply]

BACKENDS = ("local", "ray")
WORKER_DIED = ("WorkerDied: the worker process died while evaluating this point "
               "(killed by a signal, out of memory, or a crash in native code)")
DEATH_LIMIT = 5


START_METHODS = ("fork", "spawn", "forkserver")


def start_method() -> str:
    """How `Pool` starts its workers now: ``COEX_DSE_START_METHOD`` if set, else ``fork`` where the
    platform has it and this process runs a single thread, else ``spawn`` (module docstring)."""
    asked = os.environ.get("COEX_DSE_START_METHOD")
    if asked:
        if asked not in START_METHODS or asked not in multiprocessing.get_all_start_methods():
            raise ValueError(f"COEX_DSE_START_METHOD={asked!r}: expected one of "
                             f"{', '.join(m for m in START_METHODS if m in multiprocessing.get_all_start_methods())}")
        return asked
    if "fork" in multiprocessing.get_all_start_methods() and threading.active_count() == 1:
        return "fork"
    return "spawn"


def _stop(run_hint: str, detail: str = "") -> RuntimeError:
    return RuntimeError(f"{DEATH_LIMIT} points in a row killed their worker process, so the workers probably "
                        f"cannot run at all{detail}; every finished point is stored{run_hint}")


# ---- worker side (top-level, spawn-safe) ---------------------------------------------------------
_EVALUATOR: Any = None


def _init_worker(make: Callable[[], Any]) -> None:
    global _EVALUATOR
    _EVALUATOR = make()


def _call(fn: TaskFn, params: dict[str, Any]) -> Reply:
    return fn(_EVALUATOR, params)


class _Actor:
    """A Ray actor's body: one evaluator, built once (wrapped by ``ray.remote`` in `Ray`)."""

    def __init__(self, make: Callable[[], Any]):
        self.evaluator = make()

    def call(self, fn: TaskFn, params: dict[str, Any]) -> Reply:
        return fn(self.evaluator, params)


# ---- backends ------------------------------------------------------------------------------------
class Backend:
    """The interface: ``map(fn, jobs)`` and ``close()``; a context manager."""

    def map(self, fn: TaskFn, jobs: Iterable[Job]) -> Iterator[tuple[Job, Reply]]:
        raise NotImplementedError

    def close(self) -> None:
        pass

    def __enter__(self) -> Backend:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


class Inline(Backend):
    def __init__(self, make: Callable[[], Any]):
        self.evaluator = make()

    def map(self, fn: TaskFn, jobs: Iterable[Job]) -> Iterator[tuple[Job, Reply]]:
        for job in jobs:
            yield job, fn(self.evaluator, job[1])


class Pool(Backend):
    def __init__(self, make: Callable[[], Any], workers: int, run_hint: str = ""):
        self.make, self.workers, self.run_hint = make, workers, run_hint
        self.window = 8 * workers  # points in flight: the suspects when the pool breaks
        self.pool = self._start()

    def _start(self) -> ProcessPoolExecutor:
        method = start_method()
        pool = ProcessPoolExecutor(max_workers=self.workers, mp_context=multiprocessing.get_context(method),
                                   initializer=_init_worker, initargs=(self.make,))
        if method == "fork":  # a forking pool forks all its workers at its first submit: now, while this
            pool.submit(os.getpid)  # process still has one thread (no progress bar yet), not mid-run
        return pool

    def _restart(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)
        self.pool = self._start()

    def map(self, fn: TaskFn, jobs: Iterable[Job]) -> Iterator[tuple[Job, Reply]]:
        queue: deque[Job] = deque(jobs)
        suspects: deque[Job] = deque()   # in flight when the pool broke: re-run one at a time
        inflight: dict[Future, tuple[int, Job]] = {}
        n = deaths = 0
        while queue or suspects or inflight:
            lane, limit = (suspects, 1) if suspects else (queue, self.window)
            while lane and len(inflight) < limit:
                job = lane.popleft()
                inflight[self.pool.submit(_call, fn, job[1])] = (n, job)
                n += 1
            alone = len(inflight) == 1
            done, _ = wait(inflight, return_when=FIRST_COMPLETED)
            if any(isinstance(f.exception(), BrokenProcessPool) for f in done):
                wait(inflight)  # the pool is broken: every other future in flight completes now
                done = set(inflight)
            broken: list[Job] = []
            for fut in sorted(done, key=lambda f: inflight[f][0]):
                _, job = inflight.pop(fut)
                if isinstance(fut.exception(), BrokenProcessPool):
                    broken.append(job)
                    continue
                deaths = 0
                yield job, fut.result()
            if not broken:
                continue
            self._restart()
            if alone:  # the only point in flight: it killed its worker
                deaths += 1
                if deaths >= DEATH_LIMIT:
                    raise _stop(self.run_hint)
                yield broken[0], (None, WORKER_DIED)
            else:
                suspects.extendleft(reversed(broken))

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)


class Ray(Backend):
    def __init__(self, make: Callable[[], Any], workers: int, run_hint: str = ""):
        try:
            import ray
        except ImportError:
            raise ValueError("--backend ray needs Ray (ray>=2.9, coex's dist extra): pip install ray") from None
        self.ray, self.make, self.run_hint = ray, make, run_hint
        self.owns = not ray.is_initialized()
        if self.owns:  # a local cluster of `workers` CPUs, unless RAY_ADDRESS names one to join
            kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False,
                                      "logging_level": logging.WARNING}
            if not os.environ.get("RAY_ADDRESS"):
                kwargs["num_cpus"] = workers
            ray.init(**kwargs)
        self.remote_cls = ray.remote(num_cpus=1, max_restarts=0)(_Actor)
        self.actors = [self.remote_cls.remote(make) for _ in range(workers)]

    def map(self, fn: TaskFn, jobs: Iterable[Job]) -> Iterator[tuple[Job, Reply]]:
        ray = self.ray
        queue: deque[Job] = deque(jobs)
        idle = list(range(len(self.actors)))[::-1]
        inflight: dict[Any, tuple[int, int, Job]] = {}  # object ref -> (order, actor slot, job)
        n = deaths = 0
        while queue or inflight:
            while queue and idle:
                slot, job = idle.pop(), queue.popleft()
                inflight[self.actors[slot].call.remote(fn, job[1])] = (n, slot, job)
                n += 1
            ready, _ = ray.wait(list(inflight), num_returns=1)
            for ref in sorted(ready, key=lambda r: inflight[r][0]):
                _, slot, job = inflight.pop(ref)
                try:
                    reply = ray.get(ref)
                    deaths = 0
                except ray.exceptions.RayError as e:  # the actor (its process) died on this point
                    deaths += 1
                    if deaths >= DEATH_LIMIT:
                        raise _stop(self.run_hint, f" (Ray: {str(e).splitlines()[0]})") from None
                    ray.kill(self.actors[slot], no_restart=True)
                    self.actors[slot] = self.remote_cls.remote(self.make)
                    reply = (None, WORKER_DIED)
                idle.append(slot)
                yield job, reply

    def close(self) -> None:
        for a in self.actors:
            try:
                self.ray.kill(a, no_restart=True)
            except Exception:  # noqa: BLE001 - already dead
                pass
        if self.owns:
            self.ray.shutdown()


def open_backend(name: str, make: Callable[[], Any], workers: int, run_hint: str = "") -> Backend:
    """The backend called `name` (one of `BACKENDS`) with `workers` workers; `run_hint` ends the message
    of a run stopped by dying workers (how to resume it)."""
    if workers < 1:
        raise ValueError(f"--workers must be at least 1, got {workers}")
    if name == "local":
        return Inline(make) if workers == 1 else Pool(make, workers, run_hint)
    if name == "ray":
        return Ray(make, workers, run_hint)
    raise ValueError(f"unknown backend {name!r}; expected one of {', '.join(BACKENDS)}")
