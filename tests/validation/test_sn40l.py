"""Validation: SambaNova SN40L streaming dataflow, three-tier memory and Composition of Experts, measured vs
published (Prabhakar et al., "SambaNova SN40L: Scaling the AI Memory Wall with Dataflow and Composition of
Experts", arXiv 2405.07518, 2024).

Published figures (the only numbers compared with; never fed into the model)
----------------------------------------------------------------------------
- Fused vs unfused speedup on 8 sockets (Sec. VI-A, Fig. 10; the bars are an image, the text gives ranges per
  category): inference prefill, training and sparseGPT 1.5x-3x; autoregressive decode 1x-13x.
- Samba-CoE vs DGX A100 / DGX H100 (Table V): overall speedup BS=8, 20 output tokens 6.6x / 3.7x; BS=1, 20
  tokens 4.8x / 2.8x; BS=8, 200 tokens 4.2x / 2.7x; BS=1, 200 tokens 3.9x / 2.6x; expert speedup BS=1, 20
  tokens 2.0x / 1.5x; 200 tokens 3.2x / 2.3x; model switching 31x / 15x (Sec. VI-C's text says 16x vs H100).
- Footprint (Sec. VI-C): one SN40L Node holds and serves up to 850 experts; a DGX would need 19 nodes to
  hold them all in HBM.

What was read, and what was assumed
-----------------------------------
The paper's full text (Sec. I-IX; Tables II, III and V; Fig. 10 and 12 are images, so only their text is
used).  arch/presets/sn40l.yaml takes Table II: 638 bf16 TFLOP/s, 1040 PCUs/PMUs, 520 MiB SRAM, 64 GiB HBM
at 1.8 TB/s, 1.5 TiB DDR at 200 GB/s per socket; a switch copies DDR -> HBM at the rate Sec. VI-C gives for
the node, "over 1 TB/s" of aggregate DDR-to-HBM bandwidth: its lower bound, 128 GB/s per socket (with Table II's
DDR peak instead, 1.6 TB/s per node, the switching ratios were 50x / 25x).  Not in the paper, assumed: the peer-to-peer link (100 GB/s,
1 us), the kernel launch (3 us), the clock (1.6 GHz, Table II says < 2 GHz).  The "close to 85% of HBM
bandwidth" of Sec. VI-C is not applied (peak bandwidth; no streaming-efficiency field in the spec).  Each
assumption below was chosen before comparing and not tuned to a published figure:

- Fusion (Sec. VI-A, Table III): the Table III benchmarks the zoo can build, at the table's sequence lengths,
  on `sn40l-node` (8 sockets, tensor parallel), fused vs the same node with `units.rdu.fused: false` (every op
  its own kernel, intermediates through HBM: the paper's "unfused" baseline, software-scheduled).  Llama-2-7B
  and -70B at 4K; Mistral-7B (HF config below) at 2K and 4K.  Decode batch is not stated: batch 1 (per-user
  latency, as Sec. VI-B/C report), one step at a KV cache of the table's sequence length.  Prefill: one
  sequence of that length.  Left out: training (no training graphs), sparseGPT (87.5% sparse training),
  Bloom-176B and Falcon-40B (no bloom/falcon model_type in workloads.config), LLaVA-1.5 (no vision tower),
  FlashFFTConv (no FFT-conv workload).
- Samba-CoE (Sec. V, VI-C; `sim.dataflow.serve_coe`): 150 Llama-2-7B experts and a Llama-2-7B router
  (Sec. II); BS prompts go through the router together, each picks a different expert (Sec. VI-C: "each
  prompt in the sample could need a different expert"), the experts are copied into HBM, then each (prompt,
  expert) pair runs alone; router and experts tensor-parallel over 8 devices on every platform (TP8).
  "Overall" rows: the over-50-experts regime, where every needed expert is copied (the DGX's experts spill to
  host memory; on the node every expert lives in DDR, Fig. 9): cold HBM, all BS experts copied.  "Expert"
  rows: the under-50-experts regime, expert execution only (prefill + decode of one prompt).  DGX: one GPU's
  TP8 shard of the graph on `h100` / `gpu-a100` (`workloads.batching.tensor_parallel`) plus the all-reduces
  over NVLink (`sim.collective.tp_comm_s`); a DGX copies the whole expert over one host-to-GPU link (32 GB/s
  A100, 64 GB/s H100), which is the paper's own estimate (its 31x and 16x are 1 TB/s over 32 and 64 GB/s);
  the node copies its 8 shards in parallel, one per socket, at 128 GB/s each (Sec. VI-C's 'over 1 TB/s').
- Prompt length is not in the paper: its DGX latencies come from NVIDIA NeMo's published Llama-2 inference
  table (ref. [57], docs.nvidia.com/nemo-framework/user-guide/latest/performance/llama.html), whose chatbot
  configuration is 128 input tokens, 20 output tokens: 128-token prompts for the 20-token rows.  The page's
  translation configuration was not retrieved: 200-token prompts assumed for the 200-token rows.  That table's
  Llama-2-7B TP8 latencies (BS 1: 136.5 ms A100, 97.6 ms H100) are printed beside the simulated DGX expert
  as context only.
- Footprint from capacities: the node's DDR (8 x 1.5 TiB) holds whole experts (the router is in HBM, Sec. V);
  DGX nodes needed to hold that CoE in HBM (8 x 80 GiB each) = `coe_footprint`.
- Tolerance +-30% (issue 8).
"""

