"""Space files: range syntax, shorthands, and one error naming the field for each kind of mistake."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from dse.space import METRICS, Space, SpaceError, parse_range, point_key
from tests.dse.conftest import toy_dict

EXAMPLES = Path(__file__).parents[2] / "dse" / "examples"


@pytest.mark.parametrize("text, values", [
    ("16..128 step 16", [16, 32, 48, 64, 80, 96, 112, 128]),
    ("1..4", [1, 2, 3, 4]),
    ("256KiB..2MiB log", [262144, 524288, 1048576, 2097152]),
    ("32..256 log", [32, 64, 128, 256]),
    ("8..1000 log 4", [8, 40, 200, 1000]),
    ("0.5..1.5 step 0.25", [0.5, 0.75, 1.0, 1.25, 1.5]),
    ("1e9..2e9 log 3", [1e9, 1414213562.37, 2e9]),
    ("10..25 step 10", [10, 20]),
])
def test_range_expands(text, values):
    assert parse_range(text) == pytest.approx(values)


@pytest.mark.parametrize("text, words", [
    ("4..2", "below"), ("1..x", "not a number"), ("3..9 step", "needs a size"), ("0..8 log", "positive"),
    ("1..8 step -1", "positive"), ("1..8 log 1", "N >= 2"), ("sixteen", "expected a list or a range"),
])
def test_bad_range_says_why(text, words):
    with pytest.raises(ValueError, match=words):
        parse_range(text)


def test_example_space_loads():
    s = Space.from_yaml(EXAMPLES / "tpu_sweep.yaml")
    assert s.size == 4 * 4 * 2 * 4
    assert [o.metric for o in s.objectives] == ["latency", "energy", "area"]
    assert [o.sense for o in s.objectives] == ["min", "min", "min"]
    assert s.axes["units.mxu.cols"] == [32, 64, 128, 256]
    assert s.budget == s.size


def test_shorthands_and_defaults(toy_space):
    s = toy_space(objectives=["throughput", {"metric": "edp", "sense": "max"}],
                  strategy={"name": "random", "budget": 5}, constraints="power <= 5")
    assert [(o.metric, o.sense, o.key) for o in s.objectives] == [("throughput", "max", "throughput"),
                                                                 ("edp", "max", "edp_js")]
    assert s.constraints[0].key == "power_w"
    assert s.workloads[0].name == "bert-base" and s.workloads[0].weight == 1.0
    assert set(METRICS) == {"latency", "throughput", "energy", "edp", "area", "power", "perf_per_w", "perf_per_mm2"}


def test_objective_vector_negates_maxima(toy_space):
    s = toy_space(objectives=["latency", "throughput"])
    assert s.objective_vector({"latency_s": 2.0, "throughput": 5.0}) == [2.0, -5.0]


def test_constraint_violation(toy_space):
    s = toy_space(constraints=["area_mm2 <= 100", "throughput > 10"])
    assert s.violation({"area_mm2": 100, "throughput": 11}) == 0
    assert s.violation({"area_mm2": 150, "throughput": 11}) == pytest.approx(0.5)
    assert s.violation({"area_mm2": 50, "throughput": 10}) > 0
    assert s.violation({"area_mm2": 50}) == float("inf")


def test_point_key_ignores_dict_order():
    assert point_key({"a": 1, "b": "x"}) == point_key({"b": "x", "a": 1})
    assert point_key({"a": 1}) != point_key({"a": 2})


def test_decode_encode_unravel(toy_space):
    s = toy_space()
    assert s.unravel(0) == (0, 0) and s.unravel(1) == (0, 1) and s.unravel(32) == (1, 0)
    p = s.decode(s.unravel(33))
    assert p == {"units.mxu.rows": 16, "units.mxu.cols": 16}
    assert s.encode(p) == (1, 1)


def _error(tmp_path: Path, **changes) -> str:
    with pytest.raises(SpaceError) as e:
        Space.from_dict(toy_dict(**changes), origin="space.yaml")
    msg = str(e.value)
    assert msg.startswith("space.yaml: ") and "\n" not in msg
    return msg


@pytest.mark.parametrize("changes, words", [
    ({"axes": {"units.mxu.rowz": [8, 16]}}, ["axes.units.mxu.rowz", "rowz", "did you mean 'rows'"]),
    ({"axes": {"units.npu.rows": [8]}}, ["axes.units.npu.rows", "no item named 'npu'", "mxu"]),
    ({"axes": {"units.mxu.rows": [8, -8]}}, ["axes.units.mxu.rows", "value -8", "greater than 0"]),
    ({"axes": {"units.mxu.pe": ["int8", "int3"]}}, ["axes.units.mxu.pe", "'int3'", "unknown PE type"]),
    ({"axes": {"units.mxu.rows": "9..1"}}, ["axes.units.mxu.rows", "below"]),
    ({"axes": {"units.mxu.rows": [8, 8]}}, ["units.mxu.rows", "repeated"]),
    ({"axes": {}}, ["axes"]),
    ({"objectives": ["latncy"]}, ["objectives", "unknown objective 'latncy'", "latency"]),
    ({"objectives": ["latency", "latency"]}, ["objectives", "twice"]),
    ({"objectives": ["latency", "energy", "area", "power"]}, ["objectives", "at most 3"]),
    ({"objectives": [{"metric": "latency", "sense": "up"}]}, ["objectives.0.sense", "'min' or 'max'"]),
    ({"constraints": ["area_mm2 = 3"]}, ["constraints", "area_mm2 <= 100"]),
    ({"strategy": {"name": "nsga2"}}, ["strategy.budget", "needs a budget"]),
    ({"strategy": {"name": "grid", "budget": 3}}, ["strategy.budget", "below the grid's 1024"]),
    ({"strategy": {"name": "annealing", "budget": 3}}, ["strategy.name", "'nsga2'"]),
    ({"strategy": {"name": "random", "budget": 3, "library": "pymoo"}}, ["strategy.library", "takes no library"]),
    ({"strategy": {"name": "nsga2", "budget": 3, "library": "deap"}}, ["strategy.library", "'builtin' or 'pymoo'"]),
    ({"strategy": {"name": "random", "budget": 3, "popsize": 4}}, ["strategy.popsize", "unknown field", "population"]),
    ({"workloads": [{"name": "bert-base", "weight": 0}]}, ["workloads.0.weight", "greater than 0"]),
    ({"base": "tpu-v9"}, ["base", "unknown accelerator 'tpu-v9'", "tpu-v1"]),
    ({"evaluator": "nosuch.module:evaluate"}, ["evaluator", "nosuch"]),
    ({"speed": 3}, ["speed", "unknown field"]),
])
def test_invalid_space_names_the_field(tmp_path, changes, words):
    msg = _error(tmp_path, **changes)
    for w in words:
        assert w in msg, (w, msg)


def test_unknown_workload_fails_up_front():
    d = toy_dict(workloads=["bert-bsae"])
    del d["evaluator"]
    with pytest.raises(SpaceError, match=r"workloads\[0\] \(bert-bsae\).*did you mean 'bert-base'"):
        Space.from_dict(d, origin="space.yaml")


def test_duplicate_yaml_key_is_an_error(tmp_path):
    p = tmp_path / "s.yaml"
    p.write_text("base: tpu-v1\nbase: tpu-v1\naxes: {units.mxu.rows: [8]}\nworkloads: [bert-base]\n"
                 "objectives: [latency]\n")
    with pytest.raises(SpaceError, match="duplicate key 'base'"):
        Space.from_yaml(p)


def test_base_path_is_relative_to_the_space_file(tmp_path):
    (tmp_path / "mine.yaml").write_text("extends: tpu-v1\nname: mine\n")
    p = tmp_path / "s.yaml"
    p.write_text("base: mine.yaml\naxes: {units.mxu.rows: [8, 16]}\nworkloads: [bert-base]\n"
                 "objectives: [latency]\nevaluator: tests.dse.toy:evaluate\n")
    assert Space.from_yaml(p).base_dict["name"] == "mine"


def test_tpe_without_optuna_is_a_clear_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "optuna", None)
    with pytest.raises(SpaceError, match="strategy: 'tpe' needs optuna"):
        Space.from_dict(toy_dict(strategy={"name": "tpe", "budget": 10}), origin="space.yaml")


def test_pymoo_without_pymoo_is_a_clear_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "pymoo", None)
    with pytest.raises(SpaceError, match=r"space.yaml: strategy: 'nsga2' with library 'pymoo' needs pymoo.*dev extra"):
        Space.from_dict(toy_dict(strategy={"name": "nsga2", "library": "pymoo", "budget": 10}), origin="space.yaml")


def test_fingerprint_keeps_the_builtin_default_and_tells_pymoo_apart(toy_space):
    import hashlib
    import json

    a = toy_space(strategy={"name": "nsga2", "budget": 10})
    assert a.strategy.library == "builtin"
    d = a.model_dump(mode="json")
    d["axis_order"] = list(a.axes)
    d["strategy"].pop("budget")
    d["strategy"].pop("library")
    # the formula of runs stored before `library` existed: they still resume
    assert a.fingerprint() == hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()[:16]
    assert a.fingerprint() == toy_space(strategy={"name": "nsga2", "budget": 10, "library": "builtin"}).fingerprint()
    assert a.fingerprint() != toy_space(strategy={"name": "nsga2", "budget": 10, "library": "pymoo"}).fingerprint()


def test_fingerprint_ignores_budget_only(toy_space):
    a = toy_space(strategy={"name": "random", "budget": 10})
    assert a.fingerprint() == toy_space(strategy={"name": "random", "budget": 20}).fingerprint()
    assert a.fingerprint() != toy_space(strategy={"name": "random", "budget": 10, "seed": 1}).fingerprint()
    swapped = toy_space(strategy={"name": "random", "budget": 10},
                        axes={"units.mxu.cols": "8..256 step 8", "units.mxu.rows": "8..256 step 8"})
    assert a.fingerprint() != swapped.fingerprint()  # the axes' order decides the points a seed proposes


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.yaml")), ids=lambda p: p.stem)
def test_every_example_space_is_valid(path):
    space = Space.from_yaml(path)
    assert space.budget > 0 and space.evaluator == "sim"
