"""Purpose: pin `sim.pim`'s in-bank PIM formulas (module docstring) on the neupims preset's HBM2 timing, the
dispatch pass (which ops go to the PIM, by the PimUnit policy fields), sub-batch splitting and tensor
parallelism (`workloads.batching`), blocked mode (``OpCost.holds``) and the PIM energy result pass.

Timing numbers are the neupims preset's (HBM2_8Gb_x128_dualpim.ini of casys-kaist/NeuPIMs: tCK 1 ns,
tRCD = tRP = 14, tRAS 34, tCCD_L 2, tRFC 260, tREFI 3900, 1 KiB rows, 32 channels x 2 pseudo-channels x 16
banks = 1024 banks, 1024 GB/s external); 16 fp16 multipliers per bank."""

from __future__ import annotations

import math

import pytest

import arch
import sim
import workloads
from sim import pim
from sim.ppa import dram_pj_per_byte
from workloads import Graph, Op, OpKind
from workloads.batching import split_sizes, split_sub_batches, tensor_parallel
from workloads.config import from_config

NEUPIMS = arch.load("neupims")
REFRESH = 1 - 260 / 3900
#: neupims splitting from 4 requests whatever its estimate says: the tests of the interleaving mechanism itself
SPLIT_AT_4 = {"units.pim.sub_batch_min": 4, "units.pim.sub_batch_policy": "always"}


def score(batch: int, kv: int, head_dim: int = 128, group: int = 1) -> Op:
    return Op("s", OpKind.ATTN_SCORE, {"M": 1, "N": kv, "K": head_dim, "kv_group": group}, batch=batch, weights=False)


def tiny_decoder(batch: int, phase: str = "decode") -> Graph:
    cfg = {"model_type": "gpt2", "n_embd": 256, "n_layer": 2, "n_head": 4, "n_positions": 512, "vocab_size": 1000}
    return from_config(cfg, phase=phase, batch=batch, seq_len=64)


def test_banks_and_peak_of_the_neupims_hbm():
    t = NEUPIMS.tier("hbm").timing
    assert pim.banks(t) == 1024
    # 1024 banks x 16 MACs per tCCD_L (2 ns)
    assert pim.peak_macs_per_s(NEUPIMS.unit("pim"), t) == pytest.approx(1024 * 16 / 2e-9)


def test_attention_score_cost_is_the_closed_form():
    """1024 heads of a 512 x 128 fp16 K-cache: 128 KiB = 128 rows each, 128 rows per bank; 32 COMPs per row
    -> a row visit is max(34, 14 + 64) + 14 = 92 ns; plus query in and scores out over 1024 GB/s."""
    c = pim.in_bank_cost(score(1024, 512), NEUPIMS.unit("pim"), NEUPIMS)
    rows_ns = 128 * 92 / REFRESH
    io_ns = (1024 * 128 * 2 + 1024 * 512 * 2) / 1024e9 * 1e9
    assert c.cycles == math.ceil(rows_ns + io_ns)
    assert c.compute_cycles == 128 * 32 * 2
    assert c.counts["pim_act"] == 1024 * 128
    assert c.counts["pim_internal_read_bytes"] == 1024 * 128 * 1024
    assert c.counts["pim_io_bytes"] == 1024 * 128 * 2 + 1024 * 512 * 2
    assert c.counts["mac"] == 1024 * 512 * 128
    assert c.tier_bytes == {}  # nothing crosses the engine's DMA channel
    assert c.holds == ()  # dual row buffers


def test_short_row_visit_is_bounded_by_t_ras():
    """256-byte rows: 8 COMPs, 14 + 16 = 30 < tRAS 34, so a visit takes 34 + 14 = 48 ns, not 44."""
    acc = arch.load("neupims", {"memory.hbm.timing.row_bytes": 256})
    op = score(1024, 128)  # 32 KiB per head = 128 rows of 256 B; 128 rows per bank
    c = pim.in_bank_cost(op, acc.unit("pim"), acc)
    io_ns = (1024 * 128 * 2 + 1024 * 128 * 2) / 1024e9 * 1e9
    assert c.cycles == math.ceil(128 * 48 / REFRESH + io_ns)


