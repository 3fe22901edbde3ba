"""The learning-curve pruner: fits, predictions with intervals, the stopping rule and its reasons."""

from __future__ import annotations

import math

import msgpack
import numpy as np
import pytest

from raybench.search.decision import Action, Reason
from raybench.search.pruners import LearningCurvePruner
from raybench.search.pruners._curves import FAMILIES, Mixture, bic_weights, fit_curve

EPOCHS = np.arange(1, 28, dtype=float)


def _exp_curve(final: float, start: float, rate: float, n: int, noise: float = 0.0, seed: int = 0) -> list[float]:
    rng = np.random.default_rng(seed)
    x = EPOCHS[:n]
    return (final - (final - start) * np.exp(-rate * x) + rng.normal(0.0, noise, n)).tolist()


# Each family's own curve: (c, a, shape parameters in the fit's coordinates), f = c + a * h(log u; z).
_OWN = {
    "pow3": (0.9, -0.05, (math.log(0.7),)),
    "exp3": (0.9, -0.6, (math.log(8.0),)),
    "log_power": (0.0, 0.9, (-2.5, math.log(1.5))),
    "janoschek": (0.9, -0.6, (math.log(5.0), math.log(0.8))),
}


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_each_family_recovers_the_final_value_of_its_own_curve(family: str) -> None:
    c, a, z = _OWN[family]
    basis = FAMILIES[family].basis
    log_u = np.log(EPOCHS[:12] / 27.0)
    truth = c + a * float(basis(np.zeros(1), *[np.array([[v]]) for v in z])[0, 0])
    y = c + a * basis(log_u, *[np.array([[v]]) for v in z])[0] + np.random.default_rng(1).normal(0, 0.002, 12)
    (fit,) = fit_curve(EPOCHS[:12], y.tolist(), 27.0, (family,))
    assert fit.family == family and fit.dof == 12 - fit.n_params
    assert fit.mean == pytest.approx(truth, abs=3 * fit.sd) and 0 < fit.sd < 0.03


def test_the_interval_narrows_as_the_curve_grows_and_covers_the_truth() -> None:
    widths = []
    for n in (6, 12, 24):
        y = _exp_curve(0.9, 0.3, 0.25, n, noise=0.005, seed=n)
        fits = fit_curve(EPOCHS[:n], y, 27.0, tuple(FAMILIES))
        mixture = Mixture(fits, bic_weights(fits))
        low, high = mixture.quantiles((0.05, 0.95))
        truth = 0.9 - 0.6 * math.exp(-0.25 * 27)
        assert low <= mixture.mean <= high
        assert mixture.cdf(low) == pytest.approx(0.05, abs=1e-3) and mixture.cdf(high) == pytest.approx(0.95, abs=1e-3)
        widths.append(high - low)
        if n >= 12:
            assert low <= truth <= high
    assert widths[0] > widths[1] > widths[2]


def test_families_need_two_residual_degrees_of_freedom() -> None:
    assert [f.family for f in fit_curve(EPOCHS[:5], [0.1, 0.2, 0.3, 0.35, 0.4], 27.0, tuple(FAMILIES))] == [
        "pow3", "exp3", "log_power"]  # janoschek has 4 parameters and needs 6 points
    assert fit_curve(EPOCHS[:4], [0.1, 0.2, 0.3, 0.35], 27.0, tuple(FAMILIES)) == []


def test_a_falling_curve_is_fitted_flat_not_extrapolated_into_a_collapse() -> None:
    y = [0.8, 0.78, 0.75, 0.73, 0.7, 0.68]
    for fit in fit_curve(EPOCHS[:6], y, 27.0, tuple(FAMILIES)):
        assert fit.mean == pytest.approx(np.mean(y), abs=1e-9) or fit.mean >= min(y)


def _feed(p: LearningCurvePruner, trial: int, values: list[float]) -> list:
    return [p.report(trial, float(e), v) for e, v in enumerate(values, start=1)]


def test_stops_a_trial_heading_well_below_the_best_and_says_why() -> None:
    p = LearningCurvePruner(max_t=27)
    _feed(p, 0, _exp_curve(0.95, 0.5, 0.4, 27, noise=0.003))
    p.complete(0)
    decisions = _feed(p, 1, _exp_curve(0.80, 0.4, 0.5, 8, noise=0.003, seed=1))
    assert [d.reason.detail for d in decisions[:4]] == [f"continued at epoch {e}: {e} reports, 5 needed for a fit"
                                                        for e in range(1, 5)]
    stop = next(d for d in decisions if d.stop)
    r = stop.reason
    assert r.rule == "learning_curve" and 5 <= r.progress <= 8 and r.probability < 0.05
    assert r.cutoff == pytest.approx(max(_exp_curve(0.95, 0.5, 0.4, 27, noise=0.003)))
    assert r.interval_low <= r.predicted <= r.interval_high < r.cutoff
    assert r.interval_low <= 0.80 <= r.interval_high  # the true final value
    assert len(r.families) >= 3 and set(r.families) <= set(FAMILIES)
    assert r.detail.startswith(f"stopped at epoch {r.progress:g}: P(final > {r.cutoff:.6g}) = ")
    assert r.detail.endswith(f"at epoch 27 from {', '.join(r.families)}")


