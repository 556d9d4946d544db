"""Purpose: pin `sim.gpu`'s formulas (module docstring) on small synthetic GPUs: waves and tails of CTA
tiles, split-K, the memory roof, formats and fallbacks, output widths, memory-bound kernels and their
row-width rule, the fused-attention split and its causal/GQA/decode cases, the `OpCost` the engine sees,
the presets, and the fitting/measuring scripts' plumbing."""

from __future__ import annotations

import importlib.util
import math
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

import arch
import sim
from arch.spec import Accelerator, GpuEfficiency, GpuUnit, MemoryTier, Tech
from sim import gpu
from sim.cost import supports
from workloads import Dims, Op, OpKind, attention, eltwise, gemm, norm, softmax

ROOT = Path(__file__).resolve().parents[2]
IDEAL = {"launch_s": 0.0, "gemm_compute_eff": {f: 1.0 for f in ("fp32", "tf32", "fp16", "bf16", "fp8", "int8")},
         "gemm_tile_s": 0.0, "gemm_hbm_eff": 1.0, "sm_feed_gbps": 1e9, "overlap_exponent": 400.0,
         "stream_hbm_eff": {"eltwise": 1.0}, "stream_vector_eff": {}, "wide_row_eff": {},
         "attn_compute_eff": 1.0, "attn_exp_s": 0.0, "attn_hbm_eff": 1.0, "attn_fixed_s": 0.0}


def machine(sms=4, tflops=4.0, *, hbm_gbps=1e6, l2_gbps=1e7, vector=2.0, formats=("bf16", "fp16", "fp8", "int8"),
            **eff):
    """A GPU with `sms` SMs of `tflops` total per format (ideal efficiencies unless overridden)."""
    unit = GpuUnit(name="gpu", sms=sms, tensor_tflops={f: tflops * (2 if f in ("fp8", "int8") else 1) for f in formats},
                   vector_tflops=vector, l2_bytes="1MiB", efficiency=GpuEfficiency(**{**IDEAL, **eff}))
    memory = [MemoryTier(name="l2", kind="sram", capacity_bytes="1MiB", bandwidth_gbps=l2_gbps),
              MemoryTier(name="hbm", kind="hbm3", capacity_bytes="8GiB", bandwidth_gbps=hbm_gbps)]
    return Accelerator(name="g", tech=Tech(node_nm=5, clock_hz=1e9), units=[unit], memory=memory)


def seconds(op, acc):
    unit = acc.units[0]
    return gpu.kernel_time_s(op, unit, *gpu.bandwidths(acc))


@pytest.fixture
def one_tile(monkeypatch):
    monkeypatch.setattr(gpu, "TILES", ((128, 128),))
    monkeypatch.setattr(gpu, "SPLITS", (1,))


# ---- GEMM ---------------------------------------------------------------------------------------------------


def test_soft_roofline_exponent():
    assert gpu._soft(3.0, 4.0, 2.0) == pytest.approx(5.0)
    assert gpu._soft(3.0, 4.0, 1.0) == pytest.approx(7.0)
    assert gpu._soft(3.0, 4.0, 400.0) == pytest.approx(4.0, rel=1e-3)
    assert gpu._soft(0.0, 0.0, 3.0) == 0.0


def test_a_tile_past_a_full_wave_costs_a_whole_wave(one_tile):
    acc = machine(sms=4, tflops=4.0)  # 1 TFLOP/s per SM
    tile = 2 * 128 * 128 * 1024 / 1e12
    assert seconds(gemm(512, 256, 1024, dtype="bf16"), acc) == pytest.approx(2 * tile, rel=1e-6)  # 8 tiles: 2 waves
    assert seconds(gemm(520, 256, 1024, dtype="bf16"), acc) == pytest.approx(3 * tile, rel=1e-6)  # 10 tiles: 3 waves


def test_tile_overhead_and_launch_add_per_wave_and_per_kernel(one_tile):
    acc = machine(sms=4, tflops=4.0, gemm_tile_s=1e-6, launch_s=5e-6)
    tile = 2 * 128 * 128 * 1024 / 1e12 + 1e-6
    assert seconds(gemm(512, 256, 1024, dtype="bf16"), acc) == pytest.approx(5e-6 + 2 * tile, rel=1e-6)


