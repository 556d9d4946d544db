"""sim.collective: ring all-reduce and all-to-all times, and the collectives a sharded model adds."""

import math

import pytest

import arch
from sim import collective
from workloads import zoo


def test_ring_allreduce_formula():
    # 8 devices, 16 MiB, 100 GB/s, 1 us: 14 steps of 2 MiB
    t = collective.ring_allreduce_s(16 * 2**20, 8, 100.0, 1e-6)
    assert t == pytest.approx(14 * (1e-6 + 2 * 2**20 / 100e9))
    # bandwidth term tends to 2 (n-1)/n b / B for large messages
    big = collective.ring_allreduce_s(1e12, 4, 50.0, 0.0)
    assert big == pytest.approx(2 * 3 / 4 * 1e12 / 50e9)


def test_alltoall_formula_and_single_device():
    assert collective.alltoall_s(8e6, 4, 100.0, 2e-6) == pytest.approx(3 * (2e-6 + 2e6 / 100e9))
    assert collective.ring_allreduce_s(1e9, 1, 0.0) == 0.0
    assert collective.alltoall_s(1e9, 1, 0.0) == 0.0


@pytest.mark.parametrize("kw, match", [({"devices": 0}, "devices"), ({"nbytes": -1.0}, "nbytes"),
                                        ({"bandwidth_gbps": 0.0}, "bandwidth"), ({"latency_s": -1e-6}, "latency")])
def test_bad_arguments_are_refused(kw, match):
    args = {"nbytes": 1e6, "devices": 4, "bandwidth_gbps": 100.0, "latency_s": 0.0, **kw}
    with pytest.raises(ValueError, match=match):
        collective.ring_allreduce_s(**args)


def test_tensor_parallel_allreduces_of_a_dense_decoder():
    g = zoo.load("llama2-7b", phase="decode", batch=8, kv_len=128)
    sizes = collective.tp_allreduce_bytes(g)
    # two per layer (after o_proj and down_proj), each batch x hidden in bf16/fp16
    assert len(sizes) == 2 * 32
    assert set(sizes) == {8 * 4096 * 2}
    dgx = arch.load("dgx-h100")
    link = collective.peer_link(dgx)
    t = collective.tp_comm_s(g, 8, dgx)
    assert t == pytest.approx(64 * collective.ring_allreduce_s(8 * 4096 * 2, 8, link.bandwidth_gbps, link.latency_s))
    assert collective.tp_comm_s(g, 1, dgx) == 0.0


def test_moe_alltoall_counts_routed_tokens():
    g = zoo.load("mixtral-8x7b", phase="decode", batch=4, kv_len=128)
    per_layer = collective.moe_alltoall_bytes(g)
    assert len(per_layer) == 2 * 32  # dispatch and combine per MoE layer
    assert set(per_layer) == {4 * 2 * 4096 * 2}  # 4 tokens x top-2 x hidden x 2 bytes
    # experts' down_proj are not tensor-parallel all-reduces
    assert len(collective.tp_allreduce_bytes(g)) == 32  # o_proj only
    assert math.isclose(collective.ep_comm_s(g, 1, arch.load("dgx-h100")), 0.0)


def test_devices_without_a_peer_link_are_refused():
    g = zoo.load("llama2-7b", phase="decode", batch=1, kv_len=16)
    with pytest.raises(ValueError, match="peer"):
        collective.tp_comm_s(g, 4, arch.load("h100"))


def test_node_link_is_the_second_peer_link():
    dup = arch.load("duplex-gpu-only")
    assert collective.peer_link(dup).name == "nvlink" and collective.node_link(dup).name == "infiniband"
    assert collective.node_link(arch.load("dgx-h100")) is None


def test_hierarchical_alltoall_is_the_slower_of_node_peers_and_off_node_peers():
    peer, node = collective.peer_link(arch.load("duplex-gpu-only")), collective.node_link(arch.load("duplex-gpu-only"))
    b = 16e6  # 2 nodes x 8 devices: 1 MB to each of 15 others, 7 over NVLink, 8 over InfiniBand
    t = collective.hierarchical_alltoall_s(b, 8, 2, peer, node)
    intra = 7 * (peer.latency_s + 1e6 / (peer.bandwidth_gbps * 1e9))
    inter = 8 * (node.latency_s + 1e6 / (node.bandwidth_gbps * 1e9))
    assert t == pytest.approx(max(intra, inter)) and inter > intra
    # one node: the plain all-to-all
    assert collective.hierarchical_alltoall_s(b, 8, 1, peer) == pytest.approx(
        collective.alltoall_s(b, 8, peer.bandwidth_gbps, peer.latency_s))


def test_expert_collectives_over_nodes():
    g = zoo.load("mixtral-8x7b", phase="decode", batch=4, kv_len=128)
    dup = arch.load("duplex-gpu-only")
    peer, node = collective.peer_link(dup), collective.node_link(dup)
    routed = 4 * 2 * 4096 * 2  # per MoE layer: 4 tokens x top-2 x hidden x 2 bytes
    # expert parallelism on one node is sim.collective.ep_comm_s
    assert collective.ep_nodes_comm_s(g, 4, 1, dup) == pytest.approx(collective.ep_comm_s(g, 4, dup))
    assert collective.ep_nodes_comm_s(g, 4, 2, dup) == pytest.approx(
        64 * collective.hierarchical_alltoall_s(routed / 4, 4, 2, peer, node))
    # experts split inside a node: one all-reduce of the partial sums per MoE layer; between nodes dispatch+combine
    one = 32 * collective.ring_allreduce_s(routed, 4, peer.bandwidth_gbps, peer.latency_s)
    assert collective.et_comm_s(g, 4, 1, dup) == pytest.approx(one)
    assert collective.et_comm_s(g, 4, 2, dup) == pytest.approx(
        one + 64 * collective.alltoall_s(routed / 4, 2, node.bandwidth_gbps, node.latency_s))
    with pytest.raises(ValueError, match="second link"):
        collective.et_comm_s(g, 4, 2, arch.load("dgx-h100"))
