"""Pareto helpers for several objectives: non-dominated sorting, hypervolume, and subset selection by it.

Pure numpy. Points are an (n, k) array of objective values, one row per trial, with one mode per
objective ("max" or "min"). Internally every objective becomes a loss to minimise (maximised ones
change sign), so "a dominates b" means a is no worse in every objective and better in one.

Hypervolume is the volume, in loss space, that a set of points dominates up to a reference point;
points that are not strictly better than the reference in every objective, or that have a
non-finite value, add nothing. Two objectives are computed exactly by a sweep; more by exact
recursive slicing along the last objective (fine for fronts of up to a few hundred points in 3-D).

The reference point rule (`reference_point`): for each objective, its worst value among the points,
moved outward by 10% of the objective's range among them (by 10% of the value's magnitude, at least
0.1, where the range is zero). Every finite point then has a positive volume of its own, and the
rule is unchanged by adding a constant to an objective or scaling it.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

MODES = ("max", "min")
REFERENCE_MARGIN = 0.1


def to_losses(points: Sequence[Sequence[float]] | np.ndarray, modes: Sequence[str]) -> np.ndarray:
    """(n, k) losses to minimise: maximised objectives change sign."""
    losses = np.array(points, dtype=float)
    if losses.ndim == 1 and len(modes) == 1:
        losses = losses[:, None]
    if losses.ndim != 2 or losses.shape[1] != len(modes) or not len(modes):
        raise ValueError(f"points must be an (n, {len(modes)}) array, one value per objective, got shape "
                         f"{losses.shape}")
    for mode in modes:
        if mode not in MODES:
            raise ValueError(f"modes must be 'max' or 'min', got {mode!r}")
    return losses * np.array([-1.0 if m == "max" else 1.0 for m in modes])


def dominates(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """a[i] dominates b[j], as an (len(a), len(b)) bool matrix, for loss rows."""
    # One objective at a time: (len(a), len(b)) booleans, never a third axis of objectives.
    no_worse = np.ones((len(a), len(b)), dtype=bool)
    better = np.zeros((len(a), len(b)), dtype=bool)
    for j in range(a.shape[1]):
        no_worse &= a[:, None, j] <= b[None, :, j]
        better |= a[:, None, j] < b[None, :, j]
    return no_worse & better


def nondomination_ranks(losses: np.ndarray) -> np.ndarray:
    """Rank of each loss row: 0 for the non-dominated front, 1 for the front once that is removed, ..."""
    losses = np.asarray(losses, dtype=float)
    n = len(losses)
    ranks = np.full(n, -1, dtype=int)
    if n == 0:
        return ranks
    dom = dominates(losses, losses)
    n_dominators = dom.sum(axis=0)
    rank = 0
    front = np.flatnonzero(n_dominators == 0)
    while len(front):
        ranks[front] = rank
        n_dominators = n_dominators - dom[front].sum(axis=0)
        n_dominators[ranks >= 0] = -1
        front = np.flatnonzero(n_dominators == 0)
        rank += 1
    return ranks


def non_dominated_sort(points, modes: Sequence[str]) -> list[np.ndarray]:
    """Fronts of row indices, best first, each in ascending index order."""
    ranks = nondomination_ranks(to_losses(points, modes))
    return [np.flatnonzero(ranks == r) for r in range(int(ranks.max(initial=-1)) + 1)]


def pareto_front(points, modes: Sequence[str]) -> np.ndarray:
    """Row indices of the non-dominated points, ascending (equal points are all kept)."""
    fronts = non_dominated_sort(points, modes)
    return fronts[0] if fronts else np.empty(0, dtype=int)


def reference_point(points, modes: Sequence[str], *, margin: float = REFERENCE_MARGIN) -> np.ndarray:
    """The documented reference point, in the points' own orientation (see the module docstring)."""
    losses = to_losses(points, modes)
    ref = _loss_reference(losses, margin)
    return ref * np.array([-1.0 if m == "max" else 1.0 for m in modes])


def hypervolume(points, modes: Sequence[str], reference: Sequence[float]) -> float:
    """Volume dominated by the points up to the reference point (given in the points' orientation)."""
    losses = to_losses(points, modes)
    return loss_hypervolume(losses, to_losses([reference], modes)[0])


def hypervolume_contributions(points, modes: Sequence[str], reference: Sequence[float]) -> np.ndarray:
    """For each point, the volume lost if it alone were removed."""
    losses = to_losses(points, modes)
    ref = to_losses([reference], modes)[0]
    total = loss_hypervolume(losses, ref)
    keep = np.ones(len(losses), dtype=bool)
    out = np.empty(len(losses))
    for i in range(len(losses)):
        keep[i] = False
        out[i] = total - loss_hypervolume(losses[keep], ref)
        keep[i] = True
    return np.maximum(out, 0.0)


def select_by_hypervolume(losses: np.ndarray, n_select: int, reference: np.ndarray) -> np.ndarray:
    """n_select row indices of loss rows, chosen greedily by largest hypervolume gain (ties: lower index).

    Greedy selection is within a factor (1 - 1/e) of the best subset, and exact for one point.
    """
    losses = np.asarray(losses, dtype=float)
    chosen: list[int] = []
    free = list(range(len(losses)))
    base = 0.0
    for _ in range(min(n_select, len(losses))):
        gains = [loss_hypervolume(losses[chosen + [i]], reference) - base for i in free]
        best = int(np.argmax(gains))  # first of equal gains: the lowest index
        base += gains[best]
        chosen.append(free.pop(best))
    return np.array(sorted(chosen), dtype=int)


def loss_hypervolume(losses: np.ndarray, reference: np.ndarray) -> float:
    """Hypervolume of loss rows up to a loss-space reference point."""
    losses = np.asarray(losses, dtype=float).reshape(-1, len(reference))
    inside = np.all(np.isfinite(losses), axis=1) & np.all(losses < reference, axis=1)
    return _hv(losses[inside], np.asarray(reference, dtype=float))


def _loss_reference(losses: np.ndarray, margin: float) -> np.ndarray:
    finite = losses[np.all(np.isfinite(losses), axis=1)]
    if not len(finite):
        raise ValueError("a reference point needs at least one point with finite values")
    worst, best = finite.max(axis=0), finite.min(axis=0)
    span = worst - best
    return worst + margin * np.where(span > 0, span, np.maximum(np.abs(worst), 1.0))


def _hv(points: np.ndarray, ref: np.ndarray) -> float:
    """Exact hypervolume of points that all lie strictly inside the reference box."""
    n, k = points.shape
    if n == 0:
        return 0.0
    if k == 1:
        return float(ref[0] - points[:, 0].min())
    if k == 2:
        order = np.lexsort((points[:, 1], points[:, 0]))
        x, y = points[order, 0], points[order, 1]
        y_best = np.minimum.accumulate(y)  # the front's height as x grows
        widths = np.diff(np.append(x, ref[0]))
        return float(np.sum(widths * (ref[1] - y_best)))
    # Slice along the last objective: between consecutive values, the points at or below the slab
    # dominate a (k - 1)-dimensional volume.
    points = points[np.argsort(points[:, -1], kind="stable")]
    last = np.append(points[:, -1], ref[-1])
    total = 0.0
    for i in range(n):
        depth = last[i + 1] - last[i]
        if depth > 0:
            below = points[: i + 1, :-1]
            below = below[~np.any(dominates(below, below), axis=0)]  # only the (k-1)-D front matters
            total += depth * _hv(below, ref[:-1])
    return total
