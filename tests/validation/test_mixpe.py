"""Validation: MixPE vs conventional quantised accelerators, measured vs published (Zhang et al., "MixPE:
Quantization and Hardware Co-design for Efficient LLM Inference", arXiv 2411.16158v1, 2024).

Published figures (the only numbers used, never fed into the model)
--------------------------------------------------------------------
- speedup 2.6x of MixPE over "state-of-the-art quantization accelerators"      (abstract; Sec. 1 contributions)
- energy reduction 1.4x over the same accelerators                             (abstract; Sec. 1 contributions)
- the authors' public simulator, github.com/yuzhang712/mixpe_simulator (first author's account; a fork of
  BitFusion's simulator), ``results/mixpe_res.csv`` at commit bfba57f7: execution time normalised to an FP16
  systolic accelerator, per model, for MixPE-W4A8, ANT, BitFusion, INT8, MixPE-W4A16 and FP16.  For the two
  LLMs: OPT-6.7B 0.10 / 0.40 / 0.68 / 0.86 / 0.19 / 1.00 and Llama2-13B the same (also ViT and ViT-Huge).
  These are the repository's simulation logs, not the paper's figures: the paper's evaluation section still
  could not be read (the search tool returns its abstract and Sec. 1 only; searches for its setup, baselines
  and per-model bars found no other copy), and the log's last ANT run gives 0.47/0.12 = 3.9x for MixPE-W4A8
  (not 2.6x), while an earlier OLAccel run in the same file's history gives 0.50/0.19 = 2.6x.

What was read, and what was assumed
-----------------------------------
From the abstract and Sec. 1: the precision families (W8A8, W4A16, W4A8; MixPE targets the mixed-precision
W4A8 and W4A16), per-group quantisation with a shared scale and zero point, MixPE's two ideas (dequantise once
per group after the group's integer GEMM; shift-and-add instead of a multiplier), and the baseline's problem:
hardware without native mixed-precision GEMM (GPUs, TPUs) dequantises in the main loop.  From the authors'
simulator (``run_mix.py``, ``conf_mixint.ini``, ``bitfusion/src/benchmarks/*`` at commit 769f0c85): baselines
ANT, BitFusion (OLAccel in an earlier run), INT8 and FP16 systolic arrays; models ViT, ViT-Huge, OPT-6.7B,
Llama2-13B; batch 64 with one token per sequence in the linear layers (M = 64); a 64 x 64 array at 500 MHz;
128 KiB weight, 256 KiB activation and 128 KiB output buffers; a 1024-bit-per-cycle off-chip interface.

Table 1 (the +-25% acceptance of issue 6): ANT, BitFusion and OLAccel have no PE type here, so the
"quantization accelerators" are the same systolic accelerator with conventional PEs that dequantise every
weight use in the loop (presets `w4a8-dequant`, `w4a16-dequant`; `arch.pe`: one extra multiply-add pass per
MAC), at the MixPE design's precision (`mixpe` W4A8, `mixpe-a16` W4A16).  Assumed, each a documented choice
made before comparing and not tuned to the published figures:

- Equal PE-array area: each baseline array is the largest square whose PE area does not exceed the MixPE
  array's (64 x 64 PEs plus its per-column dequantisers); buffers, HBM2, 28 nm and 1 GHz as the `mixpe` preset
  (itself assumed, see its YAML).  The equal-PE-count ratios are printed alongside.  PE areas: the int8 MAC,
  the in-loop W4A8 PE and the MixPE W4A8 PE from Yosys synthesis of `rtl/` (`arch.tech.SYNTH_PE`,
  data/rtl/synth_nangate45.csv); the W4A16 PEs from the Horowitz-table rules (no fp16 RTL).
- Group size 128 (the common choice of GPTQ/AWQ-style 4-bit weight quantisation).
- Models: OPT-6.7B, LLaMA-2-7B, LLaMA-2-13B; the linear layers (q/k/v/o projections, MLP) only: they are the
  mixed-precision GEMMs a PE type changes (the authors' simulator also runs linear layers only).
- Two regimes: prefill of one 1024-token prompt, and decode of a batch of 32 at 1024 tokens of context.
- The published figure is an average over its models and baselines; we compare it with the geometric mean
  over models x regimes x precisions.  Tolerance +-25% (issue 6).

Table 1b (no published figure): MixPE W4A8 vs `w4a8-dequant-fullrate`, the RTL's area baseline (rtl/dequant_pe.v:
a dedicated dequantiser per PE, full rate, its synthesised area), same models and regimes: at equal PE count
the two run equally fast; at equal PE-array area fewer of its larger PEs fit, which is its in-loop cost.

Table 2 (the authors' simulator setup, equal PE count): OPT-6.7B and Llama2-13B linear layers at M = 64,
group 128, on the `mixpe` preset set to 500 MHz, 64 GB/s off-chip (1024 bits x 500 MHz) and the authors'
buffer sizes, with the PE types we have: MixPE-W4A8 vs INT8 (W8A8) and MixPE-W4A16 vs FP16 (W16A16), as
speedups, next to the speedups the simulator's normalised times give.  Tolerance +-25%; a miss is a strict
xfail with the measured value.
"""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import pytest

