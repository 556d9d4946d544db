"""Collective communication between devices that split one model: the time the all-reduces of tensor
parallelism and the all-to-alls of expert parallelism add to a step.

`sim.simulate` runs one device's share of a graph (`workloads.batching.tensor_parallel` shards it and says
the all-reduces are left out); this module prices what was left out, from the link between the devices,
so that a multi-device step is ``simulate(shard).latency + comm``.  Communication is not hidden behind
compute here (the Duplex authors' simulator adds it to device time the same way, `hardware_config.h`:
hiding off by default); a caller that overlaps it must say so.

Model (a link of bandwidth ``B`` per direction and latency ``a`` between every pair of devices, as through
an NVSwitch or an all-to-all peer network):

- ring all-reduce of ``b`` bytes over ``n`` devices: ``2 (n - 1)`` steps (reduce-scatter, then all-gather),
  each moving ``b / n`` bytes over one link::

      t = 2 (n - 1) (a + b / (n B))

- all-to-all of ``b`` bytes held by each device, spread evenly over the ``n`` devices (MoE token dispatch
  or combine): ``n - 1`` pairwise steps of ``b / n`` bytes::

      t = (n - 1) (a + b / (n B))

- one device: no communication (0 s).

`tp_allreduce_bytes` lists the all-reduces that Megatron tensor parallelism puts after each row-parallel
projection (``o_proj``, ``down_proj``, ``fc2``: `workloads.batching.ROW_PARALLEL`) of an unsharded graph:
one per such op, its output's bytes.  MoE expert projections (tagged or named ``.moe.``) are not in it:
experts exchange tokens by all-to-all (`moe_alltoall_bytes`).
"""

from __future__ import annotations

from workloads.graph import Graph
from workloads.op import OpKind


def _check(nbytes: float, devices: int, bandwidth_gbps: float, latency_s: float) -> None:
    if not isinstance(devices, int) or isinstance(devices, bool) or devices < 1:
        raise ValueError(f"devices={devices!r}: expected a positive integer")
    if nbytes < 0:
        raise ValueError(f"nbytes={nbytes!r}: expected a non-negative byte count")
    if devices > 1 and not bandwidth_gbps > 0:
        raise ValueError(f"bandwidth_gbps={bandwidth_gbps!r}: expected a positive link bandwidth (GB/s)")
    if latency_s < 0:
        raise ValueError(f"latency_s={latency_s!r}: expected a non-negative link latency (s)")


def ring_allreduce_s(nbytes: float, devices: int, bandwidth_gbps: float, latency_s: float = 0.0) -> float:
    """Seconds of a ring all-reduce of `nbytes` over `devices` devices (module docstring)."""
    _check(nbytes, devices, bandwidth_gbps, latency_s)
    if devices == 1 or nbytes == 0:
        return 0.0
    return 2 * (devices - 1) * (latency_s + nbytes / devices / (bandwidth_gbps * 1e9))


def alltoall_s(nbytes: float, devices: int, bandwidth_gbps: float, latency_s: float = 0.0) -> float:
    """Seconds of an all-to-all in which each of `devices` devices holds `nbytes` spread evenly over all."""
    _check(nbytes, devices, bandwidth_gbps, latency_s)
    if devices == 1 or nbytes == 0:
        return 0.0
    return (devices - 1) * (latency_s + nbytes / devices / (bandwidth_gbps * 1e9))


def peer_link(accelerator):
    """The accelerator's link between devices (a link whose src or dst is ``peer``), or None."""
    return next((lk for lk in accelerator.links if "peer" in (lk.src, lk.dst)), None)


def _link(accelerator, devices: int):
    link = peer_link(accelerator)
    if link is None and devices > 1:
        raise ValueError(f"{accelerator.name}: links: {devices} devices need a link with src or dst 'peer' "
                         f"(bandwidth_gbps, latency_s); got {[lk.name for lk in accelerator.links]}")
    return link


def _row_parallel(op) -> bool:
    """A row-parallel projection (`workloads.batching.ROW_PARALLEL`; imported here, not at start-up: `sim.dataflow`
    imports this module, and `import sim` need not load the batching module)."""
    from workloads.batching import ROW_PARALLEL

    return op.kind is OpKind.GEMM and op.name.rsplit(".", 1)[-1] in ROW_PARALLEL


def _is_expert(op) -> bool:
    return ".moe." in f".{op.name}." or op.tags.get("expert") is not None


def tp_allreduce_bytes(graph: Graph) -> list[float]:
    """Bytes of each all-reduce that tensor parallelism adds to the unsharded `graph` (module docstring)."""
    return [op.output_bytes for op in graph.ops() if _row_parallel(op) and not _is_expert(op)]


def moe_alltoall_bytes(graph: Graph) -> list[float]:
    """Bytes exchanged per MoE layer of the unsharded `graph` under expert parallelism, over all devices: a
    dispatch and a combine per layer, each the layer's routed tokens x hidden (the sum over its experts'
    row-parallel projections' outputs: every token a router sends to an expert comes back)."""
    per_layer: dict[object, float] = {}
    for op in graph.ops():
        if _row_parallel(op) and _is_expert(op):
            key = op.tags.get("layer", op.name.split(".", 1)[0])
            per_layer[key] = per_layer.get(key, 0.0) + op.output_bytes
    return [b for b in per_layer.values() for _ in (0, 1)]


