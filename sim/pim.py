"""Processing in memory: the ``pim`` unit type.  In-bank PIM (NeuPIMs-style) is modelled here;
``placement: logic_die`` units (Duplex-style) are delegated to `sim.pim_logic` (cost and dispatch pass).

Source: Heo et al., "NeuPIMs: NPU-PIM Heterogeneous Acceleration for Batched LLM Inferencing", ASPLOS 2024
(arXiv 2403.00579), and its simulator (github.com/casys-kaist/NeuPIMs: in-bank MACs after Newton, He et al.,
MICRO 2020).  Organisation and timing come from the PIM's memory tier (`arch.spec.DramTiming`, `sim.dram`).

In-bank cost (`in_bank_cost`, a closed form; no per-cycle loop)
----------------------------------------------------------------
Every bank has ``L = macs_per_cycle_per_bank`` multipliers fed from its row buffer.  A PIM op is a set of
GEMVs: ``matrices`` stored operands (the B operand ``K x N`` of the GEMM view: the KV cache of one K/V head
for attention, a weight for a GEMM), each multiplied by ``vectors`` input vectors (``M`` rows of the A
operand, times the ``kv_group`` query heads sharing a K/V head).  All banks of all channels work in
lock-step (all-bank PIM commands, as Newton/NeuPIMs issue them):

    banks          = channels x pseudo_channels x bank_groups x banks_per_group
    col_bytes      = L x w_bits / 8                one COMP reads one column of this size per bank
    rows           = matrices x ceil(K N w_bits/8 / row_bytes)          DRAM rows holding the operand
    rows_per_bank  = ceil(rows / banks)                                  spread evenly over all banks
    comps_per_row  = ceil(row_bytes / col_bytes) x vectors               every vector re-reads the row
    t_row          = max(tRAS, tRCD + comps_per_row x tCCD_L) + tRP      one row visit (tCK)
    time           = rows_per_bank x t_row x tCK / (1 - tRFC / tREFI)    refresh steals its share

``compute_cycles`` counts the COMPs alone (``rows_per_bank x comps_per_row x tCCD_L``); the rest is row
activation/precharge.  Cycles are at the accelerator's clock.  The input vectors (GWRITE to the channels'
buffers) and the results (READRES) cross the external interface: ``io = input + output bytes`` take
``io / tier bandwidth`` more, in series with the row visits (NeuPIMs' command order), and count as
``pim_io_bytes``.  None of a PIM op's bytes is in ``tier_bytes``, so the engine's DMA moves none of them
(its whole-transfer FIFO would queue a few kilobytes of query behind an NPU weight transfer); the
operand's rows never leave the DRAM (``counts``: ``pim_act`` row activations, ``pim_internal_read_bytes``).
The ``pim`` result pass (`price`) charges ``act_energy_pj`` per activation, ``internal_read_pj_per_bit``
per row-buffer bit read and the tier's external energy per byte (`sim.ppa.dram_pj_per_byte`) for the I/O.

Area and static power (`sim.ppa.pim_area`, `pim_static_w`): each bank's multipliers, adder tree,
accumulator and registers, plus the second row buffer with ``dual_row_buffer``, priced in a DRAM process
(`arch.tech` ``pim_bank``); `static`, called by the result pass for every PIM unit (in-bank or logic-die),
charges their leakage over the run and keeps their area in ``area_mm2``.

Without ``dual_row_buffer`` the op *holds* its memory tier's channel (``OpCost.holds``): NPU transfers wait
while the PIM computes, and the PIM waits for transfers queued before it (NeuPIMs' "blocked" mode).  With
dual row buffers the PIM works beside NPU traffic.

Dispatch and sub-batch interleaving (`dispatch`, the ``pim`` graph pass)
------------------------------------------------------------------------
For the first in-bank PIM unit: when ``sub_batches > 1`` and the graph's batch (``graph.meta["batch"]``, or
for a continuous-batching step of `workloads.serving` its requests, decode + prefill) is at least
``sub_batch_min``, the graph is split into independent sub-batches (`workloads.batching.split_sub_batches`;
a step mixing prompts and decode requests is split by requests, balanced by `workloads.batching.request_plan`),
so the engine overlaps one sub-batch's NPU GEMMs (and prompt attention) with the other's PIM attention.
Each sub-batch re-reads every weight, so the split can lose (a decode step with short contexts or the LM head:
little PIM time to hide, twice the weight traffic).  With ``sub_batch_policy: estimate`` the pass decides as
NeuPIMs' runtime does with its latency estimator: it schedules both graphs, split and unsplit, with the engine
(`sim.engine.run`, the same cost models) and keeps the split only if it is strictly faster; ``always`` splits
whenever the batch allows.  The graph's meta, and the result pass's summary, get ``pim_sub_batches_used`` (1
when not split) and, when estimated, ``pim_sub_batch_estimate_s`` and ``pim_one_batch_estimate_s``.  The
estimate costs one more engine run of the unsplit graph and one of the split graph (~0.1-0.2 s on a 96-layer
gpt3-175b decode step).
Every op whose kind is in ``dispatch_kinds`` and whose GEMM-view ``M`` is at most ``dispatch_max_m``
(decode attention: M = 1) is pinned to the PIM with the ``unit`` tag, judged on the unsplit op (pinning
comes first; the sub-batch copies keep the tag); the rest stay on the NPU and vector units.  Logic-die units:
`sim.pim_logic.assign` runs instead.

Left out: tFAW on all-bank activations (all-bank PIM activation is assumed to be power-provisioned, as in
Newton), the partial last row of a matrix (counted as a full row), channel load imbalance (requests are
assumed spread evenly over channels, as NeuPIMs' channel load balancing aims for), bank conflicts
between PIM and NPU accesses under dual row buffers, and the softmax between score and context (it runs
on the NPU's vector units).
"""