def test_every_input_vector_rereads_the_row_so_gemms_are_compute_bound_on_pim():
    """A weight GEMM with M vectors does M x 32 COMPs per row visit: M = 8 costs ~ (14 + 512) / 92 of M = 1."""
    unit = NEUPIMS.unit("pim")
    one = pim.in_bank_cost(Op("g", OpKind.GEMM, {"M": 1, "N": 4096, "K": 4096}), unit, NEUPIMS)
    eight = pim.in_bank_cost(Op("g", OpKind.GEMM, {"M": 8, "N": 4096, "K": 4096}), unit, NEUPIMS)
    rows_per_bank = math.ceil(4096 * 4096 * 2 / 1024 / 1024)  # 32
    assert eight.compute_cycles == rows_per_bank * 8 * 32 * 2
    assert eight.cycles > 5 * one.cycles


def test_gqa_heads_share_one_matrix():
    """32 query heads in groups of 4 read 8 K matrices, each with 4 vectors: same rows as 8 heads, 4x COMPs."""
    unit = NEUPIMS.unit("pim")
    gqa = pim.in_bank_cost(score(32 * 64, 256, group=4), unit, NEUPIMS)
    mha = pim.in_bank_cost(score(8 * 64, 256), unit, NEUPIMS)
    assert gqa.counts["pim_act"] == mha.counts["pim_act"]
    assert gqa.compute_cycles == 4 * mha.compute_cycles


def context(batch: int, kv: int, head_dim: int = 128) -> Op:
    return Op("c", OpKind.ATTN_CONTEXT, {"M": 1, "N": head_dim, "K": kv}, batch=batch, weights=False)


def test_context_rows_hold_one_output_dimension_and_a_short_context_leaves_them_part_empty():
    """Context GEMV, 300 tokens (600 B per output dimension): one row per dimension, 128 rows per head (not the
    75 a dense packing of 300 x 128 x 2 B would fill), 19 COMPs per visit (ceil(600 / 32)): max(34, 14 + 38) + 14
    = 66 ns a visit, as the authors' NeuPIMSAttend (one row per 512-token chunk and dimension, ceil(300 / 16)
    COMPs)."""
    c = pim.in_bank_cost(context(1024, 300), NEUPIMS.unit("pim"), NEUPIMS)
    io_ns = (1024 * 300 * 2 + 1024 * 128 * 2) / 1024e9 * 1e9
    assert c.counts["pim_act"] == 1024 * 128
    assert c.compute_cycles == 128 * 19 * 2
    assert c.cycles == math.ceil(128 * 66 / REFRESH + io_ns)
    assert c.counts["pim_internal_read_bytes"] == 1024 * 128 * 19 * 32  # the filled columns only


def test_a_long_context_is_full_row_chunks_and_one_partial_row():
    """1100 tokens = 2200 B per dimension: two full 1 KiB rows (32 COMPs, 92 ns) and one of 152 B (5 COMPs,
    max(34, 24) + 14 = 48 ns) per dimension."""
    kinds = pim.row_kinds(context(8, 1100), NEUPIMS.unit("pim"), NEUPIMS.tier("hbm").timing)
    assert kinds == [(8 * 128 * 2, 32), (8 * 128, 5)]
    c = pim.in_bank_cost(context(1024, 1100), NEUPIMS.unit("pim"), NEUPIMS)
    io_ns = (1024 * 1100 * 2 + 1024 * 128 * 2) / 1024e9 * 1e9
    assert c.cycles == math.ceil((256 * 92 + 128 * 48) / REFRESH + io_ns)


