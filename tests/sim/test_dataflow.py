"""sim.dataflow: the RDU cost model and fusion pass, pinned on a toy chip whose numbers are easy to follow by
hand (1 GHz, 100 PCUs x 10 FLOP/cycle, 64 PMUs x 64 KiB, HBM 100 B/cycle, DDR 10 B/cycle, 1000-cycle launch)."""

from __future__ import annotations

import math

import pytest

import arch
import sim
import workloads
from arch.spec import Accelerator
from sim.collective import tp_comm_s
from sim.dataflow import RduError, allreduce_s, load_time_s, serve_coe, tp_latency_s
from workloads.batching import tensor_parallel
from workloads.coe import Request, samba_coe
from workloads.graph import Graph

LAUNCH = 1000  # cycles


def toy(**unit) -> dict:
    return {
        "name": "toy-rdu",
        "tech": {"node_nm": 5, "clock_hz": 1e9},
        "units": [{"type": "rdu", "name": "rdu", "pcus": 100, "pmus": 64, "pmu_bytes": "64KiB",
                   "flops_per_pcu_per_cycle": 10, "kernel_launch_s": 1e-6, "chunk_rows": 64, **unit}],
        "memory": [
            {"name": "sram", "kind": "sram", "capacity_bytes": "4MiB", "read_bytes_per_cycle": 1000},
            {"name": "hbm", "kind": "hbm3", "capacity_bytes": "1GiB", "bandwidth_gbps": 100.0},
            {"name": "ddr", "kind": "ddr5", "capacity_bytes": "16GiB", "bandwidth_gbps": 10.0},
        ],
        "links": [
            {"name": "ddr_to_hbm", "src": "ddr", "dst": "hbm", "bandwidth_gbps": 10.0},
            {"name": "p2p", "src": "rdu", "dst": "peer", "bandwidth_gbps": 50.0, "latency_s": 1e-6},
        ],
    }


def make(sockets: int = 1, memory: dict | None = None, **unit) -> Accelerator:
    spec = toy(**unit)
    spec["sockets"] = sockets
    for tier in spec["memory"]:
        tier.update((memory or {}).get(tier["name"], {}))
    return Accelerator.model_validate(spec)


def chain(*ops) -> Graph:
    g = Graph("chain", {"tokens": 64})
    g.chain(ops)
    return g


G1 = dict(m=64, n=256, k=256)  # 2*64*256*256 = 8,388,608 FLOPs; A 32 KiB, W 128 KiB, C 32 KiB (fp16)


def test_unfused_gemm_is_launch_plus_roofline():
    acc = make(fused=False)
    r = sim.simulate(workloads.gemm(**G1, dtype="fp16"), acc)
    compute = math.ceil(8_388_608 / 1000)
    hbm_cycles = (32768 + 131072 + 32768) / 100
    assert r.per_op["cycles"][0] == LAUNCH + max(compute, hbm_cycles) == 9389
    assert r.per_op["bytes_hbm"][0] == 196608


def big_chain() -> Graph:
    g = Graph("chain", {"tokens": 1024})  # 16 chunks of 64 rows
    g.chain([workloads.gemm(1024, 256, 256, dtype="fp16", name="g"), workloads.eltwise(1024, 256, inputs=1, name="e")])
    return g


def test_fused_chain_keeps_the_intermediate_on_chip():
    fused = sim.simulate(big_chain(), make())
    unfused = sim.simulate(big_chain(), make(fused=False))
    assert set(fused.per_op["tag_section"]) == {"S0"}
    by = fused.per_op.set_index("name")
    assert by.loc["g", "tag_fused_ops"] == 2 and by.loc["e", "tag_fused_into"] == "g"
    # the section's time is shared out by FLOPs: e does 1024 x 256 of the 2 x 1024 x 256 x 256 + 1024 x 256
    assert by.loc["e", "cycles"] / by["cycles"].sum() == pytest.approx(1 / 513, rel=1e-2)  # cycles: whole
    assert by.loc["e", "utilization"] == pytest.approx(by.loc["g", "utilization"])  # the section's
    # unfused writes the GEMM's 512 KiB output to HBM and reads it back; fused keeps it in the PMUs
    assert unfused.summary["hbm_bytes"] - fused.summary["hbm_bytes"] == 2 * 1024 * 256 * 2
    assert fused.summary["latency_s"] < unfused.summary["latency_s"]


