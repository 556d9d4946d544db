"""Validation: NeuPIMs vs NPU-only, naive NPU+PIM and GPU-only, measured vs published (Heo et al., "NeuPIMs:
NPU-PIM Heterogeneous Acceleration for Batched LLM Inferencing", ASPLOS 2024, arXiv 2403.00579).

Published figures (the only numbers used, never fed into the model)
--------------------------------------------------------------------
- throughput of NeuPIMs over GPU-only 3x, over NPU-only 2.4x, over naive NPU+PIM 1.6x   (abstract)
- the gains come from dual row buffers (NPU memory traffic beside PIM compute) and sub-batch interleaving
  (two sub-batches pipelined so NPU GEMMs and PIM GEMVs overlap)                          (abstract, Sec. 1)
- ablation, GPT3-7B on ShareGPT, adding the techniques to NPU+PIM one at a time: dual row buffers +69.7% on
  average over the batch sizes, greedy min-load bin packing always helps, sub-batch interleaving best from
  batch 256                                                                               (Sec. 8.2, Fig. 13)

What was read, and what was assumed
-----------------------------------
The evaluation section (Sec. 8) was read in a public paper-reading transcription of arXiv 2403.00579 (a
markdown rendering of Secs. 1-11 that paraphrases the text; search-index file id 62396706556): Sec. 8.1 names
the baselines -- GPU-only is "a real NVIDIA A100 40GB GPU running a batched LLM workload compiled with
PyTorch" (Sec. 3.1 quotes its 1,555 GB/s), NPU-only has the same memory bandwidth as the others, NPU+PIM
assigns requests to channels round-robin -- and Fig. 12 spans batch sizes 64-512 on ShareGPT and Alpaca; its
per-bar values are in the figure, not the text.  Sec. 8.2: GPU-only and NPU-only differ marginally; gains grow
with batch size and are larger on ShareGPT.  The rest of the setup is taken from the authors' public simulator
(github.com/casys-kaist/NeuPIMs), each item chosen before the comparison and not tuned to it:

- Models (configs/model_configs/gpt3-*.json): GPT3-7B (hidden 4096, 32 heads, TP 4), GPT3-13B (5120, 40,
  TP 4), GPT3-30B (7168, 56, TP 4), GPT3-175B (12288, 96, TP 8); ``model_n_layer: 1``: the simulator runs one
  decoder layer of one device's tensor-parallel shard, so we do too (`workloads.batching.tensor_parallel`;
  all-reduce left out, as it is in a one-device simulation).  GPT-3 architecture from the zoo's gpt3-175b.
- Batch 512 decoding requests, the authors' ShareGPT snapshots (`data/neupims/`, from request-traces/: 512
  requests, each a context length and the channel holding its KV cache).  The graph's attention ops have the
  mean context, 300 tokens (clb-0: 299.9; median 217); the per-request lengths and channels go in the graph's
  meta (``context_lens``, ``context_channels``), from which `sim.pim` takes the busiest channel's share of the
  PIM attention time (``pim_channel_skew``: the busiest channel's modelled PIM time over the mean channel's).
  Designs that balance channels (``channel_balance: greedy``: NeuPIMs and its two ablations, whose authors'
  configs set ``ch_load_balancing: true``) run on the clb-0 snapshot; naive NPU+PIM (``round_robin``: the
  authors' baseline config sets it false) on rr-0.  Designs without in-bank PIM do not read them.
- Alpaca: the authors' release holds no Alpaca traces; snapshots made by the same generator
  (alpaca-bs512-ms7B-tp4-clb-0 and rr-0, mean context 62.4 tokens) are in a fork of their development
  history (orbizzz/NeuPIMs, commit b2f4058, datasets/dataset-generator/traces/; `data/neupims/README.md`).
  They are run too and printed below the ShareGPT table, with the geomean over both datasets, but the
  published averages are compared with the ShareGPT runs only, the trace the authors released.  The paper's
  averages cover Fig. 12's grid (both datasets, batch 64-512); the release has batch-512 snapshots only, and
  the paper says gains grow with batch size and are larger on ShareGPT, so this comparison sits at the grid's
  most favourable corner.  The grid itself is run too (`grid`: the first b requests of each snapshot for b in
  64-512, channels placed by each design's policy below 512) and its geomeans are compared with the same
  figures: 1.76x / 1.07x / 1.68x, all three misses (strict xfails): if the abstract's figures average Fig. 12,
  this model reproduces them only at batch 512 on ShareGPT.
- Baselines (README "Baselines"): NPU-only (`npu-only`: everything on the NPU), NPU+PIM (`neupims-naive`:
  attention GEMVs on single-row-buffer PIM, blocked mode, no sub-batches), NeuPIMs (`neupims`: dual row
  buffers, sub-batch interleaving from batch 256 when predicted faster: ``sub_batch_policy: estimate``, the
  paper's runtime deciding with its MHA latency estimator, Sec. 1; here the step is scheduled both ways).
  GPU-only: one NVIDIA A100 SXM4 40 GB per shard (`gpu-a100-40gb`, Sec. 8.1: HBM2 at 1,555 GB/s; its
  efficiency terms are the H100 fit, see `gpu-a100`).  With the 80 GB part (2,039 GB/s), assumed before the
  paper's setup could be read, the ratio was 2.03x (a strict xfail); with the paper's GPU it is 2.31x.
  Capacity is not checked (one layer's shard is simulated): the paper sizes its GPU cluster by capacity
  (Sec. 3.1).
- Throughput ratio = latency of the baseline's decoding step / NeuPIMs'; the published figures are averages
  over models and traces, compared with the geometric mean over the four models.  Tolerance +-25% (issue 5).
- Ablations: `neupims-blocked` (sub-batches, no dual row buffers) and `neupims-no-subbatch` (dual row
  buffers, no sub-batches).  Documented lower bound: turning dual row buffers off loses at least 5% of
  NeuPIMs' throughput (geomean) and never gains.  `neupims-blocked` inherits the estimate: on GPT3-175B
  interleaving in blocked mode is predicted slower (each sub-batch re-reads the weights while the PIM holds the
  channel), so it runs one batch and equals naive NPU+PIM there (1.10x; 1.13x when it always split, before
  issue 5's estimate: geomean 1.15x instead of 1.16x).  NeuPIMs itself keeps the split on all four models.
- A continuous-batching step (printed below the table; no published figure to compare with): the
  iteration-level scheduling NeuPIMs serves (Sec. 1: batched inference with Orca-style scheduling), one step
  mixing the 512 running requests (decode, context 300) with new prompts of the same ShareGPT mean length
  (300 tokens; the trace gives one length per request, used for both: assumed).  Prompts per step:
  round(512 / 300) = 2, the requests that finish per step in steady state if each generates as many tokens as
  the mean context (assumed: the trace has no output lengths).  `workloads.serving` builds steps for
  Llama-family configs only, so the model is llama2-7b (hidden 4096, 32 heads, like GPT3-7B; its gated MLP,
  3 x 4096 x 11008 weights, is within 1% of GPT3-7B's 2 x 4096 x 16384), one layer, TP 4 as GPT3-7B.
  NeuPIMs splits the step by requests (`workloads.batching.split_requests`: 256 decode requests and one
  prompt per sub-batch): decode attention on the PIM, prompt attention and all GEMMs on the NPU.

Findings (why a ratio misses; each miss is an xfail with its numbers: dual row buffers added alone, the grid)
---------------------------------------------------------------------
PIM attention runs the authors' row layouts (`sim.pim`): score rows hold four heads' 128-element key slices
of one token (NeuPIMSLogitSoftmax, 32 COMPs per 1 KiB row), context rows one output dimension's tokens
(NeuPIMSAttend: a 300-token context fills 600 B of a row, 19 COMPs).  The NPU's GEMMs are most of the rest
of a step.  `sim.systolic` picks the loop order with the fewest DRAM bytes for the buffer sizes and
broadcasts the operand its 8 cores share, so a decode GEMM moves 1.33x its weight bytes (5.2x with
SCALE-Sim's fixed order), and the preset pipelines folds as the authors' NeuPIMSystolicWS does
(``preload_overlap``, ``fill_overlap``), so the NPU GEMMs run at ~99% of peak on the whole batch and near the
HBM roofline on a sub-batch.  A channel's PIM time is that of the requests it holds: on the authors' clb-0
snapshot the busiest channel has 1.39x the mean channel's modelled PIM time (their balancer weighs requests
with its own latency estimate, which counts every head of the model on each device, not the device's share),
on rr-0 1.81x; this is what lifts naive NPU+PIM from 1.18x (requests spread evenly) to 1.29x: its blocked PIM
adds the busiest channel's time to the NPU's, while NeuPIMs hides most of it behind the other sub-batch's
GEMMs.  NPU-only attention on the systolic array streams at the KV cache's memory time.

Reproduce the table: ``python -m pytest -q tests/validation/test_neupims.py -s``.
"""