import arch
import sim
import workloads
from sim.ppa import area_breakdown
from tests.validation.side_by_side import write_lines
from workloads.graph import Graph
from workloads.op import OpKind

ROOT = Path(__file__).resolve().parents[2]

PUBLISHED = {
    "speedup": (2.6, "arXiv 2411.16158v1, abstract: 2.6x speedup over state-of-the-art quantization accelerators"),
    "energy": (1.4, "arXiv 2411.16158v1, abstract: 1.4x energy reduction"),
}
TOLERANCE = 0.25
GROUP_SIZE = 128

OPT_6_7B = {  # Hugging Face facebook/opt-6.7b config.json (Zhang et al. 2022, arXiv 2205.01068, Table 1)
    "name": "opt-6.7b", "model_type": "opt", "hidden_size": 4096, "ffn_dim": 16384, "num_hidden_layers": 32,
    "num_attention_heads": 32, "vocab_size": 50272, "max_position_embeddings": 2048, "word_embed_proj_dim": 4096,
    "do_layer_norm_before": True, "activation_function": "relu", "enable_bias": True, "tie_word_embeddings": True,
}
MODELS = {"OPT-6.7B": OPT_6_7B, "LLaMA-2-7B": "llama2-7b", "LLaMA-2-13B": "llama2-13b"}
REGIMES = {"prefill 1x1024": {"phase": "prefill", "batch": 1, "seq_len": 1024},
           "decode b32 @1024": {"phase": "decode", "batch": 32, "kv_len": 1024}}
#: precision -> (activation format, MixPE preset, baseline preset)
PAIRS = {"W4A8": ("int8", "mixpe", "w4a8-dequant"), "W4A16": ("fp16", "mixpe-a16", "w4a16-dequant")}


def linear_layers(graph: Graph) -> Graph:
    """The weight GEMMs of the decoder blocks, chained in graph order."""
    out = Graph(graph.name + "-linear")
    prev = None
    for op in graph.ops():
        if op.kind is OpKind.GEMM and op.weights and op.tags.get("block") in ("attn", "mlp"):
            out.add(op, [prev] if prev is not None else [])
            prev = op
    return out


def load_model(model, **kw) -> Graph:
    return workloads.from_config(model, **kw) if isinstance(model, dict) else workloads.load(model, **kw)


def iso_area(acc, budget_mm2: float):
    """`acc` with its array resized to the largest square within `budget_mm2` of PE-array area."""
    u = acc.unit("array")
    per_pe = area_breakdown(acc)["pe_mm2"] / (u.rows * u.cols)
    n = int(math.sqrt(budget_mm2 / per_pe))
    return arch.load(acc, {"units.array.rows": n, "units.array.cols": n})


def geomean(xs) -> float:
    xs = list(xs)
    return math.exp(sum(math.log(x) for x in xs) / len(xs))


