"""`OpCost` and the cost-model registry.

A cost model is a pure function ``cost(op, unit, accelerator) -> OpCost`` registered for one unit
`type` with ``@cost_model("systolic", kinds=...)``.  The engine looks models up by the unit's type and
never branches on families itself; an unknown type fails listing the registered names.

A family may also register a *graph pass* with ``@graph_pass("pim")``: a pure function
``pass_(graph, accelerator) -> Graph`` that `sim.simulate` applies before scheduling when the accelerator
has a unit of that type (in accelerator unit order, each type once).  Passes are how a family decides
things that one op at a time cannot: which unit runs each op (pin it with the ``unit`` tag), fusing a
subgraph into one op, splitting a batch into sub-batches.  A pass must return a new graph (or the same
one untouched), never mutate its input.

A family may also register a *result pass* with ``@result_pass("fpga")``: a pure function
``pass_(result, graph, accelerator) -> Result`` that `sim.simulate` applies after the `Result` is built
(same order rule as graph passes).  Result passes are how a family prices what needs the whole run's
timeline rather than one op's counts: static power over wall time, a board power cap, a die area that
replaces the block-by-block estimate.  A pass returns a new `Result`; it never mutates its input.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from typing import Any

from workloads.op import Op, OpKind

CostFn = Callable[[Op, Any, Any], "OpCost"]


@dataclasses.dataclass(frozen=True)
class OpCost:
    """What one op costs on one unit.

    cycles           total cycles at the unit's clock (compute + stalls)
    compute_cycles   cycles with operands always available (SCALE-Sim's "compute cycles")
    stall_cycles     cycles waiting for memory
    tier_bytes       bytes moved per memory tier name (reads + writes)
    counts           event counts for energy: "mac", "sram_read_bytes", "sram_write_bytes", "vector_flop", ...
    energy_pj        energy by component (filled by `sim.ppa`)
    utilization      useful MACs (or FLOPs) / (peak per cycle x cycles), in [0, 1]
    holds            memory tiers whose channel the op occupies while it computes (in-bank PIM without
                     dual row buffers: no other transfer may use the tier meanwhile; see `sim.engine`)
    """

    unit: str
    cycles: int
    compute_cycles: int
    stall_cycles: int = 0
    tier_bytes: dict[str, float] = dataclasses.field(default_factory=dict)
    counts: dict[str, float] = dataclasses.field(default_factory=dict)
    energy_pj: dict[str, float] = dataclasses.field(default_factory=dict)
    utilization: float = 0.0
    holds: tuple[str, ...] = ()

    def replace(self, **changes: Any) -> OpCost:
        return dataclasses.replace(self, **changes)


@dataclasses.dataclass(frozen=True)
class _Entry:
    fn: CostFn
    kinds: frozenset[OpKind]


_REGISTRY: dict[str, _Entry] = {}


def cost_model(unit_type: str, kinds: Iterable[OpKind]) -> Callable[[CostFn], CostFn]:
    """Register `fn` as the cost model of units of `unit_type` for ops of `kinds`."""

    def deco(fn: CostFn) -> CostFn:
        if unit_type in _REGISTRY and _REGISTRY[unit_type].fn is not fn:
            raise ValueError(f"a cost model for unit type {unit_type!r} is already registered")
        _REGISTRY[unit_type] = _Entry(fn, frozenset(kinds))
        return fn

    return deco


GraphPassFn = Callable[[Any, Any], Any]
ResultPassFn = Callable[[Any, Any, Any], Any]
_PASSES: dict[str, GraphPassFn] = {}
_RESULT_PASSES: dict[str, ResultPassFn] = {}


def _registrar(table: dict[str, Callable], what: str, unit_type: str) -> Callable[[Callable], Callable]:
    def deco(fn: Callable) -> Callable:
        if unit_type in table and table[unit_type] is not fn:
            raise ValueError(f"a {what} for unit type {unit_type!r} is already registered")
        table[unit_type] = fn
        return fn

    return deco


def _present_passes(table: dict[str, Callable], accelerator: Any) -> list[Callable]:
    """The passes in `table` of the unit types present in `accelerator` (unit order, each type once)."""
    _ensure_loaded()
    types = dict.fromkeys(u.type for u in accelerator.units)
    return [table[t] for t in types if t in table]


def graph_pass(unit_type: str) -> Callable[[GraphPassFn], GraphPassFn]:
    """Register `fn(graph, accelerator) -> Graph` as the graph pass of units of `unit_type`."""
    return _registrar(_PASSES, "graph pass", unit_type)


def result_pass(unit_type: str) -> Callable[[ResultPassFn], ResultPassFn]:
    """Register `fn(result, graph, accelerator) -> Result` as the result pass of units of `unit_type`."""
    return _registrar(_RESULT_PASSES, "result pass", unit_type)


def prepare(graph: Any, accelerator: Any) -> Any:
    """Apply the graph passes of the unit types present in `accelerator` (unit order, each type once)."""
    for fn in _present_passes(_PASSES, accelerator):
        graph = fn(graph, accelerator)
    return graph


def finish(result: Any, graph: Any, accelerator: Any) -> Any:
    """Apply the result passes of the unit types present in `accelerator` (unit order, each type once)."""
    for fn in _present_passes(_RESULT_PASSES, accelerator):
        result = fn(result, graph, accelerator)
    return result


def _ensure_loaded() -> None:
    # importing the family modules registers them
    import sim.families  # noqa: F401


def registered() -> list[str]:
    _ensure_loaded()
    return sorted(_REGISTRY)


def get_cost_model(unit_type: str) -> _Entry:
    _ensure_loaded()
    try:
        return _REGISTRY[unit_type]
    except KeyError:
        raise KeyError(f"no cost model for unit type {unit_type!r}; registered: {sorted(_REGISTRY)}") from None


def supports(unit_type: str, kind: OpKind) -> bool:
    _ensure_loaded()
    entry = _REGISTRY.get(unit_type)
    return entry is not None and kind in entry.kinds
