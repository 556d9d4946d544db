"""Purpose: pin how the systolic cost model and the PPA accounting use a PE type (`arch.pe`): throughput
per PE per cycle (in-loop dequantisation halves it on quantised weights only), MixPE's one dequantisation
per group and output and its drain bound, operand traffic at the op's precisions (int4 weights with their
scales vs int8), and dequant energy and area."""

from __future__ import annotations

import math

import pytest

from arch import tech
from arch.pe import PE_TYPES
from arch.spec import Accelerator, MemoryTier, SystolicArray, Tech, VectorUnit
from sim.ppa import area_breakdown, op_energy
from sim.systolic import gemm_cycles, weight_groups
from sim.systolic import cost as systolic_cost
from workloads import attention, gemm
from workloads.op import GROUP_SCALE_BITS

NODE = 28


def machine(pe: str, *, rows: int = 16, cols: int = 16, dataflow: str = "os", big: bool = True) -> Accelerator:
    buf = "64MiB" if big else "16KiB"
    return Accelerator(
        name="pe-test", tech=Tech(node_nm=NODE, clock_hz=1e9),
        units=[SystolicArray(name="sa", rows=rows, cols=cols, dataflow=dataflow, pe=pe, ifmap_sram_bytes=buf,
                             filter_sram_bytes=buf, ofmap_sram_bytes=buf),
               VectorUnit(name="vpu", lanes=16, precision="fp16")],
        memory=[MemoryTier(name="buf", kind="sram", capacity_bytes="256KiB", read_bytes_per_cycle=64),
                MemoryTier(name="dram", kind="hbm2", capacity_bytes="1GiB", bandwidth_gbps=1e6)])


def run(op, pe: str, **kw):
    acc = machine(pe, **kw)
    unit = acc.unit("sa")
    c = systolic_cost(op, unit, acc)
    return c, op_energy(c, unit, acc), acc


def w4(m=64, n=64, k=512, a="int8", g=128):
    return gemm(m, n, k, w_format="int4", a_format=a, group_size=g)


def pj(component, action, **attrs) -> float:
    return tech.energy_pj(component, action, node_nm=NODE, **attrs).value


# ---- which ops are quantised --------------------------------------------------------------------------------

def test_weight_groups_is_k_over_group_size_for_integer_weights_only():
    assert weight_groups(w4(k=512, g=128)) == 4
    assert weight_groups(w4(k=500, g=128)) == 4  # a partial last group still needs its dequantisation
    assert weight_groups(gemm(8, 8, 512, w_format="int4", a_format="int8")) == 1  # per-channel scales
    assert weight_groups(gemm(8, 8, 512, dtype="int8")) is None  # int8 x int8: nothing to dequantise
    assert weight_groups(gemm(8, 8, 512, dtype="fp16")) is None
    assert weight_groups(gemm(8, 8, 512, w_format="ternary", a_format="int8")) is None
    assert weight_groups(attention(16, 16, 64, heads=2, part="score", dtype="int8")) is None


# ---- throughput and pipeline depth --------------------------------------------------------------------------

def test_in_loop_dequant_pe_runs_at_half_rate_on_quantised_weights():
    op = w4()
    c_mix, _, _ = run(op, "mixpe-w4a8")
    c_dq, _, _ = run(op, "w4a8-dequant")
    rows = cols = 16
    assert PE_TYPES["w4a8-dequant"].dequant_passes == 1
    assert c_mix.compute_cycles == gemm_cycles(64, 64, 512, rows, cols, "os")
    assert c_dq.compute_cycles == gemm_cycles(64, 64, 512, rows, cols, "os", macs_per_cycle=0.5)
    assert c_dq.utilization == pytest.approx(c_mix.utilization * c_mix.cycles / c_dq.cycles)
    assert c_dq.utilization < 0.5


