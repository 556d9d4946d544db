"""Systolic-array cost model: SCALE-Sim v3's compute cycles in closed form, tiling traffic, stalls.

What it models
--------------
A ``rows x cols`` PE array runs the GEMM view of an op (``op.mnk``: ``M`` output rows or conv output
pixels, ``N`` output columns or filters, ``K`` reduction or conv window R*S*C) in *folds*.  Each
dataflow maps two GEMM dimensions onto the array (SCALE-Sim's ``Sr`` rows and ``Sc`` columns) and
streams the third through time (``T``).  ``FOLD_AXES[dataflow] = (Sr, Sc, T)``:

    ===========  =====  =====  =====  =========================================
    dataflow     Sr     Sc     T      stationary in the PEs
    ===========  =====  =====  =====  =========================================
    os           M      N      K      the output C (M x N)
    ws           K      N      M      the weights B (K x N), preloaded
    is           K      M      N      the inputs A (M x K), preloaded
    ===========  =====  =====  =====  =========================================

In SCALE-Sim's conv terms M = ofmap pixels, N = filters, K = window; ``-i gemm`` maps a GEMM
``M, N, K`` to an ``M x K`` ifmap with ``N`` filters of ``1 x K``, i.e. the same M, N, K.

One formula for all three (fitted to, and exact on, all 58 rows of SCALE-Sim 3.0.0's public runs in
``tests/validation/data/scalesim_public.csv``):

    folds  = batch * ceil(Sr / rows) * ceil(Sc / cols)
    fold   = T + (rows - 1) + (cols - 1) + PRELOAD[dataflow] * rows
    cycles = folds * fold - 1

``T`` cycles stream the operands, ``rows - 1 + cols - 1`` are the skew fill and drain of the diagonal
wavefront (SCALE-Sim lets each fold drain before the next one starts), and weight/input-stationary
dataflows first shift the stationary tile in, ``rows`` cycles (``PRELOAD``).  SCALE-Sim reports the
index of the last cycle, hence the single ``- 1`` (floored at ``folds * T``, which only binds on a
``1 x 1`` output-stationary array, where the formula would claim ``T - 1`` cycles for ``T`` MACs).
Batched independent products run one after another (more folds).  Convolutions use SCALE-Sim's
output size ``ceil((H + 2 pad - R + stride) / stride)`` when ``scalesim_ofmap=True`` (the default of
`compute_cycles`, needed to match it); that is one more
output row/column than the true ``floor((H + 2 pad - R) / stride) + 1`` when the stride does not divide
``H + 2 pad - R``.  `cost` uses the true size (``op.mnk``).  A PE type with ``macs_per_cycle = p``
streams ``ceil(T / p)`` instead of ``T``, and ``pipeline_depth = d`` adds ``d - 1`` cycles per fold.

PE types and dequantisation (`arch.pe`)
---------------------------------------
An op has integer-quantised weights (`weight_groups`) when its B operand is a stored int2/int4/int8
weight in a format other than its activation's; it then has ``G = ceil(K / group_size)`` groups per
output (1 without a ``group_size``: per-channel scales).

- ``in_loop`` PEs dequantise every weight use on their own datapath: they run at
  ``macs_per_cycle / (1 + dequant_passes)`` on such ops, and ``counts["dequant"]`` = MACs.
- ``per_group`` (MixPE) PEs accumulate a group's integer products and dequantise once per group:
  ``counts["dequant"] = batch * M * N * G``.  One dequantiser per array column takes one value per
  cycle, so in an output-stationary fold the ``rows x cols`` partial sums of each group drain in
  ``rows`` cycles, overlapped with the next group's MACs: a fold streams ``max(ceil(K / p), G * rows)``
  cycles (it only binds when ``rows > group_size / p``).  For ws/is, where K runs down the array,
  the dequantisers are assumed to keep up.
- Operand traffic is at the op's precisions: ``w_bits`` per weight plus an fp16 scale and a zero point
  per group (`_group_bits`), ``a_bits`` per activation.  The PE type does not change what is stored.
- ``utilization`` is useful MACs over the PE's native peak (an in-loop PE on quantised weights tops
  out at ``1 / (1 + dequant_passes)``).
- Precision-scalable PEs (``slice_bits``/``fused_bits``: BitFusion, ANT, packed MixPE; `arch.pe`) run
  ``p = macs_per_cycle_at(w_bits, a_bits)`` MACs per cycle at the op's operand widths.  The extra MACs are
  taken along time, as for any ``macs_per_cycle``: a fold streams ``ceil(T / p)`` cycles (the PE holds ``p``
  products of one output in an output-stationary fold, as a Fusion Unit sums its bricks' products; the
  array's shape, skew and tiling do not change).  ``counts["mac"]`` is then the PE's full-width operations,
  ``MACs / (split(w) * split(a))``, since a fused PE spends one full-width operation's energy per cycle
  whatever its split; ``utilization`` is over ``p``.  Float operands (attention in fp16, say) count at their
  storage width, as fixed point: fp16 runs as 16 x 16 bits, a quarter of BitFusion's 8 x 8 rate, as the MixPE
  authors' simulator runs its FP16 designs (16-bit fixed point, ``FQDtype.FXP16`` in ``benchmarks.py`` @ 769f0c85).

Traffic (`traffic`)
-------------------
Of the three GEMM tensors (A = M x K ifmap, B = K x N filter, C = M x N ofmap), the one indexed by
``(Sr, Sc)`` (call it O) is touched once; the one indexed by ``(Sc, T)`` (X) once per row fold (``Fr``
times: each of its ``Fc`` column tiles, ``min(cols, Sc) x T``, meets every row fold) and the one indexed by
``(Sr, T)`` (Y) once per column fold (``Fc`` times: each of its ``Fr`` row tiles, ``min(rows, Sr) x T``,
meets every column fold).  Those multiplicities give SRAM-to-array reads (for C: partial sums, written
and read back at ``acc_bits``, the final value written at the activation width); they do not depend on
the loop order or the buffers.

DRAM bytes do: they are those of the loop order a compiler would pick for the buffer sizes.  With
usable capacities ``cap`` (double buffering halves each buffer), let ``bX = min(Fc, floor(cap_X /
tile_X))`` column tiles of X fit at once and ``bY = min(Fr, floor(cap_Y / tile_Y))`` row tiles of Y.
Two orders are candidates:

- X-resident (column folds outer, SCALE-Sim's order): keep a block of ``bX`` column tiles of X and
  stream every row tile of Y past it.  X is fetched once (``Fr`` times if not even one tile fits,
  ``bX = 0``); Y once per block, ``ceil(Fc / bX)`` times -- once if Y fits whole, ``Fc`` times if one of
  its tiles does not fit or ``bX = 0``.
- Y-resident (row folds outer): the same with X and Y swapped: Y once (``Fc`` times if ``bY = 0``), X
  ``ceil(Fr / bY)`` times (once if X fits whole, ``Fr`` times if a tile of X does not fit or ``bY = 0``).

The order with fewer DRAM bytes wins (ties: X-resident).  Fetching a tensor ``p`` times reads ``p x``
its bytes; for C, ``p`` passes spill the partial sums ``p - 1`` times (written and read back at
``acc_bits``) before the final write.  O is fetched once.  Edges: everything fits -> each operand read
once; one operand too big for its buffer while the other fits whole -> still once each (the other is
resident, the big one streams once); the resident operand only fits ``b`` tiles at a time -> the other
is re-read ``ceil(F / b)`` times, ``F`` the folds of the resident one (``F`` times at ``b = 1``).
SRAM writes include DRAM fills and SRAM reads include drains of outputs to DRAM.

Stalls: DRAM bytes are spread evenly over the folds.  A fold needs ``bytes / (bytes per cycle)`` cycles
of transfer; double buffered, the next fold's transfer hides under this fold's compute, so each fold
stalls ``max(0, transfer - compute)``; single buffered, transfer and compute serialise (stall =
transfer).  The first fold's load is taken as overlapped with the previous op.  All cores share the
first off-chip tier's bandwidth equally.

Fold pipelining (``preload_overlap``, ``fill_overlap``)
------------------------------------------------------
SCALE-Sim (the default, ``preload_overlap=False``) shifts the stationary tile in before every ws/is fold.
With ``preload_overlap=True`` the stationary tile is double-buffered in the PEs: fold ``i + 1``'s
``rows``-cycle preload runs during fold ``i``, so only the first fold pays it.  With ``fill_overlap=True``
a fold starts streaming as soon as the previous one has streamed its operands in (its wavefront still
draining), so only the last fold's fill and drain show.  With ``skew = rows + cols - 2 + d - 1``,
``busy = stream`` (fill overlapped) or ``stream + skew`` (not), a fold takes ``max(busy, preload)`` when
preloads overlap (``busy + preload`` otherwise) and ``cycles = folds * fold + skew [if fill_overlap] +
preload [if preload_overlap] - 1``; both false is SCALE-Sim's formula above.  Both true is how the
NeuPIMs authors' simulator times its weight-stationary NPU (casys-kaist/NeuPIMs ``src/NeuPIMSystolicWS.cc``,
``issue_ex_inst``: a tile issued behind a running one starts when that one's rows have streamed in, a
GEMM_PRELOAD one ``core_height`` cycles after it, "Preload can be hided"; each tile then takes
``core_height + core_width - 2 + rows`` to finish; only a tile issued to an idle array waits for its preload).

Multiple cores (``unit.count``) split the op along batch, M or N (never K, which would need a
cross-core reduction), whichever gives the fewest cycles; a folded axis is split in whole array tiles.
Cycles are those of the busiest core (ties go to the cut with less DRAM traffic).  The operand all cores
share (B when M is split, A when N is split; nothing for a batch split) is broadcast: the cores run the
same loop order in step, so DRAM delivers it once for all of them (the most any core fetches), while each
core's SRAM is filled with its own copy; other traffic sums over cores.  For stalls each core is charged
its own bytes plus an equal share of the broadcast ones.

Left out: SCALE-Sim's exact per-cycle SRAM/DRAM trace, bank conflicts, DRAM timing (see `sim.dram`),
sparsity, loop orders that also cut the streamed dimension ``T`` into chunks, and the prologue/epilogue
of the op's first load and last store.
"""

