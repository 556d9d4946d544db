"""`dse coe` (dse/coe_cmd.py) through typer's runner: its numbers are `sim.dataflow.serve_coe`'s on the same
request stream, its files hold the same rows, and bad options exit 2 naming the value.  Small CoEs and short
requests keep it fast; the published SN40L figures are checked in tests/validation/test_sn40l.py.

Expected values below come from the model itself (serve_coe, workloads.coe.replay) or from capacities:
Samba-CoE = 151 Llama-2-7B models (2.04 TB) needs ceil(2.04 TB / (8 x 80 GiB)) = 3 DGX H100 of HBM and one
SN40L node of DDR (8 x 1.5 TiB) -- the rule of test_sn40l.py::test_footprint_from_capacities.
"""

from __future__ import annotations

import csv
import json

import pytest
from typer.testing import CliRunner

import arch
from dse import coe_cmd  # (importing it registers `dse coe`)
from dse.cli import app
from sim.dataflow import coe_footprint, serve_coe
from workloads.coe import requests, samba_coe

runner = CliRunner()
SMALL = ("--experts", "60", "--requests", "12", "--prompt", "16", "--output", "2", "--seed", "3")


def dse_coe(*args: str):
    return runner.invoke(app, ["coe", *args])


def as_json(*args: str) -> dict:
    r = dse_coe(*args, "--json")
    assert r.exit_code == 0, r.output
    return json.loads(r.output)


@pytest.fixture(scope="module")
def small():
    return as_json("--arch", "sn40l-node", "--arch", "dgx-h100", *SMALL)


def test_numbers_equal_serve_coe_on_the_same_stream(small):
    coe = samba_coe(60)
    stream = requests(coe, 12, prompt_tokens=16, output_tokens=2, seed=3)
    rows = {r["machine"]: r for r in small["machines"]}
    # TP8 on both (was [8, 1], one GPU per expert: arXiv 2405.07518 Sec. VI-C runs TP8 on every platform)
    assert [r["devices"] for r in small["machines"]] == [8, 8]
    for name, copy in (("sn40l-node", 8), ("dgx-h100", 1)):  # a DGX copies the whole expert over one host link
        s = serve_coe(coe, stream, arch.load(name), devices=8, copy_devices=copy)
        r = rows[name]
        assert r["mean_latency_s"] == pytest.approx(s.mean_latency_s, rel=1e-12)
        assert (r["hits"], r["misses"], r["expert_slots"]) == (sum(s.hits), 12 - sum(s.hits), s.slots)
        assert r["switch_s"] == pytest.approx(s.switch_s, rel=1e-12)
        assert r["decode_step_s"] == pytest.approx(s.decode_step_s, rel=1e-12)


def test_speedup_is_the_ratio_of_mean_latencies_and_parts_sum_to_the_mean(small):
    node, dgx = small["machines"]
    assert node["latency_vs_first"] == 1.0
    assert dgx["latency_vs_first"] == pytest.approx(dgx["mean_latency_s"] / node["mean_latency_s"], rel=1e-12)
    assert dgx["latency_vs_first"] > 1  # the DGX loads experts over PCIe (64 GB/s) against 8 x 200 GB/s of DDR
    for m in small["machines"]:
        parts = sum(m[f"mean_{p}_s"] for p in coe_cmd.PARTS)
        assert parts == pytest.approx(m["mean_latency_s"], rel=1e-9)
        assert m["mean_switching_s"] == pytest.approx(m["misses"] / 12 * m["switch_s"], rel=1e-12)


def test_more_slots_than_experts_only_cold_misses_fewer_slots_evict():
    args = ("--arch", "sn40l-node", "--experts", "30", "--requests", "40", "--prompt", "8", "--output", "1",
            "--skew", "1.0")
    stream = requests(samba_coe(30), 40, prompt_tokens=8, output_tokens=1, skew=1.0, seed=0)
    distinct = len({r.expert for r in stream})
    roomy = as_json(*args)["machines"][0]
    assert roomy["expert_slots"] >= 30
    assert roomy["misses"] == distinct  # every expert loads once, none is evicted
    # 8 x 16 GiB of HBM: floor(137.4 GB / 13.48 GB) - 1 (router) = 9 slots < 30 experts: evictions
    tight = as_json(*args, "--set", "memory.hbm.capacity_bytes=16GiB")["machines"][0]
    assert tight["expert_slots"] == 9
    assert tight["misses"] > distinct


