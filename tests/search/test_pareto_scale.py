"""Fast fronts and greedy hypervolume selection choose exactly what the quadratic definitions choose.

The references below are the earlier implementations, kept verbatim: an n x n domination matrix peeled
front by front, every candidate's gain recomputed with loss_hypervolume at every step, and MOTPE's split
built on the two. Inputs are drawn to collide: small grids (ties, equal rows, ties of gains in exact and
in inexact arithmetic), NaN, +-inf and -0.0.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from raybench.search import pareto
from raybench.search.samplers._tpe._split import split_good


def reference_ranks(losses: np.ndarray) -> np.ndarray:
    losses = np.asarray(losses, dtype=float)
    n = len(losses)
    ranks = np.full(n, -1, dtype=int)
    if n == 0:
        return ranks
    dom = pareto.dominates(losses, losses)
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


def reference_select(losses: np.ndarray, n_select: int, reference: np.ndarray) -> np.ndarray:
    losses = np.asarray(losses, dtype=float)
    chosen: list[int] = []
    free = list(range(len(losses)))
    base = 0.0
    for _ in range(min(n_select, len(losses))):
        gains = [pareto.loss_hypervolume(losses[chosen + [i]], reference) - base for i in free]
        best = int(np.argmax(gains))
        base += gains[best]
        chosen.append(free.pop(best))
    return np.array(sorted(chosen), dtype=int)


def reference_split(losses: np.ndarray, n_good: int) -> np.ndarray:
    ranks = reference_ranks(losses)
    is_good = np.zeros(len(losses), dtype=bool)
    for rank in range(int(ranks.max(initial=-1)) + 1):
        front = np.flatnonzero(ranks == rank)
        room = n_good - int(is_good.sum())
        if len(front) <= room:
            is_good[front] = True
            continue
        if room > 0:
            finite = np.all(np.isfinite(losses), axis=1)
            if not finite.any():
                picked = np.arange(room)
            else:
                ref = pareto._loss_reference(losses[finite], pareto.REFERENCE_MARGIN)
                picked = reference_select(losses[front], room, ref)
            is_good[front[picked]] = True
        break
    return is_good


def colliding_losses(rng: np.random.Generator, n: int, k: int, *, odd: float = 0.1) -> np.ndarray:
    """n rows of k losses on a coarse grid, some scaled by 0.1 (inexact), with NaN, +-inf and -0.0 mixed in."""
    levels = int(rng.integers(2, 8))
    losses = rng.integers(0, levels, size=(n, k)).astype(float)
    if rng.random() < 0.5:
        losses *= 0.1
    if rng.random() < 0.3:
        losses += rng.random((n, k)) * 1e-3 * rng.integers(0, 2, size=(n, k))
    special = rng.random((n, k)) < odd
    losses[special] = rng.choice([np.nan, np.inf, -np.inf, -0.0], size=int(special.sum()))
    return losses


def anti_diagonal(rng: np.random.Generator, n: int, k: int) -> np.ndarray:
    """Mutually non-dominated rows on an evenly spaced plane (gains tie all the time), with some repeats."""
    rows = rng.integers(0, 6, size=(n, k - 1)).astype(float) if k > 1 else np.zeros((n, 0))
    last = 5.0 * (k - 1) - rows.sum(axis=1, keepdims=True)
    losses = np.hstack([rows, last]) * (0.1 if rng.random() < 0.5 else 1.0)
    front = pareto.first_fronts(losses, 1)[0]
    return losses[np.sort(np.concatenate([front, rng.choice(front, size=len(front) // 3)]))]


# ---- fronts --------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("k", [1, 2, 3, 4])
def test_ranks_equal_the_domination_matrix_on_many_inputs(k: int) -> None:
    rng = np.random.default_rng(k)
    for _ in range(60):
        losses = colliding_losses(rng, int(rng.integers(0, 60)), k, odd=float(rng.choice([0.0, 0.05, 0.3])))
        np.testing.assert_array_equal(pareto.nondomination_ranks(losses), reference_ranks(losses))


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 4), st.integers(0, 1200), st.integers(0, 10_000))
def test_ranks_equal_the_domination_matrix_in_blocks(k: int, n: int, seed: int) -> None:
    # Past PEEL_BLOCK rows, peeling works in blocks; continuous values give long fronts, a grid short ones.
    rng = np.random.default_rng(seed)
    losses = rng.random((n, k)) if seed % 2 else colliding_losses(rng, n, k, odd=0.02)
    np.testing.assert_array_equal(pareto.nondomination_ranks(losses), reference_ranks(losses))


def test_first_fronts_stop_once_they_hold_enough_rows() -> None:
    rng = np.random.default_rng(7)
    for _ in range(100):
        k = int(rng.integers(1, 5))
        losses = colliding_losses(rng, int(rng.integers(1, 50)), k)
        ranks = reference_ranks(losses)
        every = [np.flatnonzero(ranks == r) for r in range(ranks.max() + 1)]
        n_rows = int(rng.integers(1, len(losses) + 1))
        got = pareto.first_fronts(losses, n_rows)
        sizes = np.cumsum([len(f) for f in every])
        n_fronts = int(np.searchsorted(sizes, n_rows)) + 1  # the first that brings the count to n_rows
        assert [f.tolist() for f in got] == [f.tolist() for f in every[:n_fronts]]
    assert pareto.first_fronts(np.empty((0, 3)), 5) == []
    assert [f.tolist() for f in pareto.first_fronts([[np.nan, 1.0, 0.0], [1.0, 1.0, 1.0]], 1)] == [[0, 1]]


# ---- greedy selection by hypervolume ------------------------------------------------------------------------------

@pytest.mark.parametrize("k", [1, 2, 3, 4])
def test_greedy_selection_equals_recomputing_every_gain(k: int) -> None:
    rng = np.random.default_rng(10 + k)
    for case in range(40 if k < 4 else 15):
        if case % 2:
            losses = anti_diagonal(rng, int(rng.integers(1, 25)), k)
        else:
            losses = colliding_losses(rng, int(rng.integers(1, 25)), k, odd=0.05)
        finite = losses[np.all(np.isfinite(losses), axis=1)]
        if not len(finite):
            continue
        ref = pareto._loss_reference(finite, float(rng.choice([0.1, 0.0, 0.37])))
        n_select = int(rng.integers(0, len(losses) + 2))
        np.testing.assert_array_equal(pareto.select_by_hypervolume(losses, n_select, ref),
                                      reference_select(losses, n_select, ref))


@settings(max_examples=20, deadline=None)
@given(st.integers(2, 3), st.integers(1, 80), st.integers(0, 10_000))
def test_greedy_selection_of_continuous_fronts(k: int, n: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    losses = rng.random((n, k)) * 10.0 ** rng.integers(-3, 4)
    front = losses[pareto.first_fronts(losses, 1)[0]]
    ref = pareto._loss_reference(losses, pareto.REFERENCE_MARGIN)
    for n_select in {1, len(front) // 2, len(front) - 1}:
        np.testing.assert_array_equal(pareto.select_by_hypervolume(front, n_select, ref),
                                      reference_select(front, n_select, ref))


def test_volumes_near_overflow_are_chosen_the_slow_way() -> None:
    losses = np.array([[1e300, -1e300], [-1e300, 1e300], [0.0, 0.0]])
    ref = np.array([1.1e300, 1.1e300])
    with np.errstate(over="ignore", invalid="ignore"):
        np.testing.assert_array_equal(pareto.select_by_hypervolume(losses, 2, ref), reference_select(losses, 2, ref))


# ---- MOTPE's split ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("k", [2, 3, 4])
def test_split_equals_the_quadratic_split(k: int) -> None:
    rng = np.random.default_rng(20 + k)
    for case in range(35):
        n = int(rng.integers(1, {2: 70, 3: 40, 4: 20}[k]))
        losses = anti_diagonal(rng, n, k) if case % 3 == 0 else colliding_losses(rng, n, k, odd=0.03)
        n_good = int(rng.integers(1, len(losses) + 1))
        np.testing.assert_array_equal(split_good(losses, n_good), reference_split(losses, n_good))


def test_split_of_a_long_run_equals_the_quadratic_split() -> None:
    rng = np.random.default_rng(5)
    for k, n in ((2, 1200), (3, 800)):
        losses = np.round(rng.random((n, k)), 2)  # a metric with two decimals: many equal values
        losses[rng.random(n) < 0.01, 0] = np.inf
        n_good = int(np.ceil(0.1 * n))
        np.testing.assert_array_equal(split_good(losses, n_good), reference_split(losses, n_good))
