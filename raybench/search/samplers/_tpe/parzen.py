"""Parzen estimators of one parameter: a weighted mixture of kernels, one per observation, plus a prior.

Public: `fit(param, observations, weights)` and, on what it returns, `sample` and `log_pdf`.
Observations are in the sampler's internal form: the value for numbers, the index for choices.

Numbers: truncated normal kernels on the parameter's scale (log for log-scale parameters).
An integer's kernel gives the mass of its cell [x - 0.5, x + 0.5], so integers get
probabilities, not densities. Choices: weighted counts, each smoothed towards uniform, plus the prior.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Union

import numpy as np

from raybench.search import space as sp
from raybench.search.samplers._tpe import _gauss

PRIOR_WEIGHT = 1.0
# Kernels are never narrower than width / MAX_KERNELS_PER_WIDTH ("magic clip"), so that a
# tight cluster of observations cannot collapse the density onto points.
MAX_KERNELS_PER_WIDTH = 100.0
# Rejection sampling accepts at least a third of draws (every kernel sits inside its support
# and is at most as wide as it), so this bound is reached only by astronomically bad luck.
_MAX_REJECTION_ROUNDS = 64
_MIN_EXPONENT = -60.0


@dataclass(frozen=True, eq=False)
class NumericParzen:
    """A mixture of normals truncated to [low_t, high_t], on the parameter's own scale.

    low_t/high_t: the support after the log transform (cell edges included for integers).
    weights: normalised; norms: each kernel's mass inside the support.
    quad, shift: each kernel's log density as a quadratic in (x_t - low_t) / width, less a
        shift that keeps every exponent <= 0; a matrix product then evaluates all kernels.
    """

    mus: np.ndarray
    sigmas: np.ndarray
    weights: np.ndarray
    norms: np.ndarray
    quad: np.ndarray
    shift: float
    low_t: float
    high_t: float
    log_scale: bool
    integer: bool
    low: float  # the parameter's own bounds, to clip results into
    high: float

    def sample(self, rng: np.random.Generator, size: int) -> np.ndarray:
        """`size` values in the parameter's units (integers as whole floats)."""
        kernels = rng.choice(len(self.mus), size=size, p=self.weights)
        mus, sigmas = self.mus[kernels], self.sigmas[kernels]
        x = mus + sigmas * rng.standard_normal(size)
        for _ in range(_MAX_REJECTION_ROUNDS):
            out = (x < self.low_t) | (x > self.high_t)
            if not out.any():
                break
            x[out] = mus[out] + sigmas[out] * rng.standard_normal(int(out.sum()))
        x = np.clip(x, self.low_t, self.high_t)
        if self.log_scale:
            x = np.exp(x)
        if self.integer:
            x = np.rint(x)
        return np.clip(x, self.low, self.high)

    def log_pdf(self, x: np.ndarray) -> np.ndarray:
        """log density (log probability for integers) of each value, in the parameter's units."""
        x = np.asarray(x, dtype=float)
        if self.integer:
            return self._log_cell_mass(x)
        width = self.high_t - self.low_t
        u = (self._transform(x) - self.low_t) / width
        exponents = np.stack([u * u, u, np.ones_like(u)], axis=1) @ self.quad
        # Kernels this far below the prior's floor (about -6) add nothing, and exp() of
        # arguments near the underflow limit is ten times slower than of ordinary ones.
        np.maximum(exponents, _MIN_EXPONENT, out=exponents)
        log_p = self.shift + np.log(np.exp(exponents, out=exponents).sum(axis=1)) - math.log(width)
        if self.log_scale:
            log_p -= np.log(x)  # Jacobian of the log scale; the same under l and g, kept for a true density
        return log_p

    def _log_cell_mass(self, x: np.ndarray) -> np.ndarray:
        # Candidates repeat (few integers, many draws) and neighbouring cells share an edge:
        # take each kernel's tail once per distinct edge.
        values, inverse = np.unique(x, return_inverse=True)
        edges, edge_of = np.unique(np.concatenate([values - 0.5, values + 0.5]), return_inverse=True)
        z = (self._transform(edges)[:, None] - self.mus) / self.sigmas
        tails = _gauss.tail(z)
        lo, hi = edge_of[: len(values)], edge_of[len(values):]
        cell = _gauss.mass_from_tails(z[lo], z[hi], tails[lo], tails[hi])
        return np.log(cell @ (self.weights / self.norms))[inverse]

    def _transform(self, x: np.ndarray) -> np.ndarray:
        return np.log(x) if self.log_scale else x


@dataclass(frozen=True, eq=False)
class CategoricalParzen:
    """A distribution over choice indices."""

    log_probs: np.ndarray

    def sample(self, rng: np.random.Generator, size: int) -> np.ndarray:
        return rng.choice(len(self.log_probs), size=size, p=np.exp(self.log_probs))

    def log_pdf(self, indices: np.ndarray) -> np.ndarray:
        return self.log_probs[np.asarray(indices, dtype=int)]