def test_out_writes_csvs_json_and_html_with_the_same_rows(tmp_path):
    out = tmp_path / "coe"
    r = dse_coe("--arch", "sn40l-node", "--arch", "dgx-a100", *SMALL, "--out", str(out))
    assert r.exit_code == 0, r.output
    assert "sn40l-node" in r.output and "dgx-a100" in r.output and "footprint" in r.output
    summary = json.loads((out / "summary.json").read_text())
    with open(out / "coe.csv") as f:
        machines = list(csv.DictReader(f))
    assert [m["machine"] for m in machines] == ["sn40l-node", "dgx-a100"]
    for row, ref in zip(machines, summary["machines"]):
        assert float(row["mean_latency_s"]) == pytest.approx(ref["mean_latency_s"], rel=1e-12)
        assert int(row["hits"]) == ref["hits"]
    with open(out / "requests.csv") as f:
        reqs = list(csv.DictReader(f))
    assert len(reqs) == 12
    for name, ref in zip(("sn40l-node", "dgx-a100"), summary["machines"]):
        assert sum(x[f"{name}_hit"] == "True" for x in reqs) == ref["hits"]
        mean = sum(float(x[f"{name}_latency_s"]) for x in reqs) / 12
        assert mean == pytest.approx(ref["mean_latency_s"], rel=1e-9)
    html = (out / "coe.html").read_text()
    assert "sn40l-node" in html and "dgx-a100" in html and "switching" in html


def test_footprint_from_capacities():
    coe = samba_coe()
    node = coe_footprint(coe, arch.load("sn40l-node"))
    dgx = coe_footprint(coe, arch.load("dgx-h100"))
    assert (node["store"], node["machines"]) == ("ddr", 1)
    assert (dgx["store"], dgx["machines"]) == ("hbm", 3)


def test_devices_sets_the_tensor_parallel_degree():
    rows = as_json("--arch", "dgx-h100", "--arch", "dgx-a100", "--devices", "1", "--devices", "8", *SMALL)["machines"]
    stream = requests(samba_coe(60), 12, prompt_tokens=16, output_tokens=2, seed=3)
    one = serve_coe(samba_coe(60), stream, arch.load("dgx-h100"), devices=1, copy_devices=1)
    assert rows[0]["devices"] == 1
    assert rows[0]["decode_step_s"] == pytest.approx(one.decode_step_s, rel=1e-12)  # one GPU holds the expert
    assert rows[0]["expert_slots"] == one.slots == 47  # 8 GPUs x floor(80 GiB / 13.48 GB), less the router
    tp8 = as_json("--arch", "dgx-h100", *SMALL)["machines"][0]
    assert tp8["decode_step_s"] < rows[0]["decode_step_s"]  # 1/8 of the weights per GPU, plus all-reduces
    assert tp8["switch_s"] == rows[0]["switch_s"]  # the whole expert over one host link either way


@pytest.mark.parametrize("args, needle", [
    (("--experts", "0"), "--experts must be positive, got 0"),
    (("--requests", "-2"), "--requests must be positive, got -2"),
    (("--prompt", "0"), "--prompt must be positive, got 0"),
    (("--output", "-1"), "--output must be 0 or more, got -1"),
    (("--skew", "-0.5"), "--skew must be a finite number >= 0"),
    (("--arch", "sn40l-nodes"), "'sn40l-nodes'"),
    (("--arch", "h100"), "expected a link with dst 'hbm'"),
    (("--arch", "dgx-h100", "--arch", "dgx-h100"), "each machine once"),
    (("--devices", "8"), "got 1 value(s) [8]; expected one per --arch machine (3"),
    (("--arch", "sn40l-node", "--devices", "3"), "--devices 3 for sn40l-node: expected a divisor of its sockets (8)"),
    (("--arch", "sn40l-node", "--set", "memory.hbm.capacity_bytes=1GiB"), "holds no expert besides the router"),
    (("--arch", "sn40l-node", "--set", "memory.ddr.capacity_bytes=128GiB"), "memory.ddr.capacity_bytes: got"),
    (("--arch", "dgx-h100", "--set", "sn40l-node:sockets=4"), "'sn40l-node' is not one of the --arch machines"),
])
def test_bad_options_exit_2_naming_the_value(args, needle):
    r = dse_coe("--requests", "2", "--prompt", "8", "--output", "1", *args)
    assert r.exit_code == 2, r.output
    assert needle in r.output.replace("\n", " ") or needle in r.output
