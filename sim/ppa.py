"""Power, performance and area accounting: energy from a cost model's event counts and the technology
tables of `arch.tech`, area from the accelerator's blocks, leakage from area and time.

Energy of one op (`op_energy`, picojoules by component)
-------------------------------------------------------
- ``mac``: ``counts["mac"]`` x the MAC energy of the unit's arithmetic.  For a unit with a PE type
  (``unit.pe``, systolic) that is the tech table's whole-PE figure ``energy_pj("mac", "compute",
  pe_type=unit.pe)``: the multiplier its `PEType` names (array multiplier at the operand widths,
  shift-and-add, or none for ternary), an in-loop dequantiser if it has one, and the accumulator at
  ``acc_bits``.  For units with only a ``precision`` (vector, pim, rdu) it is a MAC of that format.
- ``dequant``: ``counts["dequant"]`` x ``energy_pj("dequant", "compute", fmt=pe.dequant_format)``: for
  ``per_group`` (MixPE) PEs one per group and output, for ``in_loop`` PEs one per MAC on quantised
  weights (`sim.systolic` reports the counts).  The tech table's whole-PE MAC figure of an in-loop PE
  includes one dequantisation; that share is taken out of ``mac`` for every MAC and charged here
  per count instead, so ops without quantised weights (attention) pay no dequantisation.
- ``vector``: ``counts["vector_flop"]`` x ``energy_pj("vector", "flop", fmt=unit.precision)``.
- ``sram``: ``counts["sram_read_bytes"]`` and ``["sram_write_bytes"]`` x the per-byte read/write
  energy of an SRAM the size of the first on-chip tier (``energy_pj_per_bit * 8`` when the tier sets
  it); without an on-chip tier, of the unit's largest SRAM buffer.
- ``dram``: for every off-chip tier, ``cost.tier_bytes[tier]`` x ``energy_pj_per_bit * 8`` when the
  tier sets it, else ``energy_pj("dram", "access", kind=tier.kind)``.

A count of a kind the unit cannot price (e.g. MACs on a unit with neither ``pe`` nor ``precision``)
raises `ValueError`: no silent zero.

Area (`area_breakdown`, mm^2)
-----------------------------
``pe``: systolic ``rows * cols * count * area_mm2("pe", pe_type)``, plus for ``per_group`` PEs one
``area_mm2("dequant", fmt=pe.dequant_format)`` per array column (``cols * count``); ``vector``: ``lanes * count *
area_mm2("vector_lane", fmt=precision)``; ``sram``: every on-chip tier plus each systolic unit's
ifmap/filter/ofmap buffers (x count), ``area_mm2("sram", capacity_bytes)`` each; ``overhead``: the
spec's ``area_overhead_fraction`` x the sum (wiring, control).  Units with no area story here (rdu,
fpga, gpu) count 0 and add a line to `notes`; a GPU with ``die_mm2`` gets its die area from
`sim.gpu`'s result pass instead.  Off-chip memory is not die area.

``pim`` (`pim_area`): the silicon a PIM unit adds to the memory's dies, counted in ``total_mm2`` (it is
area the design adds, so the DSE's area objective prices it) but outside the overhead fraction and the
accelerator die's leakage:

- in-bank (NeuPIMs): ``banks x area_mm2("pim_bank", macs=macs_per_cycle_per_bank, fmt=precision,
  row_buffer_bytes=row_bytes if dual_row_buffer else 0) x count``: each bank's multipliers, adder tree,
  accumulator and operand registers, plus its second row buffer, in a DRAM process (`arch.tech`);
- logic-die (Duplex): ``ceil(peak_tflops / (2 x logic_clock_hz)) x count`` MACs, each an
  ``area_mm2("pe", pe_type=precision)`` at ``logic_node_nm`` (datapath only: no buffers or control).

Besides ``pim_mm2`` (all stacks) the breakdown gives ``pim_per_stack_mm2`` (``/ unit.stacks``) and, for
in-bank units with ``dram_die_mm2``, ``pim_dram_overhead_pct``: per-stack PIM area over the stack's
``dies_per_stack x dram_die_mm2``.

PIM static power (`pim_static_w`): ``leakage_w_per_mm2(node) x pim area``, at ``logic_node_nm`` for the
logic die; for in-bank PIM at 45 nm over the area its transistors would take in 45 nm logic, ``pim area /
arch.tech.dram_process_area_factor()`` (the DRAM process spreads the same transistors over more area; it does
not add leaking ones), so the sourced factor moves the PIM's area, not its leakage (assumed: an upper bound
for low-leakage DRAM transistors).  `sim.pim`'s result pass charges it over the whole run
(``energy_pim_static_j``) and adds it to ``leakage_w``.

Family result passes (`sim.cost.result_pass`) may replace the energy of their units' ops after the
result is built (FPGA and GPU power models); `reprice` is the shared step that swaps the columns and
recomputes the summary's energy keys.  Area: ``area_mm2`` is always the sum of the summary's ``area_<part>_mm2``
keys (`area_total`; `NOT_AREA_PARTS` lists the exceptions), so a pass that rewrites a part (the GPU's die)
leaves the total right whichever pass runs first.

Leakage: ``leakage_w_per_mm2(node_nm) x (total area - PIM area) x latency`` (`leakage_w`); the PIM's
static power is `pim_static_w`, charged by `sim.pim`'s result pass.

Left out: clock tree and NoC energy, SRAM banking (a tier is priced as one array of its full size,
which overestimates per-byte energy of large banked buffers), idle dynamic power.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from typing import Any

from arch import tech
from arch.pe import PE_TYPES
from sim.cost import OpCost
from sim.engine import AcceleratorKey, model_cost
from workloads.op import Op

#: Energy components every Result carries (in this order), as ``energy_<component>_j`` columns.
ENERGY_COMPONENTS = ("mac", "dequant", "vector", "sram", "dram", "leakage")


def _value(fig: Any) -> float:
    return float(getattr(fig, "value", fig))


@functools.lru_cache(maxsize=4096)
def _mac_pj(pe: str | None, precision: str | None, node_nm: int) -> float:
    if pe is not None:
        return _value(tech.energy_pj("mac", "compute", node_nm=node_nm, pe_type=pe))
    return _value(tech.energy_pj("mac", "compute", node_nm=node_nm, fmt=precision))


@functools.lru_cache(maxsize=256)
def _dequant_pj(fmt: str, node_nm: int) -> float:
    return _value(tech.energy_pj("dequant", "compute", node_nm=node_nm, fmt=fmt))


@functools.lru_cache(maxsize=4096)
def _sram_pj(capacity_bytes: int, node_nm: int) -> tuple[float, float]:
    rd = _value(tech.energy_pj("sram", "read", node_nm=node_nm, capacity_bytes=capacity_bytes))
    wr = _value(tech.energy_pj("sram", "write", node_nm=node_nm, capacity_bytes=capacity_bytes))
    return rd, wr


@functools.lru_cache(maxsize=256)
def _dram_pj(kind: str, node_nm: int) -> float:
    return _value(tech.energy_pj("dram", "access", node_nm=node_nm, kind=kind))


def _unit_buffers(unit: Any) -> list[int]:
    return [b for b in (getattr(unit, f, None) for f in ("ifmap_sram_bytes", "filter_sram_bytes",
                                                          "ofmap_sram_bytes")) if b]


def sram_pj_per_byte(unit: Any, accelerator: Any) -> tuple[float, float]:
    """(read, write) pJ per byte of the SRAM a unit's ``sram_*_bytes`` counts refer to (docstring)."""
    node = accelerator.tech.node_nm
    if accelerator.on_chip:
        tier = accelerator.on_chip[0]
        if tier.energy_pj_per_bit is not None:
            return tier.energy_pj_per_bit * 8, tier.energy_pj_per_bit * 8
        return _sram_pj(tier.capacity_bytes, node)
    buffers = _unit_buffers(unit)
    if not buffers:
        raise ValueError(f"unit {unit.name!r} reports SRAM traffic but {accelerator.name!r} has no on-chip tier "
                         "and the unit no SRAM buffers to price it by")
    return _sram_pj(max(buffers), node)