def test_compute_efficiency_scales_the_main_loop(one_tile):
    fast = seconds(gemm(512, 512, 512, dtype="bf16"), machine())
    half = seconds(gemm(512, 512, 512, dtype="bf16"), machine(gemm_compute_eff={"bf16": 0.5}))
    assert half == pytest.approx(2 * fast)


def test_operand_feed_bounds_a_tile(one_tile):
    acc = machine(sm_feed_gbps=1.0)  # 1 GB/s per SM: each k step moves (128 + 128) x 2 bytes
    assert seconds(gemm(128, 128, 1000, dtype="bf16"), acc) == pytest.approx(256 * 2 * 1000 / 1e9, rel=1e-6)


def test_skinny_gemm_is_weight_bytes_over_bandwidth():
    acc = machine(sms=100, tflops=1000.0, hbm_gbps=100.0, gemm_hbm_eff=0.5)
    op = gemm(16, 4096, 4096, dtype="bf16")
    nbytes = (16 * 4096 + 4096 * 4096 + 16 * 4096) * 2
    assert seconds(op, acc) == pytest.approx(nbytes / 50e9, rel=1e-3)


def test_split_k_spreads_a_lone_tile_over_idle_sms():
    acc = machine(sms=8)
    op = gemm(64, 64, 65536, dtype="bf16")
    t, _, (tm, tn, split) = gpu.gemm_time(op, acc.units[0], *gpu.bandwidths(acc))
    assert split > 1
    assert t < 2 * 64 * 64 * 65536 / (4e12 / 8) / 2  # better than one SM working alone, by more than 2x


def test_formats_and_fallbacks():
    assert gpu.compute_format(gemm(16, 64, 64, w_format="int4", a_format="fp16")) == "fp16"  # weight-only quant
    assert gpu.compute_format(gemm(16, 64, 64, dtype="fp8_e4m3")) == "fp8"
    assert gpu.compute_format(gemm(16, 64, 64, w_format="int4", a_format="int8")) == "int8"
    unit = machine(formats=("fp16",), vector=3.0).units[0]
    assert gpu.peak_flops(unit, "fp8") == ("fp16", 4e12)  # no fp8: runs at the fp16 rate
    assert gpu.peak_flops(unit, "tf32") == ("fp32", 3e12)  # no tf32 key: the FMA pipes
    with pytest.raises(ValueError, match="no throughput for format 'bf16'"):
        gpu.peak_flops(machine(formats=("int8",)).units[0], "bf16")


def test_integer_and_fp8_outputs_are_wider_than_their_operands():
    assert gpu.moved_bytes(gemm(32, 64, 128, dtype="int8"))[1] == 32 * 64 * 4  # int32 accumulators
    assert gpu.moved_bytes(gemm(32, 64, 128, dtype="fp8"))[1] == 32 * 64 * 2  # bf16 out
    assert gpu.moved_bytes(gemm(32, 64, 128, dtype="bf16")) == ((32 * 128 + 128 * 64) * 2, 32 * 64 * 2)


def test_empty_ops_take_no_time():
    acc = machine(launch_s=1e-5)
    assert seconds(gemm(0, 64, 64), acc) == 0.0
    assert seconds(attention(1, 0, 64, 8), acc) == 0.0


# ---- memory-bound kernels -------------------------------------------------------------------------------------


def test_eltwise_is_launch_plus_bytes_over_achieved_bandwidth():
    acc = machine(hbm_gbps=100.0, launch_s=2e-6, stream_hbm_eff={"eltwise": 0.5})
    op = eltwise(1000, 1000, inputs=2)
    assert seconds(op, acc) == pytest.approx(2e-6 + op.bytes / 50e9, rel=1e-6)


def test_row_reductions_run_at_their_own_rate_and_wide_rows_slower():
    eff = {"stream_vector_eff": {"norm": 0.5}, "wide_row_eff": {"norm": 0.25}}
    acc = machine(vector=1.0, **eff)  # compute bound: bandwidth is 1e15 B/s
    narrow, wide = norm(2048, 1024, affine=2), norm(1024, 2048, affine=2)
    assert seconds(narrow, acc) == pytest.approx(narrow.flops / 0.5e12, rel=1e-6)
    assert seconds(wide, acc) == pytest.approx(wide.flops / 0.25e12, rel=1e-6)


