"""`dse tasks` (dse/tasks_cmd.py): M3ViT's task-switching trace from the command line.

The numbers are `sim.fpga.task_switch_trace`'s (model: sim/fpga.py's MoE mapping, preset m3vit-zcu104 with
UG1267's 19.2 GB/s DDR4); these tests check that the command reports exactly what the model and
`reports.timeline.switch_summary` say, that the reload cost is bytes / DDR bandwidth, and that bad input
is named.  A 3-frame sequence (semseg, depth, depth: one task change after the first frame) keeps it fast.
"""

from __future__ import annotations

import csv
import functools
import json

import pytest
from typer.testing import CliRunner

import arch
import dse.tasks_cmd  # noqa: F401  (registers `dse tasks`)
from dse.cli import app
from reports import timeline
from sim import fpga
from workloads import zoo

runner = CliRunner()
SEQ = ["semseg", "depth", "depth"]


def dse(*args: str):
    return runner.invoke(app, ["tasks", *args])


@functools.cache
def direct():
    """Traces and summary built without the command (as tests/validation/test_m3vit.py does)."""
    acc = arch.load("m3vit-zcu104")
    frames = {t: zoo.load("m3vit", tasks=[t]) for t in ("semseg", "depth")}
    traces = {"reordered": fpga.task_switch_trace(frames, SEQ, acc, schedule="expert_major"),
              "no reordering": fpga.task_switch_trace(frames, SEQ, acc, schedule="task_resident")}
    reload_bytes = {t: sum(sum(d["routed"].values()) for d in fpga.moe_layers(g).values()) for t, g in frames.items()}
    bw = acc.tier("ddr").bytes_per_s(acc.tech.clock_hz)
    return traces, timeline.switch_summary(traces).set_index("design"), reload_bytes, bw


@pytest.fixture(scope="module")
def run_out(tmp_path_factory):
    """One `dse tasks --json --out` run: (parsed JSON, output folder)."""
    d = tmp_path_factory.mktemp("tasks")
    r = dse("--sequence", ",".join(SEQ), "--out", str(d), "--json")
    assert r.exit_code == 0, r.output
    return json.loads(r.output), d


def test_numbers_equal_switch_summary_of_the_traces(run_out):
    s, _ = run_out
    _, table, _, _ = direct()
    rows = {r["design"]: r for r in s["designs"]}
    assert set(rows) == {"reordered", "no reordering"}
    for design, r in rows.items():
        assert r["frames"] == table.loc[design, "frames"] == len(SEQ)
        assert r["reloads"] == table.loc[design, "reloads"]
        assert r["reload_s"] == pytest.approx(table.loc[design, "reload_s"], rel=1e-12)
        assert r["makespan_s"] == pytest.approx(table.loc[design, "makespan_s"], rel=1e-12)
        assert r["compute_s"] == pytest.approx(r["makespan_s"] - r["reload_s"], rel=1e-12)


def test_reordering_has_no_reload_and_the_baseline_one_per_task_change(run_out):
    s, _ = run_out
    _, _, reload_bytes, bw = direct()
    rows = {r["design"]: r for r in s["designs"]}
    new, old = rows["reordered"], rows["no reordering"]
    assert new["reloads"] == 0 and new["reload_s"] == 0 and new["reload_bytes"] == 0
    # the first frame loads semseg's experts, frame 1 switches to depth, frame 2 stays on depth
    assert old["reloads"] == 2
    expected = reload_bytes["semseg"] + reload_bytes["depth"]
    assert old["reload_bytes"] == pytest.approx(expected)
    assert old["reload_s"] == pytest.approx(expected / bw)
    assert s["reload_tier"]["bytes_per_s"] == pytest.approx(19.2e9)  # UG1267's DDR4, as the preset says
    # the frames themselves take the same time either way: only the reloads differ
    assert old["compute_s"] == pytest.approx(new["compute_s"], rel=1e-9)
    v = s["verdict"]
    assert v["reloads_removed"] == 2 and v["reload_s_removed"] == pytest.approx(old["reload_s"])
    assert v["share"] == pytest.approx(old["reload_s"] / old["makespan_s"])
    assert v["line"] == (f"reordering removes 2 reloads, {old['reload_s'] * 1e3:.3f} ms "
                         f"({old['reload_s'] / old['makespan_s']:.1%} of the trace)")


def test_out_writes_figure_events_and_summary(run_out):
    s, d = run_out
    traces, _, _, _ = direct()
    assert {p.name for p in d.iterdir()} == {"task_switch.html", "task_switch.csv", "summary.json"}
    page = (d / "task_switch.html").read_text(encoding="utf-8")
    fig = timeline.task_switch_figure(traces)
    for trace in fig.data:  # every bar group of the figure, by its name and row
        assert f'"name":"{trace.name}"' in page
    assert json.dumps("no reordering · reload") in page  # the reload row (plotly's JSON escapes the dot)
    assert "Plotly.newPlot" in page
    assert s["verdict"]["line"] in page
    with open(d / "task_switch.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == sum(len(evs) for evs in traces.values())
    reloads = [r for r in rows if r["lane"] == "reload"]
    assert [(r["design"], int(r["frame"]), r["task"]) for r in reloads] == [("no reordering", 0, "semseg"),
                                                                          ("no reordering", 1, "depth")]
    assert json.loads((d / "summary.json").read_text(encoding="utf-8"))["designs"] == s["designs"]


def test_console_table_and_one_schedule():
    r = dse("--sequence", "depth,semseg", "--schedule", "task_resident")
    assert r.exit_code == 0, r.output
    assert "no reordering" in r.output and "reordered" not in r.output.replace("no reordering", "")
    _, _, reload_bytes, bw = direct()
    ms = (reload_bytes["depth"] + reload_bytes["semseg"]) / bw * 1e3
    assert f"{ms:.3f}" in r.output  # the reload column, in ms
    assert "reordering removes" not in r.output  # the verdict needs both designs


def test_set_override_changes_the_reload_time():
    r = dse("--sequence", "semseg", "--schedule", "task_resident", "--set", "memory.ddr.bandwidth_gbps=9.6", "--json")
    assert r.exit_code == 0, r.output
    row = json.loads(r.output)["designs"][0]
    _, _, reload_bytes, _ = direct()
    assert row["reload_s"] == pytest.approx(reload_bytes["semseg"] / 9.6e9)


@pytest.mark.parametrize("args, names", [
    (["--sequence", "semseg,segm"], ["'segm'", "semseg, depth"]),
    (["--sequence", ""], ["--sequence ''", "empty"]),
    (["--sequence", "semseg,,depth"], ["semseg,,depth", "empty task name"]),
    (["--workload", "vit-b16"], ["'vit-b16'", "no tasks", "m3vit"]),
    (["--arch", "tpu-v1"], ["'tpu-v1'", "no FPGA unit", "m3vit-zcu104"]),
    (["--schedule", "reorder"], ["'reorder'", "both, expert_major, task_resident"]),
])
def test_bad_input_is_named(args, names):
    r = dse(*args)
    assert r.exit_code == 2
    for n in names:
        assert n in r.output, r.output


def test_an_fpga_without_off_chip_memory_is_refused(tmp_path):
    spec = tmp_path / "no-ddr.yaml"
    spec.write_text("extends: m3vit-zcu104\nname: zcu104-no-ddr\nremove: [memory.ddr]\n", encoding="utf-8")
    r = dse("--arch", str(spec), "--sequence", "semseg")
    assert r.exit_code == 2
    assert "'zcu104-no-ddr' has no off-chip memory tier" in r.output and "bram:bram, uram:uram" in r.output
