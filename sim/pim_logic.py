"""Logic-PIM (Duplex-style): compute units on the HBM logic die, fed through the TSVs, and the Op/B
dispatch pass that decides per op whether it runs on the xPU or on the Logic-PIM.

Source: Yun et al., "Duplex: A Device for Large Language Models with Mixture of Experts, Grouped Query
Attention, and Continuous Batching", MICRO 2024 (arXiv 2409.01141).

`sim.pim` registers the ``pim`` unit type and delegates units with ``placement: logic_die`` here:
``cost(op, unit, accelerator) -> OpCost`` and ``assign(graph, accelerator) -> Graph``.

Cost (a roofline of the unit's own compute and the internal bandwidth)
----------------------------------------------------------------------
::

    compute = op.flops / (peak_tflops 1e12)
    memory  = op.bytes / (internal_bandwidth_gbps 1e9)       the op's compulsory bytes, read via the TSVs
    time    = max(compute, memory)

Left out (first version): TSV energy vs external I/O, tile-level pipelining.
"""

from __future__ import annotations

import math
from typing import Any

from sim.cost import OpCost
from workloads.graph import Graph
from workloads.op import Op, OpKind

#: op kinds the Logic-PIM can run (matmul-like ops and the vector ops between attention's halves).
KINDS = frozenset({OpKind.GEMM, OpKind.ATTN_SCORE, OpKind.ATTN_CONTEXT, OpKind.SOFTMAX, OpKind.ELTWISE})
#: Op/B below which an op goes to the Logic-PIM when the unit sets no ``opb_threshold``.
DEFAULT_OPB_THRESHOLD = 32.0


def _require(unit: Any, field: str) -> float:
    v = getattr(unit, field, None)
    if v is None:
        raise ValueError(f"logic-die PIM unit {unit.name!r} needs {field!r} (a positive number); got None")
    return float(v)


def cost(op: Op, unit: Any, accelerator: Any) -> OpCost:
    """What `op` costs on the logic-die PIM `unit` (module docstring)."""
    if op.kind not in KINDS:
        raise ValueError(f"logic-die PIM unit {unit.name!r} cannot run op kind {op.kind.value!r}; "
                         f"expected one of {sorted(k.value for k in KINDS)}")
    peak = _require(unit, "peak_tflops") * 1e12
    bw = _require(unit, "internal_bandwidth_gbps") * 1e9
    clock = float(accelerator.tech.clock_hz)
    t_compute = op.flops / peak
    t_memory = op.bytes / bw
    compute_cycles = math.ceil(t_compute * clock)
    cycles = math.ceil(max(t_compute, t_memory) * clock)
    counts: dict[str, float] = {"mac": float(op.macs)} if op.is_matmul else {"vector_flop": float(op.flops)}
    counts["pim_internal_bytes"] = float(op.bytes)
    util = op.flops / (peak / clock * cycles) if cycles else 0.0
    return OpCost(unit=unit.name, cycles=cycles, compute_cycles=compute_cycles,
                  stall_cycles=cycles - compute_cycles, tier_bytes={}, counts=counts, utilization=util)


def _logic_units(accelerator: Any) -> list[Any]:
    return [u for u in accelerator.units if u.type == "pim" and getattr(u, "placement", None) == "logic_die"]


def assign(graph: Graph, accelerator: Any) -> Graph:
    """Pin ops of Op/B below the unit's threshold (and of a kind it runs) to the first logic-die PIM unit;
    other ops stay unpinned (the engine gives them to the xPU).  Returns a new graph."""
    units = _logic_units(accelerator)
    if not units:
        return graph
    pim = units[0]
    threshold = float(getattr(pim, "opb_threshold", None) or DEFAULT_OPB_THRESHOLD)
    out = Graph(graph.name, graph.meta)
    for op in graph.ops():
        new = op
        if "unit" not in op.tags and op.kind in KINDS and op.flops > 0 and op.intensity < threshold:
            new = op.replace(tags={**op.tags, "unit": pim.name})
        out.add(new, [p.name for p in graph.predecessors(op)])
    return out