def test_norm_kernel_follows_row_width_and_bytes():
    """Norms: warp rows up to 1024 elements, else CTA rows (shared-memory while under SMEM_ROW_BYTES, 48 KiB
    less 32 fp32 reduction slots, else global memory); softmax has its own dispatch (`softmax_kernel`)."""
    assert gpu.SMEM_ROW_BYTES == 49152 - 128
    assert gpu.row_kernel(norm(8, 1024)) == "warp" and gpu.row_kernel(eltwise(8, 1 << 20)) == "warp"
    assert gpu.row_kernel(norm(8, 1025)) == "smem"
    assert gpu.row_kernel(norm(8, 24511, dtype="bf16")) == "smem"
    assert gpu.row_kernel(norm(8, 24512, dtype="bf16")) == "gmem"
    assert gpu.row_kernel(softmax(8, 1 << 16)) == "warp"  # not a norm: no row rule of its own here


# ---- softmax: torch's row kernels, occupancy, waves ---------------------------------------------------------

KERNELS = ROOT / "data" / "gpu" / "gpu_h100_softmax.kernels.json"
NAMES = {"warp": "softmax_warp_forward", "reg": "cunn_SoftMaxForwardReg", "smem": "cunn_SoftMaxForwardSmem",
         "gmem": "cunn_SoftMaxForward<"}


def test_softmax_dispatch_and_occupancy_match_the_profiled_kernels():
    """For every softmax case the profiler recorded on the H100 (torch 2.11): `softmax_kernel` names the
    kernel torch launched, and `softmax_launch` its threads per CTA, registers per thread (+-2 within a
    table entry), shared memory per CTA, number of CTAs, and -- where the grid fills every SM -- the
    occupancy calculator's resident warps."""
    import json

    cases = json.loads(KERNELS.read_text())["cases"]
    assert len(cases) > 300
    for c in cases:
        (k,) = c["kernels"]
        op = softmax(c["rows"], c["cols"], dtype=c["dtype"])
        g = gpu.softmax_launch(op)
        where = f"{c['dtype']} {c['rows']}x{c['cols']}: {k['name'][:60]}"
        assert NAMES[g["path"]] in k["name"], where
        assert k["block"][0] * k["block"][1] == g["threads"], where
        assert abs(k["registers per thread"] - g["regs"]) <= 2, where
        assert k["shared memory"] == g["smem"], where
        assert k["grid"][0] == g["ctas"], where
        if g["ctas"] >= g["k"] * 132:
            assert abs(k["est. achieved occupancy %"] - 100 * g["occupancy"]) <= 1, where


def test_ctas_per_sm_by_threads_registers_and_shared_memory():
    assert gpu.ctas_per_sm(1024, 32, 128) == 2  # thread-limited
    assert gpu.ctas_per_sm(1024, 37, 128) == 1  # 37 registers: 1280 per warp, 51 warps of registers
    assert gpu.ctas_per_sm(128, 80, 0) == 6 and gpu.ctas_per_sm(128, 48, 0) == 10
    assert gpu.ctas_per_sm(128, 16, 0) == 16  # 64 warps
    assert gpu.ctas_per_sm(32, 16, 0) == 32  # the CTA limit
    assert gpu.ctas_per_sm(128, 16, 100 * 1024) == 2  # shared memory: 228 KiB over 101 KiB


def test_softmax_busiest_sm_occupancy_and_reduction_cost():
    """Compute-bound (HBM at 1e15 B/s): the busiest SM runs ceil(CTAs / SMs) CTAs of (row FLOPs + reduction
    slots) each, at the SM's rate scaled by the kernel's occupancy (resident warps / 64)."""
    acc = machine(sms=4, vector=1.0, wide_row_eff={"softmax": 0.5}, stream_vector_eff={"softmax": 0.5})
    unit = acc.units[0]
    op = softmax(8, 6144, dtype="bf16")  # reg kernel, 30 registers: 2 CTAs of 1024 threads per SM, full occupancy
    g = gpu.softmax_launch(op)
    assert (g["path"], g["k"], g["occupancy"]) == ("reg", 2, 1.0)
    cta = 5 * 6144 + 2 * 10 * 1024 * 2
    assert seconds(op, acc) == pytest.approx(cta * 2 / (1e12 / 4 * 0.5), rel=1e-9)  # 8 rows: 2 CTAs per SM
    assert seconds(softmax(9, 6144, dtype="bf16"), acc) == pytest.approx(1.5 * seconds(op, acc), rel=1e-9)
    wide = softmax(8, 8192, dtype="bf16")  # 37 registers: one CTA per SM, half occupancy, two waves
    g = gpu.softmax_launch(wide)
    assert (g["k"], g["occupancy"]) == (1, 0.5)
    cta = 5 * 8192 + 2 * 10 * 1024 * 2
    assert seconds(wide, acc) == pytest.approx(2 * cta / (1e12 / 4 * 0.5 * 0.5), rel=1e-9)
    warp = softmax(64, 128, dtype="bf16")  # 4 warps x 2 rows per CTA: 8 CTAs over 4 SMs (16 could reside)
    g = gpu.softmax_launch(warp)
    assert (g["path"], g["rows"], g["ctas"], g["k"], g["occupancy"]) == ("warp", 8, 8, 16, 1.0)
    assert gpu.softmax_time(warp, unit, 1e15)[1] == pytest.approx(2 * 8 * (5 * 128 + 640) / (1e12 / 4 * 0.5))


