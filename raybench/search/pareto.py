"""Pareto helpers for several objectives: non-dominated sorting, hypervolume, and subset selection by it.

Pure numpy. Points are an (n, k) array of objective values, one row per trial, with one mode per
objective ("max" or "min"). Internally every objective becomes a loss to minimise (maximised ones
change sign), so "a dominates b" means a is no worse in every objective and better in one.

Hypervolume is the volume, in loss space, that a set of points dominates up to a reference point;
points that are not strictly better than the reference in every objective, or that have a
non-finite value, add nothing. Two objectives are computed exactly by a sweep; more by exact
recursive slicing along the last objective (fine for fronts of up to a few hundred points in 3-D).

Costs: fronts of one or two objectives take one sort and a sweep, O(n log n); more objectives are
peeled front by front (first_fronts can stop once the best fronts hold enough rows). Greedy selection
by hypervolume computes each candidate's gain directly and lazily, and settles near ties exactly as
recomputing every gain with loss_hypervolume would (see select_by_hypervolume).

The reference point rule (`reference_point`): for each objective, its worst value among the points,
moved outward by 10% of the objective's range among them (by 10% of the value's magnitude, at least
0.1, where the range is zero). Every finite point then has a positive volume of its own, and the
rule is unchanged by adding a constant to an objective or scaling it.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from typing import Optional

import numpy as np

MODES = ("max", "min")
REFERENCE_MARGIN = 0.1
# Rows checked at once against a front while peeling three or more objectives.
PEEL_BLOCK = 512
# Candidates whose gain is within NEAR_TIE_ULPS * (rows + 2) * eps * _rounding_scale of the best one are
# compared by loss_hypervolume itself. Either way of computing a gain errs by a few (rows + 2) * eps * scale
# at most (differences to the reference, then sums of up to rows terms), far below that.
NEAR_TIE_ULPS = 64
# Stale gains refreshed at a time while looking for the largest.
REFRESH_BATCH = 4


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
    ranks = np.full(len(losses), -1, dtype=int)
    for rank, front in enumerate(first_fronts(losses)):
        ranks[front] = rank
    return ranks


def first_fronts(losses: np.ndarray, n_rows: Optional[int] = None) -> list[np.ndarray]:
    """The best fronts of loss rows, best first, each in ascending row order, until they hold n_rows rows.

    All fronts by default. They are the fronts of peeling by `dominates`: equal rows share a front, and
    a row with a NaN neither dominates nor is dominated (every comparison with NaN is false), so it is
    in the first front.
    """
    losses = np.asarray(losses, dtype=float)
    if not len(losses):
        return []
    limit = len(losses) if n_rows is None else n_rows
    with_nan = np.isnan(losses).any(axis=1)
    rows = np.flatnonzero(~with_nan)
    if losses.shape[1] <= 2:
        fronts = _fronts_of_ranks(rows, _sweep_ranks(losses[rows]))
    else:
        fronts = _peel(losses[rows], rows, limit - int(with_nan.sum()))
    if with_nan.any():  # into the first front
        fronts[:1] = [np.union1d(fronts[0] if fronts else rows[:0], np.flatnonzero(with_nan))]
    kept, count = [], 0
    for front in fronts:
        if count >= limit:
            break
        kept.append(front)
        count += len(front)
    return kept


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
    The choice is exactly that of recomputing every candidate's gain with loss_hypervolume at every step
    (`_select_by_recomputing`), float ties included: gains are computed directly, and lazily (adding a
    point never raises another's gain), and the candidates within rounding distance of the best gain are
    then compared by loss_hypervolume itself.
    """
    losses = np.asarray(losses, dtype=float)
    reference = np.asarray(reference, dtype=float)
    n_take = min(n_select, len(losses))
    if n_take <= 0:
        return np.empty(0, dtype=int)
    inside = np.all(np.isfinite(losses), axis=1) & np.all(losses < reference, axis=1)
    scale = _rounding_scale(losses[inside], reference)
    if scale is None:  # volumes near overflow or underflow: no error bound, so the slow way
        return _select_by_recomputing(losses, n_take, reference)
    tol = NEAR_TIE_ULPS * (len(losses) + 2) * np.finfo(float).eps * scale
    return np.array(sorted(_greedy(losses, inside, n_take, reference, tol)), dtype=int)


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


# ---- fronts ------------------------------------------------------------------------------------------------------

def _sweep_ranks(points: np.ndarray) -> np.ndarray:
    """Front ranks of NaN-free rows of one or two losses, by one sort and a sweep."""
    if points.shape[1] == 1:
        return np.unique(points[:, 0], return_inverse=True)[1].reshape(-1)
    # In (first, second) order a row's dominators all come before it, and one of them is in front r - 1
    # when its rank is r. So a row's rank is the number of fronts whose lowest second loss so far is at or
    # below its own; those lows never decrease from front to front, which allows a binary search. Equal
    # rows, which do not dominate each other, are placed once.
    order = np.lexsort((points[:, 1], points[:, 0]))
    x, y = points[order, 0], points[order, 1]
    new = np.ones(len(x), dtype=bool)
    new[1:] = (x[1:] != x[:-1]) | (y[1:] != y[:-1])
    lows: list[float] = []
    group_ranks = []
    for value in y[new].tolist():
        rank = bisect.bisect_right(lows, value)
        if rank == len(lows):
            lows.append(value)
        else:
            lows[rank] = value
        group_ranks.append(rank)
    ranks = np.empty(len(x), dtype=int)
    ranks[order] = np.array(group_ranks, dtype=int)[np.cumsum(new) - 1]
    return ranks


