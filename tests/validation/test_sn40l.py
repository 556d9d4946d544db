"""Validation: SambaNova SN40L streaming dataflow, three-tier memory and Composition of Experts, measured vs
published (Prabhakar et al., "SambaNova SN40L: Scaling the AI Memory Wall with Dataflow and Composition of
Experts", arXiv 2405.07518, 2024).

Published figures (the only numbers compared with; never fed into the model)
----------------------------------------------------------------------------
- fused vs unfused speedup "ranging from 2x to 13x on various benchmarks running on eight RDU sockets"  (abstract)
- 8-socket node vs DGX for CoE inference: machine footprint "up to 19x" smaller, model switching
  "15x to 31x" faster, overall speedup 3.7x over a DGX H100 and 6.6x over a DGX A100              (abstract)
- Samba-CoE: 150 experts, a trillion total parameters                                           (abstract)

What was read, and what was assumed
-----------------------------------
The search tool returned the paper's abstract only (its arXiv HTML page from the start); the evaluation
section (its benchmark list, per-benchmark bars, batch sizes, sequence lengths, the DGX software setup) could
not be read, so no per-case figure is available: each fused/unfused case is held to the published 2x-13x
range.  The SN40L preset's figures are the abstract's (1040 PCUs/PMUs, 520 MiB SRAM, 64 GiB HBM, 1.5 TiB DDR,
638 TFLOP/s) plus the first author's seminar abstract (IISc, Aug 2024) for the DDR -> HBM load rate (over
1 TB/s per 8-socket node); HBM bandwidth (2 TB/s), peer link (100 GB/s, 1 us) and the kernel launch
(3 us, the fitted H100 figure) are assumed (arch/presets/sn40l.yaml says so).  Assumed, each chosen before
comparing with the published figures and not tuned to them:

- Fused vs unfused: Llama-2-7B decode (batch 1 and 16, 1024 tokens of context), Llama-2-13B decode (batch 1),
  Llama-2-7B prefill (2048 tokens), all tensor-parallel over the 8 sockets (`sn40l-node`); unfused is the same
  node with `units.rdu.fused: false`.
- DGX baselines: `dgx-h100` / `dgx-a100` (the fitted per-GPU model of `h100` / `gpu-a100`); each 7B expert is
  served by one GPU (it fits in 80 GB) and a switch loads it from host memory over that GPU's PCIe x16 link
  (Gen5 64 GB/s, Gen4 32 GB/s, PCI-SIG).  On the SN40L node an expert is spread over the 8 sockets and each
  socket copies its share from its DDR (128 GB/s).
- Samba-CoE: 150 Llama-2-7B experts and a Llama-2-7B-sized router (`workloads.coe.samba_coe`); 100 requests
  drawn uniformly over the experts (seed 0), each a 512-token prompt and 128 output tokens, served one after
  another; the router reads every prompt; experts resident in HBM are LRU-cached (39 slots on the node, 47 on
  a DGX); overall speedup = ratio of mean request latencies.
- Footprint from capacities: machines needed to hold a CoE in fast memory -- a DGX holds experts in its
  8 x 80 GiB of HBM, the SN40L node in its 8 x 1.5 TiB of DDR; "up to" is the largest CoE the node holds.
- Tolerance +-30% (issue 8).
"""

from __future__ import annotations


import pytest

import arch
import sim
import workloads
from sim.dataflow import RduError, coe_footprint, expert_slots, load_time_s, serve_coe
from tests.validation.side_by_side import write_lines
from workloads.coe import replay, requests, samba_coe

