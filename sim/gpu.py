"""GPU cost model: one op is one kernel (GEMMs as waves of CTA tiles, memory-bound kernels as bytes over
achieved HBM bandwidth, attention as one fused flash-attention kernel), with named efficiency terms
fitted to measured H100 kernel times (``scripts/fit_gpu.py``, ``data/gpu/``).

Every time below is in seconds; ``e`` is the unit's `arch.spec.GpuEfficiency`, ``S`` its SM count,
``B`` the first off-chip tier's bandwidth, ``L`` the first on-chip tier's (the L2).  An op's time is
turned into cycles at ``tech.clock_hz``.  Ops with no work (an expert no token was routed to) take 0.

Formats
-------
A matmul computes in the wider of its operand formats (weight-only quantisation dequantises into
the activation format; int4/int2/ternary count as int8, fp8_e4m3/e5m2 as fp8), at
``tensor_tflops[fmt]`` per second (fp32 without a key: ``vector_tflops``).  A format the GPU lacks
falls back to the next wider one (`FALLBACK`: fp8 and int8 to fp16, tf32 to fp32).  Outputs are written
at the activation width, except int8 (``acc_bits``: int32, as cuBLAS and ``torch._int_mm``) and fp8 (16-bit,
as ``torch._scaled_mm`` to bf16).

GEMM (GEMM, ROUTER, CONV2D as an implicit GEMM over ``op.mnk``)
---------------------------------------------------------------
For each CTA tile ``tm x tn`` in `TILES` and split-K factor ``s`` in `SPLITS` (split only when the
tiles do not fill one wave, with at least 256 of K per split), with ``T = batch * ceil(M/tm) * ceil(N/tn) * s``
tiles and ``k = ceil(K / s)``::

    tile    = max(2 tm tn k / (P/S * gemm_compute_eff[fmt]),          MMA main loop on one SM
                  (tm a + tn w) k / (sm_feed_gbps 1e9))                its operands fed from L2 to the SM
              + gemm_tile_s
    compute = ceil(T / S) * tile                                       waves over the SMs, tail included
              + [s > 1] 2 s batch M N 4 / L                            fp32 partial sums via the L2
    memory  = (A + B + C) / (B * gemm_hbm_eff)                         compulsory bytes
    time    = launch_s + (compute^p + memory^p)^(1/p),   p = overlap_exponent

and the GEMM takes the fastest (tile, split): a well-tuned library's choice.  ``a``, ``w`` are operand bytes
per element.  A, B, C are each moved once (tile re-reads are assumed to hit the 50 MB L2).

Memory-bound kernels (ELTWISE, NORM, POOL, EMBED, SCAN)
-------------------------------------------------------
::

    time = launch_s + ((op.bytes / (B * stream_hbm_eff[kind]))^p + (op.flops / R)^p)^(1/p)
    R    = vector_tflops * eff[kind],   eff = the table of the kernel the library picks by row width:
           stream_vector_eff   rows of <= 1024 elements (one warp per row, registers)
           wide_row_eff        wider rows of fewer bytes than one CTA's shared memory (SMEM_ROW_BYTES)
           gmem_row_eff        rows wider still (the row is re-read from L2 on each pass)

The second term is the kernel's instruction throughput, counted in the IR's FLOPs per element: row-wise
reductions (norms) are far from the FMA peak (shuffles, block syncs, division), and rows wider than a
warp's 1024 elements need a CTA-wide reduction, slower still.  The three widths follow PyTorch's softmax
dispatch of an earlier release (aten/src/ATen/native/cuda/SoftMax.cu, host_softmax); a kind missing from
gmem_row_eff uses wide_row_eff.  ``kind`` is the op kind, except that RMSNorm (a NORM with ``affine == 1``:
one reduction per row, LayerNorm's two) is ``rmsnorm``.

Softmax (SOFTMAX): torch 2.11's row kernels, their occupancy, the busiest SM
-----------------------------------------------------------------------------
The kernel is the one torch 2.11 launches (`softmax_kernel`, as torch.profiler recorded it on the H100:
``data/gpu/gpu_h100_softmax.kernels.json``): ``warp`` (4-warp CTAs, a warp per row -- two rows of <= 128
elements -- rows of <= 2048 elements and 8 KiB), ``reg`` (a 1024-thread CTA per row held in registers,
<= 8192 elements), ``smem`` (the row staged in shared memory, fewer bytes than `SMEM_ROW_BYTES`) or
``gmem`` (three passes over the row in global memory).  Its resident CTAs per SM ``k`` follow from its
threads, registers per thread (`SOFTMAX_REGS`, measured) and shared memory by the sm_90 occupancy rules
(`ctas_per_sm`), and its occupancy ``w = k threads / 2048``.  With ``r`` rows per CTA, ``C`` CTAs over
``S`` SMs::

    cta     = r * op.flops / rows + slots          slots = 2 reductions x log2(threads in the reduction)
                                                           levels x those threads x (shuffle + combine),
                                                           + the scalar tail's accesses (gmem, below)
    compute = ceil(C / S) * cta / (vector_tflops / S * eff[path] * w)
    memory  = (op.bytes + [gmem] 2 * rows * row_bytes * spill) / (B * stream_hbm_eff["softmax"])
    spill   = max(0, 1 - (l2_bytes / 2) / (k S row_bytes))
    time    = launch_s + (compute^p + memory^p)^(1/p)

``eff[path]``: stream_vector_eff (warp), wide_row_eff (reg and smem), gmem_row_eff (gmem), each the
fraction of the SM's FMA rate at full occupancy.  The rate scales with resident warps (the kernel is
latency-bound: reductions and block syncs stall the warps; fewer warps hide less -- the 8192-wide row's
37-register kernel fits one CTA per SM and runs at ~0.75x the element rate of the 6144-wide one); a row's
fixed reduction cost amortises over wider rows; the kernel ends with its busiest SM, which the block
scheduler hands ``ceil(C / S)`` CTAs (a CTA alone on an SM is charged its share of a fully occupied SM:
charging whole waves of ``k`` CTAs per SM instead fits the held-out rows worse, 7.3%/18.1% against
6.7%/14.2% median/p90, since a half-empty SM runs its few CTAs faster).  The multi-pass kernel
re-reads each row twice; the re-reads hit the L2 while the rows in flight fit in half of it (assumed: the
H100's L2 is two partitions; measured: 96 KiB rows run at full rate, 128 KiB rows at ~0.7x).  The
multi-pass kernel reads and writes the last ``cols % (16-byte vector x threads)`` elements of a row one
at a time: each of its 4 accesses (3 reads, 1 write) of such an element is an instruction of its own
instead of ``1/ilp`` of a vector's (``slots += tail * 4 * (1 - 1/ilp)``, ``ilp`` elements per 16 bytes;
a bf16 32000-wide row's tail is 7424 elements).

Attention (ATTN_SCORE and ATTN_CONTEXT are the two halves of one fused kernel)
-------------------------------------------------------------------------------
From either half: ``bh = op.batch`` query heads, ``Sq = M``, ``Skv`` and ``d``, ``g = dims["kv_group"]``
query heads per K/V head, ``dims["causal"]`` (0 unless set).  Query tiles of ``TQ = 128`` rows per head
(decode-like ops, ``g Sq <= TQ``, pack a K/V head's ``g Sq`` query rows into one tile and split the keys
over the idle SMs, flash-decoding style).  A tile of ``r`` rows over ``n`` keys takes on one SM::

    n * (4 d max(r, 64) / (P/S * attn_compute_eff) + r * attn_exp_s)

(its two MMAs, padded to 64 rows, plus the max/exp/sum of each score).  Causal tiles see only the keys up
to their last row.  Uniform tiles run in ``ceil(T / S)`` waves; unequal causal tiles are scheduled
dynamically and take Graham's list-scheduling bound ``total / S + longest`` (at most the uniform time).
Memory: Q and O once, K and V once per K/V head, at ``attn_hbm_eff``.
``time = launch_s + attn_fixed_s + (compute^p + memory^p)^(1/p)``; each half is charged half of it, so
that ``score + context`` is the fused kernel (`scripts/fit_gpu.py` compares measured SDPA with the sum).
An unfused graph's softmax between the halves is still charged as its own kernel, which a GPU running
fused attention does not launch (a few microseconds per layer in decode).

Counts: ``mac`` (``op.macs``), ``vector_flop`` (other ops' FLOPs), ``sram_read_bytes`` /
``sram_write_bytes`` (every operand and result passes the L2), ``dram_read_bytes`` /
``dram_write_bytes``; ``tier_bytes`` holds the off-chip bytes (the engine's DMA at peak bandwidth
never outlasts the op, whose memory term runs at an efficiency <= 1).

Power and area (`price`, the ``gpu`` result pass that `sim.simulate` applies)
-----------------------------------------------------------------------------
For a unit that gives ``tdp_w`` (board power limit) and ``idle_w`` (static power, clocks up), a kernel
of ``t`` seconds costs::

    dynamic = 2 macs e(fmt) + vector_flops e(None) + L2 bytes x E_sram + HBM bytes x E_hbm
    e(fmt)  = (tdp_w - idle_w) / peak FLOP/s of the pipe     (peak_flops(fmt); vector_tflops for None)
    dynamic = min(dynamic, (tdp_w - idle_w) t)                the board never exceeds its power limit
    static  = idle_w x the kernel's share of the run's wall time

that is, each pipe running at its peak rate alone spends the board's whole dynamic budget (an upper
bound: a dense GEMM at peak draws TDP); ``E_sram`` is `sim.ppa`'s per-byte read energy of an SRAM the
L2's size, ``E_hbm`` the HBM tier's per-byte energy (`arch.tech`).  So an idle-looking kernel (launch
time only) draws about ``idle_w``, a compute-bound GEMM close to ``tdp_w``, a memory-bound kernel
``idle_w`` plus bandwidth x (``E_hbm`` + 2 ``E_sram``).  The time is the fitted time: any clock throttling
under the cap is already in it.  Energy columns: ``static, mac, vector, sram, dram``.
Area: a unit with ``die_mm2`` contributes its die (``count`` dies); on-chip tiers are its caches, inside
the die, and add no area of their own (``area_sram_mm2`` 0, ``area_die_mm2`` the dies); ``area_mm2`` is the
sum of the ``area_<part>_mm2`` keys (`sim.ppa.area_total`), so a PIM's area stays in it whichever result pass
runs first.  The pass reads the per-op columns (`Result.column`) and never makes the DataFrame.

Left out: L2 residency between kernels (every kernel streams its operands from HBM, as measured
with rotated buffers), clock and power throttling (absorbed by the efficiencies), library heuristics
that pick a slower tile than the best, split-K reduction kernels, multi-GPU, sparsity; for power, any
per-kernel measurement (none was taken: the power figures are datasheet limits and an assumed idle
power, not a fit), temperature, and HBM/L2 energy beyond the technology tables.
"""

