"""TPE at scale: a group keeps at most MAX_KERNELS kernels, and below that the model is exactly the uncapped one."""

from __future__ import annotations

import math

import numpy as np
import pytest

from raybench.search import space as sp
from raybench.search.samplers import TPESampler
from raybench.search.samplers._tpe import joint, parzen
from raybench.search.samplers._tpe import sampler as tpe
from raybench.search.samplers._tpe.sampler import RECENT_TRIALS, group_kernels, recency_weights

SPACE = {"lr": sp.LogUniform(1e-5, 1.0), "layers": sp.IntRange(1, 8), "act": sp.Choice(("relu", "gelu", "tanh")),
         "x": sp.Uniform(-2.0, 3.0), "batch": sp.IntRange(8, 1024, log=True), "wide": sp.IntRange(0, 5000)}


def loss(c: dict) -> float:
    return ((math.log10(c["lr"]) + 2.5) ** 2 + 0.1 * (c["layers"] - 3) ** 2 + (c["act"] != "relu")
            + (c["x"] - 0.5) ** 2 + abs(c["wide"] - 1234) / 5000)


def with_history(n: int, *, multivariate: bool) -> TPESampler:
    """A sampler that knows n finished random trials, learned as a resume learns them."""
    sampler = TPESampler(SPACE, seed=3, mode="min", multivariate=multivariate)
    rng = np.random.default_rng(1)
    for t in range(n):
        config = {k: sp.sample(p, rng) for k, p in SPACE.items()}
        sampler.replay(t, config)
        sampler.observe(t, loss(config))
    return sampler


def suggestions(sampler: TPESampler, first_id: int, rounds: int = 4, workers: int = 3) -> list[dict]:
    """Rounds of parallel suggestions, so that pending trials join the bad group (constant liar)."""
    out = []
    for r in range(rounds):
        ids = range(first_id + r * workers, first_id + (r + 1) * workers)
        batch = [(i, sampler.suggest(i)) for i in ids]
        for i, config in batch:
            sampler.observe(i, loss(config))
        out += [config for _, config in batch]
    return out


def fitted_models(monkeypatch: pytest.MonkeyPatch) -> list:
    """Every model the sampler fits from now on."""
    models = []
    for module in (joint, parzen):
        def spy(*args, _fit=module.fit, **kwargs):
            models.append(_fit(*args, **kwargs))
            return models[-1]
        monkeypatch.setattr(module, "fit", spy)
    return models


def kernels_per_group(model) -> list[int]:
    """Kernels of each group, its prior included (for the independent model: of its float columns)."""
    starts = model.starts if isinstance(model, joint.JointParzen) else model.floats.starts
    return np.diff(starts).tolist()


# ---- under the cap: exactly as without it ----------------------------------------------------------------------

@pytest.mark.parametrize("multivariate", [True, False])
def test_under_the_cap_suggestions_are_those_of_the_uncapped_sampler(monkeypatch: pytest.MonkeyPatch,
                                                                     multivariate: bool) -> None:
    n = 150
    monkeypatch.setattr(tpe, "MAX_KERNELS", 10**9)
    uncapped = suggestions(with_history(n, multivariate=multivariate), n)
    # The largest group (bad, with up to two pending trials) is 0.9 * 159 + 2 = 145: a cap of exactly that is not hit.
    monkeypatch.setattr(tpe, "MAX_KERNELS", 145)
    models = fitted_models(monkeypatch)
    at_the_cap = suggestions(with_history(n, multivariate=multivariate), n)
    assert max(max(kernels_per_group(m)) for m in models) == 145 + 1
    monkeypatch.undo()
    assert tpe.MAX_KERNELS >= 1000
    default = suggestions(with_history(n, multivariate=multivariate), n)
    assert at_the_cap == uncapped  # configs compare exactly: floats bit for bit
    assert default == uncapped


def test_under_the_cap_the_group_is_every_trial_with_its_recency_weight() -> None:
    rng = np.random.default_rng(0)
    state = rng.bit_generator.state
    for n in (0, 1, 26, 27, 500, tpe.MAX_KERNELS):
        kept, weights = group_kernels(n, rng)
        assert np.array_equal(kept, np.arange(n))
        assert np.array_equal(weights, recency_weights(n))
    assert rng.bit_generator.state == state  # no draw: the suggestion's own draws are unchanged