@pytest.fixture(scope="module")
def rows(request) -> list[dict]:
    out = []
    for precision, (a_format, mix_name, base_name) in PAIRS.items():
        mix = arch.load(mix_name)
        base = arch.load(base_name)
        base_iso = iso_area(base, area_breakdown(mix)["pe_mm2"])
        for model_name, model in MODELS.items():
            for regime, kw in REGIMES.items():
                g = linear_layers(load_model(model, w_format="int4", a_format=a_format, group_size=GROUP_SIZE,
                                             **kw))
                m, b, bi = (sim.simulate(g, acc).summary for acc in (mix, base, base_iso))
                out.append({
                    "model": model_name, "regime": regime, "precision": precision, "baseline": base_name,
                    "array": f"{base_iso.unit('array').rows}x{base_iso.unit('array').cols}",
                    "mixpe_ms": m["latency_s"] * 1e3, "base_ms": bi["latency_s"] * 1e3,
                    "speedup": bi["latency_s"] / m["latency_s"], "energy": bi["energy_j"] / m["energy_j"],
                    "speedup_same_pes": b["latency_s"] / m["latency_s"],
                    "energy_same_pes": b["energy_j"] / m["energy_j"],
                    "mixpe_dequant_share": m["energy_dequant_j"] / m["energy_j"],
                    "base_dequant_share": bi["energy_dequant_j"] / bi["energy_j"],
                })
    write_lines(request.config, table_lines(out))
    return out


def table_lines(out: list[dict]) -> list[str]:
    lines = ["", "MixPE vs in-loop dequant accelerators (equal PE-array area), measured vs published"]
    head = (f"{'model':12s} {'regime':17s} {'prec':5s} {'baseline':14s} {'base arr':8s} {'MixPE ms':>9s} "
            f"{'base ms':>9s} {'speedup':>8s} {'pub':>4s} {'energy':>7s} {'pub':>4s} {'=PEs spd':>8s} {'=PEs en':>8s}")
    lines += [head, "-" * len(head)]
    for r in out:
        lines.append(f"{r['model']:12s} {r['regime']:17s} {r['precision']:5s} {r['baseline']:14s} {r['array']:8s} "
              f"{r['mixpe_ms']:9.2f} {r['base_ms']:9.2f} {r['speedup']:8.2f} {2.6:4.1f} {r['energy']:7.2f} "
              f"{1.4:4.1f} {r['speedup_same_pes']:8.2f} {r['energy_same_pes']:8.2f}")
    for model in MODELS:
        sel = [r for r in out if r["model"] == model]
        lines.append(f"{model:12s} geomean: speedup {geomean(r['speedup'] for r in sel):.2f} (published 2.6), "
              f"energy {geomean(r['energy'] for r in sel):.2f} (published 1.4)")
    s, e = geomean(r["speedup"] for r in out), geomean(r["energy"] for r in out)
    lines.append(f"{'all':12s} geomean: speedup {s:.2f} vs 2.6 ({(s / 2.6 - 1):+.0%}), energy {e:.2f} vs 1.4 "
                 f"({(e / 1.4 - 1):+.0%})")
    return lines


# ---- Table 1b: a full-rate in-loop baseline (no published figure) -------------------------------------------
@pytest.fixture(scope="module")
def fullrate_rows(request) -> list[dict]:
    """MixPE W4A8 vs `w4a8-dequant-fullrate` (rtl/dequant_pe.v: a dedicated dequantiser per PE, full rate, its
    synthesised area), equal PE-array area and equal PE count: the area side of the in-loop cost."""
    mix = arch.load("mixpe")
    base = arch.load("mixpe", {"units.array.pe": "w4a8-dequant-fullrate"})
    base_iso = iso_area(base, area_breakdown(mix)["pe_mm2"])
    out = []
    for model_name, model in MODELS.items():
        for regime, kw in REGIMES.items():
            g = linear_layers(load_model(model, w_format="int4", a_format="int8", group_size=GROUP_SIZE, **kw))
            m, b, bi = (sim.simulate(g, acc).summary for acc in (mix, base, base_iso))
            out.append({"model": model_name, "regime": regime, "array": f"{base_iso.unit('array').rows}x"
                        f"{base_iso.unit('array').cols}", "speedup": bi["latency_s"] / m["latency_s"],
                        "energy": bi["energy_j"] / m["energy_j"], "speedup_same_pes": b["latency_s"] / m["latency_s"]})
    lines = ["", "MixPE W4A8 vs w4a8-dequant-fullrate (dedicated dequantiser per PE, full rate; no published figure)",
             f"{'model':12s} {'regime':17s} {'base arr':8s} {'speedup':>8s} {'energy':>7s} {'=PEs spd':>8s}"]
    lines += [f"{r['model']:12s} {r['regime']:17s} {r['array']:8s} {r['speedup']:8.2f} {r['energy']:7.2f} "
              f"{r['speedup_same_pes']:8.2f}" for r in out]
    write_lines(request.config, lines)
    return out