def test_softmax_multipass_scalar_tail_costs_an_access_slot_per_element():
    """The multi-pass kernel's last cols % (8 bf16 x 1024 threads) elements go one per access (3 reads, 1 write),
    not one vector of 8: 32000-wide bf16 rows carry 7424 x 4 x 7/8 more slots; 32768-wide rows none."""
    acc = machine(sms=4, vector=1.0, gmem_row_eff={"softmax": 0.5})
    unit = acc.units[0]
    rate = 1e12 / 4 * 0.5  # per SM, full occupancy (2 CTAs of 1024 threads, 32 registers)
    reduce = 2 * 10 * 1024 * 2
    for cols, tail in ((32768, 0), (32000, 7424)):
        op = softmax(8, cols, dtype="bf16")  # 8 CTAs over 4 SMs x 2: one wave
        assert gpu.softmax_kernel(op) == "gmem"
        cta = 5 * cols + reduce + tail * 4 * (1 - 1 / 8)
        assert gpu.softmax_time(op, unit, 1e15)[1] == pytest.approx(2 * cta / rate, rel=1e-9)


def test_softmax_multipass_rows_spill_from_half_the_l2():
    """Memory-bound (vector rate huge): the global-memory kernel re-reads each row twice, from HBM in the
    proportion by which the rows in flight (k x SMs x row bytes) overflow half the L2 (1 MiB here)."""
    acc = machine(sms=4, vector=1e9, hbm_gbps=1000.0, stream_hbm_eff={"softmax": 0.5})
    small = softmax(64, 32768, dtype="bf16")  # 64 KiB rows, 2 per SM x 4 SMs = 512 KiB in flight: no spill
    assert seconds(small, acc) == pytest.approx(small.bytes / 500e9, rel=1e-6)
    big = softmax(64, 131072, dtype="bf16")  # 256 KiB rows: 2 MiB in flight, a quarter of re-reads hit
    spill = 1 - 0.5 * 2**20 / (2 * 4 * 131072 * 2)
    assert seconds(big, acc) == pytest.approx((big.bytes + 2 * 64 * 131072 * 2 * spill) / 500e9, rel=1e-6)


def test_rmsnorm_has_its_own_efficiency_key():
    assert gpu.stream_key(norm(8, 64, affine=1)) == "rmsnorm"
    assert gpu.stream_key(norm(8, 64, affine=2)) == "norm"
    acc = machine(vector=1.0, stream_vector_eff={"norm": 0.1, "rmsnorm": 0.2})
    assert seconds(norm(8, 64, affine=2), acc) == pytest.approx(2 * seconds(norm(8, 64, affine=1), acc), rel=1e-3)


# ---- attention --------------------------------------------------------------------------------------------------


def _attn(q_len, kv_len, head_dim, heads, batch=1, group=1, causal=0, part="score"):
    op = attention(q_len, kv_len, head_dim, heads, batch=batch, part=part, dtype="bf16")
    return op.replace(dims=Dims({**op.dims, "kv_group": group, "causal": causal}))


