"""Validation: Duplex (xPU + Logic-PIM, Op/B dispatch, expert and attention co-processing) vs its GPU-only
baseline, measured vs published (Yun et al., "Duplex: A Device for Large Language Models with Mixture of
Experts, Grouped Query Attention, and Continuous Batching", MICRO 2024, arXiv 2409.01141).

Published figures (the only numbers compared, never fed into the model)
--------------------------------------------------------------------------
- throughput: "up to 2.67x higher throughput" than the GPU system             (abstract)
- energy: 42% less energy than the GPU system (energy ratio 0.58)            (abstract, as quoted in a survey table
  of the paper, Duplex row: "max 2.67x throughput, -42% energy vs GPU"; the stored abstract excerpt is cut before it)

What was read, and what was assumed
-----------------------------------
The search tool returned the paper's abstract only (evaluation section unreadable), a survey's summary row of
the paper's setup, and the authors' public simulator as forked in jeongminl/HBF-LLMSimulator
(``src/hardware/hardware_config.h``, H100 preset).  From those: models Mixtral (47B), GLaM (143B), Grok-1 (314B),
OPT (66B), Llama 3 (70B); FP16; batch sizes 32 to 128; (input, output) lengths from (256, 256) to (4096, 4096);
uniform expert routing; continuous batching; GPU = H100 (989.4 TFLOP/s, 3.352 TB/s); Logic-PIM = 4x the
bandwidth with 8 FLOP/B of compute (presets `duplex`, `duplex-gpu-only`).  Assumed, each chosen before comparing:

- Models: Mixtral-8x7B (zoo), Grok-1 and Llama-3-70B (configs below); GLaM (MoE every other layer, not a
  `workloads.serving` family) and OPT-66B (dense MHA, the paper's non-GQA case) are left out.
- One device, the whole model (capacity and tensor-parallel communication left out: both designs would pay
  the same communication, and every op scales alike under tensor parallelism).
- Steady-state continuous batching (`workloads.serving`): B running requests at mean context
  ``Lin + Lout / 2``; B / Lout requests finish (and as many prefill) per iteration, so a share
  ``w = (B / Lout) / k`` of iterations carries ``k = ceil(B / Lout)`` prefills of ``Lin`` tokens beside
  ``B - k`` decodes, the rest are decode-only; an iteration yields B tokens; throughput = B / mean
  iteration time.  Per-layer time from a 1-layer and a 2-layer graph (identical layers), scaled to the
  model's layers.
- Grid: B in {32, 128} x (Lin, Lout) in {(256, 256), (2048, 2048)}.  "Up to" is compared with the grid's
  maximum speedup; energy with the geometric mean of the grid's energy ratios.  Tolerance +-25% (issue 5).
- Ablations (printed; asserted by direction and a lower bound): Op/B dispatch off (every op on the xPU,
  which is the GPU-only baseline: speedup exactly 1) and co-processing off (experts by Op/B alone, one unit
  at a time).
- Logic-PIM area and static power (`sim.ppa.pim_area`, `pim_static_w`; preset `duplex`): 107.26 TFLOP/s at an
  assumed 1 GHz is 53,630 fp16 MACs, priced as arch.tech fp16 PEs at an assumed 16 nm logic die: ~62 mm^2 over
  5 stacks, ~3.1 W of leakage, charged over every iteration (``energy_pim_static_j``).  It moved the energy
  ratio from 0.625 (no Logic-PIM static power) to 0.632 (printed 0.63 both times; with the GPU fit of
  b8bb34e): the H100's 75 W idle power
  and its dynamic energy dominate.
"""

from __future__ import annotations

import functools
import math

import pytest

import arch
import sim
from tests.validation.side_by_side import write_lines
from workloads.serving import serving_step

PUBLISHED = {
    "speedup": (2.67, "arXiv 2409.01141, abstract: up to 2.67x higher throughput than GPU"),
    "energy": (0.58, "arXiv 2409.01141, abstract: 42% less energy than GPU (ratio 0.58)"),
}
TOLERANCE = 0.25