from __future__ import annotations

import math

from sim.cost import OpCost, cost_model, result_pass
from workloads.op import Op, OpKind

GEMM_KINDS = frozenset({OpKind.GEMM, OpKind.ROUTER, OpKind.CONV2D})
ATTN_KINDS = frozenset({OpKind.ATTN_SCORE, OpKind.ATTN_CONTEXT})
STREAM_KINDS = frozenset({OpKind.ELTWISE, OpKind.NORM, OpKind.SOFTMAX, OpKind.POOL, OpKind.EMBED, OpKind.SCAN})
ROW_KINDS = frozenset({OpKind.NORM})  # SOFTMAX has its own kernels: `softmax_kernel`
KINDS = GEMM_KINDS | ATTN_KINDS | STREAM_KINDS

#: CTA tile shapes (rows of C, columns of C) a GEMM library chooses among.
TILES = ((128, 256), (256, 128), (128, 128), (64, 256), (64, 128), (128, 64), (64, 64))
#: split-K factors.
SPLITS = (1, 2, 3, 4, 6, 8, 12, 16)
#: query rows per fused-attention tile; MMA rows are padded to at least `MMA_ROWS`.
TQ, MMA_ROWS = 128, 64
#: number format -> the compute format it runs in.
ALIAS = {"fp8_e4m3": "fp8", "fp8_e5m2": "fp8", "int4": "int8", "int2": "int8", "ternary": "int8",
         "int16": "fp16", "int32": "fp32"}