def dram_pj_per_byte(tier: Any) -> float:
    if tier.energy_pj_per_bit is not None:
        return tier.energy_pj_per_bit * 8
    return _dram_pj(tier.kind, 45)


def op_energy(op_cost: OpCost, unit: Any, accelerator: Any) -> dict[str, float]:
    """Dynamic energy of one op in pJ by component (model: module docstring); leakage is not per op."""
    node = accelerator.tech.node_nm
    c = op_cost.counts
    e = {k: 0.0 for k in ENERGY_COMPONENTS if k != "leakage"}
    macs = c.get("mac", 0.0)
    if macs:
        pe, precision = getattr(unit, "pe", None), getattr(unit, "precision", None)
        if pe is None and precision is None:
            raise ValueError(f"unit {unit.name!r} ({unit.type}) reports MACs but has no PE type or precision to "
                             "price them by")
        e["mac"] = macs * _mac_pj(pe, precision, node)
        pe_type = PE_TYPES[pe] if pe is not None else None
        if pe_type is not None and pe_type.dequant == "in_loop":  # the PE figure holds one dequant per MAC
            e["mac"] -= macs * _dequant_pj(pe_type.dequant_format or pe_type.a_format, node)
    if c.get("dequant"):
        pe_type = PE_TYPES[unit.pe]
        e["dequant"] = c["dequant"] * _dequant_pj(pe_type.dequant_format or pe_type.a_format, node)
    if c.get("vector_flop"):
        e["vector"] = c["vector_flop"] * _value(tech.energy_pj("vector", "flop", node_nm=node, fmt=unit.precision))
    rd, wr = c.get("sram_read_bytes", 0.0), c.get("sram_write_bytes", 0.0)
    if rd or wr:
        prd, pwr = sram_pj_per_byte(unit, accelerator)
        e["sram"] = rd * prd + wr * pwr
    for tier in accelerator.off_chip:
        nbytes = op_cost.tier_bytes.get(tier.name, 0.0)
        if nbytes:
            e["dram"] += nbytes * dram_pj_per_byte(tier)
    return e


