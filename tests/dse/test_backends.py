"""Backends: a worker that dies costs its point, not the run; the Ray backend gives the same store as
the local one (worker deaths included); bad backend names and a missing Ray fail before anything runs."""

from __future__ import annotations

import json
import os
import sys

import pytest
import yaml
from typer.testing import CliRunner

from dse.backends import DEATH_LIMIT, WORKER_DIED, Pool
from dse.cli import app
from dse.runner import run
from dse.space import Space
from tests.dse import toy
from tests.dse.conftest import toy_dict
from tests.dse.test_runner import rows

CRASH = "32,24"  # the toy point whose worker SIGKILLs itself
SPACE = toy_dict(axes={"units.mxu.rows": "8..64 step 8", "units.mxu.cols": "8..64 step 8"},
                 strategy={"name": "nsga2", "budget": 48, "population": 12, "seed": 2})


@pytest.fixture(scope="module")
def crashed_run(tmp_path_factory):
    """The toy space on a 2-process pool where one point kills its worker; and the same without it."""
    base = tmp_path_factory.mktemp("crash")
    os.environ["COEX_TOY_CRASH"] = CRASH
    try:
        summary = run(Space.from_dict(SPACE), base / "pool", workers=2)
    finally:
        del os.environ["COEX_TOY_CRASH"]
    run(Space.from_dict(SPACE), base / "inline")
    return base, summary


def test_a_dead_worker_costs_its_point_not_the_run(crashed_run):
    base, summary = crashed_run
    crashed, whole = rows(base / "pool"), rows(base / "inline")
    assert summary.total == summary.evaluated == 48 and summary.errors == 1
    (dead,) = [k for k, v in crashed.items() if v[4] == "error"]
    seq, batch, params, metrics, status, error = crashed[dead]
    assert f"{params['units.mxu.rows']},{params['units.mxu.cols']}" == CRASH
    assert metrics is None and error == WORKER_DIED
    assert whole[dead][4] == "ok"
    # every point before the crash is the same as in the uninterrupted run (after it, NSGA-II sees an error)
    assert {k: v for k, v in crashed.items() if v[0] < seq} == {k: v for k, v in whole.items() if v[0] < seq}


def test_workers_that_always_die_stop_the_run(tmp_path):
    pool = Pool(dict, workers=2, run_hint=": resume it")
    try:
        with pytest.raises(RuntimeError, match=f"{DEATH_LIMIT} points in a row killed their worker.*resume it"):
            list(pool.map(toy.die, [(i, {"i": i}) for i in range(DEATH_LIMIT + 3)]))
        assert sorted(j[0] for j, _ in pool.map(toy.echo, [(i, {"i": i}) for i in range(5)])) == list(range(5))
    finally:
        pool.close()


def test_ray_backend_matches_the_local_one(crashed_run, tmp_path, monkeypatch):
    """`dse run --backend ray` on a local Ray cluster: the same store as the process pool, the dead
    worker's point included."""
    pytest.importorskip("ray", reason="the ray backend needs the dist extra (pip install 'coex[dist]')")
    base, _ = crashed_run
    space_file = tmp_path / "space.yaml"
    space_file.write_text(yaml.safe_dump(SPACE, sort_keys=False))
    monkeypatch.setenv("COEX_TOY_CRASH", CRASH)  # inherited by the Ray workers started below
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    r = CliRunner().invoke(app, ["run", str(space_file), "--out", str(tmp_path / "ray"), "--backend", "ray",
                                 "--workers", "2", "--json"])
    assert r.exit_code == 0, r.output
    summary = json.loads(r.stdout[r.stdout.index("{"):])
    assert summary["total"] == 48 and summary["errors"] == 1
    assert rows(tmp_path / "ray") == rows(base / "pool")


def test_bad_backend_and_missing_ray_fail_before_anything_runs(tmp_path, monkeypatch):
    space_file = tmp_path / "space.yaml"
    space_file.write_text(yaml.safe_dump(SPACE, sort_keys=False))
    with pytest.raises(ValueError, match="unknown backend 'spark'; expected one of local, ray"):
        run(Space.from_dict(SPACE), tmp_path / "a", backend="spark")
    monkeypatch.setitem(sys.modules, "ray", None)  # as if Ray were not installed
    r = CliRunner().invoke(app, ["run", str(space_file), "--out", str(tmp_path / "b"), "--backend", "ray"])
    assert r.exit_code == 2 and "needs Ray (ray>=2.9, coex's dist extra): pip install ray" in r.output
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()
