"""Vector-unit cost model: SIMD lanes running softmax, norms, element-wise ops, pooling, scans and
embedding lookups, bounded by compute or by on-chip bandwidth (a two-term roofline).

What it models
--------------
A `VectorUnit` has ``lanes`` lanes, each doing ``flops_per_lane_per_cycle`` operations per cycle;
its ``count`` instances split every op evenly (one op uses all of them, like the systolic model's
cores), so the peak is ``P = lanes * flops_per_lane_per_cycle * count`` FLOPs per cycle.  FLOPs per
op are the IR's convention (`workloads.op.VECTOR_FLOPS_PER_ELEM`, `SCAN_FLOPS_PER_ELEM`).

    compute_cycles = ceil(flops / P)
    memory_cycles  = ceil(onchip_bytes / B)         B = first on-chip tier's read_bytes_per_cycle,
                                                      or its bytes_per_s / clock_hz
    cycles         = max(compute_cycles, memory_cycles)
    stall_cycles   = cycles - compute_cycles
    utilization    = flops / (P * cycles)

Operands live in the first on-chip tier: ``onchip_bytes = op.bytes`` (inputs and parameters read,
outputs written once), counted as ``sram_read_bytes = input_bytes + weight_bytes`` and
``sram_write_bytes = output_bytes``.

EMBED has no FLOPs and costs its row reads: the ``tokens`` rows it gathers (``op.weight_bytes``)
come from the first off-chip tier when there is one (``tier_bytes[dram]`` and ``dram_read_bytes``,
so the engine's DMA charges their transfer time; the table is assumed too large for SRAM), and are
written to the on-chip tier as the op's output; the token ids are read on chip.  Without an
off-chip tier the rows are read on chip as well.  Without any on-chip tier, all traffic goes to the
first off-chip tier (no on-chip bound; the engine's DMA charges it).

Counts: ``vector_flop``, ``sram_read_bytes``, ``sram_write_bytes`` (plus ``dram_read_bytes`` for
EMBED rows).

Left out: per-function costs (exp vs add), reductions' log-depth trees, lane under-fill of short
rows, and spills of activations larger than the on-chip tier.
"""

from __future__ import annotations

import math

from sim.cost import OpCost, cost_model
from workloads.op import Op, OpKind

KINDS = frozenset({OpKind.SOFTMAX, OpKind.NORM, OpKind.ELTWISE, OpKind.POOL, OpKind.EMBED, OpKind.SCAN})


def onchip_bytes_per_cycle(accelerator) -> float | None:
    """Bytes per core cycle of the first on-chip tier (None when there is none)."""
    if not accelerator.on_chip:
        return None
    tier = accelerator.on_chip[0]
    if tier.read_bytes_per_cycle is not None:
        return float(tier.read_bytes_per_cycle)
    return tier.bytes_per_s(accelerator.tech.clock_hz) / accelerator.tech.clock_hz


def peak_flops_per_cycle(unit) -> float:
    return unit.lanes * unit.flops_per_lane_per_cycle * unit.count


@cost_model("vector", kinds=KINDS)
def cost(op: Op, unit, accelerator) -> OpCost:
    """Cost of `op` on a `VectorUnit` of `accelerator` (model: module docstring)."""
    peak = peak_flops_per_cycle(unit)
    flops = op.flops
    compute = math.ceil(flops / peak) if flops else 0
    on = accelerator.on_chip[0] if accelerator.on_chip else None
    off = accelerator.off_chip[0] if accelerator.off_chip else None

    dram_read = 0.0
    if op.kind is OpKind.EMBED:
        sram_read = op.input_bytes  # token ids
        sram_write = op.output_bytes  # gathered rows
        if off is not None and on is not None:
            dram_read = op.weight_bytes
        else:
            sram_read += op.weight_bytes
    else:
        sram_read = op.input_bytes + op.weight_bytes
        sram_write = op.output_bytes

    dram_write = 0.0
    if on is None:  # no on-chip memory: everything streams from (and to) the off-chip tier
        dram_read, dram_write = sram_read + dram_read, sram_write
        sram_read = sram_write = 0.0
        tier_bytes = {off.name: dram_read + dram_write} if off is not None else {}
        memory = 0
    else:
        tier_bytes = {on.name: sram_read + sram_write}
        if dram_read:
            tier_bytes[off.name] = dram_read
        memory = math.ceil((sram_read + sram_write) / onchip_bytes_per_cycle(accelerator))

    cycles = max(compute, memory)
    counts = {"vector_flop": float(flops), "sram_read_bytes": float(sram_read), "sram_write_bytes": float(sram_write)}
    if dram_read or dram_write:
        counts["dram_read_bytes"] = float(dram_read)
        counts["dram_write_bytes"] = float(dram_write)
    return OpCost(
        unit=unit.name, cycles=cycles, compute_cycles=compute, stall_cycles=cycles - compute,
        tier_bytes=tier_bytes, counts=counts,
        utilization=min(1.0, flops / (peak * cycles)) if cycles else 0.0,
    )
