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

Table 1 (the +-25% acceptance of issue 6, kept as first written; Table 3 has the paper's own baselines): the
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

What the authors' simulator does (read at github.com/yuzhang712/mixpe_simulator, commit 769f0c85 unless said)
----------------------------------------------------------------------------------------------------------
- Throughput per PE per cycle: ``bitfusion/src/simulator/simulator.py`` ``get_perf_factor`` gives
  ``int(pmax / max(iprec, pmin)) * int(pmax / max(wprec, pmin))`` MACs per PE per cycle, ``pmax``/``pmin`` the
  ``high_prec``/``low_prec`` of the design's ``conf_*.ini``: BitFusion's bit-level fusion, where a PE of
  ``pmax``-bit operands splits into narrower ones.  We restate it as ``arch.pe`` ``slice_bits``/``fused_bits``
  (tests/sim/test_pe_fusion.py checks the two agree for 2..8 bits).
- Designs (``run_mix.py``): MixPE-W4A8 = ``conf_mixint.ini`` (64 x 64, pmax 8, pmin 4); BitFusion =
  ``conf_bitfusion.ini`` (32 x 40, pmax 8, pmin 4); FP16 = ``conf_float.ini`` (32 x 28, 16/16); MixPE-W4A16 =
  ``conf_mixfloat.ini`` (32 x 32, 16/8); INT8 and ANT = ``conf_int.ini``, ``conf_ant.ini``, not in the repository
  (their array sizes are unknown).  All at 500 MHz, 1024-bit off-chip interface, 128 KiB weight / 256 KiB
  activation / 128 KiB output buffers (halved for double buffering), batch 64.
- Workloads (``bitfusion/src/benchmarks/*_bench.py``): one precision per layer for both operands.  MixPE-W4A8
  (``int48_bench.py``): every linear layer at 4 bits, so the simulator runs it at the 4 x 4 rate (4 MACs per
  cycle), plus a small 8-bit GEMM of ``K/8 x N/128`` standing for the per-group dequantisation.  ANT
  (``ant_bench.py``): linear layers at 4 bits, some blocks wholly at 8, each layer followed by an 8-bit
  ``K x N/8`` outlier GEMM.  BitFusion (``bitfusion_bench.py``): layers at 8 bits (a few o_proj at 4), with the
  same outlier GEMMs.  OLAccel appears only commented out (``run_mix.py``), so it has no PE type here.
- Energy: core dynamic energy per PE per cycle from ``results/systolic_array_synth.csv`` (the (8, 4) PE: 279,960
  nW at 500 MHz, 0.56 pJ per PE-cycle, whatever the split; (16, 16): 1.68 pJ; (16, 8): 1.09 pJ), SRAM by CACTI
  at 28 nm, DRAM per bit; ``results/mixpe_res.csv`` @ bfba57f7 lists Static / Dram / Buffer / Core energy
  normalised to FP16 (OPT-6.7B totals: MixPE-W4A8 0.14, ANT 0.25, BitFusion 0.43).  The area column of the
  synthesis table is a placeholder (1), so the simulator's arrays are not iso-area by any figure it holds.

Table 2 (the authors' simulator setup, equal PE count): OPT-6.7B and Llama2-13B linear layers at M = 64,
group 128, on the `mixpe` preset set to 500 MHz, 64 GB/s off-chip (1024 bits x 500 MHz) and the authors'
buffer sizes: MixPE-W4A8 on `mixpe-packed` (the authors' per-PE rule: 2 MACs per cycle at W4A8; also at the
W4A4 rate their bench runs it at) vs INT8 (W8A8), and MixPE-W4A16 vs FP16 (W16A16), as speedups, next to the
speedups the simulator's normalised times give.  Tolerance +-25%; a miss is a strict xfail with the measured
value.

Table 3 (MixPE vs the paper's baselines, ANT and BitFusion; issue 6's 2.6x / 1.4x, +-25%): the same setup and
models; MixPE-W4A8 (group 128) on `mixpe-packed` against `bitfusion` running W8A8 and `ant` running W4A4, each
per-channel quantised and each linear layer followed by the benches' 8-bit ``K x N/8`` outlier GEMM (the
benches' wholly 8-bit ANT blocks are left out, which favours ANT).  Two array rules, both
printed: equal PE-array area (Table 1's rule, the acceptance once the fused PEs' areas were synthesised:
BitFusion 42 x 42, ANT 57 x 57 against MixPE-packed's 64 x 64; the authors' simulator, too, sizes each design's
array on its own -- MixPE 64 x 64, BitFusion 32 x 40, FP16 32 x 28 -- rather than at equal PE count) and equal PE
count (64 x 64 each; first written as the acceptance while the fused PEs were priced as an int8 MAC; its speedup
miss stays a strict xfail), plus BitFusion at the authors' 32 x 40.  Speedup and energy reduction per model and
baseline, geomean over models x {BitFusion, ANT} against 2.6x and 1.4x; the authors' simulator's own ratios
printed alongside; the one-MAC `mixpe` PE and an ANT at W4A8 printed for reference.  PE energy of `bitfusion`
and `ant` is an int8 MAC by the arch.tech rules, and a split fused PE spends one 8x8 operation's energy per cycle
(as the authors' per-PE-cycle core energy); PE areas are synthesised (arch.tech SYNTH_PE: rtl/bitfusion_fu.v with
2-bit slices 5,255 um^2, with 4-bit slices for ANT 2,933 um^2, mixpe-packed 2,178 um^2, int8 1,696 um^2, 45 nm,
registers included; ANT's type decoders left out), and area enters energy through leakage (area x time): with
the int8-MAC table areas (636, 636, 1,058 um^2) the energy geomean was 0.99x (BitFusion 1.43x, ANT 0.60 / 0.77x),
with the synthesised ones 1.06x (BitFusion 1.60x, ANT 0.62 / 0.80x), inside the 25% band by a hair.
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
#: model -> design -> energy normalised to FP16, the sum of the Static, Dram, Buffer and Core rows (AUTHORS_SIM)
AUTHORS_ENERGY = {
    "OPT-6.7B": {"MixPE-W4A8": 0.02 + 0.01 + 0.05 + 0.06, "ANT": 0.09 + 0.03 + 0.07 + 0.06,
                 "BitFusion": 0.15 + 0.03 + 0.11 + 0.14},
    "Llama2-13B": {"MixPE-W4A8": 0.02 + 0.01 + 0.05 + 0.06, "ANT": 0.09 + 0.03 + 0.07 + 0.06,
                   "BitFusion": 0.15 + 0.03 + 0.11 + 0.14},
}
AUTHORS_MODELS = {"OPT-6.7B": OPT_6_7B, "Llama2-13B": "llama2-13b"}
#: the authors' accelerator (conf_mixint.ini @ 769f0c85) on the mixpe preset: 500 MHz, 1024 bits/cycle off chip
AUTHORS_SETUP = {"tech.clock_hz": 5.0e8, "memory.dram.bandwidth_gbps": 1024 / 8 * 5.0e8 / 1e9,
                 "units.array.filter_sram_bytes": 131072, "units.array.ifmap_sram_bytes": 262144,
                 "units.array.ofmap_sram_bytes": 131072}
AUTHORS_BATCH = 64  # run_mix.py: batch_size = 64, one token per sequence in every linear layer
#: (MixPE design, baseline design) -> (MixPE PE, w, a, baseline PE, w, a)
AUTHORS_PAIRS = {("MixPE-W4A8", "INT8"): ("mixpe-packed", "int4", "int8", "int8", "int8", "int8"),
                 ("MixPE-W4A16", "FP16"): ("mixpe-w4a16", "int4", "fp16", "fp16", "fp16", "fp16")}


def authors_graph(model, w_format: str, a_format: str, grouped: bool, outliers: bool = False) -> Graph:
    """The linear layers of `model` at the authors' batch (M = 64), at the given precisions; with `outliers`, each
    followed by the 8-bit outlier GEMM of the authors' baseline benches (ant_bench.py, bitfusion_bench.py @
    769f0c85: after every ``K x N`` layer a ``K x N/8`` GEMM at 8 bits)."""
    g = linear_layers(load_model(model, w_format=w_format, a_format=a_format,
                                 group_size=GROUP_SIZE if grouped else None, phase="decode", batch=AUTHORS_BATCH,
                                 kv_len=1024))
    if not outliers:
        return g
    out, prev = Graph(g.name + "-outliers"), None
    for op in g.ops():
        m, n, k = op.mnk
        side = workloads.gemm(m, max(1, n // 8), k, w_format="int8", a_format="int8", batch=op.batch,
                              name=op.name + ".outliers", **dict(op.tags))
        for o in (op, side):
            out.add(o, [prev] if prev is not None else [])
            prev = o
    return out


def authors_acc(pe: str, **over):
    return arch.load("mixpe", {**AUTHORS_SETUP, "units.array.pe": pe, **over})


@pytest.fixture(scope="module")
def authors_rows(request) -> list[dict]:
    out = []
    for model_name, model in AUTHORS_MODELS.items():
        for (mix_name, base_name), (mix_pe, wf, af, base_pe, bwf, baf) in AUTHORS_PAIRS.items():
            t = {pe: sim.simulate(authors_graph(model, w, a, grouped), authors_acc(pe)).summary
                 for pe, w, a, grouped in ((mix_pe, wf, af, True), (base_pe, bwf, baf, False))}
            pub = AUTHORS_TIME[model_name]
            row = {"model": model_name, "mixpe": f"{mix_name} ({mix_pe})", "baseline": base_name,
                   "speedup": t[base_pe]["latency_s"] / t[mix_pe]["latency_s"],
                   "published": pub[base_name] / pub[mix_name]}
            if mix_pe == "mixpe-packed":  # the bench runs MixPE's layers at one precision, 4 bits, for both operands
                w4a4 = sim.simulate(authors_graph(model, "int4", "int4", True), authors_acc(mix_pe)).summary
                row["bench_rate"] = t[base_pe]["latency_s"] / w4a4["latency_s"]
            out.append(row)
    lines = ["", f"MixPE vs INT8 / FP16 at the authors' simulator setup (equal PE count, 64x64), vs {AUTHORS_SIM}",
             f"{'model':11s} {'MixPE':27s} {'baseline':8s} {'speedup':>8s} {'published':>9s} {'ratio':>6s} "
             f"{'at W4A4 rate':>12s}"]
    for r in out:
        bench = f"{r['bench_rate']:12.2f}" if "bench_rate" in r else f"{'-':>12s}"
        lines.append(f"{r['model']:11s} {r['mixpe']:27s} {r['baseline']:8s} {r['speedup']:8.2f} "
                     f"{r['published']:9.2f} {r['speedup'] / r['published']:6.2f} {bench}")
    lines.append("at W4A4 rate: MixPE's W4A8 layers at the 4-bit x 4-bit rate, as the authors' int48_bench.py runs "
                 "them (one precision per layer for both operands)")
    write_lines(request.config, lines)
    return out


@pytest.mark.xfail(strict=True, reason=(
    "measured 1.58x vs published 5.26x (OPT-6.7B and Llama2-13B): at M = 64 and equal PE count our MixPE-W4A16 "
    "gains only from 4-bit weight traffic (one MAC per PE per cycle, as the fp16 PE); the authors' simulator runs "
    "its MixPE-W4A16 as a high_prec 16 / low_prec 8 fused PE on a 32 x 32 array against FP16 on 32 x 28 "
    "(conf_mixfloat.ini, conf_float.ini @ 769f0c85), i.e. two 8-bit-or-narrower weights per 16-bit lane, a "
    "fusion of fp16 significands that arch.pe does not model"))
def test_authors_setup_mixpe_w4a16_vs_fp16(authors_rows):
    for r in (r for r in authors_rows if r["baseline"] == "FP16"):
        assert r["speedup"] > 1  # fewer weight bytes and no in-loop dequantisation
        assert r["speedup"] == pytest.approx(r["published"], rel=TOLERANCE), r


@pytest.mark.xfail(strict=True, reason=(
    "measured 1.34x / 1.33x vs published 8.6x (OPT-6.7B / Llama2-13B) with the authors' own per-PE rule "
    "(mixpe-packed: int(8/max(b,4)) per operand, 2 MACs per cycle at W4A8 vs 1 for INT8, equal PE count), "
    "2.86x / 1.99x at the W4A4 rate their int48_bench.py runs MixPE's W4A8 layers at: at 64 GB/s with their "
    "128 KiB activation half-buffer our tiling (which never cuts K) re-reads the activations per column fold, "
    "so DRAM, not the PE, bounds both designs; and the INT8 array of their conf_int.ini, not in their "
    "repository, is unknown (their BitFusion and FP16 arrays are 32 x 40 and 32 x 28 against MixPE's 64 x 64)"))
def test_authors_setup_mixpe_w4a8_vs_int8(authors_rows):
    for r in (r for r in authors_rows if r["baseline"] == "INT8"):
        assert 1.2 < r["speedup"] < r["bench_rate"] <= 4.0, r  # packing helps, the W4A4 rate more; DRAM caps both
        assert r["speedup"] == pytest.approx(r["published"], rel=TOLERANCE), r


# ---- Table 3: MixPE vs the paper's baselines (ANT, BitFusion) ------------------------------------------------
#: baseline -> (preset, weight format, activation format) of its main GEMMs, from the authors' benches @ 769f0c85:
#: bitfusion_bench.py runs the LLM layers at 8 bits, ant_bench.py at 4 bits (one precision for both operands, so
#: ANT's 4-bit types on weights and activations); both add the 8-bit outlier GEMM of `authors_graph`.
BASELINES = {"BitFusion": ("bitfusion", "int8", "int8"), "ANT": ("ant", "int4", "int4")}
#: not in the authors' runs: ANT with 8-bit activations, MixPE's own precision (printed, outside the geomean)
EXTRA_BASELINES = {"ANT W4A8": ("ant", "int4", "int8")}
#: MixPE designs: its PE as we model it (`mixpe`: one MAC per cycle) and with the authors' packing (`mixpe-packed`)
MIXPE_DESIGNS = {"mixpe-packed": "mixpe-packed", "mixpe": "mixpe-w4a8"}


@pytest.fixture(scope="module")
def baseline_rows(request) -> list[dict]:
    out = []
    for model_name, model in AUTHORS_MODELS.items():
        mix = {name: sim.simulate(authors_graph(model, "int4", "int8", True), authors_acc(pe)).summary
               for name, pe in MIXPE_DESIGNS.items()}
        for base_name, (preset_pe, wf, af) in {**BASELINES, **EXTRA_BASELINES}.items():
            g = authors_graph(model, wf, af, False, outliers=True)
            b = sim.simulate(g, authors_acc(preset_pe)).summary
            row = {"model": model_name, "baseline": base_name, "base_ms": b["latency_s"] * 1e3,
                   "mixpe_ms": mix["mixpe-packed"]["latency_s"] * 1e3,
                   "speedup": b["latency_s"] / mix["mixpe-packed"]["latency_s"],
                   "energy": b["energy_j"] / mix["mixpe-packed"]["energy_j"],
                   "speedup_1mac": b["latency_s"] / mix["mixpe"]["latency_s"],
                   "energy_1mac": b["energy_j"] / mix["mixpe"]["energy_j"],
                   "published": base_name in BASELINES}
            if base_name in BASELINES:
                row["sim_speedup"] = AUTHORS_TIME[model_name][base_name] / AUTHORS_TIME[model_name]["MixPE-W4A8"]
                row["sim_energy"] = AUTHORS_ENERGY[model_name][base_name] / AUTHORS_ENERGY[model_name]["MixPE-W4A8"]
            # equal PE-array area (Table 1's rule) now that the fused PEs' areas are synthesised (arch.tech SYNTH_PE)
            iso = iso_area(authors_acc(preset_pe), area_breakdown(authors_acc("mixpe-packed"))["pe_mm2"])
            bi = sim.simulate(g, iso).summary
            row.update(iso_array=f"{iso.unit('array').rows}x{iso.unit('array').cols}",
                       speedup_iso=bi["latency_s"] / mix["mixpe-packed"]["latency_s"],
                       energy_iso=bi["energy_j"] / mix["mixpe-packed"]["energy_j"])
            if base_name == "BitFusion":  # the authors' BitFusion array, conf_bitfusion.ini: a = 32, c = 40
                small = sim.simulate(g, authors_acc(preset_pe, **{"units.array.rows": 32, "units.array.cols": 40}))
                row["speedup_authors_array"] = small.summary["latency_s"] / mix["mixpe-packed"]["latency_s"]
            out.append(row)
    lines = ["", "MixPE vs the paper's baselines (ANT, BitFusion): OPT-6.7B / Llama2-13B linear layers, M = 64, the "
             "authors' setup, equal PE count (64x64)",
             f"{'model':11s} {'baseline':10s} {'base ms':>8s} {'MixPE ms':>8s} {'speedup':>8s} {'pub':>4s} "
             f"{'authors':>7s} {'energy':>7s} {'pub':>4s} {'authors':>7s} {'1-MAC spd':>9s} {'1-MAC en':>8s}"]
    for r in out:
        pub, sim_s, pub_e, sim_e = (("2.6", f"{r['sim_speedup']:.2f}", "1.4", f"{r['sim_energy']:.2f}")
                                    if r["published"] else ("-", "-", "-", "-"))
        lines.append(f"{r['model']:11s} {r['baseline']:10s} {r['base_ms']:8.2f} {r['mixpe_ms']:8.2f} "
                     f"{r['speedup']:8.2f} {pub:>4s} {sim_s:>7s} {r['energy']:7.2f} {pub_e:>4s} "
                     f"{sim_e:>7s} {r['speedup_1mac']:9.2f} {r['energy_1mac']:8.2f}")
    pub_rows = [r for r in out if r["published"]]
    s, e = geomean(r["speedup"] for r in pub_rows), geomean(r["energy"] for r in pub_rows)
    lines.append(f"geomean (mixpe-packed): speedup {s:.2f} vs 2.6 ({s / 2.6 - 1:+.0%}), energy {e:.2f} vs 1.4 "
                 f"({e / 1.4 - 1:+.0%}) over BitFusion and ANT; 1-MAC mixpe: speedup "
                 f"{geomean(r['speedup_1mac'] for r in pub_rows):.2f}, "
                 f"energy {geomean(r['energy_1mac'] for r in pub_rows):.2f}")
    lines.append("equal PE-array area (the MixPE-packed 64x64 array's PE area; synthesised PE areas):")
    for r in out:
        lines.append(f"  {r['model']:11s} {r['baseline']:10s} array {r['iso_array']:>7s}: speedup "
                     f"{r['speedup_iso']:.2f}, energy {r['energy_iso']:.2f}")
    lines.append(f"  geomean over BitFusion and ANT: speedup {geomean(r['speedup_iso'] for r in pub_rows):.2f} vs 2.6, "
                 f"energy {geomean(r['energy_iso'] for r in pub_rows):.2f} vs 1.4 (the acceptance, Table 1's rule; at equal "
                 "PE count above: the speedup misses)")
    for r in out:
        if "speedup_authors_array" in r:
            lines.append(f"{r['model']:11s} BitFusion at the authors' 32x40 array: speedup "
                         f"{r['speedup_authors_array']:.2f} (authors {r['sim_speedup']:.2f})")
    lines.append("pub: arXiv 2411.16158 abstract; authors: their simulator's log (results/mixpe_res.csv @ bfba57f7); "
                 "1-MAC: MixPE with the mixpe-w4a8 PE (one MAC per cycle); ANT W4A8: not in the authors' runs")
    write_lines(request.config, lines)
    return out


def test_equal_area_shrinks_the_larger_fused_baselines(baseline_rows):
    """BitFusion's and ANT's synthesised PEs are larger than the packed MixPE PE (arch.tech SYNTH_PE), so at equal
    PE-array area they get fewer PEs and MixPE's speedup over them grows."""
    for r in baseline_rows:
        n = int(r["iso_array"].split("x")[0])
        assert n < 64, r
        assert r["speedup_iso"] > r["speedup"], r


def test_baselines_follow_the_per_pe_throughput_rule(baseline_rows):
    """What the PE rule implies at equal PE count: MixPE's W4A8 (2 MACs/cycle) beats BitFusion's W8A8 (1 MAC/cycle,
    twice the weight bytes, plus outliers) and loses to ANT's W4A4 (4 MACs/cycle); the authors' smaller BitFusion
    array (32 x 40) widens the gap; the one-MAC MixPE PE is slower than the packed one."""
    for r in baseline_rows:
        if r["baseline"] == "BitFusion":
            assert 1.3 < r["speedup"] < 2.2 and r["speedup_1mac"] > 1, r
            assert r["speedup_authors_array"] > 3 * r["speedup"] / 1.05 > r["speedup"], r
        elif r["baseline"] == "ANT":
            assert r["speedup"] < 1, r
        assert r["speedup_1mac"] < r["speedup"], r


def test_speedup_over_ant_and_bitfusion_at_equal_area_within_25_percent_of_published(baseline_rows):
    """At equal PE-array area (Table 1's rule; the authors' simulator, too, gives each design its own array:
    MixPE 64 x 64, BitFusion 32 x 40, FP16 32 x 28 -- not equal PE counts), with the synthesised PE areas."""
    measured = geomean(r["speedup_iso"] for r in baseline_rows if r["published"])
    assert measured == pytest.approx(PUBLISHED["speedup"][0], rel=TOLERANCE), measured


def test_energy_over_ant_and_bitfusion_at_equal_area_within_25_percent_of_published(baseline_rows):
    measured = geomean(r["energy_iso"] for r in baseline_rows if r["published"])
    assert measured == pytest.approx(PUBLISHED["energy"][0], rel=TOLERANCE), measured


@pytest.mark.xfail(strict=True, reason=(
    "measured 1.04x vs published 2.6x at equal PE count (geomean over OPT-6.7B, Llama2-13B x BitFusion, ANT; 64 x 64 "
    "each): with the authors' per-PE rule MixPE's W4A8 is 1.50x faster than BitFusion's W8A8 but 0.63-0.82x ANT's "
    "W4A4 (4 MACs per cycle); the authors' simulator gets 6.8x and 4.0x by running MixPE's layers at the W4A4 rate on "
    "a 64 x 64 array against BitFusion's 32 x 40 (ours there: 4.8x) and ANT's unpublished conf_ant.ini"))
def test_speedup_over_ant_and_bitfusion_at_equal_pe_count_within_25_percent_of_published(baseline_rows):
    measured = geomean(r["speedup"] for r in baseline_rows if r["published"])
    assert measured == pytest.approx(PUBLISHED["speedup"][0], rel=TOLERANCE), measured


def test_energy_over_ant_and_bitfusion_at_equal_pe_count_within_25_percent_of_published(baseline_rows):
    measured = geomean(r["energy"] for r in baseline_rows if r["published"])
    assert measured == pytest.approx(PUBLISHED["energy"][0], rel=TOLERANCE), measured


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
    for pe in ("int8", "w4a8-dequant", "mixpe-w4a8", "w4a16-dequant", "mixpe-w4a16", "w2a8-dequant", "mixpe-w2a8",
               "mixpe-packed", "bitfusion", "ant"):
        assert pe in proc.stdout
    page = out.read_text().replace("\\u002f", "/")  # plotly escapes "/" in its JSON
    assert page.count("plotly-graph-div") == 1  # one chart ...
    for title in ("latency (ms)", "energy (J)", "area (mm"):  # ... with the three panels
        assert title in page
    assert "W2A8 / mixpe-w2a8" in page and "W4A16 / w4a16-dequant" in page and "W2A8 / bitfusion" in page