def test_score_and_context_halves_add_up_to_the_fused_kernel():
    acc = machine(sms=8, hbm_gbps=1000.0, launch_s=1e-6, attn_fixed_s=2e-6)
    score, context = _attn(512, 512, 64, 8), _attn(512, 512, 64, 8, part="context")
    fused = gpu.attention_time(score, acc.units[0], gpu.bandwidths(acc)[0])[0]
    assert seconds(score, acc) + seconds(context, acc) == pytest.approx(fused)
    assert gpu.attention_time(context, acc.units[0], gpu.bandwidths(acc)[0])[0] == pytest.approx(fused)


def test_prefill_tile_formula():
    acc = machine(sms=4, tflops=4.0, attn_exp_s=1e-12)
    op = _attn(256, 256, 64, 2)  # 2 heads x 2 query tiles = 4 tiles, one wave
    tile = 256 * (4 * 64 * 128 / 1e12 + 128 * 1e-12)
    assert seconds(op, acc) == pytest.approx(tile / 2, rel=1e-6)


def test_causal_prefill_is_about_half_for_long_sequences():
    acc = machine(sms=4)
    full = seconds(_attn(8192, 8192, 128, 8), acc)
    causal = seconds(_attn(8192, 8192, 128, 8, causal=1), acc)
    assert 0.5 < causal / full < 0.56


def test_decode_streams_the_kv_cache_once_per_kv_head():
    acc = machine(sms=64, tflops=1000.0, hbm_gbps=100.0, attn_hbm_eff=0.5)  # 4 sequences x 32 heads
    kv = 2 * 4 * 32 * 4096 * 128 * 2
    t = sum(seconds(_attn(1, 4096, 128, 32 * 4, part=p), acc) for p in ("score", "context"))
    assert t == pytest.approx((kv + 2 * 4 * 32 * 128 * 2) / 50e9, rel=1e-3)
    gqa = sum(seconds(_attn(1, 4096, 128, 32 * 4, group=4, part=p), acc) for p in ("score", "context"))
    assert gqa == pytest.approx((kv / 4 + 2 * 4 * 32 * 128 * 2) / 50e9, rel=1e-3)


def test_fused_halves_move_q_k_then_v_o_and_never_the_scores():
    score, context = _attn(1, 1000, 128, 8, group=2), _attn(1, 1000, 128, 8, group=2, part="context")
    q = 8 * 128 * 2
    kv = 4 * 1000 * 128 * 2
    assert gpu.moved_bytes(score) == (q + kv, 0.0)
    assert gpu.moved_bytes(context) == (kv, q)


# ---- what the engine sees -----------------------------------------------------------------------------------------


def test_registered_for_every_op_kind():
    assert gpu.KINDS == frozenset(OpKind)
    assert all(supports("gpu", kind) for kind in OpKind)


def test_cost_cycles_bytes_counts_and_simulate():
    acc = machine(sms=8, hbm_gbps=200.0, launch_s=3e-6)
    op = gemm(256, 512, 1024, dtype="bf16")
    c = gpu.cost(op, acc.units[0], acc)
    t = seconds(op, acc)
    assert c.cycles == math.ceil(t * 1e9)
    assert c.tier_bytes == {"hbm": sum(gpu.moved_bytes(op))}
    assert c.counts["mac"] == op.macs
    assert 0.0 < c.utilization <= 1.0
    assert c.compute_cycles + c.stall_cycles == c.cycles
    assert sim.simulate(op, acc).summary["latency_s"] == pytest.approx(c.cycles / 1e9)


def test_no_off_chip_tier_is_an_error():
    unit = machine().units[0]
    acc = Accelerator(name="x", tech=Tech(node_nm=5, clock_hz=1e9), units=[unit],
                      memory=[MemoryTier(name="l2", kind="sram", capacity_bytes="1MiB", bandwidth_gbps=1.0)])
    with pytest.raises(ValueError, match="off-chip memory tier"):
        gpu.cost(gemm(8, 8, 8), unit, acc)


# ---- presets and the public interface ---------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", ["fp32", "tf32", "fp16", "bf16", "fp8", "int8"])
def test_h100_answers_one_gemm_per_dtype(dtype):
    h100 = arch.load("h100")
    small = sim.simulate(gemm(16, 4096, 4096, dtype=dtype), h100).summary["latency_s"]
    big = sim.simulate(gemm(8192, 8192, 8192, dtype=dtype), h100).summary["latency_s"]
    assert 5e-6 < small < big
    peak = {"fp32": 67e12, "tf32": 494e12, "fp16": 989e12, "bf16": 989e12, "fp8": 1979e12, "int8": 1979e12}[dtype]
    assert 2 * 8192**3 / big < peak


