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
    slice          = K w_bits/8                    one output's operands (its reduction over K)
    rows           = matrices x ceil(N / floor(row_bytes / slice))    slice <= row_bytes: whole slices per row
                   = matrices x N x ceil(slice / row_bytes)           else: each output's slice in row chunks
    comps_per_row  = ceil(filled bytes of the row / col_bytes) x vectors      every vector re-reads the row
    t_row          = max(tRAS, tRCD + comps_per_row x tCCD_L) + tRP      one row visit (tCK)
    rows_per_bank  = ceil(rows x skew / banks)           spread over all banks (skew: channel imbalance, below)
    time           = sum over row kinds of rows_per_bank x t_row x tCK / (1 - tRFC / tREFI)

An output's operands never straddle two rows unless they exceed one, so a row holds whole reduction slices
and a COMP reads only filled columns: the score GEMV (K = d_k = 128 fp16, 256 B) packs four outputs per
1 KiB row, 32 COMPs, as the authors' NeuPIMSLogitSoftmax does; the context GEMV (K = the context length)
puts one output dimension's tokens in a row, 512 per 1 KiB row, a short context leaving the row part empty
(300 tokens: 19 COMPs), as their NeuPIMSAttend does (one row per 512-token chunk and output dimension,
``ceil(chunk tokens / 16)`` COMPs).  Chunked slices have ``chunks - 1`` full rows and one partial row; each
kind of row is timed by its own COMP count.

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

Channel load imbalance (`channel_skew`, applied by the dispatch pass)
--------------------------------------------------------------------
A decode request's KV cache lives in one channel (NeuPIMs maps each request to a ``pim_ch_idx``), so the
PIM attention of a batch takes as long as its busiest channel.  When the graph's meta gives the decode
requests' context lengths (``meta["context_lens"]``), the dispatch pass computes

    load(request) = the row-visit time of the request's share of every decode attention op the unit runs,
                    with the op's context length set to the request's (`request_loads`; row rounding kept)
    skew          = (load of the busiest channel) / (all load / channels)        >= 1

