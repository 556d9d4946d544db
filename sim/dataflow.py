"""Streaming-dataflow (RDU) family: a graph pass that fuses subgraphs into pipelined sections mapped on
the chip's PCUs and PMUs, its cost model, the three-tier (SRAM / HBM / DDR) placement policy, tensor
parallelism over sockets, and expert-switching time (SambaNova SN40L, arXiv 2405.07518).

Sharding over ``S = accelerator.sockets`` (Megatron-style tensor parallelism)
-----------------------------------------------------------------------------
Walking the graph in topological order, every op's output is *sharded* (split over sockets) or *full*
(replicated).  A weighted matmul whose input is full is column-parallel (weights, FLOPs and output / S);
one whose input is sharded is row-parallel (weights, FLOPs and input / S, full output of partial sums,
followed by an all-reduce of its output).  Attention ops split by heads (everything / S).  Vector ops are
sharded when an input is, else replicated (full work on every socket).  An all-reduce of ``b`` bytes over
the peer-to-peer link (``links`` with end ``peer``; bandwidth ``W``, latency ``l``) takes
``2 (S-1)/S b / W + 2 l`` (reduce-scatter then all-gather, one hop each over the all-to-all network).

Placement (`RduUnit.weight_placement`, `kv_placement`)
------------------------------------------------------
Weights (per socket, each ``weight_id`` once, topological order) go to the HBM tier while they fit in its
capacity (``hbm_first``), the rest to the DDR tier; ``ddr`` puts all of them in DDR.  The KV cache read by
decode attention (its K/V operand) then takes what HBM has left (``hbm_first``) or DDR (``ddr``).
Activations crossing a kernel (unfused) or section (fused) boundary go through HBM.

Fusion (`RduUnit.fused`)
------------------------
Unfused: every op is one kernel on the whole chip, ``P = pcus`` PCUs of ``R`` FLOP/cycle::

    cycles = launch + max(ceil(flops / (P R)), max_t bytes_t / bw_t) + all-reduce

with ``bytes_t`` the op's inputs and outputs (HBM) plus its weights and KV at their tier.

Fused: contiguous runs of the topological order form *sections* whose on-chip need fits the PMUs
(``pmus * pmu_bytes``) and it has at most ``max_stages`` ops (default ``min(pcus, 48)``).  The need is the
section's resident weights plus, per op, a double buffer of one chunk of its output (and, for attention,
its K/V activations).  An op that alone does not fit is a section of its own with streamed weights.
Among the partitions into such sections the mapper (`sections`) picks the one of least total time.
A section is one kernel: every op is a pipeline stage; stages get one PCU each and the rest in
proportion to their FLOPs; the pipeline streams ``C = max(ceil(tokens / chunk_rows), ceil(w_max /
pmu_bytes), 1)`` chunks (token chunks, or PMU-sized tiles of the largest stage's weights in decode).
With ``t_i = ceil(flops_i / (pcus_i R))`` a stage's time for the whole section::

    compute = (sum_i t_i + (C - 1) max_i t_i) / C       (the first chunk fills the pipeline, then one
                                                         chunk per bottleneck-stage time)
    cycles  = launch + max(compute, max_t bytes_t / bw_t, all-reduce bytes / W) + 2 l x all-reduces

where ``bytes_t`` now holds only the section's weights and KV at their tier and the activations that cross
its boundary: intermediates stay in PMUs.  In the graph every op of a section carries the section's
totals in its dims and is charged its share of the section's cycles, bytes and event counts in proportion
to its FLOPs (equal shares in a section without FLOPs), at the section's utilisation; the section's
*carrier* (its op with the most MACs) takes every input from outside the section and the other ops hang
off it, so the section runs as one block and every op stays in the per-op table, tagged ``section``,
``stage_pcus`` and ``fused_ops`` (carrier) or ``fused_into``.

Model switching (`load_time_s`): an expert of ``b`` bytes spread over ``n`` devices loads ``b / n`` bytes
per device over the link into the HBM tier (``ddr -> hbm`` on an RDU, ``host -> hbm``, i.e. PCIe, on a GPU).

Composition of Experts (`serve_coe`), as arXiv 2405.07518 Sec. V and VI-C run Samba-CoE: a batch of prompts
goes through the router together, the experts it picks that are not in HBM are copied there, then each
(prompt, expert) pair runs alone; router and experts run tensor-parallel over ``devices`` devices
(`tp_latency_s`: this module's sharding on an RDU machine, `workloads.batching.tensor_parallel` plus
`sim.collective.tp_comm_s` on any other).

Left out: writing the KV cache in prefill, PCU/PMU placement and on-chip network contention, per-op
utilisation of a PCU (every FLOP at R), the DDR/HBM tiers' own timing (peak bandwidth), reconfiguration
between sections beyond ``kernel_launch_s``, and area (`sim.ppa` reports none for rdu units).
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from sim.collective import peer_link
from sim.cost import OpCost, cost_model, graph_pass
from workloads.graph import Graph
from workloads.op import MATMUL_KINDS, Op, OpKind

KINDS = frozenset(OpKind)
ATTN = frozenset({OpKind.ATTN_SCORE, OpKind.ATTN_CONTEXT})
UNFUSED, FUSED = 0, 1


class RduError(ValueError):
    """An RDU accelerator spec the model cannot use (names the field and what was expected)."""


# ---- tiers and links ------------------------------------------------------------------------------------
def tiers(accelerator) -> tuple[int, int]:
    """Indices into ``accelerator.off_chip`` of the HBM tier (activations) and the DDR tier (capacity)."""
    off = accelerator.off_chip
    if not off:
        raise RduError(f"{accelerator.name}: memory: an rdu unit needs an off-chip tier (hbm/ddr); got none")
    hbm = next((i for i, t in enumerate(off) if t.kind.startswith("hbm")), 0)
    ddr = next((i for i, t in enumerate(off) if t.kind.startswith("ddr")), hbm)
    return hbm, ddr


def allreduce_s(nbytes: float, accelerator) -> float:
    """Time of one all-reduce of `nbytes` over the sockets (model: module docstring)."""
    s = accelerator.sockets
    if s == 1 or nbytes <= 0:
        return 0.0
    link = peer_link(accelerator)
    if link is None:
        raise RduError(f"{accelerator.name}: links: sockets={s} needs a link with src or dst 'peer'; got none")
    return 2 * (s - 1) / s * nbytes / (link.bandwidth_gbps * 1e9) + 2 * link.latency_s


def load_time_s(nbytes: float, accelerator, devices: int = 1) -> float:
    """Time to copy `nbytes` (an expert) into the HBM tier, spread over `devices` devices in parallel: each
    moves ``nbytes / devices`` over the link whose destination is the first HBM tier."""
    hbm = accelerator.off_chip[tiers(accelerator)[0]].name
    link = next((lk for lk in accelerator.links if lk.dst == hbm), None)
    if link is None:
        raise RduError(f"{accelerator.name}: links: expected a link with dst {hbm!r} (ddr or host to HBM) "
                       f"to load models; links are {[lk.name for lk in accelerator.links]}")
    return nbytes / devices / (link.bandwidth_gbps * 1e9) + link.latency_s


# ---- the pass: sharding, placement, sections --------------------------------------------------------------
def _kv_bytes(op: Op) -> float:
    """Bytes of the KV cache a decode attention op reads (its K or V operand)."""
    if op.kind not in ATTN or op.tags.get("phase") != "decode":
        return 0.0
    m, n, k = op.mnk
    return op.batch * k * n * op.w_bits / 8 / op.dims.get("kv_group", 1)


def _shares(graph: Graph, s: int) -> dict[str, dict[str, float]]:
    """Per-socket work of every op: flops, macs, in/out activation bytes, weight bytes read and stored,
    KV bytes, all-reduce bytes; and whether its output is sharded."""
    out: dict[str, dict[str, float]] = {}
    for op in graph.ops():
        preds = graph.predecessors(op)
        sharded_in = any(out[p.name]["sharded"] for p in preds)
        kv = _kv_bytes(op)
        act_in = op.input_bytes - kv
        w_read, w_store = op.weight_bytes, op.params * op.w_bits / 8
        d = {"flops": op.flops, "macs": op.macs, "in": act_in, "out": op.output_bytes, "w": w_read,
             "w_store": w_store, "kv": kv, "ar": 0.0, "sharded": False}
        if s > 1:
            if op.kind in ATTN:
                d.update(flops=op.flops / s, macs=op.macs / s, **{"in": act_in / s}, out=op.output_bytes / s,
                         kv=kv / s, sharded=True)
            elif op.kind in MATMUL_KINDS and op.params:
                d.update(flops=op.flops / s, macs=op.macs / s, w=w_read / s, w_store=w_store / s)
                if sharded_in:  # row-parallel: partial sums, all-reduced
                    d.update(**{"in": act_in / s}, ar=op.output_bytes)
                else:  # column-parallel
                    d.update(out=op.output_bytes / s, sharded=True)
            elif op.kind is OpKind.EMBED:
                d.update(w=w_read / s, w_store=w_store / s)
            elif sharded_in:
                d.update(flops=op.flops / s, macs=op.macs / s, **{"in": act_in / s}, out=op.output_bytes / s,
                         sharded=True)
        out[op.name] = d
    return out


def _place(graph: Graph, shares: dict, unit, accelerator) -> tuple[dict[str, int], dict[str, int]]:
    """Tier index (into ``off_chip``) of every op's weights and KV cache (policy: module docstring)."""
    hbm, ddr = tiers(accelerator)
    free = float(accelerator.off_chip[hbm].capacity_bytes)
    w_tier: dict[str, int] = {}
    by_id: dict[str, int] = {}
    for op in graph.ops():
        if not op.params:
            continue
        wid = op.weight_id or op.name
        if wid not in by_id:
            need = shares[op.name]["w_store"]
            if unit.weight_placement == "hbm_first" and need <= free:
                by_id[wid], free = hbm, free - need
            else:
                by_id[wid] = ddr
        w_tier[op.name] = by_id[wid]
    kv_tier: dict[str, int] = {}
    for op in graph.ops():
        kv = shares[op.name]["kv"]
        if kv:
            if unit.kv_placement == "hbm_first" and kv <= free:
                kv_tier[op.name], free = hbm, free - kv
            else:
                kv_tier[op.name] = ddr
    spilled = sum(shares[op.name]["w_store"] for op in graph.ops() if w_tier.get(op.name) == ddr != hbm)
    spilled += sum(shares[n]["kv"] for n, t in kv_tier.items() if t == ddr != hbm)
    cap = accelerator.off_chip[ddr].capacity_bytes
    if ddr != hbm and spilled > cap:
        raise RduError(f"{accelerator.name}: memory.{accelerator.off_chip[ddr].name}.capacity_bytes: got {cap:.4g}; "
                       f"expected at least the {spilled:.4g} bytes per socket of weights and KV cache placed there")
    return w_tier, kv_tier


