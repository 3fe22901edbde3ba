"""Cross-checks of our pruners against the reference implementations they follow.

ASHA vs Ray Tune's AsyncHyperBandScheduler (brackets=1, time_attr "training_iteration"): equal decisions on
random interleavings of reports, except where Tune ends a trial at max_t by itself (we leave that to the
runtime), so reports with iteration >= max_t are not compared.

Median/percentile vs Optuna's PercentilePruner/MedianPruner, called as pruner.prune(study, trial) on an
in-memory study: equal decisions wherever Optuna sees the same peers. The one deliberate difference in the
peers (Optuna counts only COMPLETE trials; we count every other trial with a value at the step) is checked
twice: equal decisions once Optuna is shown every peer as COMPLETE, and a case where the two differ.
"""

from __future__ import annotations

import importlib.util
import math
import random
import sys
import types
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from raybench.search.decision import Decision
from raybench.search.pruners import ASHAPruner, MedianPruner, PercentilePruner
from raybench.search.pruners._asha import rung_milestones

optuna = pytest.importorskip("optuna")
from optuna.trial import TrialState, create_trial  # noqa: E402

optuna.logging.set_verbosity(optuna.logging.WARNING)


# ---- Ray Tune ---------------------------------------------------------------------------------------------

def _tune_asha_class() -> type:
    """Tune's AsyncHyperBandScheduler, without starting Ray.

    `import ray.tune` needs pyarrow, pandas, fsspec and requests. Where they are missing, the scheduler's own
    file is executed with stand-ins for its four imports: a Trial type used only in annotations, the metric
    name constant, the CONTINUE/STOP strings of the base class, and the PublicAPI decorator. All of the
    scheduler's and _Bracket's logic runs as shipped.
    """
    try:
        from ray.tune.schedulers import AsyncHyperBandScheduler

        return AsyncHyperBandScheduler
    except ImportError:
        pass
    ray_spec = importlib.util.find_spec("ray")
    if ray_spec is None or not ray_spec.submodule_search_locations:
        pytest.skip("ray is not installed")
    path = Path(ray_spec.submodule_search_locations[0]) / "tune" / "schedulers" / "async_hyperband.py"

    class TrialScheduler:
        CONTINUE, PAUSE, STOP, NOOP = "CONTINUE", "PAUSE", "STOP", "NOOP"

    class FIFOScheduler(TrialScheduler):
        pass

    def module(name: str, **attrs: object) -> types.ModuleType:
        m = types.ModuleType(name)
        m.__dict__.update(attrs)
        return m

    stand_ins = {
        "ray": module("ray"),
        "ray.util": module("ray.util", PublicAPI=lambda cls: cls),
        "ray.tune": module("ray.tune"),
        "ray.tune.experiment": module("ray.tune.experiment", Trial=object),
        "ray.tune.result": module("ray.tune.result", DEFAULT_METRIC="_metric"),
        "ray.tune.schedulers": module("ray.tune.schedulers"),
        "ray.tune.schedulers.trial_scheduler": module("ray.tune.schedulers.trial_scheduler",
                                                      TrialScheduler=TrialScheduler, FIFOScheduler=FIFOScheduler),
    }
    spec = importlib.util.spec_from_file_location("_tune_async_hyperband", path)
    loaded = importlib.util.module_from_spec(spec)
    # Only names not imported already, and only while the file runs: the rest of the session sees no stand-in.
    added = [name for name in stand_ins if name not in sys.modules]
    sys.modules.update({name: stand_ins[name] for name in added})
    try:
        spec.loader.exec_module(loaded)
    finally:
        for name in added:
            del sys.modules[name]
    return loaded.AsyncHyperBandScheduler


TuneASHA = _tune_asha_class()