def test_fused_section_time_is_pipelined_over_chunks():
    by = sim.simulate(big_chain(), make()).per_op.set_index("name")
    f_g, f_e = 2 * 1024 * 256 * 256, 1024 * 256
    # one PCU per stage, the 98 spare ones by FLOPs: g gets 1 + floor(98 f_g / (f_g + f_e)) = 98, e gets 1
    assert (by.loc["g", "tag_stage_pcus"], by.loc["e", "tag_stage_pcus"]) == (98, 1)
    t_g, t_e = math.ceil(f_g / (98 * 10)), math.ceil(f_e / 10)
    chunks = 16  # max(1024 / 64 token rows, 128 KiB of weights / 64 KiB PMU)
    compute = math.ceil((t_g + t_e + (chunks - 1) * max(t_g, t_e)) / chunks)
    hbm = (1024 * 256 * 2 + 256 * 256 * 2 + 1024 * 256 * 2) / 100  # input, weights, e's output
    assert by["cycles"].sum() == pytest.approx(LAUNCH + max(compute, hbm), abs=2)  # shares rounded up


def test_single_chunk_pipelines_are_left_unfused_when_slower():
    # one chunk (64 rows, 64 KiB of weights): fused stages run one after another on their share of PCUs,
    # which, without launch costs, loses to running the GEMM on all 100 PCUs and then the element-wise op
    g = chain(workloads.gemm(64, 128, 256, dtype="fp16", name="g"), workloads.eltwise(64, 128, inputs=1, name="e"))
    assert sim.simulate(g, make(kernel_launch_s=0)).per_op["tag_section"].tolist() == ["S0", "S1"]
    assert sim.simulate(g, make()).per_op["tag_section"].tolist() == ["S0", "S0"]  # 1000-cycle launches: fuse


def test_sections_split_where_the_pmus_are_full():
    # decode-like GEMMs (4 rows): weight-streaming bound, fusing saves launches; 512 KiB of weights each
    ops = [workloads.gemm(4, 512, 512, dtype="fp16", name=f"g{i}") for i in range(3)]
    roomy = sim.simulate(chain(*ops), make(pmus=64))  # 4 MiB of PMU
    tight = sim.simulate(chain(*ops), make(pmus=12))  # 768 KiB: one GEMM's weights at a time
    assert roomy.per_op["tag_section"].nunique() == 1
    assert tight.per_op["tag_section"].nunique() == 3
    assert roomy.summary["latency_s"] < tight.summary["latency_s"]
    big = sim.simulate(workloads.gemm(64, 2048, 2048, dtype="fp16"), make(pmus=1))  # 8 MiB of weights
    assert big.per_op["tag_section"].tolist() == ["S0"]  # an op that alone overflows is its own section


def test_weights_spill_to_ddr_when_hbm_is_full():
    ops = [workloads.gemm(64, 256, 256, dtype="fp16", name=f"g{i}") for i in range(2)]
    small_hbm = {"hbm": {"capacity_bytes": 200_000}}  # holds one 131,072 B weight, not two
    r = sim.simulate(chain(*ops), make(fused=False, memory=small_hbm))
    by = r.per_op.set_index("name")
    assert by.loc["g0", "bytes_ddr"] == 0 and by.loc["g1", "bytes_ddr"] == 131072
    assert by.loc["g1", "cycles"] == math.ceil(LAUNCH + 131072 / 10)  # DDR-bound: 131,072 B at 10 B/cycle
    all_ddr = sim.simulate(chain(*ops), make(fused=False, weight_placement="ddr"))
    assert all_ddr.summary["ddr_bytes"] == 2 * 131072


def test_kv_cache_placement_policy():
    g = workloads.load("llama2-7b", phase="decode", kv_len=4096, num_hidden_layers=1)
    hbm = sim.simulate(g, arch.load("sn40l"))
    ddr = sim.simulate(g, arch.load("sn40l", {"units.rdu.kv_placement": "ddr"}))
    kv = 2 * 32 * 4096 * 128 * 2  # K and V of 32 heads x 4096 tokens x 128 dims, fp16: 64 MiB
    # the DDR tier's bandwidth now bounds the step (pin moved 128 -> 200 GB/s: the preset now takes Table II's
    # 200 GB/s per socket, arXiv 2405.07518, instead of the seminar abstract's 1 TB/s per node / 8)
    assert ddr.summary["latency_s"] >= kv / 200e9
    assert ddr.summary["ddr_bytes"] - hbm.summary["ddr_bytes"] == kv
    assert ddr.summary["latency_s"] > hbm.summary["latency_s"]


