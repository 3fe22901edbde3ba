"""Mixtures of truncated normals for numeric parameters, fitted to several groups of trials at once.

Every column is mapped to the unit interval first: x_t = log(x) for log-scale parameters, then
u = (x_t - low_t) / (high_t - low_t), where an integer's support runs from low - 0.5 to
high + 0.5 so that each integer owns a cell. On that common scale, float columns differ only
in their kernels, so they are fitted, sampled and evaluated as arrays over all columns and all
groups together: a suggestion costs a few dozen numpy calls however many parameters there are.
Integer columns are fitted from their distinct values, so thousands of repeated values make a
handful of kernels.

Bandwidths follow Bergstra et al. (2011): each kernel is as wide as the larger gap to its
neighbours; the outermost kernels look inward only, since measured against the bounds they would
grow wide exactly where nothing was observed. Then every width is clipped to
[1 / min(100, n + 2), 1] of the support ("magic clip"), so that a tight cluster cannot collapse
the density onto points. Each group also gets a prior kernel: centred, as wide as the support.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Optional

import numpy as np

from raybench.search.samplers._tpe import _gauss

MAX_KERNELS_PER_WIDTH = 100.0
# Integer columns with at most this many values get a probability table at fit time.
TABLE_MAX_VALUES = 256
# Rejection sampling accepts at least a third of draws (every kernel sits inside its support
# and is at most as wide as it), so this bound is reached only by astronomically bad luck.
_MAX_REJECTION_ROUNDS = 64
# Exponents are shifted so the largest possible is 0 and each group's prior kernel stays above
# about -6; below this a kernel adds nothing, and exp() near underflow is ten times slower.
_MIN_EXPONENT = -60.0


@dataclass(frozen=True, eq=False)
class Scales:
    """How numeric columns map to the unit interval: vectors with one entry per column."""

    low: np.ndarray  # the parameters' own bounds
    high: np.ndarray
    low_t: np.ndarray  # the support after the log transform (cell edges included for integers)
    width_t: np.ndarray
    log_scale: np.ndarray  # bool
    integer: np.ndarray  # bool
    any_log: bool
    any_integer: bool

    @staticmethod
    def of(bounds: Sequence[tuple[float, float, bool, bool]]) -> Scales:
        """From (low, high, log_scale, integer) per column."""
        low, high, log_scale, integer = (np.array(v) for v in zip(*bounds))
        edge = np.where(integer, 0.5, 0.0)
        low_t, high_t = low - edge, high + edge
        low_t = np.where(log_scale, np.log(np.where(log_scale, low_t, 1.0)), low_t)
        high_t = np.where(log_scale, np.log(np.where(log_scale, high_t, 1.0)), high_t)
        return Scales(low=low.astype(float), high=high.astype(float), low_t=low_t, width_t=high_t - low_t,
                      log_scale=log_scale.astype(bool), integer=integer.astype(bool),
                      any_log=bool(log_scale.any()), any_integer=bool(integer.any()))

    def to_unit(self, x: np.ndarray) -> np.ndarray:
        return (self.log_t(x) - self.low_t) / self.width_t

    def log_t(self, x: np.ndarray) -> np.ndarray:
        """x on the parameter's scale: log where the scale is logarithmic."""
        if not self.any_log:
            return x
        return np.where(self.log_scale, np.log(np.where(self.log_scale, x, 1.0)), x)

    def from_unit(self, u: np.ndarray) -> np.ndarray:
        x = self.low_t + np.clip(u, 0.0, 1.0) * self.width_t
        if self.any_log:
            x = np.where(self.log_scale, np.exp(np.where(self.log_scale, x, 0.0)), x)
        if self.any_integer:
            x = np.where(self.integer, np.rint(x), x)
        return np.clip(x, self.low, self.high)


