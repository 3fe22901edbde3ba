"""Pruners: each rule's behaviour, the contract every pruner keeps (properties), and make_pruner."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import raybench.search.pruners as pruners
from raybench.config._schema import ASHAPrunerSpec, MedianPrunerSpec, NoPrunerSpec, PercentilePrunerSpec
from raybench.search.decision import Action
from raybench.search.pruners import (
    PRUNERS,
    ASHAPruner,
    HyperbandPruner,
    LearningCurvePruner,
    MedianPruner,
    NoPruner,
    PercentilePruner,
    Pruner,
    make_pruner,
)
from raybench.search.pruners._asha import bracket_thresholds, rung_milestones
from raybench.search.pruners._stats import percentile_of_sorted, unit_hash


def test_public_api_is_exactly_all() -> None:
    public = {name for name in dir(pruners) if not name.startswith("_")}
    assert set(pruners.__all__) == public - {"annotations"}
    assert sorted(PRUNERS) == ["asha", "hyperband", "learning_curve", "median", "none", "percentile"]


# ---- numerics ---------------------------------------------------------------------------------------------

@settings(max_examples=300, deadline=None)
@given(values=st.lists(st.one_of(st.sampled_from((0.0, 0.1, 0.3, 1.0)), st.floats(-1e9, 1e9)), min_size=1,
                       max_size=30),
       percent=st.one_of(st.sampled_from((0.0, 25.0, 50.0, 66.66666666666667, 75.0, 100.0)), st.floats(0, 100)))
def test_percentile_is_bit_identical_to_numpy(values: list[float], percent: float) -> None:
    ordered = sorted(values)
    assert percentile_of_sorted(ordered, percent / 100) == np.percentile(values, percent)


def test_unit_hash_is_fixed_and_spread() -> None:
    assert unit_hash(0, 1) == unit_hash(0, 1) != unit_hash(1, 1)
    draws = [unit_hash(3, i) for i in range(20_000)]
    assert all(0.0 <= u < 1.0 for u in draws)
    counts = np.histogram(draws, bins=10, range=(0, 1))[0]
    assert counts.min() > 1800 and counts.max() < 2200


# ---- none -------------------------------------------------------------------------------------------------

def test_none_always_continues_with_a_reason() -> None:
    p = NoPruner(mode="min", unit="time_s")
    for i, v in enumerate([1.0, math.nan, -math.inf, 1e9]):
        d = p.report(i, 1.5, v)
        assert d.action is Action.CONTINUE and d.reason.rule == "none" and d.reason.unit == "time_s"
        assert "never stops" in d.reason.detail


# ---- median / percentile ----------------------------------------------------------------------------------

def test_median_compares_best_so_far_with_the_median_of_peers_at_the_step() -> None:
    p = MedianPruner(mode="max", min_peers=3)
    for t, v in enumerate([0.2, 0.4, 0.6, 0.8]):
        p.report(t, 1, v)
    for t, v in enumerate([0.3, 0.5, 0.7]):
        p.report(t, 2, v)
    # Trial 3's best so far (0.8 at epoch 1) beats the epoch-2 median of 0.5, although 0.45 does not.
    d = p.report(3, 2, 0.45)
    assert not d.stop and d.reason.value == 0.8 and d.reason.cutoff == 0.5 and d.reason.n_peers == 3
    d = p.report(4, 1, 0.35)
    assert d.stop and d.reason.cutoff == pytest.approx(0.5) and d.reason.n_peers == 4
    assert d.reason.detail == "stopped at epoch 1: best 0.35 < cutoff 0.5 from 4 peers"


def test_median_waits_for_warmup_then_startup_trials_then_peers() -> None:
    p = MedianPruner(mode="max", warmup=2, min_peers=2, startup_trials=1)
    for t in range(3):
        p.report(t, 1, 1.0)
    d = p.report(3, 1, 0.0)
    assert not d.stop and d.reason.detail == "continued at epoch 1: warm-up until epoch 2"
    p.report(0, 2, 1.0)
    d = p.report(3, 2, 0.0)
    assert not d.stop and d.reason.detail == "continued at epoch 2: 0 of 1 start-up trials completed"
    p.complete(0)
    d = p.report(1, 2, 0.0)
    assert not d.stop and d.reason.n_peers == 2  # median of 1.0 and 0.0 is 0.5, but trial 1's best is 1.0
    d = p.report(4, 2, 0.2)
    assert not d.stop and d.reason.n_peers == 3 and d.reason.cutoff == 0.0  # peers 1.0, 0.0, 0.0
    d = p.report(5, 2, 0.2)
    assert not d.stop and d.reason.n_peers == 4 and d.reason.cutoff == 0.1
    d = p.report(6, 2, -0.1)
    assert d.stop and d.reason.detail == "stopped at epoch 2: best -0.1 < cutoff 0.2 from 5 peers"


def test_percentile_keeps_the_top_share_in_both_modes() -> None:
    peers = [float(v) for v in range(1, 11)]
    keep_top_quarter = PercentilePruner(mode="max", percentile=25, min_peers=1)
    keep_low_quarter = PercentilePruner(mode="min", percentile=25, min_peers=1)
    for t, v in enumerate(peers):
        keep_top_quarter.report(t, 1, v)
        keep_low_quarter.report(t, 1, v)
    assert keep_top_quarter.report(99, 1, 7.7).reason.cutoff == np.percentile(peers, 75)
    assert keep_top_quarter.report(98, 1, 7.7).stop and not keep_top_quarter.report(97, 1, 7.8).stop
    d = keep_low_quarter.report(99, 1, 3.3)
    assert d.stop and d.reason.cutoff == pytest.approx(np.percentile(peers, 25)) and ">" in d.reason.detail


def test_continuous_units_use_each_peers_latest_value_at_or_before_the_progress() -> None:
    p = MedianPruner(mode="min", unit="time_s", warmup=0, min_peers=1)
    p.report(0, 10.0, 5.0)
    p.report(0, 20.0, 3.0)
    p.report(0, 30.0, 1.0)
    p.report(1, 40.0, 9.0)  # no report at or before 15 s: not a peer there
    d = p.report(2, 15.0, 6.0)
    assert d.stop and d.reason.n_peers == 1 and d.reason.cutoff == 5.0
    assert d.reason.detail == "stopped at 15 s: best 6 > cutoff 5 from 1 peer"
    d = p.report(3, 25.0, 3.5)  # peers at 25 s: trial 0's 3.0 (from 20 s), trial 2's 6.0 (from 15 s)
    assert not d.stop and d.reason.cutoff == 4.5 and d.reason.n_peers == 2
    d = p.report(4, 100.0, 2.0)  # every trial counts with its last value: 1.0, 9.0, 6.0, 3.5
    assert not d.stop and d.reason.cutoff == 4.75 and d.reason.n_peers == 4


def test_percentile_stops_a_diverged_trial_and_forgets_the_value() -> None:
    p = MedianPruner(min_peers=1)
    d = p.report(0, 1, math.nan)
    assert d.stop and d.reason.detail == "stopped at epoch 1: value nan is not finite"
    assert p.report(1, 1, math.inf).stop
    assert p.report(2, 1, 0.5).reason.n_peers == 0


# ---- asha -------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("grace", "eta", "max_t", "expected"), [
    (1, 3, 100, (1, 3, 9, 27, 81)),
    (1, 10, 1000, (1, 10, 100, 1000)),  # log(1000)/log(10) rounds below 3: kept all the same
    (2, 2, 16, (2, 4, 8, 16)),
    (1, 2, 10, (1, 2, 4, 8)),
    (5, 3, 5, (5,)),
    (0.5, 1.5, 2, (0.5, 0.75, 1.125, 1.6875)),
])
def test_rung_milestones(grace: float, eta: float, max_t: float, expected: tuple) -> None:
    assert rung_milestones(grace, eta, max_t) == pytest.approx(expected)


def test_asha_cutoff_is_the_one_minus_one_over_eta_percentile_and_the_first_always_goes_on() -> None:
    p = ASHAPruner(mode="max", grace_period=1, reduction_factor=3, max_t=9)
    d = p.report(0, 1, 0.5)
    assert not d.stop and d.reason.cutoff is None and d.reason.detail == "continued at rung 1 (epoch 1): first " \
                                                                          "trial to reach it"
    assert not p.report(1, 1, 0.9).stop
    d = p.report(2, 1, 0.6)
    assert d.stop and d.reason.cutoff == np.percentile([0.5, 0.9], 100 * (1 - 1 / 3)) and d.reason.n_peers == 2
    assert d.reason.rung == 1 and d.reason.detail == "stopped at rung 1 (epoch 1): 0.6 < cutoff 0.766667 from 2 peers"
    d = p.report(1, 2, 0.1)
    assert not d.stop and d.reason.rung is None and d.reason.detail == "continued at epoch 2: next rung at epoch 3"
    d = p.report(1, 3, 0.95)
    assert not d.stop and d.reason.rung == 3 and d.reason.detail.startswith("continued at rung 2 (epoch 3): first")
    assert p.rungs() == {1: {0: 0.5, 1: 0.9, 2: 0.6}, 3: {1: 0.95}, 9: {}}


def test_asha_in_mode_min_words_the_comparison_the_other_way() -> None:
    p = ASHAPruner(mode="min", grace_period=1, reduction_factor=2, max_t=8)
    p.report(0, 1, 0.3)
    d = p.report(1, 1, 0.4)
    assert d.stop and d.reason.detail == "stopped at rung 1 (epoch 1): 0.4 > cutoff 0.3 from 1 peer"
    assert p.rungs() == {1: {0: 0.3, 1: 0.4}, 2: {}, 4: {}, 8: {}}


def test_asha_report_passing_several_rungs_records_each_until_one_fails() -> None:
    p = ASHAPruner(mode="max", unit="energy_j", grace_period=10, reduction_factor=2, max_t=80)
    d = p.report(0, 45.0, 0.8)
    assert not d.stop and d.reason.rung == 40 and d.reason.detail == "continued at rung 3 (40 J): first trial to " \
                                                                       "reach it"
    p.report(1, 12.0, 0.5)  # rung 10 J: 0.5 >= cutoff? one peer at 0.8 -> cutoff 0.8 -> stopped
    d = p.report(2, 30.0, 0.9)
    assert not d.stop and d.reason.rung == 20 and d.reason.n_peers == 1
    d = p.report(3, 50.0, 0.7)  # passes rung 10 (peers 0.8, 0.5, 0.9 -> cutoff 0.8): fails there
    assert d.stop and d.reason.rung == 10 and d.reason.n_peers == 3
    rungs = p.rungs()
    assert rungs[10] == {0: 0.8, 1: 0.5, 2: 0.9, 3: 0.7} and rungs[20] == {0: 0.8, 2: 0.9} and rungs[40] == {0: 0.8}


def test_asha_leaves_the_end_at_max_t_to_the_runtime() -> None:
    p = ASHAPruner(grace_period=1, reduction_factor=3, max_t=9)
    decisions = [p.report(0, t, 0.5) for t in range(1, 30)]
    assert not any(d.stop for d in decisions)
    assert decisions[-1].reason.detail == "continued at epoch 29: past the last rung (epoch 9)"


def test_asha_stops_non_finite_values_without_recording_them() -> None:
    p = ASHAPruner(grace_period=1, reduction_factor=3, max_t=9)
    assert p.report(0, 1, math.nan).stop
    assert p.rungs()[1] == {}


def test_asha_brackets_start_at_later_rungs_and_are_drawn_by_softmax_over_their_rungs() -> None:
    p = ASHAPruner(grace_period=1, reduction_factor=3, max_t=27, brackets=3, seed=4)
    assert [tuple(p.rungs(b)) for b in range(3)] == [(1, 3, 9, 27), (3, 9, 27), (9, 27)]
    weights = np.exp([0.0, -1.0, -2.0])
    counts = np.bincount([p.bracket_of(i) for i in range(30_000)], minlength=3) / 30_000
    assert counts == pytest.approx(weights / weights.sum(), abs=0.015)
    again = ASHAPruner(grace_period=1, reduction_factor=3, max_t=27, brackets=3, seed=4)
    other = ASHAPruner(grace_period=1, reduction_factor=3, max_t=27, brackets=3, seed=5)
    assert [again.bracket_of(i) for i in range(500)] == [p.bracket_of(i) for i in range(500)]
    assert sum(other.bracket_of(i) != p.bracket_of(i) for i in range(500)) > 100
    assert bracket_thresholds([4, 3, 2]) == pytest.approx(list(np.cumsum(weights / weights.sum())[:2]))


def test_asha_trial_in_a_later_bracket_is_first_judged_at_that_brackets_first_rung() -> None:
    p = ASHAPruner(grace_period=1, reduction_factor=3, max_t=27, brackets=2)
    late = [i for i in range(100) if p.bracket_of(i) == 1][:3]
    p.report(late[0], 1, 0.9)
    p.report(late[1], 1, 0.1)
    assert p.report(late[1], 2, 0.1).reason.detail == "continued at epoch 2: next rung at epoch 3"
    p.report(late[0], 3, 0.9)
    d = p.report(late[1], 3, 0.1)
    assert d.stop and d.reason.rung == 3 and d.reason.detail.startswith("stopped at rung 2 (epoch 3)")


@pytest.mark.parametrize(("options", "match"), [
    ({"grace_period": 0}, "grace_period must be > 0 and finite, got 0.0"),
    ({"reduction_factor": 1}, "reduction_factor must be > 1 and finite, got 1.0"),
    ({"grace_period": 5, "max_t": 4}, "max_t must be finite and >= grace_period 5, got 4.0"),
    ({"brackets": 0}, "brackets must be an int >= 1, got 0"),
    ({"max_t": 9, "brackets": 4}, "brackets must be <= the 3 rungs from grace_period to max_t, got 4"),
    ({"seed": -1}, "seed must be an int >= 0, got -1"),
    ({"grace_period": "soon"}, "grace_period must be a number, got 'soon'"),
])
def test_asha_rejects_bad_options(options: dict, match: str) -> None:
    options = {"reduction_factor": 3, **options}
    with pytest.raises(ValueError, match=match):
        ASHAPruner(**options)


@pytest.mark.parametrize(("options", "match"), [
    ({"percentile": 0}, "percentile must be > 0 and < 100, got 0.0"),
    ({"percentile": 100}, "percentile must be > 0 and < 100, got 100.0"),
    ({"warmup": -1}, "warmup must be >= 0, got -1.0"),
    ({"min_peers": 0}, "min_peers must be an int >= 1, got 0"),
    ({"min_peers": 2.5}, "min_peers must be an int >= 1, got 2.5"),
    ({"startup_trials": -1}, "startup_trials must be an int >= 0, got -1"),
    ({"mode": "maximize"}, "mode must be 'max' or 'min', got 'maximize'"),
    ({"unit": "steps"}, "unit must be one of epoch, time_s, energy_j, got 'steps'"),
])
def test_percentile_rejects_bad_options(options: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        PercentilePruner(**options)


def test_report_checks_its_arguments() -> None:
    p = MedianPruner()
    p.report(0, 2, 0.5)
    with pytest.raises(ValueError, match="progress must increase per trial, got 2 after 2 for trial 0"):
        p.report(0, 2, 0.5)
    with pytest.raises(ValueError, match="progress must be finite, got nan"):
        p.report(1, math.nan, 0.5)
    with pytest.raises(ValueError, match="trial_id must be a non-negative int, got -1"):
        p.report(-1, 1, 0.5)
    with pytest.raises(ValueError, match="trial_id must be a non-negative int, got True"):
        p.report(True, 1, 0.5)
    with pytest.raises(ValueError, match="value must be a number, got None"):
        p.report(1, 1, None)
    p.complete(0)
    with pytest.raises(ValueError, match="trial 0 was already completed; it cannot report progress 3"):
        p.report(0, 3, 0.5)
    assert p.report(np.int64(7), np.float32(1.0), np.float64(0.5)).reason.progress == 1.0


# ---- make_pruner ------------------------------------------------------------------------------------------

def test_make_pruner_from_schema_specs() -> None:
    assert isinstance(make_pruner(NoPrunerSpec(type="none"), mode="max"), NoPruner)
    median = make_pruner(MedianPrunerSpec(type="median", progress="energy_j", warmup=2), mode="min")
    assert type(median) is MedianPruner and median.unit == "energy_j" and median.mode == "min"
    pct = make_pruner(PercentilePrunerSpec(type="percentile", percentile=10), mode="max")
    assert type(pct) is PercentilePruner and pct.percentile == 10
    spec = ASHAPrunerSpec(type="asha", progress="time_s", grace_period=2, reduction_factor=2, max_t=16, brackets=2)
    asha = make_pruner(spec, mode="max", seed=5)
    same = ASHAPruner(unit="time_s", grace_period=2, reduction_factor=2, max_t=16, brackets=2, seed=5)
    assert asha.unit == "time_s" and tuple(asha.rungs(1)) == (4, 8, 16)
    assert [asha.bracket_of(i) for i in range(200)] == [same.bracket_of(i) for i in range(200)]


def test_make_pruner_from_dicts_and_its_errors() -> None:
    spec = {"type": "asha", "max_t": 27, "brackets": 2, "seed": 9}
    assert make_pruner(spec, mode="max", seed=1).bracket_of(3) == ASHAPruner(max_t=27, brackets=2, seed=9).bracket_of(3)
    assert spec["type"] == "asha"  # not consumed
    with pytest.raises(ValueError, match="unknown pruner 'bohb'; valid: asha, hyperband, learning_curve, median, "
                                         "none, percentile"):
        make_pruner({"type": "bohb"}, mode="max")
    with pytest.raises(ValueError, match="pruner spec needs a 'type' key"):
        make_pruner({"grace_period": 1}, mode="max")
    with pytest.raises(ValueError, match="pruner 'median' has no option 'percentile'; valid: guard, min_peers, "
                                         "progress, startup_trials, warmup"):
        make_pruner({"type": "median", "percentile": 20}, mode="max")
    with pytest.raises(ValueError, match="mode must be 'max' or 'min', got 'up'"):
        make_pruner({"type": "none"}, mode="up")


# ---- the contract every pruner keeps (properties) ---------------------------------------------------------

FACTORIES = {
    "none": lambda mode: NoPruner(mode=mode),
    "median-epoch": lambda mode: MedianPruner(mode=mode, min_peers=2),
    "median-time": lambda mode: MedianPruner(mode=mode, unit="time_s", warmup=0, min_peers=1),
    "percentile-energy": lambda mode: PercentilePruner(mode=mode, unit="energy_j", percentile=30, min_peers=1,
                                                       startup_trials=1),
    "asha-epoch": lambda mode: ASHAPruner(mode=mode, grace_period=1, reduction_factor=2, max_t=16),
    "asha-brackets": lambda mode: ASHAPruner(mode=mode, grace_period=1, reduction_factor=2, max_t=16, brackets=3),
    "asha-time": lambda mode: ASHAPruner(mode=mode, unit="time_s", grace_period=0.5, reduction_factor=3, max_t=20),
    "hyperband-epoch": lambda mode: HyperbandPruner(mode=mode, min_resource=1, max_resource=16, reduction_factor=2),
    "hyperband-time": lambda mode: HyperbandPruner(mode=mode, unit="time_s", min_resource=0.5, max_resource=20,
                                                   reduction_factor=3, seed=4),
    # Two families (one and two shape parameters) keep the property tests fast; max_t past most progress.
    "learning-curve": lambda mode: LearningCurvePruner(mode=mode, max_t=30, families=("exp3", "janoschek")),
    "learning-curve-time": lambda mode: LearningCurvePruner(mode=mode, unit="time_s", max_t=12, margin=0.1,
                                                            families=("pow3",)),
}

# (trial, progress step, value, complete the trial after this report)
_EVENT = st.tuples(st.integers(0, 7), st.sampled_from((1.0, 1.0, 1.0, 2.0, 0.5, 2.5)),
                   st.one_of(st.sampled_from((0.0, 0.25, 0.5, 1.0)), st.floats(-1e6, 1e6)),
                   st.integers(0, 5).map(lambda k: k == 0))
EVENTS = st.lists(_EVENT, max_size=80)


def _play(pruner: Pruner, events: list, sign: float = 1.0) -> list:
    """Feeds the events, skipping those of completed trials; epoch progress moves by whole steps."""
    progress: dict[int, float] = {}
    done: set[int] = set()
    out = []
    for trial, step, value, complete in events:
        if trial in done:
            continue
        step = max(1.0, round(step)) if pruner.unit == "epoch" else step
        progress[trial] = progress.get(trial, 0.0) + step
        out.append(pruner.report(trial, progress[trial], sign * value))
        if complete:
            pruner.complete(trial)
            done.add(trial)
    return out


def _negated(x: float | None) -> float | None:
    return None if x is None else -x


@pytest.mark.parametrize("kind", sorted(FACTORIES))
@settings(max_examples=60, deadline=None)
@given(events=EVENTS)
def test_flipping_mode_and_the_sign_of_values_changes_no_decision(kind: str, events: list) -> None:
    as_max = _play(FACTORIES[kind]("max"), events)
    as_min = _play(FACTORIES[kind]("min"), events, sign=-1.0)
    for a, b in zip(as_max, as_min, strict=True):
        assert a.action is b.action
        ra, rb = a.reason, b.reason
        assert (ra.progress, ra.n_peers, ra.rung) == (rb.progress, rb.n_peers, rb.rung)
        assert ra.value == _negated(rb.value) and ra.cutoff == _negated(rb.cutoff)
        assert (ra.probability, ra.families) == (rb.probability, rb.families)
        assert ra.predicted == _negated(rb.predicted)
        assert (ra.interval_low, ra.interval_high) == (_negated(rb.interval_high), _negated(rb.interval_low))


@pytest.mark.parametrize("kind", sorted(FACTORIES))
@settings(max_examples=40, deadline=None)
@given(events=EVENTS, noise=st.integers(0, 2**32 - 1))
def test_replaying_the_calls_rebuilds_the_same_decisions(kind: str, events: list, noise: int) -> None:
    first = _play(FACTORIES[kind]("max"), events)
    # Global RNGs in any state: decisions must not read them.
    random.seed(noise)
    np.random.seed(noise)
    assert _play(FACTORIES[kind]("max"), events) == first


@pytest.mark.parametrize("kind", ["asha-epoch", "asha-brackets", "asha-time"])
@settings(max_examples=80, deadline=None)
@given(events=EVENTS)
def test_asha_never_stops_the_first_trial_at_a_rung(kind: str, events: list) -> None:
    pruner = FACTORIES[kind]("max")
    progress: dict[int, float] = {}
    for trial, step, value, _ in events:
        step = max(1.0, round(step)) if pruner.unit == "epoch" else step
        progress[trial] = progress.get(trial, 0.0) + step
        before = pruner.rungs(pruner.bracket_of(trial))
        d = pruner.report(trial, progress[trial], value)
        if d.reason.rung is not None:
            assert d.reason.n_peers == len(before[d.reason.rung])
            assert not (d.stop and not before[d.reason.rung])
            assert trial in pruner.rungs(pruner.bracket_of(trial))[d.reason.rung]


def _brute_force_percentile(history: dict[int, list[tuple[float, float]]], trial: int, progress: float,
                            unit: str, percentile: float) -> tuple[list[float], float | None]:
    """Peers' values at the step and the cutoff, from all reports, the slow and obvious way (mode max)."""
    peers = []
    for other, reports in history.items():
        if other == trial:
            continue
        if unit == "epoch":
            peers += [v for p, v in reports if p == progress]
        else:
            before = [v for p, v in reports if p <= progress]
            peers += before[-1:]
    return peers, (float(np.percentile(peers, 100 - percentile)) if peers else None)