def test_continues_a_trial_that_may_still_win() -> None:
    p = LearningCurvePruner(max_t=27)
    _feed(p, 0, _exp_curve(0.90, 0.5, 0.4, 27, noise=0.003))
    decisions = _feed(p, 1, _exp_curve(0.95, 0.3, 0.15, 27, noise=0.003, seed=2))
    assert not any(d.stop for d in decisions)
    judged = [d.reason for d in decisions if d.reason.probability is not None]
    assert judged and all(r.probability >= 0.05 for r in judged)
    assert decisions[-1].reason.detail == "continued at epoch 27: at max_t (epoch 27)"


def test_margin_and_min_probability_move_the_line() -> None:
    best = _exp_curve(0.95, 0.5, 0.4, 27, noise=0.003)
    worse = _exp_curve(0.93, 0.5, 0.4, 10, noise=0.003, seed=3)
    strict, lenient, timid = (LearningCurvePruner(max_t=27), LearningCurvePruner(max_t=27, margin=0.05),
                              LearningCurvePruner(max_t=27, min_probability=1e-9))
    for p in (strict, lenient, timid):
        _feed(p, 0, best)
    assert any(d.stop for d in _feed(strict, 1, worse))
    assert not any(d.stop for d in _feed(lenient, 1, worse))
    assert not any(d.stop for d in _feed(timid, 1, worse))
    assert lenient.report(2, 1, 0.5).reason.rule == "learning_curve"


def test_compares_with_the_other_trials_only() -> None:
    p = LearningCurvePruner(max_t=27)
    d = _feed(p, 0, _exp_curve(0.9, 0.5, 0.4, 6))[-1]
    assert d.reason.detail == "continued at epoch 6: no other trial to compare with"
    p.report(1, 1, 0.2)
    # Trial 0 is itself the best; it is compared with trial 1's 0.2 and goes on.
    d = p.report(0, 7, 0.9)
    assert not d.stop and d.reason.cutoff == 0.2 and d.reason.probability > 0.99


def test_mode_min_fits_the_negated_curve_and_words_it_the_other_way() -> None:
    loss_best = [-v for v in _exp_curve(-0.1, -1.0, 0.4, 27, noise=0.002)]
    p = LearningCurvePruner(mode="min", max_t=27)
    _feed(p, 0, loss_best)
    d = next(d for d in _feed(p, 1, [-v for v in _exp_curve(-0.4, -1.2, 0.5, 10, noise=0.002, seed=4)]) if d.stop)
    r = d.reason
    assert r.cutoff == pytest.approx(min(loss_best)) and r.predicted == pytest.approx(0.4, abs=0.03)
    assert r.cutoff < r.interval_low <= r.predicted <= r.interval_high
    assert f"P(final < {r.cutoff:.6g})" in r.detail


def test_time_progress_from_zero_is_left_out_of_the_fit() -> None:
    p = LearningCurvePruner(unit="time_s", max_t=100)
    p.report(0, 1.0, 0.99)
    decisions = [p.report(1, t, v) for t, v in zip((0.0, 5.0, 10.0, 15.0, 20.0, 25.0), (0.1, 0.3, 0.4, 0.45, 0.5, 0.52))]
    # Five reports, but the one at 0 s has no place on the log scale: four points fit nothing yet.
    assert decisions[4].reason.detail == "continued at 20 s: no curve family could be fitted"
    assert decisions[5].reason.probability is not None and decisions[5].reason.unit == "time_s"
    assert "at 100 s from" in decisions[5].reason.detail


def test_non_finite_values_stop_at_once() -> None:
    p = LearningCurvePruner(max_t=27)
    assert p.report(0, 1, math.nan).reason.detail == "stopped at epoch 1: value nan is not finite"
    assert p.report(1, 1, math.inf).stop


def test_reason_round_trips_through_msgpack() -> None:
    p = LearningCurvePruner(max_t=27)
    _feed(p, 0, _exp_curve(0.95, 0.5, 0.4, 27))
    r = next(d for d in _feed(p, 1, _exp_curve(0.6, 0.3, 0.5, 10, seed=5)) if d.stop).reason
    packed = msgpack.unpackb(msgpack.packb(r.to_dict(), use_bin_type=True), raw=False)
    assert packed["families"] == list(r.families) and Reason.from_dict(packed) == r
    plain = Reason("median", 2.0, value=0.5)
    assert set(plain.to_dict()) == {"rule", "progress", "unit", "value", "cutoff", "n_peers", "rung", "detail"}
    assert Reason.from_dict({**plain.to_dict(), "from_the_future": 1}) == plain
    assert Action.CONTINUE < Action.PAUSE < Action.STOP


@pytest.mark.parametrize(("options", "match"), [
    ({"max_t": 0}, "max_t must be > 0 and finite, got 0.0"),
    ({"min_probability": 1}, "min_probability must be > 0 and < 1, got 1.0"),
    ({"margin": -0.1}, "margin must be >= 0 and finite, got -0.1"),
    ({"families": []}, "families must be a non-empty list of curve families, got"),
    ({"families": "pow3"}, "families must be a non-empty list of curve families, got 'pow3'"),
    ({"families": ["pow3", "weibull"]}, "unknown curve family 'weibull'; valid: pow3, exp3, log_power, janoschek"),
])
def test_rejects_bad_options(options: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        LearningCurvePruner(**options)


def test_bench_script_plays_a_small_grid() -> None:
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "scripts" / "bench_learning_curve.py"
    spec = importlib.util.spec_from_file_location("bench_learning_curve", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    curves = bench._curves(2, seed=0)
    wall, cpu, fitted, ran = bench.play(LearningCurvePruner(max_t=27), curves)
    assert len(curves) == 4 and len(wall) == len(cpu) == sum(ran) and fitted