from __future__ import annotations

import math
from typing import Any

from sim.cost import OpCost, cost_model, graph_pass, result_pass
from workloads.graph import Graph
from workloads.op import Op, OpKind

#: kinds an in-bank PIM runs (GEMV-shaped products)
IN_BANK_KINDS = frozenset({OpKind.GEMM, OpKind.ROUTER, OpKind.ATTN_SCORE, OpKind.ATTN_CONTEXT})
#: kinds registered for the ``pim`` type: in-bank's plus those a logic-die PIM runs (`sim.pim_logic.KINDS`)
KINDS = IN_BANK_KINDS | {OpKind.SOFTMAX, OpKind.ELTWISE}
_ATTENTION = (OpKind.ATTN_SCORE, OpKind.ATTN_CONTEXT)
#: graph meta keys the dispatch pass writes and the result pass copies into the summary
_DECISION = ("pim_sub_batches_used", "pim_sub_batch_estimate_s", "pim_one_batch_estimate_s")


def _timing(unit: Any, accelerator: Any) -> Any:
    tier = accelerator.tier(unit.memory)
    if tier.timing is None:
        raise ValueError(f"in-bank PIM unit {unit.name!r} sits in memory tier {tier.name!r}, which has no "
                         f"timing; expected a DramTiming or a preset name (e.g. timing: hbm2) on that tier")
    return tier, tier.timing


def banks(timing: Any) -> int:
    """Banks that compute in lock-step: every bank of every (pseudo-)channel."""
    return timing.channels * timing.pseudo_channels * timing.bank_groups * timing.banks_per_group


def peak_macs_per_s(unit: Any, timing: Any) -> float:
    """All banks' multipliers, one COMP per tCCD_L."""
    return banks(timing) * unit.macs_per_cycle_per_bank / (timing.t_ccd_l * timing.tck_ns * 1e-9)


def gemv_shape(op: Op) -> tuple[int, int, float]:
    """(matrices, vectors per matrix, bytes of one matrix) of `op` seen as GEMVs (module docstring)."""
    m, n, k = op.mnk
    group = int(op.dims.get("kv_group", 1)) if op.kind in _ATTENTION else 1
    return math.ceil(op.batch / group), m * group, k * n * op.w_bits / 8


