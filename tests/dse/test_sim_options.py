"""`dse sim`'s operand-format options (--w-bits/--a-bits/--w-format/--a-format/--group-size) and `dse precision`
(the W16A16/W8A8/W4A8/W4A16/W2A8 sweep over PE types in one Plotly chart), through typer's runner; the
mixed prefill+decode step (``--phase mixed --prefill N``, `workloads.load(..., phase="mixed")`, a space's
workload kwargs); and the console path's per-layer table (no pandas, ties in layer order).

Small shapes (bert-base at 32-64 tokens) keep the suite fast; what is asserted is which formats reach the
simulated ops, which combinations are refused and with what message, and the chart's traces."""

from __future__ import annotations

import json
import re

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
    assert list(table["pe"]) == ["int8", "bitfusion", "ant", "w4a8-dequant", "w4a8-dequant-fullrate", "mixpe-w4a8",
                                 "mixpe-packed", "bitfusion", "ant"]
    fig = precision_figure(table)
    names = [t.name for t in fig.data]
    assert names[0] == "latency" and "energy: mac" in names and "energy: dequant" in names
    assert any(n.startswith("area") for n in names)
    for t in fig.data:
        assert list(t.x) == ["W8A8 / int8", "W8A8 / bitfusion", "W8A8 / ant", "W4A8 / w4a8-dequant",
                             "W4A8 / w4a8-dequant-fullrate", "W4A8 / mixpe-w4a8", "W4A8 / mixpe-packed",
                             "W4A8 / bitfusion", "W4A8 / ant"]
    lat = fig.data[0]
    assert list(lat.y) == pytest.approx(list(table["latency_s"] * 1e3))


def test_precision_rejects_unknown_precision_and_json_rows():
    r = dse("precision", "--workload", "bert-base", "--precision", "W3A8")
    assert r.exit_code == 2 and "unknown precision W3A8" in r.output
    r = dse("precision", "--workload", "bert-base", "--seq-len", "32", "--precision", "W2A8", "--json")
    assert r.exit_code == 0, r.output
    rows = json.loads(r.output)["rows"]
    assert [row["pe"] for row in rows] == ["w2a8-dequant", "w2a8-dequant-fullrate", "mixpe-w2a8", "mixpe-packed",
                                           "bitfusion", "ant"]
    assert rows[2]["latency_s"] < rows[0]["latency_s"]  # per-group dequantisation vs one per weight use
    assert rows[2]["area_pe_mm2"] < rows[1]["area_pe_mm2"]  # the full-rate dequantiser unit pays in area


# ---- phase "mixed": one continuous-batching step (workloads.serving through workloads.load and dse sim) -------
# Shapes are small (2 layers, batch 16, 128-token prompts); what is asserted is the step's structure, that it
# costs at least its decode-only part, that its decode-only case is the decode phase, and the errors.
MIX = {"num_hidden_layers": 2, "kv_len": 256}


def _latency(arch_name: str, name: str, **kw) -> float:
    import arch
    import sim

    return sim.simulate(workloads.load(name, **kw), arch.load(arch_name)).summary["latency_s"]


def test_mixed_step_has_both_attentions_and_shares_the_linear_layers():
    g = workloads.load("mixtral-8x7b", phase="mixed", batch=16, prefill=2, seq_len=128, **MIX)
    dec = workloads.load("mixtral-8x7b", phase="mixed", batch=16, prefill=0, **MIX)
    phases = [op.tags.get("phase") for op in g.ops()]
    # per layer: score, softmax, context for each request kind
    assert phases.count("prefill") == phases.count("decode") == 3 * 2
    assert len(g) == len(dec) + 3 * 2
    assert g.meta["requests"] == 18 and g.meta["tokens"] == 16 + 2 * 128 and "batch" not in g.meta
    q = g["L0.attn.q_proj"]
    assert q.dims["M"] == 16 + 2 * 128  # the projections run once over every token of the step
    score = {op.tags["phase"]: op for op in g.ops() if op.kind.value == "attn_score"}
    assert (score["prefill"].dims["M"], score["prefill"].dims["N"]) == (128, 128)
    assert (score["decode"].dims["M"], score["decode"].dims["N"]) == (1, 256)


