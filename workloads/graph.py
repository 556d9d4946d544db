"""`Graph`: a DAG of `Op` nodes, edges carrying the bytes of the tensor between them.

Nodes are keyed by op name (unique within a graph).  `Graph.ops()` yields ops in a deterministic
topological order; totals (FLOPs, parameters counted once per `weight_id`, weight bytes) and a pandas
summary are derived from the ops, never stored.

The graph keeps its ops and edges in plain dicts (`add` only accepts inputs already in the graph, so the
insertion order is a topological order); ``Graph.g``, the same graph as a `networkx.DiGraph` (node
attribute ``op``, edge attribute ``bytes``), is built on first access, so that building and simulating a
workload never imports networkx (~0.3 s).  Build with `add`/`chain`, not through ``g``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

from workloads.op import Op, OpKind

if TYPE_CHECKING:
    import networkx as nx
    import pandas as pd


class Graph:
    """A workload: ops plus data dependencies.  Build with `add(op, inputs=[...])`."""

    def __init__(self, name: str = "graph", meta: dict[str, Any] | None = None):
        self.name = name
        self.meta: dict[str, Any] = dict(meta or {})
        self._ops: dict[str, Op] = {}  # insertion order == topological order
        self._pred: dict[str, dict[str, int]] = {}  # name -> {input name: bytes}, in the order given
        self._succ: dict[str, dict[str, int]] = {}
        self._order: list[Op] | None = None
        self._nx: nx.DiGraph | None = None

    # ---- building -----------------------------------------------------------------------------
    def add(self, op: Op, inputs: Iterable[Op | str] = ()) -> Op:
        """Add `op`, with an edge from each input (an op or an op name) already in the graph."""
        if not isinstance(op, Op):
            raise TypeError(f"Graph.add expects an Op, got {type(op).__name__}")
        if op.name in self._ops:
            raise ValueError(f"graph {self.name!r} already has an op named {op.name!r}")
        preds: dict[str, int] = {}
        for src in inputs:
            src_name = src.name if isinstance(src, Op) else src
            if src_name not in self._ops:
                raise KeyError(f"input {src_name!r} of op {op.name!r} is not in graph {self.name!r}")
            preds[src_name] = self._ops[src_name].output_bytes
        self._ops[op.name] = op
        self._pred[op.name] = preds
        self._succ[op.name] = {}
        for src_name, nbytes in preds.items():
            self._succ[src_name][op.name] = nbytes
        self._order = None
        self._nx = None
        return op

    def chain(self, ops: Iterable[Op], after: Op | str | None = None) -> Op | str | None:
        """Add ops one after another (each depending on the previous); returns the last."""
        prev = after
        for op in ops:
            self.add(op, [prev] if prev is not None else [])
            prev = op
        return prev

    # ---- reading ------------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._ops)

    def __contains__(self, name: str) -> bool:
        return name in self._ops

    def __getitem__(self, name: str) -> Op:
        return self._ops[name]

    def __iter__(self) -> Iterator[Op]:
        return iter(self.ops())

    def ops(self) -> list[Op]:
        """Ops in topological order (ties broken by insertion order, so deterministic): the insertion order,
        since every input of an op is added before it."""
        if self._order is None:
            self._order = list(self._ops.values())
        return self._order

    def predecessors(self, op: Op | str) -> list[Op]:
        return [self._ops[p] for p in self.input_names(op)]

    def input_names(self, op: Op | str) -> list[str]:
        """Names of the ops `op` reads, in the order they were given to `add`."""
        return list(self._pred[op.name if isinstance(op, Op) else op])

    def output_names(self, op: Op | str) -> list[str]:
        """Names of the ops that read `op`, in the order they were added."""
        return list(self._succ[op.name if isinstance(op, Op) else op])

    @property
    def g(self) -> nx.DiGraph:
        """The graph as a `networkx.DiGraph` (node attribute ``op``, edge attribute ``bytes``), built on first
        access; a read-only view: change the graph with `add`."""
        if self._nx is None:
            import networkx as nx

            d = nx.DiGraph()
            for name, op in self._ops.items():
                d.add_node(name, op=op)
            for name, preds in self._pred.items():
                for src, nbytes in preds.items():
                    d.add_edge(src, name, bytes=nbytes)
            self._nx = d
        return self._nx

    # ---- totals -------------------------------------------------------------------------------
    @property
    def flops(self) -> int:
        return sum(op.flops for op in self.ops())

    @property
    def macs(self) -> int:
        return sum(op.macs for op in self.ops())

    def _unique_weights(self) -> dict[str, Op]:
        seen: dict[str, Op] = {}
        for op in self.ops():
            if op.params:
                seen.setdefault(op.weight_id or op.name, op)
        return seen

    @property
    def params(self) -> int:
        """Parameters, each weight tensor (`weight_id`) counted once."""
        return sum(op.params for op in self._unique_weights().values())

    @property
    def active_params(self) -> int:
        """Parameters of weight tensors actually read (MoE experts with routed tokens)."""
        return sum(op.params for op in self._unique_weights().values() if op.weight_bytes > 0)

    @property
    def weight_bytes(self) -> float:
        """Bytes to store every parameter once (scales of grouped quantisation included)."""
        total = 0.0
        for op in self._unique_weights().values():
            if op.kind is OpKind.EMBED:
                total += op.params * op.w_bits / 8
            elif op.weight_bytes == 0:  # an unrouted expert: still stored
                total += op.replace(dims={**op.dims, "M": 1}).weight_bytes
            else:
                total += op.weight_bytes
        return total

    def count_by_kind(self) -> dict[str, int]:
        return dict(sorted(Counter(op.kind.value for op in self.ops()).items()))

    def totals(self) -> dict[str, Any]:
        """Scalar totals for CLI/JSON output."""
        return {
            "name": self.name,
            "ops": len(self),
            "params": self.params,
            "active_params": self.active_params,
            "flops": self.flops,
            "weight_bytes": self.weight_bytes,
            "ops_by_kind": self.count_by_kind(),
        }

    def summary(self) -> pd.DataFrame:
        """One row per op, in topological order."""
        import pandas as pd

        return pd.DataFrame([op.to_row() for op in self.ops()])

    def __repr__(self) -> str:
        return f"Graph({self.name!r}, ops={len(self)}, flops={self.flops:.3e}, params={self.params:.3e})"
