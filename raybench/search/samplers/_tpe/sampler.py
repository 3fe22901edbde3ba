"""Tree-structured Parzen Estimator: decides which config to try next (the models are in parzen.py).

Per suggestion: rank the finished trials by loss, call the best `gamma` fraction good and the
rest bad, fit a Parzen estimator l(x) to the good and g(x) to the bad values of each
parameter independently, draw `n_ei_candidates` values from l, and keep the one with the
largest l(x) / g(x), which maximises expected improvement (Bergstra et al., 2011).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Optional

import numpy as np

from raybench.search import space as sp
from raybench.search.samplers._base import Config, Sampler, clip_float, trial_rng
from raybench.search.samplers._random import draw_config
from raybench.search.samplers._tpe import joint, parzen
from raybench.search.samplers._tpe._trials import DONE, PENDING, TrialTable

# Trials older than the most recent RECENT_TRIALS of a group weigh less, down to 1/n
# for the oldest (hyperopt's linear forgetting): early, random trials say less about
# where the search is now.
RECENT_TRIALS = 25


class TPESampler(Sampler):
    """Independent (univariate) TPE with random start-up and a constant liar for parallel workers.

    n_startup_trials: configs are drawn from the prior until this many trials have values.
    gamma: the fraction of finished trials, rounded up, that counts as good.
    n_ei_candidates: values drawn from l(x) per parameter to pick the best l/g of.
    constant_liar: pending trials (suggested, no value yet) join the bad group, as if they
        had the worst value; parallel workers are then steered away from points already
        handed out. Their values still count once observed.
    Values of pruned trials are used as they come (their last report), like any other value.
    Failed trials (value None or NaN) are dropped.
    """

    def __init__(self, space: Mapping[str, sp.Param], *, seed: int = 0, mode: str = "max",
                 n_startup_trials: int = 10, gamma: float = 0.1, n_ei_candidates: int = 24,
                 constant_liar: bool = True, multivariate: bool = False) -> None:
        super().__init__(space, seed=seed, mode=mode)
        if isinstance(n_startup_trials, bool) or not isinstance(n_startup_trials, int) or n_startup_trials < 0:
            raise ValueError(f"n_startup_trials must be an int >= 0, got {n_startup_trials!r}")
        if not (isinstance(gamma, (int, float)) and 0.0 < gamma < 1.0):
            raise ValueError(f"gamma must be a fraction in (0, 1), got {gamma!r}")
        if isinstance(n_ei_candidates, bool) or not isinstance(n_ei_candidates, int) or n_ei_candidates < 1:
            raise ValueError(f"n_ei_candidates must be an int >= 1, got {n_ei_candidates!r}")
        if not isinstance(constant_liar, bool):
            raise ValueError(f"constant_liar must be true or false, got {constant_liar!r}")
        self._n_startup_trials = n_startup_trials
        self._gamma = float(gamma)
        self._n_ei_candidates = n_ei_candidates
        if not isinstance(multivariate, bool):
            raise ValueError(f"multivariate must be true or false, got {multivariate!r}")
        self._constant_liar = constant_liar
        self._multivariate = multivariate
        self._params = list(self._space.values())
        self._layout = parzen.Layout.of(self._params)
        self._joint_layout = joint.JointLayout.of(self._params)
        self._table = TrialTable(len(self._params))

    def _propose(self, trial_id: int) -> Config:
        rng = trial_rng(self._seed, trial_id)
        done = self._table.rows(DONE)
        if len(done) < max(self._n_startup_trials, 1):  # with no value at all, l(x) would be the prior anyway
            return draw_config(self._space, rng)
        good, bad = self._split(done)
        table = self._table
        groups = [(table.configs(good), recency_weights(len(good))), (table.configs(bad), recency_weights(len(bad)))]
        if self._multivariate:
            model = joint.fit(self._joint_layout, groups)
            candidates = model.sample(rng, self._n_ei_candidates, group=0)
            log_l, log_g = model.log_pdf(candidates)
            chosen = candidates[int(np.argmax(log_l - log_g))]
            return {name: to_external(p, x) for (name, p), x in zip(self._space.items(), chosen)}
        estimators = parzen.fit(self._layout, [(table.configs(good), recency_weights(len(good))),
                                               (table.configs(bad), recency_weights(len(bad)))])
        candidates = estimators.sample(rng, self._n_ei_candidates, group=0)
        log_l, log_g = estimators.log_pdf(candidates)
        # Parameters are independent, so each column picks its own best candidate.
        chosen = candidates[np.argmax(log_l - log_g, axis=0), np.arange(len(self._params))]
        return {name: to_external(p, x) for (name, p), x in zip(self._space.items(), chosen)}

    def _split(self, done: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Rows of the good and the bad group, each in trial-id order."""
        losses = self._table.losses(done)
        n_good = n_good_trials(len(done), self._gamma)
        cutoff = np.partition(losses, n_good - 1)[n_good - 1]
        is_good = losses < cutoff
        # Ties at the cutoff go to the older trials (done is in id order), so the split
        # never depends on the order in which values arrived.
        tied = np.flatnonzero(losses == cutoff)
        is_good[tied[: n_good - int(is_good.sum())]] = True
        good, bad = done[is_good], done[~is_good]
        if self._constant_liar:
            pending = self._table.rows(PENDING)
            if len(pending):
                bad = self._table.in_id_order(np.concatenate([bad, pending]))
        return good, bad

    def _on_config(self, trial_id: int, config: Config) -> None:
        self._table.add(trial_id, np.array([to_internal(p, config[n]) for n, p in self._space.items()]))

    def _on_value(self, trial_id: int, value: Optional[float]) -> None:
        self._table.set_loss(trial_id, None if value is None else (-value if self._mode == "max" else value))


def n_good_trials(n: int, gamma: float) -> int:
    """How many of n finished trials count as good: gamma * n rounded up, at least one."""
    return min(n, max(1, math.ceil(gamma * n)))


def recency_weights(n: int) -> np.ndarray:
    """Weights of a group's trials in trial-id order: the last RECENT_TRIALS 1, older ones ramping to 1/n."""
    weights = np.ones(n)
    n_old = n - RECENT_TRIALS
    if n_old == 1:
        weights[0] = 1.0 / n
    elif n_old > 1:
        weights[:n_old] = 1.0 / n + (1.0 - 1.0 / n) / (n_old - 1) * np.arange(n_old)
    return weights


def to_internal(param: sp.Param, value: Any) -> float:
    if isinstance(param, sp.Choice):
        return float(next(i for i, v in enumerate(param.values) if v == value and type(v) is type(value)))
    return float(value)


def to_external(param: sp.Param, x: float) -> sp.Scalar:
    if isinstance(param, sp.Choice):
        return param.values[int(x)]
    if isinstance(param, sp.IntRange):
        return int(x)
    return clip_float(param, float(x))