@functools.lru_cache(maxsize=1 << 16)
def priced_cost(sig: Op, unit_name: str, key: AcceleratorKey) -> OpCost:
    """`engine.model_cost` with ``energy_pj`` filled by `op_energy` (memoised the same way)."""
    c = model_cost(sig, unit_name, key)
    return c.replace(energy_pj=op_energy(c, key.accelerator.unit(unit_name), key.accelerator))


# ---- area ---------------------------------------------------------------------------------------------


def _systolic_area(unit: Any, node: int) -> dict[str, float]:
    pe = _value(tech.area_mm2("pe", node_nm=node, pe_type=unit.pe))
    sram = sum(_value(tech.area_mm2("sram", node_nm=node, capacity_bytes=b)) for b in _unit_buffers(unit))
    pe_area = unit.rows * unit.cols * unit.count * pe
    pe_type = PE_TYPES[unit.pe]
    if pe_type.dequant == "per_group":  # one dequantiser per array column
        dq = _value(tech.area_mm2("dequant", node_nm=node, fmt=pe_type.dequant_format or pe_type.a_format))
        pe_area += unit.cols * unit.count * dq
    return {"pe": pe_area, "sram": sram * unit.count}


def _vector_area(unit: Any, node: int) -> dict[str, float]:
    lane = _value(tech.area_mm2("vector_lane", node_nm=node, fmt=unit.precision))
    return {"vector": unit.lanes * unit.count * lane}


#: unit type -> area of one unit entry (all its `count` instances) by component.
UNIT_AREA = {"systolic": _systolic_area, "vector": _vector_area}


#: unit types whose area `pim_area` gives (on the memory's dies, not the accelerator die)
MEMORY_AREA_TYPES = ("pim",)


def area_notes(accelerator: Any) -> list[str]:
    """Lines saying which units were left out of the area, and why."""
    return [f"area of unit {u.name!r} ({u.type}) not modelled yet: counted as 0 mm^2"
            for u in accelerator.units if u.type not in UNIT_AREA and u.type not in MEMORY_AREA_TYPES]