def _compare_with_tune(grace: float, eta: float, max_t: float, mode: str, lengths: list[int],
                       values: list[list[float]], order: list[int]) -> tuple[int, int]:
    """Plays one interleaving on both; returns (decisions compared, stops among them)."""
    # Training iterations go 1, 2, 3 ...: a report never passes two rungs at once (our pruner would record
    # at both, Tune at the higher only), so the parameters must keep the rungs below max_t an iteration apart.
    below = [m for m in rung_milestones(grace, eta, max_t) if m < max_t]
    assert len({math.ceil(m) for m in below}) == len(below)

    ours = ASHAPruner(mode=mode, grace_period=grace, reduction_factor=eta, max_t=max_t)
    tune = TuneASHA(time_attr="training_iteration", metric="m", mode=mode, max_t=max_t, grace_period=grace,
                    reduction_factor=eta, brackets=1)
    trials = [types.SimpleNamespace(trial_id=f"t{i}") for i in range(len(lengths))]
    done = [False] * len(lengths)
    reported = [0] * len(lengths)
    compared = stops = 0
    for i in order:
        if done[i]:
            continue
        if reported[i] == 0:
            tune.on_trial_add(None, trials[i])
        it = reported[i] + 1
        reported[i] = it
        result = {"training_iteration": it, "m": values[i][it - 1]}
        theirs = tune.on_trial_result(None, trials[i], result)
        mine = ours.report(i, it, result["m"])
        if it >= max_t:
            # Tune stops every trial at max_t on its own; ours leaves the end to the runtime (task.epochs).
            assert theirs == "STOP"
            ours.complete(i)
            done[i] = True
        else:
            assert mine.action.name == theirs, (i, it, mine.reason.detail)
            compared += 1
            stops += mine.stop
            if mine.stop:
                done[i] = True
            elif it == lengths[i]:
                ours.complete(i)
                done[i] = True
        if done[i]:
            # Tune's controller calls on_trial_complete for every trial it ends, stopped or not.
            tune.on_trial_complete(None, trials[i], result)
    # The rung contents agree too (Tune keeps them in larger-is-better sign); the max_t rung is Tune's to fill.
    sign = 1.0 if mode == "max" else -1.0
    theirs_rungs = {m: {int(t[1:]): sign * v for t, v in rec.items()} for m, rec in tune._brackets[0]._rungs}
    for m, rec in ours.rungs().items():
        if m < max_t:
            assert rec == theirs_rungs[m]
    return compared, stops


_TUNE_PARAMS = [(g, eta) for g in (1, 2, 3) for eta in (1.5, 2, 2.5, 3, 4)]


def _tie_rich_value(rng: random.Random) -> float:
    return rng.choice((0.0, 0.25, 0.5, 0.75, 1.0)) if rng.random() < 0.5 else rng.uniform(-1.0, 1.0)


def test_asha_matches_tune_on_300_random_sequences() -> None:
    rng = random.Random(20240601)
    compared = stops = 0
    for _ in range(300):
        grace, eta = rng.choice(_TUNE_PARAMS)
        max_t = rng.choice((grace, grace + 1, 9, 10, 16, 27))
        n = rng.randint(1, 12)
        lengths = [rng.randint(1, int(max_t) + 2) for _ in range(n)]
        values = [[_tie_rich_value(rng) for _ in range(length)] for length in lengths]
        order = [i for i, length in enumerate(lengths) for _ in range(length)]
        rng.shuffle(order)
        c, s = _compare_with_tune(grace, eta, max_t, rng.choice(("max", "min")), lengths, values, order)
        compared += c
        stops += s
    # The sequences exercise both outcomes many times.
    assert compared > 5000 and 500 < stops < compared - 500


@settings(max_examples=100, deadline=None)
@given(data=st.data())
def test_asha_matches_tune_hypothesis(data: st.DataObject) -> None:
    grace, eta = data.draw(st.sampled_from(_TUNE_PARAMS))
    max_t = data.draw(st.integers(grace, 12))
    lengths = data.draw(st.lists(st.integers(1, max_t), min_size=1, max_size=8))
    value = st.one_of(st.sampled_from((0.0, 0.5, 1.0)), st.floats(-1e6, 1e6, allow_nan=False))
    values = [data.draw(st.lists(value, min_size=n, max_size=n)) for n in lengths]
    order = data.draw(st.permutations([i for i, n in enumerate(lengths) for _ in range(n)]))
    _compare_with_tune(grace, eta, max_t, data.draw(st.sampled_from(("max", "min"))), lengths, values, order)


