"""Purpose: pin `sim.ppa`'s accounting (energy = counts x `arch.tech` table values, area sums, leakage,
power = energy / latency) and the `Result` built by `sim.simulate` (columns, summary keys, JSON and
Parquet round trips)."""

from __future__ import annotations

import pandas as pd
import pytest

import arch
import sim
from arch import tech
from arch.spec import Accelerator, MemoryTier, RduUnit, SystolicArray, Tech, VectorUnit
from sim import Result
from sim.cost import OpCost
from sim.ppa import ENERGY_COMPONENTS, area_breakdown, area_notes, op_energy
from sim.systolic import cost as systolic_cost
from workloads import Graph, gemm, norm, softmax

NODE = 28


def machine(*, dram_pj_per_bit=None, extra_units=(), overhead=0.1) -> Accelerator:
    return Accelerator(
        name="small", tech=Tech(node_nm=NODE, clock_hz=1e9), area_overhead_fraction=overhead,
        units=[SystolicArray(name="sa", rows=8, cols=8, dataflow="os", pe="int8", ifmap_sram_bytes="64KiB",
                             filter_sram_bytes="64KiB", ofmap_sram_bytes="32KiB"),
               VectorUnit(name="vpu", lanes=8, precision="fp16"), *extra_units],
        memory=[MemoryTier(name="buf", kind="sram", capacity_bytes="256KiB", read_bytes_per_cycle=32),
                MemoryTier(name="dram", kind="ddr4", capacity_bytes="1GiB", bandwidth_gbps=16,
                           energy_pj_per_bit=dram_pj_per_bit)])


def pj(component, action, **attrs) -> float:
    return tech.energy_pj(component, action, node_nm=NODE, **attrs).value


def test_energy_is_counts_times_table_values():
    acc = machine()
    unit = acc.unit("sa")
    c = systolic_cost(gemm(16, 16, 16, dtype="int8"), unit, acc)
    e = op_energy(c, unit, acc)
    rd = pj("sram", "read", capacity_bytes=256 * 1024)
    wr = pj("sram", "write", capacity_bytes=256 * 1024)
    assert e["mac"] == pytest.approx(16**3 * pj("mac", "compute", pe_type="int8"))
    assert e["sram"] == pytest.approx(c.counts["sram_read_bytes"] * rd + c.counts["sram_write_bytes"] * wr)
    assert e["dram"] == pytest.approx(c.tier_bytes["dram"] * tech.energy_pj("dram", "access", kind="ddr4").value)
    assert e["vector"] == e["dequant"] == 0.0


def test_hand_counted_op_energy():
    acc = machine()
    c = OpCost(unit="vpu", cycles=1, compute_cycles=1, tier_bytes={"buf": 30.0, "dram": 5.0},
               counts={"vector_flop": 7, "sram_read_bytes": 20, "sram_write_bytes": 10})
    e = op_energy(c, acc.unit("vpu"), acc)
    assert e == pytest.approx({
        "mac": 0.0, "dequant": 0.0,
        "vector": 7 * pj("vector", "flop", fmt="fp16"),
        "sram": 20 * pj("sram", "read", capacity_bytes=2**18) + 10 * pj("sram", "write", capacity_bytes=2**18),
        "dram": 5 * 15.0 * 8,  # ddr4: 15 pJ/bit in arch.tech
    })


def test_tier_energy_per_bit_overrides_the_table():
    acc = machine(dram_pj_per_bit=2.0)
    c = OpCost(unit="sa", cycles=1, compute_cycles=1, tier_bytes={"dram": 100.0})
    assert op_energy(c, acc.unit("sa"), acc)["dram"] == 100 * 2.0 * 8


def test_area_sums_blocks_plus_overhead():
    acc = machine(overhead=0.25)
    a = area_breakdown(acc)
    pe = 64 * tech.area_mm2("pe", node_nm=NODE, pe_type="int8").value
    lanes = 8 * tech.area_mm2("vector_lane", node_nm=NODE, fmt="fp16").value
    sram = sum(tech.area_mm2("sram", node_nm=NODE, capacity_bytes=b).value for b in (2**16, 2**16, 2**15, 2**18))
    assert a["pe_mm2"] == pytest.approx(pe)
    assert a["vector_mm2"] == pytest.approx(lanes)
    assert a["sram_mm2"] == pytest.approx(sram)
    assert a["overhead_mm2"] == pytest.approx(0.25 * (pe + lanes + sram))
    assert a["total_mm2"] == pytest.approx(1.25 * (pe + lanes + sram))


