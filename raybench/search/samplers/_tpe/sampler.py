"""Tree-structured Parzen Estimator: decides which config to try next (the models are in parzen.py
and joint.py, the good/bad split in _split.py).

Per suggestion: rank the finished trials by loss, call the best `gamma` fraction good and the
rest bad, fit a Parzen estimator l(x) to the good and g(x) to the bad trials (per parameter, or
jointly over all parameters), draw `n_ei_candidates` configs from l, and keep the one with the
largest l(x) / g(x), which maximises expected improvement (Bergstra et al., 2011).

Cost: a model of every trial would make each suggestion linear in the history, so a group of more
than MAX_KERNELS trials is modelled from a weighted sample of them (group_kernels) with the same
total weight. Fitting and scoring then cost the same however long the run. With one objective the
split itself is kept as trials arrive (_ranked.RankedSplit, O(log n) a change) once RANKED_FROM
trials have finished, so nothing in a suggestion passes over every trial; below that,
and with several objectives, the finished trials are split afresh per suggestion (_split.py).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping, Sequence
from typing import Any, Optional

import numpy as np

from raybench.search import space as sp
from raybench.search.samplers._base import Config, Sampler, clip_float, trial_rng
from raybench.search.samplers._random import draw_config
from raybench.search.samplers._tpe import joint, parzen
from raybench.search.samplers._tpe._ranked import RankedSplit
from raybench.search.samplers._tpe._split import split_good
from raybench.search.samplers._tpe._trials import DONE, PENDING, TrialTable
from raybench.search.samplers._warm import WarmStartReport, WarmTrial, load_warm_start

# Trials older than the most recent RECENT_TRIALS of a group weigh less, down to 1/n
# for the oldest (hyperopt's linear forgetting): early, random trials say less about
# where the search is now.
RECENT_TRIALS = 25
# A group keeps at most this many kernels (see group_kernels); runs where no group outgrows it
# (up to about 1,100 trials with gamma 0.1) get exactly the model they got without the cap.
# Measured at 100,000 trials: 250 kernels 4.5 ms a suggestion, 1,000 6 ms, 4,000 32 ms.
MAX_KERNELS = 1000
# From this many finished trials on, a one-objective suggestion reads the kept split (same groups, exactly)
# instead of splitting afresh: below it, splitting a few thousand rows in numpy is as quick.
RANKED_FROM = 10_000


class TPESampler(Sampler):
    """TPE with random start-up, a constant liar for parallel workers, and optional joint kernels.

    n_startup_trials: configs are drawn from the prior until this many trials have values
        (warm-start trials count).
    gamma: the fraction of finished trials, rounded up, that counts as good.
    n_ei_candidates: values drawn from l(x) to pick the best l/g of.
    constant_liar: pending trials (suggested, no value yet) join the bad group, as if they
        had the worst value; parallel workers are then steered away from points already
        handed out. Their values still count once observed.
    multivariate: one joint kernel per trial over all parameters (joint.py), so values that
        did well together are proposed together; otherwise one density per parameter (parzen.py).
    objectives: several (name, mode) objectives (see Sampler); the good group is then made of
        whole Pareto fronts, the last one cut by hypervolume contribution (_split.py).
    warm_start: directories of earlier runs whose finished trials seed the model (_warm.py).
    prior_trials: finished trials given directly, as WarmTrial records (config, values).
    Warm trials take ids below 0: they are no trial of this run, and are never suggested again.
    Values of pruned trials are used as they come (their last report), like any other value.
    Failed trials (value None or NaN) are dropped.
    """

    def __init__(self, space: Mapping[str, sp.Param], *, seed: int = 0, mode: Optional[str] = None,
                 objectives: Optional[Sequence[tuple[str, str]]] = None, n_startup_trials: int = 10,
                 gamma: float = 0.1, n_ei_candidates: int = 24, constant_liar: bool = True,
                 multivariate: bool = True, warm_start: Sequence[Any] = (),
                 prior_trials: Sequence[WarmTrial] = ()) -> None:
        super().__init__(space, seed=seed, mode=mode, objectives=objectives)
        if isinstance(n_startup_trials, bool) or not isinstance(n_startup_trials, int) or n_startup_trials < 0:
            raise ValueError(f"n_startup_trials must be an int >= 0, got {n_startup_trials!r}")
        if not (isinstance(gamma, (int, float)) and 0.0 < gamma < 1.0):
            raise ValueError(f"gamma must be a fraction in (0, 1), got {gamma!r}")
        if isinstance(n_ei_candidates, bool) or not isinstance(n_ei_candidates, int) or n_ei_candidates < 1:
            raise ValueError(f"n_ei_candidates must be an int >= 1, got {n_ei_candidates!r}")
        if not isinstance(constant_liar, bool):
            raise ValueError(f"constant_liar must be true or false, got {constant_liar!r}")
        if not isinstance(multivariate, bool):
            raise ValueError(f"multivariate must be true or false, got {multivariate!r}")
        self._n_startup_trials = n_startup_trials
        self._gamma = float(gamma)
        self._n_ei_candidates = n_ei_candidates
        self._constant_liar = constant_liar
        self._multivariate = multivariate
        self._params = list(self._space.values())
        self._layout = parzen.Layout.of(self._params)
        self._joint_layout = joint.JointLayout.of(self._params)
        self._signs = np.array([-1.0 if m == "max" else 1.0 for _, m in self._objectives])
        split = (RankedSplit(functools.partial(n_good_trials, gamma=self._gamma), constant_liar)
                 if self.n_objectives == 1 else None)
        self._table = TrialTable(len(self._params), n_objectives=self.n_objectives, split=split)
        self.warm_start_report: Optional[WarmStartReport] = None
        warm = list(prior_trials)
        if warm_start:
            loaded, self.warm_start_report = load_warm_start(warm_start, self._space, objectives=self._objectives)
            warm = loaded + warm
        self._seed_prior(warm)

    @property
    def n_prior_trials(self) -> int:
        """How many warm-start trials seed the model."""
        return self._n_prior

    def _seed_prior(self, trials: Sequence[WarmTrial]) -> None:
        self._n_prior = len(trials)
        for i, trial in enumerate(trials):
            if not isinstance(trial, WarmTrial):
                raise ValueError(f"prior_trials must hold WarmTrial records, got {trial!r}")
            config = self._check_config(trial.config)
            values = self._check_value(trial.values)
            if values is None:
                raise ValueError(f"prior trial {trial} has no value; give finished trials only")
            # Ids -n .. -1: older than, and apart from, every trial of this run.
            trial_id = i - len(trials)
            self._table.add(trial_id, np.array([to_internal(p, config[n]) for n, p in self._space.items()]))
            self._table.set_loss(trial_id, np.atleast_1d(values) * self._signs)

    def _propose(self, trial_id: int) -> Config:
        rng = trial_rng(self._seed, trial_id)
        n_done = self._table.n_done
        if n_done < max(self._n_startup_trials, 1):  # with no value at all, l(x) would be the prior anyway
            return draw_config(self._space, rng)
        groups, counts = [], []
        split = self._table.split
        if split is not None and n_done >= RANKED_FROM:
            for group, size in enumerate(split.sizes()):
                kept, weights = group_kernels(size, rng)
                groups.append((self._table.configs(split.rows(group, kept)), weights))
                counts.append(size)
        else:
            for rows in self._split(self._table.rows(DONE)):
                kept, weights = group_kernels(len(rows), rng)
                groups.append((self._table.configs(rows[kept]), weights))
                counts.append(len(rows))
        if self._multivariate:
            model = joint.fit(self._joint_layout, groups, trial_counts=counts)
            candidates = model.sample(rng, self._n_ei_candidates, group=0)
            log_l, log_g = model.log_pdf(candidates)
            chosen = candidates[int(np.argmax(log_l - log_g))]
        else:
            estimators = parzen.fit(self._layout, groups, trial_counts=counts)
            candidates = estimators.sample(rng, self._n_ei_candidates, group=0)
            log_l, log_g = estimators.log_pdf(candidates)
            # Parameters are independent, so each column picks its own best candidate.
            chosen = candidates[np.argmax(log_l - log_g, axis=0), np.arange(len(self._params))]
        return {name: to_external(p, x) for (name, p), x in zip(self._space.items(), chosen)}

    def _split(self, done: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Rows of the good and the bad group, each in trial-id order."""
        is_good = split_good(self._table.losses(done), n_good_trials(len(done), self._gamma))
        good, bad = done[is_good], done[~is_good]
        if self._constant_liar:
            pending = self._table.rows(PENDING)
            if len(pending):
                bad = self._table.in_id_order(np.concatenate([bad, pending]))
        return good, bad

    def _on_config(self, trial_id: int, config: Config) -> None:
        self._table.add(trial_id, np.array([to_internal(p, config[n]) for n, p in self._space.items()]))

    def _on_value(self, trial_id: int, value: Any) -> None:
        self._table.set_loss(trial_id, None if value is None else np.atleast_1d(value) * self._signs)


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