#: compute format -> formats tried in order when the GPU lacks it.
FALLBACK = {"fp8": ("fp8", "fp16", "bf16"), "int8": ("int8", "fp16", "bf16"), "tf32": ("tf32", "fp32"),
            "bf16": ("bf16", "fp16"), "fp16": ("fp16", "bf16"), "fp32": ("fp32",)}
_BITS = {"fp32": 32, "tf32": 32, "fp16": 16, "bf16": 16, "fp8": 8, "int8": 8}
WARP_ROW = 1024  # rows up to this many elements are reduced within one warp
#: a row of fewer bytes than this is staged in one 1024-thread CTA's shared memory (48 KiB per block less
#: one fp32 reduction slot per warp, as torch's host_softmax decides)
SMEM_ROW_BYTES = 48 * 1024 - 32 * 4

# ---- softmax: torch 2.11's row kernels and their occupancy on an sm_90 SM ---------------------------------
#: widest row (elements) of torch's persistent warp softmax (softmax_warp_forward), and of its row bytes
SOFTMAX_WARP_ROW, SOFTMAX_WARP_BYTES = 2048, 8192
#: widest row of the register-resident CTA kernel (cunn_SoftMaxForwardReg)
SOFTMAX_REG_ROW = 8192
#: threads per CTA: the warp kernel's 4 warps, the CTA-per-row kernels' 1024
SOFTMAX_WARP_THREADS, SOFTMAX_CTA_THREADS = 128, 1024
#: registers per thread of each kernel instance, (path, widest row it was seen for) -> registers, as
#: torch.profiler reported them for torch 2.11.0+cu130 on the H100 (data/gpu/gpu_h100_softmax.kernels.json,
#: the same for bf16, fp16 and fp32 within 1-2 registers; a width between two measured ones takes the wider's)
SOFTMAX_REGS = {"warp": ((256, 30), (512, 32), (1024, 48), (2048, 80)), "reg": ((6144, 30), (8192, 37)),
                "smem": ((1 << 31, 32),), "gmem": ((1 << 31, 32),)}
