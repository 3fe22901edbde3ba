"""TPE: the normal numerics, the Parzen estimators against direct formulas, and the sampler's decisions."""

from __future__ import annotations

import math
import statistics

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import truncnorm

from raybench.search import space as sp
from raybench.search.samplers import RandomSampler, TPESampler
from raybench.search.samplers._tpe import _gauss, _truncnorm, parzen
from raybench.search.samplers._tpe._trials import DONE
from raybench.search.samplers._tpe.sampler import n_good_trials, recency_weights

# ---- numerics ------------------------------------------------------------------------------------------------

def test_tail_has_small_relative_error_far_out() -> None:
    z = np.linspace(-35.0, 35.0, 2001)
    expected = np.array([0.5 * math.erfc(abs(v) / math.sqrt(2.0)) for v in z])
    assert np.max(np.abs(_gauss.tail(z) / expected - 1.0)) < 2e-7


@settings(max_examples=300, deadline=None)
@given(a=st.floats(-30, 30), width=st.floats(1e-6, 20))
def test_mass_matches_erfc_in_its_accurate_form(a: float, width: float) -> None:
    b = a + width
    # Differences of the tail on the side away from 0, the form in which math.erfc stays accurate.
    if a >= 0:
        expected = 0.5 * (math.erfc(a / math.sqrt(2)) - math.erfc(b / math.sqrt(2)))
    elif b <= 0:
        expected = 0.5 * (math.erfc(-b / math.sqrt(2)) - math.erfc(-a / math.sqrt(2)))
    else:
        expected = 1.0 - 0.5 * (math.erfc(-a / math.sqrt(2)) + math.erfc(b / math.sqrt(2)))
    got = float(_gauss.mass(np.array([a]), np.array([b]))[0])
    if expected > 1e-280:
        assert got == pytest.approx(expected, rel=2e-3 if expected < 1e-12 else 2e-5)
    mid = _gauss.central_mass(np.array([min(a, 0.0)]), np.array([max(b, 0.0)]))[0]
    assert mid == pytest.approx(float(_gauss.mass(np.array([min(a, 0.0)]), np.array([max(b, 0.0)]))[0]), abs=2e-7)


# ---- Parzen estimators -----------------------------------------------------------------------------------------

PARAMS = [sp.LogUniform(1e-5, 1.0), sp.IntRange(1, 8), sp.Choice(("a", "b", "c")), sp.Uniform(-2.0, 3.0),
          sp.IntRange(8, 1024, log=True)]
LAYOUT = parzen.Layout.of(PARAMS)


def observations(rng: np.random.Generator, n: int) -> np.ndarray:
    rows = [[float(sp.sample(p, rng)) if not isinstance(p, sp.Choice) else float(rng.integers(3)) for p in PARAMS]
            for _ in range(n)]
    return np.array(rows, dtype=float).reshape(n, len(PARAMS))


def reference_log_pdf(param: sp.Param, obs: np.ndarray, weights: np.ndarray, x: np.ndarray) -> np.ndarray:
    """The float mixture written out directly: neighbour bandwidths, magic clip, prior, truncated normals."""
    log = isinstance(param, sp.LogUniform)
    low, high = (math.log(param.low), math.log(param.high)) if log else (param.low, param.high)
    mus = np.log(obs) if log else obs
    n = len(mus)
    sigmas = np.empty(n)
    if n:
        order = np.argsort(mus)
        gaps = np.diff(np.concatenate([[low], mus[order], [high]]))
        s = np.maximum(gaps[:-1], gaps[1:])
        if n >= 2:
            s[0], s[-1] = gaps[1], gaps[-2]
        sigmas[order] = s
        sigmas = np.clip(sigmas, (high - low) / min(100, n + 2), high - low)
    mus, sigmas = np.append(mus, (low + high) / 2), np.append(sigmas, high - low)
    w = np.append(weights, 1.0) / (weights.sum() + 1.0)
    xt = np.log(x) if log else x
    density = sum(wk * truncnorm.pdf(xt, (low - m) / s, (high - m) / s, loc=m, scale=s)
                  for m, s, wk in zip(mus, sigmas, w))
    return np.log(density) - (np.log(x) if log else 0.0)