def test_channel_assignment_policies():
    lens = [100, 90, 80, 10, 10, 10]
    assert pim.assign_channels(lens, 2, "round_robin") == [0, 1, 0, 1, 0, 1]
    # longest first onto the least-loaded channel: 100 -> 0, 90 -> 1, 80 -> 1, then the 10s onto 0
    assert pim.assign_channels(lens, 2, "greedy") == [0, 1, 1, 0, 0, 0]
    assert pim.channel_skew(lens, pim.assign_channels(lens, 2, "greedy"), 2) == pytest.approx(170 / 150)
    assert pim.channel_skew(lens, [0, 1, 0, 1, 0, 1], 2) == pytest.approx(190 / 150)
    with pytest.raises(ValueError, match="unknown channel_balance 'fifo'"):
        pim.assign_channels(lens, 2, "fifo")


def skewed_decoder(lens, chans=None) -> Graph:
    g = tiny_decoder(len(lens))
    g.meta["context_lens"] = lens
    if chans is not None:
        g.meta["context_channels"] = chans
    return g


def test_the_busiest_channel_sets_the_pim_attention_time():
    """All 8 requests' KV in channel 0 of 32: skew 32, every PIM attention op takes longer, the NPU's ops
    do not change, and the rows activated (energy) are the same."""
    even = sim.simulate(skewed_decoder([64] * 8, [c * 4 for c in range(8)]), NEUPIMS)
    one = sim.simulate(skewed_decoder([64] * 8, [0] * 8), NEUPIMS)
    assert one.summary["pim_channel_skew"] == pytest.approx(32.0)
    assert even.summary["pim_channel_skew"] == pytest.approx(4.0)  # 8 of 32 channels busy
    e, o = even.per_op.set_index("name"), one.per_op.set_index("name")
    on_pim = e.index[e["unit"] == "pim"]
    assert len(on_pim) == 4 and (o.loc[on_pim, "latency_s"] > 2 * e.loc[on_pim, "latency_s"]).all()
    off_pim = e.index[e["unit"] != "pim"]
    assert (o.loc[off_pim, "cycles"] == e.loc[off_pim, "cycles"]).all()
    assert one.summary["energy_pim_j"] == pytest.approx(even.summary["energy_pim_j"], rel=1e-12)


def test_without_channels_the_units_policy_assigns_them():
    """Lengths alone: neupims (greedy) spreads one long and many short requests better than round-robin."""
    lens = [512] * 4 + [16] * 60
    greedy = sim.simulate(skewed_decoder(lens), NEUPIMS).summary["pim_channel_skew"]
    rr = sim.simulate(skewed_decoder(lens), arch.load("neupims", {"units.pim.channel_balance": "round_robin"}))
    assert 1.0 <= greedy < rr.summary["pim_channel_skew"]
    assert "pim_channel_skew" not in sim.simulate(tiny_decoder(8), NEUPIMS).summary  # no lengths: even


@pytest.mark.parametrize("meta,match", [
    ({"context_lens": [64] * 8, "context_channels": [0] * 7}, "has 7 entries but"),
    ({"context_lens": [64] * 8, "context_channels": [32] * 8}, r"holds 32; expected channel indices 0\.\.31"),
    ({"context_lens": [], "context_channels": []}, "non-empty list of non-negative integers"),
    ({"context_lens": [64.5] * 8}, "non-empty list of non-negative integers"),
    ({"context_channels": [0] * 8}, "without meta\\['context_lens'\\]"),
])
def test_bad_context_meta_names_the_key_and_what_was_expected(meta, match):
    g = tiny_decoder(8)
    g.meta.update(meta)
    with pytest.raises(ValueError, match=match):
        sim.simulate(g, NEUPIMS)


def test_single_row_buffer_holds_the_channel():
    blocked = arch.load("neupims-naive")
    assert blocked.unit("pim").dual_row_buffer is False
    assert pim.in_bank_cost(score(64, 256), blocked.unit("pim"), blocked).holds == ("hbm",)