@dataclass(frozen=True, eq=False)
class FloatMixtures:
    """Per group and float column, a mixture on the unit scale.

    mus, sigmas: (kernels, columns); group g owns kernel rows starts[g]:starts[g + 1], and the
    last row of each group is its prior. cdfs: per group, cumulative kernel weights.
    quad, shift: every kernel's log density as a quadratic in u, (columns, 3, kernels), less a
    per-(group, column) shift.
    """

    scales: Scales
    mus: np.ndarray
    sigmas: np.ndarray
    starts: np.ndarray
    cdfs: tuple[np.ndarray, ...]
    quad: np.ndarray
    shift: np.ndarray

    def sample(self, rng: np.random.Generator, size: int, group: int) -> np.ndarray:
        """(size, columns) draws from one group's mixtures, each column independently."""
        n_cols = self.mus.shape[1]
        kernels = self.starts[group] + _pick(rng, self.cdfs[group], (size, n_cols))
        cols = np.arange(n_cols)
        return self.scales.from_unit(_draw(rng, self.mus[kernels, cols], self.sigmas[kernels, cols]))

    def log_pdf(self, x: np.ndarray) -> np.ndarray:
        """(groups, size, columns) log densities."""
        u = self.scales.to_unit(x)
        powers = np.stack([u * u, u, np.ones_like(u)], axis=-1).transpose(1, 0, 2)
        exponents = powers @ self.quad  # (columns, size, kernels): all kernels in one product
        np.maximum(exponents, _MIN_EXPONENT, out=exponents)  # in place: a large array, allocated once
        sums = np.add.reduceat(np.exp(exponents, out=exponents), self.starts[:-1], axis=-1)
        jacobian = np.log(self.scales.width_t) + np.where(self.scales.log_scale, self.scales.log_t(x), 0.0)
        return np.log(sums).transpose(2, 1, 0) + self.shift[:, None, :] - jacobian


def group_counts(trial_counts: Optional[Sequence[int]], n_rows: Sequence[int]) -> list[int]:
    """How many trials each group stands for: trial_counts where given (a group's rows may be a
    weighted sample of its trials, see sampler.group_kernels), else its number of rows."""
    if trial_counts is None:
        return list(n_rows)
    if len(trial_counts) != len(n_rows) or any(c < n for c, n in zip(trial_counts, n_rows)):
        raise ValueError(f"trial_counts must give each group at least its {list(n_rows)} rows, "
                         f"got {list(trial_counts)}")
    return [int(c) for c in trial_counts]


def fit_floats(scales: Scales, groups: Sequence[tuple[np.ndarray, np.ndarray]],
               prior_weight: float, trial_counts: Optional[Sequence[int]] = None) -> FloatMixtures:
    """One kernel per observation (row of each group's x) plus a prior kernel per group; the width
    clip follows the trials each group stands for (group_counts)."""
    n_cols = len(scales.low)
    n_rows = [len(x) for x, _ in groups]
    counts = group_counts(trial_counts, n_rows)
    starts = np.concatenate(([0], np.cumsum([n + 1 for n in n_rows])))
    mus = np.empty((starts[-1], n_cols))
    sigmas = np.empty_like(mus)
    log_w = np.empty(starts[-1])
    cdfs = []
    for (x, w), n, count, s in zip(groups, n_rows, counts, starts):
        mus[s: s + n] = scales.to_unit(x)
        sigmas[s: s + n] = neighbour_bandwidths(mus[s: s + n])
        np.clip(sigmas[s: s + n], _floor(count), 1.0, out=sigmas[s: s + n])
        mus[s + n], sigmas[s + n] = 0.5, 1.0
        w = np.append(w, prior_weight)
        cdfs.append(np.cumsum(w))
        log_w[s: s + n + 1] = np.log(w / cdfs[-1][-1])
    norms = _gauss.central_mass(-mus / sigmas, (1.0 - mus) / sigmas)
    # On the unit scale kernels are at least 1/100 wide, so expanding the square loses at
    # most ~1e-12 to cancellation.
    peak = log_w[:, None] - np.log(sigmas * norms) - _gauss.LOG_SQRT_2PI
    shift = np.maximum.reduceat(peak, starts[:-1], axis=0)  # (groups, columns)
    group_of_row = np.repeat(np.arange(len(groups)), np.diff(starts))
    inv_var = 1.0 / (sigmas * sigmas)
    quad = np.stack([-0.5 * inv_var, mus * inv_var,
                     peak - shift[group_of_row] - 0.5 * mus * mus * inv_var]).transpose(2, 0, 1)
    return FloatMixtures(scales=scales, mus=mus, sigmas=sigmas, starts=starts, cdfs=tuple(cdfs),
                         quad=np.ascontiguousarray(quad), shift=shift)