from __future__ import annotations

import dataclasses
import math

from arch.pe import PE_TYPES
from sim.cost import OpCost, cost_model
from workloads.op import GROUP_SCALE_BITS, Op, OpKind

#: dataflow -> the GEMM dimensions on array rows (Sr), array columns (Sc) and time (T).
FOLD_AXES: dict[str, tuple[str, str, str]] = {"os": ("M", "N", "K"), "ws": ("K", "N", "M"), "is": ("K", "M", "N")}
#: dataflow -> array-row multiples spent shifting the stationary tile in before each fold.
PRELOAD: dict[str, int] = {"os": 0, "ws": 1, "is": 1}
#: GEMM tensor -> its two dimensions (A = ifmap, B = filter, C = ofmap in SCALE-Sim's words).
TENSOR_AXES: dict[str, frozenset[str]] = {"ifmap": frozenset("MK"), "filter": frozenset("KN"), "ofmap": frozenset("MN")}
_INF = float("inf")


def _role(dataflow: str, tensor: str) -> str:
    """How often a tensor is used over the folds: "once" on (Sr, Sc), "per_row_fold" on (Sc, T),
    "per_col_fold" on (Sr, T)."""
    sr, sc, _ = FOLD_AXES[dataflow]
    axes = TENSOR_AXES[tensor]
    return "once" if axes == {sr, sc} else "per_row_fold" if sc in axes else "per_col_fold"


