"""Guardrails: protected trials spread over the space, min_value, patience, around any pruner."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from raybench.search import space as sp
from raybench.search.decision import Action
from raybench.search.pruners import (
    ASHAPruner,
    GuardedPruner,
    LearningCurvePruner,
    MedianPruner,
    NoPruner,
    PromotionASHAPruner,
)
from raybench.search.pruners._guard import encode, maximin_anchors

SPACE = {"lr": sp.LogUniform(1e-4, 1e-1), "layers": sp.IntRange(1, 4), "act": sp.Choice(("relu", "tanh"))}


def _config(i: int) -> dict:
    rng = np.random.default_rng(i)
    return sp.sample_config(SPACE, rng)


def test_encode_puts_configs_in_the_unit_cube() -> None:
    x = encode(SPACE, {"lr": 1e-4, "layers": 4, "act": "tanh"})
    assert x.tolist() == pytest.approx([0.0, 1.0, 0.0, 1 / math.sqrt(2)])
    assert encode(SPACE, {"lr": 1e-1, "layers": 1, "act": "relu"})[0] == pytest.approx(1.0)
    with pytest.raises(ValueError, match="config of a registered trial lacks 'act'"):
        encode(SPACE, {"lr": 1e-3, "layers": 2})


def test_maximin_anchors_are_spread_and_seeded() -> None:
    line = {"x": sp.Uniform(0.0, 1.0)}
    anchors = np.sort(maximin_anchors(line, 3, seed=0)[:, 0])
    assert anchors[0] < 0.02 and anchors[2] > 0.98 and abs(anchors[1] - 0.5) < 0.05
    a, b = maximin_anchors(SPACE, 5, seed=1), maximin_anchors(SPACE, 5, seed=1)
    assert np.array_equal(a, b) and not np.array_equal(a, maximin_anchors(SPACE, 5, seed=2))
    grid = {"a": sp.Choice((1, 2)), "b": sp.IntRange(0, 1)}
    assert len(maximin_anchors(grid, 9, seed=0)) == 4  # only four distinct points exist
    pairwise = [np.linalg.norm(x - y) for i, x in enumerate(a) for y in a[i + 1:]]
    random_points = np.stack([encode(SPACE, _config(i)) for i in range(5)])
    random_pairwise = [np.linalg.norm(x - y) for i, x in enumerate(random_points) for y in random_points[i + 1:]]
    assert min(pairwise) > min(random_pairwise)


def test_each_anchor_protects_the_first_trial_in_its_cell() -> None:
    g = GuardedPruner(NoPruner(), protected_trials=3, space={"x": sp.Uniform(0.0, 1.0)})
    for t, x in enumerate((0.01, 0.02, 0.97, 0.5, 0.55, 0.99)):
        g.register(t, {"x": x})
    assert g.protected == {0, 2, 3}


def test_protected_trials_are_never_stopped_even_by_min_value() -> None:
    g = GuardedPruner(MedianPruner(min_peers=1), protected_trials=1, min_value=0.5, space=SPACE)
    g.register(0, _config(0))
    g.register(1, _config(1))
    assert g.protected == {0}
    g.report(1, 1, 0.9)
    d = g.report(0, 1, 0.1)  # below the median of its peer and below min_value
    assert d.action is Action.CONTINUE and d.reason.guard == "protected" and d.reason.rule == "median"
    assert d.reason.overridden == "stop"
    assert d.reason.detail == ("continued at epoch 1: protected trial; median would have stopped it: stopped at "
                               "epoch 1: best 0.1 < cutoff 0.9 from 1 peer")
    assert g.report(0, 2, math.nan).action is Action.CONTINUE
    d = g.report(1, 2, 0.95)
    assert not d.stop and d.reason.guard is None


def test_min_value_stops_after_warmup_in_the_metrics_direction() -> None:
    g = GuardedPruner(NoPruner(mode="min"), min_value=2.0, warmup=2)
    assert not g.report(0, 1, 5.0).stop
    d = g.report(0, 2, 5.0)
    assert d.stop and d.reason.rule == "min_value" and d.reason.guard == "min_value" and d.reason.cutoff == 2.0
    assert d.reason.detail == "stopped at epoch 2: 5 > min_value 2"
    assert not g.report(1, 2, 1.5).stop


def test_patience_stops_at_the_pth_consecutive_would_stop() -> None:
    g = GuardedPruner(NoPruner(), min_value=0.5, patience=3)
    actions = [g.report(0, e, v).action for e, v in enumerate((0.4, 0.4, 0.6, 0.4, 0.4), start=1)]
    assert actions == [Action.CONTINUE] * 5  # the 0.6 breaks the streak
    d = g.report(0, 6, 0.3)
    assert d.stop and d.reason.detail == "stopped at epoch 6: 0.3 < min_value 0.5 (3 in a row)"
    d = g.report(1, 1, 0.1)
    assert d.reason.guard == "patience" and d.reason.detail.startswith("continued at epoch 1: would stop (1 of 3")
    assert g.report(2, 1, math.inf).stop  # a diverged trial stops at once


def test_patience_defers_the_wrapped_rules_stop() -> None:
    g = GuardedPruner(MedianPruner(min_peers=1), patience=2)
    g.report(0, 1, 0.9)
    g.report(0, 2, 0.9)
    assert g.report(1, 1, 0.1).reason.guard == "patience"
    d = g.report(1, 2, 0.1)
    assert d.stop and d.reason.rule == "median" and d.reason.guard == "patience"


def test_a_protected_trial_is_not_paused_by_promotion_asha() -> None:
    inner = PromotionASHAPruner(grace_period=1, reduction_factor=3, max_t=9)
    g = GuardedPruner(inner, protected_trials=1, space={"x": sp.Uniform(0, 1)})
    g.register(0, {"x": 0.5})
    g.register(1, {"x": 0.4})
    d = g.report(0, 1, 0.1)
    assert d.action is Action.CONTINUE and "would have paused it" in d.reason.detail
    assert g.report(1, 1, 0.5).pause and g.paused() == {1: 1.0}
    assert g.report(0, 2, 0.1).reason.guard == "protected"
    assert g.next_promotion() is None  # delegated to the wrapped rule


@pytest.mark.parametrize(("options", "match"), [
    ({"protected_trials": 2}, "guard protected_trials needs the search space; pass space= to make_pruner"),
    ({"patience": 0}, "patience must be an int >= 1, got 0"),
    ({"min_value": math.nan}, "min_value must be finite, got nan"),
    ({"warmup": -1}, "warmup must be >= 0 and finite, got -1.0"),
])
def test_rejects_bad_options(options: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        GuardedPruner(NoPruner(), **options)


_INNER = {
    "median": lambda mode: MedianPruner(mode=mode, min_peers=1),
    "asha": lambda mode: ASHAPruner(mode=mode, grace_period=1, reduction_factor=2, max_t=8),
    "learning_curve": lambda mode: LearningCurvePruner(mode=mode, max_t=20, families=("exp3",)),
}
_EVENTS = st.lists(st.tuples(st.integers(0, 7), st.one_of(st.sampled_from((0.0, 0.5, 1.0)), st.floats(-10, 10))),
                   max_size=60)


def _play(g: GuardedPruner, events: list, sign: float) -> list:
    epoch: dict[int, int] = {}
    out = []
    for trial, value in events:
        if trial not in epoch:
            g.register(trial, _config(trial))
        epoch[trial] = epoch.get(trial, 0) + 1
        out.append(g.report(trial, epoch[trial], sign * value))
    return out


@pytest.mark.parametrize("inner", sorted(_INNER))
@settings(max_examples=30, deadline=None)
@given(events=_EVENTS, noise=st.integers(0, 2**32 - 1))
def test_replay_and_mode_flip(inner: str, events: list, noise: int) -> None:
    def make(mode: str) -> GuardedPruner:
        return GuardedPruner(_INNER[inner](mode), protected_trials=2, min_value=0.25 if mode == "max" else -0.25,
                             warmup=2, patience=2, space=SPACE, seed=3)

    first = _play(make("max"), events, 1.0)
    random.seed(noise)
    np.random.seed(noise)
    assert _play(make("max"), events, 1.0) == first
    for a, b in zip(first, _play(make("min"), events, -1.0), strict=True):
        assert a.action is b.action and a.reason.guard == b.reason.guard and a.reason.rule == b.reason.rule
        assert a.reason.value == -b.reason.value
        assert (a.reason.cutoff is None and b.reason.cutoff is None) or a.reason.cutoff == -b.reason.cutoff
    protected = make("max")
    decisions = _play(protected, events, 1.0)
    mine = [d for (t, _), d in zip(events, decisions) if t in protected.protected]
    assert all(d.action is Action.CONTINUE and d.reason.guard == "protected" for d in mine)