TOLERANCE = 0.30
PUBLISHED = {
    "fusion_range": ((2.0, 13.0), "arXiv 2405.07518, abstract: 2x to 13x over an unfused baseline on 8 sockets"),
    "switch_h100": (15.0, "abstract: model switching 15x to 31x faster (15x: DGX H100, assumed the faster DGX)"),
    "switch_a100": (31.0, "abstract: model switching 15x to 31x faster (31x: DGX A100)"),
    "overall_h100": (3.7, "abstract: overall speedup 3.7x over a DGX H100"),
    "overall_a100": (6.6, "abstract: overall speedup 6.6x over a DGX A100"),
    "footprint": (19.0, "abstract: machine footprint reduced by up to 19x"),
}
FUSION_CASES = {
    "llama2-7b decode b1": ("llama2-7b", {"phase": "decode", "batch": 1, "kv_len": 1024}),
    "llama2-7b decode b16": ("llama2-7b", {"phase": "decode", "batch": 16, "kv_len": 1024}),
    "llama2-13b decode b1": ("llama2-13b", {"phase": "decode", "batch": 1, "kv_len": 1024}),
}
PREFILL_CASE = ("llama2-7b prefill 2048", ("llama2-7b", {"phase": "prefill", "seq_len": 2048}))


def within(measured: float, published: float) -> bool:
    return abs(measured - published) <= TOLERANCE * published


def fusion_speedup(model: str, kwargs: dict) -> tuple[float, float, int]:
    g = workloads.load(model, **kwargs)
    fused = sim.simulate(g, arch.load("sn40l-node"))
    unfused = sim.simulate(g, arch.load("sn40l-node", {"units.rdu.fused": False}))
    return fused.summary["latency_s"], unfused.summary["latency_s"], fused.per_op["tag_section"].nunique()


def fusion_table(request, cases: dict) -> dict[str, float]:
    lo, hi = PUBLISHED["fusion_range"][0]
    lines = [f"SN40L node fused vs unfused ({PUBLISHED['fusion_range'][1]}; no per-case figure could be read)",
             f"{'case':24} {'fused ms':>9} {'unfused ms':>11} {'sections':>9} {'speedup':>8} {'published':>10}"]
    out = {}
    for label, (model, kwargs) in cases.items():
        f, u, n = fusion_speedup(model, kwargs)
        out[label] = u / f
        lines.append(f"{label:24} {f * 1e3:9.3f} {u * 1e3:11.3f} {n:9d} {u / f:7.2f}x {lo:4.0f}-{hi:.0f}x")
    write_lines(request.config, lines)
    return out


def test_fused_vs_unfused_decode_within_published_range(request):
    lo, hi = PUBLISHED["fusion_range"][0]
    for label, x in fusion_table(request, FUSION_CASES).items():
        assert lo <= x <= hi, label


@pytest.mark.xfail(strict=True, reason=(
    "measured 1.65x vs published range 2x-13x: on 8 sockets Llama-2-7B prefill is bound, fused or not, by its "
    "16 MiB all-reduces (two per layer) over the assumed 100 GB/s peer link; the paper's link bandwidth and "
    "prefill setup could not be read"))
def test_fused_vs_unfused_prefill_within_published_range(request):
    lo, hi = PUBLISHED["fusion_range"][0]
    x = fusion_table(request, dict([PREFILL_CASE]))[PREFILL_CASE[0]]
    assert lo <= x <= hi


def test_model_switching_vs_dgx(request):
    coe = samba_coe()
    node = load_time_s(coe.expert_bytes, arch.load("sn40l-node"), devices=8)
    rows = []
    for dgx, key in (("dgx-h100", "switch_h100"), ("dgx-a100", "switch_a100")):
        t = load_time_s(coe.expert_bytes, arch.load(dgx), devices=1)
        rows.append((dgx, t, t / node, *PUBLISHED[key]))
    write_lines(request.config, [
        f"model switching, one {coe.expert_bytes / 1e9:.2f} GB Llama-2-7B expert: SN40L node {node * 1e3:.1f} ms",
        *(f"  vs {d}: {t * 1e3:7.1f} ms  speedup {x:5.1f}x  published {p:4.0f}x  ({src})" for d, t, x, p, src in rows)])
    for d, _, x, p, _ in rows:
        assert within(x, p), d


@pytest.fixture(scope="module")
def coe_serving():
    coe = samba_coe()
    stream = requests(coe, 100, prompt_tokens=512, output_tokens=128, seed=0)
    return {name: serve_coe(coe, stream, arch.load(name), devices=dev)
            for name, dev in (("sn40l-node", 8), ("dgx-h100", 1), ("dgx-a100", 1))}


