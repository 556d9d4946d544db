"""`dse run` and `dse report` through typer's runner: a run, a resume, a report, and the one-line
errors (exit code 2) for bad spaces and arguments."""

from __future__ import annotations

import json

import yaml
from typer.testing import CliRunner

from dse.cli import app
from tests.dse.conftest import toy_dict

runner = CliRunner()


def dse(*args: str):
    return runner.invoke(app, [str(a) for a in args])


def _space(tmp_path, **changes):
    p = tmp_path / "space.yaml"
    p.write_text(yaml.safe_dump(toy_dict(**changes)))
    return p


def test_help_lists_run_and_report():
    r = dse("--help")
    assert r.exit_code == 0 and "run" in r.output and "report" in r.output


def test_run_resume_report(tmp_path):
    space = _space(tmp_path, strategy={"name": "random", "budget": 20})
    r = dse("run", space, "--out", tmp_path / "run")  # with the progress bar
    assert r.exit_code == 0, r.output
    assert "points in store" in r.output and "best latency" in r.output
    r = dse("run", space, "--resume", tmp_path / "run", "--json")
    assert r.exit_code == 0, r.output
    summary = json.loads(r.output)
    assert summary["total"] == 20 and summary["resumed"] == 20 and summary["evaluated"] == 0
    r = dse("report", tmp_path / "run", "--json")
    assert r.exit_code == 0, r.output
    paths = json.loads(r.output)
    assert paths["html"].endswith("report.html") and (tmp_path / "run" / "points.parquet").exists()


def test_bad_space_is_one_line_and_exit_2(tmp_path):
    space = _space(tmp_path, axes={"units.mxu.rowz": [8, 16]})
    r = dse("run", space, "--out", tmp_path / "run")
    assert r.exit_code == 2
    assert "axes.units.mxu.rowz" in r.output and "Traceback" not in r.output
    assert not (tmp_path / "run").exists()  # nothing ran, nothing was written


def test_argument_errors_exit_2(tmp_path):
    space = _space(tmp_path, strategy={"name": "random", "budget": 4})
    assert "exactly one of --out" in dse("run", space).output
    assert dse("run", space, "--out", tmp_path / "a", "--resume", tmp_path / "a").exit_code == 2
    assert "--workers must be at least 1" in dse("run", space, "--out", tmp_path / "a", "--workers", "0").output
    r = dse("run", space, "--resume", tmp_path / "nothing")
    assert r.exit_code == 2 and "no results.sqlite" in r.output
    r = dse("run", tmp_path / "missing.yaml", "--out", tmp_path / "b")
    assert r.exit_code == 2 and "cannot read" in r.output
    r = dse("report", tmp_path / "nothing")
    assert r.exit_code == 2 and "no such run directory" in r.output
    assert dse("run", space, "--out", tmp_path / "c", "--no-progress").exit_code == 0
    r = dse("run", space, "--out", tmp_path / "c")
    assert r.exit_code == 2 and "already holds a run" in r.output