def test_h100_attention_and_eltwise_and_the_other_presets():
    h100 = arch.load("h100")
    for op in (attention(2048, 2048, 128, 32, part="score"), attention(1, 2048, 128, 32, batch=16, part="context"),
               eltwise(4096, 4096), softmax(512, 2048), norm(16, 4096)):
        assert sim.simulate(op, h100).summary["latency_s"] > 0
    a100 = arch.load("gpu-a100")
    assert sim.simulate(gemm(4096, 4096, 4096, dtype="fp8"), a100).summary["latency_s"] > \
        sim.simulate(gemm(4096, 4096, 4096, dtype="fp8"), h100).summary["latency_s"]
    # no A100 measurements: its efficiencies are the H100 fit (scripts/fit_gpu.py writes both presets)
    fitted = h100.units[0].efficiency.model_dump(exclude={"source"})
    assert a100.units[0].efficiency.model_dump(exclude={"source"}) == fitted
    assert "H100" in a100.units[0].efficiency.source and "not measured on this GPU" in a100.units[0].efficiency.source


def test_unknown_efficiency_keys_are_rejected():
    with pytest.raises(Exception, match="did you mean 'softmax'"):
        GpuEfficiency(stream_hbm_eff={"sofmax": 0.5})
    with pytest.raises(Exception, match="expected a compute format"):
        GpuUnit(name="g", sms=1, tensor_tflops={"fp4": 1.0}, vector_tflops=1.0, l2_bytes=1024)


def test_embed_is_a_gather_and_an_unknown_kind_is_named():
    op = Op("e", OpKind.EMBED, {"tokens": 4, "vocab": 100, "hidden": 8})
    assert seconds(op, machine(hbm_gbps=1.0)) == pytest.approx(op.bytes / 1e9, rel=1e-3)  # the rows it reads
    with pytest.raises(ValueError, match="no formula for op kind 'nope'"):
        gpu.kernel_time_s(SimpleNamespace(kind=type("Kind", (), {"value": "nope"})()), machine().units[0], 1.0)


# ---- power and area (the gpu result pass) ---------------------------------------------------------------------


def powered(acc, *, tdp=500.0, idle=50.0, die=600.0):
    unit = acc.units[0].model_copy(update={"tdp_w": tdp, "idle_w": idle, "die_mm2": die})
    return acc.model_copy(update={"units": [unit]})


def test_idle_kernel_draws_idle_power():
    """A kernel that is all launch overhead (8 x 8 x 8) spends almost nothing beyond idle power."""
    acc = powered(machine(launch_s=1e-5))
    s = sim.simulate(gemm(8, 8, 8, dtype="bf16"), acc).summary
    assert s["energy_static_j"] == pytest.approx(50.0 * s["latency_s"])
    assert 50.0 <= s["power_w"] < 50.5
    assert s["leakage_w"] == 50.0 and s["energy_leakage_j"] == 0


def test_compute_bound_gemm_spends_the_budget_in_proportion_to_its_flop_rate():
    acc = powered(machine(sms=4, tflops=4.0, hbm_gbps=1e6, launch_s=2e-6))
    op = gemm(1024, 1024, 1024, dtype="bf16")
    s = sim.simulate(op, acc).summary
    rate = op.flops / s["latency_s"] / 4e12  # achieved / peak
    assert 0.5 < rate < 1.0
    assert s["energy_mac_j"] / s["latency_s"] == pytest.approx(rate * (500.0 - 50.0))
    assert gpu.pj_per_flop(acc.units[0], "bf16") == pytest.approx(450.0 / 4e12 * 1e12)
    assert gpu.pj_per_flop(acc.units[0], "fp8") == pytest.approx(450.0 / 8e12 * 1e12)  # twice the rate: half


def test_memory_bound_kernel_pays_hbm_and_l2_bytes_not_flop_budget():
    from sim.ppa import dram_pj_per_byte, sram_pj_per_byte

    acc = powered(machine(hbm_gbps=100.0))
    op = eltwise(4096, 4096)
    r = sim.simulate(op, acc)
    s = r.summary
    read, write = gpu.moved_bytes(op)
    assert s["energy_dram_j"] == pytest.approx((read + write) * dram_pj_per_byte(acc.memory[1]) * 1e-12)
    assert s["energy_sram_j"] == pytest.approx((read + write) * sram_pj_per_byte(acc.units[0], acc)[0] * 1e-12)
    assert s["energy_mac_j"] == 0
    compute = sim.simulate(gemm(1024, 1024, 1024, dtype="bf16"), acc).summary
    assert s["power_w"] < compute["power_w"] <= 500.0