def overall_lines(serving) -> list[str]:
    node = serving["sn40l-node"]
    lines = ["Samba-CoE serving (100 requests, 512-token prompts, 128 output tokens, uniform over 150 experts)",
             f"{'machine':11} {'slots':>5} {'hits':>5} {'switch ms':>9} {'prefill ms':>10} {'step ms':>8} "
             f"{'mean ms':>8} {'speedup':>8} {'published':>9}"]
    for name, key in (("sn40l-node", None), ("dgx-h100", "overall_h100"), ("dgx-a100", "overall_a100")):
        s = serving[name]
        x = s.mean_latency_s / node.mean_latency_s
        pub = f"{PUBLISHED[key][0]:8.1f}x" if key else ""
        lines.append(f"{name:11} {s.slots:5d} {sum(s.hits):5d} {s.switch_s * 1e3:9.1f} {s.prefill_s * 1e3:10.2f} "
                     f"{s.decode_step_s * 1e3:8.3f} {s.mean_latency_s * 1e3:8.1f} {x:7.2f}x {pub}")
    return lines


@pytest.mark.xfail(strict=True, reason=(
    "measured 6.8x (DGX H100) and 11.1x (DGX A100) vs published 3.7x and 6.6x: a 7B expert decodes at 6.4 ms "
    "per token on one GPU (fitted model) against 1.0 ms on the 8-socket node; the paper's DGX setup (tensor "
    "parallelism, framework, request mix) could not be read, and one expert per GPU is what its 15x-31x "
    "switching ratios imply"))
def test_samba_coe_overall_speedup_vs_dgx(request, coe_serving):
    write_lines(request.config, overall_lines(coe_serving))
    node = coe_serving["sn40l-node"].mean_latency_s
    assert within(coe_serving["dgx-h100"].mean_latency_s / node, PUBLISHED["overall_h100"][0])
    assert within(coe_serving["dgx-a100"].mean_latency_s / node, PUBLISHED["overall_a100"][0])


def test_samba_coe_switching_dominates_dgx_misses(coe_serving):
    """Not a published figure: the mechanism behind it.  Every miss costs the node far less than a DGX."""
    node, h100 = coe_serving["sn40l-node"], coe_serving["dgx-h100"]
    assert node.switch_s * 10 < h100.switch_s
    assert 0 < sum(node.hits) < len(node.hits)  # 39 of 150 experts fit in the node's 512 GiB of HBM


def test_footprint_from_capacities(request):
    coe = samba_coe()
    node, dgx = (coe_footprint(coe, arch.load(m)) for m in ("sn40l-node", "dgx-h100"))
    assert (node["store"], dgx["store"]) == ("ddr", "hbm")  # the node holds experts in DDR, a DGX in HBM
    node_store, dgx_hbm = node["store_bytes"], dgx["store_bytes"]
    samba = dgx["machines"] / node["machines"]
    up_to = node_store / dgx_hbm  # the largest CoE the node holds, in DGX-H100s of HBM
    write_lines(request.config, [
        f"footprint: Samba-CoE ({coe.weight_bytes / 1e12:.2f} TB) needs {dgx['machines']} "
        f"DGX H100 vs 1 SN40L node ({samba:.0f}x); largest CoE the node holds ({node_store / 2**40:.0f} TiB of DDR) "
        f"= {up_to:.1f} DGX H100s of HBM: {up_to:.1f}x vs published up to {PUBLISHED['footprint'][0]:.0f}x"])
    assert samba == 3  # 2.04 TB over 687 GB (8 x 80 GiB) per DGX
    assert within(up_to, PUBLISHED["footprint"][0])


def test_memory_wall_knee_where_weights_spill_to_ddr(request):
    """Decode latency against HBM capacity on one socket: flat while the weights fit in HBM, rising
    once they spill to the 16x slower DDR; the knee sits at the first capacity >= the model's weights."""
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
    assert lat[0] > 5 * plateau  # mostly DDR (128 GB/s) against HBM (2 TB/s)


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
