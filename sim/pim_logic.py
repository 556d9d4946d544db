"""Logic-PIM (Duplex-style): compute units on the HBM logic die, fed through the TSVs, and the Op/B
dispatch pass that decides per op whether it runs on the xPU or on the Logic-PIM.

Source: Yun et al., "Duplex: A Device for Large Language Models with Mixture of Experts, Grouped Query
Attention, and Continuous Batching", MICRO 2024 (arXiv 2409.01141), and the authors' simulator as
forked publicly (jeongminl/HBF-LLMSimulator, ``src/hardware/hardware_config.h``: Logic-PIM at 4x the xPU's
memory bandwidth and a compute roof of 8 FLOPs per byte of it; ``linear_impl.cpp``: a roofline per op).

`sim.pim` registers the ``pim`` unit type and delegates units with ``placement: logic_die`` here:
``cost(op, unit, accelerator) -> OpCost`` and ``assign(graph, accelerator) -> Graph``.

Cost: a roofline of the unit's own compute and the TSV bandwidth
-----------------------------------------------------------------
::

    compute = op.flops / (peak_tflops 1e12)
    memory  = op.bytes / (internal_bandwidth_gbps 1e9 * eff)   the op's compulsory bytes, via the TSVs
    time    = max(compute, memory)

``eff`` is the streaming efficiency of the DRAM behind the TSVs when the unit's tier has a ``timing``:
`sim.dram`'s effective bandwidth of a sequential read stream over the timing's own peak (row switches
and refresh; 0.91 for ``hbm3``), else 1.

The op's bytes are charged to the memory tier the unit names (``unit.memory``).  A Duplex preset names
a tier that stands for the logic die's own path into the same HBM stacks (``hbm_tsv`` in
``arch/presets/duplex.yaml``): its bandwidth is the TSVs', its ``energy_pj_per_bit`` the DRAM read
without the interposer PHY, and the engine gives it its own DMA channel, so Logic-PIM bytes never
queue on the xPU's external HBM channel (xPU and Logic-PIM stream at the same time, as Duplex's
co-processing assumes; bank conflicts between them are left out).  Energy: ``mac`` counts for
matmul-like ops, ``vector_flop`` for the others, at the unit's ``precision`` (`sim.ppa`); the
DRAM bytes at the tier's energy per bit.

Dispatch (`assign`, a graph pass)
---------------------------------
With ``opb_dispatch`` on, each op gets a unit tag (ops already pinned are left alone):

- the layers Duplex targets are candidates: attention (score and context: ``ATTN_*`` ops) and MoE
  experts (ops tagged ``expert``); the other layers (q/k/v/o projections, router, dense MLP, LM head,
  norms, residuals, embeddings) stay on the xPU, as in the paper ("Duplex selects the most suitable
  processor based on the Op/B of each layer": the MoE and attention layers, whose Op/B is low);
- a candidate matmul of Op/B (``op.intensity``, FLOPs per compulsory byte) below the threshold goes
  to the Logic-PIM.  The threshold is ``opb_threshold`` or, unset, the
  Op/B where the Logic-PIM's compute roof meets the xPU's memory roof, ``peak_tflops /
  xPU bandwidth`` (below it the PIM's roofline is above the xPU's; Duplex: "Op/B from a few to a few
  dozens");
- vector ops between them (attention's softmax, an expert's activation) follow their producers: on
  the PIM when every producer is, else on the xPU;
- everything else (norms, residuals, router, embeddings, the LM head) stays on the xPU.

Co-processing (``co_processing``): the xPU and the Logic-PIM run at the same time.  Attention: the
prefill half (high Op/B) runs on the xPU beside the decode half on the PIM (the graph makes them
independent, the engine overlaps them).  Experts: the experts of one MoE layer are spread over the two
units by comparing modelled times, longest first onto the unit that would finish it first
(list scheduling; an expert's time on each unit is the sum of its ops' cost-model times).  With
co-processing off, experts go by the threshold alone and the graph is made a chain, so that one unit
works at a time (the ablation).

With ``opb_dispatch`` off the graph is returned untouched: every op runs on the xPU (the GPU-only
baseline).

Area and static power: `sim.ppa.pim_area` (``peak_tflops / (2 x logic_clock_hz)`` fp16 PEs at
``logic_node_nm``) and `sim.ppa.pim_static_w`, charged by `sim.pim`'s result pass.

Left out: tile-level pipelining between xPU and PIM, bank conflicts between the two paths, the
logic die's thermal limit, its buffers and control (area counts the MAC datapath only).
"""