from __future__ import annotations

import pytest

import arch
import sim
import workloads
from sim.dataflow import RduError, coe_footprint, expert_slots, serve_coe
from tests.validation.side_by_side import write_lines
from workloads.coe import Request, replay, requests, samba_coe

TOLERANCE = 0.30
FUSION_RANGE = {  # arXiv 2405.07518 Sec. VI-A, text on Fig. 10
    "prefill": ((1.5, 3.0), "Sec. VI-A: inference prefill, training and sparseGPT 1.5x to 3x"),
    "decode": ((1.0, 13.0), "Sec. VI-A: autoregressive decoding 1x to 13x (Mistral highest)"),
}
TABLE_V = {  # (rows of Table V) -> (vs DGX A100, vs DGX H100)
    ("overall", 8, 20): (6.6, 3.7),
    ("overall", 1, 20): (4.8, 2.8),
    ("expert", 1, 20): (2.0, 1.5),
    ("overall", 8, 200): (4.2, 2.7),
    ("overall", 1, 200): (3.9, 2.6),
    ("expert", 1, 200): (3.2, 2.3),
}
SWITCHING = {"dgx-a100": 31.0, "dgx-h100": 15.0}  # Table V (Sec. VI-C text: 31x and 16x)
FOOTPRINT = {"experts_per_node": 850, "dgx_nodes": 19}  # Sec. VI-C
NEMO_TP8_MS = {  # NVIDIA NeMo Llama-2-7B, TP8, 128 in / 20 out, average latency (ref. [57]): context only
    ("dgx-a100", 1): 136.5, ("dgx-h100", 1): 97.6, ("dgx-a100", 8): 181.9, ("dgx-h100", 8): 129.1}
PROMPT = {20: 128, 200: 200}  # output tokens -> prompt tokens (module docstring)
DGXS = ("dgx-a100", "dgx-h100")
TP = 8

MISTRAL_7B = {  # Hugging Face mistralai/Mistral-7B-v0.1 config.json
    "name": "mistral-7b", "model_type": "mistral", "hidden_size": 4096, "intermediate_size": 14336,
    "num_hidden_layers": 32, "num_attention_heads": 32, "num_key_value_heads": 8, "vocab_size": 32000,
    "max_position_embeddings": 32768, "sliding_window": 4096,
}
FUSION_CASES = {  # Table III benchmarks the zoo builds: label -> (model, workload, category)
    "llama2-7b 4K prefill": ("llama2-7b", {"phase": "prefill", "seq_len": 4096}, "prefill"),
    "llama2-7b 4K decode": ("llama2-7b", {"phase": "decode", "batch": 1, "kv_len": 4096}, "decode"),
    "llama2-70b 4K prefill": ("llama2-70b", {"phase": "prefill", "seq_len": 4096}, "prefill"),
    "llama2-70b 4K decode": ("llama2-70b", {"phase": "decode", "batch": 1, "kv_len": 4096}, "decode"),
    "mistral-7b 2K prefill": (MISTRAL_7B, {"phase": "prefill", "seq_len": 2048}, "prefill"),
    "mistral-7b 2K decode": (MISTRAL_7B, {"phase": "decode", "batch": 1, "kv_len": 2048}, "decode"),
    "mistral-7b 4K prefill": (MISTRAL_7B, {"phase": "prefill", "seq_len": 4096}, "prefill"),
    "mistral-7b 4K decode": (MISTRAL_7B, {"phase": "decode", "batch": 1, "kv_len": 4096}, "decode"),
}


def within(measured: float, published: float) -> bool:
    return abs(measured - published) <= TOLERANCE * published


