"""The runner: every point stored once, failures stored and skipped over, determinism across worker
counts, resume after SIGKILL, the real simulator behind the default evaluator, and per-layer tables
of the best points."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from dse.runner import LAYER_POINTS, aggregate, best_keys, derive, run
from dse.space import Space, point_key
from dse.store import Store
from tests.dse.conftest import toy_dict

ROOT = Path(__file__).parents[2]


def rows(run_dir: Path) -> dict[str, tuple]:
    """key -> (seq, batch, params, metrics, status, error) of every stored point."""
    with Store.open(run_dir) as s:
        return {r.key: (r.seq, r.batch, r.params, r.metrics, r.status, r.error) for r in s.records()}


def test_grid_run_stores_every_point_and_failures(tmp_path, toy_space):
    space = toy_space()
    summary = run(space, tmp_path / "run")
    stored = rows(tmp_path / "run")
    assert summary.total == len(stored) == 1024 and summary.evaluated == 1024 and summary.resumed == 0
    errors = {k: v for k, v in stored.items() if v[4] == "error"}
    assert len(errors) == summary.errors == sum(1 for r in range(8, 257, 8) for c in range(8, 257, 8) if r * c > 2**15)
    seq, batch, params, metrics, status, error = next(iter(errors.values()))
    assert metrics is None and "ValueError" in error and "does not fit" in error
    ok = [v for v in stored.values() if v[4] == "ok"]
    assert all(v[3]["feasible"] == (v[3]["area_mm2"] <= 300) for v in ok)
    assert summary.infeasible == sum(1 for v in ok if not v[3]["feasible"])
    assert sorted(v[0] for v in stored.values()) == list(range(1024))
    assert all(point_key(v[2]) == k for k, v in stored.items())
    assert {"edp_js", "power_w", "throughput", "perf_per_w", "perf_per_mm2"} <= set(ok[0][3])
    assert summary.best["latency"]["params"] == {"units.mxu.rows": 160, "units.mxu.cols": 160}


def test_refuses_to_overwrite_and_checks_the_space_on_resume(tmp_path, toy_space):
    space = toy_space(strategy={"name": "random", "budget": 10})
    run(space, tmp_path)
    with pytest.raises(ValueError, match="already holds a run"):
        run(space, tmp_path)
    with pytest.raises(ValueError, match="different space"):
        run(toy_space(strategy={"name": "random", "budget": 10, "seed": 9}), tmp_path, resume=True)


def test_resume_with_a_larger_budget_extends_the_same_sequence(tmp_path, toy_space):
    run(toy_space(strategy={"name": "nsga2", "budget": 60, "population": 12}), tmp_path / "a")
    s = run(toy_space(strategy={"name": "nsga2", "budget": 120, "population": 12}), tmp_path / "a", resume=True)
    assert s.resumed == 60 and s.evaluated == 60
    run(toy_space(strategy={"name": "nsga2", "budget": 120, "population": 12}), tmp_path / "b")
    assert rows(tmp_path / "a") == rows(tmp_path / "b")


def test_two_workers_give_the_same_points_as_one(tmp_path, toy_space):
    space = toy_space(strategy={"name": "nsga2", "budget": 80, "population": 16, "seed": 5})
    run(space, tmp_path / "one", workers=1)
    run(space, tmp_path / "two", workers=2)
    assert rows(tmp_path / "one") == rows(tmp_path / "two")


def test_aggregate_weights_workloads():
    per = {"a": {"latency_s": 1.0, "energy_j": 2.0, "area_mm2": 5.0, "throughput": 1.0},
           "b": {"latency_s": 3.0, "energy_j": 4.0, "area_mm2": 5.0, "throughput": 1 / 3}}
    m = aggregate(per, {"a": 1.0, "b": 3.0})
    assert m["latency_s"] == pytest.approx(2.5) and m["energy_j"] == pytest.approx(3.5)
    assert m["throughput"] == pytest.approx(1 / 2.5) and m["power_w"] == pytest.approx(3.5 / 2.5)
    assert m["area_mm2"] == 5.0 and m["edp_js"] == pytest.approx(3.5 * 2.5)
    assert derive({"latency_s": 2.0, "energy_j": 4.0, "area_mm2": 2.0}) == {
        "latency_s": 2.0, "energy_j": 4.0, "area_mm2": 2.0, "throughput": 0.5, "power_w": 2.0, "edp_js": 8.0,
        "perf_per_w": 0.25, "perf_per_mm2": 0.25}


def test_default_evaluator_runs_the_simulator(tmp_path):
    space = Space.from_dict({
        "base": "tpu-v1",
        "axes": {"units.mxu.rows": [32, 128], "units.mxu.cols": [32, 128]},
        "workloads": [{"name": "bert-base", "kwargs": {"num_hidden_layers": 1, "seq_len": 32}},
                      {"name": "bert-base", "weight": 2, "kwargs": {"num_hidden_layers": 1, "seq_len": 64}}],
        "objectives": ["latency", "energy", "area"],
    })
    summary = run(space, tmp_path)
    assert summary.total == 4 and summary.errors == 0
    stored = rows(tmp_path)
    metrics = [v[3] for v in stored.values()]
    for m in metrics:
        assert m["latency_s"] > 0 and m["energy_j"] > 0 and m["area_mm2"] > 0
        assert len(m["per_workload"]) == 2
    big = next(m for v, m in zip(stored.values(), metrics) if v[2] == {"units.mxu.rows": 128, "units.mxu.cols": 128})
    small = next(m for v, m in zip(stored.values(), metrics) if v[2] == {"units.mxu.rows": 32, "units.mxu.cols": 32})
    assert big["area_mm2"] > small["area_mm2"]


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-c", "from dse.cli import main; main()", *args]


def kill_then_resume(space_file: Path, tmp_path: Path, kill_at: int) -> tuple[Path, dict, dict]:
    """Start a 2-worker `dse run` of `space_file`, SIGKILL it (and its workers) once `kill_at` points are
    stored, resume it, and check that no stored point was lost or rewritten and none evaluated twice.
    Returns the run dir and the stored records before the kill and after the resume."""
    run_dir = tmp_path / "run"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "COEX_TOY_SLEEP": "0.01", "COEX_TOY_LOG": str(tmp_path / "log1")}
    proc = subprocess.Popen(_cli("run", str(space_file), "--out", str(run_dir), "--workers", "2", "--no-progress"),
                            cwd=ROOT, env=env, start_new_session=True, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    db = run_dir / "results.sqlite"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        if db.exists():
            try:
                if sqlite3.connect(db).execute("SELECT COUNT(*) FROM points").fetchone()[0] >= kill_at:
                    break
            except sqlite3.OperationalError:
                pass
        time.sleep(0.02)
    assert proc.poll() is None, f"the run ended before it could be killed: {proc.stderr.read().decode()}"
    os.killpg(proc.pid, signal.SIGKILL)  # the run and its workers: a process group this test started
    proc.wait()
    with Store.open(run_dir) as s:
        before = {r.key: r for r in s.records()}

    env["COEX_TOY_LOG"] = str(tmp_path / "log2")
    res = subprocess.run(_cli("run", str(space_file), "--resume", str(run_dir), "--workers", "2", "--no-progress",
                              "--json"), cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    with Store.open(run_dir) as s:
        after = {r.key: r for r in s.records()}
    assert all(after[k] == r for k, r in before.items())  # nothing lost, nothing rewritten
    resumed_evals = (tmp_path / "log2").read_text().splitlines()
    assert len(resumed_evals) == len(after) - len(before)  # nothing evaluated twice
    return run_dir, before, after


def test_sigkill_then_resume_loses_and_repeats_nothing(tmp_path):
    """SIGKILL a 2-worker `dse run` mid-way, resume it, and compare with an uninterrupted run."""
    space_file = tmp_path / "space.yaml"
    space_file.write_text(yaml.safe_dump(toy_dict(axes={"units.mxu.rows": "8..128 step 8",
                                                        "units.mxu.cols": "8..128 step 8"},
                                                  strategy={"name": "nsga2", "budget": 160, "population": 16})))
    run_dir, before, _ = kill_then_resume(space_file, tmp_path, kill_at=40)
    assert 40 <= len(before) < 160
    run(Space.from_yaml(space_file), tmp_path / "whole")  # uninterrupted, in this process
    assert rows(run_dir) == rows(tmp_path / "whole")


def test_best_points_get_per_layer_tables(sim_run, tmp_path):
    """The simulator's run stores a per-layer table for each point of its front; each workload's
    layers sum to that workload's energy; a resume writes none again; evaluators without `layers`
    (the toy) store none."""
    run_dir, _ = sim_run
    with Store.open(run_dir) as s:
        space = Space.model_validate_json(s.meta()["space_json"])
        best = best_keys(space, s.records())
        assert 2 <= len(best) <= LAYER_POINTS and s.layer_keys() == set(best)
        for key in best:
            per_workload = s.get(key).metrics["per_workload"]
            layers = s.layers(key)
            assert {r["workload"] for r in layers} == set(per_workload)
            for label, summary in per_workload.items():
                mine = [r for r in layers if r["workload"] == label]
                assert [r["pos"] for r in mine] == list(range(len(mine)))
                assert sum(r["energy_j"] for r in mine) == pytest.approx(summary["energy_j"], rel=1e-9)
                assert sum(r["ops"] for r in mine) == summary["ops"]
    assert run(space, run_dir, resume=True).layers == 0

    toy = run(Space.from_dict(toy_dict(strategy={"name": "random", "budget": 10})), tmp_path)
    with Store.open(tmp_path) as s:
        assert toy.layers == 0 and s.layer_keys() == set()


def test_best_keys_rank_the_feasible_front_by_the_first_objective(tmp_path, toy_space):
    space = toy_space()
    run(space, tmp_path)
    with Store.open(tmp_path) as s:
        recs = list(s.records())
    keys = best_keys(space, recs, limit=1000)
    lat = {r.key: r.metrics["latency_s"] for r in recs if r.metrics}
    assert [lat[k] for k in keys] == sorted(lat[k] for k in keys)
    front = [r for r in recs if r.key in keys]
    assert all(r.metrics["feasible"] for r in front) and len(best_keys(space, recs)) == min(LAYER_POINTS, len(keys))
