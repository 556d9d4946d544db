"""Fit the MatMul-free FPGA core's ternary-engine width on the paper's 370M projection; write it into the preset.

    python scripts/fit_matmulfree.py            # fit on the `fit` rows of data/fpga/matmulfree_published.csv, print
    python scripts/fit_matmulfree.py --write    # ... and write the lane count into arch/presets/matmulfree-fpga.yaml

The calibration parameter is ``units.fpga.engines.ternary.lanes`` of `matmulfree-fpga`: how many ternary weights the
core's adder engine consumes per cycle.  The paper's FPGA section gives the core's clock (60 MHz) but its width could
not be read, and the decode time of a 1-token step is almost all that engine's time (`sim.fpga`), so the width is
what a published runtime pins.  Candidates are the multiples of the engine's adder-tree width (``k_parallel``, 64:
``lanes / k_parallel`` output columns per cycle) from one tree to 4096 lanes, each simulated through `sim.simulate`
on the zoo model's decode step (batch 1); designs that do not fit the device (`sim.fpga.check_fit`) are skipped.
The fit minimises the sum over the `fit` rows of ``log(modelled tokens/s / published)^2``; ties go to the narrower
engine.  Only `fit` rows are looked at to choose; `validate` rows (the 1.3B projection) are printed for information
and compared in `tests/validation/test_matmulfree.py`.

This module is also imported by that test (`load_rows`, `fit`, `tokens_per_s`, `preset_lanes`).
"""

from __future__ import annotations

import argparse
import csv
import functools
import math
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import arch  # noqa: E402
from sim import simulate  # noqa: E402
from sim.fpga import FpgaFitError, check_fit  # noqa: E402
from workloads import zoo  # noqa: E402

DATA = ROOT / "data" / "fpga" / "matmulfree_published.csv"
PRESET = ROOT / "arch" / "presets" / "matmulfree-fpga.yaml"
PRESET_NAME = "matmulfree-fpga"
MAX_LANES = 4096
_LANES_LINE = re.compile(r"(- name: ternary\n(?:[ \t]+[^\n]*\n)*?[ \t]+lanes: )(\d+)")


def load_rows(role: str | None = None) -> list[dict]:
    """The published rows (all, or those of one `role`: ``fit`` or ``validate``)."""
    with DATA.open(newline="") as f:
        rows = list(csv.DictReader(f))
    for r in rows:
        r["tokens_per_s"] = float(r["tokens_per_s"])
        r["projected_ms_per_token"] = float(r["projected_ms_per_token"])
    return [r for r in rows if role is None or r["role"] == role]


def accelerator(lanes: int | None = None, preset: str | Path = PRESET_NAME):
    overrides = {"units.fpga.engines.ternary.lanes": lanes} if lanes else None
    return arch.load(str(preset), overrides=overrides)


@functools.cache
def decode_graph(zoo_name: str):
    """Zoo model `zoo_name`'s decode step at batch 1 (built once; graphs are not mutated)."""
    return zoo.load(zoo_name, phase="decode", batch=1)


def tokens_per_s(zoo_name: str, acc) -> float:
    """Modelled decode throughput (batch 1, one token per step) of zoo model `zoo_name` on `acc`."""
    return simulate(decode_graph(zoo_name), acc).summary["tokens_per_s"]


def fits(acc) -> bool:
    try:
        check_fit(acc.units[0])
    except FpgaFitError:
        return False
    return True


def fit(rows: list[dict] | None = None, preset: str | Path = PRESET_NAME) -> tuple[int, list[tuple[int, float]]]:
    """(best lane count, [(lanes, loss)] for every candidate that fits) on the `fit` rows (module docstring)."""
    rows = load_rows("fit") if rows is None else rows
    if not rows:
        raise ValueError(f"{DATA}: no row with role 'fit'")
    step = accelerator(preset=preset).units[0].engines[0].k_parallel
    table = []
    for lanes in range(step, MAX_LANES + 1, step):
        acc = accelerator(lanes, preset)
        if not fits(acc):
            continue
        loss = sum(math.log(tokens_per_s(r["zoo"], acc) / r["tokens_per_s"]) ** 2 for r in rows)
        table.append((lanes, loss))
    if not table:
        raise ValueError(f"{preset}: no ternary engine width up to {MAX_LANES} lanes fits the device")
    best = min(table, key=lambda t: (t[1], t[0]))[0]
    return best, table


def preset_lanes(path: Path = PRESET) -> int:
    m = _LANES_LINE.search(path.read_text())
    if not m:
        raise ValueError(f"{path}: no 'lanes:' line in the engine named 'ternary'")
    return int(m.group(2))


def write_preset(path: Path, lanes: int) -> None:
    """Set the ternary engine's ``lanes`` in the preset at `path` (the line only; comments and order kept)."""
    text = path.read_text()
    new, n = _LANES_LINE.subn(lambda m: f"{m.group(1)}{lanes}", text, count=1)
    if n != 1:
        raise ValueError(f"{path}: no 'lanes:' line in the engine named 'ternary'")
    path.write_text(new)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--write", action="store_true", help=f"write the fitted lane count into {PRESET.relative_to(ROOT)}")
    args = ap.parse_args(argv)
    fit_rows, held_out = load_rows("fit"), load_rows("validate")
    best, table = fit(fit_rows)
    print(f"fit rows: {', '.join(r['model'] for r in fit_rows)} (data/fpga/matmulfree_published.csv); "
          f"{len(table)} candidate widths fit the device")
    for lanes, loss in table:
        if abs(lanes - best) <= 128:
            print(f"  lanes {lanes:5d}  loss {loss:.4f}{'   <- best' if lanes == best else ''}")
    acc = accelerator(best)
    print(f"\n{'model':6} {'role':9} {'published tok/s':>16} {'modelled':>9} {'error':>7}")
    for r in fit_rows + held_out:
        m = tokens_per_s(r["zoo"], acc)
        print(f"{r['model']:6} {r['role']:9} {r['tokens_per_s']:16.1f} {m:9.2f} {m / r['tokens_per_s'] - 1:+7.1%}")
    if args.write:
        write_preset(PRESET, best)
        print(f"\nwrote lanes: {best} into {PRESET.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