GROK_1 = {  # xai-org/grok-1 release (model card / checkpoint config): 314B MoE, 8 experts, top-2
    "name": "grok-1", "model_type": "mixtral", "hidden_size": 6144, "intermediate_size": 32768,
    "num_hidden_layers": 64, "num_attention_heads": 48, "num_key_value_heads": 8, "vocab_size": 131072,
    "max_position_embeddings": 8192, "num_local_experts": 8, "num_experts_per_tok": 2,
}
LLAMA_3_70B = {  # Hugging Face meta-llama/Meta-Llama-3-70B config.json
    "name": "llama3-70b", "model_type": "llama", "hidden_size": 8192, "intermediate_size": 28672,
    "num_hidden_layers": 80, "num_attention_heads": 64, "num_key_value_heads": 8, "vocab_size": 128256,
    "max_position_embeddings": 8192,
}
MODELS = {"Mixtral-8x7B": "mixtral-8x7b", "Grok-1": GROK_1, "Llama-3-70B": LLAMA_3_70B}  # values: serving_step configs
BATCHES = (32, 128)
LENGTHS = ((256, 256), (2048, 2048))
ARCHES = {"gpu": "duplex-gpu-only", "duplex": "duplex",
          "no co-processing": ("duplex", {"units.logic_pim.co_processing": False}),
          "no Op/B dispatch": ("duplex", {"units.logic_pim.opb_dispatch": False})}
GRID_ARCHES = ("gpu", "duplex", "no co-processing")
ABLATION_MODEL = "Mixtral-8x7B"  # co-processing off is simulated on this model's grid points
_LINES: list[str] = []


@functools.cache
def accelerator(which: str):
    spec = ARCHES[which]
    return arch.load(spec[0], spec[1]) if isinstance(spec, tuple) else arch.load(spec)


@functools.cache
def graph(model: str, layers: int, decode: int, context: int, prefill: int, prompt: int):
    return serving_step(MODELS[model], layers=layers, decode=decode, context_len=context, prefill=prefill,
                        prompt_len=prompt)


def iteration(model: str, which: str, *, decode: int, context: int, prefill: int, prompt: int) -> tuple[float, float]:
    """(seconds, joules) of one iteration of the whole model: embed/head + layers x per-layer (1 vs 2 layers)."""
    acc = accelerator(which)
    g1, g2 = (graph(model, n, decode, context, prefill, prompt) for n in (1, 2))
    one, two = sim.simulate(g1, acc).summary, sim.simulate(g2, acc).summary
    layers = g1.meta["model_layers"]
    t = one["latency_s"] + (layers - 1) * (two["latency_s"] - one["latency_s"])
    e = one["energy_j"] + (layers - 1) * (two["energy_j"] - one["energy_j"])
    return t, e


def steady_state(model, which: str, batch: int, lin: int, lout: int) -> tuple[float, float]:
    """(tokens/s, joules per token) of continuous batching at steady state (module docstring)."""
    context = lin + lout // 2
    k = math.ceil(batch / lout)
    w = batch / lout / k
    td, ed = iteration(model, which, decode=batch, context=context, prefill=0, prompt=lin)
    tm, em = iteration(model, which, decode=batch - k, context=context, prefill=k, prompt=lin)
    t, e = (1 - w) * td + w * tm, (1 - w) * ed + w * em
    return batch / t, e / batch


def geomean(xs) -> float:
    xs = list(xs)
    return math.exp(sum(math.log(x) for x in xs) / len(xs))


@pytest.fixture(scope="module")
def rows() -> list[dict]:
    out = []
    for name in MODELS:
        for batch in BATCHES:
            for lin, lout in LENGTHS:
                if name == "Llama-3-70B" and lin != 2048:
                    continue  # the dense GQA model at the long lengths only (test time)
                arches = GRID_ARCHES if name == ABLATION_MODEL else GRID_ARCHES[:2]
                res = {w: steady_state(name, w, batch, lin, lout) for w in arches}
                g_tps, g_ept = res["gpu"]
                out.append({"model": name, "batch": batch, "lin": lin, "lout": lout, "gpu_tps": g_tps,
                            **{f"{w}_speedup": res[w][0] / g_tps for w in arches},
                            **{f"{w}_energy": res[w][1] / g_ept for w in arches}})
    return out


@pytest.fixture(scope="module", autouse=True)
def side_by_side(request, rows):
    yield
    head = (f"{'model':13s} {'B':>4s} {'Lin,Lout':>10s} {'GPU tok/s':>10s} {'speedup':>8s} {'energy':>7s} "
            f"{'no-co spd':>9s} {'no-co en':>8s}")
    lines = ["", "Duplex vs GPU-only (H100), measured vs published (arXiv 2409.01141)", head, "-" * len(head)]
    for r in rows:
        abl = (f"{r['no co-processing_speedup']:9.2f} {r['no co-processing_energy']:8.2f}"
               if "no co-processing_speedup" in r else f"{'-':>9s} {'-':>8s}")
        lines.append(f"{r['model']:13s} {r['batch']:4d} {r['lin']:>5d},{r['lout']:<4d} {r['gpu_tps']:10.0f} "
                     f"{r['duplex_speedup']:8.2f} {r['duplex_energy']:7.2f} {abl}")
    best = max(r["duplex_speedup"] for r in rows)
    abl = [r for r in rows if "no co-processing_speedup" in r]
    energy = geomean(r["duplex_energy"] for r in rows)
    lines += [f"throughput speedup, grid max: measured {best:.2f}x   published up to 2.67x ({best / 2.67 - 1:+.0%})",
              f"energy vs GPU, grid geomean: measured {energy:.2f}    published 0.58 (-42%) ({energy / 0.58 - 1:+.0%})",
              f"ablation on {ABLATION_MODEL}, geomean speedup: Duplex {geomean(r['duplex_speedup'] for r in abl):.2f}x, "
              f"co-processing off {geomean(r['no co-processing_speedup'] for r in abl):.2f}x, "
              "Op/B dispatch off 1.00x (every op on the xPU: the GPU baseline)", logic_pim_line(), *_LINES]
    write_lines(request.config, lines)