#: sm_90 limits per SM (CUDA C++ Programming Guide, technical specifications per compute capability, 9.0):
#: resident threads, resident CTAs, 32-bit registers, register allocation unit per warp, shared memory
#: (228 KiB) and the 1 KiB the runtime reserves per CTA
SM_THREADS, SM_CTAS, SM_REGS, REG_UNIT, SM_SMEM, CTA_SMEM_RESERVED = 2048, 32, 65536, 256, 228 * 1024, 1024


def compute_format(op: Op) -> str:
    """The format a matmul op computes in: the wider of its operand formats (module docstring)."""
    a, w = (ALIAS.get(f, f) for f in (op.a_format, op.w_format))
    return w if _BITS.get(w, 0) > _BITS.get(a, 0) else a


def peak_flops(unit, fmt: str) -> tuple[str, float]:
    """(format used, peak FLOP/s) of `fmt` on `unit`, falling back along `FALLBACK`."""
    for f in FALLBACK.get(fmt, (fmt,)):
        if f in unit.tensor_tflops:
            return f, unit.tensor_tflops[f] * 1e12
        if f == "fp32":
            return f, unit.vector_tflops * 1e12
    raise ValueError(f"unit {unit.name!r} has no throughput for format {fmt!r}; tensor_tflops has "
                     f"{sorted(unit.tensor_tflops)}")


def _soft(a: float, b: float, p: float) -> float:
    hi = max(a, b)
    if hi == 0.0:
        return 0.0
    return hi * ((a / hi) ** p + (b / hi) ** p) ** (1.0 / p)


def _out_bytes_per_elem(op: Op) -> float:
    fmt = ALIAS.get(op.a_format, op.a_format)
    if fmt == "int8":
        return op.acc_bits / 8
    if fmt == "fp8":
        return 2.0
    return op.a_bits / 8


def bandwidths(accelerator) -> tuple[float, float]:
    """(HBM, L2) bytes per second: the first off-chip and first on-chip tiers (L2 infinite without one)."""
    if not accelerator.off_chip:
        raise ValueError(f"{accelerator.name!r}: the GPU model needs an off-chip memory tier (HBM); tiers are "
                         f"{[m.name for m in accelerator.memory]}")
    clock = accelerator.tech.clock_hz
    hbm = accelerator.off_chip[0].bytes_per_s(clock)
    l2 = accelerator.on_chip[0].bytes_per_s(clock) if accelerator.on_chip else math.inf
    return hbm, l2