def test_model_larger_than_hbm_plus_ddr_is_an_error():
    with pytest.raises(RduError, match=r"memory\.ddr\.capacity_bytes"):
        sim.simulate(workloads.gemm(64, 4096, 4096, dtype="fp16"),
                     make(memory={"hbm": {"capacity_bytes": 1000}, "ddr": {"capacity_bytes": 1000}}))


def test_tensor_parallel_shares_and_all_reduce():
    # column-parallel g0 (full input) then row-parallel g1 (sharded input): one all-reduce of g1's output
    ops = (workloads.gemm(**G1, dtype="fp16", name="g0"), workloads.gemm(**G1, dtype="fp16", name="g1"))
    r = sim.simulate(chain(*ops), make(sockets=2, fused=False)).per_op.set_index("name")
    assert r.loc["g0", "bytes_hbm"] == 32768 + 131072 / 2 + 32768 / 2
    ar_cycles = 2 * (2 - 1) / 2 * 32768 / 50 + 2 * 1000
    compute = math.ceil(8_388_608 / 2 / 1000)
    assert r.loc["g1", "cycles"] == math.ceil(LAUNCH + compute + ar_cycles)
    assert allreduce_s(32768, make(sockets=2)) == pytest.approx(ar_cycles * 1e-9)


def test_sockets_without_a_peer_link_is_an_error():
    spec = toy()
    spec["links"] = spec["links"][:1]
    spec["sockets"] = 2
    ops = (workloads.gemm(**G1, name="g0"), workloads.gemm(**G1, name="g1"))
    with pytest.raises(RduError, match=r"links: sockets=2 needs a link with src or dst 'peer'"):
        sim.simulate(chain(*ops), Accelerator.model_validate(spec))


def test_load_time_over_the_link_into_hbm():
    node = arch.load("sn40l-node")
    # 128 GB/s per socket: the copy rate arXiv 2405.07518 Sec. VI-C gives for the node ('over 1 TB/s' of aggregate
    # DDR-to-HBM bandwidth), below the DDR tier's 200 GB/s peak (Table II)
    assert load_time_s(1.024e12, node, devices=8) == pytest.approx(1.024e12 / 8 / 128e9)
    h100 = arch.load("h100")
    with pytest.raises(RduError, match="expected a link with dst 'hbm'"):
        load_time_s(1e9, h100)


def test_bad_placement_names_the_field():
    with pytest.raises(ValueError, match=r"weight_placement: got 'sram'; expected 'hbm_first' or 'ddr'"):
        arch.load("sn40l", {"units.rdu.weight_placement": "sram"})


def test_fused_decode_streams_weights_near_hbm_bandwidth():
    g = workloads.load("llama2-7b", phase="decode", kv_len=256, num_hidden_layers=2)
    acc = arch.load("sn40l")
    r = sim.simulate(g, acc)
    # each weight read once at the HBM tier's 1.8 TB/s (arXiv 2405.07518 Table II; was an assumed 2 TB/s)
    floor = sum(op.weight_bytes for op in g.ops()) / 1.8e12  # (embedding: a row)
    assert floor * 0.9 < r.summary["latency_s"] < floor * 1.1
    unfused = sim.simulate(g, arch.load("sn40l", {"units.rdu.fused": False}))
    kernels = len(g)
    assert unfused.summary["latency_s"] >= kernels * 3e-6  # one launch per op at least


def test_sections_report_lists_the_fusion_choices(tmp_path):
    from reports.dataflow import memory_wall_figure, sections_table, write_sections

    g = workloads.load("llama2-7b", phase="decode", kv_len=256, num_hidden_layers=2)
    r = sim.simulate(g, arch.load("sn40l"))
    table = sections_table(r.per_op)
    assert table["ops"].sum() == len(g)
    assert table["latency_s"].sum() == pytest.approx(r.summary["latency_s"])
    assert table["bytes_hbm"].sum() == pytest.approx(r.summary["hbm_bytes"])
    assert (table["pcus"] <= 1040).all()
    paths = write_sections(r, tmp_path, "llama2-7b on sn40l")
    assert paths["md"].read_text().count("\n| S") == len(table)
    with pytest.raises(ValueError, match="no 'tag_section' column"):
        sections_table(sim.simulate(g, arch.load("sn40l", {"units.rdu.fused": False})).per_op)
    fig = memory_wall_figure(table, "section", "latency_s", title="t", knee=1.0)
    assert fig.data[0].y.tolist() == table["latency_s"].tolist()


