"""What makes a DSE point cheap, checked for correctness (speed itself is measured in
benchmarks/bench_dse.py, never asserted here):

- `sim.Result` computes its summary from the per-op columns and makes the per-op DataFrame only when
  ``per_op`` is read: the summary must equal what the DataFrame gives (the formulas of the
  `sim.result` docstring, recomputed here with pandas), and reading ``per_op`` must give the table.
- `dse.backends.start_method`: forked workers when the process has one thread, spawned otherwise, and
  ``COEX_DSE_START_METHOD`` overrides it (a bad value is an error naming the variable); a forked and a
  spawned pool write the same store.
- benchmarks/bench_dse.py's ZigZag comparison is skipped, saying why, when ZigZag is absent.
"""

from __future__ import annotations

import argparse
import importlib.util
import threading
from pathlib import Path

import pandas as pd
import pytest

import arch
import sim
import workloads
from dse import backends
from dse.runner import run
from dse.space import Space
from tests.dse.conftest import toy_dict
from tests.dse.test_runner import rows


@pytest.fixture(scope="module")
def bert_result():
    graph = workloads.load("bert-base", num_hidden_layers=2, seq_len=32)
    return sim.simulate(graph, arch.load("tpu-v1"))


def test_summary_is_what_the_per_op_table_sums_to(bert_result):
    r = bert_result
    assert r._per_op is None, "simulate built the per-op DataFrame before anyone asked for it"
    df = r.per_op
    s = r.summary
    assert isinstance(df, pd.DataFrame) and len(df) == s["ops"] > 20
    assert r.per_op is df  # built once
    for comp in sim.ppa.ENERGY_COMPONENTS:
        assert s[f"energy_{comp}_j"] == pytest.approx(df[f"energy_{comp}_j"].sum(), rel=1e-12, abs=0)
    assert s["energy_j"] == pytest.approx(df["energy_j"].sum(), rel=1e-12)
    assert s["flops"] == int(df["flops"].sum()) and s["macs"] == int(df["macs"].sum())
    for tier in ("unified_buffer", "dram"):
        assert s[f"{tier}_bytes"] == pytest.approx(df[f"bytes_{tier}"].sum(), rel=1e-12)
    busy = df.groupby("unit")["latency_s"].sum()
    assert s["mxu_busy_s"] == pytest.approx(busy["mxu"], rel=1e-12) and s["mxu_busy_s"] > 0
    work = df[df["macs"] > 0]
    cycles = round(s["latency_s"] * s["clock_hz"])
    util = (work["utilization"] * work["cycles"]).sum() / (work["unit"].nunique() * cycles)
    assert s["utilization"] == pytest.approx(util, rel=1e-12) and 0 < s["utilization"] < 1
    sel = df[(df["utilization"] > 0) & (df["flops"] > 0)]
    peak = (sel["flops"] / (sel["utilization"] * sel["cycles"])).groupby(sel["unit"]).max().sum()
    assert s["peak_flops_per_s"] == pytest.approx(peak * s["clock_hz"], rel=1e-12)
    # tpu-v1 (the preset): a 256 x 256 MAC array and a 256-lane vector unit at 700 MHz
    assert s["peak_flops_per_s"] == pytest.approx((2 * 256 * 256 + 256) * 700e6, rel=1e-9)


def test_a_result_made_from_a_frame_keeps_it(bert_result):
    df = bert_result.per_op.head(3)
    r = sim.Result(df, {"latency_s": 1.0})
    assert r.per_op is df and r.trace == [] and "3 ops" in repr(r)
    with pytest.raises(TypeError, match="per_op"):
        sim.Result(None, {})


def test_start_method_forks_only_a_single_threaded_process(monkeypatch):
    monkeypatch.delenv("COEX_DSE_START_METHOD", raising=False)
    assert backends.start_method() == ("fork" if threading.active_count() == 1 else "spawn")
    stop = threading.Event()
    t = threading.Thread(target=stop.wait)
    t.start()
    try:
        assert backends.start_method() == "spawn"  # a lock held by the other thread could be forked held
    finally:
        stop.set()
        t.join()
    monkeypatch.setenv("COEX_DSE_START_METHOD", "spawn")
    assert backends.start_method() == "spawn"
    monkeypatch.setenv("COEX_DSE_START_METHOD", "vfork")
    with pytest.raises(ValueError, match="COEX_DSE_START_METHOD='vfork': expected one of .*spawn"):
        backends.start_method()


def test_forked_and_spawned_pools_write_the_same_store(tmp_path, monkeypatch):
    space = Space.from_dict(toy_dict(axes={"units.mxu.rows": "8..48 step 8", "units.mxu.cols": [8, 16, 32]}))
    stores = {}
    for method in ("fork", "spawn"):
        monkeypatch.setenv("COEX_DSE_START_METHOD", method)
        s = run(space, tmp_path / method, workers=2)
        assert s.evaluated == 18 and s.errors == 0
        stores[method] = rows(tmp_path / method)
    assert stores["fork"] == stores["spawn"] and len(stores["fork"]) == 18


def test_bench_dse_skips_zigzag_saying_why(capsys):
    path = Path(__file__).parents[2] / "benchmarks" / "bench_dse.py"
    spec = importlib.util.spec_from_file_location("bench_dse", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    args = argparse.Namespace(no_zigzag=False, zigzag_python="/nonexistent/python", gemm=[8, 16, 16], sizes=[4],
                              lpf_limit=2)
    bench.zigzag_table(args)
    out = capsys.readouterr().out
    assert "ZigZag comparison skipped: ZigZag's Python '/nonexistent/python' does not exist" in out
    assert bench.zigzag_python(argparse.Namespace(no_zigzag=True, zigzag_python=None)) == (None, "--no-zigzag")


def test_a_forking_pool_forks_before_the_run_starts_threads(monkeypatch):
    monkeypatch.setenv("COEX_DSE_START_METHOD", "fork")
    pool = backends.Pool(dict, workers=2)
    try:
        # the workers exist as soon as the pool does: the progress bar's thread, started later, is never forked
        assert len(pool.pool._processes) == 2
    finally:
        pool.close()
