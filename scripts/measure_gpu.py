"""Measure kernel times on a real GPU with PyTorch, for fitting and validating `sim.gpu`.

    python scripts/measure_gpu.py --out data/gpu/gpu_h100.csv      # on a CUDA machine (about 50 s on an H100)
    python scripts/measure_gpu.py --only softmax --kernels --out $OUT/gpu_h100_softmax.csv   # softmax alone
    python scripts/measure_gpu.py --dry-run --out /tmp/gpu.csv     # anywhere: every case at toy size on CPU

What it measures (one CSV row per case, see `COLUMNS`)
------------------------------------------------------
- ``gemm``: ``F.linear`` (an activation ``m x k`` times a weight stored ``n x k``) in fp16, bf16, fp32
  (TF32 off), tf32 (TF32 on); int8 through ``torch._int_mm``, fp8 (e4m3, bf16 out) through
  ``torch._scaled_mm``; square 128..8192, LLM projections from decode (m = 1..64) to prefill
  (m = 16384), seeded random shapes, and ``torch.bmm`` batches (``batch > 1``).
- ``eltwise``: add, mul (two inputs), silu, gelu (one input); ``norm``: ``F.layer_norm`` (and
  ``F.rms_norm`` where torch has it); ``softmax``: over the last dim.  ``rows x cols`` tensors.  Softmax
  also sweeps 18 row widths (128 .. 65536, `SOFTMAX_WIDTHS`) by 9 row counts in bf16, fp16 and fp32
  (`softmax_sweep`), across torch's row kernels.
- ``--kernels``: each case's kernels with their launch configuration (grid, block, registers per thread,
  shared memory, the occupancy estimate) from ``torch.profiler`` into ``<out>.kernels.json``.
- ``sdpa_prefill`` / ``sdpa_decode``: ``F.scaled_dot_product_attention`` (whatever backend torch
  picks), ``q_len = kv_len`` (causal or not) and ``q_len = 1`` over a KV cache of ``kv_len``; GQA with
  ``kv_heads < heads``.
- ``layer``: a Llama-2-7B decoder layer (hidden 4096, 32 heads, MLP 11008, RMSNorm, rotary, SiLU)
  for batch-16 decode over a 2048-token KV cache, fp16, eager and as one CUDA graph.

How it times
------------
Each case is warmed up, then ``calls`` back-to-back calls (enough for about 3 ms) run between two
CUDA events; the row's ``time_s`` is the median over ``repeats`` such event pairs of elapsed/calls.
Kernels run from a CUDA graph holding the ``calls`` calls (``mode=graph``: no Python or launch-queue
gaps between kernels, as in serving systems); where capture fails the calls run eagerly
(``mode=eager``).  Operands rotate over ``copies`` distinct buffers holding together at least 256 MB,
so that no call finds its operands in the 50 MB L2 left there by the previous one (as in a real model,
whose layers each read their own weights).

Provenance goes into comment lines at the top of the CSV (``# key: value``, read them with
``pandas.read_csv(path, comment="#")``) and into a sidecar JSON next to it: GPU name, SM count,
driver, CUDA, cuDNN and torch versions, ``nvidia-smi`` clocks and power limit before and after.

Needs only torch (and ``nvidia-smi`` for the driver version); imports nothing from coex.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import platform
import random
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F

COLUMNS = ["family", "op", "dtype", "batch", "m", "n", "k", "rows", "cols", "inputs", "heads", "kv_heads",
           "q_len", "kv_len", "head_dim", "causal", "time_s", "time_min_s", "time_max_s", "calls", "repeats",
           "copies", "mode", "note"]
SHAPE_COLUMNS = COLUMNS[:16]
TORCH_DTYPES = {"fp16": torch.float16, "bf16": torch.bfloat16, "fp32": torch.float32, "tf32": torch.float32}
ROTATE_BYTES = 256 * 2**20
MAX_COPIES = 64
TARGET_S = 3e-3
MAX_CALLS = 200


@dataclass
class Case:
    """One measurement: its shape columns and a `setup(device, shrink) -> (run(i), bytes per call)`."""

    shape: dict[str, Any]
    setup: Callable[[str, bool], tuple[Callable[[int], Any], float]]
    est_s: float  # rough H100 time of one call, for ordering the budget and the dry-run's estimate
    tf32: bool = False
    result: dict[str, Any] = field(default_factory=dict)


def _row(family: str, op: str, dtype: str, **shape: Any) -> dict[str, Any]:
    row = {c: "" for c in SHAPE_COLUMNS}
    row.update(family=family, op=op, dtype=dtype, **shape)
    return row


def _small(x: int, shrink: bool, cap: int = 32) -> int:
    return min(x, cap) if shrink else x


def _copies(nbytes: float) -> int:
    return max(1, min(MAX_COPIES, math.ceil(ROTATE_BYTES / max(nbytes, 1.0))))


def _rand(shape: tuple[int, ...], dtype: torch.dtype, device: str) -> torch.Tensor:
    return torch.randn(shape, device=device, dtype=torch.float32).to(dtype) * 0.1


# ---- cases ---------------------------------------------------------------------------------------------


def gemm_case(m: int, n: int, k: int, dtype: str, batch: int = 1) -> Case:
    """``batch`` products ``(m x k) @ (k x n)``; batch 1 is ``F.linear`` against an ``n x k`` weight."""
    op = {"int8": "int_mm", "fp8": "scaled_mm"}.get(dtype, "bmm" if batch > 1 else "linear")

    def setup(device: str, shrink: bool):
        mm, nn, kk = (_small(x, shrink) for x in (m, n, k))
        if dtype in ("int8", "fp8"):
            mm, nn, kk = (max(32, x - x % 16) if shrink else x for x in (mm, nn, kk))
        ab = {"int8": 1, "fp8": 1, "fp32": 4, "tf32": 4}.get(dtype, 2)
        per = batch * (mm * kk + kk * nn) * ab + batch * mm * nn * (4 if dtype == "int8" else 2 if ab < 4 else ab)
        copies = _copies(per)
        if dtype == "int8":
            sets = [(torch.randint(-8, 8, (mm, kk), device=device, dtype=torch.int8),
                     torch.randint(-8, 8, (nn, kk), device=device, dtype=torch.int8).t()) for _ in range(copies)]

            def run(i: int):
                a, b = sets[i % copies]
                return torch._int_mm(a, b)
        elif dtype == "fp8":
            f8 = torch.float8_e4m3fn
            one = torch.ones((), device=device, dtype=torch.float32)
            sets = [(_rand((mm, kk), torch.float32, device).to(f8), _rand((nn, kk), torch.float32, device).to(f8).t())
                    for _ in range(copies)]

            def run(i: int):
                a, b = sets[i % copies]
                out = torch._scaled_mm(a, b, scale_a=one, scale_b=one, out_dtype=torch.bfloat16)
                return out[0] if isinstance(out, tuple) else out  # torch < 2.4 also returned amax
        elif batch > 1:
            td = TORCH_DTYPES[dtype]
            sets = [(_rand((batch, mm, kk), td, device), _rand((batch, kk, nn), td, device)) for _ in range(copies)]

            def run(i: int):
                a, b = sets[i % copies]
                return torch.bmm(a, b)
        else:
            td = TORCH_DTYPES[dtype]
            sets = [(_rand((mm, kk), td, device), _rand((nn, kk), td, device)) for _ in range(copies)]

            def run(i: int):
                a, w = sets[i % copies]
                return F.linear(a, w)
        return run, per

    peak = {"fp32": 50e12, "tf32": 350e12, "fp16": 650e12, "bf16": 650e12, "fp8": 1200e12, "int8": 900e12}[dtype]
    ab = {"int8": 1, "fp8": 1, "fp32": 4, "tf32": 4}.get(dtype, 2)
    est = max(2 * batch * m * n * k / peak, batch * (m * k + k * n + m * n) * ab / 2.8e12) + 4e-6
    shape = _row("gemm", op, dtype, batch=batch, m=m, n=n, k=k)
    return Case(shape, setup, est, tf32=dtype == "tf32")


def eltwise_case(name: str, rows: int, cols: int, dtype: str) -> Case:
    fn = {"add": torch.add, "mul": torch.mul, "silu": F.silu, "gelu": F.gelu}[name]
    inputs = 2 if name in ("add", "mul") else 1
    td = TORCH_DTYPES[dtype]
    es = td.itemsize

    def setup(device: str, shrink: bool):
        r, c = _small(rows, shrink), _small(cols, shrink)
        per = (inputs + 1) * r * c * es
        copies = _copies(per)
        sets = [tuple(_rand((r, c), td, device) for _ in range(inputs)) for _ in range(copies)]

        def run(i: int):
            return fn(*sets[i % copies])
        return run, per

    est = (inputs + 1) * rows * cols * es / 2.8e12 + 3e-6
    return Case(_row("eltwise", name, dtype, rows=rows, cols=cols, inputs=inputs), setup, est)


def norm_case(name: str, rows: int, cols: int, dtype: str) -> Case:
    td = TORCH_DTYPES[dtype]

    def setup(device: str, shrink: bool):
        r, c = _small(rows, shrink), _small(cols, shrink)
        per = 2 * r * c * td.itemsize
        copies = _copies(per)
        xs = [_rand((r, c), td, device) for _ in range(copies)]
        w, b = torch.ones(c, device=device, dtype=td), torch.zeros(c, device=device, dtype=td)

        def run(i: int):
            if name == "layer_norm":
                return F.layer_norm(xs[i % copies], (c,), w, b)
            return F.rms_norm(xs[i % copies], (c,), w)
        return run, per

    est = 2 * rows * cols * td.itemsize / 2.8e12 + 3e-6
    return Case(_row("norm", name, dtype, rows=rows, cols=cols, inputs=1), setup, est)


def softmax_case(rows: int, cols: int, dtype: str) -> Case:
    td = TORCH_DTYPES[dtype]

    def setup(device: str, shrink: bool):
        r, c = _small(rows, shrink), _small(cols, shrink)
        per = 2 * r * c * td.itemsize
        copies = _copies(per)
        xs = [_rand((r, c), td, device) for _ in range(copies)]

        def run(i: int):
            return torch.softmax(xs[i % copies], dim=-1)
        return run, per

    est = 2 * rows * cols * td.itemsize / 2.8e12 + 3e-6
    return Case(_row("softmax", "softmax", dtype, rows=rows, cols=cols, inputs=1), setup, est)


#: the softmax sweep (second run): row widths across torch's three row kernels (warp <= 1024; a CTA per row with
#: the row in shared memory; re-read from global memory) and its 16-byte vector width (4100 is no multiple of 8)
SOFTMAX_WIDTHS = (128, 256, 512, 1024, 1536, 2048, 3072, 4096, 4100, 6144, 8192, 12288, 16384, 24576, 32000, 32768,
                  49152, 65536)
#: row counts: below, at and past one wave of CTAs over 132 SMs, and odd counts (tails)
SOFTMAX_ROWS = (96, 264, 1000, 2048, 5000, 16384, 50000, 131072, 524288)


def softmax_sweep() -> list[tuple[str, int, int]]:
    """(dtype, rows, cols) of the softmax sweep: every width and row count with 2^16 .. 2^28 elements (2^27 in
    fp32), in bf16, fp16 and fp32."""
    out = []
    for dt in ("bf16", "fp16", "fp32"):
        cap = 2**27 if dt == "fp32" else 2**28
        out += [(dt, r, c) for c in SOFTMAX_WIDTHS for r in SOFTMAX_ROWS if 2**16 <= r * c <= cap]
    return out


def _sdpa(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, causal: bool) -> torch.Tensor:
    if k.shape[1] != q.shape[1]:
        try:
            return F.scaled_dot_product_attention(q, k, v, is_causal=causal, enable_gqa=True)
        except TypeError:  # torch < 2.5: no enable_gqa
            rep = q.shape[1] // k.shape[1]
            k, v = k.repeat_interleave(rep, dim=1), v.repeat_interleave(rep, dim=1)
    return F.scaled_dot_product_attention(q, k, v, is_causal=causal)


def sdpa_case(batch: int, heads: int, kv_heads: int, q_len: int, kv_len: int, head_dim: int, causal: bool,
              dtype: str = "bf16") -> Case:
    family = "sdpa_decode" if q_len == 1 else "sdpa_prefill"
    td = TORCH_DTYPES[dtype]

    def setup(device: str, shrink: bool):
        b, sq, skv = _small(batch, shrink, 2), _small(q_len, shrink), _small(kv_len, shrink)
        h = _small(heads, shrink, 4)
        hk = max(1, h // (heads // kv_heads))
        per = (b * h * sq * head_dim * 2 + 2 * b * hk * skv * head_dim) * td.itemsize
        copies = _copies(per)
        sets = [(_rand((b, h, sq, head_dim), td, device), _rand((b, hk, skv, head_dim), td, device),
                 _rand((b, hk, skv, head_dim), td, device)) for _ in range(copies)]

        def run(i: int):
            q, k, v = sets[i % copies]
            return _sdpa(q, k, v, causal)
        return run, per

    flops = 4 * batch * heads * q_len * kv_len * head_dim * (0.5 if causal else 1.0)
    nbytes = (2 * batch * heads * q_len + 2 * batch * kv_heads * kv_len) * head_dim * td.itemsize
    est = max(flops / 350e12, nbytes / 2.5e12) + 5e-6
    shape = _row(family, "sdpa", dtype, batch=batch, heads=heads, kv_heads=kv_heads, q_len=q_len, kv_len=kv_len,
                 head_dim=head_dim, causal=int(causal))
    return Case(shape, setup, est)


LLAMA2_7B = {"hidden": 4096, "heads": 32, "head_dim": 128, "ffn": 11008, "eps": 1e-5}


def _rms_norm(x: torch.Tensor, w: torch.Tensor, eps: float) -> torch.Tensor:
    if hasattr(F, "rms_norm"):
        return F.rms_norm(x, (x.shape[-1],), w, eps)
    xf = x.float()
    return (xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + eps)).to(x.dtype) * w


def _rotate_half(x: torch.Tensor) -> torch.Tensor:
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


def layer_case(batch: int, kv_len: int, dtype: str, graph: bool) -> Case:
    """One Llama-2-7B decoder layer for ``batch`` decode tokens over a ``kv_len`` KV cache (HF-style
    ops: RMSNorm, q/k/v/o projections, rotary on q and k, SDPA over the cache, SiLU-gated MLP,
    residual adds; the new token's K/V are not appended, as in the coex graph)."""
    td = TORCH_DTYPES[dtype]
    cfg = LLAMA2_7B

    def setup(device: str, shrink: bool):
        d, h, hd, f = (cfg["hidden"], cfg["heads"], cfg["head_dim"], cfg["ffn"])
        b, kv = batch, kv_len
        if shrink:
            d, h, hd, f, b, kv = 64, 4, 16, 96, 2, 32
        w = {name: _rand(shape, td, device) for name, shape in
             {"q": (d, d), "k": (d, d), "v": (d, d), "o": (d, d), "g": (f, d), "u": (f, d), "d": (d, f)}.items()}
        n1, n2 = torch.ones(d, device=device, dtype=td), torch.ones(d, device=device, dtype=td)
        kc, vc = _rand((b, h, kv, hd), td, device), _rand((b, h, kv, hd), td, device)
        x0 = _rand((b, 1, d), td, device)
        ang = torch.arange(hd, device=device, dtype=torch.float32)[None, None, None, :] * 0.01
        cos, sin = ang.cos().to(td), ang.sin().to(td)

        def run(i: int):
            x = x0
            y = _rms_norm(x, n1, cfg["eps"])
            q = F.linear(y, w["q"]).view(b, 1, h, hd).transpose(1, 2)
            k = F.linear(y, w["k"]).view(b, 1, h, hd).transpose(1, 2)
            v = F.linear(y, w["v"]).view(b, 1, h, hd).transpose(1, 2)
            q = q * cos + _rotate_half(q) * sin
            k = k * cos + _rotate_half(k) * sin  # noqa: F841  (computed as in the model; cache not appended)
            del v
            a = F.scaled_dot_product_attention(q, kc, vc).transpose(1, 2).reshape(b, 1, d)
            x = x + F.linear(a, w["o"])
            y = _rms_norm(x, n2, cfg["eps"])
            x = x + F.linear(F.silu(F.linear(y, w["g"])) * F.linear(y, w["u"]), w["d"])
            return x

        per = sum(t.numel() for t in w.values()) * td.itemsize + 2 * kc.numel() * td.itemsize
        return run, per

    case = Case(_row("layer", "llama2_7b_decode_layer", dtype, batch=batch, heads=cfg["heads"],
                     kv_heads=cfg["heads"], q_len=1, kv_len=kv_len, head_dim=cfg["head_dim"], causal=0,
                     m=batch, n=cfg["ffn"], k=cfg["hidden"]), setup, 4e-4)
    case.result["force_mode"] = "graph" if graph else "eager"
    return case


def cases(seed: int = 0) -> list[Case]:
    """Every case, in measurement order (the layer first, then GEMMs, vector ops, attention)."""
    out: list[Case] = [layer_case(16, 2048, "fp16", graph=True), layer_case(16, 2048, "fp16", graph=False),
                       layer_case(16, 2048, "bf16", graph=True)]
    squares = [128, 256, 512, 768, 1024, 1536, 2048, 3072, 4096, 6144, 8192]
    dtypes = ["bf16", "fp16", "fp32", "tf32", "fp8", "int8"]
    for dt in dtypes:
        out += [gemm_case(s, s, s, dt) for s in squares]
    projections = [(4096, 4096), (11008, 4096), (4096, 11008), (12288, 4096), (32000, 4096), (8192, 8192),
                   (28672, 8192), (8192, 28672)]
    ms = {"bf16": [1, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384],
          "fp16": [16, 128, 1024, 4096], "fp8": [16, 64, 256, 1024, 4096, 16384],
          "int8": [32, 64, 256, 1024, 4096, 16384], "tf32": [16, 256, 2048, 8192], "fp32": [16, 256, 2048, 8192]}
    for dt, mlist in ms.items():
        pairs = projections if dt in ("bf16", "fp16", "fp8", "int8") else projections[:4]
        out += [gemm_case(m, n, k, dt) for m in mlist for n, k in pairs]
    rng = random.Random(seed)
    for dt, count in (("bf16", 40), ("fp16", 10), ("fp8", 15), ("int8", 15), ("tf32", 10), ("fp32", 10)):
        align = 16 if dt in ("fp8", "int8") else 8
        made = 0
        while made < count:
            m, n, k = (max(align, round(math.exp(rng.uniform(math.log(64), math.log(12288))) / align) * align)
                       for _ in range(3))
            if m * n * k > 2 * 8192**3 or (dt in ("fp32", "tf32") and m * n * k > 8192**3 // 2):
                continue
            out.append(gemm_case(m, n, k, dt))
            made += 1
    for batch, (m, n, k) in [(8, (1024, 1024, 1024)), (32, (1024, 1024, 1024)), (64, (512, 512, 128)),
                             (128, (512, 512, 128)), (32, (2048, 2048, 128)), (32, (2048, 128, 2048)),
                             (128, (1024, 1024, 128)), (128, (1024, 128, 1024)), (512, (1, 2048, 128)),
                             (512, (1, 128, 2048)), (16, (4096, 4096, 64)), (8, (8192, 128, 8192))]:
        out.append(gemm_case(m, n, k, "bf16", batch=batch))

    for name in ("add", "mul", "silu", "gelu"):
        for rows, cols in [(16, 4096), (128, 4096), (1024, 4096), (2048, 8192), (4096, 4096), (3000, 5000),
                           (16384, 4096), (8192, 11008), (2048, 14336), (32768, 8192), (65536, 4096),
                           (131072, 4096)]:
            out.append(eltwise_case(name, rows, cols, "bf16"))
    for rows, cols in [(1024, 4096), (16384, 4096), (65536, 4096), (8192, 11008)]:
        out += [eltwise_case("add", rows, cols, "fp32"), eltwise_case("silu", rows, cols, "fp32")]
    norms = ["layer_norm"] + (["rms_norm"] if hasattr(F, "rms_norm") else [])
    for name in norms:
        for rows in (16, 256, 1024, 2048, 4096, 8192, 16384, 32768, 65536, 131072):
            for cols in (1024, 4096, 8192):
                out.append(norm_case(name, rows, cols, "bf16"))
    for rows, cols in [(512, 2048), (512, 8192), (1024, 1024), (2048, 2048), (4096, 4096), (8192, 4096),
                       (16384, 2048), (65536, 1024), (8192, 8192), (32768, 4096), (131072, 2048), (256, 32000),
                       (2048, 32000), (4096, 32000), (16384, 128), (262144, 256), (1048576, 128), (16384, 16384),
                       (512, 32768), (1024, 8192)]:
        out.append(softmax_case(rows, cols, "bf16"))
    for rows, cols in [(4096, 4096), (32768, 4096), (4096, 32000), (65536, 1024)]:
        out.append(softmax_case(rows, cols, "fp32"))
    listed = {(c.shape["dtype"], c.shape["rows"], c.shape["cols"]) for c in out if c.shape["family"] == "softmax"}
    out += [softmax_case(r, c, dt) for dt, r, c in softmax_sweep() if (dt, r, c) not in listed]

    for batch, seq in [(1, 512), (1, 1024), (1, 2048), (1, 4096), (1, 8192), (1, 16384), (4, 1024), (4, 2048),
                       (4, 4096), (8, 2048), (16, 512), (16, 1024), (2, 8192)]:
        for causal in (False, True):
            out.append(sdpa_case(batch, 32, 32, seq, seq, 128, causal))
    for batch, seq in [(4, 2048), (16, 1024), (1, 8192)]:
        out += [sdpa_case(batch, 16, 16, seq, seq, 64, False), sdpa_case(batch, 16, 16, seq, seq, 64, True)]
    for batch, seq in [(1, 4096), (4, 2048), (1, 16384)]:
        out.append(sdpa_case(batch, 32, 8, seq, seq, 128, True))
    for batch in (1, 4, 8, 16, 32, 64, 128):
        for kv in (512, 2048, 8192, 32768):
            if batch * kv <= 2**18:
                out.append(sdpa_case(batch, 32, 32, 1, kv, 128, False))
            if batch * kv <= 2**19 and kv >= 2048:
                out.append(sdpa_case(batch, 32, 8, 1, kv, 128, False))
    out += [sdpa_case(16, 32, 32, 1, 2048, 128, False, "fp16"), sdpa_case(64, 32, 32, 1, 4096, 128, False, "fp16")]
    return out


# ---- timing --------------------------------------------------------------------------------------------


class Clock:
    """CUDA events on a GPU, ``perf_counter`` on CPU (dry runs)."""

    def __init__(self, device: str):
        self.cuda = device == "cuda"

    def sync(self) -> None:
        if self.cuda:
            torch.cuda.synchronize()

    def span(self, fn: Callable[[], Any]) -> float:
        """Seconds `fn` takes on the device."""
        if self.cuda:
            e0, e1 = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            e0.record()
            fn()
            e1.record()
            e1.synchronize()
            return e0.elapsed_time(e1) * 1e-3
        t0 = time.perf_counter()
        fn()
        return time.perf_counter() - t0


#: launch-configuration fields of a kernel event in torch.profiler's (Kineto's) Chrome trace
KERNEL_FIELDS = ("grid", "block", "registers per thread", "shared memory", "blocks per SM", "warps per SM",
                 "est. achieved occupancy %")


def kernel_configs(run: Callable[[int], Any]) -> list[dict[str, Any]]:
    """The kernels one call of `run` launches, as torch.profiler records them: name, duration (us) and
    launch configuration (`KERNEL_FIELDS`: grid, block, registers per thread, dynamic+static shared memory
    per block, and the occupancy calculator's estimate)."""
    import tempfile

    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
        run(0)
        torch.cuda.synchronize()
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "trace.json")
        prof.export_chrome_trace(path)
        with open(path) as f:
            trace = json.load(f)
    out = []
    for ev in trace.get("traceEvents", []):
        if ev.get("cat") == "kernel":
            args = ev.get("args", {})
            out.append({"name": ev.get("name"), "dur_us": ev.get("dur"), **{k: args.get(k) for k in KERNEL_FIELDS}})
    return out


def measure(case: Case, device: str, clock: Clock, repeats: int, shrink: bool,
            kernels: bool = False) -> dict[str, Any]:
    """Time one case (see the module docstring); returns the non-shape columns (with `kernels`, also
    ``kernels``: `kernel_configs` of one call, not a CSV column)."""
    torch.backends.cuda.matmul.allow_tf32 = case.tf32
    run, per = case.setup(device, shrink)
    launch = kernel_configs(run) if kernels and clock.cuda else None
    copies = _copies(per)
    if clock.cuda:  # warm up on a side stream (cuBLAS workspaces, autotuning) before any graph capture
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            for i in range(3):
                run(i)
        torch.cuda.current_stream().wait_stream(side)
    else:
        run(0)
    clock.sync()
    one = clock.span(lambda: [run(i) for i in range(3)]) / 3
    calls = 1 if shrink else max(1, min(MAX_CALLS, math.ceil(TARGET_S / max(one, 1e-7))))
    mode = case.result.get("force_mode", "graph") if clock.cuda else "eager"
    note = ""

    def eager() -> None:
        for i in range(calls):
            run(i)
    body = eager
    graph = None
    if mode == "graph":
        try:
            graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(graph):
                for i in range(calls):
                    run(i)
            graph.replay()
            clock.sync()
            body = graph.replay
        except Exception as e:  # noqa: BLE001  (any capture failure: fall back to eager)
            graph, mode, note = None, "eager", f"graph capture failed: {type(e).__name__}: {str(e)[:80]}"
            try:
                torch.cuda.synchronize()
            except Exception:  # noqa: BLE001
                pass
    times = sorted(clock.span(body) / calls for _ in range(repeats))
    out = {"time_s": statistics.median(times), "time_min_s": times[0], "time_max_s": times[-1], "calls": calls,
           "repeats": repeats, "copies": copies, "mode": mode, "note": note}
    if launch is not None:
        out["kernels"] = launch
    return out


# ---- provenance -------------------------------------------------------------------------------------------


def _smi(fields: str) -> str:
    try:
        return subprocess.run(["nvidia-smi", f"--query-gpu={fields}", "--format=csv,noheader"], capture_output=True,
                              text=True, timeout=20).stdout.strip()
    except Exception as e:  # noqa: BLE001
        return f"unavailable ({type(e).__name__})"


SMI_FIELDS = "name,driver_version,clocks.sm,clocks.max.sm,clocks.mem,power.limit,temperature.gpu,pstate"


def provenance(device: str) -> dict[str, Any]:
    info: dict[str, Any] = {"torch": torch.__version__, "cuda": torch.version.cuda, "python": platform.python_version(),
                            "host": platform.node(), "date_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    if device == "cuda":
        p = torch.cuda.get_device_properties(0)
        info.update(gpu=p.name, sms=p.multi_processor_count, memory_bytes=p.total_memory,
                    capability=f"{p.major}.{p.minor}", l2_bytes=getattr(p, "L2_cache_size", None),
                    cudnn=torch.backends.cudnn.version(), nvidia_smi_fields=SMI_FIELDS,
                    nvidia_smi_before=_smi(SMI_FIELDS))
        driver = _smi("driver_version")
        info["driver"] = driver.splitlines()[0] if driver else ""
    else:
        info.update(gpu="none (dry run on CPU)", driver="")
    return info


class SmiSampler:
    """``nvidia-smi`` sampling SM clock, power and temperature once a second while cases run."""

    def __init__(self, path: str):
        self.path = path
        try:
            self.f = open(path, "w")
            self.proc = subprocess.Popen(["nvidia-smi", "--query-gpu=clocks.sm,power.draw,temperature.gpu",
                                          "--format=csv,noheader,nounits", "-l", "1"], stdout=self.f,
                                         stderr=subprocess.DEVNULL)
        except Exception:  # noqa: BLE001
            self.proc = None

    def stop(self) -> dict[str, Any]:
        if self.proc is None:
            return {}
        self.proc.terminate()
        self.proc.wait(timeout=10)
        self.f.close()
        rows = []
        with open(self.path) as f:
            for line in f:
                try:
                    rows.append([float(x) for x in line.split(",")])
                except ValueError:
                    continue
        os.remove(self.path)
        if not rows:
            return {}
        clk, pw, temp = zip(*rows)
        return {"sm_clock_mhz_median": statistics.median(clk), "sm_clock_mhz_min": min(clk),
                "power_w_median": statistics.median(pw), "power_w_max": max(pw), "temperature_c_max": max(temp),
                "smi_samples": len(rows)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default=os.path.join(os.environ.get("OUT", "."), "gpu_h100.csv"), help="CSV path")
    ap.add_argument("--dry-run", action="store_true",
                    help="run every case at toy size on CPU (checks the list and the CSV)")
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--budget-s", type=float, default=330.0, help="skip the remaining cases after this many seconds")
    ap.add_argument("--only", default="", help="comma-separated families to measure (default: all)")
    ap.add_argument("--kernels", action="store_true",
                    help="also record each case's kernels and launch configuration (torch.profiler) into "
                         "<out>.kernels.json")
    args = ap.parse_args(argv)

    device = "cpu" if args.dry_run or not torch.cuda.is_available() else "cuda"
    if device == "cpu" and not args.dry_run:
        print("no CUDA device: use --dry-run to check the case list on CPU", file=sys.stderr)
        return 2
    todo = cases()
    if args.only:
        keep = set(args.only.split(","))
        todo = [c for c in todo if c.shape["family"] in keep]
    est = sum(c.est_s * (6 + args.repeats * max(1, TARGET_S / c.est_s)) + 0.02 for c in todo)
    print(f"{len(todo)} cases on {device}; estimated {est:.0f} s of device time on an H100", flush=True)
    info = provenance(device)
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    clock = Clock(device)
    sampler = SmiSampler(os.path.splitext(args.out)[0] + ".smi.tmp") if device == "cuda" else None
    t_start = time.time()
    if device == "cuda":  # bring clocks up to their loaded state before the first case
        a = torch.randn(8192, 8192, device=device, dtype=torch.bfloat16)
        while time.time() - t_start < 1.5:
            a @ a
        torch.cuda.synchronize()
        del a
    done = skipped = failed = 0
    launches: list[dict[str, Any]] = []
    with open(args.out, "w", newline="") as f:
        for key in ("gpu", "sms", "driver", "cuda", "cudnn", "torch", "date_utc"):
            f.write(f"# {key}: {info.get(key, '')}\n")
        w = csv.DictWriter(f, fieldnames=COLUMNS)
        w.writeheader()
        for case in todo:
            row = dict(case.shape)
            if time.time() - t_start > args.budget_s:
                row.update(time_s="", note="skipped: time budget")
                skipped += 1
            else:
                try:
                    got = measure(case, device, clock, 1 if args.dry_run else args.repeats, args.dry_run,
                                  kernels=args.kernels)
                    if "kernels" in got:
                        launches.append({**{c: case.shape[c] for c in SHAPE_COLUMNS if case.shape[c] != ""},
                                         "kernels": got.pop("kernels")})
                    row.update(got)
                    done += 1
                except Exception as e:  # noqa: BLE001  (one failing case must not lose the others)
                    row.update(time_s="", note=f"failed: {type(e).__name__}: {str(e)[:120]}".replace("\n", " "))
                    failed += 1
                if device == "cuda":
                    torch.cuda.empty_cache()
            if args.dry_run:
                row["note"] = ("dry-run (toy size on CPU) " + str(row.get("note", ""))).strip()
            w.writerow(row)
            f.flush()
    if device == "cuda":
        info["nvidia_smi_after"] = _smi(SMI_FIELDS)
        info["during_run"] = sampler.stop()
    info.update(cases=len(todo), measured=done, failed=failed, skipped=skipped, wall_s=round(time.time() - t_start, 1))
    with open(os.path.splitext(args.out)[0] + ".json", "w") as f:
        json.dump(info, f, indent=1)
    if args.kernels:
        with open(os.path.splitext(args.out)[0] + ".kernels.json", "w") as f:
            json.dump({"torch": info.get("torch"), "gpu": info.get("gpu"), "fields": list(KERNEL_FIELDS),
                       "cases": launches}, f, indent=1)
    print(json.dumps(info, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