def gemm_time(op: Op, unit, hbm: float, l2: float) -> tuple[float, float, tuple[int, int, int]]:
    """(time, compute term, (tm, tn, split)) of a matmul op (module docstring)."""
    e = unit.efficiency
    m, n, k = op.mnk
    batch = op.batch
    if not (m and n and k and batch):
        return 0.0, 0.0, (0, 0, 0)
    fmt, peak = peak_flops(unit, compute_format(op))
    sms = unit.sms
    mma = peak / sms * e.gemm_compute_eff.get(fmt, 0.75)
    feed = e.sm_feed_gbps * 1e9
    a, w = op.a_bits / 8, op.w_bits / 8
    base = op.input_bytes + op.weight_bytes + op.elements * _out_bytes_per_elem(op)
    hbm_rate = hbm * e.gemm_hbm_eff
    p = e.overlap_exponent
    best = (math.inf, 0.0, (0, 0, 0))
    for tm, tn in TILES:
        mn_tiles = batch * -(-m // tm) * -(-n // tn)
        for s in SPLITS:
            if s > 1 and (mn_tiles >= sms or k < 256 * s):
                break
            kk = -(-k // s)
            tile = max(2.0 * tm * tn * kk / mma, (tm * a + tn * w) * kk / feed) + e.gemm_tile_s
            compute = -(-(mn_tiles * s) // sms) * tile
            if s > 1:  # fp32 partial sums written and read back through the L2
                compute += 2.0 * s * batch * m * n * 4 / l2
            t = _soft(compute, base / hbm_rate, p)
            if t < best[0]:
                best = (t, compute, (tm, tn, s))
    return e.launch_s + best[0], best[1], best[2]


def attention_geometry(op: Op) -> tuple[int, int, int, int, int, bool]:
    """(query heads, Sq, Skv, head dim, kv_group, causal) of either attention half."""
    d = op.dims
    if op.kind is OpKind.ATTN_SCORE:
        sq, skv, hd = d["M"], d["N"], d["K"]
    else:
        sq, hd, skv = d["M"], d["N"], d["K"]
    return op.batch, sq, skv, hd, max(1, d.get("kv_group", 1)), bool(d.get("causal", 0))


def attention_time(op: Op, unit, hbm: float) -> tuple[float, float]:
    """(time, compute term) of the whole fused attention kernel one half of `op` belongs to."""
    e = unit.efficiency
    bh, sq, skv, hd, group, causal = attention_geometry(op)
    if not (bh and sq and skv and hd):
        return 0.0, 0.0
    _, peak = peak_flops(unit, compute_format(op))
    sms = unit.sms
    mma_per_row_key = 4.0 * hd / (peak / sms * e.attn_compute_eff)
    kv_heads = max(1, bh // group)
    ab = op.a_bits / 8
    memory = (2 * bh * sq * hd + 2 * kv_heads * skv * hd) * ab / (hbm * e.attn_hbm_eff)

    def tile_s(rows: int, keys: int) -> float:
        return keys * (max(rows, MMA_ROWS) * mma_per_row_key + rows * e.attn_exp_s)

    if group * sq <= TQ and not causal:  # decode-like: one packed tile per K/V head, keys split over idle SMs
        splits = max(1, min(sms // kv_heads, -(-skv // 256)))
        keys = -(-skv // splits)
        compute = -(-(kv_heads * splits) // sms) * tile_s(group * sq, keys)
    else:
        q_tiles = -(-sq // TQ)
        last = sq - (q_tiles - 1) * TQ
        if not causal:
            compute = -(-(bh * q_tiles) // sms) * tile_s(min(sq, TQ), skv)
        else:  # query row r sees keys up to skv - sq + r
            works = [tile_s(TQ if i < q_tiles - 1 else last, min(skv, skv - sq + min(sq, (i + 1) * TQ)))
                     for i in range(q_tiles)]
            uniform = -(-(bh * q_tiles) // sms) * tile_s(min(sq, TQ), skv)
            compute = min(bh * sum(works) / sms + max(works), uniform)
    return e.launch_s + e.attn_fixed_s + _soft(compute, memory, e.overlap_exponent), compute


def stream_key(op: Op) -> str:
    """Key of a memory-bound op in the ``stream_*`` efficiency tables: its kind, except that a NORM with one
    parameter per column (``affine == 1``) is ``"rmsnorm"`` (one reduction per row instead of two)."""
    if op.kind is OpKind.NORM and op.dims.get("affine", 1) == 1:
        return "rmsnorm"
    return op.kind.value


def row_kernel(op: Op) -> str:
    """Which kernel a memory-bound op runs as: ``warp`` (not a row reduction, or rows of <= `WARP_ROW`
    elements), ``smem`` (a row of fewer bytes than `SMEM_ROW_BYTES`) or ``gmem`` (module docstring)."""
    if op.kind not in ROW_KINDS or op.dims["cols"] <= WARP_ROW:
        return "warp"
    return "smem" if op.dims["cols"] * op.a_bits / 8 < SMEM_ROW_BYTES else "gmem"


def row_eff(op: Op, e, kind: str) -> float:
    """Fraction of ``vector_tflops`` of a memory-bound op: the table of its `row_kernel`."""
    base = e.stream_vector_eff.get(kind, 1.0)
    path = row_kernel(op)
    if path == "warp":
        return base
    wide = e.wide_row_eff.get(kind, base)
    return e.gmem_row_eff.get(kind, wide) if path == "gmem" else wide


def softmax_kernel(op: Op) -> str:
    """Which of torch 2.11's softmax kernels a SOFTMAX op runs as (`data/gpu/gpu_h100_softmax.kernels.json`):
    ``warp`` (softmax_warp_forward: a warp per row, rows of <= 2048 elements and <= 8 KiB), ``reg``
    (cunn_SoftMaxForwardReg: a 1024-thread CTA per row held in registers, <= 8192 elements), ``smem``
    (cunn_SoftMaxForwardSmem: the row staged in shared memory, fewer bytes than `SMEM_ROW_BYTES` and a whole
    number of 16-byte vectors) or ``gmem`` (cunn_SoftMaxForward: the row read from memory on each of its
    three passes)."""
    cols, eb = op.dims["cols"], op.a_bits / 8
    if cols <= SOFTMAX_WARP_ROW and cols * eb <= SOFTMAX_WARP_BYTES:
        return "warp"
    if cols <= SOFTMAX_REG_ROW:
        return "reg"
    ilp = max(1, int(16 // eb))
    return "smem" if cols * eb < SMEM_ROW_BYTES and cols % ilp == 0 else "gmem"


def ctas_per_sm(threads: int, regs: int, smem: int) -> int:
    """Resident CTAs per SM of a kernel with `threads` per CTA, `regs` registers per thread and `smem` bytes of
    shared memory per CTA, by the sm_90 limits (`SM_THREADS` ...): the occupancy calculator's rule."""
    warps = -(-threads // 32)
    per_warp = -(-regs * 32 // REG_UNIT) * REG_UNIT
    by_regs = (SM_REGS // per_warp) // warps
    return max(1, min(SM_CTAS, SM_THREADS // threads, by_regs, SM_SMEM // (smem + CTA_SMEM_RESERVED)))


def softmax_launch(op: Op) -> dict[str, float]:
    """Launch geometry of a SOFTMAX op's kernel: ``path`` (`softmax_kernel`), ``threads`` per CTA, ``rows``
    per CTA (the warp kernel: 4 warps of 1 row, 2 where a row has <= 128 elements), ``ctas``, ``regs``,
    ``smem`` (bytes per CTA), ``k`` (resident CTAs per SM, `ctas_per_sm`) and ``occupancy`` (``k``'s warps
    over the SM's 64)."""
    path = softmax_kernel(op)
    cols, eb = op.dims["cols"], op.a_bits / 8
    rows = op.elements // cols if cols else 0
    if path == "warp":
        threads, per_cta = SOFTMAX_WARP_THREADS, (SOFTMAX_WARP_THREADS // 32) * (2 if cols <= 128 else 1)
    else:
        threads, per_cta = SOFTMAX_CTA_THREADS, 1
    regs = next(r for widest, r in SOFTMAX_REGS[path] if cols <= widest)
    reduce = threads // 32 * 4  # one fp32 slot per warp for the block reductions
    smem = int(cols * eb) + reduce if path == "smem" else (0 if path == "warp" else reduce)
    k = ctas_per_sm(threads, regs, smem)
    return {"path": path, "threads": threads, "rows": per_cta, "ctas": -(-rows // per_cta), "regs": regs,
            "smem": smem, "k": k, "occupancy": min(1.0, k * threads / SM_THREADS)}


def softmax_time(op: Op, unit, hbm: float) -> tuple[float, float]:
    """(time, compute term) of a SOFTMAX op as torch 2.11's row kernel (module docstring, "Softmax")."""
    e = unit.efficiency
    nbytes = op.bytes
    if not nbytes:
        return 0.0, 0.0
    g = softmax_launch(op)
    path, k, threads = g["path"], g["k"], g["threads"]
    cols, eb = op.dims["cols"], op.a_bits / 8
    rows = op.elements // cols
    base = e.stream_vector_eff.get("softmax", 1.0)
    eff = {"warp": base, "reg": e.wide_row_eff.get("softmax", base), "smem": e.wide_row_eff.get("softmax", base),
           "gmem": e.gmem_row_eff.get("softmax", e.wide_row_eff.get("softmax", base))}[path]
    sms = unit.sms
    rate_sm = unit.vector_tflops * 1e12 / sms * eff * g["occupancy"]
    if path == "warp":  # two warp reductions per row: log2(32) shuffle levels x 32 lanes x (shuffle + combine)
        slots = 2 * 5 * 32 * 2 * g["rows"]
    else:  # two block reductions over the CTA's threads
        slots = 2 * math.log2(threads) * threads * 2
    if path == "gmem":  # the row's last cols % (16-byte vector x threads) elements: scalar loads and stores,
        ilp = max(1, int(16 // eb))  # an instruction each (3 reads and 1 write) instead of one per vector
        slots += (cols % (ilp * threads)) * 4 * (1 - 1 / ilp)
    cta = g["rows"] * op.flops / rows + slots
    compute = -(-g["ctas"] // sms) * cta / rate_sm  # the busiest SM's CTAs at its resident-warp rate
    moved = nbytes
    if path == "gmem":  # passes 2 and 3 re-read the row: from L2 while the rows in flight fit in half of it
        in_flight = k * sms * cols * eb
        half = unit.l2_bytes / 2
        moved += 2 * rows * cols * eb * max(0.0, 1.0 - half / in_flight)
    eff_hbm = e.stream_hbm_eff.get("softmax", e.stream_hbm_eff.get("eltwise", 0.9))
    return e.launch_s + _soft(compute, moved / (hbm * eff_hbm), e.overlap_exponent), compute


def stream_time(op: Op, unit, hbm: float) -> tuple[float, float]:
    """(time, compute term) of a memory-bound kernel (module docstring); SOFTMAX: `softmax_time`."""
    if op.kind is OpKind.SOFTMAX:
        return softmax_time(op, unit, hbm)
    e = unit.efficiency
    nbytes = op.bytes
    if not nbytes:
        return 0.0, 0.0
    kind = stream_key(op)
    eff = e.stream_hbm_eff.get(kind, e.stream_hbm_eff.get("eltwise", 0.9))
    rate = unit.vector_tflops * 1e12 * row_eff(op, e, kind)
    compute = op.flops / rate
    return e.launch_s + _soft(nbytes / (hbm * eff), compute, e.overlap_exponent), compute


def moved_bytes(op: Op) -> tuple[float, float]:
    """(read, written) bytes of `op`'s kernel; an attention half moves its share of the fused kernel's
    (score: Q and K; context: V and O; the score matrix never leaves the SMs)."""
    if op.kind in ATTN_KINDS:
        bh, sq, skv, hd, group, _ = attention_geometry(op)
        ab = op.a_bits / 8
        kv = max(1, bh // group) * skv * hd * ab
        return ((bh * sq * hd * ab + kv, 0.0) if op.kind is OpKind.ATTN_SCORE else (kv, bh * sq * hd * ab))
    if op.is_matmul:
        return op.input_bytes + op.weight_bytes, op.elements * _out_bytes_per_elem(op)
    return op.input_bytes + op.weight_bytes, op.output_bytes


def kernel_time_s(op: Op, unit, hbm: float, l2: float = math.inf) -> float:
    """Seconds `op` takes on GPU `unit` with HBM bandwidth `hbm` and L2 bandwidth `l2` (bytes/s).
    An attention half returns half of its fused kernel.  (The fitting script calls this directly.)"""
    if op.kind in GEMM_KINDS:
        return gemm_time(op, unit, hbm, l2)[0]
    if op.kind in ATTN_KINDS:
        return attention_time(op, unit, hbm)[0] / 2
    if op.kind in STREAM_KINDS:
        return stream_time(op, unit, hbm)[0]
    raise ValueError(f"the GPU model has no formula for op kind {op.kind.value!r}; it covers "
                     f"{sorted(k.value for k in KINDS)}")


@cost_model("gpu", kinds=KINDS)
def cost(op: Op, unit, accelerator) -> OpCost:
    """Cost of `op` on a `GpuUnit` of `accelerator` (model: module docstring)."""
    hbm, l2 = bandwidths(accelerator)
    clock = accelerator.tech.clock_hz
    if op.kind in GEMM_KINDS:
        t, compute, _ = gemm_time(op, unit, hbm, l2)
    elif op.kind in ATTN_KINDS:
        t, compute = attention_time(op, unit, hbm)
        t, compute = t / 2, compute / 2
    else:
        t, compute = stream_time(op, unit, hbm)
    cycles = math.ceil(t * clock)
    compute_cycles = min(cycles, math.ceil((compute + (unit.efficiency.launch_s if t else 0.0)) * clock))
    read, write = moved_bytes(op)
    if op.is_matmul:
        counts = {"mac": float(op.macs)}
        peak = peak_flops(unit, compute_format(op))[1]
    else:
        counts = {"vector_flop": float(op.flops)}
        peak = unit.vector_tflops * 1e12
    counts.update(sram_read_bytes=float(read), sram_write_bytes=float(write), dram_read_bytes=float(read),
                  dram_write_bytes=float(write))
    hbm_tier = accelerator.off_chip[0].name
    return OpCost(unit=unit.name, cycles=cycles, compute_cycles=compute_cycles, stall_cycles=cycles - compute_cycles,
                  tier_bytes={hbm_tier: float(read + write)} if read + write else {}, counts=counts,
                  utilization=min(1.0, op.flops / (peak * t)) if t else 0.0)


# ---- power and area (the gpu result pass) ----------------------------------------------------------------


def pj_per_flop(unit, fmt: str | None) -> float:
    """Dynamic pJ per FLOP of a pipe: ``(tdp_w - idle_w) / peak`` -- the board's dynamic power budget
    spent by that pipe at its peak rate (`fmt` None: the FMA pipes at ``vector_tflops``)."""
    peak = unit.vector_tflops * 1e12 if fmt is None else peak_flops(unit, fmt)[1]
    return (unit.tdp_w - (unit.idle_w or 0.0)) / peak * 1e12


def op_power_parts(op: Op, cost: OpCost, unit, accelerator, duration_s: float) -> dict[str, float]:
    """Dynamic energy (J) of one kernel by component, capped at the board's power limit (module
    docstring, "Power and area")."""
    from sim.ppa import dram_pj_per_byte, sram_pj_per_byte

    c = cost.counts
    flops = 2.0 * c.get("mac", 0.0)
    pj = {"mac": flops * pj_per_flop(unit, compute_format(op)) if flops else 0.0,
          "vector": c.get("vector_flop", 0.0) * pj_per_flop(unit, None), "sram": 0.0, "dram": 0.0}
    l2 = c.get("sram_read_bytes", 0.0) + c.get("sram_write_bytes", 0.0)
    if l2 and accelerator.on_chip:
        pj["sram"] = l2 * sram_pj_per_byte(unit, accelerator)[0]
    pj["dram"] = sum(cost.tier_bytes.get(t.name, 0.0) * dram_pj_per_byte(t) for t in accelerator.off_chip)
    joules = {k: v * 1e-12 for k, v in pj.items()}
    budget = (unit.tdp_w - (unit.idle_w or 0.0)) * duration_s
    total = sum(joules.values())
    if total > budget:  # the board holds its power limit: dynamic energy scales down to the budget
        joules = {k: v * budget / total for k, v in joules.items()}
    return joules


GPU_ENERGY = ("static", "mac", "vector", "sram", "dram")
NOTE = "GPU energy from sim.gpu's power model: idle power over the run + per-FLOP/per-byte dynamic, capped at TDP"


@result_pass("gpu")
def price(result, graph, accelerator):
    """`result` with the energy of kernels on GPU units that give ``tdp_w`` from the GPU power model, and
    the area of GPUs that give ``die_mm2`` as their die (module docstring, "Power and area").  Works on the
    plain per-op columns (`Result.column`), so a caller that reads only the summary never makes the table."""
    from sim.engine import accelerator_key, model_cost, signature
    from sim.ppa import area_total, reprice

    gpus = [u for u in accelerator.units if u.type == "gpu"]
    s = dict(result.summary)
    notes = [n for n in s.get("notes", []) if not any(n.startswith(f"area of unit {u.name!r}") for u in gpus
                                                      if u.die_mm2 is not None)]
    for u in gpus:
        line = f"GPU unit {u.name!r} has no tdp_w: its energy is sim.ppa's tech-table figure"
        if u.tdp_w is None and line not in notes:
            notes.append(line)
    dies = sum(u.die_mm2 * u.count for u in gpus if u.die_mm2 is not None)
    if dies:  # the die holds the caches: on-chip tiers add no area of their own; the total is the sum of parts
        rest = s.get("area_pe_mm2", 0.0) + s.get("area_vector_mm2", 0.0)
        s.update(area_sram_mm2=0.0, area_overhead_mm2=rest * accelerator.area_overhead_fraction, area_die_mm2=dies)
        s["area_mm2"] = area_total(s)
    s["notes"] = notes
    result = result.with_summary(s)
    priced = {u.name for u in gpus if u.tdp_w is not None}
    units = result.column("unit")
    rows = [u in priced for u in units]
    if not any(rows):
        return result
    key = accelerator_key(accelerator)
    latency = float(s["latency_s"])
    durs = result.column("latency_s")
    busy = _busy(units, durs)
    parts: dict[str, list[float]] = {k: [] for k in GPU_ENERGY}
    for name, unit_name, dur in zip(result.column("name"), units, durs):
        if unit_name not in priced:
            for k in GPU_ENERGY:
                parts[k].append(0.0)
            continue
        unit = accelerator.unit(unit_name)
        op = graph[name]
        joules = op_power_parts(op, model_cost(signature(op), unit_name, key), unit, accelerator, dur)
        share = dur / busy[unit_name] * latency if busy[unit_name] else 0.0
        parts["static"].append((unit.idle_w or 0.0) * unit.count * share)
        for k, v in joules.items():
            parts[k].append(v)
    static = sum((accelerator.unit(u).idle_w or 0.0) * accelerator.unit(u).count for u in priced)
    return reprice(result, rows, parts, static_w=static, note=NOTE, family="gpu")


def _busy(units: list[str], durations: list[float]) -> dict[str, float]:
    """Summed op time per unit (NaN skipped), correctly rounded."""
    groups: dict[str, list[float]] = {}
    for u, d in zip(units, durations):
        if d == d:
            groups.setdefault(u, []).append(d)
    return {u: math.fsum(v) for u, v in groups.items()}
