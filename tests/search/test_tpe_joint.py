"""The joint (multivariate) Parzen estimator: densities against a brute-force product of kernels, draws, and
what joint kernels buy over independent ones."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from scipy.stats import truncnorm

from raybench.search import space as sp
from raybench.search.samplers import RandomSampler, TPESampler, make_sampler
from raybench.search.samplers._tpe import joint

PARAMS = [sp.Uniform(-2.0, 3.0), sp.LogUniform(1e-3, 1.0), sp.IntRange(1, 8), sp.Choice(("a", "b", "c")),
          sp.IntRange(2, 300, log=True)]


def _draw(rng: np.random.Generator, n: int) -> np.ndarray:
    return np.column_stack([rng.uniform(-2, 3, n), np.exp(rng.uniform(math.log(1e-3), 0, n)), rng.integers(1, 9, n),
                            rng.integers(0, 3, n), np.round(np.exp(rng.uniform(math.log(2), math.log(300), n)))])


def _brute_log_pdf(model: joint.JointParzen, group: int, obs: np.ndarray, w: np.ndarray, x: np.ndarray) -> float:
    """Sum over kernels of weight times the product of per-parameter factors, with scipy's truncnorm."""
    n = len(obs)
    weights = np.append(w, 1.0) / (w.sum() + 1.0)
    numeric = list(model.layout.numeric)
    total = 0.0
    for k in range(n + 1):
        row = model.starts[group] + k
        p = weights[k]
        for j, param in enumerate(PARAMS):
            if isinstance(param, sp.Choice):
                c = len(param.values)
                frac = c / (n + 1 + c)
                p *= 1 / c if k == n else ((1 - frac + frac / c) if x[j] == obs[k, j] else frac / c)
                continue
            log = isinstance(param, sp.LogUniform) or (isinstance(param, sp.IntRange) and param.log)
            t = np.log if log else (lambda v: v)
            lo, hi = (param.low - 0.5, param.high + 0.5) if isinstance(param, sp.IntRange) else (param.low, param.high)
            lo_t, hi_t = t(lo), t(hi)
            mu, sigma = model.mus[row, numeric.index(j)], model.sigmas[row, numeric.index(j)]
            if k < n:  # the kernel sits on its observation
                assert mu == pytest.approx((t(obs[k, j]) - lo_t) / (hi_t - lo_t))
            dist = truncnorm(-mu / sigma, (1 - mu) / sigma, loc=mu, scale=sigma)
            if isinstance(param, sp.IntRange):
                p *= dist.cdf((t(x[j] + 0.5) - lo_t) / (hi_t - lo_t)) - dist.cdf((t(x[j] - 0.5) - lo_t) / (hi_t - lo_t))
            else:
                p *= dist.pdf((t(x[j]) - lo_t) / (hi_t - lo_t))
        total += p
    return math.log(total)


def test_log_pdf_is_the_weighted_sum_of_kernel_products() -> None:
    rng = np.random.default_rng(0)
    layout = joint.JointLayout.of(PARAMS)
    g0, g1 = _draw(rng, 5), _draw(rng, 9)
    w0, w1 = rng.uniform(0.1, 1.0, 5), rng.uniform(0.1, 1.0, 9)
    model = joint.fit(layout, [(g0, w0), (g1, w1)])
    x = _draw(rng, 6)
    got = model.log_pdf(x)
    assert got.shape == (2, 6)
    for i in range(6):
        assert got[0, i] == pytest.approx(_brute_log_pdf(model, 0, g0, w0, x[i]), abs=1e-5)
        assert got[1, i] == pytest.approx(_brute_log_pdf(model, 1, g1, w1, x[i]), abs=1e-5)


def test_widths_follow_neighbour_gaps_and_the_magic_clip() -> None:
    layout = joint.JointLayout.of([sp.Uniform(0.0, 1.0), sp.Uniform(0.0, 10.0)])
    x = np.array([[0.1, 1.0], [0.5, 1.05], [0.9, 9.0]])
    model = joint.fit(layout, [(x, np.ones(3))])
    # Column 0: gaps 0.4 everywhere. Column 1 (unit scale 0.1, 0.105, 0.9): the two close ones get
    # the wider gap each sees, the outermost look inward only; nothing under 1 / (3 + 2).
    assert model.sigmas[:3, 0] == pytest.approx([0.4, 0.4, 0.4])
    assert model.sigmas[:3, 1] == pytest.approx([0.2, 0.795, 0.795])
    assert model.sigmas[3] == pytest.approx([1.0, 1.0])  # the prior
    assert model.mus[3] == pytest.approx([0.5, 0.5])