# ---- above the cap: bounded, and the same total weight ---------------------------------------------------------

@pytest.mark.parametrize("multivariate", [True, False])
def test_above_the_cap_each_group_keeps_at_most_max_kernels(monkeypatch: pytest.MonkeyPatch,
                                                            multivariate: bool) -> None:
    n = 3000  # 300 good and 2,700 bad trials: the bad group is over the default cap
    sampler = with_history(n, multivariate=multivariate)
    models = fitted_models(monkeypatch)
    configs = suggestions(sampler, n, rounds=2)
    assert len(models) == 6
    for model in models:
        good, bad = kernels_per_group(model)
        assert 300 + 1 <= good <= 301 + 1  # all of them: ceil(0.1 * finished trials), and the prior
        assert bad <= tpe.MAX_KERNELS + 1
    assert all(SPACE["x"].low <= c["x"] <= SPACE["x"].high and c["act"] in SPACE["act"].values for c in configs)

    monkeypatch.setattr(tpe, "MAX_KERNELS", 100)
    models.clear()
    suggestions(sampler, n + 6, rounds=1)
    assert all(max(kernels_per_group(m)) <= 100 + 1 for m in models)


@pytest.mark.parametrize("n", [1001, 1026, 2000, 9000, 90_000, 100_001])
def test_thinned_weights_sum_as_the_full_groups(n: int) -> None:
    full = recency_weights(n)
    kept, weights = group_kernels(n, np.random.default_rng(n))
    assert len(kept) == len(weights) <= tpe.MAX_KERNELS
    assert np.all(np.diff(kept) > 0) and kept[0] >= 0 and kept[-1] == n - 1  # distinct trials, in id order
    assert np.array_equal(kept[-RECENT_TRIALS:], np.arange(n - RECENT_TRIALS, n))
    assert np.array_equal(weights[-RECENT_TRIALS:], full[-RECENT_TRIALS:])
    assert weights.sum() == pytest.approx(full.sum(), rel=1e-12)


def test_the_prior_weighs_as_much_in_the_thinned_model() -> None:
    n = 5000
    layout = joint.JointLayout.of(list(SPACE.values()))
    rng = np.random.default_rng(0)
    x = np.array([[float(sp.sample(p, rng)) if not isinstance(p, sp.Choice) else float(rng.integers(3))
                   for p in SPACE.values()] for _ in range(n)])
    kept, weights = group_kernels(n, np.random.default_rng(1))
    thinned = joint.fit(layout, [(x[kept], weights)], trial_counts=[n])
    full = joint.fit(layout, [(x, recency_weights(n))])
    assert np.diff(thinned.starts).tolist() == [len(kept) + 1]
    assert thinned.log_w[-1] == pytest.approx(full.log_w[-1], rel=1e-12)
    assert np.exp(thinned.log_w).sum() == pytest.approx(1.0)
    # Smoothing of choices and the width clip follow the n trials, not the kernels kept.
    assert thinned.keep[0] == pytest.approx(full.keep[0])
    assert np.min(thinned.sigmas) == pytest.approx(np.min(full.sigmas))


class _Offsets:
    """Stands in for a generator: hands out evenly spaced offsets in [0, 1), one per call."""

    def __init__(self, k: int) -> None:
        self._values = iter((np.arange(k) + 0.5) / k)

    def random(self) -> float:
        return float(next(self._values))


def test_each_trial_keeps_its_weight_in_expectation(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tpe, "MAX_KERNELS", 60)
    n, k = 400, 2000
    offsets = _Offsets(k)
    mean = np.zeros(n)
    for _ in range(k):  # the average over offsets spread evenly approaches the expectation over a uniform one
        kept, weights = group_kernels(n, offsets)
        mean[kept] += weights / k
    assert np.allclose(mean, recency_weights(n), atol=0.01)


def test_trial_counts_are_checked() -> None:
    layout = joint.JointLayout.of(list(SPACE.values()))
    x = np.zeros((3, len(SPACE)))
    with pytest.raises(ValueError, match="trial_counts"):
        joint.fit(layout, [(x, np.ones(3))], trial_counts=[2])
    with pytest.raises(ValueError, match="trial_counts"):
        parzen.fit(parzen.Layout.of(list(SPACE.values())), [(x, np.ones(3))], trial_counts=[3, 3])