def _tier_dims(n_tiers: int, moves: dict[int, float]) -> dict[str, int]:
    return {f"rdu_t{i}": int(round(moves.get(i, 0.0))) for i in range(n_tiers)}


def _unfused_dims(d: dict, wt: int | None, kt: int | None, hbm: int, n_tiers: int) -> dict[str, int]:
    moves = {hbm: d["in"] + d["out"]}
    if d["w"]:
        moves[wt] = moves.get(wt, 0.0) + d["w"]
    if d["kv"]:
        moves[kt] = moves.get(kt, 0.0) + d["kv"]
    onchip = d["in"] + d["w"] + d["kv"]
    return {"rdu_kind": UNFUSED, "rdu_flops": int(d["flops"]), "rdu_macs": int(d["macs"]), "rdu_ar": int(d["ar"]),
            "rdu_nar": int(d["ar"] > 0), "rdu_sr": int(onchip), "rdu_sw": int(d["out"]),
            **_tier_dims(n_tiers, moves)}


def section_cycles(unit, accelerator, *, fill: float, bneck: float, chunks: int, moves: dict[int, float],
                   ar_bytes: float, n_ar: int) -> tuple[float, float]:
    """(cycles, compute cycles) of one fused section whose stages take ``fill`` cycles in all (one after
    another) and ``bneck`` cycles at most, over the whole section (formula: module docstring)."""
    clock = accelerator.tech.clock_hz
    compute = math.ceil((fill + (chunks - 1) * bneck) / chunks)
    mem = max((b / accelerator.off_chip[i].bytes_per_s(clock) * clock for i, b in moves.items() if b), default=0.0)
    ar_bw = ar_lat = 0.0
    if ar_bytes:
        full = allreduce_s(ar_bytes, accelerator)
        lat = peer_link(accelerator).latency_s
        ar_bw = (full - 2 * lat) * clock
        ar_lat = 2 * lat * n_ar * clock
    return unit.kernel_launch_s * clock + max(compute, mem, ar_bw) + ar_lat, compute