def test_dse_sim_on_sn40l_writes_fused_sections(tmp_path):
    import json

    import pandas as pd
    from typer.testing import CliRunner

    from dse.cli import app

    r = CliRunner().invoke(app, ["sim", "--arch", "sn40l", "--workload", "llama2-7b", "--phase", "decode",
                                 "--kv-len", "256", "--out", str(tmp_path), "--top", "3"])
    assert r.exit_code == 0, r.output
    per_op = pd.read_csv(tmp_path / "per_op.csv")
    assert per_op["tag_section"].notna().all()  # every op of the fused run belongs to a section
    summary = json.loads((tmp_path / "summary.json").read_text())
    g = workloads.load("llama2-7b", phase="decode", kv_len=256)
    assert summary["latency_s"] == pytest.approx(sim.simulate(g, arch.load("sn40l")).summary["latency_s"])


def test_tp_latency_on_a_gpu_machine_is_one_shard_plus_its_all_reduces():
    g = workloads.load("llama2-7b", phase="decode", kv_len=256, num_hidden_layers=2)
    dgx = arch.load("dgx-h100")
    shard = sim.simulate(tensor_parallel(g, 8), dgx).summary["latency_s"]
    assert tp_latency_s(g, dgx, 8) == pytest.approx(shard + tp_comm_s(g, 8, dgx), rel=1e-12)
    assert tp_latency_s(g, dgx, 1) == pytest.approx(sim.simulate(g, dgx).summary["latency_s"], rel=1e-12)


def test_tp_latency_on_an_rdu_machine_shards_over_that_many_sockets():
    g = workloads.load("llama2-7b", phase="decode", kv_len=256, num_hidden_layers=2)
    node = arch.load("sn40l-node")
    assert tp_latency_s(g, node, 8) == sim.simulate(g, node).summary["latency_s"]
    four = arch.load("sn40l-node", {"sockets": 4})
    assert tp_latency_s(g, node, 4) == sim.simulate(g, four).summary["latency_s"]


def test_serve_coe_batch_routes_together_copies_each_missing_expert_once_then_runs_pairs_in_turn():
    """arXiv 2405.07518 Sec. VI-C: router on the BS prompts together, copies, (prompt, expert) pairs in turn."""
    coe = samba_coe(20)
    node = arch.load("sn40l-node")
    stream = [Request(e, 16, 2) for e in (3, 5, 3, 7)]  # expert 3 twice: copied once
    s = serve_coe(coe, stream, node, devices=8, batch=4)
    router = tp_latency_s(coe.router_graph(phase="prefill", batch=4, seq_len=16), node, 8)
    prefill = tp_latency_s(coe.expert_graph(phase="prefill", seq_len=16), node, 8)
    step = tp_latency_s(coe.expert_graph(phase="decode", kv_len=17), node, 8)
    assert s.hits == [False, False, True, False]
    expected = router + 3 * s.switch_s + 4 * (prefill + 2 * step)
    assert s.latencies_s == pytest.approx([expected] * 4, rel=1e-12)  # every request completes with its batch
    assert s.router_s == pytest.approx(router, rel=1e-12)
    one = serve_coe(coe, stream, node, devices=8, batch=1)
    assert one.latencies_s[2] == pytest.approx(one.router_s + prefill + 2 * step, rel=1e-12)  # a hit: no copy


def test_serve_coe_copy_devices_spread_the_copy():
    coe = samba_coe(20)
    dgx = arch.load("dgx-a100")
    s = serve_coe(coe, [Request(0, 8, 1)], dgx, devices=8, copy_devices=1)
    assert s.switch_s == pytest.approx(load_time_s(coe.expert_bytes, dgx, 1))  # whole expert, 32 GB/s
    assert s.switch_s == pytest.approx(coe.expert_bytes / 32e9, rel=1e-3)
    with pytest.raises(ValueError, match=r"copy_devices=3; expected a divisor of sockets=8"):
        serve_coe(coe, [Request(0, 8, 1)], dgx, devices=8, copy_devices=3)
    with pytest.raises(ValueError, match=r"batch=0; expected a positive integer"):
        serve_coe(coe, [Request(0, 8, 1)], dgx, devices=8, batch=0)
