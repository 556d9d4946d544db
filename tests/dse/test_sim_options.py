"""`dse sim`'s operand-format options (--w-bits/--a-bits/--w-format/--a-format/--group-size) and `dse precision`
(the W16A16/W8A8/W4A8/W4A16/W2A8 sweep over PE types in one Plotly chart), through typer's runner.

Small shapes (bert-base at 32-64 tokens) keep the suite fast; what is asserted is which formats reach the
simulated ops, which combinations are refused and with what message, and the chart's traces."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

import workloads
from dse.cli import app
from dse.sim_cmd import PRECISIONS, SWEEP, format_kwargs, runs_on

runner = CliRunner()
SMALL = ("--workload", "bert-base", "--seq-len", "32")


def dse(*args: str):
    return runner.invoke(app, list(args))


# ---- format options ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("w_bits,a_bits,want", [
    (4, 8, {"w_format": "int4", "a_format": "int8"}), (2, 8, {"w_format": "int2", "a_format": "int8"}),
    (8, 8, {"w_format": "int8", "a_format": "int8"}), (4, 16, {"w_format": "int4", "a_format": "fp16"}),
    (16, 16, {"w_format": "fp16", "a_format": "fp16"}),
])
def test_bits_map_to_formats(w_bits, a_bits, want):
    assert format_kwargs(w_bits, a_bits) == want
    assert format_kwargs(w_bits, a_bits, group_size=64 if w_bits < 16 else None) == (
        {**want, "group_size": 64} if w_bits < 16 else want)


def test_formats_reach_the_linear_layers():
    g = workloads.load("bert-base", seq_len=32, **format_kwargs(4, 8, group_size=128))
    linear = [op for op in g.ops() if op.weights and op.tags.get("block") in ("attn", "mlp")]
    assert linear and all((op.w_format, op.a_format, op.group_size) == ("int4", "int8", 128) for op in linear)


def test_pe_types_run_their_own_formats_and_narrower_integer_weights():
    assert runs_on("mixpe-w4a8", "int4", "int8") and runs_on("mixpe-w4a8", "int2", "int8")
    assert not runs_on("mixpe-w4a8", "int8", "int8") and not runs_on("mixpe-w4a8", "int4", "fp16")
    assert runs_on("w4a16-dequant", "int4", "fp16") and not runs_on("w4a16-dequant", "int4", "int8")
    assert runs_on("int8", "int8", "int8") and not runs_on("int8", "int4", "int8")  # no dequantiser
    assert runs_on("fp16", "fp16", "fp16") and runs_on("ternary", "ternary", "int8")
    assert runs_on("w4a8-dequant-fullrate", "int2", "int8") and not runs_on("w2a8-dequant-fullrate", "int4", "int8")


def test_sim_with_formats_runs_and_prints_them():
    r = dse("sim", "--arch", "mixpe", *SMALL, "--w-bits", "4", "--a-bits", "8", "--group-size", "128", "--json")
    assert r.exit_code == 0, r.output
    w4 = json.loads(r.output)
    r = dse("sim", "--arch", "mixpe", *SMALL, "--w-bits", "2", "--a-bits", "8", "--group-size", "128", "--json")
    w2 = json.loads(r.output)
    assert 0 < w2["dram_bytes"] < w4["dram_bytes"]  # 2-bit weights move fewer bytes than 4-bit ones
    r = dse("sim", "--arch", "mixpe", *SMALL, "--w-bits", "4", "--a-bits", "8", "--top", "2")
    assert r.exit_code == 0 and "w_format=int4, a_format=int8" in r.output


def test_group_size_changes_the_dequantisation_count():
    def dequant_j(group):
        r = dse("sim", "--arch", "mixpe", *SMALL, "--w-bits", "4", "--a-bits", "8", "--group-size", str(group),
                "--json")
        assert r.exit_code == 0, r.output
        return json.loads(r.output)["energy_dequant_j"]
    assert dequant_j(32) == pytest.approx(4 * dequant_j(128), rel=0.02)  # one dequantisation per group


@pytest.mark.parametrize("args,words", [
    (("--arch", "mixpe", "--w-bits", "8", "--a-bits", "8"),
     ["int8 weights x int8 activations", "'mixpe-w4a8'", "at most 4 bits", "PE types that do: int8",
      "--set units.array.pe="]),
    (("--arch", "mixpe", "--w-bits", "4", "--a-bits", "16"), ["'mixpe-w4a8'", "mixpe-w4a16", "w4a16-dequant"]),
    (("--arch", "tpu-v1", "--w-bits", "4", "--a-bits", "8"), ["'mxu'", "w4a8-dequant", "mixpe-w4a8"]),
    (("--w-bits", "16", "--group-size", "128"), ["--group-size 128 needs integer weights", "fp16"]),
    (("--w-bits", "3",), ["--w-bits 3 is not supported", "2=int2", "--w-format"]),
    (("--a-bits", "4",), ["--a-bits 4 is not supported", "8=int8"]),
    (("--w-bits", "4", "--w-format", "int4"), ["give --w-bits or --w-format, not both"]),
    (("--w-format", "int5",), ["--w-format 'int5' is not a format", "int4"]),
    (("--w-bits", "4", "--group-size", "0"), ["--group-size must be positive"]),
])
def test_unsupported_combinations_exit_2_naming_the_problem(args, words):
    r = dse("sim", *SMALL, *args)
    assert r.exit_code == 2, r.output
    text = " ".join(r.output.split())
    for w in words:
        assert w in text, (w, text)


def test_sim_help_documents_the_options():
    r = dse("sim", "--help")
    text = " ".join(r.output.split())
    for opt in ("--w-bits", "--a-bits", "--w-format", "--a-format", "--group-size", "--w-bits 4 --a-bits 8"):
        assert opt in text


# ---- precision sweep -----------------------------------------------------------------------------------------

def test_precision_sweep_writes_one_chart_with_every_pe_type(tmp_path):
    r = dse("precision", "--workload", "bert-base", "--seq-len", "64", "--out", str(tmp_path))
    assert r.exit_code == 0, r.output
    assert "W4A8: mixpe-w4a8 is" in " ".join(r.output.split())
    page = (tmp_path / "precision.html").read_text().replace("\\u002f", "/")
    labels = [f"{p} / {pe}" for p, pe, *_ in SWEEP]
    for label in labels:
        assert label in page
    assert page.count("plotly-graph-div") == 1
    import pandas as pd

    table = pd.read_csv(tmp_path / "precision.csv")
    assert list(table["pe"]) == [pe for _, pe, *_ in SWEEP]
    assert set(table["precision"]) == set(PRECISIONS)


def test_precision_figure_traces(tmp_path):
    """The chart's traces: one latency bar trace, energy stacked by component, area stacked by component, all
    with one bar per swept design."""
    from dse.sim_cmd import precision_sweep
    from reports.precision import precision_figure

    table = precision_sweep("bert-base", "mixpe", seq_len=64, precisions=["W8A8", "W4A8"])
    assert list(table["pe"]) == ["int8", "w4a8-dequant", "w4a8-dequant-fullrate", "mixpe-w4a8"]
    fig = precision_figure(table)
    names = [t.name for t in fig.data]
    assert names[0] == "latency" and "energy: mac" in names and "energy: dequant" in names
    assert any(n.startswith("area") for n in names)
    for t in fig.data:
        assert list(t.x) == ["W8A8 / int8", "W4A8 / w4a8-dequant", "W4A8 / w4a8-dequant-fullrate",
                             "W4A8 / mixpe-w4a8"]
    lat = fig.data[0]
    assert list(lat.y) == pytest.approx(list(table["latency_s"] * 1e3))


def test_precision_rejects_unknown_precision_and_json_rows():
    r = dse("precision", "--workload", "bert-base", "--precision", "W3A8")
    assert r.exit_code == 2 and "unknown precision W3A8" in r.output
    r = dse("precision", "--workload", "bert-base", "--seq-len", "32", "--precision", "W2A8", "--json")
    assert r.exit_code == 0, r.output
    rows = json.loads(r.output)["rows"]
    assert [row["pe"] for row in rows] == ["w2a8-dequant", "w2a8-dequant-fullrate", "mixpe-w2a8"]
    assert rows[2]["latency_s"] < rows[0]["latency_s"]  # per-group dequantisation vs one per weight use
    assert rows[2]["area_pe_mm2"] < rows[1]["area_pe_mm2"]  # the full-rate dequantiser unit pays in area