# ---- fusion (Sec. VI-A) -----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def fusion(request) -> dict[str, tuple[float, str]]:
    fused_node, unfused_node = arch.load("sn40l-node"), arch.load("sn40l-node", {"units.rdu.fused": False})
    lines = ["SN40L node (8 sockets) fused vs unfused, Table III benchmarks (arXiv 2405.07518 Sec. VI-A)",
             f"{'case':24} {'fused ms':>9} {'unfused ms':>11} {'sections':>9} {'speedup':>8} {'published':>10}"]
    out = {}
    for label, (model, kwargs, category) in FUSION_CASES.items():
        g = workloads.load(model, **kwargs) if isinstance(model, str) else workloads.from_config(model, **kwargs)
        f, u = sim.simulate(g, fused_node), sim.simulate(g, unfused_node)
        x = u.summary["latency_s"] / f.summary["latency_s"]
        out[label] = (x, category)
        lo, hi = FUSION_RANGE[category][0]
        lines.append(f"{label:24} {f.summary['latency_s'] * 1e3:9.3f} {u.summary['latency_s'] * 1e3:11.3f} "
                     f"{f.per_op['tag_section'].nunique():9d} {x:7.2f}x {lo:5.1f}-{hi:.0f}x")
    write_lines(request.config, lines)
    return out


@pytest.mark.parametrize("category", ["prefill", "decode"])
def test_fused_vs_unfused_within_the_papers_range_per_category(fusion, category):
    (lo, hi), _ = FUSION_RANGE[category]
    cases = {label: x for label, (x, c) in fusion.items() if c == category}
    assert len(cases) == 4
    for label, x in cases.items():
        assert lo <= x <= hi, f"{label}: {x:.2f}x outside {lo}x-{hi}x"


# ---- Samba-CoE (Sec. VI-C, Table V) -----------------------------------------------------------------------
def _serve(machine: str, bs: int, out: int):
    """Table V's scenario on one machine: `bs` prompts, each for a different expert, every expert copied."""
    coe = samba_coe()
    stream = [Request(e, PROMPT[out], out) for e in range(bs)]
    copy = 1 if machine in DGXS else TP  # a DGX: the whole expert over one host link (module docstring)
    return serve_coe(coe, stream, arch.load(machine), devices=TP, batch=bs, copy_devices=copy)


@pytest.fixture(scope="module")
def table_v(request) -> dict:
    serving = {(m, bs, out): _serve(m, bs, out) for m in ("sn40l-node", *DGXS) for bs in (1, 8) for out in (20, 200)}

    def expert_s(s, out):
        return s.prefill_s + out * s.decode_step_s

    measured = {}
    for (kind, bs, out) in TABLE_V:
        node = serving[("sn40l-node", bs, out)]
        for dgx in DGXS:
            s = serving[(dgx, bs, out)]
            measured[(kind, bs, out, dgx)] = (s.latencies_s[0] / node.latencies_s[0] if kind == "overall"
                                              else expert_s(s, out) / expert_s(node, out))
    node_switch = serving[("sn40l-node", 1, 20)].switch_s
    for dgx in DGXS:
        measured[("switching", dgx)] = serving[(dgx, 1, 20)].switch_s / node_switch

    lines = ["Samba-CoE, SN40L node vs DGX, TP8 everywhere (arXiv 2405.07518 Table V; tolerance +-30%)",
             f"{'metric':34} {'vs DGX A100':>20} {'vs DGX H100':>20}",
             f"{'':34} {'measured published':>20} {'measured published':>20}"]
    for (kind, bs, out), pubs in TABLE_V.items():
        label = f"{kind} speedup, BS={bs}, {out} tokens"
        cells = [f"{measured[(kind, bs, out, d)]:8.2f}x {p:8.1f}x" for d, p in zip(DGXS, pubs)]
        lines.append(f"{label:34} {cells[0]:>20} {cells[1]:>20}")
    cells = [f"{measured[('switching', d)]:8.2f}x {SWITCHING[d]:8.1f}x" for d in DGXS]
    lines.append(f"{'model switching time':34} {cells[0]:>20} {cells[1]:>20}")
    lines.append(f"{'machine':11} {'BS':>2} {'out':>3} {'router ms':>9} {'switch ms':>9} {'prefill ms':>10} "
                 f"{'step ms':>8} {'expert ms':>9} {'total ms':>9}")
    for (m, bs, out), s in serving.items():
        lines.append(f"{m:11} {bs:2d} {out:3d} {s.router_s * 1e3:9.2f} {s.switch_s * 1e3:9.1f} "
                     f"{s.prefill_s * 1e3:10.2f} {s.decode_step_s * 1e3:8.3f} {expert_s(s, out) * 1e3:9.1f} "
                     f"{s.latencies_s[0] * 1e3:9.1f}")
    for dgx in DGXS:  # context only: the published DGX latencies the paper's estimate starts from
        sim_ms = expert_s(serving[(dgx, 1, 20)], 20) * 1e3
        lines.append(f"context: {dgx} Llama-2-7B TP8, 128 in / 20 out, BS 1: simulated {sim_ms:.1f} ms, NVIDIA "
                     f"NeMo published {NEMO_TP8_MS[(dgx, 1)]:.1f} ms (ref. [57]; not compared)")
    write_lines(request.config, lines)
    return measured


