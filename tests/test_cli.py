"""The `dse` command, driven through typer's runner so that it cannot rot; README commands included."""

import json
import re
import shlex
from pathlib import Path

import pytest
from typer.testing import CliRunner

from dse.cli import app

runner = CliRunner()
README = Path(__file__).parents[1] / "README.md"


def dse(*args: str):
    return runner.invoke(app, list(args))


def test_help_lists_the_verbs():
    r = dse("--help")
    assert r.exit_code == 0
    for verb in ("workloads", "arch", "sim"):
        assert verb in r.output


def test_arch_list_and_show_json():
    r = dse("arch", "list", "--json")
    assert r.exit_code == 0, r.output
    names = {row["name"] for row in json.loads(r.output)}
    assert "tpu-v1" in names
    r = dse("arch", "show", "tpu-v1", "--json")
    assert r.exit_code == 0, r.output
    spec = json.loads(r.output)
    mxu = next(u for u in spec["units"] if u["name"] == "mxu")
    assert (mxu["rows"], mxu["cols"], mxu["dataflow"]) == (256, 256, "ws")


def test_workloads_show_json_totals():
    r = dse("workloads", "show", "llama2-7b", "--json")
    assert r.exit_code == 0, r.output
    totals = json.loads(r.output)
    assert abs(totals["params"] - 6.74e9) / 6.74e9 < 0.01  # Touvron et al. 2023, Table 1 (6.7B)
    assert totals["ops_by_kind"]["gemm"] > 0 and totals["flops"] > 0


@pytest.mark.parametrize(
    "args, needle",
    [
        (("arch", "show", "tpu-v2"), "tpu-v1"),
        (("workloads", "show", "llama2-7"), "llama2-7b"),
        (("workloads", "show", "bert-base", "--phase", "middle"), "--phase"),
        (("workloads", "show", "bert-base", "--batch", "0"), "--batch"),
        (("sim", "--arch", "tpu-v1", "--workload", "bert-base", "--set", "units.mxu.rows=-4"), "rows"),
        (("sim", "--arch", "tpu-v1", "--workload", "bert-base", "--set", "units.nope.rows=4"), "nope"),
        (("sim", "--arch", "tpu-v1", "--workload", "bert-base", "--set", "rows"), "KEY=VALUE"),
    ],
)
def test_bad_arguments_exit_2_with_one_line(args, needle):
    r = dse(*args)
    assert r.exit_code == 2, r.output
    text = r.output.strip()
    assert needle in text
    assert "Traceback" not in text


def test_sim_json_summary_has_ppa_keys():
    r = dse("sim", "--arch", "tpu-v1", "--workload", "bert-base", "--seq-len", "32", "--json")
    assert r.exit_code == 0, r.output
    s = json.loads(r.output)
    for key in ("latency_s", "cycles", "throughput", "energy_j", "power_w", "area_mm2", "utilization"):
        assert s[key] > 0, key
    assert s["power_w"] == pytest.approx(s["energy_j"] / s["latency_s"], rel=1e-6)


def test_readme_first_command_runs_and_writes_a_report(tmp_path):
    first = [line for line in README.read_text().splitlines() if "dse sim" in line][0]
    argv = shlex.split(first.split(".venv/bin/dse", 1)[1])
    out_i = argv.index("--out")
    argv[out_i + 1] = str(tmp_path / "demo")
    r = dse(*argv)
    assert r.exit_code == 0, r.output
    assert "total" in r.output and "latency" in r.output
    html = (tmp_path / "demo" / "report.html").read_text()
    assert html.count("Plotly.newPlot") == 2  # breakdown and roofline
    for name in ("report.md", "per_op.csv", "per_op.parquet", "summary.json", "per_layer.csv"):
        assert (tmp_path / "demo" / name).stat().st_size > 0


def test_readme_second_command_is_what_ci_runs():
    lines = README.read_text().splitlines()
    fence = lines.index("```bash")
    assert lines[fence + 2] == "bash scripts/test.sh"
    ci = (Path(__file__).parents[1] / ".ci" / "run").read_text()
    assert re.search(r"^bash scripts/test\.sh$", ci, re.M)


def test_readme_space_example_is_a_valid_space(tmp_path):
    from dse.space import Space

    text = README.read_text()
    block = text.split("```yaml\n", 1)[1].split("```", 1)[0]
    path = tmp_path / "space.yaml"
    path.write_text(block)
    space = Space.from_yaml(path)
    assert space.base == "tpu-v1"
    assert space.axes["units.mxu.rows"] == [32, 64, 128, 256]
    assert len(space.axes["memory.unified_buffer.capacity_bytes"]) > 1


def test_sim_report_shows_the_npu_pim_overlap_on_a_unit_timeline(tmp_path):
    """`dse sim --out` on NeuPIMs at batch 256 (two sub-batches) reports NPU + PIM running at once on the
    unit timeline; NPU-only has no PIM to overlap with."""
    args = ["--workload", "llama2-7b", "--phase", "decode", "--batch", "256", "--kv-len", "128"]
    for arch_name, expect in (("neupims", True), ("npu-only", False)):
        out_dir = tmp_path / arch_name
        res = runner.invoke(app, ["sim", "--arch", arch_name, *args, "--out", str(out_dir), "--json"])
        assert res.exit_code == 0, res.output
        html = (out_dir / "report.html").read_text()
        assert "Unit timeline" in html  # the vector unit overlaps the NPU in both
        assert ("npu + pim" in html) is expect


def test_sim_report_on_sn40l_lists_its_fused_sections(tmp_path):
    """`dse sim --out` on an RDU shows the fusion mapper's sections (HTML table + sections.csv)."""
    res = runner.invoke(app, ["sim", "--arch", "sn40l", "--workload", "llama2-7b", "--phase", "decode",
                              "--kv-len", "256", "--out", str(tmp_path), "--json"])
    assert res.exit_code == 0, res.output
    assert "Fused sections" in (tmp_path / "report.html").read_text()
    import pandas as pd

    sections = pd.read_csv(tmp_path / "sections.csv")
    assert len(sections) >= 1 and sections["ops"].sum() > 0


def test_sim_says_what_multi_socket_figures_cover():
    """On an 8-socket node the summary counts the sockets and the printed notes say energy/power/area are per
    socket; a one-socket preset carries no such note."""
    res = runner.invoke(app, ["sim", "--arch", "sn40l-node", "--workload", "llama2-7b", "--phase", "decode",
                              "--kv-len", "128"])
    assert res.exit_code == 0, res.output
    assert "note: 8 sockets:" in " ".join(res.output.split())
    js = json.loads(runner.invoke(app, ["sim", "--arch", "sn40l-node", "--workload", "bert-base", "--json"]).output)
    assert js["sockets"] == 8 and any("one socket's" in n for n in js["notes"])
    js1 = json.loads(runner.invoke(app, ["sim", "--arch", "sn40l", "--workload", "bert-base", "--json"]).output)
    assert "sockets" not in js1 and not any("sockets" in n for n in js1["notes"])