def in_bank_cost(op: Op, unit: Any, accelerator: Any) -> OpCost:
    """What `op` costs on in-bank PIM `unit` (model: module docstring)."""
    if op.kind not in IN_BANK_KINDS:
        raise ValueError(f"in-bank PIM unit {unit.name!r} cannot run op kind {op.kind.value!r}; expected one of "
                         f"{sorted(k.value for k in IN_BANK_KINDS)}")
    tier, t = _timing(unit, accelerator)
    matrices, vectors, matrix_bytes = gemv_shape(op)
    col_bytes = unit.macs_per_cycle_per_bank * op.w_bits / 8
    rows = matrices * math.ceil(matrix_bytes / t.row_bytes) if matrix_bytes else 0
    rows_per_bank = math.ceil(rows / banks(t))
    comps_per_row = math.ceil(t.row_bytes / col_bytes) * vectors
    t_row = max(t.t_ras, t.t_rcd + comps_per_row * t.t_ccd_l) + t.t_rp
    refresh = 1.0 - t.t_rfc / t.t_refi
    tck_s = t.tck_ns * 1e-9
    clock = float(accelerator.tech.clock_hz)
    m, _, k = op.mnk
    io_bytes = op.batch * m * k * op.a_bits / 8 + op.output_bytes
    io_s = io_bytes / tier.bytes_per_s(clock)
    time_s = rows_per_bank * t_row * tck_s / refresh + io_s
    cycles = math.ceil(time_s * clock - 1e-9)
    compute = math.ceil(rows_per_bank * comps_per_row * t.t_ccd_l * tck_s * clock - 1e-9)
    counts = {"mac": float(op.macs), "pim_act": float(rows),
              "pim_internal_read_bytes": float(rows * t.row_bytes), "pim_io_bytes": float(io_bytes)}
    util = op.macs / (peak_macs_per_s(unit, t) * time_s) if time_s else 0.0
    return OpCost(unit=unit.name, cycles=cycles, compute_cycles=min(compute, cycles),
                  stall_cycles=cycles - min(compute, cycles), counts=counts, utilization=min(1.0, util),
                  holds=() if unit.dual_row_buffer else (tier.name,))


@cost_model("pim", kinds=KINDS)
def cost(op: Op, unit: Any, accelerator: Any) -> OpCost:
    """Cost of `op` on a PIM unit: in-bank here, logic-die in `sim.pim_logic`."""
    if unit.placement == "logic_die":
        from sim import pim_logic

        return pim_logic.cost(op, unit, accelerator)
    return in_bank_cost(op, unit, accelerator)


# ---- dispatch --------------------------------------------------------------------------------------------


def eligible(op: Op, unit: Any) -> bool:
    """Whether the dispatch pass pins `op` to in-bank PIM `unit` (kind and M policy; not already pinned)."""
    if "unit" in op.tags or op.kind.value not in unit.dispatch_kinds or op.kind not in IN_BANK_KINDS:
        return False
    return op.mnk[0] <= unit.dispatch_max_m


def pin(graph: Graph, unit: Any) -> Graph:
    """A copy of `graph` with the ops `eligible` for `unit` tagged ``unit=<its name>``."""
    out = Graph(graph.name, graph.meta)
    for op in graph.ops():
        new = op.replace(tags={**op.tags, "unit": unit.name}) if eligible(op, unit) else op
        out.add(new, [p.name for p in graph.predecessors(op)])
    return out


def _requests(graph: Graph) -> int:
    """Requests of `graph` that sub-batching splits: ``meta["batch"]``, else a continuous-batching step's
    ``meta["requests"]`` (decode + prefill, `workloads.serving`); 0 when it has neither."""
    for key in ("batch", "requests"):
        n = graph.meta.get(key)
        if isinstance(n, int) and not isinstance(n, bool):
            return n
    return 0


@graph_pass("pim")
def dispatch(graph: Graph, accelerator: Any) -> Graph:
    """Sub-batch split and PIM pinning (module docstring); logic-die units go to `sim.pim_logic.assign`."""
    pims = accelerator.units_of("pim")
    if any(u.placement == "logic_die" for u in pims):
        from sim import pim_logic

        graph = pim_logic.assign(graph, accelerator)
    in_bank = [u for u in pims if u.placement == "in_bank"]
    if not in_bank:
        return graph
    unit = in_bank[0]
    if not (unit.sub_batches > 1 and _requests(graph) >= max(unit.sub_batch_min, unit.sub_batches)):
        return _decided(pin(graph, unit), 1)
    from workloads.batching import split_sub_batches

    # one rebuild: each op's copies get the pin judged on the unsplit op
    split = split_sub_batches(graph, unit.sub_batches,
                              tags=lambda op: {"unit": unit.name} if eligible(op, unit) else {})
    if unit.sub_batch_policy == "always":
        return _decided(split, unit.sub_batches)
    from sim.engine import run

    whole = pin(graph, unit)
    t_split, t_whole = run(split, accelerator).latency_s, run(whole, accelerator).latency_s
    extra = {"pim_sub_batch_estimate_s": t_split, "pim_one_batch_estimate_s": t_whole}
    return _decided(split, unit.sub_batches, extra) if t_split < t_whole else _decided(whole, 1, extra)


