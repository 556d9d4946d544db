"""Tracing speed and memory: `from_torch` on the full Llama-2-70B architecture built on the meta device.

Builds `LlamaForCausalLM` from a config with Llama-2-70B's shapes (hidden 8192, 80 layers, 64 heads,
8 K/V heads, intermediate 28672, vocab 32000; Touvron et al. 2023, Table 1 and the published
config.json) under ``torch.device("meta")`` -- no weight is allocated, nothing is downloaded -- traces
one prefill of ``--seq`` tokens and prints: build time, trace time (torch.export plus mapping), op
count, parameters (68.98 B expected), GEMM FLOPs (checked against the closed form and against
`workloads.config.from_config` on the same config) and peak RSS (``ru_maxrss``; goal < 2 GiB).

    python benchmarks/bench_trace_llama70b.py [--seq 128] [--batch 1]
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

LLAMA2_70B = dict(
    hidden_size=8192, intermediate_size=28672, num_hidden_layers=80, num_attention_heads=64,
    num_key_value_heads=8, vocab_size=32000, max_position_embeddings=4096, rms_norm_eps=1e-5,
    tie_word_embeddings=False, attn_implementation="sdpa",
)
EXPECTED_PARAMS = 68_976_648_192  # sum of numel over the HF module's parameters
RSS_LIMIT_BYTES = 2 * 1024**3


def peak_rss_bytes() -> int:
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss if sys.platform == "darwin" else rss * 1024  # Linux reports KiB


def closed_form_gemm_flops(batch: int, seq: int) -> int:
    h, inter, layers, heads, kvh, vocab = (LLAMA2_70B[k] for k in (
        "hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads", "num_key_value_heads",
        "vocab_size"))
    t, hd = batch * seq, h // heads
    per_layer = 2 * t * (2 * h * h + 2 * h * kvh * hd + 3 * h * inter) + 4 * batch * heads * seq * seq * hd
    return layers * per_layer + 2 * t * h * vocab


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seq", type=int, default=128)
    parser.add_argument("--batch", type=int, default=1)
    args = parser.parse_args()

    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from workloads.config import from_config
    from workloads.op import MATMUL_KINDS
    from workloads.torch_frontend import from_torch

    t0 = time.perf_counter()
    cfg = LlamaConfig(**LLAMA2_70B)
    with torch.device("meta"):
        model = LlamaForCausalLM(cfg)
    build_s = time.perf_counter() - t0
    n_params = sum(p.numel() for p in model.parameters())

    t0 = time.perf_counter()
    graph = from_torch(model, torch.zeros(args.batch, args.seq, dtype=torch.long, device="meta"))
    total_s = time.perf_counter() - t0
    export_s = graph.meta["trace_s"]
    on_meta = all(p.device.type == "meta" for p in model.parameters())

    gemm = sum(op.flops for op in graph.ops() if op.kind in MATMUL_KINDS)
    closed = closed_form_gemm_flops(args.batch, args.seq)
    analytical = from_config(cfg.to_dict(), phase="prefill", batch=args.batch, seq_len=args.seq)
    config_gemm = sum(op.flops for op in analytical.ops() if op.kind in MATMUL_KINDS)
    rss = peak_rss_bytes()

    rows = [
        ("build on meta", f"{build_s:.2f} s", ""),
        ("torch.export", f"{export_s:.1f} s", ""),
        ("map to Graph", f"{total_s - export_s:.2f} s", ""),
        ("ops", f"{len(graph):,}", str(graph.count_by_kind())),
        ("params (graph)", f"{graph.params / 1e9:.2f} B", f"module {n_params:,}; expected {EXPECTED_PARAMS:,}"),
        ("GEMM FLOPs", f"{gemm / 1e12:.3f} T",
         f"closed form {closed / 1e12:.3f} T; from_config {config_gemm / 1e12:.3f} T"),
        ("unmapped ATen ops", str(sum(graph.meta["unmapped"].values())), str(dict(graph.meta["unmapped"]))),
        ("peak RSS", f"{rss / 2**20:.0f} MiB", f"limit {RSS_LIMIT_BYTES / 2**30:.0f} GiB"),
    ]
    print(f"Llama-2-70B on meta, prefill batch {args.batch} x {args.seq} tokens (torch {torch.__version__})")
    print(f"{'':20s} {'value':>12s}  note")
    for label, value, note in rows:
        print(f"{label:20s} {value:>12s}  {note}")

    checks = {
        "parameters equal the module's": graph.params == n_params == EXPECTED_PARAMS,
        "GEMM FLOPs equal the closed form": gemm == closed,
        "GEMM FLOPs within 1% of from_config": abs(gemm - config_gemm) <= 0.01 * config_gemm,
        "no weight allocated": on_meta,
        "peak RSS under 2 GiB": rss < RSS_LIMIT_BYTES,
    }
    for label, ok in checks.items():
        print(f"{'ok ' if ok else 'FAIL'} {label}")
    return 0 if all(checks.values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