@pytest.mark.parametrize("sizes", [(0, 5), (1, 2), (7, 30), (40, 3)])
def test_float_densities_match_the_formula(sizes: tuple[int, int]) -> None:
    rng = np.random.default_rng(sum(sizes))
    groups = [(observations(rng, n), rng.uniform(0.1, 1.0, n)) for n in sizes]
    est = parzen.fit(LAYOUT, groups)
    x = observations(rng, 9)
    got = est.log_pdf(x)
    for g, (obs, w) in enumerate(groups):
        for j in (0, 3):
            np.testing.assert_allclose(got[g, :, j], reference_log_pdf(PARAMS[j], obs[:, j], w, x[:, j]),
                                       rtol=0, atol=1e-6)


@pytest.mark.parametrize("n", [0, 1, 6, 200])
def test_probabilities_sum_to_one_and_samples_follow_them(n: int) -> None:
    rng = np.random.default_rng(n)
    est = parzen.fit(LAYOUT, [(observations(rng, n), rng.uniform(0.1, 1.0, n))])
    draws = est.sample(np.random.default_rng(99), 40_000)
    for j in (1, 2, 4):
        values = np.arange(3.0) if j == 2 else np.arange(PARAMS[j].low, PARAMS[j].high + 1.0)
        x = np.tile(draws[:1], (len(values), 1))
        x[:, j] = values
        probs = np.exp(est.log_pdf(x)[0, :, j])
        assert probs.sum() == pytest.approx(1.0, abs=1e-5)
        freq = np.array([np.mean(draws[:, j] == v) for v in values])
        # Within 5 standard errors of a binomial count, for every value.
        assert np.all(np.abs(freq - probs) <= 5 * np.sqrt(probs * (1 - probs) / len(draws)) + 1e-4)
    for j, p in enumerate(PARAMS):
        if isinstance(p, (sp.Uniform, sp.LogUniform)):
            assert np.all((draws[:, j] >= p.low) & (draws[:, j] <= p.high))


def test_float_density_integrates_to_one() -> None:
    rng = np.random.default_rng(3)
    est = parzen.fit(LAYOUT, [(observations(rng, 12), np.ones(12))])
    u = np.linspace(math.log(1e-5), 0.0, 200_001)
    x = np.tile(observations(rng, 1), (len(u), 1))
    x[:, 0], x[:, 3] = np.exp(u), np.linspace(-2.0, 3.0, len(u))
    log_p = est.log_pdf(x)[0]
    assert np.trapezoid(np.exp(log_p[:, 0]) * x[:, 0], u) == pytest.approx(1.0, abs=1e-5)
    assert np.trapezoid(np.exp(log_p[:, 3]), x[:, 3]) == pytest.approx(1.0, abs=1e-5)


@pytest.mark.parametrize("j, values", [(1, [3, 3, 3, 5, 8, 1, 1]), (4, [8, 9, 9, 9, 9, 700, 1024]), (1, [4]), (1, [4, 6]), (1, [])])
def test_integer_probabilities_match_the_formula(j: int, values: list[int]) -> None:
    """With equal weights, kernels per copy of a value (the classic rule) give the same mixture."""
    param, n = PARAMS[j], len(values)
    obs = np.ones((n, len(PARAMS)))
    obs[:, j] = values
    est = parzen.fit(LAYOUT, [(obs, np.ones(n))])
    ints = np.arange(param.low, param.high + 1)
    x = np.ones((len(ints), len(PARAMS)))
    x[:, j] = ints
    t = np.log if param.log else (lambda v: np.asarray(v, dtype=float))
    low, high = float(t(param.low - 0.5)), float(t(param.high + 0.5))
    mus = t(np.array(values, dtype=float))
    sigmas = np.empty(n)
    if n:
        order = np.argsort(mus, kind="stable")
        gaps = np.diff(np.concatenate([[low], mus[order], [high]]))
        s = np.maximum(gaps[:-1], gaps[1:])
        if n >= 2:
            s[0], s[-1] = gaps[1], gaps[-2]
        sigmas[order] = np.clip(s, (high - low) / min(100, n + 2), high - low)
    mus, sigmas = np.append(mus, (low + high) / 2), np.append(sigmas, high - low)
    probs = sum(
        (truncnorm.cdf(t(ints + 0.5), (low - m) / s_, (high - m) / s_, loc=m, scale=s_)
         - truncnorm.cdf(t(ints - 0.5), (low - m) / s_, (high - m) / s_, loc=m, scale=s_)) / (n + 1)
        for m, s_ in zip(mus, sigmas))
    np.testing.assert_allclose(np.exp(est.log_pdf(x)[0, :, j]), probs, rtol=1e-4, atol=1e-9)


