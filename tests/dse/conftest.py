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