def test_bad_inputs_name_what_was_expected():
    with pytest.raises(ValueError, match="cannot run op kind 'softmax'"):
        pim.in_bank_cost(Op("x", OpKind.SOFTMAX, {"rows": 4, "cols": 4}), NEUPIMS.unit("pim"), NEUPIMS)
    no_timing = NEUPIMS.model_copy(deep=True)
    no_timing.memory[1] = no_timing.memory[1].model_copy(update={"timing": None})
    with pytest.raises(ValueError, match="tier 'hbm', which has no timing"):
        pim.in_bank_cost(score(64, 256), no_timing.unit("pim"), no_timing)


# ---- dispatch ----------------------------------------------------------------------------------------------


def test_decode_attention_goes_to_the_pim_and_gemms_to_the_npu():
    per_op = sim.simulate(tiny_decoder(8), NEUPIMS).per_op.set_index("name")
    assert set(per_op.loc[per_op["kind"].isin(["attn_score", "attn_context"]), "unit"]) == {"pim"}
    assert set(per_op.loc[per_op["kind"] == "gemm", "unit"]) == {"npu"}
    assert set(per_op.loc[per_op["kind"] == "softmax", "unit"]) == {"vector"}


def test_prefill_attention_stays_on_the_npu():
    per_op = sim.simulate(tiny_decoder(2, "prefill"), NEUPIMS).per_op
    assert "pim" not in set(per_op["unit"])


def test_dispatch_follows_the_policy_fields():
    acc = arch.load("neupims", {"units.pim.dispatch_kinds": ["attn_score"]})
    per_op = sim.simulate(tiny_decoder(8), acc).per_op
    assert set(per_op.loc[per_op["kind"] == "attn_context", "unit"]) == {"npu"}
    assert set(per_op.loc[per_op["kind"] == "attn_score", "unit"]) == {"pim"}
    acc = arch.load("neupims", {"units.pim.dispatch_kinds": ["attn_score", "attn_context", "gemm"],
                                "units.pim.dispatch_max_m": 8})
    per_op = sim.simulate(tiny_decoder(8), acc).per_op
    assert set(per_op.loc[per_op["kind"] == "gemm", "unit"]) == {"pim"}  # decode GEMMs have M = batch = 8


# ---- sub-batches and tensor parallelism ------------------------------------------------------------------


def test_split_sizes():
    assert split_sizes(5, 2) == [3, 2]
    assert split_sizes(512, 2) == [256, 256]
    with pytest.raises(ValueError, match="sub_batches=3: expected at most the batch size 2"):
        split_sizes(2, 3)


def test_sub_batches_are_independent_chains_with_the_same_work():
    g = tiny_decoder(6)
    s = split_sub_batches(g, 2)
    assert len(s) == 2 * len(g)
    assert s.macs == g.macs and s.flops == g.flops and s.params == g.params
    names = {op.name: op.tags["sub_batch"] for op in s.ops()}
    assert all(names[u] == names[v] for u, v in s.g.edges)  # no edge joins two sub-batches
    assert s["L0.attn.score.sb0"].batch == 3 * 4 and s["L0.attn.qkv_proj.sb1"].dims["M"] == 3


def test_neupims_splits_only_batches_of_at_least_sub_batch_min():
    assert NEUPIMS.unit("pim").sub_batches == 2 and NEUPIMS.unit("pim").sub_batch_min == 256
    small = sim.simulate(tiny_decoder(8), NEUPIMS).per_op
    assert "tag_sub_batch" not in small.columns
    acc = arch.load("neupims", SPLIT_AT_4)
    split = sim.simulate(tiny_decoder(8), acc).per_op
    assert sorted(set(split["tag_sub_batch"])) == [0, 1]


