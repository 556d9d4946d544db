"""Pareto masks and exact hypervolumes, against brute force and hand-computed volumes."""

from __future__ import annotations

import numpy as np
import pytest

from dse.pareto import hypervolume, hypervolume_by_batch, normalise, pareto_mask


def _brute_mask(F):
    n = len(F)
    return np.array([not any(np.all(F[j] <= F[i]) and np.any(F[j] < F[i]) for j in range(n)) for i in range(n)])


@pytest.mark.parametrize("m", [1, 2, 3, 4])
def test_pareto_mask_matches_brute_force(m):
    rng = np.random.default_rng(m)
    F = rng.integers(0, 6, size=(120, m)).astype(float)  # many ties and duplicates
    assert (pareto_mask(F) == _brute_mask(F)).all()


def test_pareto_mask_skips_nan():
    F = np.array([[1.0, np.nan], [2.0, 2.0], [3.0, 1.0]])
    assert pareto_mask(F).tolist() == [False, True, True]


def test_hypervolume_by_hand():
    assert hypervolume(np.array([[1.0]]), [3.0]) == 2.0
    # two boxes in 2-D: [1,4]x[2,4] U [2,4]x[1,4] = 6 + 6 - 4
    assert hypervolume(np.array([[1.0, 2.0], [2.0, 1.0]]), [4, 4]) == pytest.approx(8.0)
    # a dominated point and one outside the reference change nothing
    assert hypervolume(np.array([[1.0, 2.0], [2.0, 1.0], [3, 3], [5, 0]]), [4, 4]) == pytest.approx(8.0)
    # 3-D: one box, then two overlapping: 2*2*2 + 3*1*1... computed by inclusion-exclusion
    assert hypervolume(np.array([[0.0, 0.0, 0.0]]), [2, 3, 4]) == pytest.approx(24.0)
    a, b = np.array([0.0, 1.0, 1.0]), np.array([1.0, 0.0, 0.0])
    ref = np.array([2.0, 2.0, 2.0])
    both = np.prod(ref - np.maximum(a, b))
    assert hypervolume(np.array([a, b]), ref) == pytest.approx(np.prod(ref - a) + np.prod(ref - b) - both)
    assert hypervolume(np.zeros((0, 2)), [1, 1]) == 0.0


@pytest.mark.parametrize("m", [2, 3])
def test_hypervolume_agrees_with_monte_carlo(m):
    rng = np.random.default_rng(7)
    F = rng.random((25, m))
    ref = np.ones(m) * 1.1
    samples = rng.random((200_000, m)) * 1.1
    dominated = np.zeros(len(samples), dtype=bool)
    for f in F:
        dominated |= np.all(samples >= f, axis=1)
    estimate = dominated.mean() * 1.1**m
    assert hypervolume(F, ref) == pytest.approx(estimate, abs=0.01)


def test_hypervolume_rejects_four_objectives():
    with pytest.raises(ValueError, match="supported are 1, 2 and 3"):
        hypervolume(np.zeros((1, 4)), np.ones(4))


def test_normalise_and_hypervolume_by_batch():
    F = np.array([[1.0, 4.0], [4.0, 1.0], [2.0, 2.0], [9.0, 9.0]])
    assert normalise(F, F.min(0), F.max(0))[0].tolist() == pytest.approx([0.0, 3 / 8])
    hv = hypervolume_by_batch(F, np.array([True, True, True, False]), np.array([0, 0, 1, 1]))
    assert [(b, n) for b, n, _ in hv] == [(0, 2), (1, 4)]
    assert hv[0][2] < hv[1][2]  # (2, 2) adds to the front; the infeasible (9, 9) is ignored
    N = normalise(F[:3], np.array([1.0, 1.0]), np.array([4.0, 4.0]))
    assert hv[1][2] == pytest.approx(hypervolume(N, [1.1, 1.1]))
