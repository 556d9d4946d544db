"""Purpose: pin `sim.fpga`'s formulas (module docstring): DSPs per MAC, engine and buffer resources, the
fit check and its message, engine choice, cycles and traffic of each op family, the power model's
components, the MoE memory of each schedule and the task-switch trace; and that the FPGA presets load,
fit and reject bad input with a message naming the field."""

from __future__ import annotations

import math

import pytest
import yaml

import arch
from arch.loader import ArchError
from arch.spec import Accelerator, FpgaBuffer, FpgaEngine, FpgaPower, FpgaUnit, MemoryTier, Tech
from sim import fpga, simulate
from sim.cost import supports
from workloads import Graph, Op, OpKind, gemm
from workloads.config import from_config

CLOCK = 100e6


def engine(name="mm", kind="mac", ops=("gemm", "router", "conv2d"), lanes=64, kp=16, a=16, w=16, **kw):
    if kind == "vector":
        return FpgaEngine(name=name, kind=kind, ops=list(ops), lanes=lanes, luts_per_lane=kw.pop("luts_per_lane", 100),
                          **kw)
    return FpgaEngine(name=name, kind=kind, ops=list(ops), lanes=lanes, k_parallel=kp, a_bits=a, w_bits=w, **kw)


VECTOR = dict(name="vec", kind="vector", ops=("softmax", "norm", "eltwise", "embed", "scan"), lanes=8)


def device(engines, *, dsps=1000, luts=100_000, ffs=200_000, bram=200 * 4608, uram=0, power=None, **kw):
    return FpgaUnit(name="fpga", device="TESTDEV", dsps=dsps, bram_bytes=bram, uram_bytes=uram, luts=luts, ffs=ffs,
                    engines=engines, power=power, **kw)


def machine(unit, *, ddr_gbps=10.0, clock=CLOCK):
    memory = [MemoryTier(name="bram", kind="bram", capacity_bytes=unit.bram_bytes, read_bytes_per_cycle=100),
              MemoryTier(name="ddr", kind="ddr4", capacity_bytes="1GiB", bandwidth_gbps=ddr_gbps, energy_pj_per_bit=10)]
    return Accelerator(name="t", tech=Tech(node_nm=16, clock_hz=clock), units=[unit], memory=memory)


# ---- resources -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("a,w,dsps", [(16, 16, 1), (27, 18, 1), (18, 27, 1), (32, 16, 2), (32, 32, 4), (8, 8, 0.5)])
def test_dsps_per_mac_on_27x18_multipliers(a, w, dsps):
    assert fpga.dsps_per_mac(engine(a=a, w=w), device([])) == dsps


def test_adder_lane_is_a_tree_input_plus_an_accumulator_per_output():
    e = engine(kind="adder", lanes=256, kp=64, a=8, w=2, control_luts=100, control_ffs=50)
    r = fpga.engine_resources(e, device([]))
    tree = 8 + 6  # int8 input + log2(64) growth
    assert r.dsps == 0
    assert r.luts == 256 * tree + 4 * 32 + 100
    assert r.ffs == 256 * tree + 4 * 32 + 50


def test_mac_lanes_use_dsps_and_declared_lane_costs_add():
    e = engine(lanes=64, a=32, w=16, luts_per_lane=3, ffs_per_lane=5)
    r = fpga.engine_resources(e, device([]))
    assert (r.dsps, r.luts, r.ffs) == (128, 192, 320)


def test_buffer_takes_blocks_for_its_bytes_or_its_port_width():
    unit = device([], uram=10 * 36864)
    narrow = FpgaBuffer(name="b", bytes=10_000, width_bits=72)  # ceil(10000 / 4608) = 3 blocks
    wide = FpgaBuffer(name="b", bytes=1_000, width_bits=1024)  # ceil(1024 / 72) = 15 ports
    ultra = FpgaBuffer(name="b", bytes=100_000, width_bits=72, memory="uram")  # ceil(100000 / 36864) = 3
    assert fpga._blocks(narrow, unit) == (3, 0)
    assert fpga._blocks(wide, unit) == (15, 0)
    assert fpga._blocks(ultra, unit) == (0, 3)


def test_design_totals_add_the_shell():
    unit = device([engine(lanes=64, a=16, w=16, buffers=[FpgaBuffer(name="w", bytes=4608)])], shell_luts=1000,
                  shell_ffs=2000, shell_bram_blocks=5)
    use = fpga.check_fit(unit)
    assert (use.total.dsps, use.total.luts, use.total.ffs, use.total.bram_blocks) == (64, 1000, 2000, 6)
    assert use.available.bram_blocks == 200
    assert use.utilization()["dsps"] == pytest.approx(64 / 1000)