def test_mixed_step_on_neupims_at_its_sub_batch_threshold_costs_more_with_prompts():
    # neupims splits steps of >= 256 requests into 2 sub-batches by request (workloads.batching.split_requests);
    # the step with prompts is split too (not refused) and costs more than its decode part
    kw = dict(phase="mixed", batch=256, prefill=2, seq_len=64, **MIX)
    assert _latency("neupims", "llama2-7b", **kw) > _latency("neupims", "llama2-7b", **{**kw, "prefill": 0})


@pytest.mark.parametrize("arch_name", ["duplex", "neupims"])
def test_mixed_step_costs_at_least_its_decode_part(arch_name):
    decode = _latency(arch_name, "llama2-7b", phase="decode", batch=16, **MIX)
    decode_step = _latency(arch_name, "llama2-7b", phase="mixed", batch=16, prefill=0, **MIX)
    prefill_step = _latency(arch_name, "llama2-7b", phase="mixed", batch=0, prefill=1, seq_len=128, **MIX)
    mixed = _latency(arch_name, "llama2-7b", phase="mixed", batch=16, prefill=1, seq_len=128, **MIX)
    assert decode_step == pytest.approx(decode, rel=1e-9)  # the step without prompts is the decode phase
    assert mixed > max(decode_step, prefill_step)


def test_sim_mixed_prints_the_prefill_decode_split():
    from dse.sim_cmd import phase_split

    r = dse("sim", "--arch", "duplex", "--workload", "llama2-7b", "--phase", "mixed", "--batch", "8",
            "--prefill", "1", "--seq-len", "64", "--kv-len", "128", "--top", "2")
    assert r.exit_code == 0, r.output
    assert "8 decode (kv 128) + 1 prefill (64 tokens)" in r.output
    for part in ("busy: prefill attention", "busy: decode attention", "busy: shared ops"):
        assert part in r.output
    import arch
    import sim

    res = sim.simulate(workloads.load("llama2-7b", phase="mixed", batch=8, prefill=1, seq_len=64, kv_len=128,
                                      num_hidden_layers=2), arch.load("duplex"))
    by_unit = phase_split(res)
    split = {part: sum(units.values()) for part, units in by_unit.items()}
    assert set(split) == {"prefill attention", "decode attention", "shared ops"}
    assert all(v > 0 for v in split.values())
    assert sum(split.values()) == pytest.approx(sum(res.column("latency_s")), rel=1e-12)
    assert split["shared ops"] > split["decode attention"]  # the weights are read once for all 72 tokens
    assert set(by_unit["decode attention"]) == {"logic_pim"}  # Duplex: a GEMV per request, low Op/B
    js = json.loads(dse("sim", "--arch", "duplex", "--workload", "llama2-7b", "--phase", "mixed", "--batch", "8",
                        "--seq-len", "64", "--kv-len", "128", "--json").output)
    assert js["step"] == {"decode": 8, "context_len": 128, "prefill": 1, "prompt_len": 64, "tokens": 8 + 64}
    assert js["throughput"] == pytest.approx(1 / js["latency_s"])  # steps per second
    assert js["tokens_per_s"] == pytest.approx((8 + 64) / js["latency_s"])
    assert set(js["busy_s_by_phase"]) == set(split)


@pytest.mark.parametrize("args,words", [
    (("--workload", "gpt3-175b", "--phase", "mixed"), ["llama, mistral, mixtral", "llama2-7b", "'gpt3'"]),
    (("--workload", "llama2-7b", "--phase", "decode", "--prefill", "2"), ["--prefill 2", "--phase mixed"]),
    (("--workload", "llama2-7b", "--prefill", "2"), ["--prefill 2", "--phase mixed"]),
    (("--workload", "llama2-7b", "--phase", "mixed", "--batch", "-1"), ["--batch", "0 or more", "-1"]),
    (("--workload", "llama2-7b", "--phase", "mixed", "--prefill", "-3"), ["--prefill", "0 or more", "-3"]),
    (("--workload", "llama2-7b", "--phase", "mixed", "--batch", "0", "--prefill", "0"), ["at least one"]),
    (("--workload", "llama2-7b", "--phase", "mixed", "--seq-len", "0"), ["--seq-len", "positive"]),
    (("--workload", "llama2-7b", "--phase", "mixed", "--kv-len", "9999"), ["kv_len=9999", "4096"]),
    (("--workload", "llama2-7b", "--phase", "middle"), ["--phase", "prefill, decode, mixed", "'middle'"]),
    (("--workload", "llama2-7b", "--phase", "mixed", "--w-bits", "4", "--a-bits", "8", "--group-size", "128",
      "--arch", "mixpe"),
     ["group_size=128", "phase='mixed'"]),
])
def test_mixed_errors_exit_2_naming_the_problem(args, words):
    r = dse("sim", *args)
    assert r.exit_code == 2, r.output
    for w in words:
        assert w in r.output, (w, r.output)
    assert "Traceback" not in r.output


