"""Simulation: cost models (one module per unit family), the engine (simpy-referenced event heap), PPA accounting.

    simulate(graph_or_op, accelerator, *, trace=False) -> Result

is the one entry point.  A single `Op` becomes a one-node `Graph`.  The accelerator is an
`arch.Accelerator` (load YAML with `arch.load`; `sim` never reads files).  See `sim.engine` for the
scheduling and overlap model, `sim.cost` for cost models, graph passes and result passes (a family's
pricing of the whole run, applied after `build`: FPGA power, GPU power and die area), `sim.ppa` for energy
and area, `sim.result` for the table and summary.
"""

from __future__ import annotations

import sim.families  # noqa: F401  (registers every cost-model family; makes sim.systolic etc. attributes)
from sim import engine
from sim.cost import OpCost, finish, prepare
from sim.engine import UnsupportedOpError
from sim.ppa import priced_cost
from sim.result import Result, build

__all__ = ["simulate", "Result", "OpCost", "UnsupportedOpError"]


def simulate(graph_or_op, accelerator, *, trace: bool = False) -> Result:
    """Simulate a `workloads.Graph` (or one `Op`) on an `arch.Accelerator`; returns a `Result`.

    With ``trace=True`` the result's ``trace`` lists every op and DMA transfer as
    ``{"op", "unit", "start_s", "end_s", "kind"}`` in completion order."""
    from arch.spec import Accelerator
    from workloads.graph import Graph
    from workloads.op import Op

    if isinstance(graph_or_op, Op):
        graph = Graph(graph_or_op.name)
        graph.add(graph_or_op)
    elif isinstance(graph_or_op, Graph):
        graph = graph_or_op
    else:
        raise TypeError(f"simulate expects a workloads.Graph or Op, got {type(graph_or_op).__name__}")
    if not isinstance(accelerator, Accelerator):
        raise TypeError(f"simulate expects an arch.Accelerator (load YAML with arch.load(...)), "
                        f"got {type(accelerator).__name__}")
    graph = prepare(graph, accelerator)
    key = engine.accelerator_key(accelerator)
    timeline = engine.run(graph, accelerator, trace=trace, cost=lambda sig, unit: priced_cost(sig, unit, key))
    result = build(graph, accelerator, timeline, key, trace=trace)
    return finish(result, graph, accelerator)
