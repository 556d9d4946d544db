"""Technology tables: energy per operation, area per block, leakage, node scaling, each with its source.

One interface (Accelergy's idea of reference tables behind `energy(component, action, attrs)`):

    energy_pj(component, action, *, node_nm=45, **attrs) -> Figure   # pJ per op, per byte, per MAC
    area_mm2(component, *, node_nm=45, **attrs)         -> Figure
    leakage_w_per_mm2(node_nm)                          -> Figure
    scale("energy" | "area", from_nm, to_nm)            -> float     # multiply a 45 nm figure by this

Every answer is a `Figure(value, unit, source)`; `source` says which table entry it came from and which
rule derived it.  An unknown component, action, format, node or attribute raises `ValueError` listing
the known ones: there is no silent fallback.

Base data (45 nm) and the derivation rules, all stated once here and repeated in each Figure's source:

- Arithmetic: Horowitz, ISSCC 2014, "Computing's energy problem", Fig. 1.1.9 (energy) and the area
  table of the same talk, 45 nm.  Integer multipliers narrower than 32 bits scale from the int8 entry by
  the partial-product count (w_bits x a_bits / 64, the "bit-width^2" rule of an array multiplier);
  integer adders interpolate linearly in width between the 8/16/32-bit entries (ripple/prefix adders
  grow about linearly).  Floating-point formats not in the table (bf16, fp8 e4m3, tf32) scale from the
  fp16 entry by significand width (implicit bit included): multipliers by (p / 11)^2, adders by p / 11.
  The exponent logic is ignored by this rule, which underestimates bf16 a little (8-bit exponent).
- A MAC is one multiply at operand width plus one add at accumulator width (int -> int32 adder,
  float -> fp32 adder unless `acc_bits`/`acc_fmt` say otherwise).  Ternary weights need no multiplier:
  a ternary MAC is one add (add/subtract/skip) at accumulator width.
- PEs (`pe_type`, see `arch.pe`): multiplier + accumulator + operand/partial-sum registers.  In-loop
  dequantising PEs add one dequantisation (a multiply and an add in the activation format) per MAC
  on their own datapath, and scale/zero-point registers to their area.  MixPE's shift-and-add
  multiplier is w-1 adders (`MIXPE_SHIFT_ADD`); its per-group dequantisation is priced separately
  (``dequant/compute`` per group and output; one ``dequant`` block per array column for area).
- Synthesised PE areas (`SYNTH_PE`): where `rtl/` has a block for a PE type, its area is the block's
  Yosys cell area from ``data/rtl/synth_nangate45.csv`` (written by ``dse rtl synth --data``: Yosys'
  generic gates priced as NanGate 45 nm X1 cells, see `dse.rtl_cmd`), plus the operand registers a PE in
  an array holds and the block does not (weight and activation forwarding, and for in-loop dequantising
  PEs the scale and zero point), priced as the same library's DFF_X1.  int8 = ``mac_pe``; the in-loop
  W4A8/W2A8 PEs dequantise on their own int8 MAC (`arch.pe`), so they are ``mac_pe`` plus registers; the
  full-rate ones (``*-dequant-fullrate``) are ``dequant_pe`` (a dedicated dequantiser and a wide multiplier,
  the area baseline of ``dse rtl synth``) plus registers (16-bit scale as in the RTL); ternary = ``ternary_acc`` with one lane.  MixPE: the RTL gives every PE its own
  serial dequantiser (``mixpe_pe`` = group datapath + ``mixpe_dequant``), the arch model one dequantiser
  per array column (priced by the caller as ``dequant`` at the PE type's ``dequant_format``), so the PE is
  ``mixpe_pe - mixpe_dequant``, both synthesised, and the column's dequantiser is not counted twice.
  Precision-scalable PEs (`arch.pe` ``slice_bits``/``fused_bits``): ``bitfusion`` = ``bitfusion_fu`` (rtl/
  bitfusion_fu.v: BitFusion's Fusion Unit, Sharma et al., ISCA 2018, Sec. 3: sixteen 2-bit BitBricks, operand
  routing by mode, a two-level shift-add tree, the accumulator) plus 32-bit weight and activation registers
  (the 2x2 mode's sixteen operand pairs); ``ant`` = the same unit with 4-bit slices (``ant_fu``: four 4x4
  multipliers fused for 8x8 as ANT's PE, Guo et al., MICRO 2022; its int4/flint4/PoT4 decoders are left out)
  plus 16-bit registers; ``mixpe-packed`` = ``mixpe_pe`` over an 8-bit weight lane minus its dequantiser
  (``mixpe_pe_w8 - mixpe_dequant_w8``, the lane's shift-add datapath) plus an 8-bit weight word and two int8
  activations (the muxes that give each packed int4 half its own activation are left out).  Energy of these
  PEs stays one int8 MAC by the Horowitz rules per full-width operation (per cycle; `sim.systolic` counts
  ``MACs / split`` operations, so a 2x2 cycle's sixteen MACs cost one 8x8 MAC's energy).
  Area only: energy stays with the Horowitz rules above (synthesis without a liberty file and switching
  activity gives no power).  PE types without a block (int16, fp16, bf16, fp32, W4A16 in-loop and MixPE)
  keep the Horowitz-table area; the two sources differ (the synthesised int8 PE is about 2.7x the table's:
  unsized X1 generic gates vs a published datapath), so compare PE types across sources with care.
- SRAM: Horowitz 2014, 64-bit read 10 pJ @ 8 KB, 20 pJ @ 32 KB, 100 pJ @ 1 MB (45 nm), reported here
  per byte.  Interpolated log-log in capacity; extrapolated beyond either end with the slope of the
  nearest segment (0.5 below 8 KB, log(5)/log(32) ~ 0.464 above 1 MB).  Writes are charged as reads
  (Horowitz gives reads only).  `capacity_bytes` is the array one access activates: pass a bank's size
  for banked memories, or a 512 MiB SRAM is charged as one huge array.
- SRAM area: published 6T high-density bit-cell areas per node (not the logic scaling factor, because
  SRAM shrinks more slowly than logic below 16 nm) divided by an assumed array efficiency of 0.6.
- DRAM energy per byte by kind, from the papers cited in `DRAM_PJ_PER_BIT`.  DRAM energy does not
  scale with the logic node; `node_nm` is accepted and ignored for DRAM.
- Node scaling: Stillmaker & Baas, Integration 58 (2017) 74-81.  Area from their 45 nm row (32, 20,
  16, 7 nm); energy from their fitted polynomial E(Vdd) per node evaluated at that node's nominal Vdd
  (listed in `NODE_SCALING`).  28 nm is interpolated log-log between their 32 and 20 nm points; 5 nm
  (beyond the paper's range) is extrapolated log-log with the 10 -> 7 nm slope.
- Registers: NanGate 45 nm Open Cell Library DFF_X1 area (about 4.5 um^2 per bit); energy per bit is an
  order-of-magnitude assumption, marked so.
- PIM logic built in a DRAM process (`DRAM_PROCESS_LOGIC`, component ``pim_bank``): the same parts as a
  logic-process block (multipliers, adders, NanGate flip-flops) priced at the 45 nm table and multiplied by
  the DRAM-process area factor `dram_process_area_factor`, whatever the accelerator's node.  The factor is
  derived, not assumed: memory processes are 10x less dense than logic of the same feature size (Pimba, MICRO
  2025, Sec. 6.1, the rule it and AttAcc, ASPLOS 2024, apply to their PIM units), and the PIM die is a 20 nm
  DRAM (Samsung's HBM2-based PIM, Kwon et al., ISSCC 2021), whose logic-process counterpart is 0.247 of 45 nm
  area (log-log between the 28 and 16 nm rows of the node table): 10 x 0.247 = 2.47 x the 45 nm area.  Until
  this rule the factor was an assumed 1.0 (45 nm-logic density), which undercounted: Samsung's HBM-PIM gave
  up half of a PIM die's capacity (4 Gb instead of 8 Gb in the same footprint) for 32 PCUs per die.
- Leakage power density: assumed per node, bounded above by TPU v1's idle power (28 W over a 331 mm^2
  die at 28 nm, Jouppi et al., ISCA 2017); marked assumed.

Left out: wires and NoC energy, clock tree, control logic (the spec's `area_overhead_fraction` covers
area), voltage/frequency scaling within a node, SRAM port counts.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

# --------------------------------------------------------------------------------------------------
# Tables (data).  Each carries its source.
# --------------------------------------------------------------------------------------------------

HOROWITZ = "Horowitz, ISSCC 2014, 'Computing's energy problem (and what we can do about it)', 45 nm"

ARITH_45NM: dict[str, Any] = {
    "source": HOROWITZ + ", Fig. 1.1.9 energy and area table",
    # (operation, format) -> (energy pJ, area um^2)
    "entries": {
        ("add", "int8"): (0.03, 36.0),
        ("add", "int16"): (0.05, 67.0),
        ("add", "int32"): (0.1, 137.0),
        ("add", "fp16"): (0.4, 1360.0),
        ("add", "fp32"): (0.9, 4184.0),
        ("mult", "int8"): (0.2, 282.0),
        ("mult", "int32"): (3.1, 3495.0),
        ("mult", "fp16"): (1.1, 1640.0),
        ("mult", "fp32"): (3.7, 7700.0),
    },
}

# Number formats the tables know.  Integer formats: bits.  Float formats: significand bits p including
# the implicit bit, and the Horowitz format they are derived from.
INT_FORMATS: dict[str, int] = {"int2": 2, "int4": 4, "int8": 8, "int16": 16, "int32": 32}
FLOAT_FORMATS: dict[str, dict[str, Any]] = {
    "fp8": {"bits": 8, "significand": 4, "exponent": 4, "note": "fp8 = e4m3 (OCP FP8)"},
    "fp16": {"bits": 16, "significand": 11, "exponent": 5, "note": "IEEE binary16"},
    "bf16": {"bits": 16, "significand": 8, "exponent": 8, "note": "bfloat16"},
    "tf32": {"bits": 19, "significand": 11, "exponent": 8, "note": "NVIDIA TensorFloat-32"},
    "fp32": {"bits": 32, "significand": 24, "exponent": 8, "note": "IEEE binary32"},
}
TERNARY = "ternary"
FORMATS = (*INT_FORMATS, TERNARY, *FLOAT_FORMATS)

SRAM_45NM: dict[str, Any] = {
    "source": HOROWITZ + ": 64-bit cache access 10 pJ @ 8 KB, 20 pJ @ 32 KB, 100 pJ @ 1 MB",
    # capacity in bytes -> pJ per 64-bit (8-byte) read
    "points": {8 * 1024: 10.0, 32 * 1024: 20.0, 1024 * 1024: 100.0},
}

SRAM_BITCELL_UM2: dict[str, Any] = {
    "source": "published 6T high-density SRAM bit cells: 45 nm 0.346 um^2 (Intel, Mistry et al. IEDM 2007); "
    "28 nm 0.127 um^2 (TSMC 28HP); 16 nm 0.07 um^2 (TSMC 16FF+); 7 nm 0.027 um^2 (TSMC N7, ISSCC 2017); "
    "5 nm 0.021 um^2 (TSMC N5, Yeap et al. IEDM 2019)",
    "um2": {45: 0.346, 28: 0.127, 16: 0.07, 7: 0.027, 5: 0.021},
    "array_efficiency": 0.6,
    "efficiency_source": "assumed: bit cells are 60% of a macro's area (decoders, sense amps, I/O the rest)",
}

REGISTER_45NM: dict[str, Any] = {
    "source": "NanGate 45 nm Open Cell Library, DFF_X1 (about 4.5 um^2); energy per bit-write assumed "
    "(order of magnitude: a few fJ per clocked flip-flop bit at 45 nm)",
    "area_um2_per_bit": 4.52,
    "energy_pj_per_bit": 0.005,
}

MIXPE_SHIFT_ADD: dict[str, Any] = {
    "source": "rule for MixPE (Zhang et al., arXiv 2411.16158) shift-and-add PEs: a w-bit integer weight times "
    "an operand of width b is w-1 additions of width b+w (one per weight bit after the first; shifts are wiring); "
    "for float activations b is the significand and the exponent passes through; shifter/gating muxes are "
    "charged as an assumed 50% extra adder area and 0% extra energy",
    "mux_area_fraction": 0.5,
}

NODE_SCALING: dict[str, Any] = {
    "source": "Stillmaker & Baas, 'Scaling equations for the accurate prediction of CMOS device performance "
    "from 180 nm to 7 nm', Integration 58 (2017) 74-81: area from the 45 nm row of the area table; energy from "
    "the fitted E(Vdd) polynomials at nominal Vdd (45 nm 1.0 V, 32 nm 0.9 V, 20 nm 0.9 V, 16 nm 0.85 V, "
    "10 nm 0.75 V, 7 nm 0.7 V); 28 nm interpolated log-log between 32 and 20 nm; 5 nm extrapolated "
    "log-log from the 10 -> 7 nm slope (beyond the paper's range)",
    # factor to multiply a 45 nm figure by
    "energy": {45: 1.0, 28: 0.401, 16: 0.136, 7: 0.047, 5: 0.0327},
    "area": {45: 1.0, 28: 0.368, 16: 0.19, 7: 0.059, 5: 0.0359},
}
NODES_NM = tuple(NODE_SCALING["energy"])

LEAKAGE_W_PER_MM2: dict[str, Any] = {
    "source": "assumed order-of-magnitude leakage power densities; upper bound from TPU v1 idle power "
    "(28 W / 331 mm^2 = 0.085 W/mm^2 at 28 nm, Jouppi et al. ISCA 2017, which includes clock power); "
    "FinFET nodes (16 nm and below) leak less per transistor but pack more per mm^2",
    "w_per_mm2": {45: 0.05, 28: 0.06, 16: 0.05, 7: 0.07, 5: 0.08},
}

DRAM_PJ_PER_BIT: dict[str, tuple[float, str]] = {
    # kind -> (pJ per bit transferred, source).  Does not scale with the logic node.
    "ddr3": (1950 / 64, HOROWITZ + ": DRAM 1.3-2.6 nJ per 64-bit access; midpoint 1.95 nJ / 64 b = 30.5 pJ/bit"),
    "ddr4": (15.0, "assumed: low end of the 15-20 pJ/bit commonly quoted for DDR4 DIMM accesses including I/O "
                   "(O'Connor et al., MICRO 2017, place off-package DRAM near GDDR5's 14 pJ/bit)"),
    "ddr5": (12.0, "assumed: DDR4 figure scaled by the I/O voltage drop 1.2 V -> 1.1 V and on-die improvements"),
    "lpddr4": (6.0, "assumed: low-swing LPDDR4 I/O, about 40% of DDR4 per bit"),
    "lpddr5": (4.5, "assumed: LPDDR5 about 25% below LPDDR4 per bit"),
    "hbm2": (3.9, "O'Connor et al., 'Fine-Grained DRAM', MICRO 2017: HBM2 about 3.9 pJ/bit"),
    "hbm2e": (3.9, "assumed equal to HBM2 (O'Connor et al., MICRO 2017): same interface at a higher data rate"),
    "hbm3": (3.0, "assumed: HBM2 figure (O'Connor et al., MICRO 2017) less ~25% for HBM3's 0.4 V I/O"),
    "flash": (60.0, "assumed: NAND page read plus ONFI/Toggle I/O, order of magnitude tens of pJ/bit"),
}

COMPONENTS_ENERGY: dict[str, tuple[str, ...]] = {
    "mac": ("compute",),
    "mult": ("compute",),
    "add": ("compute",),
    "dequant": ("compute",),
    "sram": ("read", "write"),
    "dram": ("access",),
    "vector": ("flop",),
    "reg": ("access",),
}
COMPONENTS_AREA = ("pe", "mac", "mult", "add", "sram", "vector_lane", "reg", "dequant", "rtl", "pim_bank")

DRAM_PROCESS_LOGIC: dict[str, Any] = {
    "source": "Kim et al., 'Pimba: A Processing-in-Memory Acceleration for Post-Transformer Large Language Model "
    "Serving', MICRO 2025 (arXiv 2507.10178), Sec. 6.1 'Area and power': PIM logic synthesised at 45 nm and scaled "
    "to the DRAM's feature size, taking memory processes as 10x less dense than logic processes of the same "
    "feature size, following AttAcc (Park et al., ASPLOS 2024); DRAM feature size 20 nm: Samsung's HBM2-based "
    "PIM, Kwon et al., ISSCC 2021, 25.4, 'A 20nm 6GB Function-In-Memory DRAM, Based on HBM2'; 20 nm logic area "
    "interpolated log-log in NODE_SCALING['area'] between its 28 and 16 nm entries (Stillmaker & Baas 2017)",
    #: area of logic in a memory process over logic of the same feature size (Pimba Sec. 6.1, after AttAcc)
    "density_penalty_vs_same_node_logic": 10.0,
    #: the HBM2 PIM die's process (Kwon et al., ISSCC 2021)
    "dram_feature_nm": 20,
}

#: The Yosys synthesis table (see the module docstring and `dse.rtl_cmd`).
SYNTH_CSV = Path(__file__).resolve().parents[1] / "data" / "rtl" / "synth_nangate45.csv"
SYNTH_SOURCE = ("data/rtl/synth_nangate45.csv (dse rtl synth --data: {yosys} generic gates priced as NanGate 45 nm "
                "Open Cell Library X1 cells, NangateOpenCellLibrary_typical.lib)")
#: PE type -> (block, block subtracted (moved out of the PE), registers the block lacks: {what: bits}).
SYNTH_PE: dict[str, tuple[str, str | None, dict[str, int]]] = {
    "int8": ("mac_pe", None, {"weight": 8, "activation": 8}),
    "w4a8-dequant": ("mac_pe", None, {"weight": 4, "activation": 8, "scale": 8, "zero point": 4}),
    "w2a8-dequant": ("mac_pe", None, {"weight": 2, "activation": 8, "scale": 8, "zero point": 2}),
    "w4a8-dequant-fullrate": ("dequant_pe_w4", None, {"weight": 4, "activation": 8, "scale": 16, "zero point": 4}),
    "w2a8-dequant-fullrate": ("dequant_pe_w2", None, {"weight": 2, "activation": 8, "scale": 16, "zero point": 2}),
    "mixpe-w4a8": ("mixpe_pe_w4", "mixpe_dequant_w4", {"weight": 4, "activation": 8}),
    "mixpe-w2a8": ("mixpe_pe_w2", "mixpe_dequant_w2", {"weight": 2, "activation": 8}),
    "ternary": ("ternary_acc_1", None, {"weight": 2, "activation": 8}),
    # precision-scalable PEs: the fusion unit holds the widest mode's operands (BitFusion 16 lanes x 2 bits,
    # ANT 4 x 4 bits); the packed MixPE lane takes one 8-bit weight word and two int8 activations
    "bitfusion": ("bitfusion_fu", None, {"weight": 32, "activation": 32}),
    "ant": ("ant_fu", None, {"weight": 16, "activation": 16}),
    "mixpe-packed": ("mixpe_pe_w8", "mixpe_dequant_w8", {"weight": 8, "activation": 16}),
}


@functools.lru_cache(maxsize=1)
def synth_table() -> dict[str, dict[str, Any]]:
    """Rows of `SYNTH_CSV` by block name; a missing file is an error saying how to write it."""
    import csv

    if not SYNTH_CSV.exists():
        raise ValueError(f"synthesis table {SYNTH_CSV} not found; write it with 'dse rtl synth --data'")
    with SYNTH_CSV.open(newline="") as f:
        return {r["block"]: {**r, "area_um2_45nm": float(r["area_um2_45nm"]), "cells": int(r["cells"]),
                             "flip_flops": int(r["flip_flops"])} for r in csv.DictReader(f)}


def _rtl_block(block: Any) -> tuple[float, str]:
    table = synth_table()
    if block not in table:
        raise _known("rtl block", block, sorted(table))
    row = table[block]
    return row["area_um2_45nm"], f"{block} {row['area_um2_45nm']:g} um^2"


def _synth_pe(pe_type: str) -> tuple[float, str]:
    """Area (um^2, 45 nm) of a PE type with a synthesised block, and its derivation."""
    block, minus, regs = SYNTH_PE[pe_type]
    a, src = _rtl_block(block)
    if minus is not None:
        am, srcm = _rtl_block(minus)
        a -= am
        src += f" - {srcm} (its per-PE dequantiser: the arch has one per array column, priced as 'dequant')"
    bits = sum(regs.values())
    a += bits * REGISTER_45NM["area_um2_per_bit"]
    what = " + ".join(f"{k} {v}" for k, v in regs.items())
    yosys = next(iter(synth_table().values())).get("yosys", "Yosys")
    return a, (f"PE {pe_type!r} synthesised = {src} + {bits} register bits ({what}) x "
               f"{REGISTER_45NM['area_um2_per_bit']} um^2 [{SYNTH_SOURCE.format(yosys=yosys)}; "
               f"{REGISTER_45NM['source']}]")


# --------------------------------------------------------------------------------------------------
# Interface
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Figure:
    """One number with its unit and where it came from."""

    value: float
    unit: str
    source: str

    def __float__(self) -> float:
        return float(self.value)


def _known(what: str, got: Any, options: Any) -> ValueError:
    return ValueError(f"unknown {what} {got!r}; expected one of {', '.join(map(str, options))}")


def _check_node(node_nm: int) -> None:
    if node_nm not in NODE_SCALING["energy"]:
        raise _known("node_nm", node_nm, NODES_NM)


def _check_attrs(where: str, attrs: dict[str, Any], allowed: tuple[str, ...]) -> None:
    extra = sorted(set(attrs) - set(allowed))
    if extra:
        raise ValueError(f"{where}: unknown attribute(s) {extra}; expected {', '.join(allowed) or 'none'}")


def scale(quantity: Literal["energy", "area"], from_nm: int, to_nm: int) -> float:
    """Factor that turns a `quantity` at `from_nm` into one at `to_nm` (Stillmaker & Baas 2017)."""
    if quantity not in ("energy", "area"):
        raise _known("quantity", quantity, ("energy", "area"))
    _check_node(from_nm)
    _check_node(to_nm)
    table = NODE_SCALING[quantity]
    return table[to_nm] / table[from_nm]


def _node_note(quantity: str, node_nm: int) -> str:
    if node_nm == 45:
        return ""
    return f"; x{scale(quantity, 45, node_nm):.3g} {quantity} scaling 45 -> {node_nm} nm (Stillmaker & Baas 2017)"


# ---- arithmetic at 45 nm: (energy pJ, area um^2, derivation) -------------------------------------


def _int_add(bits: int) -> tuple[float, float, str]:
    if not isinstance(bits, int) or isinstance(bits, bool) or bits < 1:
        raise ValueError(f"adder width bits={bits!r}; expected a positive integer")
    pts = [(8, "int8"), (16, "int16"), (32, "int32")]
    table = ARITH_45NM["entries"]
    for w, name in pts:
        if bits == w:
            e, a = table[("add", name)]
            return e, a, f"{HOROWITZ}: {w}-bit add {e} pJ, {a:g} um^2"
    if bits < 8:
        e, a = table[("add", "int8")]
        f = bits / 8
        return e * f, a * f, f"{HOROWITZ}: 8-bit add x {bits}/8 (adder linear in width)"
    if bits > 32:
        e, a = table[("add", "int32")]
        f = bits / 32
        return e * f, a * f, f"{HOROWITZ}: 32-bit add x {bits}/32 (adder linear in width)"
    lo, hi = (8, 16) if bits < 16 else (16, 32)
    elo, alo = table[("add", f"int{lo}")]
    ehi, ahi = table[("add", f"int{hi}")]
    t = (bits - lo) / (hi - lo)
    return (elo + t * (ehi - elo), alo + t * (ahi - alo),
            f"{HOROWITZ}: add interpolated linearly in width between {lo} and {hi} bits")


def _int_mult(w_bits: int, a_bits: int) -> tuple[float, float, str]:
    table = ARITH_45NM["entries"]
    if w_bits == a_bits == 32:
        e, a = table[("mult", "int32")]
        return e, a, f"{HOROWITZ}: 32-bit mult {e} pJ, {a:g} um^2"
    e8, a8 = table[("mult", "int8")]
    if w_bits == a_bits == 8:
        return e8, a8, f"{HOROWITZ}: 8-bit mult {e8} pJ, {a8:g} um^2"
    f = w_bits * a_bits / 64
    return (e8 * f, a8 * f,
            f"{HOROWITZ}: 8-bit mult x ({w_bits}*{a_bits})/(8*8) (array multiplier ~ partial-product bits)")


def _float_op(op: str, fmt: str) -> tuple[float, float, str]:
    table = ARITH_45NM["entries"]
    if (op, fmt) in table:
        e, a = table[(op, fmt)]
        return e, a, f"{HOROWITZ}: {fmt} {op} {e} pJ, {a:g} um^2"
    p = FLOAT_FORMATS[fmt]["significand"]
    e16, a16 = table[(op, "fp16")]
    f = (p / 11) ** 2 if op == "mult" else p / 11
    rule = f"({p}/11)^2" if op == "mult" else f"{p}/11"
    return (e16 * f, a16 * f,
            f"{HOROWITZ}: fp16 {op} x {rule} (significand {p} bits incl. implicit; {FLOAT_FORMATS[fmt]['note']})")


def _fmt_kind(fmt: Any) -> str:
    if fmt in INT_FORMATS:
        return "int"
    if fmt in FLOAT_FORMATS:
        return "float"
    if fmt == TERNARY:
        return "ternary"
    raise _known("fmt", fmt, FORMATS)


def _mult(fmt: str) -> tuple[float, float, str]:
    kind = _fmt_kind(fmt)
    if kind == "ternary":
        return 0.0, 0.0, "ternary weight: no multiplier (sign select / skip is folded into the adder)"
    if kind == "int":
        b = INT_FORMATS[fmt]
        return _int_mult(b, b)
    return _float_op("mult", fmt)


def _add(fmt: str | None, bits: int | None) -> tuple[float, float, str]:
    if fmt is None or fmt == "int":
        if bits is None:
            raise ValueError("add: give fmt (one of " + ", ".join(f for f in FORMATS if f != TERNARY)
                             + ") or bits (integer adder width)")
        return _int_add(bits)
    kind = _fmt_kind(fmt)
    if kind == "ternary":
        raise ValueError("add: fmt 'ternary' is a weight format, not an adder; give the accumulator's fmt or bits")
    if kind == "int":
        if bits is not None and bits != INT_FORMATS[fmt]:
            raise ValueError(f"add: fmt={fmt!r} is {INT_FORMATS[fmt]} bits but bits={bits}; give one of them")
        return _int_add(INT_FORMATS[fmt])
    if bits is not None and bits != FLOAT_FORMATS[fmt]["bits"]:
        raise ValueError(f"add: bits={bits} does not apply to float format {fmt!r}")
    return _float_op("add", fmt)


def _acc(fmt_kind: str, acc_bits: int | None, acc_fmt: str | None) -> tuple[float, float, str]:
    if acc_fmt is not None:
        if acc_bits is not None:
            raise ValueError("give acc_bits or acc_fmt, not both")
        return _add(acc_fmt, None)
    if fmt_kind == "float":
        bits = 32 if acc_bits is None else acc_bits
        fp = {16: "fp16", 32: "fp32"}
        if bits not in fp:
            raise _known("float accumulator acc_bits", bits, sorted(fp))
        return _add(fp[bits], None)
    return _int_add(32 if acc_bits is None else acc_bits)


def _dequant(fmt: str) -> tuple[float, float, str]:
    """Dequantise one value to `fmt`: one multiply by the scale and one add of the zero point."""
    em, am, sm = _mult(fmt)
    ea, aa, sa = _add(fmt, None)
    return em + ea, am + aa, f"dequantiser = one {fmt} mult (scale) + one {fmt} add (zero point): [{sm}] + [{sa}]"


def _shift_add(w_bits: int, a_fmt: str) -> tuple[float, float, str]:
    if a_fmt in INT_FORMATS:
        width = INT_FORMATS[a_fmt] + w_bits
    elif a_fmt in FLOAT_FORMATS:
        width = FLOAT_FORMATS[a_fmt]["significand"] + w_bits
    else:
        raise _known("shift-add activation fmt", a_fmt, (*INT_FORMATS, *FLOAT_FORMATS))
    n = w_bits - 1
    e, a, s = _int_add(width)
    mux = MIXPE_SHIFT_ADD["mux_area_fraction"]
    return (n * e, n * a * (1 + mux),
            f"{MIXPE_SHIFT_ADD['source']}: {n} x {width}-bit add [{s}]")


def _fmt_bits(fmt: str) -> int:
    """Storage bits of a format (ternary: a 2-bit code)."""
    return 2 if fmt == TERNARY else (INT_FORMATS.get(fmt) or FLOAT_FORMATS[fmt]["bits"])


def _pe(pe_type: str) -> dict[str, tuple[float, float, str]]:
    """The parts of one PE: multiplier, accumulator adder, dequantiser (in-loop only), registers."""
    from arch.pe import PE_TYPES

    if pe_type not in PE_TYPES:
        raise _known("pe_type", pe_type, sorted(PE_TYPES))
    pe = PE_TYPES[pe_type]
    parts: dict[str, tuple[float, float, str]] = {}
    w_fmt, a_fmt = pe.w_format, pe.a_format
    _fmt_kind(w_fmt)
    a_kind = _fmt_kind(a_fmt)
    if pe.multiplier == "adder":
        parts["mult"] = _mult(TERNARY)
    elif pe.multiplier == "shift_add":
        parts["mult"] = _shift_add(INT_FORMATS[w_fmt], a_fmt)
    elif pe.dequant == "in_loop":
        # the weight is dequantised to the activation format on the PE's own multiplier and adder (one
        # extra pass, see arch.pe): dequant energy per MAC, area only for the scale and zero-point registers
        e, _, s = _dequant(pe.dequant_format or a_fmt)
        sz_bits = _fmt_bits(a_fmt) + _fmt_bits(w_fmt)
        parts["dequant"] = (e, sz_bits * REGISTER_45NM["area_um2_per_bit"],
                            f"{s} on the MAC's own datapath; area: {sz_bits} scale/zero-point register bits "
                            f"[{REGISTER_45NM['source']}]")
        parts["mult"] = _mult(a_fmt)
    elif w_fmt == a_fmt:
        parts["mult"] = _mult(a_fmt)
    elif w_fmt in INT_FORMATS and a_fmt in INT_FORMATS:
        parts["mult"] = _int_mult(INT_FORMATS[w_fmt], INT_FORMATS[a_fmt])
    else:
        raise ValueError(f"pe_type {pe_type!r}: no rule for a {w_fmt} x {a_fmt} {pe.multiplier} multiplier")
    parts["acc"] = _acc(a_kind, pe.acc_bits, None)
    w_bits, a_bits = _fmt_bits(w_fmt), _fmt_bits(a_fmt)
    reg_bits = w_bits + a_bits + pe.acc_bits
    parts["regs"] = (reg_bits * REGISTER_45NM["energy_pj_per_bit"], reg_bits * REGISTER_45NM["area_um2_per_bit"],
                     f"{REGISTER_45NM['source']}: {reg_bits} bits (weight {w_bits} + activation {a_bits} "
                     f"+ partial sum {pe.acc_bits})")
    return parts


def _logic_area_scale_at(nm: float) -> tuple[float, str]:
    """Area of logic at `nm` over 45 nm logic: `NODE_SCALING` where it has the node, else log-log between the two
    table nodes around it (Stillmaker & Baas 2017)."""
    table = NODE_SCALING["area"]
    if nm in table:
        return table[nm] / table[45], f"NODE_SCALING area {nm} nm"
    nodes = sorted(table)
    below = max(n for n in nodes if n < nm)
    above = min(n for n in nodes if n > nm)
    slope = math.log(table[above] / table[below]) / math.log(above / below)
    f = table[below] * (nm / below) ** slope / table[45]
    return f, f"NODE_SCALING area log-log between {below} nm ({table[below]}) and {above} nm ({table[above]})"


def dram_process_area_factor() -> tuple[float, str]:
    """Area of logic built in the PIM's DRAM process over the same logic at 45 nm (`DRAM_PROCESS_LOGIC`):
    ``density_penalty_vs_same_node_logic x area_scale(45 nm -> dram_feature_nm)`` = 10 x 0.247 = 2.47 for a
    20 nm DRAM (module docstring)."""
    d = DRAM_PROCESS_LOGIC
    node, how = _logic_area_scale_at(d["dram_feature_nm"])
    k = d["density_penalty_vs_same_node_logic"] * node
    return k, (f"DRAM-process factor {k:.3g} = {d['density_penalty_vs_same_node_logic']:g} (memory process vs logic "
               f"of its feature size) x {node:.3g} ({d['dram_feature_nm']} nm logic vs 45 nm: {how}) "
               f"[{d['source']}]")


def _pim_bank(macs: Any, fmt: Any, row_buffer_bytes: Any) -> tuple[float, str]:
    """Area (um^2, DRAM process) of one bank's PIM datapath and optional second row buffer (`area_mm2`)."""
    if isinstance(macs, bool) or not isinstance(macs, (int, float)) or macs < 1 or macs != int(macs):
        raise ValueError(f"area_mm2('pim_bank'): macs={macs!r}; expected a positive whole number of multipliers")
    if isinstance(row_buffer_bytes, bool) or not isinstance(row_buffer_bytes, (int, float)) or row_buffer_bytes < 0:
        raise ValueError(f"area_mm2('pim_bank'): row_buffer_bytes={row_buffer_bytes!r}; expected bytes >= 0")
    kind = _fmt_kind(fmt)
    if kind == "ternary":
        raise ValueError("area_mm2('pim_bank'): fmt='ternary' has no in-DRAM PIM datapath; expected an int or float fmt")
    n = int(macs)
    _, am, sm = _mult(fmt)
    _, aa, sa = _add(fmt, None)
    _, aacc, sacc = _acc(kind, None, None)
    bits = _fmt_bits(fmt)
    reg_bits = 2 * n * bits + 32  # two operand vectors + a 32-bit accumulator
    reg = REGISTER_45NM["area_um2_per_bit"]
    rb_bits = int(row_buffer_bytes) * 8
    k, ksrc = dram_process_area_factor()
    a = (n * am + (n - 1) * aa + aacc + reg_bits * reg + rb_bits * reg) * k
    return a, (f"one bank's PIM: {n} x {fmt} mult [{sm}] + {n - 1} x {fmt} add (adder tree) [{sa}] + accumulator "
               f"[{sacc}] + {reg_bits} operand/accumulator register bits + second row buffer {rb_bits} bits "
               f"(one flip-flop per bit) [{REGISTER_45NM['source']}]; x {ksrc}")