def test_an_op_without_the_batch_in_its_dims_cannot_be_split():
    g = Graph("moe", {"batch": 4})
    g.add(Op("e0.up", OpKind.GEMM, {"M": 3, "N": 8, "K": 8}))
    with pytest.raises(ValueError, match="op 'e0.up' .*M = 3 is not a multiple of 4"):
        split_sub_batches(g, 2)


SMALL_LLAMA = {"model_type": "llama", "hidden_size": 256, "intermediate_size": 512, "num_hidden_layers": 2,
               "num_attention_heads": 8, "num_key_value_heads": 2, "vocab_size": 1000, "max_position_embeddings": 4096}


def test_mixed_step_of_enough_requests_is_split_decode_attention_on_pim_prompt_attention_on_npu():
    from workloads.serving import serving_step

    g = serving_step(SMALL_LLAMA, decode=254, context_len=128, prefill=2, prompt_len=64)  # 256 requests
    per_op = sim.simulate(g, NEUPIMS).per_op.set_index("name")
    assert sorted(set(per_op["tag_sub_batch"])) == [0, 1]
    assert per_op.loc["L0.attn.decode.score.sb0", "unit"] == per_op.loc["L0.attn.decode.context.sb1", "unit"] == "pim"
    assert per_op.loc["L0.attn.prefill.score.sb0", "unit"] == per_op.loc["L0.attn.prefill.context.sb1", "unit"] == "npu"
    assert set(per_op.loc[per_op["kind"] == "gemm", "unit"]) == {"npu"}
    under = serving_step(SMALL_LLAMA, decode=253, context_len=128, prefill=2, prompt_len=64)  # 255 < sub_batch_min
    assert "tag_sub_batch" not in sim.simulate(under, NEUPIMS).per_op.columns


#: continuous-batching steps of llama2-7b (one layer, LM head included): decode requests, context, prompts, length
INTERLEAVED_STEPS = [(256, 1024, 4, 512), (512, 300, 2, 256), (256, 2048, 8, 64)]


@pytest.mark.parametrize("decode,context,prefill,prompt", INTERLEAVED_STEPS)
def test_interleaving_a_step_with_prompts_is_never_slower_than_one_batch(decode, context, prefill, prompt):
    """Sub-batches re-read every weight once per sub-batch, so interleaving pays only where the NPU has work to
    hide the PIM behind: with prompts in the step it gains (1.04x, 1.10x, 1.11x on these steps when written),
    and the preset's estimate keeps the split (a decode-only step that would lose is below, SLOWER_SPLITS)."""
    from workloads.serving import serving_step

    g = serving_step("llama2-7b", decode=decode, context_len=context, prefill=prefill, prompt_len=prompt, layers=1)
    on = sim.simulate(g, NEUPIMS)
    off = sim.simulate(g, arch.load("neupims-no-subbatch"))
    assert sorted(set(on.per_op["tag_sub_batch"])) == [0, 1] and "tag_sub_batch" not in off.per_op.columns
    assert on.summary["pim_sub_batches_used"] == 2 and off.summary["pim_sub_batches_used"] == 1
    assert on.summary["pim_sub_batch_estimate_s"] == on.summary["latency_s"]  # the estimate is the schedule
    assert on.summary["latency_s"] < off.summary["latency_s"] == on.summary["pim_one_batch_estimate_s"]
    assert on.summary["flops"] == off.summary["flops"]  # the same work, rearranged


def test_decode_only_step_on_neupims_is_the_decode_phase():
    """A mixed-phase step without prompts is split (or not) as the decode phase is, so it costs the same."""
    kw = dict(batch=256, kv_len=512, num_hidden_layers=2)
    for over in ({}, {"units.pim.sub_batch_policy": "always"}):
        acc = arch.load("neupims", over)
        dec = sim.simulate(workloads.load("llama2-7b", phase="decode", **kw), acc)
        step = sim.simulate(workloads.load("llama2-7b", phase="mixed", prefill=0, **kw), acc)
        assert step.summary["pim_sub_batches_used"] == dec.summary["pim_sub_batches_used"]
        assert step.summary["latency_s"] == pytest.approx(dec.summary["latency_s"], rel=1e-12)
        assert step.summary["energy_j"] == pytest.approx(dec.summary["energy_j"], rel=1e-9)
    assert sorted(set(step.per_op["tag_sub_batch"])) == [0, 1]  # always: split