def test_integer_kernels_do_not_depend_on_trial_order() -> None:
    """Repeated values share their weight, so permuting the trials leaves the mixture as it was."""
    rng = np.random.default_rng(5)
    obs, w = observations(rng, 60), rng.uniform(0.1, 1.0, 60)
    perm = rng.permutation(60)
    x = observations(rng, 20)
    a = parzen.fit(LAYOUT, [(obs, w)]).log_pdf(x)[0]
    b = parzen.fit(LAYOUT, [(obs[perm], w[perm])]).log_pdf(x)[0]
    np.testing.assert_allclose(a[:, [1, 4]], b[:, [1, 4]], rtol=1e-12)


def test_neighbour_bandwidths_by_hand() -> None:
    u = np.array([[0.5], [0.1], [0.2], [0.9]])
    # Sorted 0.1, 0.2, 0.5, 0.9: the ends look inward (0.1 and 0.4), the inner ones take the larger gap.
    np.testing.assert_allclose(_truncnorm.neighbour_bandwidths(u)[:, 0], [0.4, 0.1, 0.3, 0.4])
    np.testing.assert_allclose(_truncnorm.neighbour_bandwidths(np.array([[0.3]]))[:, 0], [0.7])


def test_categorical_smoothing() -> None:
    log_p = parzen.categorical_log_probs(4, np.array([2, 2, 2]), np.ones(3), 1.0)
    probs = np.exp(log_p)
    assert probs.sum() == pytest.approx(1.0)
    assert probs[2] > 0.5 and probs[0] == probs[1] == probs[3] > 0
    assert np.allclose(np.exp(parzen.categorical_log_probs(4, np.array([], dtype=int), np.ones(0), 1.0)), 0.25)


def test_fit_refuses_mismatched_weights() -> None:
    with pytest.raises(ValueError, match="3 observations but 2 weights"):
        parzen.fit(LAYOUT, [(np.zeros((3, len(PARAMS))) + 1, np.ones(2))])


# ---- the sampler ------------------------------------------------------------------------------------------------

SPACE = {"lr": sp.LogUniform(1e-5, 1e-1), "layers": sp.IntRange(1, 8), "size": sp.Choice((32, 64, 128, 256)),
         "dropout": sp.Uniform(0.0, 0.5)}


def score(c: dict) -> float:
    return -((math.log10(c["lr"]) + 3) ** 2) - 0.1 * (c["layers"] - 3) ** 2 - 0.2 * abs(c["size"] - 128) / 64 \
        - 4 * (c["dropout"] - 0.2) ** 2


def run(sampler, n: int, fn=score, *, first_id: int = 0) -> list[tuple[dict, float]]:
    out = []
    for t in range(first_id, first_id + n):
        c = sampler.suggest(t)
        v = fn(c)
        sampler.observe(t, v)
        out.append((c, v))
    return out


def test_start_up_trials_are_random_search() -> None:
    tpe, rnd = TPESampler(SPACE, seed=11, n_startup_trials=5), RandomSampler(SPACE, seed=11)
    history = run(tpe, 6)
    assert [c for c, _ in history[:5]] == [rnd.suggest(t) for t in range(5)]
    assert history[5][0] != rnd.suggest(5)


def test_min_of_negated_values_is_max() -> None:
    up, down = TPESampler(SPACE, seed=2, mode="max"), TPESampler(SPACE, seed=2, mode="min")
    assert [c for c, _ in run(up, 30)] == [c for c, _ in run(down, 30, lambda c: -score(c))]


def test_failed_trials_are_dropped() -> None:
    with_failure, without = TPESampler(SPACE, seed=3), TPESampler(SPACE, seed=3)
    run(with_failure, 20)
    run(without, 20)
    with_failure.suggest(20)
    with_failure.observe(20, None)
    assert with_failure.suggest(21) == without.suggest(21)


def test_a_pending_trial_counts_as_bad_only_with_constant_liar() -> None:
    # The independent model: every column picks its own candidate, so one more kernel in g shows.
    # (The joint model's liar is tested in test_tpe_joint.py.)
    liar = TPESampler(SPACE, seed=4, multivariate=False)
    honest = TPESampler(SPACE, seed=4, constant_liar=False, multivariate=False)
    reference = TPESampler(SPACE, seed=4, multivariate=False)
    for s in (liar, honest, reference):
        run(s, 25)
    liar.suggest(25)
    honest.suggest(25)
    assert honest.suggest(26) == reference.suggest(26)
    assert liar.suggest(26) != reference.suggest(26)