def _sram_pj_per_byte_45(capacity_bytes: Any) -> tuple[float, str]:
    if isinstance(capacity_bytes, bool) or not isinstance(capacity_bytes, (int, float)) or capacity_bytes <= 0:
        raise ValueError(f"sram: capacity_bytes={capacity_bytes!r}; expected a positive number of bytes")
    pts = sorted(SRAM_45NM["points"].items())
    xs = [math.log(c) for c, _ in pts]
    ys = [math.log(e / 8) for _, e in pts]  # per byte
    x = math.log(capacity_bytes)
    if x <= xs[1]:
        i = 0
    else:
        i = 1
    slope = (ys[i + 1] - ys[i]) / (xs[i + 1] - xs[i])
    y = ys[i] + slope * (x - xs[i])
    inside = xs[0] <= x <= xs[-1]
    how = "interpolated log-log" if inside else f"extrapolated log-log with slope {slope:.3f}"
    return math.exp(y), f"{SRAM_45NM['source']}; per byte = per 64 bits / 8; {how} at {capacity_bytes:g} B"


def energy_pj(component: str, action: str, *, node_nm: int = 45, **attrs: Any) -> Figure:
    """Energy of one `action` on `component` at `node_nm`.

    mac/compute (fmt=, acc_bits=, acc_fmt= | pe_type=)  pJ per multiply-accumulate
    mult/compute (fmt=)                                   pJ per multiply
    add/compute (fmt= and/or bits=)                       pJ per add (bits alone: integer adder)
    dequant/compute (fmt=)                                pJ per value dequantised to fmt
    sram/read, sram/write (capacity_bytes=)               pJ per byte
    dram/access (kind=)                                   pJ per byte (no node scaling)
    vector/flop (fmt=)                                    pJ per flop (mean of add and mult)
    reg/access (bits=)                                    pJ per register write of `bits`
    """
    if component not in COMPONENTS_ENERGY:
        raise _known("energy component", component, COMPONENTS_ENERGY)
    if action not in COMPONENTS_ENERGY[component]:
        raise _known(f"action for {component!r}", action, COMPONENTS_ENERGY[component])
    _check_node(node_nm)
    where = f"energy_pj({component!r}, {action!r})"

    if component == "dram":
        _check_attrs(where, attrs, ("kind",))
        kind = attrs.get("kind")
        if kind not in DRAM_PJ_PER_BIT:
            raise _known("dram kind", kind, DRAM_PJ_PER_BIT)
        pj_bit, src = DRAM_PJ_PER_BIT[kind]
        return Figure(pj_bit * 8, "pJ/byte", f"{src}; x8 bits per byte; DRAM energy does not scale with logic node")

    if component == "sram":
        _check_attrs(where, attrs, ("capacity_bytes",))
        e, src = _sram_pj_per_byte_45(attrs.get("capacity_bytes"))
        if action == "write":
            src += "; write charged as a read (Horowitz gives reads only)"
        return Figure(e * scale("energy", 45, node_nm), "pJ/byte", src + _node_note("energy", node_nm))

    if component == "reg":
        _check_attrs(where, attrs, ("bits",))
        bits = attrs.get("bits")
        if isinstance(bits, bool) or not isinstance(bits, int) or bits < 1:
            raise ValueError(f"{where}: bits={bits!r}; expected a positive integer")
        e = bits * REGISTER_45NM["energy_pj_per_bit"]
        return Figure(e * scale("energy", 45, node_nm), "pJ", REGISTER_45NM["source"] + _node_note("energy", node_nm))

    if component == "mac":
        if "pe_type" in attrs:
            _check_attrs(where, attrs, ("pe_type",))
            parts = _pe(attrs["pe_type"])
            parts.pop("regs")
            e = sum(p[0] for p in parts.values())
            src = f"PE {attrs['pe_type']!r} per MAC = " + " + ".join(f"{k} [{p[2]}]" for k, p in parts.items())
            if parts.get("dequant") is None:
                src += "; per-group dequantisation (if any) is charged separately via dequant/compute"
            else:
                src += "; includes one in-loop dequantisation per MAC"
        else:
            _check_attrs(where, attrs, ("fmt", "acc_bits", "acc_fmt"))
            fmt = attrs.get("fmt")
            kind = _fmt_kind(fmt)
            em, _, sm = _mult(fmt)
            ea, _, sa = _acc("int" if kind == "ternary" else kind, attrs.get("acc_bits"), attrs.get("acc_fmt"))
            e = em + ea
            src = f"{fmt} MAC = mult [{sm}] + accumulate [{sa}]"
        return Figure(e * scale("energy", 45, node_nm), "pJ/MAC", src + _node_note("energy", node_nm))

    if component == "mult":
        _check_attrs(where, attrs, ("fmt",))
        e, _, src = _mult(attrs.get("fmt"))
        return Figure(e * scale("energy", 45, node_nm), "pJ", src + _node_note("energy", node_nm))

    if component == "add":
        _check_attrs(where, attrs, ("fmt", "bits"))
        e, _, src = _add(attrs.get("fmt"), attrs.get("bits"))
        return Figure(e * scale("energy", 45, node_nm), "pJ", src + _node_note("energy", node_nm))

    if component == "dequant":
        _check_attrs(where, attrs, ("fmt",))
        e, _, src = _dequant(attrs.get("fmt"))
        return Figure(e * scale("energy", 45, node_nm), "pJ", src + _node_note("energy", node_nm))

    # vector/flop
    _check_attrs(where, attrs, ("fmt",))
    fmt = attrs.get("fmt")
    if fmt not in FLOAT_FORMATS:
        raise _known("vector fmt", fmt, FLOAT_FORMATS)
    em, _, sm = _float_op("mult", fmt)
    ea, _, sa = _float_op("add", fmt)
    return Figure((em + ea) / 2 * scale("energy", 45, node_nm), "pJ/flop",
                  f"mean of {fmt} mult [{sm}] and add [{sa}]" + _node_note("energy", node_nm))


