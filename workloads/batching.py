"""Batch transforms of a `Graph`: split a batch into independent sub-batches, shard a decoder layer over
tensor-parallel devices.  Pure functions: a new graph out, the input untouched; nothing about hardware.

Sub-batches (`split_sub_batches`)
---------------------------------
A graph built by `workloads.config.from_config` for ``batch = B`` sequences carries B in one dimension of
every op (the `workloads.config` conventions): attention ops in ``batch`` (B x heads), GEMMs and routers
in ``M`` (B x new tokens), softmax/norm/element-wise/pool ops in ``rows``, embeddings in ``tokens``.
`split_sub_batches(graph, s)` makes ``s`` copies of every op, copy ``i`` scaled to ``b_i`` sequences
(``B`` split as evenly as possible, larger parts first), named ``<op>.sb<i>`` and tagged ``sub_batch=i``;
copy ``i`` depends only on copy ``i`` of the op's inputs, so the sub-batches form independent chains
(NeuPIMs' sub-batch interleaving: the engine may run one sub-batch's GEMMs beside the other's
attention).  Each copy still reads its layer's whole weight: sub-batches share parameters
(``weight_id``) but not the transfer.  An op whose batch-carrying dimension is not a multiple of B
(e.g. an MoE expert's routed tokens) is an error naming it.

Continuous-batching steps (`split_requests`)
--------------------------------------------
A step of `workloads.serving.serving_step` (its meta has ``decode``, ``prefill``, ``prompt_len`` and no
``batch``) mixes ``D`` decode requests (one token each) and ``P`` prompts (``L`` tokens each), so no one
number divides every op.  `split_sub_batches` sends such a graph to `split_requests`, which splits the
*requests*:

- the plan (`request_plan`): decode requests as evenly as possible (`split_sizes`, larger parts first).
  All of them attend over the same ``context_len``, so equal counts are equal PIM attention time, which is
  what NeuPIMs balances between its sub-batches (its simulator, casys-kaist/NeuPIMs
  src/scheduler/Scheduler.cc ``group_sub_batches``, halves each channel's requests; the paper's MHA latency
  estimator is linear in the context length).  Then prompts, a greedy load balancer on NPU work: each prompt
  in turn goes to the sub-batch with the fewest tokens so far (ties: the lower index), since the linear
  layers' work is linear in tokens.  Sub-batch ``i`` gets ``d_i`` decode requests, ``p_i`` prompts, ``t_i =
  d_i + p_i L`` tokens; a plan that leaves a sub-batch without requests is an error.
- each op scaled by its share: ops tagged ``phase="decode"`` (decode attention, on the PIM) by ``d_i / D``,
  ``phase="prefill"`` (prompt attention, on the NPU) by ``p_i / P``; the others (``phase="mixed"``) by
  ``t_i / T`` when their size is a multiple of ``T`` (projections, MLP, norms, embedding), by requests
  ``(d_i + p_i) / (D + P)`` when a multiple of ``D + P`` (the LM head's last tokens), else (an MoE expert's
  routed tokens) apportioned by tokens with the largest-remainder rule, so sizes always sum to the op's.
- a copy whose share is zero (a sub-batch without prompts has no prompt attention) is left out; its
  successors read their other inputs (the decode context), or its inputs where they have no other.

Tensor parallelism (`tensor_parallel`)
--------------------------------------
Megatron-style sharding of a decoder over ``tp`` devices, one device's share: column-parallel projections
(``q/k/v/qkv_proj``, ``gate/up_proj``, ``fc1``) keep ``N / tp`` outputs, row-parallel ones (``o_proj``,
``down_proj``, ``fc2``) ``K / tp`` inputs; attention keeps ``heads / tp`` heads (``batch / tp``, softmax
rows / tp); the MLP activation and rotary embedding ``cols / tp``.  Norms, residual adds, embeddings and
the LM head are left whole (replicated).  The all-reduce after each row-parallel projection is left out.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from workloads.graph import Graph
from workloads.op import Dims, Op, OpKind, Tags

#: op kind -> the dimension (a dims key, or "batch" for Op.batch) that carries the request batch
BATCH_DIM: dict[OpKind, str] = {
    OpKind.ATTN_SCORE: "batch", OpKind.ATTN_CONTEXT: "batch",
    OpKind.GEMM: "M", OpKind.ROUTER: "M",
    OpKind.SOFTMAX: "rows", OpKind.NORM: "rows", OpKind.ELTWISE: "rows", OpKind.POOL: "rows",
    OpKind.EMBED: "tokens",
}


def split_sizes(batch: int, parts: int) -> list[int]:
    """`batch` split into `parts` near-equal positive sizes, larger first: 5, 2 -> [3, 2]."""
    if not isinstance(parts, int) or parts < 1:
        raise ValueError(f"sub_batches={parts!r}: expected a positive integer")
    if parts > batch:
        raise ValueError(f"sub_batches={parts}: expected at most the batch size {batch}")
    q, r = divmod(batch, parts)
    return [q + 1] * r + [q] * (parts - r)


def _size(op: Op) -> tuple[str | None, int | None]:
    """(the batch-carrying dimension of `op`, its size), or (None, None) for a kind that carries none."""
    dim = BATCH_DIM.get(op.kind)
    if dim is None:
        return None, None
    return dim, (op.batch if dim == "batch" else op.dims.get(dim))


def _derive(op: Op, changes: dict[str, Any]) -> Op:
    """`op` with `changes` (fields of `Op`) applied without running `Op.__post_init__` again: a copy differs
    from a validated op only in name, tags, weight_id and one batch dimension, given as a validated `Dims`
    (or a non-negative ``batch``) and `Tags`, so the checks could not fail.  ~5x cheaper than
    `dataclasses.replace` (issue 5: 4,641 of them took 0.17 s of a gpt3-175b decode run on neupims)."""
    new = object.__new__(Op)
    d = new.__dict__  # a frozen dataclass blocks __setattr__, not its instance dict
    d.update(op.__dict__)
    d.update(changes)
    return new


def _split(graph: Graph, sizes_of: Callable[[Op], list[int]], parts: int, meta: dict[str, Any],
           tags: Callable[[Op], Mapping[str, Any]] | None) -> Graph:
    """`graph` as `parts` sub-batch chains; copy ``i`` of op ``o`` has batch dimension ``sizes_of(o)[i]``
    (0 where ``o``'s own size is not: the copy is left out, as the module docstring says)."""
    out = Graph(graph.name, {**graph.meta, **meta})
    # name -> per sub-batch, the names that stand for its copy: the copy, or where it was left out, the copies
    # that stand for its inputs (used only by a copy all of whose inputs were left out, to keep its order)
    stand: dict[str, list[tuple[str, ...]]] = {}
    left_out: set[str] = set()
    dims_memo: dict[tuple, Dims] = {}  # identical layers share one Dims (built and checked once)
    parts_range = range(parts)
    for op in graph.ops():
        preds = graph.input_names(op)
        extra = tags(op) if tags else None
        dim, size = _size(op)
        sizes = sizes_of(op)
        base_tags = {**op.tags, **extra} if extra else dict(op.tags)
        weight_id = op.weight_id or (op.name if op.params else None)
        mine: list[tuple[str, ...]] = []
        for i in parts_range:
            if left_out:  # a successor of a left-out copy reads the other inputs only
                inputs = [f"{p}.sb{i}" for p in preds if f"{p}.sb{i}" not in left_out]
                if preds and not inputs:
                    inputs = list(dict.fromkeys(n for p in preds for n in stand[p][i]))
            else:
                inputs = [f"{p}.sb{i}" for p in preds]
            new = sizes[i]
            name = f"{op.name}.sb{i}"
            if new == 0 and size:
                mine.append(tuple(dict.fromkeys(n for p in preds for n in stand[p][i])))
                left_out.add(name)
                continue
            base_tags["sub_batch"] = i
            changes: dict[str, Any] = {"name": name, "tags": Tags(base_tags), "weight_id": weight_id}
            if dim == "batch":
                changes["batch"] = new
            else:
                key = (op.dims, dim, new)
                dims = dims_memo.get(key)
                if dims is None:
                    dims = dims_memo[key] = Dims({**op.dims, dim: new})
                changes["dims"] = dims
            out.add(_derive(op, changes), inputs)
            mine.append((name,))
        stand[op.name] = mine
    return out


def split_sub_batches(graph: Graph, sub_batches: int, batch: int | None = None,
                      tags: Callable[[Op], Mapping[str, Any]] | None = None) -> Graph:
    """`graph` as `sub_batches` independent sub-batch chains (module docstring).  `batch` defaults to
    ``graph.meta["batch"]``; a continuous-batching step (meta ``decode`` and ``prefill``, no ``batch``) is
    split by its requests (`split_requests`).  `tags(op)`, when given, adds tags to every copy of `op`
    (e.g. a unit pin)."""
    if batch is None and "batch" not in graph.meta and _is_step(graph.meta):
        return split_requests(graph, sub_batches, tags=tags)
    batch = graph.meta.get("batch") if batch is None else batch
    if not isinstance(batch, int) or batch < 1:
        raise ValueError(f"graph {graph.name!r}: batch={batch!r}; expected a positive integer (graph.meta['batch'] "
                         f"or the batch argument)")
    sizes = split_sizes(batch, sub_batches)
    if sub_batches == 1:
        out = Graph(graph.name, {**graph.meta, "sub_batches": sub_batches, "sub_batch_sizes": sizes})
        for op in graph.ops():
            extra = tags(op) if tags else {}
            out.add(op.replace(tags={**op.tags, **extra}) if extra else op, graph.input_names(op))
        return out

    def sizes_of(op: Op) -> list[int]:
        dim, size = _size(op)
        if size is None or size % batch:
            raise ValueError(f"op {op.name!r} ({op.kind.value}): cannot split batch {batch} into sub-batches; its "
                             f"batch dimension {dim or '(none for this kind)'} = {size} is not a multiple of {batch}")
        return [size // batch * part for part in sizes]

    return _split(graph, sizes_of, sub_batches, {"sub_batches": sub_batches, "sub_batch_sizes": sizes}, tags)


_STEP_KEYS = ("decode", "prefill", "prompt_len")


def _is_step(meta: Mapping[str, Any]) -> bool:
    return all(k in meta for k in _STEP_KEYS)


def request_plan(decode: int, prefill: int, prompt_len: int, parts: int) -> list[tuple[int, int]]:
    """(decode requests, prompts) of each of `parts` sub-batches of a continuous-batching step: decode
    requests as evenly as possible, then each prompt to the sub-batch with the fewest tokens so far (module
    docstring).  ``request_plan(256, 3, 512, 2) == [(128, 2), (128, 1)]``."""
    if not isinstance(parts, int) or parts < 1:
        raise ValueError(f"sub_batches={parts!r}: expected a positive integer")
    for key, n in (("decode", decode), ("prefill", prefill), ("prompt_len", prompt_len)):
        if not isinstance(n, int) or isinstance(n, bool) or n < 0:
            raise ValueError(f"{key}={n!r}: expected a non-negative integer")
    if parts > decode + prefill:
        raise ValueError(f"sub_batches={parts}: expected at most the step's requests {decode + prefill} "
                         f"(decode {decode} + prefill {prefill})")
    q, r = divmod(decode, parts)
    dec = [q + 1] * r + [q] * (parts - r)
    tokens, pre = list(dec), [0] * parts
    for _ in range(prefill):
        i = min(range(parts), key=lambda j: (tokens[j], j))
        pre[i] += 1
        tokens[i] += prompt_len
    empty = [i for i in range(parts) if dec[i] + pre[i] == 0]
    if empty:
        raise ValueError(f"sub_batches={parts}: sub-batch {empty[0]} would get no request (decode {decode}, "
                         f"prefill {prefill}); expected fewer sub-batches")
    return list(zip(dec, pre))


def _apportion(size: int, weights: list[int]) -> list[int]:
    """`size` split in proportion to `weights`, exactly when it divides, else by the largest-remainder rule
    (ties: the lower index); the parts always sum to `size`."""
    total = sum(weights)
    if size % total == 0:
        return [size // total * w for w in weights]
    base = [size * w // total for w in weights]
    rem = sorted(range(len(weights)), key=lambda i: (-(size * weights[i] % total), i))
    for i in rem[:size - sum(base)]:
        base[i] += 1
    return base


def split_requests(graph: Graph, sub_batches: int,
                   tags: Callable[[Op], Mapping[str, Any]] | None = None) -> Graph:
    """A continuous-batching step (`workloads.serving.serving_step`) as `sub_batches` chains of its requests
    (module docstring, "Continuous-batching steps").  The meta gains ``sub_batches``, ``sub_batch_sizes``
    (requests), ``sub_batch_decode``, ``sub_batch_prefill`` and ``sub_batch_tokens``."""
    meta = graph.meta
    if not _is_step(meta):
        raise ValueError(f"graph {graph.name!r}: meta lacks {[k for k in _STEP_KEYS if k not in meta]}; expected "
                         f"a continuous-batching step (workloads.serving.serving_step)")
    decode, prefill, prompt_len = (meta[k] for k in _STEP_KEYS)
    plan = request_plan(decode, prefill, prompt_len, sub_batches)
    dec = [d for d, _ in plan]
    pre = [p for _, p in plan]
    tok = [d + p * prompt_len for d, p in plan]
    req = [d + p for d, p in plan]
    total_tokens, total_requests = sum(tok), sum(req)

    def sizes_of(op: Op) -> list[int]:
        dim, size = _size(op)
        if size is None:
            raise ValueError(f"op {op.name!r} ({op.kind.value}): cannot split a serving step into sub-batches; "
                             f"kind {op.kind.value!r} carries no batch dimension (expected one of "
                             f"{sorted(k.value for k in BATCH_DIM)})")
        phase = op.tags.get("phase")
        if phase == "decode" and decode:
            return _apportion(size, dec)
        if phase == "prefill" and prefill:
            return _apportion(size, pre)
        if size % total_tokens and size % total_requests == 0:
            return _apportion(size, req)
        return _apportion(size, tok)

    extra = {"sub_batches": sub_batches, "sub_batch_sizes": req, "sub_batch_decode": dec,
             "sub_batch_prefill": pre, "sub_batch_tokens": tok}
    return _split(graph, sizes_of, sub_batches, extra, tags)


COLUMN_PARALLEL = ("q_proj", "k_proj", "v_proj", "qkv_proj", "gate_proj", "up_proj", "fc1")
ROW_PARALLEL = ("o_proj", "down_proj", "fc2")


def _shard(op: Op, tp: int) -> Op:
    leaf = op.name.rsplit(".", 1)[-1]

    def div(value: int, what: str) -> int:
        if value % tp:
            raise ValueError(f"op {op.name!r}: {what} = {value} is not a multiple of tp={tp}")
        return value // tp

    if op.kind is OpKind.GEMM and leaf in COLUMN_PARALLEL:
        return op.replace(dims={**op.dims, "N": div(op.dims["N"], "N")})
    if op.kind is OpKind.GEMM and leaf in ROW_PARALLEL:
        return op.replace(dims={**op.dims, "K": div(op.dims["K"], "K")})
    if op.kind in (OpKind.ATTN_SCORE, OpKind.ATTN_CONTEXT):
        return op.replace(batch=div(op.batch, "batch (sequences x heads)"))
    if op.kind is OpKind.SOFTMAX and op.tags.get("block") == "attn":
        return op.replace(dims={**op.dims, "rows": div(op.dims["rows"], "rows")})
    if op.kind is OpKind.ELTWISE and leaf in ("act", "rope"):
        return op.replace(dims={**op.dims, "cols": div(op.dims["cols"], "cols")})
    return op


def tensor_parallel(graph: Graph, tp: int) -> Graph:
    """One device's share of `graph` sharded `tp` ways (module docstring)."""
    if not isinstance(tp, int) or tp < 1:
        raise ValueError(f"tp={tp!r}: expected a positive integer")
    out = Graph(graph.name, {**graph.meta, "tp": tp})
    for op in graph.ops():
        out.add(_shard(op, tp) if tp > 1 else op, [p.name for p in graph.predecessors(op)])
    return out
