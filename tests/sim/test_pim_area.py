"""Purpose: pin the PIM area and static-power model (`sim.ppa.pim_area`, `pim_static_w`, `arch.tech`'s
``pim_bank``) and the ``pim`` result pass that charges the PIM's static power and keeps its area in the total.

Figures used: the neupims preset (HBM2, 32 channels x 2 pseudo-channels x 16 banks = 1024 banks, 1 KiB rows,
16 fp16 multipliers per bank, 4 stacks of 8 dies of 92 mm^2), the duplex preset (107.26 TFLOP/s fp16 Logic-PIM,
5 HBM3 stacks, logic die at 16 nm and 1 GHz, assumed there), and arch.tech's tables (Horowitz 45 nm
arithmetic, NanGate DFF_X1, the DRAM-process factor of Pimba Sec. 6.1 at 20 nm, leakage densities).  Each expected value is recomputed here
from those tables, not copied from a run."""

from __future__ import annotations

import math

import pytest

import arch
import sim
from arch import tech
from sim.ppa import area_breakdown, area_notes, pim_area, pim_static_w
from workloads import Op, OpKind, gemm

BANKS = 1024
DFF = tech.REGISTER_45NM["area_um2_per_bit"] * 1e-6  # mm^2 per bit
DRAM_K = tech.dram_process_area_factor()[0]


def neupims(**unit):
    return arch.load("neupims", {f"units.pim.{k}": v for k, v in unit.items()})


def test_pim_bank_is_multipliers_adder_tree_accumulator_registers_and_row_buffer():
    mult = tech.area_mm2("mult", fmt="fp16").value
    add = tech.area_mm2("add", fmt="fp16").value
    acc = tech.area_mm2("add", fmt="fp32").value
    for macs, row in ((16, 0), (16, 1024), (4, 2048)):
        want = (macs * mult + (macs - 1) * add + acc + (2 * macs * 16 + 32) * DFF + row * 8 * DFF) * DRAM_K
        got = tech.area_mm2("pim_bank", macs=macs, fmt="fp16", row_buffer_bytes=row)
        assert got.value == pytest.approx(want, rel=1e-12)
        assert "DRAM-process factor 2.47" in got.source and "Pimba" in got.source and "ISSCC 2021" in got.source
    # int8 banks: int8 multipliers and adders, int32 accumulator
    i8 = tech.area_mm2("pim_bank", macs=8, fmt="int8").value
    want = (8 * tech.area_mm2("mult", fmt="int8").value + 7 * tech.area_mm2("add", fmt="int8").value
            + tech.area_mm2("add", bits=32).value + (2 * 8 * 8 + 32) * DFF) * DRAM_K
    assert i8 == pytest.approx(want, rel=1e-12)


def test_dram_process_factor_is_the_published_penalty_times_20nm_logic_area():
    # Pimba (MICRO 2025) Sec. 6.1: memory processes 10x less dense than logic of the same feature size; the PIM die
    # a 20 nm DRAM (Kwon et al., ISSCC 2021); 20 nm logic area log-log between the table's 28 and 16 nm rows
    area = tech.NODE_SCALING["area"]
    slope = math.log(area[16] / area[28]) / math.log(16 / 28)
    logic_20 = area[28] * (20 / 28) ** slope
    assert logic_20 == pytest.approx(0.247, abs=5e-4)
    k, src = tech.dram_process_area_factor()
    assert k == pytest.approx(10 * logic_20, rel=1e-12) and k == pytest.approx(2.47, abs=5e-3)
    assert tech.DRAM_PROCESS_LOGIC["density_penalty_vs_same_node_logic"] == 10.0
    assert tech.DRAM_PROCESS_LOGIC["dram_feature_nm"] == 20
    assert "2507.10178" in src and "AttAcc" in src and "20nm" in src


def test_pim_static_power_prices_transistors_not_the_dram_process_spread():
    # the factor spreads the same transistors over more area: area x 2.47, leakage unchanged (sim.ppa docstring)
    acc = arch.load("neupims")
    assert pim_static_w(acc) == pytest.approx(tech.leakage_w_per_mm2(45).value * pim_area(acc)["pim_mm2"] / DRAM_K)
    assert DRAM_K > 2


def test_pim_bank_ignores_the_accelerator_node():
    a45 = tech.area_mm2("pim_bank", macs=16, fmt="fp16", node_nm=45).value
    a7 = tech.area_mm2("pim_bank", macs=16, fmt="fp16", node_nm=7).value
    assert a45 == a7


@pytest.mark.parametrize("attrs, field", [
    ({"macs": 0, "fmt": "fp16"}, "macs=0"),
    ({"macs": 2.5, "fmt": "fp16"}, "macs=2.5"),
    ({"macs": 16, "fmt": "fp99"}, "fp99"),
    ({"macs": 16, "fmt": "ternary"}, "ternary"),
    ({"macs": 16, "fmt": "fp16", "row_buffer_bytes": -1}, "row_buffer_bytes=-1"),
    ({"macs": 16, "fmt": "fp16", "rows": 3}, "rows"),
])
def test_pim_bank_bad_input_names_the_field(attrs, field):
    with pytest.raises(ValueError, match=field.replace(".", r"\.")):
        tech.area_mm2("pim_bank", **attrs)


def test_in_bank_area_scales_with_macs_per_bank():
    areas = {m: pim_area(neupims(macs_per_cycle_per_bank=m))["pim_mm2"] for m in (4, 8, 16, 32)}
    assert areas[4] < areas[8] < areas[16] < areas[32]
    # linear in the multipliers: each extra MAC adds one multiplier, one tree adder and two operand registers
    per_mac = BANKS * (tech.area_mm2("mult", fmt="fp16").value + tech.area_mm2("add", fmt="fp16").value
                       + 2 * 16 * DFF) * DRAM_K
    assert areas[32] - areas[16] == pytest.approx(16 * per_mac, rel=1e-9)
    assert areas[16] - areas[8] == pytest.approx(8 * per_mac, rel=1e-9)


