"""The numerics the pruners share: a percentile of sorted values, and a seeded hash to a number in [0, 1)."""

from __future__ import annotations

from collections.abc import Sequence

from raybench.search._hash import GOLDEN, MASK64, mix64, to_unit


def percentile_of_sorted(ordered: Sequence[float], quantile: float) -> float:
    """The `quantile` (0..1) of ascending `ordered` values, linearly interpolated.

    The arithmetic is numpy's default ("linear") method step by step, so the result is bit-identical to
    `np.percentile(ordered, 100 * quantile)`: a cutoff that lands exactly on a trial's value must compare
    the same way here as in Ray Tune and Optuna, which call numpy.
    """
    last = len(ordered) - 1
    index = last * quantile
    if index >= last:
        return ordered[last]
    low = int(index)
    gamma = index - low
    a, b = ordered[low], ordered[low + 1]
    diff = b - a
    # numpy interpolates from the nearer end, which keeps the result inside [a, b].
    if gamma >= 0.5:
        return b - diff * (1 - gamma)
    return a + diff * gamma


def unit_hash(seed: int, key: int) -> float:
    """A number in [0, 1) that depends only on (seed, key): the same in every process and Python version."""
    return to_unit(mix64((mix64((seed + GOLDEN) & MASK64) + key) & MASK64))