def _stage_cycles(flops: np.ndarray, pcus: int, rate: float) -> tuple[np.ndarray, np.ndarray]:
    """For the sections made of the last 1, 2, ... of `flops` (stages in reverse order): the sum and the
    max over stages of ``ceil(flops_i / (pcus_i rate))`` with `_allocate`'s PCUs."""
    n = len(flops)
    lengths = np.arange(1, n + 1)
    total = np.cumsum(flops)
    spare = np.maximum(0, pcus - lengths).astype(float)
    share = np.where(total > 0, spare / np.where(total > 0, total, 1.0), 0.0)
    p = 1 + np.floor(share[:, None] * flops[None, :])
    t = np.ceil(flops[None, :] / (p * rate))
    t = np.where(np.arange(n)[None, :] < lengths[:, None], t, 0.0)
    return t.sum(axis=1), t.max(axis=1)


def _need(op: Op, d: dict, token_chunks: int) -> float:
    """PMU bytes an op takes in a section: resident weights, a double-buffered output chunk, attention K/V."""
    return d["w"] + 2 * d["out"] / token_chunks + (d["in"] if op.kind in ATTN else 0.0)


def sections(graph: Graph, shares: dict, unit, accelerator, w_tier: dict, kv_tier: dict,
             tokens: int) -> list[list[Op]]:
    """Partition the topological order into contiguous sections that fit the PMUs and minimise the sum of
    `section_cycles` (dynamic programming over section ends, vectorised over section starts; stage times
    with `_allocate`'s PCUs).  Sections have at most ``max_stages`` ops (default ``min(pcus, 48)``, which
    bounds the search)."""
    ops = graph.ops()
    n = len(ops)
    index = {op.name: i for i, op in enumerate(ops)}
    last_succ = [max((index[x] for x in graph.output_names(op.name)), default=n) for op in ops]
    preds = [[index[p] for p in graph.input_names(op.name)] for op in ops]
    sram = unit.pmus * unit.pmu_bytes
    window = unit.max_stages or min(unit.pcus, 48)
    token_chunks = max(1, math.ceil(tokens / unit.chunk_rows))
    hbm = tiers(accelerator)[0]
    d = [shares[op.name] for op in ops]
    need = [_need(op, x, token_chunks) for op, x in zip(ops, d)]
    cut = [0] * (n + 1)
    flops_all = np.array([x["flops"] for x in d], dtype=float)
    clock = accelerator.tech.clock_hz
    per_byte = {i: clock / t.bytes_per_s(clock) for i, t in enumerate(accelerator.off_chip)}
    launch = unit.kernel_launch_s * clock
    s = accelerator.sockets
    link = peer_link(accelerator)
    if s > 1 and link is not None:
        ar_per_byte, ar_lat = 2 * (s - 1) / s / (link.bandwidth_gbps * 1e9) * clock, 2 * link.latency_s * clock
    else:
        ar_per_byte = ar_lat = 0.0
        if s > 1 and any(x["ar"] for x in d):
            allreduce_s(1.0, accelerator)  # raises: sockets without a peer link
    n_t = len(accelerator.off_chip)

    def col(key: str) -> np.ndarray:
        return np.array([x[key] for x in d], dtype=float)

    w, kv, outs, inb, arb = col("w"), col("kv"), col("out"), col("in"), col("ar")
    need_a = np.array(need)
    wt = np.array([w_tier.get(op.name, hbm) for op in ops])
    kt = np.array([kv_tier.get(op.name, hbm) for op in ops])
    per_tier = [np.where(wt == t, w, 0.0) + np.where(kt == t, kv, 0.0) for t in range(n_t)]
    root_in = np.where([not p for p in preds], inb, 0.0)
    ls = np.array(last_succ)
    best = np.full(n + 1, math.inf)
    best[0] = 0.0

    def suffix(x: np.ndarray) -> np.ndarray:
        return np.cumsum(x[::-1])[::-1]

    for j in range(1, n + 1):
        lo = max(0, j - window)
        seg = slice(lo, j)
        fills, bnecks = _stage_cycles(flops_all[seg][::-1], unit.pcus, unit.flops_per_pcu_per_cycle)
        fills, bnecks = fills[::-1], bnecks[::-1]  # index i - lo: the section [i, j)
        ok = suffix(need_a[seg]) <= sram
        ok[-1] = True
        w_max = np.maximum.accumulate(w[seg][::-1])[::-1]
        ar, n_ar = suffix(arb[seg]), suffix((arb[seg] > 0).astype(float))
        # activations read from HBM: producers p < i with a consumer in [i, j) (each once), graph inputs
        diff = np.zeros(j - lo + 1)
        last_use: dict[int, int] = {}
        for k in range(lo, j):
            for p in preds[k]:
                last_use[p] = k
        for p, k in last_use.items():
            diff[max(p + 1, lo) - lo] += outs[p]
            diff[k + 1 - lo] -= outs[p]
        act = np.cumsum(diff)[:-1] + suffix(root_in[seg]) + suffix(np.where(ls[seg] >= j, outs[seg], 0.0))
        mem = np.zeros(j - lo)
        for t in range(n_t):
            mem = np.maximum(mem, (suffix(per_tier[t][seg]) + (act if t == hbm else 0.0)) * per_byte[t])
        chunks = np.maximum(token_chunks, np.ceil(w_max / unit.pmu_bytes))
        compute = np.ceil((fills + (chunks - 1) * bnecks) / chunks)
        cyc = launch + np.maximum(np.maximum(compute, mem), ar * ar_per_byte) + ar_lat * n_ar  # = section_cycles
        cand = np.where(ok, best[seg] + cyc, math.inf)
        k = len(cand) - 1 - int(np.argmin(cand[::-1]))  # ties: the shorter section
        best[j], cut[j] = cand[k], lo + k
    out: list[list[Op]] = []
    j = n
    while j > 0:
        out.append(ops[cut[j]:j])
        j = cut[j]
    return out[::-1]


