"""Pareto fronts and hypervolume over one, two or three objectives (all minimised).

- `pareto_mask(F)`: which rows of ``F`` (n x m) no other row dominates (equal rows are all kept).
- `hypervolume(F, ref)`: the volume dominated by ``F`` and bounded by the reference point ``ref``;
  exact in every supported dimension: 1-D is ``ref - min``, 2-D a sweep over the front sorted by the
  first objective, 3-D a sweep over the third objective that sums (2-D hypervolume of the points at
  or below each level) x (gap to the next level): O(n^2 log n), fine for the fronts a run produces.
- `normalise(F, ideal, nadir)`: maps each objective to [0, 1], so that hypervolumes of objectives in
  different units (seconds, joules) are comparable.  Runs report hypervolume normalised by the ideal
  and nadir *of their final Pareto front*, with the reference point 1.1 in every objective (`REF`):
  a front that reaches the final one scores the same whatever the dominated points around it.
- `hypervolume_by_batch(...)`: the hypervolume of the feasible points found up to each batch
  (NSGA-II generation), normalised as above with the final front of the whole run.
"""

from __future__ import annotations

import numpy as np

REF = 1.1


def pareto_mask(F: np.ndarray) -> np.ndarray:
    """Boolean mask of non-dominated rows of `F` (minimisation); rows with NaN are never on the front."""
    F = np.asarray(F, dtype=float)
    n = len(F)
    mask = np.zeros(n, dtype=bool)
    if n == 0:
        return mask
    valid = ~np.isnan(F).any(axis=1)
    idx = np.flatnonzero(valid)
    order = idx[np.lexsort(F[idx].T[::-1])]  # lexicographic by objective 0, then 1, ...
    front: list[int] = []
    for i in order:
        f = F[i]
        dominated = False
        for j in front:
            g = F[j]
            if np.all(g <= f) and np.any(g < f):
                dominated = True
                break
        if not dominated:
            front.append(i)
    mask[front] = True
    return mask


def _hv2d(P: np.ndarray, ref: np.ndarray) -> float:
    P = P[np.all(P < ref, axis=1)]
    if len(P) == 0:
        return 0.0
    P = P[np.lexsort((P[:, 1], P[:, 0]))]
    area, best_y = 0.0, ref[1]
    for x, y in P:
        if y < best_y:
            area += (ref[0] - x) * (best_y - y)
            best_y = y
    return float(area)


def hypervolume(F: np.ndarray, ref: np.ndarray | list[float]) -> float:
    """Exact hypervolume dominated by the rows of `F` within `ref` (1, 2 or 3 objectives)."""
    F = np.asarray(F, dtype=float)
    ref = np.asarray(ref, dtype=float)
    if F.ndim != 2 or F.shape[1] != len(ref):
        raise ValueError(f"hypervolume: points of shape {F.shape} do not match a reference point of {len(ref)}")
    F = F[~np.isnan(F).any(axis=1)]
    F = F[np.all(F < ref, axis=1)]
    if len(F) == 0:
        return 0.0
    m = F.shape[1]
    if m == 1:
        return float(ref[0] - F[:, 0].min())
    if m == 2:
        return _hv2d(F, ref)
    if m == 3:
        F = F[pareto_mask(F)]
        levels = np.unique(F[:, 2])
        vol = 0.0
        for k, z in enumerate(levels):
            top = levels[k + 1] if k + 1 < len(levels) else ref[2]
            vol += _hv2d(F[F[:, 2] <= z][:, :2], ref[:2]) * (top - z)
        return float(vol)
    raise ValueError(f"hypervolume: {m} objectives; supported are 1, 2 and 3")


def normalise(F: np.ndarray, ideal: np.ndarray, nadir: np.ndarray) -> np.ndarray:
    """(F - ideal) / (nadir - ideal), objective by objective (a zero span maps to 0)."""
    F = np.asarray(F, dtype=float)
    span = np.where(nadir > ideal, nadir - ideal, 1.0)
    return (F - ideal) / span


def hypervolume_by_batch(F: np.ndarray, feasible: np.ndarray, batch: np.ndarray) -> list[tuple[int, int, float]]:
    """(batch, points so far, normalised hypervolume of the feasible points so far) for each batch.

    `F` holds minimisation objectives of every stored point in proposal order; rows that are
    infeasible or failed are ignored.  Ideal and nadir are those of the Pareto front of the run's
    feasible points (where that front has no spread in an objective, the nadir of all feasible points)."""
    F = np.asarray(F, dtype=float)
    ok = np.asarray(feasible, dtype=bool) & ~np.isnan(F).any(axis=1)
    out: list[tuple[int, int, float]] = []
    if not ok.any():
        return [(int(b), int((batch <= b).sum()), 0.0) for b in np.unique(batch)]
    front = F[ok][pareto_mask(F[ok])]
    ideal, nadir = front.min(axis=0), front.max(axis=0)
    flat = nadir <= ideal  # a front with no spread in an objective: scale that one by all feasible points
    nadir = np.where(flat, F[ok].max(axis=0), nadir)
    N = normalise(F, ideal, nadir)
    ref = np.full(F.shape[1], REF)
    for b in np.unique(batch):
        upto = batch <= b
        sel = N[upto & ok]
        hv = hypervolume(sel[pareto_mask(sel)], ref) if len(sel) else 0.0
        out.append((int(b), int(upto.sum()), hv))
    return out
