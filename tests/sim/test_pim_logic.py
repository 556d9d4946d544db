"""sim.pim_logic: the Logic-PIM roofline cost and the Op/B dispatch pass (Duplex, MICRO 2024).

Figures: the duplex preset's Logic-PIM (13.408 TB/s through the TSVs, 107.26 TFLOP/s: 4x and 8 FLOP/B of
the H100's 3.352 TB/s, from the authors' simulator config, see arch/presets/duplex.yaml) and the H100's
3.35 TB/s external HBM; ops are small Mixtral-shaped pieces so that each expectation is a closed form.
"""

from __future__ import annotations

import math

import pytest

import arch
from sim import dram, pim_logic
from workloads import attention, gemm
from workloads.graph import Graph
from workloads.serving import serving_step

BW, PEAK = 13408e9, 107.26e12


@pytest.fixture(scope="module")
def duplex():
    return arch.load("duplex")


def _on(graph: Graph, name: str) -> str:
    return graph[name].tags["unit"]


def test_memory_bound_op_takes_its_bytes_over_the_tsv_bandwidth(duplex):
    pim = duplex.unit("logic_pim")
    op = attention(1, 4096, 128, 32, batch=64, part="score").replace(dims={"M": 1, "N": 4096, "K": 128, "kv_group": 4})
    assert op.intensity < 8  # GQA decode attention sits below the PIM's 8 FLOP/B ridge
    c = pim_logic.cost(op, pim, duplex)
    clock = duplex.tech.clock_hz
    eff = dram.effective_bandwidth("hbm3", "stream") / dram.peak_bandwidth(dram.resolve_timing("hbm3"))
    assert pim_logic.stream_efficiency(duplex.tier("hbm_tsv")) == pytest.approx(eff) and 0.85 < eff < 0.95
    assert c.cycles == math.ceil(op.bytes / (BW * eff) * clock)
    untimed = arch.load("duplex", overrides={"memory.hbm_tsv.timing": None})
    assert pim_logic.cost(op, pim, untimed).cycles == math.ceil(op.bytes / BW * clock)  # no timing: peak
    assert c.compute_cycles == math.ceil(op.flops / PEAK * clock)
    assert c.stall_cycles == c.cycles - c.compute_cycles > 0
    assert c.counts["mac"] == op.macs


def test_compute_bound_op_takes_its_flops_at_peak(duplex):
    pim = duplex.unit("logic_pim")
    op = gemm(64, 14336, 4096)  # an expert with 64 tokens: Op/B ~ 60 > 8
    c = pim_logic.cost(op, pim, duplex)
    assert c.cycles == c.compute_cycles == math.ceil(op.flops / PEAK * duplex.tech.clock_hz)
    assert c.utilization == pytest.approx(1.0, rel=1e-3)


def test_bytes_go_to_the_tsv_tier_not_the_xpu_channel(duplex):
    op = gemm(8, 4096, 4096)
    c = pim_logic.cost(op, duplex.unit("logic_pim"), duplex)
    assert c.tier_bytes == {"hbm_tsv": op.bytes}
    assert "hbm" not in c.tier_bytes


def test_bad_kind_and_missing_figures_are_errors(duplex):
    pim = duplex.unit("logic_pim")
    from workloads import norm
    with pytest.raises(ValueError, match="cannot run op kind 'norm'"):
        pim_logic.cost(norm(4, 4096), pim, duplex)
    with pytest.raises(ValueError, match="peak_tflops=None"):
        pim_logic.cost(gemm(1, 64, 64), pim.model_copy(update={"peak_tflops": None}), duplex)


def test_threshold_is_where_the_pim_compute_roof_meets_the_xpu_memory_roof(duplex):
    pim = duplex.unit("logic_pim")
    assert pim_logic.threshold(pim, duplex) == pytest.approx(107.26e12 / 3350e9)
    assert pim_logic.threshold(pim.model_copy(update={"opb_threshold": 12.0}), duplex) == 12.0


def test_dispatch_by_op_b_decode_attention_on_pim_prefill_and_projections_on_xpu(duplex):
    g = serving_step("mixtral-8x7b", decode=30, context_len=1024, prefill=1, prompt_len=512, layers=1)
    out = pim_logic.assign(g, duplex)
    assert out is not g and "unit" not in g["L0.attn.decode.score"].tags  # input untouched
    for name in ("L0.attn.decode.score", "L0.attn.decode.softmax", "L0.attn.decode.context"):
        assert _on(out, name) == "logic_pim", name
    for name in ("L0.attn.prefill.score", "L0.attn.prefill.softmax", "L0.attn.prefill.context", "L0.attn.q_proj",
                 "L0.attn_norm", "L0.moe.router", "L0.attn.o_proj"):
        assert _on(out, name) == "gpu", name
    # only attention and expert layers are candidates: the LM head over 31 rows stays on the xPU despite
    # its Op/B (~31) below the threshold (32)
    assert out["head.lm_head"].intensity < 32 and _on(out, "head.lm_head") == "gpu"
    assert set(out.g.edges) == set(g.g.edges)  # co-processing keeps the graph's own dependencies only