def _allocate(flops: list[float], pcus: int) -> list[int]:
    """One PCU per stage, the rest in proportion to FLOPs (floor)."""
    n, total = len(flops), sum(flops)
    spare = max(0, pcus - n)
    return [1 + (int(spare * f / total) if total else 0) for f in flops]


@graph_pass("rdu")
def fuse(graph: Graph, accelerator) -> Graph:
    """Shard, place and (when the unit is `fused`) fuse `graph` for the first rdu unit (module docstring)."""
    unit = accelerator.units_of("rdu")[0]
    s = accelerator.sockets
    hbm, _ = tiers(accelerator)
    n_tiers = len(accelerator.off_chip)
    shares = _shares(graph, s)
    w_tier, kv_tier = _place(graph, shares, unit, accelerator)
    new = Graph(graph.name, {**graph.meta, "rdu_fused": unit.fused})
    if not unit.fused:
        for op in graph.ops():
            dims = _unfused_dims(shares[op.name], w_tier.get(op.name), kv_tier.get(op.name), hbm, n_tiers)
            new.add(op.replace(dims={**op.dims, **dims}), [p.name for p in graph.predecessors(op)])
        return new
    tokens = int(graph.meta.get("tokens") or 1)
    secs = sections(graph, shares, unit, accelerator, w_tier, kv_tier, tokens)
    previous: list[str] = []
    for k, sec in enumerate(secs):
        names = {op.name for op in sec}
        ds = [shares[op.name] for op in sec]
        pcus = _allocate([d["flops"] for d in ds], unit.pcus)
        times = [math.ceil(x["flops"] / (p * unit.flops_per_pcu_per_cycle)) for x, p in zip(ds, pcus)]
        moves: dict[int, float] = {}
        ext_in: list[str] = []
        for op, d in zip(sec, ds):
            if d["w"]:
                moves[w_tier[op.name]] = moves.get(w_tier[op.name], 0.0) + d["w"]
            if d["kv"]:
                moves[kv_tier[op.name]] = moves.get(kv_tier[op.name], 0.0) + d["kv"]
            for p in graph.predecessors(op):
                if p.name not in names and p.name not in ext_in:
                    ext_in.append(p.name)
            succ = graph.output_names(op.name)
            if not succ or any(n not in names for n in succ):
                moves[hbm] = moves.get(hbm, 0.0) + d["out"]
        moves[hbm] = moves.get(hbm, 0.0) + sum(shares[p]["out"] for p in ext_in)
        moves[hbm] += sum(d["in"] for op, d in zip(sec, ds) if not graph.input_names(op.name))  # graph inputs
        w_max = max(d["w"] for d in ds)
        chunks = max(math.ceil(tokens / unit.chunk_rows), math.ceil(w_max / unit.pmu_bytes), 1)
        total = {key: sum(d[key] for d in ds) for key in ("flops", "macs", "ar", "in", "out", "w", "kv")}
        c = max(range(len(sec)), key=lambda i: (ds[i]["macs"], -i))
        carrier = sec[c]
        sdims = {"rdu_kind": FUSED, "rdu_flops": int(total["flops"]), "rdu_macs": int(total["macs"]),
                 "rdu_ar": int(total["ar"]), "rdu_nar": sum(1 for d in ds if d["ar"] > 0),
                 "rdu_sr": int(total["in"] + total["w"] + total["kv"]), "rdu_sw": int(total["out"]),
                 "rdu_stages": len(sec), "rdu_chunks": chunks, "rdu_fill": sum(times), "rdu_bneck": max(times),
                 **_tier_dims(n_tiers, moves)}
        tag = f"S{k}"
        order = [c] + [i for i in range(len(sec)) if i != c]
        for i in order:
            op = sec[i]
            share = {"rdu_num": int(ds[i]["flops"]), "rdu_den": int(total["flops"])} if total["flops"] else \
                {"rdu_num": 1, "rdu_den": len(sec)}
            tags = {**op.tags, "section": tag, "stage_pcus": pcus[i]}
            tags.update({"fused_ops": len(sec)} if i == c else {"fused_into": carrier.name})
            inputs = list(dict.fromkeys([*ext_in, *previous])) if i == c else [carrier.name]
            new.add(op.replace(dims={**op.dims, **sdims, **share}, tags=tags), inputs)
        previous = [op.name for op in sec]
    return new