over the tier's ``channels``, and stamps it on every decode attention op it pins (``dims["channel_skew_ppm"]``,
skew in parts per million, so that the memoised cost sees it); `in_bank_cost` then visits
``ceil(rows x skew / banks)`` rows per bank (the rows it activates, and their energy, are unchanged).  The
request-to-channel map is ``meta["context_channels"]`` when given (a trace's, e.g. the authors'
request-traces ``ch_idx``), else the unit's ``channel_balance`` policy (`assign_channels`): ``greedy``,
NeuPIMs' channel load balancing (longest request first onto the least-loaded channel, the authors'
greedy min-load bin packing), or ``round_robin`` (request i on channel i mod channels, the naive NPU+PIM
baseline's allocation); the greedy policy weighs requests by their KV tokens.  Sub-batch copies keep the whole batch's skew (each sub-batch is assumed to split every
channel's requests alike).  Without ``context_lens`` the requests are assumed spread evenly (skew 1).  The
skew is in the summary as ``pim_channel_skew``.

Left out: tFAW on all-bank activations (all-bank PIM activation is assumed to be power-provisioned, as in
Newton), GWRITE and READRES command slots beyond their bytes on the external interface, bank conflicts
between PIM and NPU accesses under dual row buffers, and the softmax between score and context (it runs on the NPU's vector
units).
"""

from __future__ import annotations

import heapq
import math
from collections import Counter
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
_DECISION = ("pim_sub_batches_used", "pim_sub_batch_estimate_s", "pim_one_batch_estimate_s", "pim_channel_skew")
#: ``dims`` key of a pinned attention op: its busiest channel's load over the mean, in parts per million
SKEW_DIM = "channel_skew_ppm"


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


def row_kinds(op: Op, unit: Any, t: Any) -> list[tuple[int, int]]:
    """(rows, COMPs per visit of such a row) for the whole of `op`'s stored operand, by kind of row (module
    docstring): whole reduction slices per row, or full and partial row chunks of a longer slice."""
    matrices, vectors, _ = gemv_shape(op)
    _, n, k = op.mnk
    col_bytes = unit.macs_per_cycle_per_bank * op.w_bits / 8
    slice_bytes = k * op.w_bits / 8
    if not (matrices and n and slice_bytes):
        return []
    if slice_bytes <= t.row_bytes:
        per_row = int(t.row_bytes // slice_bytes)
        full, rest = divmod(n, per_row)
        kinds = [(matrices * full, math.ceil(per_row * slice_bytes / col_bytes - 1e-9) * vectors)]
        if rest:
            kinds.append((matrices, math.ceil(rest * slice_bytes / col_bytes - 1e-9) * vectors))
        return kinds
    chunks = math.ceil(slice_bytes / t.row_bytes - 1e-9)
    tail = slice_bytes - (chunks - 1) * t.row_bytes
    kinds = [(matrices * n * (chunks - 1), math.ceil(t.row_bytes / col_bytes - 1e-9) * vectors)]
    kinds.append((matrices * n, math.ceil(tail / col_bytes - 1e-9) * vectors))
    return [(r, c) for r, c in kinds if r]


def t_row(t: Any, comps: int) -> int:
    """One row visit with `comps` COMPs (tCK): activate, the COMPs (or tRAS, whichever is longer), precharge."""
    return max(t.t_ras, t.t_rcd + comps * t.t_ccd_l) + t.t_rp


def in_bank_cost(op: Op, unit: Any, accelerator: Any) -> OpCost:
    """What `op` costs on in-bank PIM `unit` (model: module docstring)."""
    if op.kind not in IN_BANK_KINDS:
        raise ValueError(f"in-bank PIM unit {unit.name!r} cannot run op kind {op.kind.value!r}; expected one of "
                         f"{sorted(k.value for k in IN_BANK_KINDS)}")
    tier, t = _timing(unit, accelerator)
    kinds = row_kinds(op, unit, t)
    skew = op.dims.get(SKEW_DIM, 1_000_000) / 1e6
    visits = [(math.ceil(rows * skew / banks(t) - 1e-9), comps) for rows, comps in kinds]
    refresh = 1.0 - t.t_rfc / t.t_refi
    tck_s = t.tck_ns * 1e-9
    clock = float(accelerator.tech.clock_hz)
    rows_time = sum(n * t_row(t, comps) for n, comps in visits) * tck_s / refresh
    m, _, k = op.mnk
    io_bytes = op.batch * m * k * op.a_bits / 8 + op.output_bytes
    io_s = io_bytes / tier.bytes_per_s(clock)
    time_s = rows_time + io_s
    cycles = math.ceil(time_s * clock - 1e-9)
    compute = math.ceil(sum(n * comps for n, comps in visits) * t.t_ccd_l * tck_s * clock - 1e-9)
    vectors = gemv_shape(op)[1]
    col_bytes = unit.macs_per_cycle_per_bank * op.w_bits / 8
    counts = {"mac": float(op.macs), "pim_act": float(sum(r for r, _ in kinds)),
              "pim_internal_read_bytes": float(sum(r * c // vectors for r, c in kinds) * col_bytes),
              "pim_io_bytes": float(io_bytes)}
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


def assign_channels(lens: list[int], channels: int, policy: str) -> list[int]:
    """Channel of each request (module docstring): ``greedy`` puts the longest request first onto the channel
    with the fewest KV tokens so far (ties: the lowest index), ``round_robin`` request i on channel i mod
    `channels`."""
    if policy == "round_robin":
        return [i % channels for i in range(len(lens))]
    if policy != "greedy":
        raise ValueError(f"unknown channel_balance {policy!r}; expected 'greedy' or 'round_robin'")
    load = [(0, c) for c in range(channels)]  # a heap of (tokens, channel)
    out = [0] * len(lens)
    for i in sorted(range(len(lens)), key=lambda i: (-lens[i], i)):
        tokens, c = heapq.heappop(load)
        out[i] = c
        heapq.heappush(load, (tokens + lens[i], c))
    return out


def channel_skew(loads: list[float], chans: list[int], channels: int) -> float:
    """Load of the busiest of `channels` channels over the mean channel's (1.0: perfectly even); `loads[i]` is
    request i's, on channel `chans[i]`."""
    per = [0.0] * channels
    for x, c in zip(loads, chans):
        per[c] += x
    total = math.fsum(per)
    return max(per) * channels / total if total else 1.0


def request_loads(graph: Graph, unit: Any, t: Any, lens: list[int]) -> list[float]:
    """Each decode request's PIM time (tCK, unspread over banks) on its channel: the row visits of one
    request's share of every decode attention op `unit` runs, with the op's context length set to the
    request's (score: ``N``; context: ``K``); the lengths' own rounding into rows is kept."""
    # identical layers share one signature: each distinct op is costed once per length, times its count
    ops = Counter(op.signature() for op in graph.ops() if op.kind in _ATTENTION and eligible(op, unit))
    memo: dict[int, float] = {}

    def load(n: int) -> float:
        if n not in memo:
            total = 0.0
            for op, count in ops.items():
                one = op.replace(batch=int(op.dims.get("kv_group", 1)),
                                 dims={**op.dims, ("N" if op.kind is OpKind.ATTN_SCORE else "K"): n})
                total += count * sum(r * t_row(t, c) for r, c in row_kinds(one, unit, t))
            memo[n] = total
        return memo[n]

    return [load(n) for n in lens]


def _context(graph: Graph, unit: Any, channels: int) -> tuple[list[int], list[int]] | None:
    """The graph's decode requests' (context lengths, channels), checked; None when the meta has no lengths."""
    meta = graph.meta
    lens = meta.get("context_lens")
    if lens is None:
        if meta.get("context_channels") is not None:
            raise ValueError(f"graph {graph.name!r}: meta['context_channels'] without meta['context_lens']; give "
                             f"each decode request's context length too")
        return None
    lens = list(lens)
    if not lens or any(isinstance(n, bool) or not isinstance(n, int) or n < 0 for n in lens):
        raise ValueError(f"graph {graph.name!r}: meta['context_lens'] must be a non-empty list of non-negative "
                         f"integers (one per decode request), got {meta['context_lens']!r:.80}")
    chans = meta.get("context_channels")
    if chans is None:
        return lens, assign_channels(lens, channels, unit.channel_balance)
    chans = list(chans)
    if len(chans) != len(lens):
        raise ValueError(f"graph {graph.name!r}: meta['context_channels'] has {len(chans)} entries but "
                         f"meta['context_lens'] has {len(lens)}; expected one channel per request")
    bad = [c for c in chans if isinstance(c, bool) or not isinstance(c, int) or not 0 <= c < channels]
    if bad:
        raise ValueError(f"graph {graph.name!r}: meta['context_channels'] holds {bad[0]!r}; expected channel "
                         f"indices 0..{channels - 1} (the PIM tier {unit.memory!r} has {channels} channels)")
    return lens, chans


def with_channel_skew(graph: Graph, unit: Any, accelerator: Any) -> Graph:
    """`graph` with its channel skew (module docstring) on the decode attention ops `unit` will run, and
    ``pim_channel_skew`` in its meta; `graph` itself when its meta gives no context lengths."""
    t = _timing(unit, accelerator)[1]
    ctx = _context(graph, unit, t.channels)
    if ctx is None:
        return graph
    lens, chans = ctx
    skew = channel_skew(request_loads(graph, unit, t, lens), chans, t.channels)
    ppm = round(skew * 1e6)
    out = Graph(graph.name, {**graph.meta, "pim_channel_skew": skew})
    for op in graph.ops():
        if op.kind in _ATTENTION and eligible(op, unit):
            op = op.replace(dims={**op.dims, SKEW_DIM: ppm})
        out.add(op, graph.input_names(op))
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
    graph = with_channel_skew(graph, unit, accelerator)
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
