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

from workloads.batching import ROW_PARALLEL
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


def _is_expert(op) -> bool:
    return ".moe." in f".{op.name}." or op.tags.get("expert") is not None


def tp_allreduce_bytes(graph: Graph) -> list[float]:
    """Bytes of each all-reduce that tensor parallelism adds to the unsharded `graph` (module docstring)."""
    return [op.output_bytes for op in graph.ops()
            if op.kind is OpKind.GEMM and op.name.rsplit(".", 1)[-1] in ROW_PARALLEL and not _is_expert(op)]


def moe_alltoall_bytes(graph: Graph) -> list[float]:
    """Bytes exchanged per MoE layer of the unsharded `graph` under expert parallelism, over all devices: a
    dispatch and a combine per layer, each the layer's routed tokens x hidden (the sum over its experts'
    row-parallel projections' outputs: every token a router sends to an expert comes back)."""
    per_layer: dict[object, float] = {}
    for op in graph.ops():
        if op.kind is OpKind.GEMM and op.name.rsplit(".", 1)[-1] in ROW_PARALLEL and _is_expert(op):
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
    """Seconds of the expert-parallel all-to-alls (dispatch and combine) of `graph` over `devices` devices."""
    link = _link(accelerator, devices)
    if devices == 1:
        return 0.0
    return sum(alltoall_s(b / devices, devices, link.bandwidth_gbps, link.latency_s)
               for b in moe_alltoall_bytes(graph))