# ---- the cost model ------------------------------------------------------------------------------------
def _annotate_one(op: Op, unit, accelerator) -> Op:
    g = Graph("one")
    g.add(op)
    return next(iter(fuse(g, accelerator).ops()))


@cost_model("rdu", kinds=KINDS)
def cost(op: Op, unit, accelerator) -> OpCost:
    """Cost of an op annotated by `fuse` on an `RduUnit` (model: module docstring)."""
    if "rdu_kind" not in op.dims:
        op = _annotate_one(op, unit, accelerator)
    d = op.dims
    kind = d["rdu_kind"]
    clock = accelerator.tech.clock_hz
    peak = unit.pcus * unit.flops_per_pcu_per_cycle
    frac = d["rdu_num"] / d["rdu_den"] if kind == FUSED else 1.0
    tier_bytes: dict[str, float] = {}
    mem = 0.0
    for i, tier in enumerate(accelerator.off_chip):
        b = d.get(f"rdu_t{i}", 0)
        if b:
            tier_bytes[tier.name] = float(b) * frac
            mem = max(mem, b / tier.bytes_per_s(clock) * clock)
    ar_bytes, n_ar = d["rdu_ar"], d["rdu_nar"]
    if kind == UNFUSED:
        compute = math.ceil(d["rdu_flops"] / peak)
        total = unit.kernel_launch_s * clock + max(compute, mem) + allreduce_s(ar_bytes, accelerator) * clock
    else:
        moves = {i: d.get(f"rdu_t{i}", 0) for i in range(len(accelerator.off_chip))}
        total, compute = section_cycles(unit, accelerator, fill=d["rdu_fill"], bneck=d["rdu_bneck"],
                                        chunks=d["rdu_chunks"], moves=moves, ar_bytes=ar_bytes, n_ar=n_ar)
    total = max(1.0, total)
    cycles = math.ceil(total * frac)
    on = accelerator.on_chip[0].name if accelerator.on_chip else None
    if on is not None:
        tier_bytes[on] = float(d["rdu_sr"] + d["rdu_sw"]) * frac
    work = 2 * d["rdu_macs"] if d["rdu_macs"] else d["rdu_flops"]
    counts = {"mac": d["rdu_macs"] * frac, "vector_flop": max(0, d["rdu_flops"] - 2 * d["rdu_macs"]) * frac,
              "sram_read_bytes": d["rdu_sr"] * frac, "sram_write_bytes": d["rdu_sw"] * frac}
    compute = min(math.floor(compute * frac), cycles)
    return OpCost(unit=unit.name, cycles=cycles, compute_cycles=compute, stall_cycles=cycles - compute,
                  tier_bytes=tier_bytes, counts=counts, utilization=min(1.0, work / (peak * total)))