def area_mm2(component: str, *, node_nm: int = 45, **attrs: Any) -> Figure:
    """Area of one `component` at `node_nm`.

    pe (pe_type=)                 one PE: the synthesised block where SYNTH_PE has one (module docstring), else
                                  multiplier (or shift-adders / none) + accumulator + registers
                                  (+ scale/zero-point registers for in-loop dequant PEs; MixPE's per-column
                                  dequantisers are counted by the caller as `dequant` blocks)
    mac (fmt=, acc_bits=, acc_fmt=), mult (fmt=), add (fmt=/bits=), dequant (fmt=), reg (bits=)
    sram (capacity_bytes=)        bit cells / array efficiency (per-node bit cell table)
    vector_lane (fmt=)            one float mult + one float add + three operand registers
    rtl (block=)                  one synthesised rtl/ block as written in data/rtl/synth_nangate45.csv
    pim_bank (macs=, fmt=, row_buffer_bytes=)
                                  one bank's in-DRAM PIM datapath (NeuPIMs/Newton-style), in a DRAM process:
                                  `macs` multipliers of `fmt`, an adder tree of macs-1 `fmt` adders, one
                                  accumulator adder (fp32 for floats, int32 for ints), operand registers (the
                                  row buffer's column and the input vector, macs x fmt bits each, plus the
                                  accumulator), and a second row buffer of `row_buffer_bytes` (0: none) as one
                                  flip-flop per bit; all at 45 nm x DRAM_PROCESS_LOGIC (node_nm is ignored:
                                  the DRAM process is not the accelerator's node)
    """
    if component not in COMPONENTS_AREA:
        raise _known("area component", component, COMPONENTS_AREA)
    _check_node(node_nm)
    where = f"area_mm2({component!r})"
    k = scale("area", 45, node_nm)
    note = _node_note("area", node_nm)
    um2 = 1e-6

    if component == "sram":
        _check_attrs(where, attrs, ("capacity_bytes",))
        cap = attrs.get("capacity_bytes")
        if isinstance(cap, bool) or not isinstance(cap, (int, float)) or cap <= 0:
            raise ValueError(f"{where}: capacity_bytes={cap!r}; expected a positive number of bytes")
        cell = SRAM_BITCELL_UM2["um2"][node_nm]
        eff = SRAM_BITCELL_UM2["array_efficiency"]
        return Figure(cap * 8 * cell / eff * um2, "mm^2",
                      f"{SRAM_BITCELL_UM2['source']}: {cell} um^2/bit at {node_nm} nm; "
                      f"{SRAM_BITCELL_UM2['efficiency_source']}")
    if component == "pim_bank":
        _check_attrs(where, attrs, ("macs", "fmt", "row_buffer_bytes"))
        a, src = _pim_bank(attrs.get("macs"), attrs.get("fmt"), attrs.get("row_buffer_bytes", 0))
        return Figure(a * um2, "mm^2", src)
    if component == "rtl":
        _check_attrs(where, attrs, ("block",))
        a, src = _rtl_block(attrs.get("block"))
        yosys = next(iter(synth_table().values())).get("yosys", "Yosys")
        return Figure(a * k * um2, "mm^2", f"{src} [{SYNTH_SOURCE.format(yosys=yosys)}]" + note)
    if component == "pe":
        _check_attrs(where, attrs, ("pe_type",))
        if attrs.get("pe_type") in SYNTH_PE:
            a, src = _synth_pe(attrs["pe_type"])
            return Figure(a * k * um2, "mm^2", src + note)
        parts = _pe(attrs.get("pe_type"))
        a = sum(p[1] for p in parts.values())
        src = f"PE {attrs['pe_type']!r} = " + " + ".join(f"{k_} [{p[2]}]" for k_, p in parts.items())
        return Figure(a * k * um2, "mm^2", src + note)
    if component == "reg":
        _check_attrs(where, attrs, ("bits",))
        bits = attrs.get("bits")
        if isinstance(bits, bool) or not isinstance(bits, int) or bits < 1:
            raise ValueError(f"{where}: bits={bits!r}; expected a positive integer")
        return Figure(bits * REGISTER_45NM["area_um2_per_bit"] * k * um2, "mm^2", REGISTER_45NM["source"] + note)
    if component == "mac":
        _check_attrs(where, attrs, ("fmt", "acc_bits", "acc_fmt"))
        fmt = attrs.get("fmt")
        kind = _fmt_kind(fmt)
        _, am, sm = _mult(fmt)
        _, aa, sa = _acc("int" if kind == "ternary" else kind, attrs.get("acc_bits"), attrs.get("acc_fmt"))
        return Figure((am + aa) * k * um2, "mm^2", f"{fmt} MAC = mult [{sm}] + accumulate [{sa}]" + note)
    if component == "mult":
        _check_attrs(where, attrs, ("fmt",))
        _, a, src = _mult(attrs.get("fmt"))
        return Figure(a * k * um2, "mm^2", src + note)
    if component == "add":
        _check_attrs(where, attrs, ("fmt", "bits"))
        _, a, src = _add(attrs.get("fmt"), attrs.get("bits"))
        return Figure(a * k * um2, "mm^2", src + note)
    if component == "dequant":
        _check_attrs(where, attrs, ("fmt",))
        _, a, src = _dequant(attrs.get("fmt"))
        return Figure(a * k * um2, "mm^2", src + note)
    # vector_lane
    _check_attrs(where, attrs, ("fmt",))
    fmt = attrs.get("fmt")
    if fmt not in FLOAT_FORMATS:
        raise _known("vector_lane fmt", fmt, FLOAT_FORMATS)
    _, am, sm = _float_op("mult", fmt)
    _, aa, sa = _float_op("add", fmt)
    reg_bits = 3 * FLOAT_FORMATS[fmt]["bits"]
    ar = reg_bits * REGISTER_45NM["area_um2_per_bit"]
    return Figure((am + aa + ar) * k * um2, "mm^2",
                  f"{fmt} lane = mult [{sm}] + add [{sa}] + {reg_bits} register bits [{REGISTER_45NM['source']}]" + note)


def leakage_w_per_mm2(node_nm: int) -> Figure:
    """Static power density of logic and SRAM at `node_nm` (assumed; see the table's source)."""
    _check_node(node_nm)
    return Figure(LEAKAGE_W_PER_MM2["w_per_mm2"][node_nm], "W/mm^2", LEAKAGE_W_PER_MM2["source"])