def test_mixed_from_the_python_api_and_a_space():
    from dse.space import Space, SpaceError

    with pytest.raises(ValueError, match="llama, mistral, mixtral"):
        workloads.load("bert-base", phase="mixed")
    with pytest.raises(ValueError, match="prefill=2.*phase='mixed'"):
        workloads.load("llama2-7b", prefill=2)
    space = {"name": "mixed", "base": "duplex", "axes": {"units.gpu.count": [1, 2]},
             "workloads": [{"name": "mixtral-8x7b", "kwargs": {"phase": "mixed", "batch": 8, "prefill": 1,
                                                                "seq_len": 64, **MIX}}],
             "objectives": ["latency"]}
    s = Space.from_dict(space)
    assert s.workloads[0].kwargs["phase"] == "mixed"
    space["workloads"] = [{"name": "gpt3-175b", "kwargs": {"phase": "mixed"}}]
    with pytest.raises(SpaceError, match=r"workloads\[0\].*llama, mistral, mixtral"):
        Space.from_dict(space)


def test_workloads_show_takes_the_mixed_options():
    r = dse("workloads", "show", "mixtral-8x7b", "--phase", "mixed", "--batch", "4", "--prefill", "1",
            "--seq-len", "32", "--kv-len", "64", "--json")
    assert r.exit_code == 0, r.output
    plain = json.loads(dse("workloads", "show", "mixtral-8x7b", "--phase", "decode", "--batch", "4",
                           "--kv-len", "64", "--json").output)
    totals = json.loads(r.output)
    assert totals["ops"] == plain["ops"] + 3 * 32  # prefill score/softmax/context in each of the 32 layers


def test_sim_help_documents_the_mixed_phase():
    r = dse("sim", "--help")
    text = " ".join(r.output.split())
    for w in ("--prefill", "mixed", "continuous-batching", "decode requests"):
        assert w in text, w


# ---- the console path: per-layer table without pandas ------------------------------------------------------

def test_layer_rows_equal_the_pandas_per_layer_table():
    import arch
    import sim
    from reports.ppa import LAYER_COLUMNS, layer_rows, per_layer

    for arch_name, w, kw in (("neupims", "llama2-7b", {"phase": "decode", "batch": 8, "kv_len": 128}),
                             ("tpu-v1", "bert-base", {"seq_len": 32}), ("sn40l", "llama2-7b", {"phase": "decode"})):
        res = sim.simulate(workloads.load(w, num_hidden_layers=2, **kw), arch.load(arch_name))
        rows = layer_rows(res)  # before the DataFrame is made
        table = per_layer(res.per_op).to_dict("records")
        assert [r["layer"] for r in rows] == [t["layer"] for t in table]
        for r, t in zip(rows, table):
            assert tuple(r) == LAYER_COLUMNS
            assert (r["ops"], r["cycles"], r["flops"]) == (t["ops"], t["cycles"], t["flops"])
            for k in ("latency_s", "energy_j", "utilization"):
                assert r[k] == pytest.approx(t[k], rel=1e-12, abs=1e-300), (arch_name, r["layer"], k)


def test_top_layers_break_ties_by_layer_order():
    from reports.ppa import top_layers

    rows = [{"layer": str(i), "latency_s": lat} for i, lat in
            enumerate([1.0, 3.0, 2.0, 3.0 * (1 + 1e-15), 3.0, 2.0])]
    assert [r["layer"] for r in top_layers(rows, 4)] == ["1", "3", "4", "2"]
    assert top_layers(rows, 0) == []