@pytest.mark.parametrize("unit", ["epoch", "time_s"])
@settings(max_examples=80, deadline=None)
@given(events=EVENTS, percentile=st.sampled_from((50.0, 25.0, 90.0)), min_peers=st.integers(1, 3),
       warmup=st.sampled_from((0.0, 1.0, 2.0)), startup=st.integers(0, 2))
def test_percentile_rule_equals_its_definition(unit: str, events: list, percentile: float, min_peers: int,
                                               warmup: float, startup: int) -> None:
    pruner = PercentilePruner(unit=unit, percentile=percentile, min_peers=min_peers, warmup=warmup,
                              startup_trials=startup)
    history: dict[int, list[tuple[float, float]]] = {}
    progress: dict[int, float] = {}
    done: set[int] = set()
    for trial, step, value, complete in events:
        if trial in done:
            continue
        step = max(1.0, round(step)) if unit == "epoch" else step
        progress[trial] = p = progress.get(trial, 0.0) + step
        d = pruner.report(trial, p, value)
        best = max([v for _, v in history.get(trial, [])] + [value])
        peers, cutoff = _brute_force_percentile(history, trial, p, unit, percentile)
        history.setdefault(trial, []).append((p, value))
        judged = p >= warmup and len(done) >= startup and len(peers) >= min_peers
        assert d.stop == (judged and best < cutoff)
        assert d.reason.value == best
        if judged:
            assert d.reason.cutoff == cutoff and d.reason.n_peers == len(peers)
        if complete:
            pruner.complete(trial)
            done.add(trial)