# ---- sub_batch_policy: estimate (NeuPIMs' runtime interleaves only when its estimator predicts a gain) ---------

#: decode-heavy llama2-7b steps where a fixed batch >= 256 threshold interleaves and loses (issue 5), with the
#: latency (s) sub_batch_policy 'always' gives, as the dispatch pass gave before the estimate (commit 4cfe50a:
#: 0.77x and 0.93x of neupims-no-subbatch); the whole-model figure since context rows hold one output
#: dimension's tokens (a 300-token context fills 600 B of a 1 KiB row: 29640.15 us before)
SLOWER_SPLITS = [
    (dict(decode=256, context_len=1024, prefill=0, prompt_len=1, layers=1), 1601.106e-6),  # one layer + LM head
    (dict(decode=300, context_len=300, prefill=1, prompt_len=128), 30463.477e-6),  # the whole model
]


@pytest.mark.parametrize("step,always_s", SLOWER_SPLITS)
def test_estimate_keeps_one_batch_where_interleaving_would_be_slower(step, always_s):
    from workloads.serving import serving_step

    g = serving_step("llama2-7b", **step)
    est = sim.simulate(g, NEUPIMS)
    off = sim.simulate(g, arch.load("neupims-no-subbatch"))
    always = sim.simulate(g, arch.load("neupims", {"units.pim.sub_batch_policy": "always"}))
    assert NEUPIMS.unit("pim").sub_batch_policy == "estimate"
    assert est.summary["latency_s"] <= off.summary["latency_s"]
    assert est.summary["pim_sub_batches_used"] == 1 and "tag_sub_batch" not in est.per_op.columns
    # the estimates are the two schedules: what 'always' and no sub-batches give
    assert est.summary["pim_sub_batch_estimate_s"] == pytest.approx(always.summary["latency_s"], rel=1e-12)
    assert est.summary["pim_one_batch_estimate_s"] == pytest.approx(off.summary["latency_s"], rel=1e-12)
    # 'always' is the old behaviour: split, with the old latency, slower than one batch
    assert always.summary["pim_sub_batches_used"] == 2 and "pim_sub_batch_estimate_s" not in always.summary
    assert always.summary["latency_s"] == pytest.approx(always_s, rel=1e-9)
    assert always.summary["latency_s"] > off.summary["latency_s"]


def test_below_sub_batch_min_nothing_is_estimated():
    r = sim.simulate(tiny_decoder(8), NEUPIMS)
    assert r.summary["pim_sub_batches_used"] == 1 and "pim_sub_batch_estimate_s" not in r.summary


def test_bad_sub_batch_policy_names_field_value_and_choices():
    with pytest.raises(arch.ArchError, match=r"\(pim\)\.sub_batch_policy: got 'sometimes'; expected 'estimate' or "
                                             r"'always'"):
        arch.load("neupims", {"units.pim.sub_batch_policy": "sometimes"})


def test_tensor_parallel_shards_projections_and_heads():
    g = tiny_decoder(4)
    t = tensor_parallel(g, 4)
    assert t["L0.attn.qkv_proj"].dims["N"] == g["L0.attn.qkv_proj"].dims["N"] // 4
    assert t["L0.attn.o_proj"].dims["K"] == g["L0.attn.o_proj"].dims["K"] // 4
    assert t["L0.mlp.fc1"].dims["N"] == g["L0.mlp.fc1"].dims["N"] // 4
    assert t["L0.mlp.fc2"].dims["K"] == g["L0.mlp.fc2"].dims["K"] // 4
    assert t["L0.attn.score"].batch == g["L0.attn.score"].batch // 4
    assert t["L0.attn_norm"] == g["L0.attn_norm"]  # replicated
    layer = [op.name for op in g.ops() if op.tags.get("block") in ("attn", "mlp") and op.is_matmul]
    assert sum(t[n].macs for n in layer) * 4 == sum(g[n].macs for n in layer)