def test_console_sim_imports_neither_pandas_nor_networkx():
    import subprocess
    import sys

    code = ("import sys; from dse.cli import app; from typer.testing import CliRunner; "
            "r = CliRunner().invoke(app, ['sim', '--arch', 'neupims', '--workload', 'llama2-7b', '--phase', 'decode', "
            "'--batch', '4', '--kv-len', '64']); assert r.exit_code == 0, r.output; "
            "print(sorted(m for m in ('pandas', 'networkx', 'plotly') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_graph_g_is_the_same_graph_as_a_networkx_digraph():
    g = workloads.load("llama2-7b", phase="decode", num_hidden_layers=1)
    d = g.g
    assert list(d.nodes) == [op.name for op in g.ops()]
    assert d is g.g  # built once
    for op in g.ops():
        assert list(d.predecessors(op.name)) == g.input_names(op) == [p.name for p in g.predecessors(op)]
        assert list(d.successors(op.name)) == g.output_names(op)
        for p in g.predecessors(op):
            assert d.edges[p.name, op.name]["bytes"] == p.output_bytes


# ---- a measured decoder layer next to the modelled one (issue 10, reports/measured.py) ---------------------
LLAMA_DECODE = ("--workload", "llama2-7b", "--phase", "decode")


def _csv_layer_s(mode: str, dtype: str = "fp16") -> float:
    """The measured llama2-7b decode layer (batch 16, KV 2048) of data/gpu/gpu_h100.csv, read independently."""
    import csv

    from reports.measured import DATA_DIR

    lines = [ln for ln in (DATA_DIR / "gpu_h100.csv").read_text().splitlines() if ln and not ln.startswith("#")]
    rows = [r for r in csv.DictReader(lines) if r["family"] == "layer" and r["op"] == "llama2_7b_decode_layer"
            and r["dtype"] == dtype and r["mode"] == mode and r["batch"] == "16" and r["kv_len"] == "2048"]
    assert len(rows) == 1
    return float(rows[0]["time_s"])


def test_sim_prints_the_measured_layer_of_the_same_shape_and_reports_it(tmp_path):
    res = dse("sim", "--arch", "h100", *LLAMA_DECODE, "--batch", "16", "--top", "2", "--out", str(tmp_path))
    assert res.exit_code == 0, res.output
    text = " ".join(res.output.split())  # rich wraps long lines
    graph_s, eager_s = _csv_layer_s("graph"), _csv_layer_s("eager")
    assert (f"measured decoder layer on an NVIDIA H100 80GB HBM3 (data/gpu/gpu_h100.csv, CUDA graph, torch "
            f"2.11.0+cu130): {graph_s * 1e6:.1f} us; modelled median layer") in text
    assert f"eager PyTorch, torch 2.11.0+cu130): {eager_s * 1e6:.1f} us" in text
    # under the per-layer table, above the totals
    assert text.index("per layer (top 2") < text.index("measured decoder layer") < text.index("total")
    m = json.loads((tmp_path / "summary.json").read_text())["measured"]
    assert m["measured_s"] == {"graph": graph_s, "eager": eager_s}
    assert (m["batch"], m["kv_len"], m["q_len"], m["dtype"], m["layers"]) == (16, 2048, 1, "fp16", 32)
    rel = m["modelled_layer_s"] / graph_s - 1
    assert f"modelled median layer {m['modelled_layer_s'] * 1e6:.1f} us ({rel:+.0%})" in text
    assert abs(rel) <= 0.25  # issue 10's per-op-family tolerance, as tests/validation/test_gpu.py
    md = (tmp_path / "report.md").read_text()
    assert "## Measured next to modelled" in md and f"{graph_s * 1e6:.1f} us" in md
    assert "Measured next to modelled" in (tmp_path / "report.html").read_text()


@pytest.mark.parametrize("args", [
    ("--arch", "h100", "--batch", "8"),             # no measured layer at batch 8
    ("--arch", "h100", "--batch", "16", "--kv-len", "1024"),  # nor at another KV length
    ("--arch", "tpu-v1", "--batch", "16"),          # not a GPU
    ("--arch", "gpu-a100", "--batch", "16"),        # a GPU whose fit is inherited, not measured on it
], ids=["batch-8", "kv-1024", "tpu-v1", "a100"])
def test_sim_says_nothing_measured_for_another_shape_or_arch(args):
    res = dse("sim", *LLAMA_DECODE, *args, "--top", "1", "--json")
    assert res.exit_code == 0, res.output
    assert "measured" not in json.loads(res.output)
    assert "measured decoder layer" not in res.output


def test_measured_layer_needs_an_all_gpu_preset_fitted_on_a_csv():
    import arch
    from reports.measured import fit_csv

    assert fit_csv(arch.load("h100")).name == "gpu_h100.csv"
    assert fit_csv(arch.load("duplex-gpu-only")).name == "gpu_h100.csv"  # the same H100 model
    assert fit_csv(arch.load("duplex")) is None  # GPU + Logic-PIM: its layer is not one GPU's
    assert fit_csv(arch.load("dgx-h100")) is None  # 8 sockets
    assert fit_csv(arch.load("gpu-a100")) is None and fit_csv(arch.load("tpu-v1")) is None


# ---- --requests: per-request context lengths and channels (NeuPIMs' request-trace format) --------------------

def requests_csv(tmp_path, rows: str):
    p = tmp_path / "requests.csv"
    p.write_text(rows)
    return str(p)


def test_requests_set_batch_kv_len_and_the_busiest_pim_channel(tmp_path):
    """8 requests, mean 96 tokens: batch 8, kv 96; all in channel 0 (of 32) vs spread over 8 channels: the
    summary's skew is 32 vs 4 and the step is slower."""
    lens = [64, 128] * 4
    one = requests_csv(tmp_path, "seq_len,ch_idx\n" + "".join(f"{n},0\n" for n in lens))
    r = dse("sim", "--arch", "neupims", "--workload", "llama2-7b", "--requests", one, "--json")
    assert r.exit_code == 0, r.output
    s = json.loads(r.output)
    assert s["pim_channel_skew"] == pytest.approx(32.0)
    spread = tmp_path / "spread.csv"
    spread.write_text("seq_len,ch_idx\n" + "".join(f"{n},{4 * i}\n" for i, n in enumerate(lens)))
    r = dse("sim", "--arch", "neupims", "--workload", "llama2-7b", "--requests", str(spread), "--json")
    even = json.loads(r.output)
    assert 1.0 < even["pim_channel_skew"] < 8.0 and even["latency_s"] < s["latency_s"]
    g = workloads.load("llama2-7b", phase="decode", batch=8, kv_len=96)
    assert s["macs"] == pytest.approx(sum(op.macs for op in g.ops()))  # batch and kv from the file


def test_requests_without_channels_use_the_arch_policy(tmp_path):
    path = requests_csv(tmp_path, "seq_len\n" + "512\n" * 2 + "16\n" * 62)
    greedy = json.loads(dse("sim", "--arch", "neupims", "--workload", "llama2-7b", "--requests", path, "--json").output)
    rr = json.loads(dse("sim", "--arch", "neupims-naive", "--workload", "llama2-7b", "--requests", path,
                        "--json").output)
    assert greedy["pim_channel_skew"] < rr["pim_channel_skew"]


@pytest.mark.parametrize("text,extra,match", [
    ("len\n5\n", (), "expected a CSV header with a seq_len column"),
    ("seq_len,ch_idx\n5,0\nx,1\n", (), "line 3: seq_len must be an integer >= 1, got 'x'"),
    ("seq_len,ch_idx\n5,-1\n", (), "line 2: ch_idx must be an integer >= 0"),
    ("seq_len\n5\n6\n", ("--batch", "4"), "--batch 4 but --requests .* lists 2 requests"),
    ("seq_len\n5\n6\n", ("--phase", "prefill"), "needs --phase decode or mixed"),
    ("seq_len,ch_idx\n5,40\n", (), "expected channel indices 0..31"),
])
def test_bad_requests_are_refused_with_the_line_and_what_was_expected(tmp_path, text, extra, match):
    r = dse("sim", "--arch", "neupims", "--workload", "llama2-7b", "--requests", requests_csv(tmp_path, text), *extra)
    assert r.exit_code == 2 and re.search(match, " ".join(r.output.split())), r.output


def test_missing_requests_file_is_refused(tmp_path):
    r = dse("sim", "--arch", "neupims", "--workload", "llama2-7b", "--requests", str(tmp_path / "none.csv"))
    assert r.exit_code == 2 and "cannot read it" in r.output
