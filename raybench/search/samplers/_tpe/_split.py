"""TPE's split of finished trials into good and bad: by loss for one objective, by Pareto fronts for several.

Several objectives (MOTPE, Ozaki et al., 2020): whole non-dominated fronts are good while they fit
in the good group; the front that does not fit is cut by greedy hypervolume contribution, against
the reference point of search.pareto (each objective's worst loss among the finished trials, moved
out by a tenth of its range).
"""

from __future__ import annotations

import numpy as np

from raybench.search import pareto


def split_good(losses: np.ndarray, n_good: int) -> np.ndarray:
    """A bool mask of the n_good good rows of (rows, objectives) losses; rows are in trial-id order.

    Ties go to the earlier row, so the split never depends on the order values arrived in.
    """
    if losses.shape[1] == 1:
        return _single(losses[:, 0], n_good)
    return _multi(losses, n_good)


def _single(losses: np.ndarray, n_good: int) -> np.ndarray:
    cutoff = np.partition(losses, n_good - 1)[n_good - 1]
    is_good = losses < cutoff
    tied = np.flatnonzero(losses == cutoff)
    is_good[tied[: n_good - int(is_good.sum())]] = True
    return is_good


def _multi(losses: np.ndarray, n_good: int) -> np.ndarray:
    is_good = np.zeros(len(losses), dtype=bool)
    for front in pareto.first_fronts(losses, n_good):  # fronts past the good group are never ranked
        room = n_good - int(is_good.sum())
        if len(front) <= room:
            is_good[front] = True
            continue
        if room > 0:
            is_good[front[_by_hypervolume(losses, front, room)]] = True
        break
    return is_good


def _by_hypervolume(losses: np.ndarray, front: np.ndarray, room: int) -> np.ndarray:
    """Positions within front of the `room` rows that add most hypervolume, greedily."""
    finite = np.all(np.isfinite(losses), axis=1)
    if not finite.any():
        return np.arange(room)
    reference = pareto._loss_reference(losses[finite], pareto.REFERENCE_MARGIN)
    return pareto.select_by_hypervolume(losses[front], room, reference)
