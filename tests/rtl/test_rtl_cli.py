"""`dse rtl synth` and `dse rtl verify` through typer's runner."""

from __future__ import annotations

import csv
import json

from typer.testing import CliRunner

import dse.rtl_cmd as rtl_cmd
from dse.cli import app

runner = CliRunner()


def dse(*args: str):
    return runner.invoke(app, list(args))


def test_rtl_help_lists_both_verbs():
    r = dse("rtl", "--help")
    assert r.exit_code == 0 and "synth" in r.output and "verify" in r.output


def test_synth_writes_csv_and_json(tmp_path):
    out = tmp_path / "synth"
    r = dse("rtl", "synth", "--block", "mixpe_pe_w2", "--block", "dequant_pe_w2", "--block", "ternary_acc",
            "--out", str(out))
    assert r.exit_code == 0, r.output
    assert "mixpe_pe_w2 is" in r.output and "smaller than dequant_pe_w2" in r.output and "NanGate" in r.output
    rows = list(csv.DictReader((out / "rtl_synth.csv").open()))
    assert [row["block"] for row in rows] == ["mixpe_pe_w2", "dequant_pe_w2", "ternary_acc"]
    assert all(float(row["area_nand2_eq"]) > 0 for row in rows)
    doc = json.loads((out / "rtl_synth.json").read_text())
    assert doc["comparisons"][0]["block"] == "mixpe_pe_w2" and doc["comparisons"][0]["ratio"] < 1


def test_synth_json_output():
    r = dse("rtl", "synth", "--block", "ternary_acc", "--json")
    assert r.exit_code == 0, r.output
    doc = json.loads(r.output)
    assert doc["blocks"][0]["block"] == "ternary_acc" and doc["blocks"][0]["flip_flops"] == 32


def test_bad_arguments_exit_2_with_one_line():
    for args in (("rtl", "synth", "--block", "nope"), ("rtl", "verify", "--sim", "modelsim"),
                 ("rtl", "verify", "--block", "nope"), ("rtl", "verify", "--vectors", "-1"),
                 ("rtl", "synth", "--data", "--block", "mac_pe")):
        r = dse(*args)
        assert r.exit_code == 2, (args, r.output)
        assert "error:" in r.output


def test_verify_runs_a_bench_and_prints_the_table(tmp_path):
    r = dse("rtl", "verify", "--block", "ternary_acc", "--vectors", "200", "--out", str(tmp_path))
    assert r.exit_code == 0, r.output
    assert "ternary_acc" in r.output and "pass" in r.output
    assert (tmp_path / "ternary_acc_icarus" / "sim.log").exists()


def test_verify_crosscheck_table(tmp_path, monkeypatch):
    monkeypatch.setattr(rtl_cmd, "CROSSCHECK_SIZES", [(2, 3, 3, 5, 4)])
    r = dse("rtl", "verify", "--block", "systolic_os", "--vectors", "60", "--json", "--out", str(tmp_path))
    assert r.exit_code == 0, r.output
    doc = json.loads(r.output[r.output.index("{"):])
    assert doc["passed"] and doc["benches"][0]["passed"]
    assert doc["crosscheck"][0]["rtl_cycles"] == doc["crosscheck"][0]["model_cycles"] == 4 * (4 + 2 + 3 - 2) - 1


def test_verify_failure_exits_1(monkeypatch, tmp_path):
    def failing(block, sim, build_dir, **kw):
        return rtl_cmd.BenchRun(block, sim, 1, 1, {}, 0.0, 0.0, build_dir / "sim.log", "mac_pe: acc: DUT 1 != model 2")

    monkeypatch.setattr(rtl_cmd, "run_bench", failing)
    r = dse("rtl", "verify", "--block", "mac_pe", "--no-crosscheck")
    assert r.exit_code == 1
    assert "FAIL" in r.output and "DUT 1 != model 2" in r.output
