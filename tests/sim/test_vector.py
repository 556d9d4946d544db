"""Purpose: pin `sim.vector`'s formulas (module docstring): compute bound ceil(flops / (lanes x
flops_per_lane x count)), on-chip bandwidth bound, counts, utilisation, EMBED's row reads, and which
kinds the family registers."""

from __future__ import annotations

import math

import pytest

from arch.spec import Accelerator, MemoryTier, Tech, VectorUnit
from sim.cost import supports
from sim.vector import cost
from workloads import Op, OpKind, eltwise, norm, softmax


def machine(lanes=16, count=1, fplpc=1.0, *, onchip_bpc=64, onchip_gbps=None, onchip=True, clock=1e9):
    unit = VectorUnit(name="vpu", lanes=lanes, count=count, flops_per_lane_per_cycle=fplpc)
    memory = [MemoryTier(name="dram", kind="hbm2", capacity_bytes="8GiB", bandwidth_gbps=100)]
    if onchip:
        memory.insert(0, MemoryTier(name="buf", kind="sram", capacity_bytes="1MiB", read_bytes_per_cycle=onchip_bpc,
                                    bandwidth_gbps=onchip_gbps))
    return Accelerator(name="v", tech=Tech(node_nm=16, clock_hz=clock), units=[unit], memory=memory)


def run(op, acc):
    return cost(op, acc.units[0], acc)


def test_compute_bound_softmax():
    op = softmax(64, 1000)  # 5 flops per element -> 320,000 flops; 256,000 bytes
    acc = machine(lanes=16, count=2, fplpc=2.0, onchip_bpc=4096)
    c = run(op, acc)
    assert op.flops == 320_000
    assert c.compute_cycles == math.ceil(320_000 / (16 * 2 * 2)) == 5000
    assert c.cycles == 5000 and c.stall_cycles == 0
    assert c.utilization == 1.0


def test_bandwidth_bound_eltwise():
    op = eltwise(100, 100, inputs=2, flops_per_elem=1)  # 10^4 flops; 2 inputs + 1 output, fp16: 60,000 bytes
    acc = machine(lanes=64, onchip_bpc=7)
    c = run(op, acc)
    assert c.compute_cycles == math.ceil(10_000 / 64) == 157
    assert c.cycles == math.ceil(60_000 / 7) == 8572
    assert c.stall_cycles == 8572 - 157
    assert c.utilization == pytest.approx(10_000 / (64 * 8572))
    assert c.tier_bytes == {"buf": 60_000}
    assert c.counts == {"vector_flop": 10_000, "sram_read_bytes": 40_000, "sram_write_bytes": 20_000}


def test_bandwidth_from_gbps_when_no_port_width():
    acc = machine(lanes=64, onchip_bpc=None, onchip_gbps=8.0, clock=1e9)  # 8 bytes per cycle
    c = run(eltwise(100, 100), acc)
    assert c.cycles == math.ceil(60_000 / 8)


def test_norm_reads_its_parameters():
    op = norm(32, 512, affine=2)  # LayerNorm: gain and bias per column
    c = run(op, machine(onchip_bpc=10**6))
    assert c.counts["sram_read_bytes"] == 32 * 512 * 2 + 2 * 512 * 2
    assert c.counts["sram_write_bytes"] == 32 * 512 * 2
    assert c.compute_cycles == math.ceil(32 * 512 * 7 / 16)


def test_embed_costs_its_row_reads_from_dram():
    op = Op("tok", OpKind.EMBED, {"tokens": 8, "vocab": 32000, "hidden": 4096})  # fp16 rows
    c = run(op, machine(onchip_bpc=64))
    rows = 8 * 4096 * 2
    assert c.compute_cycles == 0
    assert c.tier_bytes == {"buf": 8 * 4 + rows, "dram": rows}
    assert c.counts == {"vector_flop": 0, "sram_read_bytes": 32, "sram_write_bytes": rows,
                        "dram_read_bytes": rows, "dram_write_bytes": 0}
    assert c.cycles == math.ceil((32 + rows) / 64)


def test_without_onchip_tier_everything_streams_from_dram():
    op = eltwise(10, 10)
    c = run(op, machine(onchip=False))
    assert c.tier_bytes == {"dram": 600}
    assert c.counts["dram_read_bytes"] == 400 and c.counts["dram_write_bytes"] == 200
    assert c.cycles == c.compute_cycles == math.ceil(100 / 16)


def test_empty_op_costs_nothing():
    c = run(eltwise(0, 10), machine())
    assert (c.cycles, c.utilization) == (0, 0.0)


def test_registered_kinds():
    for kind in (OpKind.SOFTMAX, OpKind.NORM, OpKind.ELTWISE, OpKind.POOL, OpKind.EMBED, OpKind.SCAN):
        assert supports("vector", kind)
    for kind in (OpKind.GEMM, OpKind.ATTN_SCORE, OpKind.CONV2D):
        assert not supports("vector", kind)
