"""Several objectives: the sampler interface (vector values), MOTPE's good/bad split, and where MOTPE searches."""

from __future__ import annotations

import math

import numpy as np
import pytest

from raybench.search import pareto
from raybench.search import space as sp
from raybench.search.samplers import GridSampler, RandomSampler, TPESampler, make_sampler
from raybench.search.samplers._tpe._split import split_good

OBJECTIVES = [("val_accuracy", "max"), ("energy_j", "min")]
SPACE = {"x": sp.Uniform(0.0, 1.0), "y": sp.Uniform(0.0, 1.0)}


@pytest.mark.parametrize("cls", [RandomSampler, GridSampler, TPESampler])
def test_every_sampler_observes_one_value_per_objective(cls) -> None:
    space = {"a": sp.IntRange(0, 9)}
    s = cls(space, seed=0, objectives=OBJECTIVES)
    assert s.objectives == tuple(OBJECTIVES) and s.n_objectives == 2 and s.mode == "max"
    for t in range(4):
        s.suggest(t)
    s.observe(0, (0.9, 120.0))
    s.observe(1, [0.8, math.nan])  # NaN anywhere: failed
    s.observe(2, None)
    s.replay(3, s.suggest(3), np.array([0.5, 10.0]))
    with pytest.raises(ValueError, match="2 numbers"):
        s.observe(0, 0.9)
    with pytest.raises(ValueError, match="2 numbers"):
        s.observe(0, (0.9, 1.0, 2.0))
    with pytest.raises(ValueError, match="'x'"):
        s.observe(0, (0.9, "x"))


def test_objectives_are_checked() -> None:
    # The runtime passes the mode of the metric its pruner judges, which need not come first.
    s = RandomSampler(SPACE, mode="min", objectives=OBJECTIVES)
    assert s.mode == "max" and s.objectives == tuple(OBJECTIVES)
    with pytest.raises(ValueError, match="'up'"):
        RandomSampler(SPACE, mode="up", objectives=OBJECTIVES)
    with pytest.raises(ValueError, match="distinct"):
        TPESampler(SPACE, objectives=[("a", "max"), ("a", "min")])
    with pytest.raises(ValueError, match="pair"):
        TPESampler(SPACE, objectives=[("a", "up")])
    with pytest.raises(ValueError, match="non-empty"):
        TPESampler(SPACE, objectives=[])
    s = make_sampler({"type": "tpe", "objectives": OBJECTIVES}, SPACE, seed=0, mode="max")
    assert s.n_objectives == 2


def test_one_named_objective_behaves_as_mode() -> None:
    a = TPESampler(SPACE, seed=1, mode="min", n_startup_trials=3)
    b = TPESampler(SPACE, seed=1, objectives=[("loss", "min")], n_startup_trials=3)
    for t in range(12):
        ca, cb = a.suggest(t), b.suggest(t)
        assert ca == cb
        a.observe(t, ca["x"] + ca["y"])
        b.observe(t, [cb["x"] + cb["y"]])


def test_split_takes_whole_fronts_then_cuts_the_last_by_hypervolume() -> None:
    losses = np.array([
        [1.0, 1.0],   # front 0
        [0.0, 3.0],   # front 0 (better than row 0 in the first loss)
        [2.0, 2.0],   # front 1
        [1.5, 2.5],   # front 1
        [3.0, 1.5],   # front 1
        [4.0, 4.0],   # front 2
    ])
    ranks = pareto.nondomination_ranks(losses)
    assert ranks.tolist() == [0, 0, 1, 1, 1, 2]
    # Room for 3: both of front 0, then the one of front 1 with the largest volume against the
    # reference (4.4, 4.3): (2, 2) has a bigger box than (1.5, 2.5) or (3, 1.5).
    assert np.flatnonzero(split_good(losses, 3)).tolist() == [0, 1, 2]
    assert np.flatnonzero(split_good(losses, 2)).tolist() == [0, 1]
    assert np.flatnonzero(split_good(losses, 5)).tolist() == [0, 1, 2, 3, 4]
    # One objective: the best n, ties to the earlier row.
    assert np.flatnonzero(split_good(np.array([[3.0], [1.0], [1.0], [2.0]]), 2)).tolist() == [1, 2]


def _bi_objective(c: dict) -> tuple[float, float]:
    """Maximise x, minimise x plus a penalty away from y = 0.3: the Pareto set is the line y = 0.3."""
    return c["x"], c["x"] + 4.0 * (c["y"] - 0.3) ** 2


@pytest.mark.parametrize("multivariate", [False, True])
def test_motpe_searches_near_the_pareto_set(multivariate: bool) -> None:
    distances = {}
    for name in ("random", "tpe"):
        values = []
        for seed in range(3):
            if name == "random":
                s = RandomSampler(SPACE, seed=seed, objectives=OBJECTIVES)
            else:
                s = TPESampler(SPACE, seed=seed, objectives=OBJECTIVES, multivariate=multivariate)
            for t in range(60):
                c = s.suggest(t)
                s.observe(t, _bi_objective(c))
                if t >= 40:
                    values.append(abs(c["y"] - 0.3))
        distances[name] = float(np.median(values))
    assert distances["tpe"] < 0.5 * distances["random"]