def test_bench_script_measures_both_rules() -> None:
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "scripts" / "_bench_pruners.py"
    spec = importlib.util.spec_from_file_location("_bench_pruners", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    rates = bench.measure_decisions(2_000)
    assert set(rates) == {"asha", "median"} and all(r > 0 for r in rates.values())


def test_complete_frees_per_trial_state_but_not_what_peers_are_compared_with() -> None:
    asha = ASHAPruner(max_t=27, brackets=2, seed=3)
    before = [asha.bracket_of(i) for i in range(20)]
    for i in range(20):
        asha.report(i, 3, 0.5)
        asha.complete(i)
    assert [asha.bracket_of(i) for i in range(20)] == before and asha.n_completed == 20
    assert set(asha.rungs(0)[3]) | set(asha.rungs(1)[3]) == set(range(20))
    median = MedianPruner(min_peers=1)
    median.report(0, 1, 0.5)
    median.complete(0)
    assert median.report(1, 1, 0.4).stop and median.report(2, 1, 0.6).reason.n_peers == 2


# ---- make_pruner: the new rules, asha's variant and the guard ----------------------------------------------

def test_make_pruner_builds_the_new_rules_from_schema_specs() -> None:
    from raybench.config._schema import GuardSpec, HyperbandPrunerSpec, LearningCurvePrunerSpec
    from raybench.search import space as sp
    from raybench.search.pruners import GuardedPruner, PromotionASHAPruner

    hb = make_pruner(HyperbandPrunerSpec(type="hyperband"), mode="max", seed=4, max_t=27)
    assert type(hb) is HyperbandPruner and hb.n_brackets == 4
    assert [hb.bracket_of(i) for i in range(50)] == [HyperbandPruner(max_resource=27, seed=4).bracket_of(i)
                                                      for i in range(50)]
    lc = make_pruner(LearningCurvePrunerSpec(type="learning_curve", families=["pow3"]), mode="min", max_t=27)
    assert type(lc) is LearningCurvePruner and lc.min_points == 5 and lc.mode == "min"
    promo = make_pruner(ASHAPrunerSpec(type="asha", variant="promotion", order="value_per_joule", max_t=9),
                        mode="max")
    assert type(promo) is PromotionASHAPruner and promo.order == "value_per_joule"
    assert type(make_pruner(ASHAPrunerSpec(type="asha", max_t=9), mode="max")) is ASHAPruner
    spec = MedianPrunerSpec(type="median", guard=GuardSpec(protected_trials=1, patience=2))
    guarded = make_pruner(spec, mode="max", space={"x": sp.Uniform(0, 1)})
    assert type(guarded) is GuardedPruner and type(guarded.inner) is MedianPruner
    guarded.register(0, {"x": 0.3})
    assert guarded.protected == {0}


@pytest.mark.parametrize(("spec", "kwargs", "match"), [
    ({"type": "learning_curve", "progress": "time_s"}, {"max_t": 27},
     "pruner 'learning_curve' with progress time_s needs max_t: the progress of a whole trial$"),
    ({"type": "hyperband"}, {}, r"pruner 'hyperband' with progress epoch needs max_resource: the progress of a "
                                r"whole trial \(default task.epochs with progress epoch\)"),
    ({"type": "asha", "variant": "both"}, {}, "asha variant must be 'stopping' or 'promotion', got 'both'"),
    ({"type": "asha", "order": "value_per_joule"}, {}, "asha order 'value_per_joule' needs variant: promotion"),
    ({"type": "asha", "variant": "promotion", "brackets": 2}, {}, "asha variant promotion has one bracket, got "
                                                                   "brackets 2"),
    ({"type": "none", "guard": {"patience": 2, "grace": 1}}, {}, "pruner guard has no option 'grace'; valid: "
                                                                  "protected_trials, min_value, warmup, patience"),
    ({"type": "none", "guard": {"protected_trials": 2}}, {}, "guard protected_trials needs the search space"),
])
def test_make_pruner_errors_for_the_new_rules(spec: dict, kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        make_pruner(spec, mode="max", **kwargs)


def test_the_schema_checks_the_new_pruner_sections() -> None:
    from pydantic import ValidationError

    from raybench.config._schema import HyperbandPrunerSpec, LearningCurvePrunerSpec

    with pytest.raises(ValidationError, match="order value_per_joule needs variant: promotion"):
        ASHAPrunerSpec(type="asha", order="value_per_joule")
    with pytest.raises(ValidationError, match="variant promotion has one bracket, got brackets 3"):
        ASHAPrunerSpec(type="asha", variant="promotion", brackets=3, max_t=27)
    with pytest.raises(ValidationError, match="min_resource must be <= max_resource, got 9.0 > 3.0"):
        HyperbandPrunerSpec(type="hyperband", min_resource=9, max_resource=3)
    with pytest.raises(ValidationError, match="families"):
        LearningCurvePrunerSpec(type="learning_curve", families=["weibull"])
    with pytest.raises(ValidationError, match="patience"):
        MedianPrunerSpec(type="median", guard={"patience": 0})
