"""Pareto helpers: non-dominated sorting, the reference point rule, exact hypervolume, greedy selection."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from raybench.search import pareto


def _grid_hypervolume(losses: np.ndarray, ref: np.ndarray) -> float:
    """Brute force: split the box into the cells between all distinct coordinates, add dominated cells."""
    losses = losses[np.all(losses < ref, axis=1)]
    if not len(losses):
        return 0.0
    axes = [np.unique(np.append(losses[:, d], ref[d])) for d in range(losses.shape[1])]
    total = 0.0
    for cell in itertools.product(*(range(len(a) - 1) for a in axes)):
        low = np.array([axes[d][i] for d, i in enumerate(cell)])
        if np.any(np.all(losses <= low, axis=1)):
            total += float(np.prod([axes[d][i + 1] - axes[d][i] for d, i in enumerate(cell)]))
    return total


def test_fronts_in_both_orientations() -> None:
    # (accuracy max, joules min)
    points = [(0.9, 100.0), (0.8, 50.0), (0.9, 100.0), (0.7, 60.0), (0.85, 120.0), (0.6, 200.0)]
    fronts = pareto.non_dominated_sort(points, ["max", "min"])
    assert [f.tolist() for f in fronts] == [[0, 1, 2], [3, 4], [5]]
    assert pareto.pareto_front(points, ["max", "min"]).tolist() == [0, 1, 2]  # equal points both stay
    assert pareto.pareto_front(points, ["min", "max"]).tolist() == [5]
    assert pareto.pareto_front(np.empty((0, 2)), ["max", "min"]).tolist() == []


def test_reference_point_is_the_worst_moved_out_by_a_tenth_of_the_range() -> None:
    points = [(0.9, 100.0), (0.5, 300.0), (0.7, 200.0)]
    assert pareto.reference_point(points, ["max", "min"]) == pytest.approx([0.46, 320.0])
    # A zero range moves by a tenth of the magnitude, at least 0.1.
    assert pareto.reference_point([(2.0, 0.0), (2.0, 0.0)], ["min", "min"]) == pytest.approx([2.2, 0.1])
    with pytest.raises(ValueError, match="finite"):
        pareto.reference_point([(np.inf, 1.0)], ["min", "min"])


def test_two_objective_hypervolume_by_hand() -> None:
    # Minimise both: staircase (1, 3), (2, 2), (3, 1) up to (4, 4): 3 + 2 + 1 unit columns = 6.
    points = [(1.0, 3.0), (2.0, 2.0), (3.0, 1.0), (3.5, 3.5), (5.0, 0.5)]
    assert pareto.hypervolume(points, ["min", "min"], [4.0, 4.0]) == pytest.approx(6.0)
    # The same points maximised in the first objective, flipped.
    flipped = [(-x, y) for x, y in points]
    assert pareto.hypervolume(flipped, ["max", "min"], [-4.0, 4.0]) == pytest.approx(6.0)
    contrib = pareto.hypervolume_contributions(points, ["min", "min"], [4.0, 4.0])
    assert contrib == pytest.approx([1.0, 1.0, 1.0, 0.0, 0.0])  # (3.5, 3.5) is dominated; (5, .5) outside
    assert pareto.hypervolume([(np.nan, 1.0), (np.inf, 0.0)], ["min", "min"], [4.0, 4.0]) == 0.0


@settings(max_examples=30, deadline=None)
@given(st.integers(2, 4), st.integers(1, 7), st.integers(0, 10_000))
def test_hypervolume_matches_brute_force(k: int, n: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    losses = rng.integers(0, 5, size=(n, k)).astype(float) + rng.random((n, k)) * (seed % 2)
    ref = np.full(k, 5.5)
    assert pareto.loss_hypervolume(losses, ref) == pytest.approx(_grid_hypervolume(losses, ref))


def test_greedy_selection_prefers_what_adds_most_volume() -> None:
    losses = np.array([[1.0, 3.0], [2.0, 2.0], [3.0, 1.0], [2.1, 2.1]])
    ref = np.array([4.0, 4.0])
    assert pareto.select_by_hypervolume(losses, 1, ref).tolist() == [1]  # the 2 x 2 box beats 3 x 1
    picked = pareto.select_by_hypervolume(losses, 3, ref)
    assert picked.tolist() == [0, 1, 2]
    assert pareto.select_by_hypervolume(losses, 10, ref).tolist() == [0, 1, 2, 3]


def test_bad_input_is_refused() -> None:
    with pytest.raises(ValueError, match="'up'"):
        pareto.pareto_front([(1.0, 2.0)], ["max", "up"])
    with pytest.raises(ValueError, match="shape"):
        pareto.pareto_front([(1.0, 2.0, 3.0)], ["max", "min"])
