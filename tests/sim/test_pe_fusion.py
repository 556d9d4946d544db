"""Purpose: pin the bit-width-dependent throughput of precision-scalable PEs (`arch.pe`: ``slice_bits`` /
``fused_bits``) and how the systolic cost model uses it.

Sources of the expected rates: BitFusion's Fusion Unit (Sharma et al., ISCA 2018, Sec. 3: sixteen 2-bit
BitBricks give one 8x8, two 8x4, four 4x4, sixteen 2x2 products per cycle; wider operands iterate in time), and
the MixPE authors' simulator (github.com/yuzhang712/mixpe_simulator @ 769f0c85, ``simulator.py``
``get_perf_factor``: ``int(pmax / max(iprec, pmin)) * int(pmax / max(wprec, pmin))``), whose ``pmax = 8``,
``pmin = 4`` (conf_mixint.ini, conf_bitfusion.ini) are our ``ant`` / ``mixpe-packed`` slice 4, fused 8.
Fixed-rate PE types must keep their rate (the SCALE-Sim validation stays exact: tests/validation/test_scalesim*)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

import arch
import sim
from arch.pe import PE_TYPES, PEType
from sim.systolic import gemm_cycles
from tests.sim.test_pe_types import run
from workloads import gemm

BITFUSION = {(8, 8): 1, (4, 8): 2, (8, 4): 2, (4, 4): 4, (2, 8): 4, (4, 2): 8, (2, 2): 16, (16, 8): 0.5,
             (16, 16): 0.25, (3, 8): 2, (6, 8): 1}


@pytest.mark.parametrize(("bits", "rate"), sorted(BITFUSION.items()))
def test_bitfusion_fuses_sixteen_2_bit_bricks(bits, rate):
    assert PE_TYPES["bitfusion"].macs_per_cycle_at(*bits) == rate


def authors_perf_factor(w: int, a: int, pmax: int = 8, pmin: int = 4) -> int:
    """The authors' simulator's rule, restated (see the module docstring)."""
    return int(pmax / max(a, pmin)) * int(pmax / max(w, pmin))


@pytest.mark.parametrize("pe", ["ant", "mixpe-packed"])
@pytest.mark.parametrize("w", [2, 4, 8])
@pytest.mark.parametrize("a", [2, 4, 8])
def test_slice_4_fused_8_is_the_authors_perf_factor(pe, w, a):
    assert PE_TYPES[pe].macs_per_cycle_at(w, a) == authors_perf_factor(w, a)


@pytest.mark.parametrize("pe", sorted(n for n, p in PE_TYPES.items() if not p.scalable))
def test_fixed_rate_pe_types_ignore_operand_widths(pe):
    p = PE_TYPES[pe]
    assert p.macs_per_cycle_at(2, 2) == p.macs_per_cycle_at(16, 16) == p.macs_per_cycle == 1.0


def test_slice_and_fused_bits_come_together_and_fuse_in_powers_of_two():
    with pytest.raises(ValidationError, match="slice_bits=2 and fused_bits=None: expected both or neither"):
        PEType(name="x", w_format="int8", a_format="int8", acc_bits=32, slice_bits=2)
    with pytest.raises(ValidationError, match="fused_bits=12 over slice_bits=2: expected a power-of-two multiple"):
        PEType(name="x", w_format="int8", a_format="int8", acc_bits=32, slice_bits=2, fused_bits=12)
    with pytest.raises(ValueError, match="operand bits 0"):
        PE_TYPES["bitfusion"].split(0)


@pytest.mark.parametrize(("w", "a", "rate"), [("int8", "int8", 1), ("int4", "int8", 2), ("int4", "int4", 4),
                                              ("int2", "int2", 16)])
def test_bitfusion_gemm_streams_k_over_the_rate(w, a, rate):
    op = gemm(32, 48, 1024, w_format=w, a_format=a)
    c, e, _ = run(op, "bitfusion")
    assert c.compute_cycles == gemm_cycles(32, 48, 1024, 16, 16, "os", macs_per_cycle=rate)
    assert c.counts["mac"] == pytest.approx(32 * 48 * 1024 / rate)  # full-width Fusion Unit operations
    c8, e8, _ = run(gemm(32, 48, 1024, w_format="int8", a_format="int8"), "bitfusion")
    assert e["mac"] == pytest.approx(e8["mac"] / rate)  # one 8x8 operation's energy per cycle, split `rate` ways
    assert c.utilization == pytest.approx(32 * 48 * 1024 / (16 * 16 * rate * c.cycles))  # over the peak at (w, a)


def test_bitfusion_at_8_bits_matches_the_int8_pe_cycle_for_cycle():
    op = gemm(100, 70, 300, w_format="int8", a_format="int8")
    fused, _, _ = run(op, "bitfusion")
    plain, _, _ = run(op, "int8")
    assert (fused.cycles, fused.compute_cycles, fused.counts) == (plain.cycles, plain.compute_cycles, plain.counts)


def test_fused_pe_runs_float_operands_as_fixed_point_of_their_width():
    """fp16 x fp16 (attention, say) on BitFusion: 16 x 16 bits, a quarter of the 8 x 8 rate, four 8x8 operations'
    energy per MAC (the authors' simulator runs its FP16 designs as 16-bit fixed point)."""
    c, e, _ = run(gemm(16, 16, 256, w_format="fp16", a_format="fp16"), "bitfusion")
    assert c.compute_cycles == gemm_cycles(16, 16, 256, 16, 16, "os", macs_per_cycle=0.25)
    assert c.counts["mac"] == 16 * 16 * 256 * 4


def test_packed_mixpe_doubles_w4a8_and_keeps_per_group_dequant():
    op = gemm(64, 64, 1024, w_format="int4", a_format="int8", group_size=128)
    packed, _, _ = run(op, "mixpe-packed", rows=16)
    one, _, _ = run(op, "mixpe-w4a8", rows=16)
    assert packed.counts["dequant"] == one.counts["dequant"] == 64 * 64 * 8
    assert packed.compute_cycles == gemm_cycles(64, 64, 1024, 16, 16, "os", macs_per_cycle=2)
    assert one.compute_cycles == gemm_cycles(64, 64, 1024, 16, 16, "os")
    # at 64 rows the per-column dequantiser drain (groups x rows = 8 x 64 = 512 cycles) binds the packed PE
    big, _, _ = run(op, "mixpe-packed", rows=64)
    assert big.compute_cycles == gemm_cycles(64, 64, 1024, 64, 16, "os", macs_per_cycle=2, min_stream=8 * 64)


def test_presets_swap_only_the_pe_type():
    base = arch.load("mixpe")
    for name, pe in (("bitfusion", "bitfusion"), ("ant", "ant"), ("mixpe-packed", "mixpe-packed")):
        acc = arch.load(name)
        assert acc.unit("array").pe == pe
        same = {"pe": base.unit("array").pe, "source": base.unit("array").source}
        assert acc.unit("array").model_copy(update=same) == base.unit("array")
        assert acc.memory == base.memory and acc.tech == base.tech


def test_mixpe_preset_results_are_unchanged_by_fusion():
    """The fixed-rate path: the mixpe preset's int4 GEMM keeps one MAC per PE per cycle and one energy count per
    MAC (cycles pinned before precision-scalable PEs were added: 270207, SCALE-Sim's os formula)."""
    op = gemm(64, 4096, 4096, w_format="int4", a_format="int8", group_size=128)
    r = sim.simulate(op, arch.load("mixpe"))
    assert r.summary["cycles"] == 270207 == gemm_cycles(64, 4096, 4096, 64, 64, "os")
    assert r.per_op["stall_cycles"].sum() == 0


def test_dse_runs_fused_pes_on_any_integer_operands():
    from dse.sim_cmd import SWEEP, runs_on

    assert runs_on("bitfusion", "int4", "int8") and runs_on("ant", "int2", "int2")
    assert runs_on("bitfusion", "int8", "int8")
    assert not runs_on("bitfusion", "int4", "fp16") and not runs_on("ant", "fp16", "fp16")
    assert runs_on("mixpe-packed", "int4", "int8") and not runs_on("mixpe-packed", "int4", "fp16")
    swept = {(p, pe) for p, pe, *_ in SWEEP}
    for precision in ("W8A8", "W4A8", "W2A8"):
        assert {(precision, "bitfusion"), (precision, "ant")} <= swept
    assert not any(pe in ("bitfusion", "ant", "mixpe-packed") for p, pe, *_ in SWEEP if p in ("W16A16", "W4A16"))