# ---- Composition of Experts serving -------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class CoeServing:
    """Per-request latencies of a CoE request stream on one machine (`serve_coe`): ``router_s`` is the
    router on the first batch, ``prefill_s`` and ``decode_step_s`` one expert's on the first request."""

    latencies_s: list[float]
    hits: list[bool]
    slots: int
    switch_s: float
    router_s: float
    prefill_s: float
    decode_step_s: float
    batch: int = 1

    @property
    def mean_latency_s(self) -> float:
        return sum(self.latencies_s) / len(self.latencies_s)


def expert_slots(coe, accelerator, devices: int) -> int:
    """Experts the HBM tiers hold besides the router: each of ``sockets / devices`` groups of `devices`
    devices holds ``floor(devices x HBM / expert_bytes)`` experts; the router takes whole slots."""
    hbm = accelerator.off_chip[tiers(accelerator)[0]].capacity_bytes
    per_group = int(devices * hbm // coe.expert_bytes)
    return max(0, per_group * (accelerator.sockets // devices) - math.ceil(coe.router_bytes / coe.expert_bytes))


def model_store(coe, accelerator):
    """The memory tier experts are loaded from (the source of the link into HBM), or None (the host)."""
    hbm = accelerator.off_chip[tiers(accelerator)[0]].name
    link = next((lk for lk in accelerator.links if lk.dst == hbm), None)
    names = {t.name: t for t in accelerator.memory}
    return names.get(link.src) if link is not None else None


def coe_footprint(coe, accelerator) -> dict:
    """Machines of `accelerator`'s kind needed to hold every expert and the router of `coe` in its store: the
    tier experts are loaded from (`model_store`, DDR on an SN40L node) or, for a machine that loads from the
    host, its HBM.  Returns ``store`` (tier name), ``store_bytes`` (over all sockets) and ``machines``."""
    store = model_store(coe, accelerator)
    if store is None:  # loads from the host: only its HBM holds the CoE on the machine
        store = accelerator.off_chip[tiers(accelerator)[0]]
    held = accelerator.sockets * store.capacity_bytes
    return {"store": store.name, "store_bytes": float(held), "machines": math.ceil(coe.weight_bytes / held)}


def tp_latency_s(graph: Graph, accelerator, devices: int) -> float:
    """Seconds of `graph` run tensor-parallel over `devices` devices of `accelerator`.  An rdu machine shards
    over its sockets itself (`fuse`): the graph is simulated on it with ``sockets = devices``.  Any other
    machine (a DGX) simulates one device's shard (`workloads.batching.tensor_parallel`) and adds the
    Megatron all-reduces over its peer link (`sim.collective.tp_comm_s`), not overlapped with compute."""
    import sim

    if accelerator.units_of("rdu"):
        acc = accelerator if accelerator.sockets == devices else accelerator.model_copy(update={"sockets": devices})
        return sim.simulate(graph, acc).summary["latency_s"]
    from sim.collective import tp_comm_s
    from workloads.batching import tensor_parallel

    shard = tensor_parallel(graph, devices) if devices > 1 else graph
    return sim.simulate(shard, accelerator).summary["latency_s"] + tp_comm_s(graph, devices, accelerator)


def serve_coe(coe, stream, accelerator, *, devices: int, batch: int = 1,
              copy_devices: int | None = None) -> CoeServing:
    """Latency of every request of `stream` (`workloads.coe.requests`), served as arXiv 2405.07518 Sec. VI-C
    describes Samba-CoE: consecutive requests form batches of `batch` prompts; the router prefills a batch's
    prompts together (one graph of batch ``b``, at the batch's longest prompt); every expert of the batch
    that is not resident is copied into HBM once (`load_time_s` of the whole expert over `copy_devices`
    links, default `devices`); then each (prompt, expert) pair runs alone, one after another: the expert
    prefills its prompt and decodes its output tokens (each step costed at the midpoint context).  A request
    completes with its batch: its latency is the batch's.  Router and experts run tensor-parallel over
    `devices` devices (`tp_latency_s`; the paper's TP8 on every platform).  Residency follows
    `workloads.coe.replay` (LRU over `expert_slots`, router resident)."""
    from workloads.coe import replay

    if not stream:
        raise ValueError("serve_coe: stream is empty; expected at least one request")
    for name, v in (("devices", devices), ("copy_devices", devices if copy_devices is None else copy_devices)):
        if not isinstance(v, int) or v < 1 or accelerator.sockets % v:
            raise ValueError(f"serve_coe: {name}={v}; expected a divisor of sockets={accelerator.sockets}")
    if not isinstance(batch, int) or isinstance(batch, bool) or batch < 1:
        raise ValueError(f"serve_coe: batch={batch!r}; expected a positive integer")
    store = model_store(coe, accelerator)
    if store is not None and store.capacity_bytes * accelerator.sockets < coe.weight_bytes:
        raise RduError(f"{accelerator.name}: memory.{store.name}.capacity_bytes: got {store.capacity_bytes:.4g} per "
                       f"socket; expected at least {coe.weight_bytes / accelerator.sockets:.4g} to hold all "
                       f"{coe.experts} experts and the router ({coe.weight_bytes:.4g} bytes)")
    slots = expert_slots(coe, accelerator, devices)
    hits = replay(stream, slots)
    switch = load_time_s(coe.expert_bytes, accelerator, devices if copy_devices is None else copy_devices)
    cache: dict[tuple, float] = {}

    def run(kind: str, **wl) -> float:
        model = coe.router_model if kind == "router" else coe.expert_model
        key = (model, tuple(sorted(wl.items())))
        if key not in cache:
            g = coe.router_graph(**wl) if kind == "router" else coe.expert_graph(**wl)
            cache[key] = tp_latency_s(g, accelerator, devices)
        return cache[key]

    def expert(r) -> tuple[float, float]:
        prefill = run("expert", phase="prefill", seq_len=r.prompt_tokens)
        step = run("expert", phase="decode", kv_len=r.prompt_tokens + r.output_tokens // 2) if r.output_tokens else 0.0
        return prefill, step

    lat: list[float] = []
    for i in range(0, len(stream), batch):
        group, ghits = stream[i:i + batch], hits[i:i + batch]
        t = run("router", phase="prefill", batch=len(group), seq_len=max(r.prompt_tokens for r in group))
        t += sum(switch for h in ghits if not h)
        for r in group:
            prefill, step = expert(r)
            t += prefill + r.output_tokens * step
        lat.extend([t] * len(group))
    r0 = stream[0]
    prefill0, step0 = expert(r0)
    first = stream[:batch]
    router0 = run("router", phase="prefill", batch=len(first), seq_len=max(r.prompt_tokens for r in first))
    return CoeServing(lat, hits, slots, switch, router0, prefill0, step0, batch)