def test_dispatch_off_leaves_every_op_on_the_xpu(duplex):
    off = arch.load("duplex", overrides={"units.logic_pim.opb_dispatch": False})
    g = serving_step("mixtral-8x7b", decode=16, context_len=256, layers=1)
    assert pim_logic.assign(g, off) is g


def test_expert_co_processing_splits_experts_by_modelled_time(duplex):
    g = serving_step("mixtral-8x7b", decode=64, context_len=256, layers=1)  # 16 tokens per expert
    out = pim_logic.assign(g, duplex)
    units = [_on(out, f"L0.moe.e{e}.up_proj") for e in range(8)]
    assert "gpu" in units and "logic_pim" in units
    for e in range(8):  # an expert's ops stay together
        assert len({_on(out, f"L0.moe.e{e}.{p}") for p in ("gate_proj", "up_proj", "act", "down_proj")}) == 1
    # the split's makespan beats putting every expert on either unit alone
    pim, gpu = duplex.unit("logic_pim"), duplex.unit("gpu")

    def t(e, unit):
        return sum(pim_logic.modelled_s(out[f"L0.moe.e{e}.{p}"], unit, duplex)
                   for p in ("gate_proj", "up_proj", "act", "down_proj"))
    split = max(sum(t(e, gpu) for e in range(8) if units[e] == "gpu"),
                sum(t(e, pim) for e in range(8) if units[e] == "logic_pim"))
    assert split < min(sum(t(e, gpu) for e in range(8)), sum(t(e, pim) for e in range(8)))


def test_without_co_processing_experts_go_by_threshold_and_units_take_turns(duplex):
    off = arch.load("duplex", overrides={"units.logic_pim.co_processing": False})
    g = serving_step("mixtral-8x7b", decode=64, context_len=256, layers=1)
    out = pim_logic.assign(g, off)
    assert {_on(out, f"L0.moe.e{e}.up_proj") for e in range(8)} == {"logic_pim"}  # Op/B ~16 < 32
    ops = out.ops()
    for prev, op in zip(ops, ops[1:]):  # a chain: one op (so one unit) at a time
        assert prev.name in {p.name for p in out.predecessors(op)}


def test_pinned_ops_are_left_alone(duplex):
    g = Graph("pinned")
    g.add(gemm(1, 4096, 4096, name="a", unit="gpu"))
    assert _on(pim_logic.assign(g, duplex), "a") == "gpu"


def test_simulated_attention_co_processing_overlaps_and_keeps_pim_bytes_off_the_xpu_channel(duplex):
    import sim

    g = serving_step("mixtral-8x7b", decode=30, context_len=1024, prefill=1, prompt_len=512, layers=1)
    r = sim.simulate(g, duplex, trace=True)
    units = dict(zip(r.per_op["name"], r.per_op["unit"]))
    assert units["L0.attn.decode.context"] == "logic_pim" and units["L0.attn.prefill.context"] == "gpu"
    spans = {(n, u): (t0, t1) for n, u, t0, t1, *_ in
             ((e["op"], e["unit"], e["start_s"], e["end_s"]) for e in r.trace) if u in ("gpu", "logic_pim")}
    d0, d1 = spans[("L0.attn.decode.score", "logic_pim")]
    p0, p1 = spans[("L0.attn.prefill.score", "gpu")]
    assert max(d0, p0) < min(d1, p1)  # the two halves run at the same time on the two units
    pim_bytes = sum(o.bytes for o in g.ops() if units[o.name] == "logic_pim")
    assert r.summary["hbm_tsv_bytes"] == pytest.approx(pim_bytes)
    gpu_only = sim.simulate(g, arch.load("duplex-gpu-only")).summary
    assert r.summary["hbm_bytes"] < gpu_only["hbm_bytes"] - 0.9 * pim_bytes  # those bytes left the xPU's channel


def test_hot_experts_go_to_the_xpu_cold_ones_to_the_pim(duplex):
    """Duplex's expert co-processing with skewed routing: experts with many tokens (high Op/B) run on the
    xPU, those with few on the Logic-PIM."""
    hot, cold = 480, 8
    g = serving_step("mixtral-8x7b", decode=512, context_len=256, layers=1,
                     routing=[hot, hot, cold, cold, cold, cold, cold, 1024 - 2 * hot - 5 * cold])
    out = pim_logic.assign(g, duplex)
    assert [_on(out, f"L0.moe.e{e}.down_proj") for e in range(7)] == ["gpu"] * 2 + ["logic_pim"] * 5
    assert out["L0.moe.e0.down_proj"].intensity > 32 > out["L0.moe.e2.down_proj"].intensity