def _fronts_of_ranks(rows: np.ndarray, ranks: np.ndarray) -> list[np.ndarray]:
    order = np.argsort(ranks, kind="stable")  # stable: each front keeps rows ascending
    bounds = np.flatnonzero(np.diff(ranks[order])) + 1
    return np.split(rows[order], bounds) if len(rows) else []


def _peel(points: np.ndarray, rows: np.ndarray, n_rows: int) -> list[np.ndarray]:
    """Fronts of NaN-free rows, best first, until they hold n_rows rows (always at least one front)."""
    rest = np.lexsort(points.T[::-1])
    fronts: list[np.ndarray] = []
    count = 0
    while len(rest) and (not fronts or count < n_rows):
        in_front = _first_front_of_sorted(points[rest])
        fronts.append(np.sort(rows[rest[in_front]]))
        count += len(fronts[-1])
        rest = rest[~in_front]
    return fronts


def _first_front_of_sorted(points: np.ndarray) -> np.ndarray:
    """Mask of the non-dominated rows of lexicographically sorted rows.

    A row can only be dominated by rows before it, and a dominated row is dominated by one of the front,
    so each block is checked against the front found so far and then within itself.
    """
    in_front = np.zeros(len(points), dtype=bool)
    front = points[:0]
    for start in range(0, len(points), PEEL_BLOCK):
        block = points[start:start + PEEL_BLOCK]
        alive = np.flatnonzero(~dominates(front, block).any(axis=0))
        alive = alive[~dominates(block[alive], block[alive]).any(axis=0)]
        in_front[start + alive] = True
        front = np.concatenate([front, block[alive]])
    return in_front


# ---- greedy selection by hypervolume -----------------------------------------------------------------------------

def _select_by_recomputing(losses: np.ndarray, n_take: int, reference: np.ndarray) -> np.ndarray:
    """The definition of select_by_hypervolume: every free row's gain recomputed at every step."""
    chosen: list[int] = []
    free = list(range(len(losses)))
    base = 0.0
    for _ in range(n_take):
        gains = [loss_hypervolume(losses[chosen + [i]], reference) - base for i in free]
        best = int(np.argmax(gains))  # first of equal gains: the lowest index
        base += gains[best]
        chosen.append(free.pop(best))
    return np.array(sorted(chosen), dtype=int)


def _rounding_scale(inside: np.ndarray, reference: np.ndarray) -> Optional[float]:
    """A bound on the size of float error, over the dimensions, of volumes of rows inside the box, or None.

    Differences like reference - x carry an error of about eps * |x|, spread over the other sides' extent.
    None where the reference is not finite or the volumes come near overflow or underflow.
    """
    if not np.all(np.isfinite(reference)):
        return None
    if not len(inside):
        return 0.0
    extent = reference - inside.min(axis=0)
    magnitude = np.maximum(np.abs(reference), np.abs(inside).max(axis=0))
    scale = float(sum(magnitude[d] * np.prod(np.delete(extent, d)) for d in range(len(reference))))
    if not (1e-200 < float(np.prod(extent)) and scale < 1e200):
        return None
    return scale


def _greedy(losses: np.ndarray, inside: np.ndarray, n_take: int, reference: np.ndarray, tol: float) -> list[int]:
    """Row indices in the order _select_by_recomputing picks them."""
    gain = np.zeros(len(losses))  # rows outside the box add nothing, ever
    gain[inside] = np.prod(reference - losses[inside], axis=1)
    fresh = np.ones(len(losses), dtype=bool)  # gain is exact for the chosen set as it is now
    free = np.ones(len(losses), dtype=bool)
    chosen: list[int] = []
    bases = [0.0]  # the float sum of the chosen gains after each step, as _select_by_recomputing keeps it
    while len(chosen) < n_take:
        if not (free & inside).any():  # every gain is that of the chosen set again: lowest index first
            chosen += np.flatnonzero(free)[: n_take - len(chosen)].tolist()
            break
        best = _settle(losses, inside, reference, chosen, gain, fresh, free, tol)
        near = np.flatnonzero(free & (gain >= best - tol))
        pick = int(near[0]) if len(near) == 1 else _pick_exactly(losses, inside, reference, chosen, near, bases)
        chosen.append(pick)
        free[pick] = False
        fresh[inside] = False
    return chosen