def _decided(graph: Graph, used: int, extra: dict[str, float] | None = None) -> Graph:
    """`graph` (a graph this pass built) with the decision in its meta: ``pim_sub_batches_used`` and, when
    estimated, both estimates; `price` copies them into the result's summary."""
    graph.meta.update({"pim_sub_batches_used": used, **(extra or {})})
    return graph


# ---- energy of the rows read inside the DRAM -------------------------------------------------------------


@result_pass("pim")
def price(result: Any, graph: Any, accelerator: Any) -> Any:
    """`result` with an ``energy_pim_j`` column: per in-bank PIM op, ``pim_act x act_energy_pj +
    pim_internal_read_bytes x 8 x internal_read_pj_per_bit + pim_io_bytes x the tier's pJ/byte`` (the MACs
    are already priced by `sim.ppa` at the unit's precision); ``energy_j`` and the summary grow by it."""
    from sim.engine import accelerator_key, model_cost, signature
    from sim.ppa import dram_pj_per_byte

    units = {u.name: u for u in accelerator.units_of("pim") if u.placement == "in_bank"}
    if not units:
        return static(result, accelerator)
    decision = {k: graph.meta[k] for k in _DECISION if k in (getattr(graph, "meta", None) or {})}
    key = accelerator_key(accelerator)
    pim_j = []
    for name, unit_name in zip(result.column("name"), result.column("unit")):
        u = units.get(unit_name)
        if u is None:
            pim_j.append(0.0)
            continue
        c = model_cost(signature(graph[name]), unit_name, key).counts
        io_pj = dram_pj_per_byte(accelerator.tier(u.memory))
        pim_j.append((c.get("pim_act", 0.0) * u.act_energy_pj + c.get("pim_io_bytes", 0.0) * io_pj
                      + c.get("pim_internal_read_bytes", 0.0) * 8 * u.internal_read_pj_per_bit) * 1e-12)
    out = static(result.with_energy("pim", pim_j), accelerator)
    out.summary.update(decision)
    if "pim_one_batch_estimate_s" in decision:
        split, whole = decision["pim_sub_batch_estimate_s"], decision["pim_one_batch_estimate_s"]
        kept = "two sub-batches" if decision.get("pim_sub_batches_used", 1) == 2 else "one batch"
        out.summary["notes"] = [*out.summary.get("notes", []), (
            f"sub-batch interleaving estimated: {split:.4g} s in two sub-batches vs {whole:.4g} s in one batch; "
            f"kept {kept} (--set units.pim.sub_batch_policy=always forces the split)")]
    return out


def static(result: Any, accelerator: Any) -> Any:
    """`result` with the PIM units' static power (`sim.ppa.pim_static_w`) charged over the whole run: an
    ``energy_pim_static_j`` column (each op its share of the summed op time, as the die's leakage is spread),
    ``pim_static_w`` in the summary and added to ``leakage_w``.  ``area_mm2`` is set to the sum of the summary's
    ``area_*_mm2`` parts, so that a result pass that rewrote the die's area before this one (`sim.gpu`'s, when
    the GPU unit comes first) keeps the PIM's area in the total.  Applying it twice changes nothing."""
    from sim.ppa import area_total, pim_static_w

    watts = pim_static_w(accelerator)
    lat = float(result.summary.get("latency_s") or 0.0)
    durs = result.column("latency_s")
    busy = math.fsum(durs)
    out = result.with_energy("pim_static", [watts * lat * d / busy if busy else 0.0 for d in durs])
    s = out.summary  # a new dict owned by `out`
    s["leakage_w"] = s.get("leakage_w", 0.0) - s.get("pim_static_w", 0.0) + watts
    s["pim_static_w"] = watts
    s["area_mm2"] = area_total(s)
    return out