MISS = {  # strict xfails: measured (this model) vs published; why
    "overall-bs8-20tok-dgx-a100": "measured 13.5x vs 6.6x",
    "overall-bs8-20tok-dgx-h100": "measured 7.5x vs 3.7x",
    "overall-bs1-20tok-dgx-a100": "measured 13.5x vs 4.8x",
    "overall-bs1-20tok-dgx-h100": "measured 7.5x vs 2.8x",
    "expert-bs1-20tok-dgx-a100": "measured 3.46x vs 2.0x",
    "expert-bs1-20tok-dgx-h100": "measured 2.93x vs 1.5x",
    "overall-bs8-200tok-dgx-h100": "measured 3.63x vs 2.7x",
    "overall-bs1-200tok-dgx-h100": "measured 3.64x vs 2.6x",
}
EXPERT_WHY = ("; the simulated experts run faster than the paper's on both sides, the node relatively more: it "
              "decodes at 1.08 ms/token (HBM-bound at Table II's peak 1.8 TB/s on 8 sockets; Sec. VI-C reports "
              "close to 85% of HBM bandwidth), the simulated DGX TP8 expert takes 79.7 ms (A100) / 67.5 ms (H100) "
              "for 128 in / 20 out against the 136.5 / 97.6 ms NeMo latencies the paper's estimate uses; decode "
              "dominates both, so the measured ratio barely moves from 20 to 200 tokens (3.46x -> 3.43x, A100) "
              "where the paper's grows (2.0x -> 3.2x): the measured node has a per-request cost this model lacks")
OVERALL_WHY = ("; every needed expert is copied, and a DGX copy (the whole 13.5 GB expert over PCIe: 421 / 211 ms, "
               "the paper's own rates) outweighs the simulated DGX expert (79.7 / 67.5 ms for 128 in / 20 out, "
               "against the 136.5 / 97.6 ms NeMo latencies the paper's estimate uses), while the node's expert "
               "(23 ms for 20 tokens) is about a third of what the paper's expert ratios imply for the measured "
               "node (~65-68 ms): the copy ratio (32x / 16x) dominates the overall one; BS=8 and BS=1 come out "
               "equal here, where the paper's BS=8 gains more")


def _table_v_params():
    out = []
    for (kind, bs, tokens), pubs in TABLE_V.items():
        for dgx, pub in zip(DGXS, pubs):
            pid = f"{kind}-bs{bs}-{tokens}tok-{dgx}"
            why = EXPERT_WHY if kind == "expert" else OVERALL_WHY
            marks = [pytest.mark.xfail(strict=True, reason=MISS[pid] + why)] if pid in MISS else []
            out.append(pytest.param((kind, bs, tokens, dgx), pub, marks=marks, id=pid))
    return out


@pytest.mark.parametrize("key, published", _table_v_params())
def test_table_v_speedup_within_30_percent(table_v, key, published):
    assert within(table_v[key], published), f"{key}: measured {table_v[key]:.2f}x vs published {published}x"


@pytest.mark.parametrize("dgx", ["dgx-a100", "dgx-h100"])
def test_model_switching_vs_dgx_within_30_percent(table_v, dgx):
    assert within(table_v[("switching", dgx)], SWITCHING[dgx])


def test_copies_dominate_the_dgx_not_the_node(table_v):
    """Not a published figure: the mechanism behind Table V.  The DGX's overall speedups exceed its expert-only
    ones (copies over PCIe cost it more than the node's DDR -> HBM copies cost the node)."""
    for dgx in DGXS:
        assert table_v[("overall", 1, 20, dgx)] > table_v[("expert", 1, 20, dgx)]
        assert table_v[("overall", 1, 200, dgx)] > table_v[("expert", 1, 200, dgx)]