Parzen = Union[NumericParzen, CategoricalParzen]


def fit(param: sp.Param, observations: np.ndarray, weights: np.ndarray, *,
        prior_weight: float = PRIOR_WEIGHT) -> Parzen:
    """The estimator of one parameter from observations and their non-negative weights."""
    observations = np.asarray(observations, dtype=float)
    weights = np.asarray(weights, dtype=float)
    if observations.shape != weights.shape:
        raise ValueError(f"observations and weights differ in shape: {observations.shape} vs {weights.shape}")
    if isinstance(param, sp.Choice):
        return _fit_categorical(len(param.values), observations.astype(int), weights, prior_weight)
    return _fit_numeric(param, observations, weights, prior_weight)


def _fit_categorical(n_choices: int, indices: np.ndarray, weights: np.ndarray, prior_weight: float) -> CategoricalParzen:
    # Each observation keeps 1 - spread on its own choice and spreads the rest evenly
    # (an Aitchison-Aitken kernel). The spread shrinks as observations accumulate, so a few
    # lucky early trials cannot lock a choice in.
    spread = n_choices * prior_weight / (len(indices) + 1.0 + n_choices * prior_weight)
    total = weights.sum() + prior_weight
    probs = ((1.0 - spread) * np.bincount(indices, weights=weights, minlength=n_choices)
             + (spread * weights.sum() + prior_weight) / n_choices) / total
    return CategoricalParzen(np.log(probs))


def _fit_numeric(param: sp.Param, observations: np.ndarray, weights: np.ndarray,
                 prior_weight: float) -> NumericParzen:
    integer = isinstance(param, sp.IntRange)
    log_scale = isinstance(param, sp.LogUniform) or (integer and param.log)
    edge = 0.5 if integer else 0.0
    low_t, high_t = param.low - edge, param.high + edge
    mus = observations
    if log_scale:
        low_t, high_t, mus = math.log(low_t), math.log(high_t), np.log(observations)
    width = high_t - low_t
    sigmas = neighbour_bandwidths(mus, low_t, high_t)
    sigmas = np.clip(sigmas, width / min(MAX_KERNELS_PER_WIDTH, len(mus) + 2.0), width)
    # The prior: one broad kernel over the whole support, so no region's density reaches zero.
    mus = np.append(mus, 0.5 * (low_t + high_t))
    sigmas = np.append(sigmas, width)
    weights = np.append(weights, prior_weight)
    weights = weights / weights.sum()
    if integer:
        mus, sigmas, weights = merge_equal_kernels(mus, sigmas, weights)
    norms = _gauss.central_mass((low_t - mus) / sigmas, (high_t - mus) / sigmas)
    # On the unit scale kernels are at least 1/100 wide, so the expanded quadratic loses
    # no more than ~1e-12 to cancellation.
    m, s = (mus - low_t) / width, sigmas / width
    peak = np.log(weights / (s * norms)) - _gauss.LOG_SQRT_2PI
    shift = float(peak.max())
    quad = np.stack([-0.5 / s**2, m / s**2, peak - shift - 0.5 * (m / s) ** 2])
    return NumericParzen(mus=mus, sigmas=sigmas, weights=weights, norms=norms, quad=quad, shift=shift,
                         low_t=low_t, high_t=high_t, log_scale=log_scale, integer=integer,
                         low=float(param.low), high=float(param.high))


def merge_equal_kernels(mus: np.ndarray, sigmas: np.ndarray, weights: np.ndarray
                        ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One kernel per distinct (mu, sigma), carrying their summed weight.

    Integers repeat, and repeated values get equal bandwidths, so thousands of kernels
    shrink to a few per value: the mixture is the same and far cheaper to evaluate.
    """
    order = np.lexsort((sigmas, mus))
    mus, sigmas, weights = mus[order], sigmas[order], weights[order]
    starts = np.flatnonzero(np.concatenate(([True], (np.diff(mus) != 0) | (np.diff(sigmas) != 0))))
    return mus[starts], sigmas[starts], np.add.reduceat(weights, starts)


def neighbour_bandwidths(mus: np.ndarray, low: float, high: float) -> np.ndarray:
    """Each kernel as wide as the larger gap to its neighbours (Bergstra et al., 2011).

    The outermost kernels look inward only: measured against the bounds they would grow
    wide exactly where nothing was observed.
    """
    n = len(mus)
    if n == 0:
        return np.empty(0)
    # numpy's default sort is deterministic for a given input, which is all replay needs,
    # and five times faster than a stable one.
    order = np.argsort(mus)
    padded = np.concatenate(([low], mus[order], [high]))
    gaps = np.diff(padded)
    sorted_sigmas = np.maximum(gaps[:-1], gaps[1:])
    if n >= 2:
        sorted_sigmas[0] = gaps[1]
        sorted_sigmas[-1] = gaps[-2]
    sigmas = np.empty(n)
    sigmas[order] = sorted_sigmas
    return sigmas
