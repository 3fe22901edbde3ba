"""Parzen estimators: one independent density per parameter, for each of several groups of trials.

Public: `Layout.of(params)` once per search space; `fit(layout, groups)` with one
(observations, weights) pair per group; and on what it returns, `sample` and `log_pdf`.
Observations are a (trials, parameters) matrix in the sampler's internal form: the value for
numbers, the index for choices. Fitting the groups together (TPE has two: good and bad) lets
one batch of array operations serve both.

Numbers: truncated normal kernels on the parameter's scale (log for log-scale parameters);
see _truncnorm.py. An integer's kernel gives the mass of its cell [x - 0.5, x + 0.5], so
integers get probabilities, not densities. Choices: weighted counts, each smoothed towards
uniform, plus the prior.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Optional

import numpy as np

from raybench.search import space as sp
from raybench.search.samplers._tpe import _truncnorm

PRIOR_WEIGHT = 1.0


@dataclass(frozen=True, eq=False)
class Layout:
    """Which columns hold floats, integers and choices, and how numbers are scaled."""

    n_params: int
    floats: np.ndarray  # column indices
    float_scales: Optional[_truncnorm.Scales]
    ints: tuple[int, ...]
    int_scales: tuple[_truncnorm.Scales, ...]
    choices: tuple[int, ...]
    n_choices: tuple[int, ...]

    @staticmethod
    def of(params: Sequence[sp.Param]) -> Layout:
        def bounds(p: sp.Param) -> tuple[float, float, bool, bool]:
            integer = isinstance(p, sp.IntRange)
            return p.low, p.high, isinstance(p, sp.LogUniform) or (integer and p.log), integer

        floats = [j for j, p in enumerate(params) if isinstance(p, (sp.Uniform, sp.LogUniform))]
        ints = tuple(j for j, p in enumerate(params) if isinstance(p, sp.IntRange))
        choices = tuple(j for j, p in enumerate(params) if isinstance(p, sp.Choice))
        return Layout(n_params=len(params), floats=np.array(floats, dtype=int),
                      float_scales=_truncnorm.Scales.of([bounds(params[j]) for j in floats]) if floats else None,
                      ints=ints, int_scales=tuple(_truncnorm.Scales.of([bounds(params[j])]) for j in ints),
                      choices=choices, n_choices=tuple(len(params[j].values) for j in choices))


@dataclass(frozen=True, eq=False)
class Parzen:
    """Independent densities of every parameter, per group; columns follow the layout."""

    layout: Layout
    n_groups: int
    floats: Optional[_truncnorm.FloatMixtures]
    ints: tuple[_truncnorm.IntMixtures, ...]
    choice_log_probs: tuple[np.ndarray, ...]  # per choice column: (groups, choices)

    def sample(self, rng: np.random.Generator, size: int, *, group: int = 0) -> np.ndarray:
        """(size, parameters) draws in internal form from one group's densities, columns independent."""
        out = np.empty((size, self.layout.n_params))
        if self.floats is not None:
            out[:, self.layout.floats] = self.floats.sample(rng, size, group)
        for j, mixture in zip(self.layout.ints, self.ints):
            out[:, j] = mixture.sample(rng, size, group)
        for j, log_probs in zip(self.layout.choices, self.choice_log_probs):
            cdf = np.cumsum(np.exp(log_probs[group]))
            out[:, j] = np.minimum(np.searchsorted(cdf, rng.random(size) * cdf[-1], side="right"), len(cdf) - 1)
        return out

    def log_pdf(self, x: np.ndarray) -> np.ndarray:
        """(groups, size, parameters): each value's log density per group (log probability for
        integers and choices)."""
        x = np.asarray(x, dtype=float)
        out = np.empty((self.n_groups,) + x.shape)
        if self.floats is not None:
            out[:, :, self.layout.floats] = self.floats.log_pdf(x[:, self.layout.floats])
        for j, mixture in zip(self.layout.ints, self.ints):
            out[:, :, j] = mixture.log_pdf(x[:, j])
        for j, log_probs in zip(self.layout.choices, self.choice_log_probs):
            out[:, :, j] = log_probs[:, x[:, j].astype(int)]
        return out


def fit(layout: Layout, groups: Sequence[tuple[np.ndarray, np.ndarray]], *,
        prior_weight: float = PRIOR_WEIGHT, trial_counts: Optional[Sequence[int]] = None) -> Parzen:
    """Densities per group from its (trials, parameters) observations and per-trial weights.

    trial_counts: how many trials each group stands for, where its rows are a weighted sample of them
    (sampler.group_kernels); the width clip and the choice smoothing then follow that count, as if
    every trial had its kernel. By default, each group's number of rows.
    """
    checked = []
    for x, w in groups:
        x = np.asarray(x, dtype=float).reshape(-1, layout.n_params)
        w = np.asarray(w, dtype=float)
        if len(w) != len(x):
            raise ValueError(f"got {len(x)} observations but {len(w)} weights")
        checked.append((x, w))
    counts = _truncnorm.group_counts(trial_counts, [len(x) for x, _ in checked])
    floats = None
    if layout.float_scales is not None:
        floats = _truncnorm.fit_floats(layout.float_scales, [(x[:, layout.floats], w) for x, w in checked],
                                       prior_weight, counts)
    ints = tuple(_truncnorm.fit_int(scales, [(x[:, j], w) for x, w in checked], prior_weight, counts)
                 for j, scales in zip(layout.ints, layout.int_scales))
    choice_log_probs = tuple(
        np.stack([categorical_log_probs(n, x[:, j].astype(int), w, prior_weight, count=count)
                  for (x, w), count in zip(checked, counts)])
        for j, n in zip(layout.choices, layout.n_choices))
    return Parzen(layout=layout, n_groups=len(checked), floats=floats, ints=ints, choice_log_probs=choice_log_probs)


def categorical_log_probs(n_choices: int, indices: np.ndarray, weights: np.ndarray,
                          prior_weight: float, *, count: Optional[int] = None) -> np.ndarray:
    """log P(choice) from observed choice indices and their weights; count: the trials they stand
    for (by default, one each)."""
    # Each observation keeps 1 - spread on its own choice and spreads the rest evenly
    # (an Aitchison-Aitken kernel). The spread shrinks as observations accumulate, so a few
    # lucky early trials cannot lock a choice in.
    n = len(indices) if count is None else count
    spread = n_choices * prior_weight / (n + 1.0 + n_choices * prior_weight)
    total = weights.sum() + prior_weight
    probs = ((1.0 - spread) * np.bincount(indices, weights=weights, minlength=n_choices)
             + (spread * weights.sum() + prior_weight) / n_choices) / total
    return np.log(probs)