def _pim_unit_area(unit: Any, accelerator: Any) -> tuple[float, int]:
    """(mm^2 of all `count` instances of PIM `unit`, node its static power is priced at) (module docstring)."""
    if unit.placement == "in_bank":
        tier = accelerator.tier(unit.memory)
        t = tier.timing
        if t is None:
            raise ValueError(f"in-bank PIM unit {unit.name!r}: memory tier {tier.name!r} has no timing; expected a "
                             "DramTiming (banks and row size price the PIM's area)")
        banks = t.channels * t.pseudo_channels * t.bank_groups * t.banks_per_group
        per_bank = _value(tech.area_mm2("pim_bank", macs=math.ceil(unit.macs_per_cycle_per_bank), fmt=unit.precision,
                                        row_buffer_bytes=t.row_bytes if unit.dual_row_buffer else 0))
        return banks * per_bank * unit.count, 45  # 45 nm: the logic the DRAM-process factor scales from
    node = unit.logic_node_nm or accelerator.tech.node_nm
    clock = float(unit.logic_clock_hz or accelerator.tech.clock_hz)
    if unit.peak_tflops is None:
        raise ValueError(f"logic-die PIM unit {unit.name!r}: peak_tflops=None; expected a positive number (its MAC "
                         "count prices its area)")
    macs = math.ceil(unit.peak_tflops * 1e12 / (2 * clock) - 1e-9)
    if unit.precision not in PE_TYPES:
        raise ValueError(f"logic-die PIM unit {unit.name!r}: precision={unit.precision!r} has no PE type to price its "
                         f"MACs; expected one of {', '.join(PE_TYPES)}")
    pe = _value(tech.area_mm2("pe", node_nm=node, pe_type=unit.precision))
    return macs * pe * unit.count, node


def pim_area(accelerator: Any) -> dict[str, float]:
    """PIM silicon on the memory's dies (module docstring): ``pim_mm2``, ``pim_per_stack_mm2`` and, where every
    in-bank unit gives ``dram_die_mm2``, ``pim_dram_overhead_pct``; empty without PIM units."""
    units = [u for u in accelerator.units if u.type == "pim"]
    if not units:
        return {}
    total = per_stack = die = 0.0
    known = True
    for u in units:
        a, _ = _pim_unit_area(u, accelerator)
        total += a
        per_stack += a / u.stacks
        if u.placement == "in_bank":
            if u.dram_die_mm2 is None:
                known = False
            else:
                die = max(die, u.dram_die_mm2 * u.dies_per_stack)
    out = {"pim_mm2": total, "pim_per_stack_mm2": per_stack}
    if known and die:
        out["pim_dram_overhead_pct"] = 100.0 * per_stack / die
    return out


def pim_static_w(accelerator: Any) -> float:
    """Static power of the PIM units' logic: leakage density at their node x their area (module docstring)."""
    watts = 0.0
    for u in accelerator.units:
        if u.type == "pim":
            a, node = _pim_unit_area(u, accelerator)
            if u.placement == "in_bank":  # leakage of its transistors at 45 nm-logic density (module docstring)
                a /= tech.dram_process_area_factor()[0]
            watts += _value(tech.leakage_w_per_mm2(node)) * a
    return watts


def area_breakdown(accelerator: Any) -> dict[str, float]:
    """Area in mm^2: ``pe_mm2``, ``vector_mm2``, ``sram_mm2``, ``overhead_mm2``, the PIM's keys when there is a
    PIM unit (`pim_area`), ``total_mm2`` (accelerator die + PIM)."""
    node = accelerator.tech.node_nm
    parts = {"pe": 0.0, "vector": 0.0, "sram": 0.0}
    for u in accelerator.units:
        fn = UNIT_AREA.get(u.type)
        if fn is not None:
            for k, v in fn(u, node).items():
                parts[k] += v
    for tier in accelerator.on_chip:
        parts["sram"] += _value(tech.area_mm2("sram", node_nm=node, capacity_bytes=tier.capacity_bytes))
    base = sum(parts.values())
    out = {f"{k}_mm2": v for k, v in parts.items()}
    out["overhead_mm2"] = base * accelerator.area_overhead_fraction
    pim = pim_area(accelerator)
    out.update(pim)
    out["total_mm2"] = base + out["overhead_mm2"] + pim.get("pim_mm2", 0.0)
    return out


