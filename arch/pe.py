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
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, NonNegativeFloat, PositiveFloat, PositiveInt

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
    multiplier: str = Field("array", description="array | shift_add | adder (ternary)")
    description: str = ""
    source: str = ""


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
    ]
}
