"""Every rtl/ block against its numba reference, bit for bit, and proof that the checkers have teeth.

`test_bench_passes` builds each block (its simulation parameters from `dse.rtl_cmd.BLOCKS`) and runs its
cocotb bench: thousands of random vectors plus the edge cases of `tests.vectors`, each output compared
with `sim.kernels`.  `test_planted_bug_fails` copies rtl/ to a temporary folder, plants one bug by text
substitution (a weight port made unsigned, an addition turned into a subtraction, a dropped carry, one
cycle less of fold spacing) and requires the same bench to fail.  Simulator: ``--rtl-sim`` /
``COEX_RTL_SIM`` (default Icarus).
"""

from __future__ import annotations

import shutil

import pytest

from dse.rtl_cmd import BLOCKS, RTL_DIR, run_bench

WITH_BUGS = [name for name, b in BLOCKS.items() if b.bug]


@pytest.mark.parametrize("block", list(BLOCKS))
def test_bench_passes(block, rtl_sim, tmp_path, objcache):
    run = run_bench(block, rtl_sim, tmp_path / "build", cache_dir=objcache)
    assert run.passed, f"{block} on {rtl_sim}: {run.message} (log: {run.log})"
    counts = next(iter(run.counts.values()))
    assert counts["vectors"] >= 2000 and counts["checks"] >= 1000, counts


def plant_bug(dst, file: str, text: str, replacement: str):
    """Copy rtl/ to `dst` and replace `text` (which must occur exactly once) in `file`."""
    shutil.copytree(RTL_DIR, dst)
    source = (dst / file).read_text()
    assert source.count(text) == 1, f"{text!r} must occur once in {file} (the planted bug would not be planted)"
    (dst / file).write_text(source.replace(text, replacement))
    return dst


@pytest.mark.parametrize("block", WITH_BUGS)
def test_planted_bug_fails(block, rtl_sim, tmp_path, objcache):
    b = BLOCKS[block]
    buggy = plant_bug(tmp_path / "rtl", *b.bug)
    run = run_bench(block, rtl_sim, tmp_path / "build", sources_dir=buggy, vectors=300, cache_dir=objcache)
    assert run.tests == 1 and run.failed == 1, f"the bench missed the planted bug {b.bug} ({run.log})"
    assert "DUT" in run.message or "in_ready" in run.message, run.message
