"""`Graph`: a `networkx.DiGraph` of `Op` nodes, edges carrying the bytes of the tensor between them.

Nodes are keyed by op name (unique within a graph).  `Graph.ops()` yields ops in a deterministic
topological order; totals (FLOPs, parameters counted once per `weight_id`, weight bytes) and a pandas
summary are derived from the ops, never stored.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

import networkx as nx

from workloads.op import Op, OpKind

if TYPE_CHECKING:
    import pandas as pd


class Graph:
    """A workload: ops plus data dependencies.  Build with `add(op, inputs=[...])`."""

    def __init__(self, name: str = "graph", meta: dict[str, Any] | None = None):
        self.name = name
        self.meta: dict[str, Any] = dict(meta or {})
        self.g = nx.DiGraph()
        self._order: list[Op] | None = None

    # ---- building -----------------------------------------------------------------------------
    def add(self, op: Op, inputs: Iterable[Op | str] = ()) -> Op:
        """Add `op`, with an edge from each input (an op or an op name) already in the graph."""
        if not isinstance(op, Op):
            raise TypeError(f"Graph.add expects an Op, got {type(op).__name__}")
        if op.name in self.g:
            raise ValueError(f"graph {self.name!r} already has an op named {op.name!r}")
        self.g.add_node(op.name, op=op)
        for src in inputs:
            src_name = src.name if isinstance(src, Op) else src
            if src_name not in self.g:
                raise KeyError(f"input {src_name!r} of op {op.name!r} is not in graph {self.name!r}")
            src_op: Op = self.g.nodes[src_name]["op"]
            self.g.add_edge(src_name, op.name, bytes=src_op.output_bytes)
        self._order = None
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
        return self.g.number_of_nodes()

    def __contains__(self, name: str) -> bool:
        return name in self.g

    def __getitem__(self, name: str) -> Op:
        return self.g.nodes[name]["op"]

    def __iter__(self) -> Iterator[Op]:
        return iter(self.ops())

    def ops(self) -> list[Op]:
        """Ops in topological order (ties broken by insertion order, so deterministic)."""
        if self._order is None:
            index = {n: i for i, n in enumerate(self.g.nodes)}
            names = nx.lexicographical_topological_sort(self.g, key=index.__getitem__)
            self._order = [self.g.nodes[n]["op"] for n in names]
        return self._order

    def predecessors(self, op: Op | str) -> list[Op]:
        name = op.name if isinstance(op, Op) else op
        return [self.g.nodes[p]["op"] for p in self.g.predecessors(name)]

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
