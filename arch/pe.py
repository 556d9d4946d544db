"""Processing-element types: what one PE multiplies and accumulates, how fast, and how it dequantises.

Energy and area per PE come from `arch.tech` (by operation and node), not from this table: a PE type
names its arithmetic (`w_format` x `a_format` -> `acc_bits`), its throughput, and the dequantisation
work that the cost model must charge.  Three ways of handling group-quantised (int4/int2) weights:

- ``dequant="none"``: the PE multiplies its operands as they come (int8, fp16, ternary, ...).
- ``dequant="in_loop"``: the conventional mixed-precision GEMM on hardware without native support
  (Zhang et al., "MixPE", arXiv 2411.16158, abstract and Sec. 1: GPUs and TPUs "lack native support for
  efficient mpGEMM, leading to inefficient dequantization operations in the main sequential loop").  Every weight
  use is first dequantised, ``w' = (w - z) * s``, which is one multiply and one add in the activation's
  format, i.e. one more pass through the PE's own multiplier and adder (``dequant_passes = 1``) before
  the MAC.  So such a PE finishes ``macs_per_cycle / (1 + dequant_passes)`` MACs per cycle on ops with
  quantised weights, and full rate on ops without (attention on activations).  Its area is that of the
  plain MAC PE plus scale and zero-point registers (no extra arithmetic).
- ``dequant="in_loop"`` with ``dequant_passes=0``: the same per-weight dequantisation done by a dedicated
  dequantiser in front of a wider multiplier, so the PE keeps its full rate and pays in area instead
  (``w4a8-dequant-fullrate``, ``w2a8-dequant-fullrate``: `rtl/dequant_pe.v`, the RTL's area baseline for
  MixPE, whose synthesised area `arch.tech` uses; energy per MAC by the in-loop rule, the wider multiplier
  not priced separately).
- ``dequant="per_group"``: MixPE (arXiv 2411.16158, abstract and Sec. 1): scale and zero point are shared by a
  quantisation group, so the PE accumulates the integer products of one group and the partial sum is
  dequantised once per group, by one dequantiser per array column (``dequant_format`` arithmetic:
  multiply by the scale, add into the output).  The low-bit weight times the activation is formed by
  shift-and-add (``multiplier="shift_add"``), not by a multiplier.

`macs_per_cycle` is the native rate; `pipeline_depth` the PE's stages (adds ``depth - 1`` cycles per
fold to the systolic wavefront).

Precision-scalable PEs (``slice_bits``, ``fused_bits``)
-------------------------------------------------------
A PE with ``slice_bits = s`` and ``fused_bits = f`` is built from ``(f / s)^2`` multipliers of ``s x s`` bits
that fuse spatially into one ``f x f`` MAC or split into several narrower ones: BitFusion's Fusion Unit of
sixteen 2-bit BitBricks (Sharma et al., "Bit Fusion", ISCA 2018, Sec. 3, and act-lab.org/artifacts/bitfusion:
bricks fuse in powers of 2 into 1, 2, 4, 8 or 16 fused PEs, one 8x8, two 8x4 / 4x8, four 4x4 or 2x8, eight 4x2,
sixteen 2x2 products per cycle; 16-bit operands take several cycles).  Each operand of ``b``
bits occupies ``n(b)`` slices, ``ceil(b / s)`` rounded up to a power of two (bricks fuse in groups of 1, 2,
4, ...), so it is split ``(f / s) / n(b)`` ways, and

    macs_per_cycle_at(w_bits, a_bits) = macs_per_cycle * ((f / s) / n(w_bits)) * ((f / s) / n(a_bits))

(a fraction below 1 when an operand is wider than ``f``: temporal iteration).  BitFusion (s = 2, f = 8):
8x8 -> 1, 4x8 -> 2, 4x4 -> 4, 2x8 -> 4, 2x2 -> 16, 16x16 -> 1/4.  The MixPE authors' simulator
(github.com/yuzhang712/mixpe_simulator @ 769f0c85, a fork of BitFusion's, ``bitfusion/src/simulator/
simulator.py``, ``get_perf_factor``) uses ``int(pmax / max(iprec, pmin)) * int(pmax / max(wprec, pmin))`` with
``pmax = high_prec``, ``pmin = low_prec`` of its ``conf_*.ini``: the same rule with ``f = pmax`` and
``s = pmin`` for every operand up to ``pmax`` bits.  Energy: such a PE spends one full-width operation's
energy per cycle whatever the split (the authors' simulator charges core energy per PE per cycle), so the
cost model counts ``macs / split`` PE operations for energy (`sim.systolic`); area is that of the ``f x f``
PE.  Such PEs multiply integers (ternary codes as 2-bit integers); float operands are taken at their storage
width as fixed point (see `sim.systolic`).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, NonNegativeFloat, PositiveFloat, PositiveInt, model_validator

IN_LOOP_SOURCE = ("arXiv 2411.16158 abstract and Sec. 1 (dequantisation in the main loop on hardware without "
                  "mpGEMM support): one extra multiply-add pass per weight use on the PE's own datapath")
MIXPE_SOURCE = ("arXiv 2411.16158 abstract and Sec. 1: shift-and-add multiplication, dequantisation once per group "
                "after its GEMM")


class PEType(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    w_format: str
    a_format: str
    acc_bits: PositiveInt
    macs_per_cycle: PositiveFloat = 1.0
    pipeline_depth: PositiveInt = 1
    dequant: str = Field("none", description="none | in_loop (per weight use) | per_group (after the group's GEMM)")
    dequant_passes: NonNegativeFloat = Field(
        0.0, description="in_loop: extra datapath passes per MAC spent dequantising the weight")
    dequant_format: str | None = Field(
        None, description="format of the dequantisation arithmetic (one mult + one add); None: no dequant")
    multiplier: str = Field("array", description="array | shift_add | adder (ternary) | bitbrick (fused slices)")
    slice_bits: PositiveInt | None = Field(
        None, description="precision-scalable PE: operand bits of one slice multiplier (BitFusion's 2-bit BitBrick)")
    fused_bits: PositiveInt | None = Field(
        None, description="precision-scalable PE: operand bits of one full-rate MAC (the slices fused; BitFusion: 8)")
    description: str = ""
    source: str = ""

    @model_validator(mode="after")
    def _fusion(self) -> "PEType":
        s, f = self.slice_bits, self.fused_bits
        if (s is None) != (f is None):
            raise ValueError(f"PE type {self.name!r}: slice_bits={s!r} and fused_bits={f!r}: expected both or neither")
        if s is not None and (f % s or (f // s) & (f // s - 1)):
            raise ValueError(f"PE type {self.name!r}: fused_bits={f} over slice_bits={s}: expected a power-of-two "
                             "multiple (slices fuse in groups of 1, 2, 4, ...)")
        return self

    @property
    def scalable(self) -> bool:
        """Whether the PE's rate depends on the operand widths (``slice_bits``/``fused_bits`` set)."""
        return self.slice_bits is not None

    def split(self, bits: int) -> float:
        """How many operands of `bits` bits one fused operand lane holds (module docstring): ``(f / s) / n``,
        ``n = ceil(bits / s)`` rounded up to a power of two; 1 for a fixed-rate PE."""
        if self.slice_bits is None or self.fused_bits is None:
            return 1.0
        if isinstance(bits, bool) or not isinstance(bits, int) or bits <= 0:
            raise ValueError(f"PE type {self.name!r}: operand bits {bits!r}; expected a positive integer")
        n = 1 << (-(-bits // self.slice_bits) - 1).bit_length()
        return (self.fused_bits // self.slice_bits) / n

    def macs_per_cycle_at(self, w_bits: int, a_bits: int) -> float:
        """MACs per PE per cycle on `w_bits` x `a_bits` operands: `macs_per_cycle` times the split of each
        operand (module docstring); `macs_per_cycle` for a fixed-rate PE."""
        return self.macs_per_cycle * self.split(w_bits) * self.split(a_bits)


def _in_loop(name: str, w: str, a: str) -> PEType:
    return PEType(name=name, w_format=w, a_format=a, acc_bits=32, dequant="in_loop", dequant_passes=1.0,
                  dequant_format=a, source=IN_LOOP_SOURCE,
                  description=f"{w} weight dequantised to {a} on the PE's own datapath before each {a} MAC")


FULLRATE_SOURCE = ("rtl/dequant_pe.v: a dedicated dequantiser per PE, (q - zero) * scale, in front of an int8 x wide "
                   "multiplier; full rate (assumed design point: dequantisation in the loop, arXiv 2411.16158 Sec. 1, "
                   "without the throughput cost)")


def _fullrate(name: str, w: str, a: str) -> PEType:
    return PEType(name=name, w_format=w, a_format=a, acc_bits=32, dequant="in_loop", dequant_passes=0.0,
                  dequant_format=a, source=FULLRATE_SOURCE,
                  description=f"{w} weight dequantised by the PE's own dequantiser, then a full-rate {a} MAC")


def _mixpe(name: str, w: str, a: str) -> PEType:
    return PEType(name=name, w_format=w, a_format=a, acc_bits=32, dequant="per_group", dequant_format="fp32",
                  multiplier="shift_add", source=MIXPE_SOURCE,
                  description=f"MixPE: {w} x {a} by shift-and-add, one fp32 dequantisation per group and output")


BITFUSION_SOURCE = (
    "Sharma et al., 'Bit Fusion', ISCA 2018, Sec. 3, and its artifact page act-lab.org/artifacts/bitfusion (a Fusion "
    "Unit of 16 2-bit BitBricks fuses in powers of 2 into 1, 2, 4, 8 or 16 F-PEs: one 8x8, four 2x8 / 4x4 / 8x2, "
    "sixteen 2x2 MACs per cycle); the MixPE authors' simulator runs it as its "
    "conf_bitfusion.ini (high_prec 8, low_prec 4; github.com/yuzhang712/mixpe_simulator @ 769f0c85).  Area: "
    "synthesised rtl/bitfusion_fu.v (2-bit slices, shift-add tree, accumulator; arch.tech SYNTH_PE).  Energy per "
    "cycle: one int8 MAC by the arch.tech rules, whatever the split (assumed)")
ANT_SOURCE = (
    "Guo et al., 'ANT: Exploiting Adaptive Numerical Data Type for Low-bit DNN Quantization', MICRO 2022: 4-bit "
    "adaptive-type (int4 / flint4 / PoT4) PEs whose decoded products are int multiplications, four of them fused "
    "into one 8-bit MAC (slice 4, fused 8); as the MixPE authors' simulator runs ANT (bench ant_bench.py: 4-bit "
    "layers plus 8-bit outlier GEMMs, perf factor int(8/max(b,4)) per operand, @ 769f0c85).  Area: synthesised "
    "rtl/bitfusion_fu.v with 4-bit slices (ant_fu; arch.tech SYNTH_PE; the int4/flint4/PoT4 type decoders not "
    "priced).  Energy per cycle: one int8 MAC by the arch.tech rules (assumed)")
MIXPE_PACKED_SOURCE = (
    "MixPE W4A8 as the authors' simulator runs it (github.com/yuzhang712/mixpe_simulator @ 769f0c85, "
    "conf_mixint.ini: high_prec 8, low_prec 4, so int(8/4) = 2 four-bit weights per 8-bit lane): a shift-and-add "
    "PE over an 8-bit weight lane that takes two int4 weights per cycle, per-group dequantisation as mixpe-w4a8 "
    "(arXiv 2411.16158 Sec. 1); area: synthesised rtl/mixpe_pe.v at 8-bit weights less its dequantiser "
    "(arch.tech SYNTH_PE); energy: the shift-and-add PE's 7 adds per cycle (arch.tech rule)")

PE_TYPES: dict[str, PEType] = {
    p.name: p
    for p in [
        PEType(name="int8", w_format="int8", a_format="int8", acc_bits=32, description="int8 x int8 -> int32 MAC"),
        PEType(name="int16", w_format="int16", a_format="int16", acc_bits=32,
               description="16-bit fixed-point MAC, 32-bit accumulate (Eyeriss-style)"),
        PEType(name="fp16", w_format="fp16", a_format="fp16", acc_bits=32, description="fp16 MAC, fp32 accumulate"),
        PEType(name="bf16", w_format="bf16", a_format="bf16", acc_bits=32, description="bf16 MAC, fp32 accumulate"),
        PEType(name="fp32", w_format="fp32", a_format="fp32", acc_bits=32, description="fp32 MAC"),
        _in_loop("w4a8-dequant", "int4", "int8"),
        _in_loop("w4a16-dequant", "int4", "fp16"),
        _in_loop("w2a8-dequant", "int2", "int8"),
        _fullrate("w4a8-dequant-fullrate", "int4", "int8"),
        _fullrate("w2a8-dequant-fullrate", "int2", "int8"),
        _mixpe("mixpe-w4a8", "int4", "int8"),
        _mixpe("mixpe-w4a16", "int4", "fp16"),
        _mixpe("mixpe-w2a8", "int2", "int8"),
        PEType(name="ternary", w_format="ternary", a_format="int8", acc_bits=32, multiplier="adder",
               description="ternary (-1/0/+1) weight: add, subtract or skip"),
        PEType(name="bitfusion", w_format="int8", a_format="int8", acc_bits=32, multiplier="bitbrick", slice_bits=2,
               fused_bits=8, source=BITFUSION_SOURCE,
               description="BitFusion Fusion Unit: 16 2-bit BitBricks, 16 / (n(w) n(a)) MACs per cycle"),
        PEType(name="ant", w_format="int8", a_format="int8", acc_bits=32, multiplier="bitbrick", slice_bits=4,
               fused_bits=8, source=ANT_SOURCE,
               description="ANT: four 4-bit adaptive-type PEs fused into one 8-bit MAC; 4x4 -> 4, 4x8 -> 2 MACs/cycle"),
        PEType(name="mixpe-packed", w_format="int8", a_format="int8", acc_bits=32, dequant="per_group",
               dequant_format="fp32", multiplier="shift_add", slice_bits=4, fused_bits=8, source=MIXPE_PACKED_SOURCE,
               description="MixPE with an 8-bit shift-add lane packing two int4 weights: W4A8 -> 2 MACs/cycle"),
    ]
}