# ---- blocked mode end to end, NPU-only attention traffic, energy ---------------------------------------------


def test_blocked_pim_ops_never_overlap_a_transfer_and_dual_row_buffers_hold_nothing():
    g = tiny_decoder(64)
    over = SPLIT_AT_4
    blocked = sim.simulate(g, arch.load("neupims-blocked", over), trace=True).trace
    holds = [(e["start_s"], e["end_s"]) for e in blocked if e["kind"] == "hold"]
    dmas = [(e["start_s"], e["end_s"]) for e in blocked if e["kind"] == "dma" and e["unit"] == "hbm"]
    assert len(holds) == 8 and dmas  # 2 layers x 2 attention ops x 2 sub-batches
    assert not any(s < he and hs < e for s, e in dmas for hs, he in holds)
    dual = sim.simulate(g, arch.load("neupims", over), trace=True).trace
    assert not [e for e in dual if e["kind"] == "hold"]


def test_npu_only_attention_reads_the_kv_cache_over_the_hbm_channel():
    g = tiny_decoder(8)
    per_op = sim.simulate(g, arch.load("npu-only")).per_op.set_index("name")
    kv = g["L0.attn.score"].batch * 64 * 64 * 2  # heads x kv_len x head_dim x fp16
    assert per_op.loc["L0.attn.score", "bytes_hbm"] >= kv
    assert per_op.loc["L0.attn.score", "dma_end_s"] > per_op.loc["L0.attn.score", "dma_start_s"]


def test_pim_energy_is_activations_row_reads_and_io():
    r = sim.simulate(tiny_decoder(8), NEUPIMS)
    unit = NEUPIMS.unit("pim")
    rows = r.per_op[r.per_op["unit"] == "pim"]
    assert len(rows) == 4 and (rows["energy_pim_j"] > 0).all()
    c = pim.in_bank_cost(tiny_decoder(8)["L0.attn.score"].signature(), unit, NEUPIMS).counts
    assert (unit.act_energy_pj, unit.internal_read_pj_per_bit) == (828.0, 1.57)  # the preset's derivation
    want = (c["pim_act"] * 828.0 + c["pim_internal_read_bytes"] * 8 * 1.57
            + c["pim_io_bytes"] * dram_pj_per_byte(NEUPIMS.tier("hbm"))) * 1e-12
    assert rows.set_index("name").loc["L0.attn.score", "energy_pim_j"] == pytest.approx(want)
    assert r.summary["energy_pim_j"] == pytest.approx(rows["energy_pim_j"].sum())
    assert r.summary["energy_j"] == pytest.approx(r.per_op["energy_j"].sum())
    assert (rows["energy_mac_j"] > 0).all()  # the multipliers, priced by sim.ppa at fp16
    # idempotent: a second pass replaces the PIM energy, never adds it twice
    again = pim.price(r, pim.dispatch(tiny_decoder(8), NEUPIMS), NEUPIMS)
    assert again.summary["energy_j"] == pytest.approx(r.summary["energy_j"])


def test_unit_timeline_shows_npu_and_pim_overlapping_only_with_sub_batches():
    from reports.timeline import overlap_s, overlapping_units, unit_timeline_figure

    over = SPLIT_AT_4
    r = sim.simulate(tiny_decoder(64), arch.load("neupims", over))
    assert overlap_s(r.per_op, "npu", "pim") > 0
    assert {"npu", "pim"} <= set(overlapping_units(r.per_op))
    fig = unit_timeline_figure(r.per_op, "tiny on neupims")
    assert {"npu", "pim"} <= {y for bar in fig.data for y in bar.y}
    naive = sim.simulate(tiny_decoder(64), arch.load("neupims-naive", over)).per_op
    assert overlap_s(naive, "npu", "pim") == 0.0  # one chain, blocked PIM: NPU and PIM take turns