def test_draws_come_from_the_kernels_and_stay_in_the_space() -> None:
    rng = np.random.default_rng(1)
    layout = joint.JointLayout.of(PARAMS)
    obs = _draw(rng, 40)
    model = joint.fit(layout, [(obs, np.ones(40))])
    draws = model.sample(rng, 4000)
    for j, param in enumerate(PARAMS):
        col = draws[:, j]
        if isinstance(param, sp.Choice):
            assert set(np.unique(col)) <= {0.0, 1.0, 2.0}
        else:
            assert col.min() >= param.low and col.max() <= param.high
            if isinstance(param, sp.IntRange):
                assert np.all(col == np.round(col))
    # Frequencies of the integer column match the model's own probabilities.
    values, counts = np.unique(draws[:, 2], return_counts=True)
    probe = np.repeat(obs[:1], len(values), axis=0)
    probe[:, 2] = values
    # Marginal of column 2: the mixture of each kernel's cell masses.
    masses = np.exp(model._int_log_mass(values, list(layout.numeric).index(2)))[:, :41] @ np.exp(model.log_w[:41])
    assert counts / counts.sum() == pytest.approx(masses / masses.sum(), abs=0.03)


def test_joint_kernels_follow_a_correlation_that_independent_ones_lose() -> None:
    # Good trials lie on the diagonal x == y; bad ones fill the square. Independent densities
    # see two uniform-ish marginals; joint ones see the diagonal.
    rng = np.random.default_rng(2)
    t = rng.random(30)
    good = np.column_stack([t, t])
    bad = rng.random((200, 2))
    space = {"x": sp.Uniform(0.0, 1.0), "y": sp.Uniform(0.0, 1.0)}
    offsets = {}
    for multivariate in (False, True):
        s = TPESampler(space, seed=0, mode="min", n_startup_trials=1, gamma=30 / 230, multivariate=multivariate)
        for i, (x, y) in enumerate(np.concatenate([good, bad])):
            s.replay(i, {"x": float(x), "y": float(y)}, 0.0 if i < 30 else 1.0)
        configs = [s.suggest(1000 + i) for i in range(40)]
        offsets[multivariate] = np.median([abs(c["x"] - c["y"]) for c in configs])
    assert offsets[True] < 0.05 < offsets[False]


def test_multivariate_is_an_option_of_the_factory_and_is_checked() -> None:
    s = make_sampler({"type": "tpe", "multivariate": True}, {"x": sp.Uniform(0.0, 1.0)}, seed=0, mode="max")
    assert isinstance(s, TPESampler)
    with pytest.raises(ValueError, match="multivariate"):
        TPESampler({"x": sp.Uniform(0.0, 1.0)}, multivariate=1)


def test_the_constant_liar_keeps_parallel_workers_apart_in_the_joint_model() -> None:
    space = {"x": sp.Uniform(0.0, 1.0), "y": sp.Uniform(0.0, 1.0)}

    def bowl(c: dict) -> float:
        return (c["x"] - 0.3) ** 2 + (c["y"] - 0.7) ** 2

    closest = {True: [], False: []}
    for seed in range(4):
        for liar in (True, False):
            s = TPESampler(space, seed=seed, mode="min", multivariate=True, constant_liar=liar)
            for t in range(30):
                s.observe(t, bowl(s.suggest(t)))
            batch = np.array([[c["x"], c["y"]] for c in (s.suggest(30 + i) for i in range(8))])  # 8 workers at once
            closest[liar].append(min(np.linalg.norm(a - b) for a, b in itertools.combinations(batch, 2)))
    # Without the liar, two of eight workers often get nearly the same point; with it, pending
    # points weigh in g and push the next ones away.
    assert np.median(closest[True]) > 3 * np.median(closest[False])


def test_the_default_joint_tpe_finds_the_region_of_the_optimum() -> None:
    space = {"lr": sp.LogUniform(1e-5, 1e-1), "layers": sp.IntRange(1, 8), "size": sp.Choice((32, 64, 128, 256)),
             "dropout": sp.Uniform(0.0, 0.5)}

    def score(c: dict) -> float:  # optimum: lr 1e-3, 3 layers, size 128, dropout 0.2
        return (-((math.log10(c["lr"]) + 3) ** 2) - 0.1 * (c["layers"] - 3) ** 2 - 0.2 * abs(c["size"] - 128) / 64
                - 4 * (c["dropout"] - 0.2) ** 2)

    best_tpe, best_random, late_lr = [], [], []
    for seed in range(5):
        s = TPESampler(space, seed=seed)  # multivariate by default
        values = []
        for t in range(80):
            c = s.suggest(t)
            values.append(score(c))
            s.observe(t, values[-1])
            if t >= 60:
                late_lr.append(abs(math.log10(c["lr"]) + 3))
        best_tpe.append(max(values))
        best_random.append(max(score(RandomSampler(space, seed=seed).suggest(t)) for t in range(80)))
    assert np.median(best_tpe) > np.median(best_random) + 0.05
    assert np.median(late_lr) < 0.3