from __future__ import annotations

import functools
import math
from collections import defaultdict
from typing import Any

from sim.cost import OpCost
from workloads.graph import Graph
from workloads.op import Op, OpKind

#: op kinds the Logic-PIM can run.
MATMUL_KINDS = frozenset({OpKind.GEMM, OpKind.ATTN_SCORE, OpKind.ATTN_CONTEXT})
FOLLOW_KINDS = frozenset({OpKind.SOFTMAX, OpKind.ELTWISE})
KINDS = MATMUL_KINDS | FOLLOW_KINDS


def _require(unit: Any, field: str) -> float:
    v = getattr(unit, field, None)
    if v is None:
        raise ValueError(f"logic-die PIM unit {unit.name!r}: {field}=None; expected a positive number")
    return float(v)


@functools.lru_cache(maxsize=64)
def _stream_efficiency(timing_json: str) -> float:
    from arch.spec import DramTiming
    from sim import dram

    t = DramTiming.model_validate_json(timing_json)
    return dram.effective_bandwidth(t, "stream") / dram.peak_bandwidth(t)


def stream_efficiency(tier: Any) -> float:
    """Sustained / peak bandwidth of a sequential read stream on `tier`'s DRAM timing (1 without one)."""
    timing = getattr(tier, "timing", None)
    return 1.0 if timing is None else _stream_efficiency(timing.model_dump_json())


def cost(op: Op, unit: Any, accelerator: Any) -> OpCost:
    """What `op` costs on the logic-die PIM `unit` (module docstring)."""
    if op.kind not in KINDS:
        raise ValueError(f"logic-die PIM unit {unit.name!r} cannot run op kind {op.kind.value!r}; "
                         f"expected one of {sorted(k.value for k in KINDS)}")
    peak = _require(unit, "peak_tflops") * 1e12
    bw = _require(unit, "internal_bandwidth_gbps") * 1e9
    clock = float(accelerator.tech.clock_hz)
    t_compute, t_memory = op.flops / peak, op.bytes / (bw * stream_efficiency(accelerator.tier(unit.memory)))
    compute_cycles = math.ceil(t_compute * clock)
    cycles = max(compute_cycles, math.ceil(t_memory * clock))
    counts = {"mac": float(op.macs)} if op.is_matmul else {"vector_flop": float(op.flops)}
    util = op.flops / (peak / clock * cycles) if cycles else 0.0
    return OpCost(unit=unit.name, cycles=cycles, compute_cycles=compute_cycles, stall_cycles=cycles - compute_cycles,
                  tier_bytes={unit.memory: float(op.bytes)} if op.bytes else {}, counts=counts, utilization=util)


# ---- dispatch ----------------------------------------------------------------------------------------


def logic_units(accelerator: Any) -> list[Any]:
    return [u for u in accelerator.units if u.type == "pim" and getattr(u, "placement", None) == "logic_die"]


def _xpu(accelerator: Any) -> Any:
    for u in accelerator.units:
        if u.type != "pim":
            return u
    raise ValueError(f"accelerator {accelerator.name!r} has logic-die PIM but no xPU (a non-pim unit) beside it")


def candidate(op: Op) -> bool:
    """Whether `op` belongs to a layer Duplex dispatches by Op/B: attention, or an MoE expert's matmul."""
    return op.kind in (OpKind.ATTN_SCORE, OpKind.ATTN_CONTEXT) or (op.kind is OpKind.GEMM and "expert" in op.tags)