def test_power_never_exceeds_tdp():
    acc = powered(machine(hbm_gbps=1e6, launch_s=0.0), tdp=51.0, idle=50.0)
    s = sim.simulate(gemm(1024, 1024, 1024, dtype="bf16"), acc).summary
    assert s["power_w"] == pytest.approx(51.0)


def test_die_area_replaces_the_block_estimate_and_presets_carry_it():
    s = sim.simulate(gemm(64, 64, 64), powered(machine())).summary
    assert s["area_mm2"] == 600.0 and s["area_die_mm2"] == 600.0 and s["area_sram_mm2"] == 0
    assert not [n for n in s["notes"] if n.startswith("area of unit")]
    for name, die, tdp in (("h100", 814.0, 700.0), ("gpu-a100", 826.0, 400.0)):
        s = sim.simulate(gemm(8192, 8192, 8192, dtype="bf16"), arch.load(name)).summary
        assert s["area_mm2"] == die
        assert 0.5 * tdp < s["power_w"] <= tdp


def test_gpu_without_tdp_keeps_tech_table_energy_and_says_so():
    s = sim.simulate(gemm(64, 64, 64), machine()).summary
    assert "energy_static_j" not in s
    assert any("has no tdp_w" in n for n in s["notes"])
    with pytest.raises(Exception, match="expected less than tdp_w"):
        GpuUnit(name="g", sms=1, tensor_tflops={"bf16": 1.0}, vector_tflops=1.0, l2_bytes=1024, tdp_w=10, idle_w=20)


# ---- scripts -------------------------------------------------------------------------------------------------


def _script(name):
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod  # dataclasses look their module up while the class is built
    spec.loader.exec_module(mod)
    return mod


def test_fit_writes_a_preset_that_loads(tmp_path):
    fit = _script("fit_gpu")
    path = tmp_path / "h100.yaml"
    path.write_text((ROOT / "arch" / "presets" / "h100.yaml").read_text())
    eff = GpuEfficiency(launch_s=1.5e-6, gemm_compute_eff={"bf16": 0.5}, source="test")
    fit.write_preset(path, eff)
    loaded = arch.load(str(path)).units[0].efficiency
    assert loaded.launch_s == 1.5e-6 and loaded.gemm_compute_eff == {"bf16": 0.5} and loaded.source == "test"
    assert path.read_text().count(fit.BEGIN) == 1


def test_split_is_deterministic_and_rows_become_ops():
    fit = _script("fit_gpu")
    row = {"family": "sdpa_decode", "op": "sdpa", "dtype": "bf16", "batch": 16, "m": 0, "n": 0, "k": 0, "rows": 0,
           "cols": 0, "inputs": 0, "heads": 32, "kv_heads": 8, "q_len": 1, "kv_len": 2048, "head_dim": 128,
           "causal": 0}
    assert fit.half(row) == fit.half(dict(row)) in ("train", "test")
    score, context = fit.row_ops(row)
    assert score.kind is OpKind.ATTN_SCORE and score.dims["kv_group"] == 4 and score.batch == 16 * 32
    assert context.kind is OpKind.ATTN_CONTEXT


def test_measure_dry_run_writes_the_csv(tmp_path):
    pytest.importorskip("torch")
    measure = _script("measure_gpu")
    out = tmp_path / "gpu.csv"
    assert measure.main(["--dry-run", "--only", "sdpa_prefill", "--kernels", "--out", str(out)]) == 0
    fit = _script("fit_gpu")
    df = fit.load(out)
    assert list(df.columns) == measure.COLUMNS and len(df) == sum(c.shape["family"] == "sdpa_prefill"
                                                                  for c in measure.cases())
    assert out.with_suffix(".kernels.json").exists()  # no kernels on CPU, but the file is written
    assert (df["time_s"] > 0).all() and fit.provenance(out)["gpu"].startswith("none")
    assert out.with_suffix(".json").exists()
