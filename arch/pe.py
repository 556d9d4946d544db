"""Processing-element types: what one PE multiplies and accumulates, and how fast.

Energy and area per PE come from `arch.tech` (by operation and node), not from this table: a PE type
names its arithmetic (`w_format` x `a_format` -> `acc_bits`), its throughput, and any per-group work
(dequantisation) that the cost model must charge.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, PositiveFloat, PositiveInt


class PEType(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    w_format: str
    a_format: str
    acc_bits: PositiveInt
    macs_per_cycle: PositiveFloat = 1.0
    pipeline_depth: PositiveInt = 1
    dequant: str = Field("none", description="none | in_loop (per weight) | per_group (after the group's GEMM)")
    multiplier: str = Field("array", description="array | shift_add | adder (ternary)")
    description: str = ""


PE_TYPES: dict[str, PEType] = {
    p.name: p
    for p in [
        PEType(name="int8", w_format="int8", a_format="int8", acc_bits=32, description="int8 x int8 -> int32 MAC"),
        PEType(name="int16", w_format="int16", a_format="int16", acc_bits=32,
               description="16-bit fixed-point MAC, 32-bit accumulate (Eyeriss-style)"),
        PEType(name="fp16", w_format="fp16", a_format="fp16", acc_bits=32, description="fp16 MAC, fp32 accumulate"),
        PEType(name="bf16", w_format="bf16", a_format="bf16", acc_bits=32, description="bf16 MAC, fp32 accumulate"),
        PEType(name="fp32", w_format="fp32", a_format="fp32", acc_bits=32, description="fp32 MAC"),
        PEType(name="w4a8-dequant", w_format="int4", a_format="int8", acc_bits=32, dequant="in_loop",
               description="int4 weight dequantised to int8 in the inner loop, then int8 MAC"),
        PEType(name="w4a16-dequant", w_format="int4", a_format="fp16", acc_bits=32, dequant="in_loop",
               description="int4 weight dequantised to fp16 in the inner loop, then fp16 MAC"),
        PEType(name="mixpe-w4a8", w_format="int4", a_format="int8", acc_bits=32, dequant="per_group",
               multiplier="shift_add", description="MixPE: int4 x int8 by shift-and-add, dequantise once per group"),
        PEType(name="mixpe-w4a16", w_format="int4", a_format="fp16", acc_bits=32, dequant="per_group",
               multiplier="shift_add", description="MixPE: int4 x fp16 by shift-and-add, dequantise once per group"),
        PEType(name="ternary", w_format="ternary", a_format="int8", acc_bits=32, multiplier="adder",
               description="ternary (-1/0/+1) weight: add, subtract or skip"),
    ]
}