from __future__ import annotations

import csv
import functools
import math
from pathlib import Path

import pytest

import arch
import sim
from tests.validation.side_by_side import write_lines
from workloads import zoo
from workloads.batching import tensor_parallel
from workloads.config import from_config
from workloads.graph import Graph
from workloads.serving import serving_step

PUBLISHED = {
    "npu-only": (2.4, "arXiv 2403.00579, abstract: 2.4x throughput over NPU-only"),
    "neupims-naive": (1.6, "arXiv 2403.00579, abstract: 1.6x over naive NPU+PIM integration"),
    "gpu-a100-40gb": (3.0, "arXiv 2403.00579, abstract: 3x over GPU-only"),
}
TOLERANCE = 0.25
#: name -> (hidden, heads, tensor-parallel degree): casys-kaist/NeuPIMs configs/model_configs/gpt3-*.json
MODELS = {"GPT3-7B": (4096, 32, 4), "GPT3-13B": (5120, 40, 4), "GPT3-30B": (7168, 56, 4),
          "GPT3-175B": (12288, 96, 8)}
BATCH = 512  # request-traces/*bs512*: 512 requests
KV_LEN = 300  # mean seq_len of request-traces/clb/share-gpt2-bs512-ms7B-tp4-clb-0.csv (299.9)
DESIGNS = ("neupims", "npu-only", "neupims-naive", "gpu-a100-40gb", "neupims-blocked", "neupims-no-subbatch")
DUAL_ROW_MIN_LOSS = 0.05
#: the continuous-batching step (header): prompts per step round(BATCH / KV_LEN), each KV_LEN tokens long
MIX_PREFILL = round(BATCH / KV_LEN)
MIX_MODEL, MIX_TP = "llama2-7b", MODELS["GPT3-7B"][2]