def leakage_w(accelerator: Any, area_mm2: float | None = None) -> float:
    """Static power of the accelerator die: leakage density at the node x (area - PIM area); `area_mm2` is a
    total as `area_breakdown` gives it.  The PIM's own static power is `pim_static_w`."""
    area = area_breakdown(accelerator)["total_mm2"] if area_mm2 is None else area_mm2
    if any(u.type == "pim" for u in accelerator.units):
        area -= pim_area(accelerator)["pim_mm2"]
    return _value(tech.leakage_w_per_mm2(accelerator.tech.node_nm)) * max(area, 0.0)


@functools.lru_cache(maxsize=1024)
def area_cached(key: AcceleratorKey) -> tuple[tuple[tuple[str, float], ...], tuple[str, ...]]:
    """(area_breakdown items, area_notes) of a fingerprinted accelerator, memoised."""
    return tuple(area_breakdown(key.accelerator).items()), tuple(area_notes(key.accelerator))


# ---- family result passes: replace the energy of some rows -------------------------------------------------


def reprice(result: Any, rows: Sequence[bool], parts: dict[str, list[float]], *, static_w: float, note: str,
            family: str) -> Any:
    """`result` with `sim.ppa`'s energy of `rows` (one bool per op, in table order: the `ENERGY_COMPONENTS`
    columns) replaced by `parts` (component -> joules per row, every row listed; rows outside `rows` are ignored)
    and the summary's energy keys and ``power_w`` recomputed.  Other rows keep their energy; components new to
    the table are 0 there; columns that another result pass added (``energy_pim_static_j``: a whole-run charge)
    are kept on every row, so passes may run in any order.  ``<family>_static_w`` is set to `static_w`, and
    ``leakage_w`` is the leakage power left in ``energy_leakage_j`` plus every ``*_static_w`` of the summary.
    Used by the FPGA and GPU result passes (`sim.cost.result_pass`); applying it twice changes nothing.
    Works on `Result.column` / `Result.with_energies`, so a result whose table is not made yet stays so."""
    rows = [bool(r) for r in rows]
    new: dict[str, list[float]] = {}
    for col in result.energy_columns():
        if col[len("energy_"):-len("_j")] in ENERGY_COMPONENTS:
            new[col] = [0.0 if r else v for v, r in zip(result.column(col), rows)]
    for comp, values in parts.items():
        col = f"energy_{comp}_j"
        base = new.get(col) or (result.column(col) if col in result.energy_columns() else [0.0] * len(rows))
        new[col] = [v if r else b for v, b, r in zip(values, base, rows)]
    out = result.with_energies(new)
    s = out.summary  # a new dict owned by `out`
    s[f"{family}_static_w"] = static_w
    s["leakage_w"] = leakage_power(s)
    notes = list(s.get("notes", []))
    if note not in notes:
        notes.append(note)
    s["notes"] = notes
    return out


def leakage_power(summary: dict[str, Any]) -> float:
    """``leakage_w`` of a summary: `sim.ppa`'s leakage left in ``energy_leakage_j`` over the run plus the static
    power each family's result pass charged (``<family>_static_w``: ``gpu``, ``fpga``, ``pim``)."""
    lat = summary.get("latency_s") or 0.0
    left = summary.get("energy_leakage_j", 0.0) / lat if lat else 0.0
    return left + math.fsum(v for k, v in summary.items() if k.endswith("_static_w"))


#: summary keys of the form ``area_*_mm2`` that are not parts of ``area_mm2`` (the total, a per-stack figure)
NOT_AREA_PARTS = ("area_mm2", "area_pim_per_stack_mm2")


def area_parts(summary: dict[str, Any]) -> list[str]:
    """The summary keys whose sum is ``area_mm2``: every ``area_<part>_mm2`` except `NOT_AREA_PARTS`."""
    return [k for k in summary if k.startswith("area_") and k.endswith("_mm2") and k not in NOT_AREA_PARTS]


def area_total(summary: dict[str, Any]) -> float:
    """``area_mm2`` of a summary: the correctly rounded sum of its `area_parts`.  The one rule for the total, so
    that result passes that rewrite a part (`sim.gpu`'s die, `sim.pim`'s units) may run in any order."""
    return math.fsum(summary[k] for k in area_parts(summary))