def test_report_section_of_the_unit_timeline_names_both_units():
    from reports.timeline import unit_timeline_section

    over = SPLIT_AT_4
    html = unit_timeline_section(sim.simulate(tiny_decoder(64), arch.load("neupims", over)).per_op, "tiny")
    assert "Unit timeline" in html and "npu + pim" in html and '"pim"' in html and '"npu"' in html
    assert unit_timeline_section(sim.simulate(tiny_decoder(64), arch.load("npu-only")).per_op, "tiny") == ""


def test_overlap_seconds_of_two_units_by_hand():
    import pandas as pd

    from reports.timeline import overlap_s, overlapping_units

    df = pd.DataFrame({"unit": ["a", "a", "b", "b", "c"], "start_s": [0.0, 1.0, 0.5, 4.0, 6.0],
                       "end_s": [1.0, 3.0, 2.0, 5.0, 7.0]})
    assert overlap_s(df, "a", "b") == pytest.approx(1.5)  # a busy 0-3, b 0.5-2 and 4-5
    assert overlap_s(df, "b", "a") == pytest.approx(1.5)
    assert overlap_s(df, "a", "c") == 0.0 and overlapping_units(df) == ["a", "b"]


def test_bad_policy_fields_name_field_value_and_expectation():
    with pytest.raises(arch.ArchError, match=r"\(pim\)\.dispatch_kinds\[0\]: got 'softmax'; expected 'attn_score'"):
        arch.load("neupims", {"units.pim.dispatch_kinds": ["softmax"]})
    with pytest.raises(arch.ArchError, match=r"\(pim\)\.sub_batches: got 0; expected an integer > 0"):
        arch.load("neupims", {"units.pim.sub_batches": 0})


def test_pim_energy_is_the_same_whether_or_not_the_table_was_made_and_never_counted_twice():
    """The PIM result pass prices the plain columns (no DataFrame for a DSE point); applied again to a result
    whose table was made, it replaces its column rather than adding a second one."""
    g = tiny_decoder(8)
    r = sim.simulate(g, NEUPIMS)
    assert r._per_op is None  # simulate did not make the table
    made = r.per_op
    again = pim.price(r, sim.cost.prepare(g, NEUPIMS), NEUPIMS)
    assert list(again.per_op.columns) == list(made.columns)
    assert again.per_op["energy_j"].tolist() == pytest.approx(made["energy_j"].tolist())
    assert again.summary["energy_j"] == pytest.approx(r.summary["energy_j"])
    assert again.summary["energy_pim_j"] == pytest.approx(r.summary["energy_pim_j"]) and r.summary["energy_pim_j"] > 0


def test_unit_timeline_section_with_always_shows_units_that_took_turns():
    """A NeuPIMs report whose runtime kept one batch still shows the NPU and PIM lanes, overlap 0; without
    `always` (and with a single unit) there is nothing to show."""
    import pandas as pd

    from reports.timeline import unit_timeline_section

    per_op = pd.DataFrame({"name": ["qkv", "attn", "proj"], "unit": ["npu", "pim", "npu"],
                           "kind": ["gemm", "attn", "gemm"], "start_s": [0.0, 1e-6, 2e-6],
                           "end_s": [1e-6, 2e-6, 3e-6]})
    assert unit_timeline_section(per_op, "t") == ""
    html = unit_timeline_section(per_op, "t", always=True)
    assert "Unit timeline" in html and "npu + pim: 0 µs" in html
    assert unit_timeline_section(per_op[per_op["unit"] == "npu"], "t", always=True) == ""