def test_dgx_hbm_holds_about_50_experts_at_tp8():
    """Sec. VI-C: DGX latency spikes 'around 50 7B experts', when experts spill to host memory."""
    coe = samba_coe()
    slots = {d: expert_slots(coe, arch.load(d), TP) for d in DGXS}
    assert slots == {"dgx-a100": 49, "dgx-h100": 49}  # floor(8 x 80 GiB / 13.48 GB) = 50, less the router


# ---- footprint (Sec. VI-C) --------------------------------------------------------------------------------
def test_footprint_from_capacities(request):
    coe = samba_coe()
    node = coe_footprint(coe, arch.load("sn40l-node"))
    assert node["store"] == "ddr"  # the node holds experts in DDR (Sec. V), a DGX only in HBM
    held = int(node["store_bytes"] // coe.expert_bytes)  # whole experts in 8 x 1.5 TiB; the router is in HBM
    dgx = coe_footprint(samba_coe(held), arch.load("dgx-h100"))
    write_lines(request.config, [
        f"footprint (Sec. VI-C): one SN40L node's DDR holds {held} experts (published: up to "
        f"{FOOTPRINT['experts_per_node']}); holding them in HBM takes {dgx['machines']} DGX nodes (published "
        f"{FOOTPRINT['dgx_nodes']})"])
    assert dgx["store"] == "hbm"
    assert within(held, FOOTPRINT["experts_per_node"])
    assert within(dgx["machines"], FOOTPRINT["dgx_nodes"])


# ---- the memory wall, from the model alone ----------------------------------------------------------------
def test_memory_wall_knee_where_weights_spill_to_ddr(request):
    """Decode latency against HBM capacity on one socket: flat while the weights fit in HBM, rising
    once they spill to the 9x slower DDR; the knee sits at the first capacity >= the model's weights."""
    g = workloads.load("llama2-7b", phase="decode", kv_len=256, num_hidden_layers=4)
    need = g.weight_bytes  # per-socket weights (one socket); the KV cache (8 MiB) is placed after them
    grid = [0.25, 0.5, 0.75, 0.95, 1.05, 1.25, 2.0]
    lat = []
    for f in grid:
        acc = arch.load("sn40l", {"memory.hbm.capacity_bytes": int(f * need)})
        lat.append(sim.simulate(g, acc).summary["latency_s"])
    write_lines(request.config, ["memory wall: llama2-7b (4 layers) decode on one socket vs HBM capacity",
                                 *(f"  HBM = {f:4.2f} x weights: {t * 1e3:7.3f} ms" for f, t in zip(grid, lat))])
    plateau = lat[-1]
    knee = next(f for f, t in zip(grid, lat) if t <= plateau * 1.01)
    assert knee == 1.05  # the first capacity that holds every weight (and the KV cache)
    assert all(a > b for a, b in zip(lat[:4], lat[1:5]))  # more HBM, less spill, faster until the knee
    # mostly DDR (200 GB/s) against HBM (1.8 TB/s); was 5x with the earlier assumed 128 GB/s vs 2 TB/s
    assert lat[0] > 4 * plateau


def test_coe_knee_where_all_experts_fit_in_hbm():
    """Expert residency against HBM per socket: misses stop when the node's HBM holds all 150 experts and
    the router, at (150 + 1) x 13.48 GB / 8 sockets = 254 GB per socket."""
    coe = samba_coe()
    stream = requests(coe, 2000, prompt_tokens=16, output_tokens=1, seed=1)
    first = {}
    for i, r in enumerate(stream):
        first.setdefault(r.expert, i)
    knee = (coe.experts * coe.expert_bytes + coe.router_bytes) / 8
    misses = {}
    for f in (0.5, 0.9, 0.99, 1.01, 1.5):
        acc = arch.load("sn40l-node", {"memory.hbm.capacity_bytes": int(f * knee)})
        hits = replay(stream, expert_slots(coe, acc, 8))
        # capacity misses: an expert requested before but evicted since (first requests always miss)
        misses[f] = sum(1 for i, (r, h) in enumerate(zip(stream, hits)) if not h and first[r.expert] < i)
    assert misses[0.5] > misses[0.9] > misses[0.99] > 0
    assert misses[1.01] == misses[1.5] == 0


def test_ddr_too_small_for_the_coe_is_an_error():
    coe = samba_coe()
    small = arch.load("sn40l-node", {"memory.ddr.capacity_bytes": "128GiB"})  # 1 TiB per node < 2.04 TB
    with pytest.raises(RduError, match=r"memory\.ddr\.capacity_bytes: got .* per socket; expected at least"):
        serve_coe(coe, requests(coe, 2, prompt_tokens=8, output_tokens=1), small, devices=8)
