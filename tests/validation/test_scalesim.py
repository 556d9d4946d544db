"""Purpose: `sim.systolic.compute_cycles` equals SCALE-Sim 3.0.0's "Compute cycles" exactly, on every
public run in `data/scalesim_public.csv` (provenance in `data/README.md`).  A side-by-side table of
ours vs SCALE-Sim's is printed at the end of the module."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from sim.systolic import compute_cycles
from workloads import conv2d, gemm
from tests.validation.side_by_side import write_lines

DATA = Path(__file__).parent / "data" / "scalesim_public.csv"


def load_cases(path: Path = DATA) -> list[dict]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def case_op(row: dict):
    """The `Op` of one CSV row: GEMM dims M;N;K or conv dims H;W;R;S;C;K;stride (no padding)."""
    dims = [int(x) for x in row["dims"].split(";")]
    if row["kind"] == "gemm":
        return gemm(*dims, dtype="int8")
    h, w, r, s, c, k, stride = dims
    return conv2d(h, w, r, s, c, k, stride, dtype="int8")


def case_id(row: dict) -> str:
    return f"{row['kind']}-{row['dims']}-{row['rows']}x{row['cols']}-{row['dataflow']}"


CASES = load_cases()
_SEEN: list[tuple[str, int, int]] = []


@pytest.fixture(scope="module", autouse=True)
def side_by_side(request):
    """Print ours vs SCALE-Sim's for every case once the module's tests have run."""
    yield
    if not _SEEN:
        return
    lines = ["", f"{'case':<44} {'coex':>9} {'SCALE-Sim':>9}  match"]
    lines += [f"{name:<44} {ours:>9} {theirs:>9}  {'yes' if ours == theirs else 'NO'}" for name, ours, theirs in _SEEN]
    lines.append(f"{sum(o == t for _, o, t in _SEEN)}/{len(_SEEN)} cases match SCALE-Sim exactly")
    write_lines(request.config, lines)


def test_csv_holds_the_public_cases():
    assert len(CASES) == 58


@pytest.mark.parametrize("row", CASES, ids=[case_id(r) for r in CASES])
def test_compute_cycles_match_scalesim(row):
    ours = compute_cycles(case_op(row), int(row["rows"]), int(row["cols"]), row["dataflow"])
    theirs = int(row["compute_cycles"])
    _SEEN.append((case_id(row), ours, theirs))
    assert ours == theirs, f"{case_id(row)}: coex {ours} vs SCALE-Sim {theirs} ({ours - theirs:+d})"