def test_overflow_names_each_resource_its_users_and_the_device():
    unit = device([engine(name="big", lanes=1024, a=32, w=32)], dsps=1000)
    with pytest.raises(fpga.FpgaFitError) as err:
        fpga.check_fit(unit)
    msg = str(err.value)
    assert "does not fit TESTDEV" in msg
    assert "DSP slices: needs 4,096 (big 4,096), TESTDEV has 1,000" in msg
    assert "LUTs" not in msg


def test_ultraram_buffer_on_a_device_without_ultraram_overflows():
    unit = device([engine(buffers=[FpgaBuffer(name="t", bytes=1000, memory="uram")])], uram=0)
    with pytest.raises(fpga.FpgaFitError, match="UltraRAMs: needs 1 .*has 0"):
        fpga.check_fit(unit)


def test_repeated_engine_names_are_refused():
    with pytest.raises(ValueError, match=r"engine names \['mm'\] repeat"):
        fpga.check_fit(device([engine(), engine()]))


def test_cost_checks_the_fit_before_costing():
    acc = machine(device([engine(lanes=1024, a=32, w=32)], dsps=1000))
    with pytest.raises(fpga.FpgaFitError):
        fpga.cost(gemm(4, 4, 4), acc.units[0], acc)


# ---- engines, cycles, traffic ----------------------------------------------------------------------------


def test_registered_for_every_op_kind():
    assert all(supports("fpga", k) for k in OpKind)


def test_ternary_gemm_prefers_the_adder_engine_and_attention_needs_a_mac():
    unit = device([engine(name="mac"), engine(name="add", kind="adder", a=8, w=2)])
    assert fpga.engine_for(gemm(4, 8, 8, w_format="ternary"), unit).name == "add"
    assert fpga.engine_for(gemm(4, 8, 8), unit).name == "mac"
    score = Op("s", OpKind.ATTN_SCORE, {"M": 4, "N": 4, "K": 8}, weights=False)
    with pytest.raises(ValueError, match="no engine runs op kind 'attn_score'.*engines: mac"):
        fpga.engine_for(score, unit)


def test_vector_op_without_a_vector_engine_is_refused():
    unit = device([engine()])
    with pytest.raises(ValueError, match="no engine runs op kind 'softmax'"):
        fpga.engine_for(Op("sm", OpKind.SOFTMAX, {"rows": 4, "cols": 4}, weights=False), unit)


def test_gemm_cycles_fold_k_and_n_over_the_array():
    e = engine(lanes=64, kp=16, pipeline_cycles=7)  # 16 inputs x 4 outputs per cycle
    op = gemm(10, 9, 33)  # ceil(33/16) = 3 K steps, ceil(9/4) = 3 N steps
    assert fpga.compute_cycles(op, e) == 10 * 3 * 3 + 7
    assert fpga.compute_cycles(op.replace(batch=2), e) == 2 * 90 + 7
    assert fpga.compute_cycles(gemm(0, 9, 33), e) == 0  # an expert without tokens costs nothing


def test_vector_cycles_count_passes_per_element():
    v = engine(**VECTOR, pipeline_cycles=2)
    norm = Op("n", OpKind.NORM, {"rows": 10, "cols": 8, "affine": 1}, weights=False)
    soft = Op("s", OpKind.SOFTMAX, {"rows": 10, "cols": 8}, weights=False)
    add = Op("a", OpKind.ELTWISE, {"rows": 10, "cols": 8, "inputs": 2, "flops_per_elem": 1}, weights=False)
    assert fpga.compute_cycles(norm, v) == math.ceil(80 * 2 / 8) + 2
    assert fpga.compute_cycles(soft, v) == math.ceil(80 * 3 / 8) + 2
    assert fpga.compute_cycles(add, v) == 80 // 8 + 2


def test_cost_streams_weights_from_the_first_offchip_tier():
    unit = device([engine(lanes=64, kp=16)])
    acc = machine(unit)
    op = gemm(8, 32, 64)  # fp16 weights: 64 x 32 x 2 B
    c = fpga.cost(op, unit, acc)
    assert c.cycles == 8 * 4 * 8
    assert c.tier_bytes["ddr"] == 64 * 32 * 2
    # weight-stationary on-chip traffic: A re-read per N step, partial sums per K step, weights once
    assert c.tier_bytes["bram"] == 8 * 64 * 2 * 8 + 2 * 8 * 32 * 4 * 4 + 64 * 32 * 2
    assert c.counts["fpga_dsp_cycles"] == op.macs
    assert c.utilization == pytest.approx(op.macs / (64 * c.cycles))


