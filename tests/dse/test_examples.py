"""Every space in dse/examples/ runs with the commands written in its header (the README's lines), on a
small budget: ``dse run SPACE --out RUN_DIR --workers 2`` stores every point without an error, and
``dse report RUN_DIR`` writes the report (run for one example, since the report does not depend on
which; the others check that their line names the run directory).  What differs from the file as
shipped: the budget (4 points: a grid becomes 4 random points of itself, NSGA-II a population of 4),
the run directory (a temporary one instead of runs/) and one worker instead of two (the process pool
is tested in test_backends.py and test_speed.py)."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from dse.cli import app
from dse.space import Space
from dse.store import Store

EXAMPLES = Path(__file__).parents[2] / "dse" / "examples"
BUDGET = 4
REPORTED = "tpu_sweep"


def header_commands(path: Path) -> list[list[str]]:
    """The ``#   dse ...`` command lines of a space file's header comment."""
    cmds = []
    for line in path.read_text().splitlines():
        if not line.startswith("#"):
            break
        text = line.lstrip("# ").strip()
        if text.startswith("dse "):
            cmds.append(shlex.split(text)[1:])
    return cmds


def small_copy(path: Path, into: Path) -> Path:
    data = yaml.safe_load(path.read_text())
    strategy = data.get("strategy", "grid")
    strategy = dict(strategy) if isinstance(strategy, dict) else {"name": strategy}
    if strategy["name"] == "grid":  # a grid runs all its points: a random sample of them instead
        strategy = {"name": "random", "seed": strategy.get("seed", 0)}
    strategy["budget"] = BUDGET
    if strategy["name"] == "nsga2":
        strategy["population"] = BUDGET
    data["strategy"] = strategy
    out = into / path.name
    out.write_text(yaml.safe_dump(data, sort_keys=False))
    return out


@pytest.mark.parametrize("example", sorted(EXAMPLES.glob("*.yaml")), ids=lambda p: p.stem)
def test_example_runs_with_its_header_commands(example, tmp_path):
    cmds = header_commands(example)
    assert [c[0] for c in cmds] == ["run", "report"], f"{example.name}: header should show dse run, dse report"
    space_file = small_copy(example, tmp_path)
    Space.from_yaml(space_file)  # validates as a space
    runner = CliRunner()
    run_dir = None
    for cmd in cmds:
        args = []
        for a in cmd:
            if a == f"dse/examples/{example.name}":
                a = str(space_file)
            elif args and args[-1] in ("--workers", "-j"):
                a = "1"  # the pool is tested elsewhere (tests/dse/test_backends.py, test_speed.py)
            elif a.startswith("runs/"):
                a = str(tmp_path / a)
                run_dir = Path(a)
            args.append(a)
        if args[0] == "run":
            args += ["--json"]
        elif example.stem != REPORTED:
            assert args == ["report", str(run_dir)], f"{example.name}: report line {cmd}"
            continue
        res = runner.invoke(app, args)
        assert res.exit_code == 0, f"dse {' '.join(cmd)}: {res.output}"
        if args[0] == "run":
            summary = json.loads(res.output)
            assert summary["evaluated"] == summary["total"] == BUDGET and summary["errors"] == 0
    assert run_dir is not None
    with Store.open(run_dir) as store:
        recs = list(store.records())
    assert len(recs) == BUDGET and all(r.status == "ok" and r.metrics["latency_s"] > 0 for r in recs)
    if example.stem == REPORTED:
        assert (run_dir / "report.html").stat().st_size > 10_000