def test_fullrate_in_loop_pe_pays_in_area_not_time(fullrate_rows):
    for r in fullrate_rows:
        assert r["speedup_same_pes"] == pytest.approx(1.0, abs=0.02), r  # both run one MAC per PE per cycle
        assert r["speedup"] > 1.2 and r["energy"] > 1, r  # fewer of its larger PEs fit in MixPE's area


# ---- Table 2: the authors' simulator setup --------------------------------------------------------------
AUTHORS_SIM = "github.com/yuzhang712/mixpe_simulator results/mixpe_res.csv @ bfba57f7 (time normalised to FP16)"
#: model -> design -> normalised execution time, as the authors' simulator logged it (AUTHORS_SIM)
AUTHORS_TIME = {
    "OPT-6.7B": {"MixPE-W4A8": 0.10, "ANT": 0.40, "BitFusion": 0.68, "INT8": 0.86, "MixPE-W4A16": 0.19, "FP16": 1.00},
    "Llama2-13B": {"MixPE-W4A8": 0.10, "ANT": 0.40, "BitFusion": 0.68, "INT8": 0.86, "MixPE-W4A16": 0.19,
                   "FP16": 1.00},
}
AUTHORS_MODELS = {"OPT-6.7B": OPT_6_7B, "Llama2-13B": "llama2-13b"}
#: the authors' accelerator (conf_mixint.ini @ 769f0c85) on the mixpe preset: 500 MHz, 1024 bits/cycle off chip
AUTHORS_SETUP = {"tech.clock_hz": 5.0e8, "memory.dram.bandwidth_gbps": 1024 / 8 * 5.0e8 / 1e9,
                 "units.array.filter_sram_bytes": 131072, "units.array.ifmap_sram_bytes": 262144,
                 "units.array.ofmap_sram_bytes": 131072}
AUTHORS_BATCH = 64  # run_mix.py: batch_size = 64, one token per sequence in every linear layer
#: (MixPE design, baseline design) -> (MixPE PE, w, a, baseline PE, w, a)
AUTHORS_PAIRS = {("MixPE-W4A8", "INT8"): ("mixpe-w4a8", "int4", "int8", "int8", "int8", "int8"),
                 ("MixPE-W4A16", "FP16"): ("mixpe-w4a16", "int4", "fp16", "fp16", "fp16", "fp16")}


@pytest.fixture(scope="module")
def authors_rows(request) -> list[dict]:
    out = []
    for model_name, model in AUTHORS_MODELS.items():
        for (mix_name, base_name), (mix_pe, wf, af, base_pe, bwf, baf) in AUTHORS_PAIRS.items():
            t = {}
            for pe, w, a, grouped in ((mix_pe, wf, af, True), (base_pe, bwf, baf, False)):
                g = linear_layers(load_model(model, w_format=w, a_format=a, group_size=GROUP_SIZE if grouped else None,
                                             phase="decode", batch=AUTHORS_BATCH, kv_len=1024))
                t[pe] = sim.simulate(g, arch.load("mixpe", {**AUTHORS_SETUP, "units.array.pe": pe})).summary
            pub = AUTHORS_TIME[model_name]
            out.append({"model": model_name, "mixpe": mix_name, "baseline": base_name,
                        "speedup": t[base_pe]["latency_s"] / t[mix_pe]["latency_s"],
                        "published": pub[base_name] / pub[mix_name]})
    lines = ["", f"MixPE vs INT8 / FP16 at the authors' simulator setup (equal PE count), vs {AUTHORS_SIM}",
             f"{'model':11s} {'MixPE':12s} {'baseline':8s} {'speedup':>8s} {'published':>9s} {'ratio':>6s}"]
    for r in out:
        lines.append(f"{r['model']:11s} {r['mixpe']:12s} {r['baseline']:8s} {r['speedup']:8.2f} "
                     f"{r['published']:9.2f} {r['speedup'] / r['published']:6.2f}")
    lines.append("not modelled (no PE type): ANT, BitFusion (published MixPE-W4A8 speedups over them 4.0x, 6.8x)")
    write_lines(request.config, lines)
    return out