def test_constant_liar_spreads_parallel_workers() -> None:
    """Four workers asking at once get points further apart when pending trials count as bad."""
    space = {"x": sp.Uniform(0.0, 1.0), "y": sp.Uniform(0.0, 1.0)}

    def spread(constant_liar: bool, seed: int) -> float:
        sampler = TPESampler(space, seed=seed, constant_liar=constant_liar)
        run(sampler, 40, lambda c: -((c["x"] - 0.3) ** 2 + (c["y"] - 0.7) ** 2))
        batch = np.array([[c["x"], c["y"]] for c in (sampler.suggest(t) for t in range(40, 48))])
        return float(np.mean([np.linalg.norm(a - b) for i, a in enumerate(batch) for b in batch[i + 1:]]))

    seeds = range(8)
    assert statistics.median(spread(True, s) for s in seeds) > statistics.median(spread(False, s) for s in seeds)


def test_tpe_beats_random_search_on_branin() -> None:
    def branin(c: dict) -> float:
        x1, x2 = c["x1"], c["x2"]
        return ((x2 - 5.1 / (4 * math.pi**2) * x1**2 + 5 / math.pi * x1 - 6) ** 2
                + 10 * (1 - 1 / (8 * math.pi)) * math.cos(x1) + 10)

    space = {"x1": sp.Uniform(-5.0, 10.0), "x2": sp.Uniform(0.0, 15.0)}
    best = {}
    for name, cls in (("tpe", TPESampler), ("random", RandomSampler)):
        best[name] = statistics.median(min(v for _, v in run(cls(space, seed=s, mode="min"), 60, branin))
                                       for s in range(3))
    assert best["tpe"] < best["random"]
    assert best["tpe"] < 1.0  # the optimum is 0.398


def test_tpe_finds_the_region_of_the_optimum() -> None:
    sampler = TPESampler(SPACE, seed=0, multivariate=False)  # the joint model: test_tpe_joint.py
    history = run(sampler, 80)
    late = [c for c, _ in history[-20:]]
    # The optimum: lr 1e-3, 3 layers, size 128, dropout 0.2.
    assert statistics.median(abs(math.log10(c["lr"]) + 3) for c in late) < 0.5
    assert statistics.median(abs(c["dropout"] - 0.2) for c in late) < 0.1
    assert max(score(c) for c, _ in history) > max(score(RandomSampler(SPACE).suggest(t)) for t in range(80))


@pytest.mark.parametrize("options, match", [
    ({"gamma": 0.0}, "gamma"), ({"gamma": 1.0}, "gamma"), ({"n_ei_candidates": 0}, "n_ei_candidates"),
    ({"n_startup_trials": -1}, "n_startup_trials"), ({"constant_liar": "yes"}, "constant_liar"),
    ({"n_startup_trials": 2.5}, "2.5"),
])
def test_bad_options_raise_value_error(options: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        TPESampler(SPACE, **options)


def test_split_and_weights() -> None:
    assert [n_good_trials(n, 0.25) for n in (1, 2, 4, 5, 100)] == [1, 1, 1, 2, 25]
    assert list(recency_weights(3)) == [1.0, 1.0, 1.0]
    w = recency_weights(40)
    assert w[0] == pytest.approx(1 / 40) and np.all(np.diff(w) >= 0) and np.all(w[-25:] == 1.0)


def test_ties_at_the_cutoff_go_to_the_older_trials() -> None:
    sampler = TPESampler({"x": sp.Uniform(0.0, 1.0)}, gamma=0.25)
    for t in range(8):
        sampler.replay(t, {"x": t / 10}, 1.0 if t in (2, 5) else 0.5)  # maximise: 2 and 5 are best
    for t in (8, 9, 10, 11):
        sampler.replay(t, {"x": t / 100}, 0.5)
    good, bad = sampler._split(sampler._table.rows(DONE))
    assert sorted(sampler._table.ids(good)) == [0, 2, 5]  # ceil(0.25 * 12) = 3: the two best, then the oldest tie
    assert len(bad) == 9


def test_ties_go_to_the_older_trial_whatever_the_order_values_arrive_in() -> None:
    space = {"x": sp.Uniform(0.0, 1.0)}
    a, b = TPESampler(space, seed=1, n_startup_trials=4), TPESampler(space, seed=1, n_startup_trials=4)
    configs = {t: a.suggest(t) for t in range(12)}
    for t in range(12):
        b.replay(t, configs[t])
    for t in range(12):
        a.observe(t, float(t % 2))  # many ties
    for t in reversed(range(12)):
        b.observe(t, float(t % 2))
    assert a.suggest(12) == b.suggest(12)