#: channel_balance of a design's in-bank PIM -> the authors' trace snapshot it runs on (data/neupims/README.md)
TRACE_OF = {"greedy": "clb", "round_robin": "rr"}
TRACE_DIR = Path(__file__).resolve().parents[2] / "data" / "neupims"


#: the Alpaca snapshots' context (mean seq_len of alpaca-bs512-ms7B-tp4-clb-0.csv: 62.4)
ALPACA_KV_LEN = 62


@functools.cache
def trace(kind: str, dataset: str = "share-gpt2") -> tuple[tuple[int, ...], tuple[int, ...]]:
    """(context lengths, channels) of the 512 requests of the `dataset` snapshot `kind` (clb or rr)."""
    with open(TRACE_DIR / f"{dataset}-bs{BATCH}-ms7B-tp4-{kind}-0.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    return tuple(int(r["seq_len"]) for r in rows), tuple(int(r["ch_idx"]) for r in rows)


def trace_of(design: str) -> str | None:
    """The snapshot `design` runs on: by its in-bank PIM's channel_balance; None without in-bank PIM."""
    units = [u for u in arch.load(design).units_of("pim") if u.placement == "in_bank"]
    return TRACE_OF[units[0].channel_balance] if units else None


def with_trace(g: Graph, kind: str | None, dataset: str = "share-gpt2") -> Graph:
    if kind is not None:
        lens, chans = trace(kind, dataset)
        g.meta.update(context_lens=list(lens), context_channels=list(chans))
    return g


def layer_shard(hidden: int, heads: int, tp: int, kind: str | None = None, dataset: str = "share-gpt2") -> Graph:
    """One GPT-3 decoder layer (attention and MLP blocks only), one device's tensor-parallel share, at the
    `dataset` snapshots' mean context; with `kind`, that snapshot's request lengths and channels in its meta."""
    kv = ALPACA_KV_LEN if dataset == "alpaca" else KV_LEN
    return with_trace(gpt3_layer(hidden, heads, tp, BATCH, kv), kind, dataset)


def gpt3_layer(hidden: int, heads: int, tp: int, batch: int, kv_len: int) -> Graph:
    """One GPT-3 decoder layer's attention and MLP blocks, decoding `batch` requests at `kv_len`, one device's
    tensor-parallel share of `tp`."""
    cfg = zoo.config("gpt3-175b")
    cfg.update(n_embd=hidden, n_head=heads, n_inner=4 * hidden, n_layer=1)
    return tensor_parallel(blocks_only(from_config(cfg, phase="decode", batch=batch, kv_len=kv_len)), tp)


def blocks_only(g: Graph) -> Graph:
    """`g`'s attention and MLP blocks (no embedding, final norm or LM head), edges among them kept."""
    keep = {op.name for op in g.ops() if op.tags.get("block") in ("attn", "mlp")}
    out = Graph(g.name, g.meta)
    for op in g.ops():
        if op.name in keep:
            out.add(op, [p.name for p in g.predecessors(op) if p.name in keep])
    return out


def mixed_step_shard(kind: str | None = None) -> Graph:
    """One decoder layer of a continuous-batching step (header), one device's tensor-parallel share; with
    `kind`, the decode requests' lengths and channels of that trace snapshot."""
    g = serving_step(MIX_MODEL, decode=BATCH, context_len=KV_LEN, prefill=MIX_PREFILL, prompt_len=KV_LEN, layers=1)
    return with_trace(tensor_parallel(blocks_only(g), MIX_TP), kind)


@pytest.fixture(scope="module")
def mixed() -> dict[str, float]:
    """design -> latency (s) of the continuous-batching step."""
    return {d: sim.simulate(mixed_step_shard(trace_of(d)), arch.load(d)).summary["latency_s"] for d in DESIGNS}


def mixed_lines(lat: dict[str, float]) -> list[str]:
    return [f"continuous-batching step ({MIX_MODEL}, TP {MIX_TP}, one layer): {BATCH} decode @ {KV_LEN} + "
            f"{MIX_PREFILL} prompts x {KV_LEN} tokens (no published figure)",
            f"{'mixed':10s} {lat['neupims'] * 1e6:10.0f}" + "".join(
                f" {lat[d] / lat['neupims']:>18.2f}x" for d in DESIGNS[1:])]


def geomean(xs) -> float:
    xs = list(xs)
    return math.exp(sum(math.log(x) for x in xs) / len(xs))


@pytest.fixture(scope="module")
def table(pytestconfig, mixed) -> dict[str, dict[str, float]]:
    """model -> design -> decoding-step latency (s)."""
    accs = {d: arch.load(d) for d in DESIGNS}
    runs = {m: {d: sim.simulate(layer_shard(*spec, trace_of(d)), a).summary for d, a in accs.items()}
            for m, spec in MODELS.items()}
    out = {m: {d: s["latency_s"] for d, s in r.items()} for m, r in runs.items()}
    used = {d: "/".join(str(runs[m][d].get("pim_sub_batches_used", "-")) for m in MODELS) for d in DESIGNS}
    lines = [f"NeuPIMs (arXiv 2403.00579) one decoder layer per device, batch {BATCH}, context {KV_LEN}: "
             "NeuPIMs throughput / baseline's"]
    head = f"{'model':10s} {'NeuPIMs us':>10s}" + "".join(f" {d:>19s}" for d in DESIGNS[1:])
    lines += [head, "-" * len(head)]
    for m, lat in out.items():
        lines.append(f"{m:10s} {lat['neupims'] * 1e6:10.0f}" + "".join(
            f" {lat[d] / lat['neupims']:>18.2f}x" for d in DESIGNS[1:]))
    lines.append(f"{'geomean':10s} {'':10s}" + "".join(f" {ratio(out, d):>18.2f}x" for d in DESIGNS[1:]))
    pub = "".join(f" {PUBLISHED[d][0]:>18.1f}x" if d in PUBLISHED else f" {'(ablation)':>19s}" for d in DESIGNS[1:])
    lines.append(f"{'published':10s} {'':10s}{pub}")
    lines.append("sub-batches used (pim_sub_batches_used, per model above; '-': no in-bank PIM): "
                 + ", ".join(f"{d} {used[d]}" for d in DESIGNS))
    skew = {d: runs["GPT3-7B"][d].get("pim_channel_skew") for d in DESIGNS}
    lines.append("busiest channel's PIM time / mean channel's (pim_channel_skew, GPT3-7B; trace snapshot): "
                 + ", ".join(f"{d} {skew[d]:.2f} ({trace_of(d)}-0)" for d in DESIGNS if skew[d] is not None))
    lines += mixed_lines(mixed)
    lines += pim_area_lines()
    write_lines(pytestconfig, lines)
    return out


def pim_area_lines() -> list[str]:
    """PIM silicon of the designs (sim.ppa.pim_area; no published figure to compare: see the presets' source)."""
    from sim.ppa import pim_area

    out = ["PIM area (modelled, not published): design  total mm^2  per HBM2 stack  % of the stack's DRAM dies"]
    for d in ("neupims", "neupims-naive"):
        a = pim_area(arch.load(d))
        out.append(f"  {d:14s} {a['pim_mm2']:8.1f} {a['pim_per_stack_mm2']:10.1f} {a['pim_dram_overhead_pct']:10.2f}%")
    return out


def test_dual_row_buffers_cost_area(table):
    """NeuPIMs' throughput gain over blocked mode is bought with a second row buffer per bank: more PIM area."""
    from sim.ppa import pim_area

    dual, single = (pim_area(arch.load(d))["pim_mm2"] for d in ("neupims", "neupims-blocked"))
    assert dual > single > 0
    assert ratio(table, "neupims-blocked") > 1


def ratio(table: dict[str, dict[str, float]], design: str) -> float:
    """Geomean over models of NeuPIMs' throughput over `design`'s (its latency / NeuPIMs')."""
    return geomean(lat[design] / lat["neupims"] for lat in table.values())


def check(table, design: str) -> None:
    published, source = PUBLISHED[design]
    measured = ratio(table, design)
    assert measured == pytest.approx(published, rel=TOLERANCE), f"{measured:.2f}x vs published {published}x ({source})"


def test_throughput_over_npu_only(table):
    check(table, "npu-only")


def test_throughput_over_naive_npu_pim(table):
    check(table, "neupims-naive")


def test_throughput_over_gpu_only(table):
    check(table, "gpu-a100-40gb")


def test_each_design_runs_on_the_snapshot_of_its_channel_policy():
    """NeuPIMs and its ablations balance channels (clb), naive NPU+PIM does not (rr): as the authors' configs."""
    assert {d: trace_of(d) for d in DESIGNS} == {
        "neupims": "clb", "npu-only": None, "neupims-naive": "rr", "gpu-a100-40gb": None, "neupims-blocked": "clb",
        "neupims-no-subbatch": "clb"}
    lens = {k: trace(k)[0] for k in ("clb", "rr")}
    assert all(len(x) == BATCH for x in lens.values())
    assert sum(lens["clb"]) / BATCH == pytest.approx(KV_LEN, abs=0.5)


def test_round_robin_channels_cost_naive_npu_pim_on_every_model(pytestconfig):
    """Naive NPU+PIM on the round-robin snapshot is slower than on the balanced one: its blocked PIM waits for
    its busiest channel, in series with the NPU."""
    naive = arch.load("neupims-naive")
    loss = {m: sim.simulate(layer_shard(*spec, "rr"), naive).summary["latency_s"]
            / sim.simulate(layer_shard(*spec, "clb"), naive).summary["latency_s"] for m, spec in MODELS.items()}
    write_lines(pytestconfig, ["naive NPU+PIM, round-robin (rr-0) over balanced (clb-0) channels: "
                               + ", ".join(f"{m} {x:.3f}x" for m, x in loss.items())])
    assert all(x > 1.0 for x in loss.values()), loss


@pytest.fixture(scope="module")
def alpaca(pytestconfig, table) -> dict[str, dict[str, float]]:
    """model -> design -> decoding-step latency (s) on the Alpaca snapshots (header: printed beside the
    ShareGPT table, not compared with the published averages)."""
    out = {m: {d: sim.simulate(layer_shard(*spec, trace_of(d), "alpaca"), arch.load(d)).summary["latency_s"]
               for d in DESIGNS} for m, spec in MODELS.items()}
    both = {f"{m} {k}": lat for k, t in (("sharegpt", table), ("alpaca", out)) for m, lat in t.items()}
    write_lines(pytestconfig, [
        f"Alpaca snapshots (alpaca-bs512-ms7B-tp4-clb/rr-0, context {ALPACA_KV_LEN}; from the authors' development "
        "history, not their release: not compared with the published figures)",
        *(f"{m:10s} {lat['neupims'] * 1e6:10.0f}" + "".join(f" {lat[d] / lat['neupims']:>18.2f}x" for d in DESIGNS[1:])
          for m, lat in out.items()),
        f"{'geomean':10s} {'':10s}" + "".join(f" {ratio(out, d):>18.2f}x" for d in DESIGNS[1:]),
        f"{'both sets':10s} {'':10s}" + "".join(f" {ratio(both, d):>18.2f}x" for d in DESIGNS[1:])
        + "   (geomean over 4 models x 2 datasets)"])
    return out


def test_alpaca_short_contexts_leave_neupims_less_to_gain(table, alpaca):
    """Alpaca's contexts (62 tokens) are a fifth of ShareGPT's: attention, the work NeuPIMs moves to and overlaps
    on the PIM, is a smaller share of a step, so each gain over a baseline without PIM overlap is smaller."""
    for design in ("npu-only", "neupims-naive", "gpu-a100-40gb"):
        assert 1.0 < ratio(alpaca, design) < ratio(table, design), design


def test_dual_row_buffers_off_never_gains(table):
    loss = [lat["neupims-blocked"] / lat["neupims"] for lat in table.values()]
    assert min(loss) >= 1.0 - 1e-9, loss


def test_dual_row_buffers_off_loses_throughput(table):
    loss = [lat["neupims-blocked"] / lat["neupims"] for lat in table.values()]
    assert geomean(loss) >= 1.0 + DUAL_ROW_MIN_LOSS, loss


def test_sub_batch_interleaving_off_loses_throughput(table):
    assert ratio(table, "neupims-no-subbatch") > 1.0


def test_pim_runs_the_attention_and_the_npu_the_gemms(table):
    r = sim.simulate(layer_shard(*MODELS["GPT3-7B"]), arch.load("neupims"))
    busy = r.per_op.groupby(["unit", "kind"])["latency_s"].sum()
    assert set(busy["pim"].index) == {"attn_score", "attn_context"}
    assert set(busy["npu"].index) == {"gemm"}
    assert sorted(set(r.per_op["tag_sub_batch"])) == [0, 1] and r.summary["pim_sub_batches_used"] == 2


def test_estimate_keeps_interleaving_on_every_model_and_blocked_mode_drops_it_only_where_slower(table):
    """The estimate's choice is the faster of the two schedules: NeuPIMs interleaves on all four models (each
    gains over neupims-no-subbatch), and blocked mode never ends up slower than naive NPU+PIM (its unsplit self)."""
    for m, lat in table.items():
        assert lat["neupims"] < lat["neupims-no-subbatch"], m
        assert lat["neupims-blocked"] <= lat["neupims-naive"] * (1 + 1e-12), m


def test_npu_only_decode_attention_is_memory_bound():
    g = layer_shard(*MODELS["GPT3-7B"])
    acc = arch.load("npu-only")
    per_op = sim.simulate(g, acc).per_op.set_index("name")
    score = g["L0.attn.score"]
    kv_bytes = score.batch * score.dims["N"] * score.dims["K"] * 2  # the K cache, fp16
    assert per_op.loc["L0.attn.score", "bytes_hbm"] >= kv_bytes  # it does cross the HBM channel
    kv_s = kv_bytes / acc.tier("hbm").bytes_per_s(acc.tech.clock_hz)
    assert per_op.loc["L0.attn.score", "latency_s"] <= 1.1 * kv_s


def test_mixed_step_is_interleaved_by_requests_and_neupims_beats_its_baselines(mixed):
    """No published figure for a mixed step: the check is that the mechanisms still act on it (the step is
    split, 256 decode requests and one prompt per sub-batch) and that each baseline is slower."""
    from sim.pim import dispatch

    acc = arch.load("neupims")
    split = dispatch(mixed_step_shard(), acc)
    assert split.meta["sub_batch_decode"] == [BATCH // 2] * 2 and split.meta["sub_batch_prefill"] == [1, 1]
    assert split["L0.attn.decode.score.sb1"].batch == BATCH // 2 * 32 // MIX_TP  # requests x heads per device
    per_op = sim.simulate(mixed_step_shard(), acc).per_op.set_index("name")
    assert sorted(set(per_op["tag_sub_batch"])) == [0, 1]
    assert per_op.loc["L0.attn.prefill.score.sb0", "unit"] == "npu"
    assert per_op.loc["L0.attn.decode.score.sb1", "unit"] == "pim"
    for design in ("npu-only", "neupims-naive", "neupims-no-subbatch", "neupims-blocked"):
        assert mixed[design] > mixed["neupims"], design


#: Fig. 13 (Sec. 8.2): dual row buffers' average gain when added to NPU+PIM first (GPT3-7B, ShareGPT)
DRB_GAIN_PUBLISHED = (1.697, "arXiv 2403.00579, Sec. 8.2 / Fig. 13: dual row buffers +69.7% on average over NPU+PIM")


@pytest.fixture(scope="module")
def incremental(pytestconfig) -> dict[str, float]:
    """Fig. 13's order on GPT3-7B at batch 512: NPU+PIM (rr) -> + dual row buffers (still rr, one batch) ->
    + greedy min-load bin packing (clb) -> + sub-batch interleaving (NeuPIMs); step -> gain over the previous."""
    spec = MODELS["GPT3-7B"]

    def lat(design: str, kind: str, overrides: dict | None = None) -> float:
        acc = arch.load(design, overrides) if overrides else arch.load(design)
        return sim.simulate(layer_shard(*spec, kind), acc).summary["latency_s"]

    chain = [lat("neupims-naive", "rr"),
             lat("neupims-no-subbatch", "rr", {"units.pim.channel_balance": "round_robin"}),
             lat("neupims-no-subbatch", "clb"),
             lat("neupims", "clb")]
    gains = {step: chain[i] / chain[i + 1] for i, step in enumerate(("+DRB", "+GMLBP", "+SBI"))}
    write_lines(pytestconfig, [
        "ablation in Fig. 13's order (GPT3-7B, batch 512, ShareGPT): "
        + ", ".join(f"{k} {v:.3f}x" for k, v in gains.items())
        + f"; published: +DRB {DRB_GAIN_PUBLISHED[0]:.3f}x (average over batch sizes), +GMLBP > 1, +SBI > 1 from 256"])
    return gains


def test_bin_packing_and_sub_batches_each_add_throughput_in_fig13_order(incremental):
    assert incremental["+GMLBP"] > 1.0
    assert incremental["+SBI"] > 1.0


@pytest.mark.xfail(strict=True, reason=(
    "measured 1.00x vs published 1.697x (+69.7%, Fig. 13): without sub-batches a decoder's GEMMs and attention "
    "GEMVs are dependent, so in this model a second row buffer has nothing to overlap and dual row buffers gain "
    "only together with sub-batch interleaving (1.20x when removed from NeuPIMs); what the authors' simulator "
    "overlaps in one batch is not in the text read"))
def test_dual_row_buffers_alone_gain_as_published(incremental):
    published, source = DRB_GAIN_PUBLISHED
    assert incremental["+DRB"] == pytest.approx(published, rel=TOLERANCE), source


# ---- Fig. 12's grid: batch 64-512 on both datasets -----------------------------------------------------------
#: Fig. 12's batch sizes (Sec. 8.1); the abstract's ratios are compared with the geomean over this grid too
GRID_BATCHES = (64, 128, 256, 384, 512)
GRID_DATASETS = ("share-gpt2", "alpaca")
GRID_DESIGNS = ("neupims", "npu-only", "neupims-naive", "gpu-a100-40gb")


def grid_shard(hidden: int, heads: int, tp: int, kind: str | None, dataset: str, batch: int) -> Graph:
    """`layer_shard` at `batch` requests: the first `batch` requests of the `dataset` snapshot of `kind` (the
    authors released batch-512 snapshots only), at their mean context; at 512 the snapshot's channels, below it
    channels placed by the design's own ``channel_balance`` (a subset of a snapshot keeps neither policy)."""
    lens, chans = trace(kind or "clb", dataset)
    lens = lens[:batch]
    g = gpt3_layer(hidden, heads, tp, batch, round(sum(lens) / batch))
    if kind is not None:
        g.meta.update(context_lens=list(lens))
        if batch == BATCH:
            g.meta.update(context_channels=list(chans))
    return g


@pytest.fixture(scope="module")
def grid(pytestconfig) -> dict[tuple[str, int, str], dict[str, float]]:
    """(dataset, batch, model) -> design -> NeuPIMs' throughput over the design's."""
    accs = {d: arch.load(d) for d in GRID_DESIGNS}
    out = {}
    for ds in GRID_DATASETS:
        for b in GRID_BATCHES:
            for m, spec in MODELS.items():
                lat = {d: sim.simulate(grid_shard(*spec, trace_of(d), ds, b), a).summary["latency_s"]
                       for d, a in accs.items()}
                out[(ds, b, m)] = {d: lat[d] / lat["neupims"] for d in GRID_DESIGNS[1:]}
    lines = ["Fig. 12's grid (first b requests of each snapshot; geomean over the 4 models): NeuPIMs over"
             f"{'':8s}" + "".join(f" {d:>14s}" for d in GRID_DESIGNS[1:])]
    for ds in GRID_DATASETS:
        for b in GRID_BATCHES:
            lines.append(f"  {ds:10s} batch {b:3d}" + "".join(
                f" {geomean(out[(ds, b, m)][d] for m in MODELS):13.2f}x" for d in GRID_DESIGNS[1:]))
    lines.append(f"  {'whole grid':20s}" + "".join(f" {grid_ratio(out, d):13.2f}x" for d in GRID_DESIGNS[1:]))
    lines.append(f"  {'published':20s}" + "".join(f" {PUBLISHED[d][0]:13.1f}x" for d in GRID_DESIGNS[1:]))
    write_lines(pytestconfig, lines)
    return out


def grid_ratio(grid_out, design: str) -> float:
    return geomean(r[design] for r in grid_out.values())


GRID_WHY = ("over Fig. 12's whole grid (batch 64-512, ShareGPT and Alpaca): below batch 512 NeuPIMs gains only "
            "1.03-1.11x over naive NPU+PIM on ShareGPT in this model, where the paper reports at least 1.13x at every "
            "point: sub-batches run only from batch 256, and without them dual row buffers have nothing to overlap "
            "(test_dual_row_buffers_alone_gain_as_published); below 512 the requests are the snapshot's first b, "
            "placed by each design's policy (round-robin then spreads them more evenly than the authors' "
            "steady-state rr snapshot). Batch 512 on ShareGPT, the released trace, is within 25% (tests above)")


@pytest.mark.xfail(strict=True, reason="measured 1.76x vs published 2.4x " + GRID_WHY)
def test_grid_average_over_npu_only(grid):
    assert grid_ratio(grid, "npu-only") == pytest.approx(PUBLISHED["npu-only"][0], rel=TOLERANCE)


@pytest.mark.xfail(strict=True, reason="measured 1.07x vs published 1.6x " + GRID_WHY)
def test_grid_average_over_naive_npu_pim(grid):
    assert grid_ratio(grid, "neupims-naive") == pytest.approx(PUBLISHED["neupims-naive"][0], rel=TOLERANCE)


@pytest.mark.xfail(strict=True, reason="measured 1.68x vs published 3x " + GRID_WHY)
def test_grid_average_over_gpu_only(grid):
    assert grid_ratio(grid, "gpu-a100-40gb") == pytest.approx(PUBLISHED["gpu-a100-40gb"][0], rel=TOLERANCE)


def test_gains_grow_with_batch_on_sharegpt(grid):
    """Sec. 8.2: gains grow as batch size grows from 64 to 512 (NeuPIMs moves the bottleneck to the NPU)."""
    for d in GRID_DESIGNS[1:]:
        g64, g512 = (geomean(grid[("share-gpt2", b, m)][d] for m in MODELS) for b in (64, 512))
        assert g512 > g64, d