@pytest.mark.xfail(strict=True, reason=(
    "measured 1.58x vs published 5.26x (OPT-6.7B and Llama2-13B): at M = 64 and equal PE count our MixPE-W4A16 "
    "gains only from 4-bit weight traffic (one MAC per PE per cycle, as the fp16 PE); the authors' simulator's "
    "times imply several MACs per PE per cycle at 4 bits, a PE throughput the paper's unread hardware section "
    "would have to state"))
def test_authors_setup_mixpe_w4a16_vs_fp16(authors_rows):
    for r in (r for r in authors_rows if r["baseline"] == "FP16"):
        assert r["speedup"] > 1  # fewer weight bytes and no in-loop dequantisation
        assert r["speedup"] == pytest.approx(r["published"], rel=TOLERANCE), r


@pytest.mark.xfail(strict=True, reason=(
    "measured 1.00x vs published 8.6x (OPT-6.7B and Llama2-13B): at M = 64 both arrays are compute-bound at one "
    "MAC per PE per cycle in our model, so halving the weight bits gains nothing; 8.6x at the same 64 x 64 array "
    "needs the per-PE packing of the authors' BitFusion-derived simulator, which we do not model"))
def test_authors_setup_mixpe_w4a8_vs_int8(authors_rows):
    for r in (r for r in authors_rows if r["baseline"] == "INT8"):
        assert r["speedup"] >= 1
        assert r["speedup"] == pytest.approx(r["published"], rel=TOLERANCE), r


def test_speedup_within_25_percent_of_published(rows):
    published, source = PUBLISHED["speedup"]
    measured = geomean(r["speedup"] for r in rows)
    assert measured == pytest.approx(published, rel=TOLERANCE), (
        f"MixPE speedup {measured:.2f}x vs published {published}x ({source})")


def test_energy_reduction_within_25_percent_of_published(rows):
    published, source = PUBLISHED["energy"]
    measured = geomean(r["energy"] for r in rows)
    assert measured == pytest.approx(published, rel=TOLERANCE), (
        f"MixPE energy reduction {measured:.2f}x vs published {published}x ({source})")


def test_mixpe_wins_every_case_and_its_dequant_share_is_small(rows):
    for r in rows:
        assert r["speedup"] > 1 and r["energy"] > 1, r
        assert r["mixpe_dequant_share"] < 0.05 < r["base_dequant_share"], r  # once per group vs once per MAC


def test_precision_sweep_chart(tmp_path):
    """The W16A16 / W8A8 / W4A8 / W4A16 / W2A8 sweep: one Plotly chart, latency, energy and area per PE type."""
    out = tmp_path / "precision.html"
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "bench_precision.py"), str(out),
                           "--phase", "decode", "--batch", "8", "--kv-len", "256"],
                          capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    for pe in ("int8", "w4a8-dequant", "mixpe-w4a8", "w4a16-dequant", "mixpe-w4a16", "w2a8-dequant", "mixpe-w2a8"):
        assert pe in proc.stdout
    page = out.read_text().replace("\\u002f", "/")  # plotly escapes "/" in its JSON
    assert page.count("plotly-graph-div") == 1  # one chart ...
    for title in ("latency (ms)", "energy (J)", "area (mm"):  # ... with the three panels
        assert title in page
    assert "W2A8 / mixpe-w2a8" in page and "W4A16 / w4a16-dequant" in page