# ---- Optuna -----------------------------------------------------------------------------------------------

def _optuna_pruner(percentile: float, warmup: int, min_peers: int, startup: int) -> object:
    return optuna.pruners.PercentilePruner(percentile, n_startup_trials=startup, n_warmup_steps=warmup,
                                           interval_steps=1, n_min_trials=min_peers)


def _ours(percentile: float, mode: str, warmup: int, min_peers: int, startup: int) -> PercentilePruner:
    if percentile == 50.0:
        return MedianPruner(mode=mode, warmup=warmup, min_peers=min_peers, startup_trials=startup)
    return PercentilePruner(mode=mode, percentile=percentile, warmup=warmup, min_peers=min_peers,
                            startup_trials=startup)


def _agree(mine: Decision, theirs: bool, mode: str) -> bool:
    """Equal decisions, or the documented rounding difference of mode min.

    We keep values in larger-is-better sign, so in mode min our cutoff is -percentile(-values, 100 - p) where
    Optuna takes percentile(values, p): equal in exact arithmetic, but the interpolation index is rounded from
    the other end. That decides differently only where the trial's best equals the cutoff up to rounding.
    """
    if mine.stop == theirs:
        return True
    reason = mine.reason
    return mode == "min" and math.isclose(reason.value, reason.cutoff, rel_tol=1e-12, abs_tol=1e-12)


def _direction(mode: str) -> str:
    return "maximize" if mode == "max" else "minimize"


def _value(rng: random.Random) -> float:
    # Mostly eighths, so that ties (between values, and between a value and an interpolated cutoff) are common.
    return rng.randint(0, 16) / 8 if rng.random() < 0.7 else rng.uniform(0.0, 2.0)


def test_percentile_matches_optuna_when_trials_run_one_after_another() -> None:
    """Sequential trials, each run to its end: both see the same completed peers."""
    rng = random.Random(7)
    compared = stops = 0
    for _ in range(150):
        mode = rng.choice(("max", "min"))
        percentile = rng.choice((50.0, 50.0, 25.0, 10.0, 75.0, 33.3))
        warmup, min_peers, startup = rng.randint(0, 3), rng.randint(1, 4), rng.randint(0, 4)
        ours = _ours(percentile, mode, warmup, min_peers, startup)
        study = optuna.create_study(direction=_direction(mode))
        theirs = _optuna_pruner(percentile, warmup, min_peers, startup)
        for trial_id in range(rng.randint(1, 10)):
            steps: dict[int, float] = {}
            for step in range(1, rng.randint(1, 8) + 1):
                v = _value(rng)
                steps[step] = v
                frozen = create_trial(state=TrialState.RUNNING, intermediate_values=dict(steps))
                mine = ours.report(trial_id, step, v)
                assert _agree(mine, theirs.prune(study, frozen), mode), mine.reason
                compared += 1
                stops += mine.stop
            # Each trial runs to its end whatever was decided, so that it becomes a COMPLETE peer for Optuna.
            ours.complete(trial_id)
            study.add_trial(create_trial(state=TrialState.COMPLETE, value=v, intermediate_values=steps))
    assert compared > 2000 and stops > 200