def test_simulated_weight_streams_overlap_the_previous_op():
    """Two chained GEMMs: the second's weights load while the first computes (no stall)."""
    unit = device([engine(lanes=64, kp=16)])
    acc = machine(unit, ddr_gbps=1.0)
    g = Graph("two")
    a = g.add(gemm(64, 64, 64, name="a"))
    g.add(gemm(64, 64, 64, name="b"), [a])
    df = simulate(g, acc).per_op.set_index("name")
    dma_s = 64 * 64 * 2 / 1e9
    assert df.loc["a", "latency_s"] == pytest.approx(max(64 * 4 * 16 / CLOCK, dma_s))  # first load exposed
    assert df.loc["b", "stall_cycles"] == 0 and df.loc["b", "dma_end_s"] <= df.loc["b", "start_s"] + 1e-12


# ---- power -----------------------------------------------------------------------------------------------


POWER = FpgaPower(static_w=2.0, board_w=1.0, logic_gap=10.0, hard_gap=5.0, toggle=0.25)


def test_simulate_splits_fpga_energy_into_resource_components():
    """`simulate` itself applies the FPGA power model (its result pass): no separate pricing step."""
    unit = device([engine(lanes=64, kp=16, a=32, w=16)], shell_ffs=1000, shell_luts=4000, power=POWER)
    acc = machine(unit)
    op = gemm(16, 64, 64, name="g")
    g = Graph("one")
    g.add(op)
    r = simulate(g, acc)
    s = r.summary
    k = fpga.energy_coefficients(unit, acc)
    lat = s["latency_s"]
    cycles = lat * CLOCK
    c = fpga.cost(op.signature(), unit, acc)
    assert s["energy_static_j"] == pytest.approx(2.0 * lat)
    assert s["energy_board_j"] == pytest.approx(1.0 * lat)
    assert s["energy_dsp_j"] == pytest.approx(op.macs * 2 * k["dsp"] * 1e-12)
    assert s["energy_bram_j"] == pytest.approx(c.tier_bytes["bram"] * k["bram"] * 1e-12)
    assert s["energy_clock_j"] == pytest.approx(1000 * cycles * k["clock"] * 1e-12)
    assert s["energy_logic_j"] == pytest.approx(4000 * cycles * k["logic"] * 1e-12)
    assert s["energy_dram_j"] == pytest.approx(64 * 64 * 2 * 80 * 1e-12)  # 10 pJ/bit
    parts = sum(s[f"energy_{c}_j"] for c in fpga.FPGA_ENERGY)
    assert s["energy_j"] == pytest.approx(parts) and s["power_w"] == pytest.approx(parts / lat)
    assert r.per_op["energy_j"].sum() == pytest.approx(parts)


def test_simulated_energy_is_the_power_models_and_pricing_again_changes_nothing():
    unit = device([engine(lanes=64, kp=16), engine(**VECTOR)], power=POWER)
    acc = machine(unit)
    g = Graph("two")
    a = g.add(gemm(16, 64, 64, name="a"))
    g.add(Op("act", OpKind.ELTWISE, {"rows": 16, "cols": 64}), [a])
    r = simulate(g, acc)
    parts = fpga.energy_breakdown(g, acc, r)
    model_j = sum(sum(v) for v in parts.values())
    assert r.summary["energy_j"] == pytest.approx(model_j)
    assert r.summary["energy_leakage_j"] == 0 and r.summary["energy_mac_j"] == 0  # sim.ppa's figures replaced
    assert r.summary["leakage_w"] == pytest.approx(POWER.static_w)
    again = fpga.price(r, g, acc)
    assert again.summary["energy_j"] == r.summary["energy_j"] and again.summary["notes"] == r.summary["notes"]
    assert list(again.per_op.columns) == list(r.per_op.columns)


def test_fpga_without_power_coefficients_keeps_dram_energy_and_says_so():
    unit = device([engine(lanes=64, kp=16)])
    acc = machine(unit)
    r = simulate(gemm(16, 64, 64), acc)
    assert r.summary["energy_j"] == pytest.approx(r.summary["energy_dram_j"] + r.summary["energy_leakage_j"])
    assert r.summary["energy_dram_j"] == pytest.approx(64 * 64 * 2 * 80 * 1e-12)
    assert any("no power coefficients" in n for n in r.summary["notes"])


def test_coefficients_are_tech_figures_times_the_gaps():
    from arch import tech

    unit = device([], power=POWER)
    k = fpga.energy_coefficients(unit, machine(unit))
    mac16 = tech.energy_pj("mac", "compute", node_nm=16, fmt="int16", acc_bits=48).value
    assert k["dsp"] == pytest.approx(mac16 * 27 * 18 / 256 * 5.0)
    assert k["logic"] == pytest.approx(tech.energy_pj("add", "compute", node_nm=16, bits=1).value * 10.0 * 0.25)


def test_pricing_without_power_coefficients_says_what_is_missing():
    unit = device([engine()])
    with pytest.raises(ValueError, match="no power coefficients"):
        fpga.energy_coefficients(unit, machine(unit))


# ---- MoE memory and task switching -------------------------------------------------------------------------