def tp_comm_s(graph: Graph, devices: int, accelerator) -> float:
    """Seconds of the tensor-parallel all-reduces of `graph` split over `devices` devices of `accelerator`."""
    link = _link(accelerator, devices)
    if devices == 1:
        return 0.0
    return sum(ring_allreduce_s(b, devices, link.bandwidth_gbps, link.latency_s) for b in tp_allreduce_bytes(graph))


def ep_comm_s(graph: Graph, devices: int, accelerator) -> float:
    """Seconds of the expert-parallel all-to-alls (dispatch and combine) of `graph` over `devices` devices of
    one node (`ep_nodes_comm_s` with one node)."""
    return ep_nodes_comm_s(graph, devices, 1, accelerator)


# ---- several nodes, and experts split inside a node (appended for tests/validation/test_duplex.py) ----------
#
# A node's devices are joined by the peer link (the first link with ``peer`` in src or dst, `peer_link`), nodes by
# the second such link (`node_link`: one NIC per device, as in an HGX/DGX node).  Expert parallelism over
# ``nodes x per_node`` devices: each device holds ``b`` bytes spread evenly over all ``D`` devices, ``b / D`` to
# each; its ``per_node - 1`` node peers are reached over the peer link, its ``D - per_node`` off-node peers over
# the node link, both at once::
#
#     t = max((per_node - 1) (a_peer + b / (D B_peer)), (D - per_node) (a_node + b / (D B_node)))
#
# (one node: `alltoall_s`).  Experts split by tensor parallelism inside a node (Duplex's "tensor parallelism for
# MoE layers", expert parallelism between nodes; Yun et al., MICRO 2024, Sec. 5.2): one all-reduce per MoE layer
# over the node's devices of the experts' partial sums (the layer's routed tokens x hidden, `moe_alltoall_bytes`'
# dispatch), after all experts (the paper: "a single all-reduce operation after all expert FFNs"), and between
# nodes an all-to-all (dispatch and combine) of each device's share of the routed tokens over the node link.


def node_link(accelerator):
    """The accelerator's link between nodes (its second link whose src or dst is ``peer``), or None."""
    peers = [lk for lk in accelerator.links if "peer" in (lk.src, lk.dst)]
    return peers[1] if len(peers) > 1 else None


def _links(accelerator, per_node: int, nodes: int):
    if not isinstance(nodes, int) or isinstance(nodes, bool) or nodes < 1:
        raise ValueError(f"nodes={nodes!r}: expected a positive integer")
    peer = _link(accelerator, per_node)
    node = node_link(accelerator)
    if node is None and nodes > 1:
        raise ValueError(f"{accelerator.name}: links: {nodes} nodes need a second link with src or dst 'peer' "
                         f"(between nodes: bandwidth_gbps, latency_s); got {[lk.name for lk in accelerator.links]}")
    return peer, node


def hierarchical_alltoall_s(nbytes: float, per_node: int, nodes: int, peer, node=None) -> float:
    """Seconds of an all-to-all of `nbytes` per device over `nodes` nodes of `per_node` devices (comment above);
    `peer` and `node` are links (``bandwidth_gbps``, ``latency_s``)."""
    devices = per_node * nodes
    if nodes == 1:
        return 0.0 if per_node == 1 else alltoall_s(nbytes, per_node, peer.bandwidth_gbps, peer.latency_s)
    _check(nbytes, devices, node.bandwidth_gbps, node.latency_s)
    share = nbytes / devices
    intra = (per_node - 1) * (peer.latency_s + share / (peer.bandwidth_gbps * 1e9)) if per_node > 1 else 0.0
    inter = (devices - per_node) * (node.latency_s + share / (node.bandwidth_gbps * 1e9))
    return max(intra, inter) if nbytes else 0.0


def ep_nodes_comm_s(graph: Graph, per_node: int, nodes: int, accelerator) -> float:
    """Seconds of the expert-parallel all-to-alls of `graph` (one node's requests, unsharded) over
    ``nodes x per_node`` devices: each device sends its ``1 / per_node`` share of the node's routed tokens."""
    peer, node = _links(accelerator, per_node, nodes)
    return sum(hierarchical_alltoall_s(b / per_node, per_node, nodes, peer, node) for b in moe_alltoall_bytes(graph))


def et_comm_s(graph: Graph, per_node: int, nodes: int, accelerator) -> float:
    """Seconds of the MoE collectives of `graph` (one node's requests, unsharded) with every expert split over the
    node's `per_node` devices and the experts spread over `nodes` nodes (comment above)."""
    peer, node = _links(accelerator, per_node, nodes)
    dispatch = moe_alltoall_bytes(graph)[::2]
    t = 0.0
    if per_node > 1:
        t += sum(ring_allreduce_s(b, per_node, peer.bandwidth_gbps, peer.latency_s) for b in dispatch)
    if nodes > 1:
        t += 2 * sum(alltoall_s(b / per_node, nodes, node.bandwidth_gbps, node.latency_s) for b in dispatch)
    return t