@dataclass(frozen=True, eq=False)
class IntMixtures:
    """Per group, a mixture for one integer column: kernels of all groups side by side.

    weight_per_norm: (kernels, groups), each kernel's weight in its group over its mass
    inside the support, zero in the other groups.
    log_pmf: (groups, values) for ranges of at most TABLE_MAX_VALUES integers, else None;
    with it, sampling and log_pdf are lookups.
    """

    scales: Scales  # of this one column
    mus: np.ndarray
    sigmas: np.ndarray
    weight_per_norm: np.ndarray
    starts: np.ndarray
    cdfs: tuple[np.ndarray, ...]
    log_pmf: Optional[np.ndarray]

    def sample(self, rng: np.random.Generator, size: int, group: int) -> np.ndarray:
        if self.log_pmf is not None:
            return self.scales.low[0] + _pick(rng, np.cumsum(np.exp(self.log_pmf[group])), size)
        kernels = self.starts[group] + _pick(rng, self.cdfs[group], size)
        return self.scales.from_unit(_draw(rng, self.mus[kernels], self.sigmas[kernels])[:, None])[:, 0]

    def log_pdf(self, x: np.ndarray) -> np.ndarray:
        """(groups, size) log probabilities of integers: the mass of each one's cell."""
        if self.log_pmf is not None:
            return self.log_pmf[:, (x - self.scales.low[0]).astype(np.int64)]
        edges = self.scales.to_unit(np.stack([x - 0.5, x + 0.5])[..., None])  # (2, size, 1)
        z = (edges - self.mus) / self.sigmas  # (2, size, kernels)
        tails = _gauss.tail(z)
        return np.log(_gauss.mass_from_tails(z[0], z[1], tails[0], tails[1]) @ self.weight_per_norm).T


def fit_int(scales: Scales, groups: Sequence[tuple[np.ndarray, np.ndarray]], prior_weight: float,
            trial_counts: Optional[Sequence[int]] = None) -> IntMixtures:
    """Kernels from each group's distinct values of one integer column; the width clip follows the
    trials each group stands for (group_counts)."""
    counts = group_counts(trial_counts, [len(x) for x, _ in groups])
    parts = [_int_kernels(scales, x, w, prior_weight, count) for (x, w), count in zip(groups, counts)]
    starts = np.concatenate(([0], np.cumsum([len(m) for m, _, _ in parts])))
    mus = np.concatenate([m for m, _, _ in parts])
    sigmas = np.concatenate([s for _, s, _ in parts])
    n_values = int(scales.high[0] - scales.low[0]) + 1
    log_pmf = None
    if n_values <= TABLE_MAX_VALUES:
        # Every kernel's CDF at every cell edge: differences give all probabilities at once,
        # and the first and last edges give each kernel's mass inside the support.
        edges = scales.to_unit(np.arange(n_values + 1.0)[:, None] + (scales.low[0] - 0.5))
        z = (edges - mus) / sigmas
        tails = _gauss.tail(z)
        cdf = np.where(z <= 0, tails, 1.0 - tails)
        norms = cdf[-1] - cdf[0]
    else:
        norms = _gauss.central_mass(-mus / sigmas, (1.0 - mus) / sigmas)
    weight_per_norm = np.zeros((len(mus), len(parts)))
    for g, (_, _, w) in enumerate(parts):
        weight_per_norm[starts[g]: starts[g + 1], g] = w / w.sum() / norms[starts[g]: starts[g + 1]]
    if n_values <= TABLE_MAX_VALUES:
        log_pmf = np.log(np.maximum(np.diff(cdf @ weight_per_norm, axis=0), 1e-300)).T
    return IntMixtures(scales=scales, mus=mus, sigmas=sigmas, weight_per_norm=weight_per_norm, starts=starts,
                       cdfs=tuple(np.cumsum(w) for _, _, w in parts), log_pmf=log_pmf)


