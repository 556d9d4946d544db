"""FPGA cost model: a design of engines on a device, its resource fit, its cycles and its power.

A design (`arch.spec.FpgaUnit`) is a set of engines (`FpgaEngine`) plus platform logic (the
``shell_*`` fields).  Every op of a graph runs on one engine, one op at a time (a layer-by-layer
accelerator; engines do not overlap each other).  Off-chip traffic goes to the accelerator's first
off-chip tier, and the engine (`sim.engine`) prefetches it one op ahead (double buffering).

Resources (`design_resources`, checked by `check_fit` before any op is costed)
----------------------------------------------------------------------------
- ``mac`` lane (one multiply-accumulate per cycle): ``ceil(a/A) * ceil(w/B)`` DSP slices for an
  ``a x w``-bit product on ``A x B`` DSP multipliers (either orientation, the smaller), or
  ``1 / dsp_int8_macs`` when both operands fit 8 bits (two int8 MACs per DSP48E2 sharing an operand,
  AMD WP486).  The ``k_parallel`` products of an output are summed in the DSP cascade: no LUTs.
- ``adder`` lane (a ternary weight: add, subtract or skip an activation): one adder-tree input of
  ``a_bits + ceil(log2 k_parallel)`` bits, one LUT and one pipeline flip-flop per bit (the 2-bit weight
  code and the activation bit share one 6-input LUT feeding the carry chain); plus an ``acc_bits``
  accumulator (LUTs and flip-flops) per output.
- ``vector`` lane: the per-lane costs the engine declares.  Engines add their ``control_*`` logic.
- A buffer takes ``max(ceil(bytes / block), ceil(width_bits / port_bits))`` blocks of its memory.
A design that needs more of any resource than the device has raises `FpgaFitError` naming it.

Cycles (`compute_cycles`)
-------------------------
- mac/adder, for the GEMM view of GEMM, CONV2D, ROUTER and attention ops: ``batch * M * ceil(K / kp)
  * ceil(N / np) + pipeline_cycles`` with ``kp = k_parallel``, ``np = lanes / kp``: each cycle the array
  takes ``kp`` inputs of one row and produces partial sums for ``np`` outputs.
- vector: ``ceil(elements * PASSES[kind] / lanes) + pipeline_cycles`` (a norm reads its row twice --
  statistics, then normalise -- a softmax three times: max, exponent-sum, divide).
- Ternary-weight GEMMs prefer an adder engine; activation-by-activation products (attention) need a mac
  engine; an op no engine lists raises `ValueError` naming the engines.

Traffic: every op's stored parameters (``op.weight_bytes``: weights, embedding rows) stream from the
first off-chip tier each time the op runs (nothing stays resident between ops); activations stay on
chip.  On-chip bytes (weight-stationary loop: a weight tile stays in the array while the rows stream
by): ``batch * (M*K*a * ceil(N/np) + 2*M*N*acc * ceil(K/kp) + K*N*w)`` bytes for matmuls, inputs plus
outputs for vector ops.

Power (`energy_breakdown`, `price`)
-----------------------------------
XPE-style: static power plus dynamic energy per resource and activity.  Dynamic figures are the
`arch.tech` energy of the same operation at the device's node times the FPGA/ASIC dynamic-power gap
(Kuon & Rose, IEEE TCAD 26(2), 2007: about 14x for LUT logic, smaller with hard blocks):

- ``dsp``:   DSP slice-cycles x a 16-bit MAC scaled to the DSP's ``A x B`` multiplier (partial-product
             rule of `arch.tech`) x ``hard_gap``;
- ``adder``: ternary adds x an adder of the tree's width x ``logic_gap``;
- ``vector``: vector-op FLOPs x a vector FLOP (fp16 up to 16-bit lanes, else fp32) x ``logic_gap``;
- ``bram``:  on-chip bytes x an SRAM of one block's size per byte x ``hard_gap``;
- ``clock``: every flip-flop of the design, every cycle of the run (no clock gating) x a 1-bit register
             write x ``logic_gap``;
- ``logic``: every LUT of the design toggling at ``power.toggle`` (UG440's default 12.5%) every cycle x
             a 1-bit add x ``logic_gap``;
- ``dram``:  off-chip bytes x the tier's energy per byte (`sim.ppa.dram_pj_per_byte`);
- ``static`` and ``board``: ``power.static_w`` and ``power.board_w`` over the run.

`price` is FPGA's result pass (`sim.cost.result_pass`): `sim.simulate` applies it after building the
result, so ``simulate(graph, fpga_accelerator).summary["energy_j"]`` is this model's figure (ops on FPGA
units only; other units keep `sim.ppa`'s pricing; an FPGA unit without ``power`` keeps `sim.ppa`'s DRAM
energy and says so in ``notes``).

M3ViT's MoE mapping (`moe_memory`, `task_switch_trace`)
-------------------------------------------------------
Schedules of an MoE layer (Liang et al., NeurIPS 2022, and the authors' code README):
``expert_major`` -- M3ViT's reordering: tokens are queued per expert and each expert runs on its whole
queue while the next expert's weights load (two expert buffers); ``token_major`` -- tokens in arrival
order, so every expert a token may pick must be on chip (all experts of the layer); ``task_resident``
-- a token-order engine that keeps every expert the active task routes to on chip across frames, and
reloads them when the task changes.

Left out: engines running concurrently, activation spills to DRAM (attention's K/V included), DMA
descriptor overheads, routing congestion and clock-frequency limits, I/O power.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Mapping, Sequence
from typing import Any

from arch import tech
from sim.cost import OpCost, cost_model, result_pass
from workloads.op import MATMUL_KINDS, Op, OpKind

PASSES = {OpKind.NORM: 2, OpKind.SOFTMAX: 3}
ATTENTION = frozenset({OpKind.ATTN_SCORE, OpKind.ATTN_CONTEXT})
SCHEDULES = ("expert_major", "token_major", "task_resident")
RESOURCES = {"dsps": "DSP slices", "luts": "LUTs", "ffs": "flip-flops", "bram_blocks": "block RAMs",
             "uram_blocks": "UltraRAMs"}
FPGA_ENERGY = ("static", "board", "dsp", "adder", "vector", "bram", "clock", "logic", "dram")


class FpgaFitError(ValueError):
    """A design needs more of a resource than its device has."""


# ---- resources ----------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Resources:
    """Amounts of each device resource (`RESOURCES`)."""

    dsps: float = 0.0
    luts: float = 0.0
    ffs: float = 0.0
    bram_blocks: int = 0
    uram_blocks: int = 0

    def __add__(self, other: Resources) -> Resources:
        return Resources(*(getattr(self, f) + getattr(other, f) for f in RESOURCES))


def dsps_per_mac(engine: Any, unit: Any) -> float:
    a, w = engine.a_bits, engine.w_bits
    if a <= 8 and w <= 8:
        return 1.0 / unit.dsp_int8_macs
    da, db = unit.dsp_a_bits, unit.dsp_b_bits
    return float(min(math.ceil(a / da) * math.ceil(w / db), math.ceil(a / db) * math.ceil(w / da)))


def _k_parallel(engine: Any) -> int:
    return engine.k_parallel or engine.lanes


def _tree_bits(engine: Any) -> int:
    """Width of an adder-tree input: the activation plus the growth of a k_parallel-input sum."""
    kp = _k_parallel(engine)
    return engine.a_bits + (math.ceil(math.log2(kp)) if kp > 1 else 0)


def _blocks(buffer: Any, unit: Any) -> tuple[int, int]:
    """(BRAM blocks, URAM blocks) one buffer takes."""
    block, port = ((unit.uram_block_bytes, unit.uram_port_bits) if buffer.memory == "uram"
                   else (unit.bram_block_bytes, unit.bram_port_bits))
    n = max(math.ceil(buffer.bytes / block), math.ceil(buffer.width_bits / port))
    return (0, n) if buffer.memory == "uram" else (n, 0)


def engine_resources(engine: Any, unit: Any) -> Resources:
    """Resources one engine takes (model: module docstring)."""
    lanes, kp = engine.lanes, _k_parallel(engine)
    dsps = luts = ffs = 0.0
    if engine.kind == "mac":
        dsps = lanes * dsps_per_mac(engine, unit)
    elif engine.kind == "adder":
        luts = ffs = lanes * _tree_bits(engine) + lanes // kp * engine.acc_bits
    # declared per-lane costs add to any kind (for a vector engine they are its whole datapath)
    dsps += lanes * (engine.dsps_per_lane or 0.0)
    luts += lanes * (engine.luts_per_lane or 0.0)
    ffs += lanes * (engine.ffs_per_lane or 0.0)
    bram = uram = 0
    for b in engine.buffers:
        nb, nu = _blocks(b, unit)
        bram, uram = bram + nb, uram + nu
    return Resources(dsps, luts + engine.control_luts, ffs + engine.control_ffs, bram, uram)


@dataclasses.dataclass(frozen=True)
class DesignResources:
    """Resource use of a design: per engine, the shell, the total and what the device has."""

    engines: dict[str, Resources]
    shell: Resources
    total: Resources
    available: Resources

    def utilization(self) -> dict[str, float]:
        return {f: getattr(self.total, f) / getattr(self.available, f) if getattr(self.available, f) else 0.0
                for f in RESOURCES}


def design_resources(unit: Any) -> DesignResources:
    engines = {e.name: engine_resources(e, unit) for e in unit.engines}
    shell = Resources(0.0, float(unit.shell_luts), float(unit.shell_ffs), unit.shell_bram_blocks, 0)
    total = sum(engines.values(), shell)
    available = Resources(unit.dsps, unit.luts, unit.ffs, unit.bram_bytes // unit.bram_block_bytes,
                          unit.uram_bytes // unit.uram_block_bytes)
    return DesignResources(engines, shell, total, available)


def check_fit(unit: Any) -> DesignResources:
    """`design_resources`, or `FpgaFitError` naming every resource the design overflows."""
    return _checked(unit.model_dump_json())


@functools.lru_cache(maxsize=256)
def _checked(unit_json: str) -> DesignResources:
    from arch.spec import FpgaUnit

    unit = FpgaUnit.model_validate_json(unit_json)
    names = [e.name for e in unit.engines]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise ValueError(f"unit {unit.name!r}: engine names {twice} repeat; expected unique engine names")
    use = design_resources(unit)
    lines = []
    for field, words in RESOURCES.items():
        need, have = getattr(use.total, field), getattr(use.available, field)
        if need > have:
            parts = [(n, getattr(r, field)) for n, r in use.engines.items()] + [("shell", getattr(use.shell, field))]
            detail = ", ".join(f"{n} {v:,.0f}" for n, v in parts if v)
            lines.append(f"{words}: needs {need:,.0f} ({detail}), {unit.device} has {have:,.0f}")
    if lines:
        raise FpgaFitError(f"design of unit {unit.name!r} does not fit {unit.device}:\n  " + "\n  ".join(lines))
    return use


# ---- cycles and traffic ---------------------------------------------------------------------------------


def engine_for(op: Op, unit: Any) -> Any:
    """The engine that runs `op` (rules: module docstring)."""
    kind = op.kind.value
    able = [e for e in unit.engines if kind in e.ops]
    if op.kind in MATMUL_KINDS:
        ternary = op.weights and op.w_format == "ternary" and op.kind not in ATTENTION
        able = [e for e in able if e.kind == "mac" or (e.kind == "adder" and ternary)]
        able.sort(key=lambda e: e.kind != "adder")  # ternary weights: adders first (stable otherwise)
    else:
        able = [e for e in able if e.kind == "vector"]
    if not able:
        listed = ", ".join(f"{e.name} ({e.kind}: {', '.join(e.ops)})" for e in unit.engines) or "none"
        raise ValueError(f"unit {unit.name!r}: no engine runs op kind {kind!r} (w_format {op.w_format}); "
                         f"engines: {listed}")
    return able[0]


def compute_cycles(op: Op, engine: Any) -> int:
    """Cycles of `op` on `engine` with operands always ready (module docstring)."""
    if engine.kind == "vector":
        work = op.elements * PASSES.get(op.kind, 1)
        return math.ceil(work / engine.lanes) + engine.pipeline_cycles if work else 0
    m, n, k = op.mnk
    kp = _k_parallel(engine)
    work = op.batch * m * math.ceil(k / kp) * math.ceil(n / (engine.lanes // kp))
    return work + engine.pipeline_cycles if work else 0


def onchip_bytes(op: Op, engine: Any) -> float:
    """Block-RAM bytes `op` reads and writes on `engine` (module docstring)."""
    if engine.kind == "vector" or op.kind not in MATMUL_KINDS:
        return op.input_bytes + op.output_bytes
    m, n, k = op.mnk
    kp = _k_parallel(engine)
    a, acc, w = engine.a_bits / 8, engine.acc_bits / 8, engine.w_bits / 8
    return op.batch * (m * k * a * math.ceil(n / (engine.lanes // kp)) + 2 * m * n * acc * math.ceil(k / kp)
                       + k * n * w)


@cost_model("fpga", kinds=frozenset(OpKind))
def cost(op: Op, unit: Any, accelerator: Any) -> OpCost:
    """Cost of `op` on an `FpgaUnit` of `accelerator` (model: module docstring)."""
    check_fit(unit)
    engine = engine_for(op, unit)
    cycles = compute_cycles(op, engine)
    off = accelerator.off_chip[0] if accelerator.off_chip else None
    on = accelerator.on_chip[0] if accelerator.on_chip else None
    streamed = op.weight_bytes if off is not None else 0.0
    bram = onchip_bytes(op, engine)
    tier_bytes = {}
    if on is not None:
        tier_bytes[on.name] = bram
    if streamed:
        tier_bytes[off.name] = streamed
    counts = {f"fpga_busy_{engine.name}": float(cycles), "fpga_bram_bytes": float(bram),
              "dram_read_bytes": float(streamed)}
    if engine.kind == "mac":
        counts["fpga_dsp_cycles"] = op.macs * dsps_per_mac(engine, unit)
        work, peak = op.macs, engine.lanes
    elif engine.kind == "adder":
        counts["fpga_adds"] = float(op.macs)
        work, peak = op.macs, engine.lanes
    else:
        counts["fpga_vector_flops"] = float(op.flops)
        work, peak = op.elements * PASSES.get(op.kind, 1), engine.lanes
    return OpCost(unit=unit.name, cycles=cycles, compute_cycles=cycles, tier_bytes=tier_bytes, counts=counts,
                  utilization=min(1.0, work / (peak * cycles)) if cycles else 0.0)


# ---- power ------------------------------------------------------------------------------------------------


def _v(fig: Any) -> float:
    return float(getattr(fig, "value", fig))


def energy_coefficients(unit: Any, accelerator: Any) -> dict[str, float]:
    """pJ per event of each dynamic component (module docstring), per engine where it depends on one."""
    if unit.power is None:
        raise ValueError(f"unit {unit.name!r} ({unit.device}) has no power coefficients (FpgaUnit.power); "
                         f"expected static_w and the FPGA/ASIC gaps")
    node, p = accelerator.tech.node_nm, unit.power
    mac16 = _v(tech.energy_pj("mac", "compute", node_nm=node, fmt="int16", acc_bits=48))
    out = {"dsp": mac16 * unit.dsp_a_bits * unit.dsp_b_bits / 256 * p.hard_gap,
           "bram": _v(tech.energy_pj("sram", "read", node_nm=node, capacity_bytes=unit.bram_block_bytes)) * p.hard_gap,
           "clock": _v(tech.energy_pj("reg", "access", node_nm=node, bits=1)) * p.logic_gap,
           "logic": _v(tech.energy_pj("add", "compute", node_nm=node, bits=1)) * p.logic_gap * p.toggle}
    for e in unit.engines:
        out[f"adder:{e.name}"] = _v(tech.energy_pj("add", "compute", node_nm=node, bits=_tree_bits(e))) * p.logic_gap
        fmt = "fp16" if e.a_bits <= 16 else "fp32"
        out[f"vector:{e.name}"] = _v(tech.energy_pj("vector", "flop", node_nm=node, fmt=fmt)) * p.logic_gap
    return out


def _priced(unit: Any) -> bool:
    return unit.type == "fpga" and unit.power is not None


def energy_breakdown(graph: Any, accelerator: Any, result: Any) -> dict[str, list[float]]:
    """Per-op FPGA energy in joules by component (`FPGA_ENERGY`), rows in per-op table order (read with
    `Result.column`: the table is not made).

    Rows on units other than FPGA units with power coefficients are 0 in every component.  Static,
    board, clock and logic power run for the whole run's wall time; each FPGA unit's wall time is shared
    out over its own ops by their busy time."""
    from sim.engine import accelerator_key, model_cost, signature
    from sim.ppa import dram_pj_per_byte

    key = accelerator_key(accelerator)
    latency = float(result.summary["latency_s"])
    units, durs = result.column("unit"), result.column("latency_s")
    busy: dict[str, list[float]] = {}
    for unit_name, dur in zip(units, durs):
        if dur == dur:
            busy.setdefault(unit_name, []).append(dur)
    busy_s = {u: math.fsum(v) for u, v in busy.items()}
    out: dict[str, list[float]] = {k: [] for k in FPGA_ENERGY}
    for name, unit_name, dur in zip(result.column("name"), units, durs):
        unit = accelerator.unit(unit_name)
        if not _priced(unit):
            for comp in FPGA_ENERGY:
                out[comp].append(0.0)
            continue
        c = model_cost(signature(graph[name]), unit_name, key)
        k = energy_coefficients(unit, accelerator)
        res = design_resources(unit).total
        unit_busy = busy_s.get(unit_name, 0.0)
        share = dur / unit_busy * latency if unit_busy else 0.0  # this op's share of the run's wall time
        cycles = share * accelerator.tech.clock_hz
        counts = c.counts
        eng = engine_for(graph[name], unit).name
        adds = counts.get("fpga_adds", 0.0) * k[f"adder:{eng}"]
        vec = counts.get("fpga_vector_flops", 0.0) * k[f"vector:{eng}"]
        dram = sum(c.tier_bytes.get(t.name, 0.0) * dram_pj_per_byte(t) for t in accelerator.off_chip)
        pj = {"dsp": counts.get("fpga_dsp_cycles", 0.0) * k["dsp"], "adder": adds, "vector": vec,
              "bram": counts.get("fpga_bram_bytes", 0.0) * k["bram"], "clock": res.ffs * cycles * k["clock"],
              "logic": res.luts * cycles * k["logic"], "dram": dram}
        out["static"].append(unit.power.static_w * share)
        out["board"].append(unit.power.board_w * share)
        for comp, v in pj.items():
            out[comp].append(v * 1e-12)
    return out


NOTE = "FPGA energy from sim.fpga's power model: static + board + per-resource dynamic"


@result_pass("fpga")
def price(result: Any, graph: Any, accelerator: Any) -> Any:
    """`result` with the energy of ops on FPGA units replaced by the FPGA power model (module docstring).

    `sim.simulate` applies it to every result whose accelerator has an FPGA unit (a result pass); FPGA
    units without power coefficients keep `sim.ppa`'s pricing (DRAM bytes only) and add a note.  Ops on
    other units keep their energy.  Pricing a result twice gives the same result."""
    fpgas = [u for u in accelerator.units if u.type == "fpga"]
    unpriced = [u.name for u in fpgas if u.power is None]
    s = dict(result.summary)
    notes = list(s.get("notes", []))
    for name in unpriced:
        line = f"FPGA unit {name!r} has no power coefficients (FpgaUnit.power): its energy counts DRAM bytes only"
        if line not in notes:
            notes.append(line)
    priced = {u.name for u in fpgas if u.power is not None}
    on_fpga = [u in priced for u in result.column("unit")]
    if not any(on_fpga):
        s["notes"] = notes
        return result.with_summary(s)
    from sim.ppa import reprice

    parts = energy_breakdown(graph, accelerator, result)
    static = sum(u.power.static_w for u in fpgas if u.power is not None)
    return reprice(result.with_summary(s), on_fpga, parts, static_w=static, note=NOTE, family="fpga")


# ---- MoE mapping (M3ViT) -----------------------------------------------------------------------------------


def _stored_bytes(op: Op) -> float:
    return op.weight_bytes or op.replace(dims={**op.dims, "M": 1}).weight_bytes


def moe_layers(graph: Any) -> dict[tuple[Any, int], dict[str, Any]]:
    """(task, layer) -> tokens, hidden, routed slots and per-expert stored/routed weight bytes."""
    layers: dict[tuple[Any, int], dict[str, Any]] = {}
    for op in graph.ops():
        t = op.tags
        if op.kind is OpKind.ROUTER:
            m, n, k = op.mnk
            layers[(t.get("task"), t["layer"])] = {"tokens": m, "hidden": k, "experts": {}, "slots": 0,
                                                   "routed": {}}
        elif "expert" in t and op.kind in MATMUL_KINDS:
            layer = layers[(t.get("task"), t["layer"])]
            e = t["expert"]
            if e not in layer["experts"]:
                layer["slots"] += op.mnk[0]
            layer["experts"][e] = layer["experts"].get(e, 0.0) + _stored_bytes(op)
            if op.mnk[0]:
                layer["routed"][e] = layer["experts"][e]
    return layers


def moe_memory(graph: Any, unit: Any, schedule: str) -> dict[str, Any]:
    """On-chip bytes the MoE layers of `graph` need under `schedule` (`SCHEDULES`; module docstring).

    Per layer: the layer input and the output accumulators (tokens x hidden at the GEMM engine's
    ``a_bits``), one 16-bit expert index and one gate value per routed slot, and expert weights:
    two experts (expert_major), every expert of the layer (token_major), or every routed expert of
    every MoE layer of the task (task_resident).  Returns the worst layer's (or task's) figures."""
    if schedule not in SCHEDULES:
        raise ValueError(f"schedule={schedule!r}: expected one of {list(SCHEDULES)}")
    layers = moe_layers(graph)
    if not layers:
        raise ValueError(f"graph {graph.name!r} has no MoE layers (ROUTER ops with expert-tagged ops)")
    gemm = engine_for(Op("probe", OpKind.GEMM, {"M": 1, "N": 1, "K": 1}), unit)
    a = gemm.a_bits / 8
    best: dict[str, Any] = {"bytes": -1.0}
    resident: dict[Any, float] = {}
    for (task, layer), d in layers.items():
        acts = 2 * d["tokens"] * d["hidden"] * a + d["slots"] * (2 + a)
        if schedule == "expert_major":
            experts = 2 * max(d["experts"].values())
        elif schedule == "token_major":
            experts = sum(d["experts"].values())
        else:
            resident[task] = resident.get(task, 0.0) + sum(d["routed"].values())
            experts = resident[task]
        if acts + experts > best["bytes"]:
            best = {"bytes": acts + experts, "expert_bytes": experts, "activation_bytes": acts, "task": task,
                    "layer": layer}
    best["schedule"] = schedule
    best["device_bytes"] = unit.bram_bytes + unit.uram_bytes
    best["fits"] = best["bytes"] <= best["device_bytes"]
    return best


def _resident_graph(graph: Any) -> Any:
    """`graph` with expert weights held on chip: expert matmuls read their B operand from block RAM."""
    from workloads.graph import Graph

    out = Graph(graph.name, graph.meta)
    for op in graph.ops():
        new = op.replace(weights=False) if "expert" in op.tags and op.kind in MATMUL_KINDS else op
        out.add(new, [p.name for p in graph.predecessors(op)])
    return out


def task_switch_trace(frames: Mapping[str, Any], sequence: Sequence[str], accelerator: Any, *,
                      schedule: str = "expert_major") -> list[dict[str, Any]]:
    """Events of frames run back to back in `sequence` order (task names keying `frames`, one single-task
    graph each), under ``expert_major`` (M3ViT: stateless, expert weights stream under compute) or
    ``task_resident`` (experts stay on chip; a task change first reloads the new task's routed experts
    over the first off-chip tier).  Each event: frame, task, lane (compute | dma | reload), op,
    start_s, end_s, and bytes for reloads."""
    from sim import simulate

    if schedule not in ("expert_major", "task_resident"):
        raise ValueError(f"schedule={schedule!r}: expected 'expert_major' or 'task_resident'")
    unknown = [t for t in sequence if t not in frames]
    if unknown:
        raise ValueError(f"sequence names tasks {unknown} that frames lacks; frames has {sorted(frames)}")
    off = accelerator.off_chip[0]
    bw = off.bytes_per_s(accelerator.tech.clock_hz)
    runs = {}
    for task in dict.fromkeys(sequence):
        g = frames[task] if schedule == "expert_major" else _resident_graph(frames[task])
        runs[task] = simulate(g, accelerator, trace=True)
    events: list[dict[str, Any]] = []
    t, prev = 0.0, None
    for i, task in enumerate(sequence):
        if schedule == "task_resident" and task != prev:
            nbytes = sum(sum(d["routed"].values()) for d in moe_layers(frames[task]).values())
            events.append({"frame": i, "task": task, "lane": "reload", "op": f"reload {task} experts",
                           "start_s": t, "end_s": t + nbytes / bw, "bytes": nbytes})
            t += nbytes / bw
        r = runs[task]
        for ev in r.trace:
            events.append({"frame": i, "task": task, "lane": "dma" if ev["kind"] == "dma" else "compute",
                           "op": ev["op"], "start_s": t + ev["start_s"], "end_s": t + ev["end_s"]})
        t += r.summary["latency_s"]
        prev = task
    return events
