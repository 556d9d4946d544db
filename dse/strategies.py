"""Strategies: which points of a `Space` to evaluate next.

A strategy works on *genomes* (one value index per axis) through an ask/tell loop::

    s = make_strategy(space)
    while batch := s.ask():                 # a list of genomes, [] when done
        s.tell(batch, [evaluate(g) ...])    # one `Outcome` per genome, in the order asked

Every strategy is deterministic for `space.strategy.seed` and independent of how many workers
evaluate a batch, and `budget` counts *distinct* points: a genome proposed again costs nothing (the
runner answers it from what it already has).  The runner resumes a run by replaying the strategy from
the start, answering stored points from the store, so a replay must ask exactly what the first run asked.

- `Grid`: every point, last axis fastest, in chunks of `CHUNK`.
- `RandomSearch`: `budget` distinct points drawn without replacement (prefix-stable: a larger budget
  extends the same sequence).
- `Nsga2`: NSGA-II (Deb et al., IEEE TEC 2002): fast non-dominated sort, crowding distance, binary
  tournament; uniform crossover and per-axis mutation (a step of a few indices along ordered numeric
  axes, a random other value on categorical ones); constraint handling by Deb's constrained domination
  (feasible beats infeasible, smaller total violation beats larger; failed points have infinite violation).
  Children already evaluated are redrawn, so each generation spends budget on new points only.
  This is ``nsga2`` (or ``nsga2`` with ``library: builtin``).
- `PymooNsga2` (``nsga2`` with ``library: pymoo``): pymoo's NSGA-II (Blank & Deb, IEEE Access 2020) through
  its ask/tell interface (``algorithm.setup(problem, seed=...)``, ``ask()``, ``tell(infills=pop)``) over
  the same integer genomes: integer random sampling, SBX crossover and polynomial mutation with
  rounding repair (pymoo's documented recipe for integer variables; categorical axes are treated as
  their value index too), one inequality constraint ``G = violation`` (failed points: `FAILED_G`),
  and a duplicate elimination that also rejects every genome asked before, so budget counts distinct
  points; each generation gets at most `PymooNsga2.MAX_TRIES` mating rounds of a whole population of
  children, and a generation that finds no unseen child ends the run below its budget (pymoo's
  population has converged).  Axes with a single value are left out of pymoo's problem.  Deterministic
  for the seed (pymoo >= 0.6.2 draws from its own ``numpy.random.Generator``); needs pymoo (``dev`` extra).
- `Tpe`: optuna's TPE sampler (multi-objective and constrained), `batch` points per round; needs optuna.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from dse.space import Space

Genome = tuple[int, ...]
CHUNK = 256


@dataclass(frozen=True)
class Outcome:
    """What a strategy learns about one genome: objectives to minimise (None if it failed), violation."""

    objectives: tuple[float, ...] | None
    violation: float

    @property
    def failed(self) -> bool:
        return self.objectives is None


class Strategy(Protocol):
    def ask(self) -> list[Genome]: ...

    def tell(self, genomes: list[Genome], outcomes: list[Outcome]) -> None: ...


class Grid:
    def __init__(self, space: Space):
        self.space = space
        self.next = 0

    def ask(self) -> list[Genome]:
        stop = min(self.next + CHUNK, self.space.size)
        batch = [self.space.unravel(i) for i in range(self.next, stop)]
        self.next = stop
        return batch

    def tell(self, genomes: list[Genome], outcomes: list[Outcome]) -> None:
        pass


class RandomSearch:
    def __init__(self, space: Space):
        self.space = space
        self.rng = random.Random(space.strategy.seed)
        n = space.size
        self.order: list[int] | None = None
        if n <= 100_000:
            self.order = list(range(n))
            self.rng.shuffle(self.order)
        self.drawn: set[int] = set()
        self.count = 0

    def _draw(self) -> int:
        if self.order is not None:
            return self.order[self.count]
        while True:
            i = self.rng.randrange(self.space.size)
            if i not in self.drawn:
                self.drawn.add(i)
                return i

    def ask(self) -> list[Genome]:
        batch = []
        while self.count < self.space.budget and len(batch) < CHUNK:
            batch.append(self.space.unravel(self._draw()))
            self.count += 1
        return batch

    def tell(self, genomes: list[Genome], outcomes: list[Outcome]) -> None:
        pass


# ---- NSGA-II -------------------------------------------------------------------------------------
def constrained_fronts(F: np.ndarray, violation: np.ndarray) -> list[list[int]]:
    """Non-dominated sorting under Deb's constrained domination; returns fronts of row indices.

    i beats j when both are feasible and i Pareto-dominates j, when only i is feasible, or when both
    are infeasible and i violates less."""
    F = np.asarray(F, dtype=float)
    v = np.asarray(violation, dtype=float)
    n = len(F)
    feas = v <= 0
    le = np.all(F[:, None, :] <= F[None, :, :], axis=2)
    lt = np.any(F[:, None, :] < F[None, :, :], axis=2)
    both = feas[:, None] & feas[None, :]
    infeasible_pair = ~feas[:, None] & ~feas[None, :]
    beats = (both & le & lt) | (feas[:, None] & ~feas[None, :]) | (infeasible_pair & (v[:, None] < v[None, :]))
    count = beats.sum(axis=0)
    fronts: list[list[int]] = []
    current = [i for i in range(n) if count[i] == 0]
    while current:
        fronts.append(current)
        count = count - beats[current].sum(axis=0)
        count[current] = -1
        current = [i for i in range(n) if count[i] == 0]
    return fronts


def crowding_distance(F: np.ndarray) -> np.ndarray:
    """Crowding distance of each row of one front (boundary points get infinity)."""
    n, m = F.shape
    d = np.zeros(n)
    if n <= 2:
        return np.full(n, math.inf)
    for k in range(m):
        order = np.argsort(F[:, k], kind="stable")
        span = F[order[-1], k] - F[order[0], k]
        d[order[0]] = d[order[-1]] = math.inf
        if span <= 0:
            continue
        d[order[1:-1]] += (F[order[2:], k] - F[order[:-2], k]) / span
    return d


class Nsga2:
    MAX_TRIES = 50

    def __init__(self, space: Space):
        self.space = space
        self.rng = random.Random(space.strategy.seed)
        self.size = space.strategy.population
        self.lengths = [len(v) for v in space.axes.values()]
        self.ordered = [all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in v)
                        for v in space.axes.values()]
        self.seen: set[Genome] = set()
        self.pop: list[Genome] = []
        self.F: dict[Genome, np.ndarray] = {}
        self.viol: dict[Genome, float] = {}
        self.rank: dict[Genome, int] = {}
        self.crowd: dict[Genome, float] = {}
        self.generation = 0

    def _left(self) -> int:
        return min(self.space.budget, self.space.size) - len(self.seen)

    def _random_genome(self) -> Genome:
        return tuple(self.rng.randrange(n) for n in self.lengths)

    def _novel(self, make) -> list[Genome]:
        want = min(self.size, self._left())
        out: list[Genome] = []
        tries = 0
        while len(out) < want and tries < self.MAX_TRIES * self.size:
            g = make()
            tries += 1
            if g not in self.seen and g not in out:
                out.append(g)
        return out

    def ask(self) -> list[Genome]:
        if self._left() <= 0:
            return []
        if not self.pop:
            batch = self._novel(self._random_genome)
        else:
            batch = self._novel(self._child)
        self.seen.update(batch)
        return batch

    def _better(self, a: Genome, b: Genome) -> Genome:
        if self.rank[a] != self.rank[b]:
            return a if self.rank[a] < self.rank[b] else b
        if self.crowd[a] != self.crowd[b]:
            return a if self.crowd[a] > self.crowd[b] else b
        return a if self.rng.random() < 0.5 else b

    def _tournament(self) -> Genome:
        a, b = self.rng.choice(self.pop), self.rng.choice(self.pop)
        return self._better(a, b)

    def _child(self) -> Genome:
        p1, p2 = self._tournament(), self._tournament()
        if self.rng.random() < 0.9:
            child = [x if self.rng.random() < 0.5 else y for x, y in zip(p1, p2)]
        else:
            child = list(p1)
        rate = 1.0 / len(child)
        for i, n in enumerate(self.lengths):
            if n > 1 and self.rng.random() < rate:
                child[i] = self._mutate(child[i], i)
        return tuple(child)

    def _mutate(self, v: int, axis: int) -> int:
        n = self.lengths[axis]
        if self.ordered[axis] and self.rng.random() < 0.7:
            step = 1
            while self.rng.random() < 0.5 and step < n:
                step += 1
            return min(n - 1, max(0, v + (step if self.rng.random() < 0.5 else -step)))
        other = self.rng.randrange(n - 1)
        return other if other < v else other + 1

    def tell(self, genomes: list[Genome], outcomes: list[Outcome]) -> None:
        m = len(self.space.objectives)
        for g, o in zip(genomes, outcomes):
            if o.failed or any(math.isnan(x) for x in o.objectives):
                self.F[g], self.viol[g] = np.full(m, math.inf), math.inf
            else:
                self.F[g], self.viol[g] = np.asarray(o.objectives, dtype=float), float(o.violation)
        union = list(dict.fromkeys(self.pop + list(genomes)))
        F = np.array([self.F[g] for g in union])
        V = np.array([self.viol[g] for g in union])
        chosen: list[Genome] = []
        for r, front in enumerate(constrained_fronts(F, V)):
            d = crowding_distance(F[front]) if all(V[i] <= 0 for i in front) else -V[front]
            for i, di in zip(front, d):
                self.rank[union[i]], self.crowd[union[i]] = r, float(di)
            if len(chosen) + len(front) <= self.size:
                chosen += [union[i] for i in front]
            else:
                order = sorted(range(len(front)), key=lambda k: (-d[k], front[k]))
                chosen += [union[front[k]] for k in order[: self.size - len(chosen)]]
                break
        self.pop = chosen
        self.generation += 1


# ---- NSGA-II through pymoo ------------------------------------------------------------------------
FAILED_G = 1e30  # the constraint value of a failed point: worse than any real violation, still finite


def _pymoo_missing() -> str:
    return ("strategy: 'nsga2' with library 'pymoo' needs pymoo>=0.6.2, which coex's dev extra installs "
            "(pip install 'pymoo>=0.6.2'); or drop 'library' for the built-in NSGA-II")


class PymooNsga2:
    # pymoo's integer recipe (docs, "Discrete Variable Problem"): SBX and PM with a small distribution
    # index so that rounded children still move; eta = 3 as there, assumed suitable for index genomes.
    ETA = 3.0
    MAX_TRIES = 10  # mating rounds (a generation of children each) per generation; assumed, keeps tests fast

    def __init__(self, space: Space):
        try:
            from pymoo.algorithms.moo.nsga2 import NSGA2, binary_tournament
            from pymoo.core.mating import Mating
            from pymoo.core.duplicate import DuplicateElimination
            from pymoo.core.evaluator import Evaluator
            from pymoo.core.problem import Problem
            from pymoo.core.termination import NoTermination
            from pymoo.operators.crossover.sbx import SBX
            from pymoo.operators.mutation.pm import PM
            from pymoo.operators.repair.rounding import RoundingRepair
            from pymoo.operators.sampling.rnd import IntegerRandomSampling
            from pymoo.operators.selection.tournament import TournamentSelection
            from pymoo.problems.static import StaticProblem
        except ImportError:
            raise ValueError(_pymoo_missing()) from None
        self.space = space
        self.lengths = [len(v) for v in space.axes.values()]
        self.free = [i for i, n in enumerate(self.lengths) if n > 1]  # the genes pymoo varies
        self.seen: set[Genome] = set()
        self.m = len(space.objectives)
        self._static, self._evaluator = StaticProblem, Evaluator
        owner = self

        class Archive(DuplicateElimination):  # duplicates within a batch, of the population, of all asked
            def _do(self, pop, other, is_duplicate):
                X = [owner._genome(x) for x in pop.get("X")]
                if other is None:
                    mine: set[Genome] = set()
                    for i, g in enumerate(X):
                        is_duplicate[i] = g in mine or g in owner.seen
                        mine.add(g)
                else:
                    theirs = {owner._genome(x) for x in other.get("X")}
                    for i, g in enumerate(X):
                        is_duplicate[i] = is_duplicate[i] or g in theirs
                return is_duplicate

        class FullMating(Mating):  # a whole generation of children per try, not only the few missing
            def _do(self, problem, pop, n_offsprings, **kwargs):
                return super()._do(problem, pop, max(n_offsprings, owner.size), **kwargs)

        self.size = space.strategy.population
        n_var = max(1, len(self.free))
        xu = np.array([self.lengths[i] - 1 for i in self.free] or [0])
        self.problem = Problem(n_var=n_var, n_obj=self.m, n_ieq_constr=1, xl=np.zeros(n_var), xu=xu, vtype=int)
        archive = Archive()
        mating = FullMating(TournamentSelection(func_comp=binary_tournament),
                            SBX(prob=1.0, eta=self.ETA, vtype=float, repair=RoundingRepair()),
                            PM(prob=1.0, eta=self.ETA, vtype=float, repair=RoundingRepair()),
                            eliminate_duplicates=archive, n_max_iterations=self.MAX_TRIES)
        self.algorithm = NSGA2(pop_size=self.size, sampling=IntegerRandomSampling(), mating=mating,
                               eliminate_duplicates=archive)
        self.algorithm.setup(self.problem, seed=space.strategy.seed, termination=NoTermination())
        self.pending = None

    def _genome(self, x) -> Genome:
        g = [0] * len(self.lengths)
        for i, v in zip(self.free, x):
            g[i] = int(round(float(v)))
        return tuple(g)

    def ask(self) -> list[Genome]:
        left = min(self.space.budget, self.space.size) - len(self.seen)
        if left <= 0:
            return []
        pop = self.algorithm.ask()
        if pop is None or len(pop) == 0:
            return []
        pop = pop[:left]
        batch = [self._genome(x) for x in pop.get("X")]
        self.seen.update(batch)
        self.pending = pop
        return batch

    def tell(self, genomes: list[Genome], outcomes: list[Outcome]) -> None:
        pop, self.pending = self.pending, None
        F = np.zeros((len(genomes), self.m))
        G = np.zeros((len(genomes), 1))
        for k, o in enumerate(outcomes):
            if o.failed or any(math.isnan(x) or math.isinf(x) for x in o.objectives):
                G[k, 0] = FAILED_G  # F stays 0: pymoo ranks infeasible points by G alone
            else:
                F[k] = o.objectives
                G[k, 0] = min(float(o.violation), FAILED_G)
        self._evaluator().eval(self._static(self.problem, F=F, G=G), pop)
        self.algorithm.tell(infills=pop)


# ---- TPE (optuna) --------------------------------------------------------------------------------
class Tpe:
    def __init__(self, space: Space):
        try:
            import optuna
        except ImportError:
            raise ValueError("strategy 'tpe' needs optuna (pip install optuna); or use nsga2 or random") from None
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        self.optuna = optuna
        self.space = space
        self.lengths = [len(v) for v in space.axes.values()]
        self.ordered = [all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in v)
                        for v in space.axes.values()]
        self.seen: set[Genome] = set()
        self.asks = 0
        self.set_constraint = hasattr(optuna.trial.Trial, "set_constraint")  # optuna >= 5
        kw = {}
        if space.constraints and not self.set_constraint:
            kw["constraints_func"] = _constraints_attr
        sampler = optuna.samplers.TPESampler(seed=space.strategy.seed,
                                             n_startup_trials=min(10, max(2, space.budget // 5)), **kw)
        self.study = optuna.create_study(directions=["minimize"] * len(space.objectives), sampler=sampler)
        self.pending: dict[Genome, list] = {}

    def ask(self) -> list[Genome]:
        left = self.space.budget - len(self.seen)
        if left <= 0 or self.asks >= 20 * self.space.budget:
            return []
        batch: list[Genome] = []
        self.pending = {}
        new = 0
        for _ in range(self.space.strategy.batch):
            if new >= left:
                break
            trial = self.study.ask()
            self.asks += 1
            g = tuple(trial.suggest_int(f"x{i}", 0, n - 1) if self.ordered[i] else
                      trial.suggest_categorical(f"x{i}", list(range(n))) for i, n in enumerate(self.lengths))
            self.pending.setdefault(g, []).append(trial)
            if g not in batch:
                batch.append(g)
                if g not in self.seen:
                    new += 1
        self.seen.update(batch)
        return batch

    def tell(self, genomes: list[Genome], outcomes: list[Outcome]) -> None:
        State = self.optuna.trial.TrialState
        for g, o in zip(genomes, outcomes):
            for trial in self.pending.pop(g, []):
                if o.failed or any(math.isnan(x) for x in o.objectives):
                    self.study.tell(trial, state=State.FAIL)
                    continue
                if self.space.constraints:
                    if self.set_constraint:
                        trial.set_constraint("violation", min(o.violation, 1e300))
                    else:
                        trial.set_user_attr("constraints", [min(o.violation, 1e300)])
                self.study.tell(trial, list(o.objectives))


def _constraints_attr(trial) -> list[float]:  # optuna < 5
    return trial.user_attrs["constraints"]


def make_strategy(space: Space) -> Strategy:
    if space.strategy.name == "nsga2" and space.strategy.library == "pymoo":
        return PymooNsga2(space)
    return {"grid": Grid, "random": RandomSearch, "nsga2": Nsga2, "tpe": Tpe}[space.strategy.name](space)
