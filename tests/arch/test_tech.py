"""`arch.tech`: each cited figure comes back unchanged at 45 nm, derived figures follow their stated rules,
scaling is monotone, and every unknown name is an error that lists the known ones."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from arch import tech
from arch.pe import PE_TYPES
from arch.tech import Figure, area_mm2, energy_pj, leakage_w_per_mm2, scale

NODES = (5, 7, 16, 28, 45)

# Horowitz, ISSCC 2014, Fig. 1.1.9 (45 nm): (op, fmt, pJ, um^2), written out here rather than read from the table
HOROWITZ_45NM = [
    ("add", "int8", 0.03, 36), ("add", "int16", 0.05, 67), ("add", "int32", 0.1, 137),
    ("add", "fp16", 0.4, 1360), ("add", "fp32", 0.9, 4184),
    ("mult", "int8", 0.2, 282), ("mult", "int32", 3.1, 3495),
    ("mult", "fp16", 1.1, 1640), ("mult", "fp32", 3.7, 7700),
]


@pytest.mark.parametrize("op,fmt,pj,um2", HOROWITZ_45NM)
def test_horowitz_figures_at_45nm(op, fmt, pj, um2):
    e = energy_pj(op, "compute", fmt=fmt)
    a = area_mm2(op, fmt=fmt)
    assert e.value == pytest.approx(pj) and e.unit == "pJ" and "Horowitz" in e.source
    assert a.value == pytest.approx(um2 * 1e-6) and a.unit == "mm^2" and "Horowitz" in a.source


@pytest.mark.parametrize("capacity,pj_per_64b", [(8 * 1024, 10.0), (32 * 1024, 20.0), (1024 * 1024, 100.0)])
def test_horowitz_sram_points_per_byte(capacity, pj_per_64b):
    for action in ("read", "write"):
        f = energy_pj("sram", action, capacity_bytes=capacity)
        assert f.value == pytest.approx(pj_per_64b / 8) and f.unit == "pJ/byte" and "Horowitz" in f.source


@pytest.mark.parametrize("kind", list(tech.DRAM_PJ_PER_BIT))
def test_dram_per_byte_is_eight_times_the_cited_per_bit(kind):
    pj_bit, source = tech.DRAM_PJ_PER_BIT[kind]
    f = energy_pj("dram", "access", kind=kind)
    assert f.value == pytest.approx(8 * pj_bit) and f.unit == "pJ/byte" and source in f.source


def test_cited_dram_figures():
    assert energy_pj("dram", "access", kind="hbm2").value == pytest.approx(3.9 * 8)  # O'Connor, MICRO 2017
    assert energy_pj("dram", "access", kind="ddr3").value == pytest.approx(1950 / 64 * 8)  # Horowitz midpoint


def test_every_memory_kind_off_chip_has_a_dram_energy():
    from arch.spec import MEMORY_KINDS

    for kind in MEMORY_KINDS:
        if kind not in ("sram", "bram", "uram"):
            assert energy_pj("dram", "access", kind=kind).value > 0


def test_dram_does_not_scale_with_node():
    assert {energy_pj("dram", "access", kind="hbm3", node_nm=n).value for n in NODES} == {
        energy_pj("dram", "access", kind="hbm3").value}


# ---- derivation rules ----------------------------------------------------------------------------------


def test_narrow_int_multipliers_scale_by_bit_width_squared():
    assert energy_pj("mult", "compute", fmt="int4").value == pytest.approx(0.2 / 4)
    assert energy_pj("mult", "compute", fmt="int2").value == pytest.approx(0.2 / 16)
    assert area_mm2("mult", fmt="int4").value == pytest.approx(282e-6 / 4)


def test_float_formats_scale_from_fp16_by_significand():
    assert energy_pj("mult", "compute", fmt="bf16").value == pytest.approx(1.1 * (8 / 11) ** 2)
    assert energy_pj("mult", "compute", fmt="fp8").value == pytest.approx(1.1 * (4 / 11) ** 2)
    assert energy_pj("add", "compute", fmt="bf16").value == pytest.approx(0.4 * 8 / 11)
    assert energy_pj("add", "compute", fmt="fp8").value == pytest.approx(0.4 * 4 / 11)


def test_integer_adders_interpolate_linearly_in_width():
    assert energy_pj("add", "compute", bits=24).value == pytest.approx(0.075)
    assert energy_pj("add", "compute", bits=12).value == pytest.approx(0.04)
    assert energy_pj("add", "compute", bits=4).value == pytest.approx(0.015)
    assert energy_pj("add", "compute", fmt="int4").value == energy_pj("add", "compute", bits=4).value
    assert energy_pj("add", "compute", fmt="int", bits=32).value == pytest.approx(0.1)


@pytest.mark.parametrize("fmt,mult,acc", [
    ("int8", 0.2, 0.1), ("int4", 0.05, 0.1), ("int2", 0.0125, 0.1), ("ternary", 0.0, 0.1),
    ("fp16", 1.1, 0.9), ("fp32", 3.7, 0.9), ("bf16", 1.1 * (8 / 11) ** 2, 0.9), ("fp8", 1.1 * (4 / 11) ** 2, 0.9),
])
def test_mac_is_mult_at_operand_width_plus_add_at_accumulator_width(fmt, mult, acc):
    f = energy_pj("mac", "compute", fmt=fmt)
    assert f.value == pytest.approx(mult + acc) and f.unit == "pJ/MAC"


def test_accumulator_width_can_be_chosen():
    assert energy_pj("mac", "compute", fmt="int8", acc_bits=16).value == pytest.approx(0.2 + 0.05)
    assert energy_pj("mac", "compute", fmt="fp16", acc_fmt="fp16").value == pytest.approx(1.1 + 0.4)


def test_ternary_mac_is_one_add():
    assert energy_pj("mac", "compute", fmt="ternary").value == energy_pj("add", "compute", fmt="int32").value
    assert energy_pj("mac", "compute", pe_type="ternary").value == pytest.approx(0.1)


def test_vector_flop_is_the_mean_of_add_and_mult():
    assert energy_pj("vector", "flop", fmt="fp16").value == pytest.approx((1.1 + 0.4) / 2)
    assert energy_pj("vector", "flop", fmt="fp32").value == pytest.approx((3.7 + 0.9) / 2)
    assert area_mm2("vector_lane", fmt="fp16").value > area_mm2("mac", fmt="fp16", acc_fmt="fp16").value


def test_dequant_is_one_mult_and_one_add_of_the_target_format():
    assert energy_pj("dequant", "compute", fmt="int8").value == pytest.approx(0.2 + 0.03)
    assert energy_pj("dequant", "compute", fmt="fp16").value == pytest.approx(1.1 + 0.4)


@pytest.mark.parametrize("pe_type", list(PE_TYPES))
def test_every_pe_type_has_an_area_and_a_mac_energy(pe_type):
    e = energy_pj("mac", "compute", pe_type=pe_type)
    a = area_mm2("pe", pe_type=pe_type)
    assert e.value > 0 and e.unit == "pJ/MAC" and e.source
    assert a.value > 0 and a.unit == "mm^2" and a.source
    for n in NODES:
        assert energy_pj("mac", "compute", pe_type=pe_type, node_nm=n).value > 0


def test_pe_parts_follow_the_pe_description():
    # in-loop dequantisation is charged per MAC; MixPE's shift-add with per-group dequant is cheaper
    assert energy_pj("mac", "compute", pe_type="w4a8-dequant").value == pytest.approx(0.2 + 0.03 + 0.2 + 0.1)
    assert energy_pj("mac", "compute", pe_type="mixpe-w4a8").value < energy_pj(
        "mac", "compute", pe_type="w4a8-dequant").value
    assert energy_pj("mac", "compute", pe_type="mixpe-w4a16").value < energy_pj(
        "mac", "compute", pe_type="w4a16-dequant").value
    assert area_mm2("pe", pe_type="ternary").value < area_mm2("pe", pe_type="int8").value
    # without a synthesised block: PE area = multiplier + accumulator + registers (weight + activation + psum)
    regs = (16 + 16 + 32) * tech.REGISTER_45NM["area_um2_per_bit"]
    assert "int16" not in tech.SYNTH_PE
    assert area_mm2("pe", pe_type="int16").value == pytest.approx((282 * 4 + 137 + regs) * 1e-6)


# ---- SRAM size and node scaling --------------------------------------------------------------------------


def test_sram_energy_rises_with_size():
    sizes = [256, 1024, 8 * 1024, 16 * 1024, 32 * 1024, 256 * 1024, 2**20, 24 * 2**20, 2**30]
    values = [energy_pj("sram", "read", capacity_bytes=s).value for s in sizes]
    assert values == sorted(values) and len(set(values)) == len(values)
    assert "extrapolated" in energy_pj("sram", "read", capacity_bytes=24 * 2**20).source
    assert "interpolated" in energy_pj("sram", "read", capacity_bytes=100_000).source


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 2**34), st.integers(1, 2**34))
def test_sram_energy_and_area_are_monotone_in_capacity(a, b):
    lo, hi = sorted((a, b))
    assert energy_pj("sram", "read", capacity_bytes=lo).value <= energy_pj("sram", "read", capacity_bytes=hi).value
    assert area_mm2("sram", capacity_bytes=lo).value <= area_mm2("sram", capacity_bytes=hi).value


def test_sram_energy_is_continuous_at_the_cited_points():
    for c in (32 * 1024,):
        below = energy_pj("sram", "read", capacity_bytes=c - 1).value
        above = energy_pj("sram", "read", capacity_bytes=c + 1).value
        assert below == pytest.approx(above, rel=1e-3)


@pytest.mark.parametrize("quantity", ["energy", "area"])
def test_node_scaling_is_monotone(quantity):
    factors = [scale(quantity, 45, n) for n in NODES]
    assert factors == sorted(factors) and len(set(factors)) == len(factors)
    assert scale(quantity, 45, 45) == 1.0
    assert scale(quantity, 28, 7) * scale(quantity, 7, 28) == pytest.approx(1.0)
    assert scale(quantity, 45, 7) == pytest.approx(scale(quantity, 45, 16) * scale(quantity, 16, 7))


def test_figures_shrink_with_node():
    for fig in (lambda n: energy_pj("mac", "compute", fmt="int8", node_nm=n),
                lambda n: energy_pj("sram", "read", capacity_bytes=65536, node_nm=n),
                lambda n: area_mm2("pe", pe_type="fp16", node_nm=n),
                lambda n: area_mm2("sram", capacity_bytes=65536, node_nm=n)):
        values = [fig(n).value for n in NODES]
        assert values == sorted(values) and len(set(values)) == len(values)
    src = energy_pj("mac", "compute", fmt="int8", node_nm=7).source
    assert "Stillmaker" in src and "45 -> 7 nm" in src
    assert "extrapolated" in tech.NODE_SCALING["source"]  # 5 nm is beyond the paper and says so


def test_leakage_has_a_figure_per_node():
    for n in NODES:
        f = leakage_w_per_mm2(n)
        assert f.value > 0 and f.unit == "W/mm^2" and "assumed" in f.source


def test_figure_is_a_frozen_value_with_provenance():
    f = energy_pj("add", "compute", fmt="int8")
    assert isinstance(f, Figure) and float(f) == f.value
    with pytest.raises(AttributeError):
        f.value = 1.0  # type: ignore[misc]


def test_every_table_has_a_source():
    for table in (tech.ARITH_45NM, tech.SRAM_45NM, tech.SRAM_BITCELL_UM2, tech.REGISTER_45NM, tech.MIXPE_SHIFT_ADD,
                  tech.NODE_SCALING, tech.LEAKAGE_W_PER_MM2):
        assert table["source"]
    assert all(src for _, src in tech.DRAM_PJ_PER_BIT.values())


# ---- unknown names ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("call,listed", [
    (lambda: energy_pj("multiplier", "compute", fmt="int8"), ["mac", "sram", "dram"]),
    (lambda: energy_pj("sram", "access", capacity_bytes=1024), ["read", "write"]),
    (lambda: energy_pj("mac", "compute", fmt="int3"), ["int8", "ternary", "bf16", "fp8"]),
    (lambda: energy_pj("mac", "compute", fmt="int8", node_nm=10), ["45", "28", "16", "7", "5"]),
    (lambda: energy_pj("dram", "access", kind="gddr5"), ["hbm2", "ddr4", "lpddr5", "flash"]),
    (lambda: energy_pj("mac", "compute", pe_type="int9"), ["int8", "mixpe-w4a8", "ternary"]),
    (lambda: energy_pj("mac", "compute", fmt="int8", acc_bit=32), ["fmt", "acc_bits", "acc_fmt"]),
    (lambda: energy_pj("vector", "flop", fmt="int8"), ["fp16", "fp32"]),
    (lambda: area_mm2("crossbar"), ["pe", "sram", "vector_lane"]),
    (lambda: area_mm2("pe", pe_type="fp64"), ["fp16", "w4a16-dequant"]),
    (lambda: area_mm2("sram", capacity_bytes=0), ["positive"]),
    (lambda: area_mm2("sram", capacity_bytes=1024, node_nm=65), ["45", "5"]),
    (lambda: leakage_w_per_mm2(3), ["45", "5"]),
    (lambda: scale("power", 45, 7), ["energy", "area"]),
    (lambda: energy_pj("add", "compute"), ["bits", "fmt"]),
    (lambda: energy_pj("add", "compute", fmt="fp16", bits=8), ["bits"]),
])
def test_unknown_names_raise_listing_the_known_ones(call, listed):
    with pytest.raises(ValueError) as e:
        call()
    for word in listed:
        assert word in str(e.value), f"{word!r} not in {e.value}"


# ---- synthesised PE areas (data/rtl/synth_nangate45.csv, written by `dse rtl synth --data`) ----------------


def _table_um2() -> dict[str, float]:
    """The committed synthesis table read here with the csv module, not through arch.tech."""
    import csv

    with tech.SYNTH_CSV.open(newline="") as f:
        return {r["block"]: float(r["area_um2_45nm"]) for r in csv.DictReader(f)}


# PE type -> (block, block moved out of the PE, register bits the block lacks), written out from the
# module docstring: operand forwarding registers; in-loop PEs also hold a scale (activation width) and zero point
SYNTH_EXPECTED = {
    "int8": ("mac_pe", None, 8 + 8),
    "w4a8-dequant": ("mac_pe", None, 4 + 8 + 8 + 4),
    "w2a8-dequant": ("mac_pe", None, 2 + 8 + 8 + 2),
    "w4a8-dequant-fullrate": ("dequant_pe_w4", None, 4 + 8 + 16 + 4),
    "w2a8-dequant-fullrate": ("dequant_pe_w2", None, 2 + 8 + 16 + 2),
    "mixpe-w4a8": ("mixpe_pe_w4", "mixpe_dequant_w4", 4 + 8),
    "mixpe-w2a8": ("mixpe_pe_w2", "mixpe_dequant_w2", 2 + 8),
    "ternary": ("ternary_acc_1", None, 2 + 8),
    # precision-scalable PEs hold their widest mode's operands: BitFusion 16 x 2-bit pairs, ANT 4 x 4-bit pairs;
    # the packed MixPE lane one 8-bit weight word and two int8 activations
    "bitfusion": ("bitfusion_fu", None, 32 + 32),
    "ant": ("ant_fu", None, 16 + 16),
    "mixpe-packed": ("mixpe_pe_w8", "mixpe_dequant_w8", 8 + 16),
}


@pytest.mark.parametrize("node", NODES)
@pytest.mark.parametrize("pe_type", sorted(SYNTH_EXPECTED))
def test_pe_areas_equal_the_synthesis_table_scaled(pe_type, node):
    table = _table_um2()
    block, minus, bits = SYNTH_EXPECTED[pe_type]
    um2 = table[block] - (table[minus] if minus else 0.0) + bits * 4.52
    a = area_mm2("pe", pe_type=pe_type, node_nm=node)
    assert a.value == pytest.approx(um2 * 1e-6 * scale("area", 45, node), rel=1e-12)
    assert block in a.source and "synth_nangate45.csv" in a.source and "Yosys" in a.source
    rtl = area_mm2("rtl", block=block, node_nm=node).value
    assert rtl == pytest.approx(table[block] * 1e-6 * scale("area", 45, node))


def test_every_pe_type_with_a_block_is_priced_from_synthesis():
    assert set(tech.SYNTH_PE) == set(SYNTH_EXPECTED)
    # the PE types without a block keep the Horowitz rule, and say so in their source
    for pe_type in set(PE_TYPES) - set(SYNTH_EXPECTED):
        assert "synth" not in area_mm2("pe", pe_type=pe_type).source and HOROWITZ_WORD in area_mm2(
            "pe", pe_type=pe_type).source


HOROWITZ_WORD = "Horowitz"


def test_mixpe_pe_without_its_dequantiser_is_smaller_than_the_int8_pe():
    # measured (synthesis table): the shift-add group datapath undercuts the int8 multiplier MAC, and the
    # in-loop PE (int8 MAC + scale/zero registers) is the larger of the two at W4A8 and W2A8
    assert area_mm2("pe", pe_type="mixpe-w4a8").value < area_mm2("pe", pe_type="int8").value
    assert area_mm2("pe", pe_type="mixpe-w2a8").value < area_mm2("pe", pe_type="mixpe-w4a8").value
    assert area_mm2("pe", pe_type="w4a8-dequant").value > area_mm2("pe", pe_type="int8").value


def test_fused_pes_cost_more_area_than_the_int8_pe_and_the_finer_slices_the_more():
    # measured (synthesis table): sixteen 2-bit bricks with their routing and shift-add tree outgrow four 4-bit
    # multipliers, which outgrow one 8x8 multiplier; energy per full-width operation stays the int8 MAC's
    int8, bf, ant = (area_mm2("pe", pe_type=t).value for t in ("int8", "bitfusion", "ant"))
    assert bf > ant > int8, (bf, ant, int8)
    assert bf > 2.5 * int8 and ant > 1.5 * int8
    for t in ("bitfusion", "ant"):
        assert energy_pj("mac", "compute", pe_type=t).value == energy_pj("mac", "compute", pe_type="int8").value


def test_unknown_rtl_block_lists_the_table():
    with pytest.raises(ValueError, match="mixpe_dequant_w4"):
        area_mm2("rtl", block="no_such_block")