def threshold(unit: Any, accelerator: Any) -> float:
    """The Op/B below which ops go to the Logic-PIM (module docstring)."""
    if unit.opb_threshold is not None:
        return float(unit.opb_threshold)
    xpu_tiers = [t for t in accelerator.off_chip if t.name != unit.memory]
    if not xpu_tiers:
        raise ValueError(f"logic-die PIM unit {unit.name!r}: no off-chip tier besides {unit.memory!r} for the xPU; "
                         "set opb_threshold")
    return _require(unit, "peak_tflops") * 1e12 / xpu_tiers[0].bytes_per_s(accelerator.tech.clock_hz)


def modelled_s(op: Op, unit: Any, accelerator: Any, key: Any = None) -> float:
    """Seconds `op` takes on `unit` by its family's cost model (compute and the op's own memory time);
    memoised through `sim.engine.model_cost` (pass the accelerator's `key` to skip fingerprinting it)."""
    from sim import engine

    clock = float(accelerator.tech.clock_hz)
    c = engine.model_cost(engine.signature(op), unit.name, key or engine.accelerator_key(accelerator))
    dma = sum(b / t.bytes_per_s(clock) for t in accelerator.off_chip for n, b in c.tier_bytes.items() if n == t.name)
    return max(c.cycles / clock, dma)


def _balance_experts(graph: Graph, place: dict[str, bool], pim: Any, xpu: Any, accelerator: Any) -> None:
    """Expert co-processing: per MoE layer, experts longest first onto the unit that finishes them first."""
    from sim import engine

    key = engine.accelerator_key(accelerator)
    groups: dict[Any, dict[Any, list[Op]]] = defaultdict(lambda: defaultdict(list))
    for op in graph.ops():
        if "expert" in op.tags and "unit" not in op.tags:
            groups[op.tags.get("layer")][op.tags["expert"]].append(op)
    for experts in groups.values():
        timed = []
        for e, ops in experts.items():
            if any(o.kind not in KINDS for o in ops) or sum(o.flops for o in ops) == 0:
                continue
            tx = sum(modelled_s(o, xpu, accelerator, key) for o in ops)
            tp = sum(modelled_s(o, pim, accelerator, key) for o in ops)
            timed.append((max(tx, tp), e, tx, tp, ops))
        load_x = load_p = 0.0
        for _, _, tx, tp, ops in sorted(timed, key=lambda r: (-r[0], str(r[1]))):
            on_pim = load_p + tp < load_x + tx
            if on_pim:
                load_p += tp
            else:
                load_x += tx
            for o in ops:
                place[o.name] = on_pim


def assign(graph: Graph, accelerator: Any) -> Graph:
    """Pin each op to the xPU or the first logic-die PIM unit (module docstring); returns a new graph."""
    units = logic_units(accelerator)
    if not units or not units[0].opb_dispatch:
        return graph
    pim, xpu = units[0], _xpu(accelerator)
    limit = threshold(pim, accelerator)
    place: dict[str, bool] = {}  # op name -> on the PIM
    ops = graph.ops()
    preds = {op.name: [p.name for p in graph.predecessors(op)] for op in ops}
    for op in ops:
        if "unit" in op.tags:
            continue
        if candidate(op):
            place[op.name] = op.flops > 0 and op.intensity < limit
    if pim.co_processing:
        _balance_experts(graph, place, pim, xpu, accelerator)
    for op in ops:  # vector ops follow their producers (topological order: producers are placed)
        if "unit" not in op.tags and op.kind in FOLLOW_KINDS and op.name not in place:
            ps = preds[op.name]
            place[op.name] = bool(ps) and all(place.get(p, False) for p in ps)
    out = Graph(graph.name, graph.meta)
    prev = None
    for op in ops:
        new = op
        if "unit" not in op.tags:
            new = op.replace(tags={**op.tags, "unit": pim.name if place.get(op.name) else xpu.name})
        inputs = preds[op.name]
        if not pim.co_processing and prev is not None and prev not in inputs:
            inputs = [*inputs, prev]  # one unit at a time
        out.add(new, inputs)
        prev = op.name
    return out