def test_in_loop_dequant_pe_runs_at_full_rate_without_quantised_weights():
    op = attention(64, 64, 64, heads=2, part="score", dtype="fp16")
    c_dq, e_dq, _ = run(op, "w4a16-dequant")
    c_fp, e_fp, _ = run(op, "fp16")
    assert c_dq.cycles == c_fp.cycles
    assert "dequant" not in c_dq.counts
    assert e_dq["dequant"] == 0.0
    assert e_dq["mac"] == pytest.approx(e_fp["mac"])  # the in-loop share is not charged


def test_pipeline_depth_adds_cycles_per_fold():
    base = gemm_cycles(64, 64, 64, 16, 16, "os")
    assert gemm_cycles(64, 64, 64, 16, 16, "os", pipeline_depth=3) == base + 16 * 2


def test_min_stream_floors_each_fold():
    base = gemm_cycles(64, 64, 64, 16, 16, "os")
    assert gemm_cycles(64, 64, 64, 16, 16, "os", min_stream=64) == base
    assert gemm_cycles(64, 64, 64, 16, 16, "os", min_stream=100) == base + 16 * 36


# ---- MixPE: dequantise once per group -----------------------------------------------------------------------

def test_mixpe_dequantises_once_per_group_and_output():
    op = w4(m=64, n=48, k=512, g=128)
    c, e, _ = run(op, "mixpe-w4a8")
    assert c.counts["dequant"] == 64 * 48 * (512 // 128)
    fmt = PE_TYPES["mixpe-w4a8"].dequant_format
    assert e["dequant"] == pytest.approx(c.counts["dequant"] * pj("dequant", "compute", fmt=fmt))
    assert e["mac"] == pytest.approx(c.counts["mac"] * pj("mac", "compute", pe_type="mixpe-w4a8"))


def test_in_loop_pe_dequantises_every_weight_use():
    op = w4(m=64, n=48, k=512)
    c, e, _ = run(op, "w4a16-dequant")
    assert c.counts["dequant"] == c.counts["mac"] == 64 * 48 * 512
    whole = c.counts["mac"] * pj("mac", "compute", pe_type="w4a16-dequant")  # the tech figure holds the dequant
    assert e["mac"] + e["dequant"] == pytest.approx(whole)
    assert e["dequant"] == pytest.approx(c.counts["mac"] * pj("dequant", "compute", fmt="fp16"))


def test_mixpe_per_channel_weights_dequantise_once_per_output():
    c, _, _ = run(gemm(32, 32, 256, w_format="int4", a_format="int8"), "mixpe-w4a8")
    assert c.counts["dequant"] == 32 * 32


def test_mixpe_drain_binds_when_rows_exceed_the_group():
    # 64 rows drain through one dequantiser per column: 64 cycles per group of 32 MACs (os)
    op = w4(m=64, n=64, k=256, g=32)
    c, _, _ = run(op, "mixpe-w4a8", rows=64, cols=64)
    groups = 256 // 32
    assert c.compute_cycles == gemm_cycles(64, 64, 256, 64, 64, "os", min_stream=groups * 64)
    assert c.compute_cycles > gemm_cycles(64, 64, 256, 64, 64, "os")
    # group of 128 >= 64 rows: the drain hides under the next group's MACs
    c2, _, _ = run(w4(m=64, n=64, k=256, g=128), "mixpe-w4a8", rows=64, cols=64)
    assert c2.compute_cycles == gemm_cycles(64, 64, 256, 64, 64, "os")


def test_mixpe_without_quantised_weights_has_no_dequant():
    c, e, _ = run(gemm(32, 32, 64, dtype="int8"), "mixpe-w4a8")
    assert "dequant" not in c.counts and e["dequant"] == 0.0


# ---- traffic at the operand precisions ----------------------------------------------------------------------

def test_int4_weights_move_half_the_bytes_of_int8_plus_scales():
    m, n, k, g = 16, 64, 1024, 128
    c8, _, _ = run(gemm(m, n, k, dtype="int8"), "int8", big=False)
    c4, _, _ = run(gemm(m, n, k, w_format="int4", a_format="int8", group_size=g), "mixpe-w4a8", big=False)
    c4n, _, _ = run(gemm(m, n, k, w_format="int4", a_format="int8"), "mixpe-w4a8", big=False)
    a8, _, _ = run(gemm(m, n, k, dtype="int8"), "int8", big=True)  # all resident: compulsory bytes
    a4, _, _ = run(gemm(m, n, k, w_format="int4", a_format="int8", group_size=g), "mixpe-w4a8", big=True)
    weight8 = k * n
    weight4 = k * n * (4 + (GROUP_SCALE_BITS + 4) / g) / 8
    assert a8.counts["dram_read_bytes"] - a4.counts["dram_read_bytes"] == pytest.approx(weight8 - weight4)
    assert weight4 / weight8 == pytest.approx(0.5 + (GROUP_SCALE_BITS + 4) / g / 8)
    # with small buffers the weights are fetched once per use: still the same ratio per fetch
    assert c4.counts["dram_read_bytes"] < c8.counts["dram_read_bytes"]
    assert c4n.counts["dram_read_bytes"] < c4.counts["dram_read_bytes"]  # no scales without groups


def test_w2_weights_move_fewer_bytes_than_w4():
    c4, _, _ = run(gemm(16, 64, 1024, w_format="int4", a_format="int8", group_size=128), "mixpe-w4a8")
    c2, _, _ = run(gemm(16, 64, 1024, w_format="int2", a_format="int8", group_size=128), "mixpe-w2a8")
    # 2 bits less per weight, and per group a zero point 2 bits narrower (the fp16 scale stays)
    saved = 1024 * 64 * (2 + 2 / 128) / 8
    assert c2.counts["dram_read_bytes"] == pytest.approx(c4.counts["dram_read_bytes"] - saved)


# ---- area ---------------------------------------------------------------------------------------------------

def test_mixpe_array_area_counts_one_dequantiser_per_column():
    acc = machine("mixpe-w4a8", rows=16, cols=8)
    pe = tech.area_mm2("pe", node_nm=NODE, pe_type="mixpe-w4a8").value
    dq = tech.area_mm2("dequant", node_nm=NODE, fmt=PE_TYPES["mixpe-w4a8"].dequant_format).value
    assert area_breakdown(acc)["pe_mm2"] == pytest.approx(16 * 8 * pe + 8 * dq)
    acc_dq = machine("w4a8-dequant", rows=16, cols=8)
    pe_dq = tech.area_mm2("pe", node_nm=NODE, pe_type="w4a8-dequant").value
    assert area_breakdown(acc_dq)["pe_mm2"] == pytest.approx(16 * 8 * pe_dq)


@pytest.mark.parametrize("pe", sorted(PE_TYPES))
def test_every_pe_type_runs_a_quantised_gemm(pe):
    c, e, acc = run(w4(m=32, n=32, k=256), pe)
    assert c.cycles > 0 and e["mac"] > 0
    assert area_breakdown(acc)["pe_mm2"] > 0


def test_mixpe_is_smaller_and_cheaper_than_its_in_loop_baseline():
    for mix, base in (("mixpe-w4a8", "w4a8-dequant"), ("mixpe-w4a16", "w4a16-dequant"),
                      ("mixpe-w2a8", "w2a8-dequant")):
        assert tech.area_mm2("pe", pe_type=mix).value < tech.area_mm2("pe", pe_type=base).value
        assert tech.energy_pj("mac", "compute", pe_type=mix).value < tech.energy_pj(
            "mac", "compute", pe_type=base).value
    # shift-add: w-1 adders, so a 2-bit weight needs one add and a 4-bit weight three
    assert "1 x 10-bit add" in tech.energy_pj("mac", "compute", pe_type="mixpe-w2a8").source
    assert "3 x 12-bit add" in tech.energy_pj("mac", "compute", pe_type="mixpe-w4a8").source
    assert "3 x 15-bit add" in tech.area_mm2("pe", pe_type="mixpe-w4a16").source  # no block: the table's rule
    assert math.isclose(PE_TYPES["mixpe-w4a16"].macs_per_cycle, 1.0)