def _int_kernels(scales: Scales, x: np.ndarray, weights: np.ndarray, prior_weight: float, count: int
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(mus, sigmas, weights) on the unit scale for one group of one integer column.

    A value seen c times stands for c kernels, as if each copy were its own observation:
    sorted, the first copy sees the gap below, the last the gap above, and the copies between
    see no gap (so the narrowest width). The copies share their summed weight evenly, which
    makes the mixture independent of the order in which trials arrived. count: the trials the
    group stands for (group_counts), for the width clip.
    """
    n = len(x)
    if n == 0:
        return np.array([0.5]), np.array([1.0]), np.array([prior_weight])
    n_values = int(scales.high[0] - scales.low[0]) + 1
    if n_values <= 4 * n + 256:  # counting beats sorting where the range is small
        offsets = (x - scales.low[0]).astype(np.int64)
        counts = np.bincount(offsets, minlength=n_values)
        present = np.flatnonzero(counts)
        values, counts = present + scales.low[0], counts[present]
        summed = np.bincount(offsets, weights=weights, minlength=n_values)[present]
    else:
        values, where, counts = np.unique(x, return_inverse=True, return_counts=True)
        summed = np.bincount(where, weights=weights, minlength=len(values))
    u = scales.to_unit(values[:, None])[:, 0]
    gaps = np.diff(np.concatenate(([0.0], u, [1.0])))
    below, above = gaps[:-1].copy(), gaps[1:].copy()
    if n >= 2:  # the outermost copies look inward only
        below[0], above[-1] = 0.0, 0.0
    single = counts == 1
    share = summed / counts
    mus = np.concatenate([u, u, u, [0.5]])
    sigmas = np.concatenate([np.where(single, np.maximum(below, above), below), above, np.zeros_like(u), [1.0]])
    weights = np.concatenate([np.where(single, summed, share), np.where(single, 0.0, share),
                              np.where(single, 0.0, share * (counts - 2)), [prior_weight]])
    keep = weights > 0
    return mus[keep], np.clip(sigmas[keep], _floor(count), 1.0), weights[keep]


def neighbour_bandwidths(u: np.ndarray) -> np.ndarray:
    """Per column of u (observations, columns), the larger gap to each value's neighbours."""
    n = u.shape[0]
    if n == 0:
        return np.empty_like(u)
    # numpy's default sort is deterministic for a given input, which is all replay needs,
    # and five times faster than a stable one.
    order = np.argsort(u, axis=0)
    cols = np.arange(u.shape[1])
    padded = np.empty((n + 2, u.shape[1]))
    padded[0], padded[-1] = 0.0, 1.0
    padded[1:-1] = u[order, cols]  # plain indexing: take_along_axis costs more in Python than in C
    gaps = padded[1:] - padded[:-1]
    sorted_sigmas = np.maximum(gaps[:-1], gaps[1:])
    if n >= 2:
        sorted_sigmas[0], sorted_sigmas[-1] = gaps[1], gaps[-2]
    sigmas = np.empty_like(u)
    sigmas[order, cols] = sorted_sigmas
    return sigmas


def _floor(n: int) -> float:
    return 1.0 / min(MAX_KERNELS_PER_WIDTH, n + 2.0)


def _pick(rng: np.random.Generator, cdf: np.ndarray, shape) -> np.ndarray:
    """Kernel indices drawn by weight, given the cumulative weights."""
    return np.minimum(np.searchsorted(cdf, rng.random(shape) * cdf[-1], side="right"), len(cdf) - 1)


def _draw(rng: np.random.Generator, mus: np.ndarray, sigmas: np.ndarray) -> np.ndarray:
    """One draw per (mu, sigma), truncated to [0, 1] by rejection."""
    u = mus + sigmas * rng.standard_normal(mus.shape)
    for _ in range(_MAX_REJECTION_ROUNDS):
        out = (u < 0.0) | (u > 1.0)
        if not out.any():
            break
        u[out] = mus[out] + sigmas[out] * rng.standard_normal(int(out.sum()))
    return u
