"""Small spaces for the DSE suite: the toy evaluator (closed forms, no simulator) over tpu-v1's MXU shape."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from dse.space import Space

TOY: dict[str, Any] = {
    "name": "toy",
    "base": "tpu-v1",
    "axes": {"units.mxu.rows": "8..256 step 8", "units.mxu.cols": "8..256 step 8"},
    "workloads": ["bert-base"],
    "objectives": ["latency", "area"],
    "constraints": ["area_mm2 <= 300"],
    "strategy": {"name": "grid"},
    "evaluator": "tests.dse.toy:evaluate",
}


def toy_dict(**changes: Any) -> dict[str, Any]:
    d = copy.deepcopy(TOY)
    d.update(changes)
    return d


@pytest.fixture
def toy_space():
    def make(**changes: Any) -> Space:
        return Space.from_dict(toy_dict(**changes))

    return make


SIM_SPACE: dict[str, Any] = {  # the simulator on a 2-layer BERT, two workloads: seconds, with per-layer tables
    "name": "small-bert",
    "base": "tpu-v1",
    "axes": {"units.mxu.rows": [32, 64, 128], "units.mxu.cols": [32, 128]},
    "workloads": [{"name": "bert-base", "kwargs": {"num_hidden_layers": 2, "seq_len": 32}},
                  {"name": "bert-base", "weight": 2, "kwargs": {"num_hidden_layers": 2, "seq_len": 64}}],
    "objectives": ["latency", "area"],
}


@pytest.fixture(scope="session")
def sim_run(tmp_path_factory):
    """A finished run of `SIM_SPACE` (one worker) and its report: (run_dir, report paths)."""
    from dse.runner import run
    from reports.dse_report import write_dse_report

    run_dir = tmp_path_factory.mktemp("sim_run")
    run(Space.from_dict(copy.deepcopy(SIM_SPACE)), run_dir)
    return run_dir, write_dse_report(run_dir)