def group_kernels(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Which of a group's n trials (in trial-id order) get a kernel, and the kernels' weights.

    Up to MAX_KERNELS trials, every trial gets one, weighted by recency_weights, and rng is not
    touched: the model is exactly the uncapped one. A larger group keeps its last RECENT_TRIALS
    as they are and stands for its older trials by MAX_KERNELS - RECENT_TRIALS kernels, picked
    by systematic sampling on their cumulative weight: one random offset, then evenly spaced
    steps of (their total weight) / (kernels kept). A trial is picked about weight / step times
    (more than once only where step < 1, its picks then merged into one kernel), and every pick
    carries one step of weight. So the older part keeps its total weight exactly, and in
    expectation each trial keeps its own: the thinned mixture is an unbiased estimate of the full
    one, and, with the offset drawn per suggestion, successive suggestions see different samples.
    The older weights are a linear ramp, so their cumulative sum is a quadratic that is inverted
    in closed form: the cost is that of the kernels kept, not of n.
    """
    if n <= MAX_KERNELS:
        return np.arange(n), recency_weights(n)
    n_old, n_picks = n - RECENT_TRIALS, MAX_KERNELS - RECENT_TRIALS
    # recency_weights: trial i < n_old weighs low + slope * i, so trials 0..i together weigh
    # (i + 1) * low + slope * i * (i + 1) / 2, and all n_old of them n_old * (1 + low) / 2.
    low, slope = 1.0 / n, (1.0 - 1.0 / n) / (n_old - 1)
    step = n_old * (1.0 + low) / 2.0 / n_picks
    points = (rng.random() + np.arange(n_picks)) * step
    # The trial a point falls on is the first i whose cumulative weight exceeds it.
    a, b = 0.5 * slope, low + 0.5 * slope
    crossing = (np.sqrt(b * b + 4.0 * a * (points - low)) - b) / (2.0 * a)
    picked = np.clip(np.floor(crossing).astype(np.int64) + 1, 0, n_old - 1)
    old, picks = np.unique(picked, return_counts=True)
    return np.concatenate([old, np.arange(n_old, n)]), np.concatenate([picks * step, np.ones(RECENT_TRIALS)])


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
