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
from workloads.op import Dims, Op, OpKind

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


def _scaled(op: Op, batch: int, part: int, index: int, extra: Mapping[str, Any], memo: dict) -> Op:
    dim = BATCH_DIM.get(op.kind)
    size = None if dim is None else (op.batch if dim == "batch" else op.dims.get(dim))
    if size is None or size % batch:
        raise ValueError(f"op {op.name!r} ({op.kind.value}): cannot split batch {batch} into sub-batches; its "
                         f"batch dimension {dim or '(none for this kind)'} = {size} is not a multiple of {batch}")
    new = size // batch * part
    changes: dict[str, Any] = {"name": f"{op.name}.sb{index}", "tags": {**op.tags, **extra, "sub_batch": index},
                               "weight_id": op.weight_id or (op.name if op.params else None)}
    if dim == "batch":
        changes["batch"] = new
    else:
        key = (op.dims, dim, new)
        if key not in memo:  # identical layers share one Dims (built and checked once)
            memo[key] = Dims({**op.dims, dim: new})
        changes["dims"] = memo[key]
    return op.replace(**changes)


def split_sub_batches(graph: Graph, sub_batches: int, batch: int | None = None,
                      tags: Callable[[Op], Mapping[str, Any]] | None = None) -> Graph:
    """`graph` as `sub_batches` independent sub-batch chains (module docstring).  `batch` defaults to
    ``graph.meta["batch"]``; `tags(op)`, when given, adds tags to every copy of `op` (e.g. a unit pin)."""
    batch = graph.meta.get("batch") if batch is None else batch
    if not isinstance(batch, int) or batch < 1:
        raise ValueError(f"graph {graph.name!r}: batch={batch!r}; expected a positive integer (graph.meta['batch'] "
                         f"or the batch argument)")
    sizes = split_sizes(batch, sub_batches)
    out = Graph(graph.name, {**graph.meta, "sub_batches": sub_batches, "sub_batch_sizes": sizes})
    if sub_batches == 1:
        for op in graph.ops():
            extra = tags(op) if tags else {}
            out.add(op.replace(tags={**op.tags, **extra}) if extra else op, [p.name for p in graph.predecessors(op)])
        return out
    memo: dict = {}
    for op in graph.ops():
        preds = [p.name for p in graph.predecessors(op)]
        extra = tags(op) if tags else {}
        for i, part in enumerate(sizes):
            out.add(_scaled(op, batch, part, i, extra, memo), [f"{p}.sb{i}" for p in preds])
    return out


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