def test_percentile_matches_optuna_shown_every_peer_as_complete() -> None:
    """Interleaved trials, stopped ones end: the decisions equal Optuna's on a study holding every other trial
    that has reported as COMPLETE, so the only difference between the rules is which trials are peers."""
    rng = random.Random(11)
    compared = stops = 0
    for _ in range(120):
        mode = rng.choice(("max", "min"))
        percentile = rng.choice((50.0, 25.0, 80.0))
        warmup, min_peers = rng.randint(0, 2), rng.randint(1, 3)
        ours = _ours(percentile, mode, warmup, min_peers, 0)
        theirs = _optuna_pruner(percentile, warmup, min_peers, 0)
        lengths = [rng.randint(1, 6) for _ in range(rng.randint(2, 7))]
        order = [i for i, n in enumerate(lengths) for _ in range(n)]
        rng.shuffle(order)
        history: dict[int, dict[int, float]] = {}
        stopped: set[int] = set()
        for i in order:
            if i in stopped:
                continue
            steps = history.setdefault(i, {})
            step = len(steps) + 1
            steps[step] = v = _value(rng)
            study = optuna.create_study(direction=_direction(mode))
            for j, other in history.items():
                if j != i:
                    study.add_trial(create_trial(state=TrialState.COMPLETE, value=0.0,
                                                 intermediate_values=dict(other)))
            mine = ours.report(i, step, v)
            frozen = create_trial(state=TrialState.RUNNING, intermediate_values=dict(steps))
            assert _agree(mine, theirs.prune(study, frozen), mode), mine.reason
            compared += 1
            if mine.stop:
                stops += 1
                stopped.add(i)
    assert compared > 1000 and stops > 100


def test_running_and_stopped_trials_are_peers_for_us_but_not_for_optuna() -> None:
    # Three trials report epoch 1; one stopped, none completed. Optuna, seeing no COMPLETE trial, never prunes.
    ours = MedianPruner(mode="max", min_peers=2)
    study = optuna.create_study(direction="maximize")
    study.add_trial(create_trial(state=TrialState.PRUNED, intermediate_values={1: 0.9}))
    theirs = optuna.pruners.MedianPruner(n_startup_trials=0, n_min_trials=2)
    ours.report(0, 1, 0.9)
    ours.report(1, 1, 0.8)
    decision = ours.report(2, 1, 0.1)
    frozen = create_trial(state=TrialState.RUNNING, intermediate_values={1: 0.1})
    assert decision.stop and decision.reason.n_peers == 2 and decision.reason.cutoff == pytest.approx(0.85)
    assert not theirs.prune(study, frozen)


def test_optuna_does_not_prune_without_a_completed_trial_even_with_startup_zero() -> None:
    # Ours needs min_peers peers only; Optuna also needs one COMPLETE trial. Both agree once one exists.
    ours = MedianPruner(mode="min", min_peers=1, startup_trials=0)
    ours.report(0, 1, 1.0)
    assert ours.report(1, 1, 2.0).stop
    study = optuna.create_study(direction="minimize")
    theirs = optuna.pruners.MedianPruner(n_startup_trials=0)
    frozen = create_trial(state=TrialState.RUNNING, intermediate_values={1: 2.0})
    assert not theirs.prune(study, frozen)
    study.add_trial(create_trial(state=TrialState.COMPLETE, value=1.0, intermediate_values={1: 1.0}))
    assert theirs.prune(study, frozen)


def test_non_finite_values_stop_at_once_where_optuna_ignores_them_after_a_finite_one() -> None:
    # Optuna takes nanmax over the steps, so a NaN after a good value goes unnoticed; we stop a diverged trial.
    ours = MedianPruner(mode="max", min_peers=1)
    ours.report(0, 1, 0.5)
    ours.report(0, 2, 0.5)
    ours.report(1, 1, 0.9)
    decision = ours.report(1, 2, math.nan)
    assert decision.stop and "not finite" in decision.reason.detail
    study = optuna.create_study(direction="maximize")
    study.add_trial(create_trial(state=TrialState.COMPLETE, value=0.5, intermediate_values={1: 0.5, 2: 0.5}))
    frozen = create_trial(state=TrialState.RUNNING, intermediate_values={1: 0.9, 2: math.nan})
    assert not optuna.pruners.MedianPruner(n_startup_trials=0).prune(study, frozen)