TINY_MOE = {"model_type": "m3vit", "hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2,
            "intermediate_size": 64, "image_size": 32, "patch_size": 16, "num_experts": 4, "num_experts_per_tok": 2,
            "moe_intermediate_size": 32, "tasks": ["a", "b"]}  # 5 tokens; MoE in layer 1


def moe_unit():
    return device([engine(a=32, w=16), engine(**VECTOR), engine(name="att", ops=("attn_score", "attn_context"))],
                  power=POWER)


def test_moe_memory_of_each_schedule():
    g = from_config(TINY_MOE, tasks=["a"])
    expert = 2 * (32 * 32 + 32) * 2  # fc1 and fc2 with biases, fp16
    acts = 2 * 5 * 32 * 4 + 5 * 2 * (2 + 4)  # input and accumulators at 32 bits; index + gate per slot
    unit = moe_unit()
    assert fpga.moe_memory(g, unit, "expert_major")["bytes"] == acts + 2 * expert
    assert fpga.moe_memory(g, unit, "token_major")["bytes"] == acts + 4 * expert
    assert fpga.moe_memory(g, unit, "task_resident")["bytes"] == acts + 4 * expert  # one MoE layer, all routed
    with pytest.raises(ValueError, match="schedule='lazy'"):
        fpga.moe_memory(g, unit, "lazy")


def test_task_switch_reloads_only_when_the_task_changes():
    unit = moe_unit()
    acc = machine(unit, ddr_gbps=1.0)
    frames = {t: from_config(TINY_MOE, tasks=[t]) for t in ("a", "b")}
    seq = ["a", "a", "b", "a"]
    resident = fpga.task_switch_trace(frames, seq, acc, schedule="task_resident")
    reloads = [e for e in resident if e["lane"] == "reload"]
    assert [e["frame"] for e in reloads] == [0, 2, 3]
    nbytes = 4 * 2 * (32 * 32 + 32) * 2
    assert all(e["bytes"] == nbytes and e["end_s"] - e["start_s"] == pytest.approx(nbytes / 1e9) for e in reloads)
    streamed = fpga.task_switch_trace(frames, seq, acc, schedule="expert_major")
    assert not [e for e in streamed if e["lane"] == "reload"]
    assert any(e["lane"] == "dma" for e in streamed)
    # frames follow one another: each frame starts where the previous (and its reload) ended
    ends = {}
    for e in streamed:
        ends[e["frame"]] = max(ends.get(e["frame"], 0.0), e["end_s"])
    starts = {f: min(e["start_s"] for e in streamed if e["frame"] == f) for f in ends}
    assert starts[1] == pytest.approx(ends[0]) and starts[3] == pytest.approx(ends[2])
    with pytest.raises(ValueError, match=r"tasks \['c'\]"):
        fpga.task_switch_trace(frames, ["c"], acc)


# ---- presets and input checks ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["m3vit-zcu104", "alveo-u280", "matmulfree-fpga"])
def test_presets_load_and_fit(name):
    acc = arch.load(name)
    use = fpga.check_fit(acc.units_of("fpga")[0])
    assert max(use.utilization().values()) <= 1.0


def test_the_u280_design_does_not_fit_the_zcu104():
    big = arch.load("alveo-u280").units[0]
    small = arch.load("m3vit-zcu104").units[0]
    moved = big.model_copy(update={k: getattr(small, k) for k in ("device", "dsps", "bram_bytes", "uram_bytes",
                                                                   "luts", "ffs")})
    with pytest.raises(fpga.FpgaFitError, match="DSP slices: needs 6,400 .* XCZU7EV has 1,728"):
        fpga.check_fit(moved)


def _bad(tmp_path, change):
    data = yaml.safe_load((arch.loader.PRESET_DIR / "m3vit-zcu104.yaml").read_text())
    change(data["units"][0]["engines"])
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ArchError) as err:
        arch.load(path)
    return str(err.value)


def test_engine_field_errors_name_the_path(tmp_path):
    msg = _bad(tmp_path, lambda e: e[0].__setitem__("k_parallel", 15))
    assert "units[0] (fpga).engines[0] (linear).k_parallel: got 15; expected a divisor of lanes=512" in msg
    msg = _bad(tmp_path, lambda e: e[1].__setitem__("ops", ["gem"]))
    assert "engines[1] (attention).ops[0]: got 'gem'; did you mean 'gemm'?" in msg
    msg = _bad(tmp_path, lambda e: e[2].pop("luts_per_lane"))
    assert "engines[2] (vector).luts_per_lane" in msg and "LUTs of one vector lane" in msg
    msg = _bad(tmp_path, lambda e: e[0].__setitem__("lanse", 3))
    assert "unknown field 'lanse'" in msg and "did you mean 'lanes'?" in msg