def test_unit_without_area_story_counts_zero_with_a_note():
    rdu = RduUnit(name="rdu", pcus=4, pmus=4, pmu_bytes=1024, flops_per_pcu_per_cycle=1.0)
    acc = machine(extra_units=[rdu])
    assert area_breakdown(acc) == area_breakdown(machine())
    assert any("'rdu'" in n for n in area_notes(acc))
    assert area_notes(machine()) == []


def graph() -> Graph:
    g = Graph("tiny", meta={"batch": 2, "tokens": 64})
    a = g.add(gemm(64, 64, 64, dtype="int8", name="mm", layer=0))
    b = g.add(softmax(64, 64, name="sm", layer=0), [a])
    g.add(norm(64, 64, name="ln", layer=1), [b])
    return g


def test_summary_power_energy_and_leakage():
    acc = machine()
    r = sim.simulate(graph(), acc)
    s, df = r.summary, r.per_op
    comps = [f"energy_{k}_j" for k in ENERGY_COMPONENTS]
    assert s["energy_j"] == pytest.approx(sum(s[c] for c in comps))
    assert s["energy_j"] == pytest.approx(df["energy_j"].sum())
    for c in comps:
        assert s[c] == pytest.approx(df[c].sum())
    assert s["power_w"] == pytest.approx(s["energy_j"] / s["latency_s"])
    leak = tech.leakage_w_per_mm2(NODE).value * s["area_mm2"]
    assert s["leakage_w"] == pytest.approx(leak)
    assert s["energy_leakage_j"] == pytest.approx(leak * s["latency_s"])
    assert s["latency_s"] == df["end_s"].max()
    assert s["cycles"] == round(s["latency_s"] * 1e9)
    assert s["throughput"] == pytest.approx(2 / s["latency_s"])
    assert s["tokens_per_s"] == pytest.approx(64 / s["latency_s"])
    assert s["flops"] == graph().flops and s["macs"] == 64**3
    assert s["dram_bytes"] == df["bytes_dram"].sum()
    mm = df.set_index("name").loc["mm"]
    assert s["utilization"] == pytest.approx(mm["utilization"] * mm["cycles"] / s["cycles"])


def test_per_op_table_columns():
    df = sim.simulate(graph(), machine()).per_op
    assert list(df["name"]) == ["mm", "sm", "ln"]
    assert list(df["unit"]) == ["sa", "vpu", "vpu"]
    assert list(df["kind"]) == ["gemm", "softmax", "norm"]
    assert list(df["tag_layer"]) == [0, 0, 1]
    for col in ("start_s", "end_s", "latency_s", "cycles", "compute_cycles", "stall_cycles", "flops", "macs",
                "bytes_buf", "bytes_dram", "utilization", "energy_j", *(f"energy_{k}_j" for k in ENERGY_COMPONENTS)):
        assert col in df.columns
    assert (df["latency_s"] == df["end_s"] - df["start_s"]).all()


def test_single_op_is_a_one_node_graph():
    r = sim.simulate(gemm(32, 32, 32, dtype="int8", name="g"), machine())
    assert list(r.per_op["name"]) == ["g"] and r.summary["ops"] == 1 and r.trace == []


def test_simulate_rejects_yaml_paths_and_other_things():
    with pytest.raises(TypeError, match="arch.load"):
        sim.simulate(gemm(4, 4, 4), "tpu-v1")
    with pytest.raises(TypeError, match="Graph or Op"):
        sim.simulate([gemm(4, 4, 4)], arch.load("tpu-v1"))


def test_json_round_trip(tmp_path):
    r = sim.simulate(graph(), machine(), trace=True)
    assert {e["op"] for e in r.trace} == {"mm", "sm", "ln"}
    back = Result.from_json(r.to_json(tmp_path / "r.json"))
    pd.testing.assert_frame_equal(back.per_op, r.per_op)
    assert back.summary == r.summary
    assert back.trace == r.trace


def test_parquet_round_trip(tmp_path):
    r = sim.simulate(graph(), machine(), trace=True)
    r.to_parquet(tmp_path / "run")
    back = Result.from_parquet(tmp_path / "run")
    pd.testing.assert_frame_equal(back.per_op, r.per_op)
    assert back.summary == r.summary and back.trace == r.trace
