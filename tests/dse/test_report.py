"""`dse report`: a self-contained HTML page with a fixed number of traces per figure, per-layer
breakdowns of the best designs read from the store, and every point as CSV and Parquet."""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest

from dse.pareto import pareto_mask
from dse.runner import run
from reports.dse_report import LAYER_DESIGNS, build, hypervolume_table, load_run, trace_counts, write_dse_report


@pytest.fixture(scope="module")
def toy_run(tmp_path_factory):
    from dse.space import Space
    from tests.dse.conftest import toy_dict

    space = Space.from_dict(toy_dict(axes={"units.mxu.rows": "8..256 log", "units.mxu.cols": [8, 64, 256],
                                           "units.mxu.dataflow": ["ws", "os"]},
                                     objectives=["latency", "area"], constraints=["area_mm2 <= 300"]))
    run_dir = tmp_path_factory.mktemp("run")
    run(space, run_dir)
    return run_dir


def test_report_files_and_page(toy_run, tmp_path):
    paths = write_dse_report(toy_run, tmp_path / "rep")
    page = paths["html"].read_text()
    assert page.count("plotly.js v") == 1  # plotly.js inlined once, nothing fetched
    assert not re.search(r"<script[^>]*\ssrc=", page)
    meta = json.loads(re.search(r"id='coex-report-meta'>(.*?)</script>", page).group(1))
    assert meta["figures"] == {"pareto": 3, "hypervolume": 1, "parallel": 1, "sensitivity": 12}
    assert meta["points"] == 36 and meta["drawn"]["pareto"] == 3 and meta["drawn"]["parallel"] == 1
    assert page.count("Plotly.newPlot") == 4
    for div in meta["figures"]:
        assert f'id="{div}"' in page
    assert "Best designs" in page and "units.mxu.rows" in page and "Failed points" in page

    csv = pd.read_csv(paths["csv"])
    pq = pd.read_parquet(paths["parquet"])
    assert len(csv) == len(pq) == 36
    assert list(pq.columns[:9]) == ["key", "seq", "batch", "status", "error", "created_at", "units.mxu.rows",
                                    "units.mxu.cols", "units.mxu.dataflow"]
    assert (csv["status"] == "error").sum() == 2  # 256x256 (x2 dataflows) does not fit the toy die
    assert {"pareto", "feasible", "latency_s", "area_mm2"} <= set(pq.columns)


def test_pareto_column_is_the_front_of_feasible_points(toy_run):
    space, df = load_run(toy_run)
    ok = df[(df["status"] == "ok") & df["feasible"]]
    F = ok[["latency_s", "area_mm2"]].to_numpy(float)
    assert set(ok.index[pareto_mask(F)]) == set(df.index[df["pareto"]])


def test_trace_counts_hold_for_one_two_and_three_objectives(toy_run):
    space, df = load_run(toy_run)
    for objectives in (["latency"], ["latency", "area"], ["latency", "area", "energy"]):
        sp = space.model_copy(update={"objectives": [o for o in _objectives(objectives)]})
        figs = build(sp, df)
        counts = trace_counts(sp)
        assert {k: len(f.data) for k, f in figs.items()} == counts
        assert counts["sensitivity"] == 2 * 3 * len(objectives)
    figs = build(space, df)
    front = next(t for t in figs["pareto"].data if t.name == "Pareto front")
    assert len(front.x) == int(df["pareto"].sum())
    assert "units.mxu.rows = " in front.text[0] and "latency_s = " in front.text[0]  # hover shows the design


def _objectives(names):
    from dse.space import Objective

    return [Objective(metric=n, sense="min") for n in names]


def test_hypervolume_grows_batch_by_batch(tmp_path, toy_space):
    space = toy_space(strategy={"name": "nsga2", "budget": 120, "population": 12})
    run(space, tmp_path)
    hv = hypervolume_table(*load_run(tmp_path))
    assert len(hv) == 10 and hv["points"].tolist() == list(range(12, 121, 12))
    assert np.all(np.diff(hv["hypervolume"]) >= -1e-12) and hv["hypervolume"].iloc[-1] > 0


def test_report_of_an_empty_or_failed_run(tmp_path, toy_space):
    space = toy_space(axes={"units.mxu.rows": [256], "units.mxu.cols": [256]})  # the only point fails
    run(space, tmp_path)
    paths = write_dse_report(tmp_path)
    assert "Failed points" in paths["html"].read_text()
    assert len(pd.read_parquet(paths["parquet"])) == 1


def test_report_shows_the_stored_per_layer_tables(sim_run):
    run_dir, paths = sim_run
    page = paths["html"].read_text()
    meta = json.loads(re.search(r"id='coex-report-meta'>(.*?)</script>", page).group(1))
    space, df = load_run(run_dir)
    n = min(LAYER_DESIGNS, int(df["pareto"].sum()))  # the front's best, drawn
    assert meta["figures"]["layers"] == meta["drawn"]["layers"] == 2 * n * len(space.workloads)
    assert 'id="layers"' in page and page.count("<details>") == int(df["pareto"].sum())
    assert "Per-layer tables of the best designs" in page
    layers = pd.read_csv(paths["layers_csv"])
    assert list(layers.columns) == ["key", "workload", "pos", "layer", "ops", "cycles", "latency_s", "flops",
                                    "energy_j", "utilization"]
    assert set(layers["key"]) == set(df.loc[df["pareto"], "key"])