def _settle(losses, inside, reference, chosen, gain, fresh, free, tol) -> float:
    """Refresh stale gains until none could be within tol of the best fresh one; returns that best.

    A stale gain is one for a smaller chosen set, so it bounds the gain from above.
    """
    occupied = losses[[i for i in chosen if inside[i]]]
    while True:
        settled = free & fresh
        best = float(gain[settled].max()) if settled.any() else -np.inf
        stale = np.flatnonzero(free & ~fresh & (gain >= best - 2 * tol))
        if not len(stale):
            return best
        if len(stale) > REFRESH_BATCH:
            stale = stale[np.argpartition(-gain[stale], REFRESH_BATCH)[:REFRESH_BATCH]]
        gain[stale] = _gains(losses[stale], occupied, reference)
        fresh[stale] = True


def _pick_exactly(losses, inside, reference, chosen, near, bases) -> int:
    """Of near (ascending), the row _select_by_recomputing picks: its float gains, computed its way."""
    while len(bases) <= len(chosen):  # its running base, replayed as far as needed
        base = bases[-1]
        bases.append(base + (loss_hypervolume(losses[chosen[: len(bases)]], reference) - base))
    base = bases[len(chosen)]
    volumes: dict = {}  # equal rows, and all rows outside the box, get equal volumes
    gains = []
    for i in near.tolist():
        key = tuple(losses[i].tolist()) if inside[i] else None
        if key not in volumes:
            volumes[key] = loss_hypervolume(losses[chosen + [i]], reference)
        gains.append(volumes[key] - base)
    return int(near[int(np.argmax(gains))])


def _gains(points: np.ndarray, occupied: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Hypervolume each point (inside the box) adds to the occupied points (inside too)."""
    alone = np.prod(reference - points, axis=1)
    if not len(occupied):
        return alone
    if points.shape[1] == 1:
        return np.maximum(occupied[:, 0].min() - points[:, 0], 0.0)
    if points.shape[1] == 2:
        return _gains_2d(points, occupied, reference)
    volume = _hv3 if points.shape[1] == 3 else _hv
    # What a point adds is its own box less the part the occupied points already cover.
    return np.array([a - volume(np.maximum(p, occupied), reference) for p, a in zip(points, alone)])


def _gains_2d(points: np.ndarray, occupied: np.ndarray, reference: np.ndarray) -> np.ndarray:
    # The occupied points' staircase: height hs[j] from xs[j] to xs[j + 1] (the last to the reference),
    # and the reference's height before xs[0]. A point adds the area between its own height and the
    # staircase, from its x to the first step at or below it.
    order = np.lexsort((occupied[:, 1], occupied[:, 0]))
    xs, hs = occupied[order, 0], np.minimum.accumulate(occupied[order, 1])
    step = np.ones(len(xs), dtype=bool)
    step[1:] = hs[1:] < hs[:-1]
    xs, hs = xs[step], hs[step]
    under = np.concatenate([[0.0], np.cumsum(hs[:-1] * np.diff(xs))])  # area under the staircase up to xs[j]

    def area_to(u: np.ndarray) -> np.ndarray:
        j = np.maximum(np.searchsorted(xs, u, side="right") - 1, 0)
        return np.where(u < xs[0], reference[1] * (u - xs[0]), under[j] + hs[j] * (u - xs[j]))

    x, y = points[:, 0], points[:, 1]
    below = np.searchsorted(-hs, -y, side="left")  # the first step at or below y
    end = np.where(below < len(xs), xs[np.minimum(below, len(xs) - 1)], reference[0])
    return np.where(end > x, area_to(end) - area_to(x) - y * (end - x), 0.0)


def _hv3(points: np.ndarray, reference: np.ndarray) -> float:
    """Exact hypervolume of 3-D points inside the box: a sweep up the last objective over a 2-D staircase."""
    points = points[np.argsort(points[:, 2], kind="stable")]
    tops = np.append(points[1:, 2], reference[2]).tolist()
    xs: list[float] = []
    ys: list[float] = []
    area = total = 0.0
    for (x, y, z), top in zip(points.tolist(), tops):
        area += _add_to_staircase(xs, ys, x, y, float(reference[0]), float(reference[1]))
        total += area * (top - z)
    return total


def _add_to_staircase(xs: list[float], ys: list[float], x: float, y: float, x_ref: float, y_ref: float) -> float:
    """Insert (x, y) into a staircase (x ascending, y descending) and return the area it adds."""
    j = bisect.bisect_left(xs, x)
    if (j and ys[j - 1] <= y) or (j < len(xs) and xs[j] == x and ys[j] <= y):
        return 0.0
    end = j
    while end < len(ys) and ys[end] >= y:  # steps the new point covers
        end += 1
    added, u, height = 0.0, x, (ys[j - 1] if j else y_ref)
    for k in range(j, end):
        added += (xs[k] - u) * (height - y)
        u, height = xs[k], ys[k]
    added += ((xs[end] if end < len(xs) else x_ref) - u) * (height - y)
    xs[j:end], ys[j:end] = [x], [y]
    return added