#: dataflow -> positions of (Sr, Sc, T) in (M, N, K) (derived from FOLD_AXES once, at import).
_INDEX: dict[str, tuple[int, int, int]] = {df: tuple("MNK".index(a) for a in ax) for df, ax in FOLD_AXES.items()}
#: dataflow -> tensor -> its reuse role (derived from FOLD_AXES once, at import).
ROLES: dict[str, dict[str, str]] = {df: {t: _role(df, t) for t in TENSOR_AXES} for df in FOLD_AXES}


def _axes(dataflow: str) -> tuple[str, str, str]:
    try:
        return FOLD_AXES[dataflow]
    except (KeyError, TypeError):
        raise ValueError(f"unknown dataflow {dataflow!r}; expected one of {sorted(FOLD_AXES)}") from None


def _ceil(a: int, b: int) -> int:
    return -(-a // b)


def scalesim_mnk(op: Op) -> tuple[int, int, int]:
    """(M, N, K) as SCALE-Sim computes them: convolution outputs rounded up (see the module docstring)."""
    if op.kind is not OpKind.CONV2D:
        return op.mnk
    d = op.dims
    stride, pad = d.get("stride", 1), d.get("pad", 0)
    ho = _ceil(d["H"] + 2 * pad - d["R"] + stride, stride)
    wo = _ceil(d["W"] + 2 * pad - d["S"] + stride, stride)
    return ho * wo, d["K"], d["R"] * d["S"] * d["C"]


def fold_shape(m: int, n: int, k: int, rows: int, cols: int, dataflow: str) -> tuple[int, int, int, int, int]:
    """(Sr, Sc, T, row folds Fr, column folds Fc) of one ``M x N x K`` product."""
    try:
        i, j, l = _INDEX[dataflow]
    except (KeyError, TypeError):
        _axes(dataflow)  # raises the ValueError that names the options
        raise
    dims = (m, n, k)
    sr, sc = dims[i], dims[j]
    return sr, sc, dims[l], -(-sr // rows), -(-sc // cols)


def gemm_cycles(m: int, n: int, k: int, rows: int, cols: int, dataflow: str, *, batch: int = 1,
                macs_per_cycle: float = 1.0, pipeline_depth: int = 1, min_stream: int = 0,
                preload_overlap: bool = False, fill_overlap: bool = False) -> int:
    """Compute cycles of ``batch`` ``M x N x K`` products: the one formula of the module docstring.

    ``min_stream`` floors a fold's streaming cycles (MixPE's per-group dequantisation drain);
    ``preload_overlap`` hides each ws/is fold's preload under the previous fold, ``fill_overlap`` each
    fold's fill and drain (module docstring, "Fold pipelining")."""
    sr, sc, t, fr, fc = fold_shape(m, n, k, rows, cols, dataflow)
    if batch == 0 or sr == 0 or sc == 0 or t == 0:
        return 0
    stream = t if macs_per_cycle == 1 else math.ceil(t / macs_per_cycle)
    stream = max(stream, min_stream)
    skew = rows + cols - 2 + pipeline_depth - 1
    preload = PRELOAD[dataflow] * rows
    folds = batch * fr * fc
    busy = stream if fill_overlap else stream + skew
    per_fold = max(busy, preload) if preload_overlap else busy + preload
    once = (skew if fill_overlap else 0) + (preload if preload_overlap else 0)
    return max(folds * per_fold + once - 1, folds * stream)  # the max only binds on a 1 x 1 os array


def compute_cycles(op: Op, rows: int, cols: int, dataflow: str, *, scalesim_ofmap: bool = True) -> int:
    """SCALE-Sim v3's "Compute cycles" of `op` on a ``rows x cols`` array (int8 PE, no stalls)."""
    m, n, k = scalesim_mnk(op) if scalesim_ofmap else op.mnk
    return gemm_cycles(m, n, k, rows, cols, dataflow, batch=op.batch)


OPERANDS = ("ifmap", "filter", "ofmap")


@dataclasses.dataclass(frozen=True)
class Traffic:
    """Bytes moved per operand ("ifmap", "filter", "ofmap") for a whole op, and the fold count."""

    folds: int
    sram_read_bytes: dict[str, float]
    sram_write_bytes: dict[str, float]
    dram_read_bytes: dict[str, float]
    dram_write_bytes: dict[str, float]

    @property
    def sram_read(self) -> float:
        return sum(self.sram_read_bytes.values())

    @property
    def sram_write(self) -> float:
        return sum(self.sram_write_bytes.values())

    @property
    def dram_read(self) -> float:
        return sum(self.dram_read_bytes.values())

    @property
    def dram_write(self) -> float:
        return sum(self.dram_write_bytes.values())

    @property
    def dram(self) -> float:
        return self.dram_read + self.dram_write


def _passes(f_other: int, whole_fits: bool, tile_fits: bool, block: int) -> int:
    """DRAM passes over the streamed (non-resident) tensor: once if it fits whole, once per use
    (`f_other`: the resident tensor's folds) if one of its tiles does not fit or nothing is resident,
    else once per block of `block` resident tiles."""
    if whole_fits:
        return 1
    if not tile_fits or block == 0:
        return f_other
    return _ceil(f_other, block)


def _operand_bytes(m: int, n: int, k: int, rows: int, cols: int, dataflow: str, batch: int, a_bits: float,
                   w_bits: float, acc_bits: float, out_bits: float, capacity: tuple[float, float, float],
                   ) -> tuple[int, list[tuple[float, float, float, float]]]:
    """(folds, [(sram read, sram write, dram read, dram write) per operand]) -- the arithmetic of `traffic`;
    `capacity` is the usable bytes of the ifmap/filter/ofmap buffers.  DRAM passes follow the cheaper of
    the two loop orders of the module docstring."""
    sr, sc, t, fr, fc = fold_shape(m, n, k, rows, cols, dataflow)
    out_b = out_bits / 8
    roles = ROLES[dataflow]
    info = {}  # name -> (elements, bytes per element, capacity)
    for name, count, elem, cap in (("ifmap", m * k, a_bits / 8, capacity[0]),
                                   ("filter", k * n, w_bits / 8, capacity[1]),
                                   ("ofmap", m * n, acc_bits / 8, capacity[2])):
        info[name] = (count, elem, cap)
    role_of = {r: name for name, r in roles.items()}
    x_name, y_name = role_of["per_row_fold"], role_of["per_col_fold"]
    x_count, x_elem, x_cap = info[x_name]
    y_count, y_elem, y_cap = info[y_name]
    x_tile, y_tile = min(cols, sc) * t * x_elem, min(rows, sr) * t * y_elem
    x_whole, y_whole = x_count * x_elem <= x_cap, y_count * y_elem <= y_cap
    x_tile_fits, y_tile_fits = x_tile <= x_cap, y_tile <= y_cap
    bx = fc if x_whole else (min(fc, int(x_cap // x_tile)) if x_tile else fc)
    by = fr if y_whole else (min(fr, int(y_cap // y_tile)) if y_tile else fr)
    x_sizes = x_count * batch * x_elem
    y_sizes = y_count * batch * y_elem

    def dram(px: int, py: int) -> float:  # passes -> bytes (each C pass beyond the first: out and back)
        return sum(2 * (p - 1) * b if nm == "ofmap" else p * b
                   for nm, p, b in ((x_name, px, x_sizes), (y_name, py, y_sizes)))

    x_resident = (1 if bx else fr, _passes(fc, y_whole, y_tile_fits, bx))
    y_resident = (_passes(fr, x_whole, x_tile_fits, by), 1 if by else fc)
    px, py = min((x_resident, y_resident), key=lambda pp: dram(*pp))
    passes = dict.fromkeys(info, 1)
    passes[x_name], passes[y_name] = px, py
    uses = {x_name: fr, y_name: fc, role_of["once"]: 1}

    moved = []
    for name in OPERANDS:
        count, elem, _ = info[name]
        count *= batch
        if name == "ofmap":
            partial = (uses[name] - 1) * count * elem
            spill = (passes[name] - 1) * count * elem
            final = count * out_b
            moved.append((partial + final, partial + final + spill, spill, spill + final))
        else:
            fetched = passes[name] * count * elem
            moved.append((uses[name] * count * elem, fetched, fetched, 0.0))
    return (batch * fr * fc if min(sr, sc, t) > 0 else 0), moved


def traffic(m: int, n: int, k: int, rows: int, cols: int, dataflow: str, *, batch: int = 1,
            a_bits: float = 8, w_bits: float = 8, acc_bits: float = 32, out_bits: float | None = None,
            ifmap_sram_bytes: float = _INF, filter_sram_bytes: float = _INF, ofmap_sram_bytes: float = _INF,
            double_buffered: bool = True) -> Traffic:
    """SRAM and DRAM bytes per operand of ``batch`` ``M x N x K`` products (model: module docstring).

    ``w_bits`` may be fractional to carry per-group scales; ``out_bits`` defaults to ``a_bits``."""
    share = 0.5 if double_buffered else 1.0
    capacity = (ifmap_sram_bytes * share, filter_sram_bytes * share, ofmap_sram_bytes * share)
    folds, moved = _operand_bytes(m, n, k, rows, cols, dataflow, batch, a_bits, w_bits, acc_bits,
                                  a_bits if out_bits is None else out_bits, capacity)
    return Traffic(folds, *({op: row[i] for op, row in zip(OPERANDS, moved)} for i in range(4)))


def stall_cycles(dram_bytes: float, folds: int, fold_cycles: float, bytes_per_cycle: float,
                 double_buffered: bool = True) -> int:
    """Cycles the array waits for DRAM: per fold, transfer beyond what compute hides (docstring)."""
    if folds == 0 or dram_bytes == 0:
        return 0
    transfer = dram_bytes / folds / bytes_per_cycle
    per_fold = max(0.0, transfer - fold_cycles) if double_buffered else transfer
    return math.ceil(folds * per_fold - 1e-9)


def _split(size: int, parts: int, tile: int) -> list[tuple[int, int]]:
    """[(share, how many cores get it)] when `size` is cut into `parts` pieces of whole `tile`s."""
    share = min(size, _ceil(_ceil(size, tile), parts) * tile)
    if share == 0:
        return [(0, parts)]
    full, rest = divmod(size, share)
    return [(share, full)] + ([(rest, 1)] if rest else [])


def _core_shares(m: int, n: int, batch: int, rows: int, cols: int, dataflow: str, count: int):
    """Candidate ways of cutting the op over `count` cores: lists of ((m, n, batch), cores)."""
    sr_axis, sc_axis, _ = _axes(dataflow)
    tile = {sr_axis: rows, sc_axis: cols}
    options = [[((m, n, b), c) for b, c in _split(batch, count, 1)]]
    options.append([((mm, n, batch), c) for mm, c in _split(m, count, tile.get("M", 1))])
    options.append([((m, nn, batch), c) for nn, c in _split(n, count, tile.get("N", 1))])
    return options


#: operand formats a precision-scalable (fused) PE takes natively (`dse.sim_cmd.runs_on`): integers, and ternary
#: codes as 2-bit integers; the cost model runs floats too, as fixed point of their storage width.
FUSABLE_FORMATS = frozenset({"int2", "int4", "int8", "int16", "int32", "ternary"})
#: weight formats that are dequantised (scale and zero point) before or after the MACs.
QUANTISED_WEIGHT_FORMATS = frozenset({"int2", "int4", "int8"})


def weight_groups(op: Op) -> int | None:
    """Quantisation groups along K per output of an op with integer-quantised weights: ``ceil(K /
    group_size)``, or 1 for per-channel quantisation (an integer weight narrower than its activation,
    no ``group_size``).  None when the op has no such weights (attention, float or ternary weights,
    int8 x int8)."""
    if not op.weights or op.kind in (OpKind.ATTN_SCORE, OpKind.ATTN_CONTEXT):
        return None
    if op.w_format not in QUANTISED_WEIGHT_FORMATS or op.w_format == op.a_format:
        return None
    k = op.mnk[2]
    return _ceil(k, op.group_size) if op.group_size else 1


def _group_bits(op: Op) -> float:
    """Weight bits per element including per-group scale and zero point."""
    w_bits = op.w_bits
    if op.group_size and op.weights:
        return w_bits + (GROUP_SCALE_BITS + w_bits) / op.group_size
    return float(w_bits)


@cost_model("systolic", kinds={OpKind.GEMM, OpKind.CONV2D, OpKind.ATTN_SCORE, OpKind.ATTN_CONTEXT, OpKind.ROUTER})
def cost(op: Op, unit, accelerator) -> OpCost:
    """Cost of `op` on a `SystolicArray` unit of `accelerator` (model: module docstring)."""
    pe = PE_TYPES[unit.pe]
    rows, cols, df, count, double = unit.rows, unit.cols, unit.dataflow, unit.count, unit.double_buffered
    m, n, k = op.mnk
    mpc, depth = pe.macs_per_cycle, pe.pipeline_depth
    pe_ops_per_mac = 1.0  # full-width PE operations per MAC (energy count): < 1 on a split fused PE
    if pe.scalable:  # at the operands' storage widths; floats as fixed point of that width (docstring)
        mpc = pe.macs_per_cycle_at(op.w_bits, op.a_bits)
        pe_ops_per_mac = pe.macs_per_cycle / mpc
    peak = mpc
    groups = weight_groups(op)
    min_stream, dequants = 0, 0.0
    if groups is not None and pe.dequant == "in_loop":  # every weight use is dequantised first
        mpc /= 1.0 + pe.dequant_passes
        dequants = float(op.batch * m * n * k)
    elif groups is not None and pe.dequant == "per_group":  # one per group and output, cols per cycle
        dequants = float(op.batch * m * n * groups)
        if df == "os":
            min_stream = groups * rows
    a_bits, w_bits, acc_bits = op.a_bits, _group_bits(op), op.acc_bits
    share = 0.5 if double else 1.0
    capacity = (unit.ifmap_sram_bytes * share, unit.filter_sram_bytes * share, unit.ofmap_sram_bytes * share)
    off = on = None
    for tier in accelerator.memory:  # the first on-chip and the first off-chip tier
        if tier.on_chip:
            on = on or tier
        else:
            off = off or tier
    clock = accelerator.tech.clock_hz
    bandwidth = off.bytes_per_s(clock) / clock if off else _INF  # bytes per cycle, all cores together

    overlap, fill = unit.preload_overlap, unit.fill_overlap

    def run(option, shared=None):
        """((cycles, compute, stall) of the busiest core, summed [sram rd, sram wr, dram rd, dram wr]);
        `shared` names the operand broadcast to all cores (fetched from DRAM once, not per core)."""
        cores = sum(c for (mm, nn, b), c in option if mm and nn and b) or 1
        per_core = []
        for (mm, nn, b), c in option:
            compute = gemm_cycles(mm, nn, k, rows, cols, df, batch=b, macs_per_cycle=mpc, pipeline_depth=depth,
                                  min_stream=min_stream, preload_overlap=overlap, fill_overlap=fill)
            folds, moved = _operand_bytes(mm, nn, k, rows, cols, df, b, a_bits, w_bits, acc_bits, a_bits, capacity)
            per_core.append((compute, folds, dict(zip(OPERANDS, moved)), c))
        broadcast = max((m_[shared][2] for *_, m_, _c in per_core), default=0.0) if shared else 0.0
        worst, total = (0, 0, 0), [0.0, 0.0, 0.0, 0.0]
        for compute, folds, moved, c in per_core:
            own = {name: row for name, row in moved.items() if name != shared}
            sums = [sum(column) for column in zip(*own.values())]
            if shared:
                sums[0] += moved[shared][0]
                sums[1] += moved[shared][1]
            stall = 0
            if off and folds:
                dram_bytes = sums[2] + sums[3] + broadcast / cores
                stall = stall_cycles(dram_bytes, folds, (compute + 1) / folds, bandwidth / cores, double)
            worst = max(worst, (compute + stall, compute, stall))
            total = [x + c * y for x, y in zip(total, sums)]
        total[2] += broadcast
        return worst, total

    if count == 1:
        (cycles, compute, stall), moved = run([((m, n, op.batch), 1)])
    else:
        # batch split shares nothing; an M split shares the filter (K x N), an N split the ifmap (M x K)
        options = zip(_core_shares(m, n, op.batch, rows, cols, df, count), (None, "filter", "ifmap"))
        (cycles, compute, stall), moved = min((run(o, sh) for o, sh in options),
                                              key=lambda r: (r[0][0], r[1][2] + r[1][3]))
    sram_rd, sram_wr, dram_rd, dram_wr = moved if off else (*moved[:2], 0.0, 0.0)
    macs = op.batch * m * n * k
    tier_bytes = {on.name if on else f"{unit.name}_sram": sram_rd + sram_wr}
    if off:
        tier_bytes[off.name] = dram_rd + dram_wr
    counts = {"mac": float(macs) * pe_ops_per_mac, "sram_read_bytes": sram_rd, "sram_write_bytes": sram_wr,
              "dram_read_bytes": dram_rd, "dram_write_bytes": dram_wr}
    if dequants:
        counts["dequant"] = dequants
    return OpCost(
        unit=unit.name, cycles=int(cycles), compute_cycles=int(compute), stall_cycles=int(stall),
        tier_bytes=tier_bytes, counts=counts,
        utilization=macs / (rows * cols * count * peak * cycles) if cycles else 0.0,
    )
