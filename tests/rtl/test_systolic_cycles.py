"""Cross-check of the RTL with the cost model: ``systolic_os`` takes exactly the cycles that
`sim.systolic.compute_cycles` (SCALE-Sim's output-stationary compute cycles) predicts.

The bench feeds a whole M x N x K GEMM in ceil(M/R) * ceil(N/C) folds as fast as ``in_ready`` allows and
measures the edge of the last accumulation counted from the edge that took the first beat, the convention
of SCALE-Sim's cycle index (``folds * (K + R + C - 2) - 1``; see rtl/systolic_os.v).  Every result of the
GEMM is also checked against `sim.kernels.gemm_int`.  Sizes: `dse.rtl_cmd.CROSSCHECK_SIZES` (partial
folds, square, non-square, a single fold).  A 1 x 1 array is left out: its fold has no skew, the RTL ends
on edge ``folds * K - 1`` and the model's formula says ``folds * K``.
"""

from __future__ import annotations

import pytest

from dse.rtl_cmd import CROSSCHECK_SIZES, cycle_crosscheck


def test_at_least_three_array_sizes():
    assert len({(r, c) for r, c, *_ in CROSSCHECK_SIZES}) >= 3


@pytest.mark.parametrize("size", CROSSCHECK_SIZES,
                         ids=[f"{r}x{c}-gemm{m}x{n}x{k}" for r, c, m, n, k in CROSSCHECK_SIZES])
def test_systolic_os_cycles_match_the_cost_model(size, rtl_sim, tmp_path, objcache):
    (row,) = cycle_crosscheck(rtl_sim, tmp_path, sizes=[size], cache_dir=objcache)
    assert row["bench_passed"], row
    assert row["rtl_cycles"] == row["model_cycles"], row
