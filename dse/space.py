"""`Space`: what a design-space exploration varies, measures and keeps.

A space file is YAML (duplicate keys are errors)::

    name: tpu-sweep
    base: tpu-v1                        # preset name, or a YAML path relative to this file
    axes:                               # dotted spec paths; list items (units, memory) by name
      units.mxu.rows: [32, 64, 128, 256]
      units.mxu.cols: "32..256 step 32"
      memory.unified_buffer.capacity_bytes: "256KiB..32MiB log"
      units.mxu.pe: [int8, mixpe-w4a8]
    workloads:                          # zoo names with keyword arguments and weights
      - {name: bert-base, weight: 1.0, kwargs: {seq_len: 128}}
    objectives: [latency, {metric: energy, sense: min}, area]
    constraints: ["area_mm2 <= 100", "power <= 40"]
    strategy: {name: nsga2, budget: 200, seed: 0, population: 24}

Axis values are a list, or a range string whose ends accept sizes (``arch.parse_size``) and floats:

    ``LO..HI``             LO, LO+1, ..., HI
    ``LO..HI step S``      LO, LO+S, LO+2S, ... up to HI
    ``LO..HI log``         LO, 2 LO, 4 LO, ... up to HI (doubling)
    ``LO..HI log N``       N geometrically spaced values, LO and HI included (rounded when both ends are integers)

Objectives name one of `METRICS` (``latency``, ``throughput``, ``energy``, ``edp``, ``area``, ``power``,
``perf_per_w``, ``perf_per_mm2``), each with a default sense that ``sense:`` may override.  Constraints
are ``"<metric> <op> <number>"`` with ``op`` one of ``<= < >= >``; the metric is an objective name or
any key the evaluator returns (``area_mm2``, ``utilization``).  At most three objectives (Pareto fronts
and hypervolumes are reported in 1, 2 or 3 dimensions).

``strategy``: ``grid`` (every point, last axis fastest; a budget, if given, must cover the grid),
``random``, ``nsga2`` or ``tpe`` (a ``budget`` of distinct points is required), a ``seed``, the NSGA-II
``population`` and the TPE ``batch``.  ``nsga2`` takes a ``library``: ``builtin`` (the default, coex's own
NSGA-II) or ``pymoo`` (pymoo's NSGA-II through ask/tell; needs pymoo, in coex's ``dev`` extra), e.g.
``strategy: {name: nsga2, library: pymoo, budget: 240, seed: 0}``.  Workloads' metrics are combined with
their weights (see `dse.runner.aggregate`).

``evaluator`` (default ``sim``) may name another ``module:function`` taking a point's parameters
and returning metrics; tests use this to run the loop without the simulator.

Invalid spaces raise one `SpaceError` naming the field before anything runs: every axis path and every
axis value (ends and a sample of axes longer than 256) is applied alone to the base preset and validated,
and with the default evaluator every workload is built once, so a misspelt path, value or workload fails
up front.  Values that are only invalid in combination fail at their point, which is stored as an error.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from arch.loader import ArchError

# metric name -> (key in an evaluation's metrics, default sense)
METRICS: dict[str, tuple[str, str]] = {
    "latency": ("latency_s", "min"),
    "throughput": ("throughput", "max"),
    "energy": ("energy_j", "min"),
    "edp": ("edp_js", "min"),
    "area": ("area_mm2", "min"),
    "power": ("power_w", "min"),
    "perf_per_w": ("perf_per_w", "max"),
    "perf_per_mm2": ("perf_per_mm2", "max"),
}
STRATEGIES = ("grid", "random", "nsga2", "tpe")
MAX_GRID = 1_000_000


class SpaceError(ValueError):
    """An invalid space file: `str(err)` names the file, the field and what was expected."""


# ---- axis values ---------------------------------------------------------------------------------
_RANGE_RE = re.compile(r"^\s*(?P<lo>\S+?)\s*\.\.\s*(?P<hi>[^\s.][^\s]*?)"
                       r"(?:\s+(?P<mode>step|log)(?:\s+(?P<arg>\S+))?)?\s*$")


def _number(text: str) -> int | float:
    """'16' -> 16, '0.5' -> 0.5, '1e9' -> 1e9, '256KiB' -> 262144."""
    from arch.spec import parse_size

    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        pass
    try:
        return parse_size(text)
    except ValueError:
        raise ValueError(f"{text!r} is not a number or a size such as '256KiB'") from None


def parse_range(text: str) -> list[Any]:
    """Expand a range string (``"16..128 step 16"``, ``"256KiB..32MiB log"``) into a list of values."""
    m = _RANGE_RE.match(text)
    if not m:
        raise ValueError(f"expected a list or a range such as '16..128 step 16' or '256KiB..32MiB log', got {text!r}")
    lo, hi = _number(m["lo"]), _number(m["hi"])
    ints = isinstance(lo, int) and isinstance(hi, int)
    if hi < lo:
        raise ValueError(f"range {text!r}: upper end {hi} is below lower end {lo}")
    mode, arg = m["mode"], m["arg"]
    values: list[Any] = []
    if mode is None or mode == "step":
        if mode == "step" and arg is None:
            raise ValueError(f"range {text!r}: 'step' needs a size, e.g. '16..128 step 16'")
        step = _number(arg) if arg is not None else 1
        if step <= 0:
            raise ValueError(f"range {text!r}: step must be positive, got {step}")
        n = int(math.floor((hi - lo) / step + 1e-9)) + 1
        values = [lo + i * step for i in range(n)]
        if not (ints and isinstance(step, int)):
            values = [round(v, 12) for v in values]
    else:  # log
        if lo <= 0:
            raise ValueError(f"range {text!r}: a log range needs a positive lower end, got {lo}")
        if arg is None:
            v = lo
            while v <= hi * (1 + 1e-12):
                values.append(v)
                v = v * 2
        else:
            try:
                n = int(arg)
            except ValueError:
                raise ValueError(f"range {text!r}: 'log N' needs a whole number of points, got {arg!r}") from None
            if n < 2:
                raise ValueError(f"range {text!r}: 'log N' needs N >= 2, got {n}")
            ratio = (hi / lo) ** (1 / (n - 1))
            values = [lo * ratio**i for i in range(n)]
            values[-1] = hi
            if ints:
                values = [int(round(v)) for v in values]
            else:
                values = [float(f"{v:.12g}") for v in values]
            values = list(dict.fromkeys(values))
    if len(values) > 100_000:
        raise ValueError(f"range {text!r} has {len(values)} values; at most 100000")
    return values


# ---- the model -----------------------------------------------------------------------------------
class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class WorkloadSpec(_Model):
    """One workload of the mix: a zoo name, its keyword arguments and its weight in the aggregate."""

    name: str
    weight: float = Field(1.0, gt=0)
    kwargs: dict[str, Any] = Field(default_factory=dict)

    @property
    def label(self) -> str:
        if not self.kwargs:
            return self.name
        return self.name + "(" + ",".join(f"{k}={v}" for k, v in sorted(self.kwargs.items())) + ")"


class Objective(_Model):
    metric: str
    sense: Literal["min", "max"]

    @property
    def key(self) -> str:
        """The metrics key this objective reads (``latency`` -> ``latency_s``)."""
        return METRICS[self.metric][0]


class Constraint(_Model):
    metric: str
    op: Literal["<=", "<", ">=", ">"]
    bound: float

    @property
    def key(self) -> str:
        return METRICS[self.metric][0] if self.metric in METRICS else self.metric

    def violation(self, metrics: dict[str, Any]) -> float:
        """How far `metrics` is outside this constraint, relative to the bound (0 when satisfied)."""
        v = metrics.get(self.key)
        if v is None or not isinstance(v, (int, float)) or math.isnan(v):
            return math.inf
        gap = (v - self.bound) if self.op in ("<=", "<") else (self.bound - v)
        ok = gap < 0 or (gap == 0 and self.op in ("<=", ">="))
        return 0.0 if ok else max(gap, 1e-300) / max(abs(self.bound), 1e-300)

    def __str__(self) -> str:
        return f"{self.metric} {self.op} {self.bound:g}"


class StrategySpec(_Model):
    """How points are chosen.  ``budget`` counts distinct evaluated points."""

    name: Literal["grid", "random", "nsga2", "tpe"] = "grid"
    budget: int | None = Field(None, gt=0)
    seed: int = 0
    population: int = Field(24, ge=4, description="nsga2: individuals per generation")
    batch: int = Field(8, ge=1, description="tpe: points asked per round (kept independent of --workers)")
    library: Literal["builtin", "pymoo"] = Field("builtin", description="nsga2: coex's own NSGA-II or pymoo's")

    @model_validator(mode="after")
    def _library_is_for_nsga2(self) -> StrategySpec:
        if self.library != "builtin" and self.name != "nsga2":
            raise ValueError(f"strategy.library: {self.library!r} is an NSGA-II implementation; "
                             f"strategy {self.name!r} takes no library (use name: nsga2)")
        return self


_CONSTRAINT_RE = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(<=|>=|<|>)\s*(\S+)\s*$")


class Space(_Model):
    """A validated design space.  Build with `Space.from_yaml(path)` or `Space.from_dict(data, root)`."""

    name: str = "space"
    description: str | None = None
    base: str
    axes: dict[str, list[Any]] = Field(min_length=1)
    workloads: list[WorkloadSpec] = Field(min_length=1)
    objectives: list[Objective] = Field(min_length=1, max_length=3)
    constraints: list[Constraint] = Field(default_factory=list)
    strategy: StrategySpec = Field(default_factory=StrategySpec)
    evaluator: str = "sim"
    root: str = Field(".", description="folder that relative paths (base) are resolved against", exclude=True)

    @field_validator("axes", mode="before")
    @classmethod
    def _expand_axes(cls, v: Any) -> Any:
        if not isinstance(v, dict):
            raise ValueError(f"expected a mapping of spec paths to value lists, got {type(v).__name__}")
        out: dict[str, list[Any]] = {}
        for path, values in v.items():
            if not isinstance(path, str) or not path.strip():
                raise ValueError(f"axis names are dotted spec paths such as 'units.mxu.rows', got {path!r}")
            if isinstance(values, str):
                try:
                    values = parse_range(values)
                except ValueError as e:
                    raise ValueError(f"{path}: {e}") from None
            if not isinstance(values, list) or not values:
                raise ValueError(f"{path}: expected a non-empty list or a range string, got {values!r}")
            keys = [json.dumps(x, sort_keys=True, default=str) for x in values]
            dup = sorted({k for k in keys if keys.count(k) > 1})
            if dup:
                raise ValueError(f"{path}: repeated value(s) {', '.join(dup)}")
            out[path] = values
        return out

    @field_validator("workloads", mode="before")
    @classmethod
    def _workload_shorthand(cls, v: Any) -> Any:
        if isinstance(v, (str, dict)):
            v = [v]
        if isinstance(v, list):
            return [{"name": x} if isinstance(x, str) else x for x in v]
        return v

    @field_validator("objectives", mode="before")
    @classmethod
    def _objective_shorthand(cls, v: Any) -> Any:
        if isinstance(v, (str, dict)):
            v = [v]
        if not isinstance(v, list):
            return v
        out = []
        for item in v:
            if isinstance(item, str):
                item = {"metric": item}
            if isinstance(item, dict) and "metric" in item:
                metric = str(item["metric"]).lower()
                if metric not in METRICS:
                    raise ValueError(f"unknown objective {item['metric']!r}; expected one of {', '.join(METRICS)}")
                item = {"sense": METRICS[metric][1], **item, "metric": metric}
            out.append(item)
        names = [o.get("metric") for o in out if isinstance(o, dict)]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"objective(s) {dup} listed twice")
        return out

    @field_validator("constraints", mode="before")
    @classmethod
    def _parse_constraints(cls, v: Any) -> Any:
        if isinstance(v, str):
            v = [v]
        if not isinstance(v, list):
            return v
        out = []
        for item in v:
            if isinstance(item, str):
                m = _CONSTRAINT_RE.match(item)
                if not m:
                    raise ValueError(f"expected '<metric> <= <number>' (e.g. 'area_mm2 <= 100'), got {item!r}")
                try:
                    bound = float(m.group(3))
                except ValueError:
                    raise ValueError(f"{item!r}: bound {m.group(3)!r} is not a number") from None
                item = {"metric": m.group(1), "op": m.group(2), "bound": bound}
            out.append(item)
        return out

    @field_validator("strategy", mode="before")
    @classmethod
    def _strategy_shorthand(cls, v: Any) -> Any:
        return {"name": v} if isinstance(v, str) else v

    @field_validator("evaluator")
    @classmethod
    def _evaluator_form(cls, v: str) -> str:
        if v != "sim" and not re.match(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$", v):
            raise ValueError(f"expected 'sim' or 'package.module:function', got {v!r}")
        return v

    @model_validator(mode="after")
    def _grid_budget(self) -> Space:
        n = self.size
        s = self.strategy
        if s.name == "grid":
            if n > MAX_GRID:
                raise ValueError(f"strategy: the grid has {n} points (more than {MAX_GRID}); use random, nsga2 or tpe")
            if s.budget is not None and s.budget < n:
                raise ValueError(f"strategy.budget: {s.budget} is below the grid's {n} points; "
                                 "drop the budget or use strategy random")
        elif s.budget is None:
            raise ValueError(f"strategy.budget: strategy {s.name!r} needs a budget (points to evaluate)")
        return self

    # ---- derived ---------------------------------------------------------------------------------
    @property
    def axis_names(self) -> list[str]:
        return list(self.axes)

    @property
    def size(self) -> int:
        return math.prod(len(v) for v in self.axes.values())

    @property
    def budget(self) -> int:
        """Distinct points this run evaluates at most."""
        b = self.strategy.budget
        return self.size if b is None else min(b, self.size)

    def decode(self, genome: tuple[int, ...]) -> dict[str, Any]:
        """Axis indices -> parameters (axis path -> value)."""
        return {a: self.axes[a][i] for a, i in zip(self.axes, genome)}

    def encode(self, params: dict[str, Any]) -> tuple[int, ...]:
        keys = {a: [canonical(x) for x in vals] for a, vals in self.axes.items()}
        return tuple(keys[a].index(canonical(params[a])) for a in self.axes)

    def unravel(self, index: int) -> tuple[int, ...]:
        """The `index`-th point of the grid (last axis fastest)."""
        out = []
        for vals in reversed(list(self.axes.values())):
            index, r = divmod(index, len(vals))
            out.append(r)
        return tuple(reversed(out))

    def objective_vector(self, metrics: dict[str, Any]) -> list[float]:
        """Objective values as minimisation targets (maximised ones negated); NaN when missing."""
        out = []
        for o in self.objectives:
            v = metrics.get(o.key)
            v = float("nan") if not isinstance(v, (int, float)) else float(v)
            out.append(-v if o.sense == "max" else v)
        return out

    def violation(self, metrics: dict[str, Any]) -> float:
        return sum(c.violation(metrics) for c in self.constraints)

    def fingerprint(self, ignore_budget: bool = True) -> str:
        """A hash of everything that changes results (the budget may grow on resume), the order of the
        axes included: it is the order of a genome's genes, so it decides which points a seed proposes."""
        d = self.model_dump(mode="json")
        d["axis_order"] = list(self.axes)
        if ignore_budget:
            d["strategy"].pop("budget", None)
        if d["strategy"].get("library") == "builtin":  # the default: fingerprints of older runs stay valid
            d["strategy"].pop("library")
        return hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()[:16]

    @cached_property
    def base_dict(self) -> dict:
        from arch.loader import load_dict

        data, _ = load_dict(_resolve_base(self.base, Path(self.root)))
        return data

    # ---- loading ---------------------------------------------------------------------------------
    @classmethod
    def from_dict(cls, data: Any, root: Path | str = ".", origin: str = "<space>") -> Space:
        if not isinstance(data, dict):
            raise SpaceError(f"{origin}: expected a mapping at the top level, got {type(data).__name__}")
        if "root" in data:
            raise SpaceError(f"{origin}: root: unknown field")
        try:
            space = cls.model_validate({**data, "root": str(root)})
        except ValidationError as e:
            raise SpaceError(_explain(e, origin)) from None
        space.check(origin)
        return space

    @classmethod
    def from_yaml(cls, path: Path | str) -> Space:
        from arch.loader import read_yaml

        path = Path(path)
        try:
            data = read_yaml(path)
        except ArchError as e:
            raise SpaceError(str(e)) from None
        return cls.from_dict(data, root=path.parent, origin=str(path))

    def check(self, origin: str = "<space>") -> None:
        """Apply every axis value alone to the base preset and validate; load the evaluator."""
        from arch.loader import apply_overrides, validate

        try:
            base = self.base_dict
        except ArchError as e:
            raise SpaceError(f"{origin}: base: {e}") from None
        for path, values in self.axes.items():
            try:
                apply_overrides(base, {path: values[0]}, origin="spec")
            except ArchError as e:
                msg = str(e).split("\n")[0].removeprefix("spec: ")
                raise SpaceError(f"{origin}: axes.{path}: {msg}") from None
            # every value alone, unless the axis is long: then its ends and a few between
            n = len(values)
            picks = values if n <= 256 else [values[i] for i in sorted({0, n - 1, *range(0, n, n // 16)})]
            for value in picks:
                try:
                    validate(apply_overrides(base, {path: value}, origin="spec"), origin="spec")
                except ArchError as e:
                    msg = re.sub(r"got \{.*\}; ", "", str(e).split("\n")[0].removeprefix("spec: "))
                    raise SpaceError(f"{origin}: axes.{path}: value {value!r}: {msg}") from None
        if self.evaluator == "sim":
            import workloads

            for i, w in enumerate(self.workloads):
                try:
                    workloads.load(w.name, **w.kwargs)
                except Exception as e:  # noqa: BLE001 - any failure to build is the user's field
                    msg = e.args[0] if isinstance(e, KeyError) and e.args else str(e)
                    raise SpaceError(f"{origin}: workloads[{i}] ({w.label}): {msg}") from None
        else:
            try:
                resolve_evaluator(self.evaluator)
            except (ImportError, AttributeError) as e:
                raise SpaceError(f"{origin}: evaluator: cannot load {self.evaluator!r}: {e}") from None
        if self.strategy.name == "tpe":
            try:
                import optuna  # noqa: F401
            except ImportError:
                raise SpaceError(f"{origin}: strategy: 'tpe' needs optuna (pip install optuna); "
                                 "or use nsga2 or random") from None
        if self.strategy.library == "pymoo":
            from dse.strategies import _pymoo_missing

            try:
                from pymoo.algorithms.moo.nsga2 import NSGA2  # noqa: F401
            except ImportError:
                raise SpaceError(f"{origin}: {_pymoo_missing()}") from None


def _resolve_base(base: str, root: Path) -> str | Path:
    p = Path(base)
    if p.suffix in (".yaml", ".yml") and not p.is_absolute():
        return root / p
    return base


def resolve_evaluator(spec: str) -> Any:
    import importlib

    module, _, fn = spec.partition(":")
    return getattr(importlib.import_module(module), fn)


def canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def point_key(params: dict[str, Any]) -> str:
    """The store key of a point: a hash of its canonical parameters JSON."""
    return hashlib.sha256(canonical(params).encode()).hexdigest()[:24]


def _explain(e: ValidationError, origin: str) -> str:
    err = e.errors(include_url=False)[0]
    loc = ".".join(str(x) for x in err["loc"] if x not in ("function-after",))
    msg = err["msg"].removeprefix("Value error, ")
    if err["type"] == "extra_forbidden":
        return f"{origin}: {loc}: unknown field; expected one of {', '.join(_fields_at(err['loc']))}"
    if err["type"] == "missing":
        return f"{origin}: {loc}: missing required field"
    if loc == "axes" and re.match(r"^[\w.]+: ", msg):
        return f"{origin}: axes.{msg}"
    where = f"{loc}: " if loc else ""
    value = err.get("input")
    shown = f"got {value!r}; " if err["type"] not in ("value_error", "assertion_error") and not isinstance(
        value, (dict, list)) else ""
    return f"{origin}: {where}{shown}{msg}"


def _fields_at(loc: tuple) -> list[str]:
    model: Any = Space
    for part in loc[:-1]:
        if isinstance(part, int):
            continue
        ann = model.model_fields.get(part)
        if ann is None:
            break
        inner = ann.annotation
        for cand in (WorkloadSpec, Objective, Constraint, StrategySpec):
            if cand is inner or cand in getattr(inner, "__args__", ()):
                model = cand
    return [f for f, info in model.model_fields.items() if not info.exclude]