def logic_pim_line() -> str:
    from sim.ppa import pim_area, pim_static_w

    acc = accelerator("duplex")
    a = pim_area(acc)
    return (f"Logic-PIM silicon (not a published figure): {a['pim_mm2']:.1f} mm^2 on the logic dies "
            f"({a['pim_per_stack_mm2']:.1f} mm^2 per stack), {pim_static_w(acc):.2f} W static, in Duplex's energy")


def test_logic_pim_static_power_is_in_duplex_energy():
    """The Logic-PIM's leakage is charged over the whole iteration (sim.pim's result pass)."""
    from sim.ppa import pim_static_w

    s = sim.simulate(graph("Mixtral-8x7B", 1, 32, 384, 0, 256), accelerator("duplex")).summary
    w = pim_static_w(accelerator("duplex"))
    assert w > 0 and s["pim_static_w"] == pytest.approx(w)
    assert s["energy_pim_static_j"] == pytest.approx(w * s["latency_s"])


@pytest.mark.xfail(strict=True, reason=(
    "measured up to 4.0x (Grok-1 and Mixtral at B=32) vs published up to 2.67x: at small batches nearly all time "
    "is expert and attention weight/KV streaming, which the Logic-PIM does at 4x the bandwidth (x0.91 DRAM "
    "streaming efficiency) with no kernel launch cost, while our GPU baseline runs at its measured efficiencies "
    "(84% of HBM for GEMMs, ~3 us per kernel; the paper simulates a roofline H100): with an ideal xPU in both "
    "designs the maximum is still 3.5x (+31%); the paper's multi-device communication and Poisson arrivals (batches "
    "not always full) are left out. At B=128 (1.6x-2.1x) the measured speedups sit inside the published range"))
def test_throughput_speedup_up_to_published_within_25_percent(rows):
    published, source = PUBLISHED["speedup"]
    measured = max(r["duplex_speedup"] for r in rows)
    assert measured == pytest.approx(published, rel=TOLERANCE), f"{measured:.2f}x vs {published}x ({source})"


def test_energy_vs_gpu_within_25_percent_of_published(rows):
    published, source = PUBLISHED["energy"]
    measured = geomean(r["duplex_energy"] for r in rows)
    assert measured == pytest.approx(published, rel=TOLERANCE), f"{measured:.2f} vs {published} ({source})"


def test_duplex_wins_every_point(rows):
    for r in rows:
        assert r["duplex_speedup"] > 1 and r["duplex_energy"] < 1, r


def test_op_b_dispatch_off_is_the_gpu_baseline():
    """Op/B dispatch off: every op on the xPU, so the iteration is the GPU-only one to the cycle."""
    kw = {"decode": 31, "context": 384, "prefill": 1, "prompt": 256}
    off, gpu = (iteration("Mixtral-8x7B", w, **kw) for w in ("no Op/B dispatch", "gpu"))
    on = iteration("Mixtral-8x7B", "duplex", **kw)
    assert off[0] == pytest.approx(gpu[0], rel=1e-12) and on[0] < 0.8 * gpu[0]
    placed = sim.simulate(graph("Mixtral-8x7B", 1, 31, 384, 1, 256), accelerator("no Op/B dispatch")).per_op
    assert set(placed["unit"]) == {"gpu"}


def test_co_processing_off_loses_part_of_the_gain(rows):
    """Co-processing off keeps Op/B dispatch (still faster than the GPU) but loses overlap: at least 5% of
    Duplex's throughput at some point of the grid, and never gains."""
    abl = [r for r in rows if "no co-processing_speedup" in r]
    assert len(abl) == len(BATCHES) * len(LENGTHS)
    for r in abl:
        assert 1 < r["no co-processing_speedup"] <= r["duplex_speedup"] * (1 + 1e-9), r
    assert min(r["no co-processing_speedup"] / r["duplex_speedup"] for r in abl) < 0.95