def test_dual_row_buffers_cost_one_row_of_flip_flops_per_bank():
    on = pim_area(neupims(dual_row_buffer=True))["pim_mm2"]
    off = pim_area(neupims(dual_row_buffer=False))["pim_mm2"]
    assert on - off == pytest.approx(BANKS * 1024 * 8 * DFF * DRAM_K, rel=1e-9)
    assert arch.load("neupims-naive").unit("pim").dual_row_buffer is False
    assert pim_area(arch.load("neupims-naive"))["pim_mm2"] == pytest.approx(off)


def test_per_stack_and_dram_overhead():
    acc = arch.load("neupims")
    a = pim_area(acc)
    bank = tech.area_mm2("pim_bank", macs=16, fmt="fp16", row_buffer_bytes=1024).value
    assert a["pim_mm2"] == pytest.approx(BANKS * bank)
    assert a["pim_per_stack_mm2"] == pytest.approx(a["pim_mm2"] / 4)
    assert a["pim_dram_overhead_pct"] == pytest.approx(100 * a["pim_per_stack_mm2"] / (8 * 92.0))
    # no die area: no overhead line
    assert "pim_dram_overhead_pct" not in pim_area(neupims(dram_die_mm2=None))


def test_breakdown_total_counts_pim_outside_the_overhead_fraction_and_the_note_is_gone():
    with_pim, without = area_breakdown(arch.load("neupims")), area_breakdown(arch.load("npu-only"))
    assert with_pim["overhead_mm2"] == pytest.approx(without["overhead_mm2"])
    assert with_pim["total_mm2"] == pytest.approx(without["total_mm2"] + with_pim["pim_mm2"])
    assert "pim_mm2" not in without
    assert area_notes(arch.load("neupims")) == [] and area_notes(arch.load("duplex")) == ["area of unit 'gpu' (gpu) "
                                                                                          "not modelled yet: counted "
                                                                                          "as 0 mm^2"]


def test_simulated_neupims_summary_has_pim_area_static_power_and_no_note():
    acc = arch.load("neupims")
    op = Op("s", OpKind.ATTN_SCORE, {"M": 1, "N": 512, "K": 128}, batch=64, weights=False, tags={"unit": "pim"})
    r = sim.simulate(op, acc)
    s = r.summary
    assert not any("not modelled" in n for n in s["notes"])
    a = area_breakdown(acc)
    assert s["area_pim_mm2"] == pytest.approx(a["pim_mm2"]) and s["area_mm2"] == pytest.approx(a["total_mm2"])
    watts = tech.leakage_w_per_mm2(45).value * a["pim_mm2"] / DRAM_K  # leakage of the 45 nm-equivalent transistors
    assert s["pim_static_w"] == pytest.approx(watts) == pytest.approx(pim_static_w(acc))
    assert s["energy_pim_static_j"] == pytest.approx(watts * s["latency_s"])
    die_leak = tech.leakage_w_per_mm2(7).value * (a["total_mm2"] - a["pim_mm2"])
    assert s["leakage_w"] == pytest.approx(die_leak + watts)
    assert s["energy_j"] == pytest.approx(sum(v for k, v in s.items() if k.startswith("energy_") and k != "energy_j"))


def test_logic_pim_area_is_its_mac_count_of_pes_at_the_logic_node():
    acc = arch.load("duplex")
    u = acc.unit("logic_pim")
    macs = math.ceil(107.26e12 / (2 * 1.0e9))
    assert macs == 53630
    pe = tech.area_mm2("pe", node_nm=16, pe_type="fp16").value
    a = pim_area(acc)
    assert a["pim_mm2"] == pytest.approx(macs * pe)
    assert a["pim_per_stack_mm2"] == pytest.approx(macs * pe / 5)
    assert "pim_dram_overhead_pct" not in a
    assert pim_static_w(acc) == pytest.approx(tech.leakage_w_per_mm2(16).value * macs * pe)
    # a faster logic-die clock needs fewer MACs for the same peak; an older node bigger ones
    faster = arch.load("duplex", {"units.logic_pim.logic_clock_hz": 2.0e9})
    older = arch.load("duplex", {"units.logic_pim.logic_node_nm": 28})
    assert pim_area(faster)["pim_mm2"] == pytest.approx(math.ceil(macs / 2) * pe)
    assert pim_area(older)["pim_mm2"] > a["pim_mm2"]
    assert u.placement == "logic_die"


def test_duplex_result_keeps_pim_area_after_the_gpu_die_pass_and_charges_its_static_power():
    acc = arch.load("duplex")
    r = sim.simulate(gemm(8, 4096, 4096, dtype="fp16"), acc)
    s = r.summary
    a = pim_area(acc)
    assert s["area_die_mm2"] == 814.0
    assert s["area_mm2"] == pytest.approx(814.0 + a["pim_mm2"])
    w = pim_static_w(acc)
    assert s["pim_static_w"] == pytest.approx(w)
    assert s["leakage_w"] == pytest.approx(75.0 + w)  # the H100 preset's idle_w plus the Logic-PIM's leakage
    assert s["energy_pim_static_j"] == pytest.approx(w * s["latency_s"])
    gpu_only = sim.simulate(gemm(8, 4096, 4096, dtype="fp16"), arch.load("duplex-gpu-only")).summary
    assert s["energy_j"] == pytest.approx(gpu_only["energy_j"] + w * s["latency_s"])
