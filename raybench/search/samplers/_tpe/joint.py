"""Joint (multivariate) Parzen estimators: one kernel per trial over all parameters at once.

Public: `JointLayout.of(params)` once per search space; `fit(layout, groups)` with one
(observations, weights) pair per group; and on what it returns, `sample` and `log_pdf`.
Observations are a (trials, parameters) matrix in the sampler's internal form, as in parzen.py.

Each kernel is a product of one factor per parameter, all centred on the same trial, so the
model keeps which values occurred together (the independent model in parzen.py forgets it).
Numbers live on the unit scale of _truncnorm.Scales (log first where the scale is logarithmic).
A kernel's width in each numeric column follows the same rule as the independent model: the
larger gap to its neighbours in that column (the outermost look inward), clipped to
[1 / min(100, n + 2), 1]; Optuna 5's multivariate TPE uses this rule too, and it measured
better than one Scott-style width per group. Floats get a truncated normal density, integers
the mass of their cell [x - 0.5, x + 0.5] under it, choices the same Aitchison-Aitken kernel as
parzen.py. Each group also has a prior kernel: centred, as wide as the support, uniform over
choices.

log_pdf leaves out the Jacobian of the map to the unit scale: it is the same for every group,
so it cancels in the ratio l(x) / g(x), which is all TPE asks for.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from raybench.search import space as sp
from raybench.search.samplers._tpe import _gauss, _truncnorm

PRIOR_WEIGHT = 1.0
_MIN_EXPONENT = -60.0


@dataclass(frozen=True, eq=False)
class JointLayout:
    """Which columns are numeric (floats, then integers among them) and which are choices."""

    n_params: int
    numeric: np.ndarray  # column indices of floats and integers
    scales: _truncnorm.Scales | None  # of the numeric columns, in that order
    float_pos: np.ndarray  # positions within `numeric` of the floats
    int_pos: np.ndarray  # positions within `numeric` of the integers
    choices: np.ndarray  # column indices
    n_choices: np.ndarray

    @staticmethod
    def of(params: Sequence[sp.Param]) -> JointLayout:
        numeric = [j for j, p in enumerate(params) if not isinstance(p, sp.Choice)]
        choices = [j for j, p in enumerate(params) if isinstance(p, sp.Choice)]
        bounds = []
        for j in numeric:
            p = params[j]
            integer = isinstance(p, sp.IntRange)
            bounds.append((p.low, p.high, isinstance(p, sp.LogUniform) or (integer and p.log), integer))
        scales = _truncnorm.Scales.of(bounds) if numeric else None
        is_int = np.array([b[3] for b in bounds], dtype=bool)
        return JointLayout(n_params=len(params), numeric=np.array(numeric, dtype=int), scales=scales,
                           float_pos=np.flatnonzero(~is_int), int_pos=np.flatnonzero(is_int),
                           choices=np.array(choices, dtype=int),
                           n_choices=np.array([len(params[j].values) for j in choices], dtype=int))


@dataclass(frozen=True, eq=False)
class JointParzen:
    """Kernels of all groups side by side: group g owns kernels starts[g]:starts[g + 1], its last the prior.

    mus, sigmas: (kernels, numeric columns) on the unit scale.
    quad: (2 * float columns, kernels) and const: (kernels,): a kernel's log weight plus its log
    density over the float columns is [u * u, u] @ quad + const; const also holds the log of the
    mass inside the support of every numeric factor (integers included).
    cats: (kernels, choice columns), a kernel's own choice index (-1 for the prior);
    keep: the probability a kernel keeps its own choice; spread: the probability it gives every
    choice on top (keep + choices * spread = 1); cat_log_probs: per choice column, (choices,
    kernels) log probabilities.
    """

    layout: JointLayout
    starts: np.ndarray
    log_w: np.ndarray
    mus: np.ndarray
    sigmas: np.ndarray
    quad: np.ndarray
    const: np.ndarray
    cats: np.ndarray
    keep: np.ndarray
    spread: np.ndarray
    cat_log_probs: tuple[np.ndarray, ...]

    @property
    def n_groups(self) -> int:
        return len(self.starts) - 1

    def sample(self, rng: np.random.Generator, size: int, *, group: int = 0) -> np.ndarray:
        """(size, parameters) draws in internal form from one group's mixture."""
        layout = self.layout
        lo, hi = self.starts[group], self.starts[group + 1]
        k = lo + _truncnorm._pick(rng, np.cumsum(np.exp(self.log_w[lo:hi])), size)
        out = np.empty((size, layout.n_params))
        if len(layout.numeric):
            out[:, layout.numeric] = layout.scales.from_unit(_truncnorm._draw(rng, self.mus[k], self.sigmas[k]))
        if len(layout.choices):
            # Keep the kernel's own choice with probability keep, else draw evenly from all
            # choices (its own included). The prior has keep 0.
            stay = rng.random((size, len(layout.choices))) < self.keep[k]
            anywhere = np.minimum((rng.random(stay.shape) * layout.n_choices).astype(int), layout.n_choices - 1)
            out[:, layout.choices] = np.where(stay, self.cats[k], anywhere)
        return out

    def log_pdf(self, x: np.ndarray) -> np.ndarray:
        """(groups, size): each row's log density per group, on the unit scale of floats
        (probability for integers and choices)."""
        x = np.asarray(x, dtype=float)
        layout = self.layout
        if len(layout.float_pos):
            u = layout.scales.to_unit(x[:, layout.numeric])[:, layout.float_pos]
            terms = np.concatenate([u * u, u], axis=1) @ self.quad
            terms += self.const
        else:
            terms = np.repeat(self.const[None, :], len(x), axis=0)
        for c in layout.int_pos:
            terms += self._int_log_mass(x[:, layout.numeric[c]], c)
        for table, j in zip(self.cat_log_probs, layout.choices):
            terms += table[x[:, j].astype(int)]
        # A log-sum-exp per group, in place on the one (size, kernels) array.
        out = np.empty((self.n_groups, len(x)))
        for g in range(self.n_groups):
            block = terms[:, self.starts[g]: self.starts[g + 1]]
            peak = block.max(axis=1, keepdims=True)
            block -= peak
            # Kernels more than 60 below the peak add nothing; clipping keeps exp() off its slow
            # underflow path, and float32 exp() is several times faster than float64 without
            # changing which candidate wins.
            np.maximum(block, _MIN_EXPONENT, out=block)
            out[g] = np.log(np.exp(block.astype(np.float32)).sum(axis=1, dtype=float)) + peak[:, 0]
        return out

    def _int_log_mass(self, values: np.ndarray, c: int) -> np.ndarray:
        """(values, kernels): log mass of each integer's cell under every kernel of numeric column c."""
        scales = self.layout.scales
        edges = np.stack([values - 0.5, values + 0.5])
        if scales.log_scale[c]:
            edges = np.log(edges)
        # Kernels of integers share few (centre, width) pairs: evaluate each distinct pair once.
        pairs, inverse = np.unique(self.mus[:, c] + 1j * self.sigmas[:, c], return_inverse=True)
        z = ((edges - scales.low_t[c]) / scales.width_t[c])[:, :, None] - pairs.real
        z /= pairs.imag
        tails = _gauss.tail(z)
        log_mass = np.log(np.maximum(_gauss.mass_from_tails(z[0], z[1], tails[0], tails[1]), 1e-300))
        return log_mass[:, inverse.reshape(-1)]


def _log_central_mass(mus: np.ndarray, sigmas: np.ndarray) -> np.ndarray:
    """log(Phi(b) - Phi(a)) for a = -mu/sigma <= 0 <= b = (1 - mu)/sigma: a kernel's mass inside [0, 1]."""
    a, b = -mus / sigmas, (1.0 - mus) / sigmas
    # Tails beyond 9 standard deviations (< 1e-19) cannot change the mass: most narrow kernels have none.
    near = (a > -_gauss._CENTRAL_CUTOFF) | (b < _gauss._CENTRAL_CUTOFF)
    out = np.zeros_like(mus)
    if near.any():
        out[near] = np.log(_gauss.central_mass(a[near], b[near]))
    return out


def fit(layout: JointLayout, groups: Sequence[tuple[np.ndarray, np.ndarray]], *,
        prior_weight: float = PRIOR_WEIGHT, trial_counts: Sequence[int] | None = None) -> JointParzen:
    """Joint mixtures per group from its (trials, parameters) observations and per-trial weights.

    trial_counts: how many trials each group stands for, where its rows are a weighted sample of them
    (sampler.group_kernels); the width clip and the choice smoothing then follow that count, as if
    every trial had its kernel. By default, each group's number of rows.
    """
    sizes, parts = [], []
    for x, w in groups:
        x = np.asarray(x, dtype=float).reshape(-1, layout.n_params)
        w = np.asarray(w, dtype=float)
        if len(w) != len(x):
            raise ValueError(f"got {len(x)} observations but {len(w)} weights")
        sizes.append(len(x))
        parts.append((x, w))
    counts = _truncnorm.group_counts(trial_counts, sizes)
    starts = np.concatenate(([0], np.cumsum([n + 1 for n in sizes])))
    n_kernels = int(starts[-1])
    n_num, n_cat = len(layout.numeric), len(layout.choices)
    mus = np.full((n_kernels, n_num), 0.5)
    sigmas = np.ones((n_kernels, n_num))
    log_w = np.empty(n_kernels)
    cats = np.full((n_kernels, n_cat), -1, dtype=int)
    keep = np.zeros((n_kernels, n_cat))
    spread = np.empty((n_kernels, n_cat))
    for (x, w), n, count, s in zip(parts, sizes, counts, starts):
        if n_num and n:
            u = layout.scales.to_unit(x[:, layout.numeric])
            mus[s: s + n] = u
            width = _truncnorm.neighbour_bandwidths(u)
            np.maximum(width, _truncnorm._floor(count), out=width)
            sigmas[s: s + n] = np.minimum(width, 1.0, out=width)
        w = np.append(w, prior_weight)
        log_w[s: s + n + 1] = np.log(w / w.sum())
        if n_cat:
            cats[s: s + n] = x[:, layout.choices]
            # As parzen.categorical_log_probs: 1 - frac stays, frac goes evenly to all choices.
            frac = layout.n_choices * prior_weight / (count + 1.0 + layout.n_choices * prior_weight)
            keep[s: s + n] = 1.0 - frac
            spread[s: s + n] = frac / layout.n_choices
            spread[s + n] = 1.0 / layout.n_choices
    const = log_w.copy()
    quad = np.empty((0, n_kernels))
    if n_num:
        # Integers too: their support runs over whole cells, so the mass inside is that of [0, 1].
        const -= np.sum(_log_central_mass(mus, sigmas), axis=1)
        all_floats = not len(layout.int_pos)
        mf = mus if all_floats else mus[:, layout.float_pos]
        sf = sigmas if all_floats else sigmas[:, layout.float_pos]
        inv_var = 1.0 / (sf * sf)
        # Expanding the square: u, mu in [0, 1] and sigma >= 1/100, so cancellation costs < 1e-11.
        const -= np.sum(0.5 * mf * mf * inv_var + np.log(sf) + _gauss.LOG_SQRT_2PI, axis=1)
        quad = np.concatenate([-0.5 * inv_var, mf * inv_var], axis=1).T.copy()
    # keep and spread take one value per group (and one for its prior): take logs of those only.
    firsts = np.minimum(starts[:-1], n_kernels - 1)
    kernel_group = np.repeat(np.arange(len(sizes)), np.diff(starts))
    is_prior = np.zeros(n_kernels, dtype=bool)
    is_prior[starts[1:] - 1] = True
    cat_log_probs = []
    for c, n in enumerate(layout.n_choices):
        log_hit = np.where(is_prior, -np.log(n), np.log(keep[firsts, c] + spread[firsts, c])[kernel_group])
        log_miss = np.where(is_prior, -np.log(n), np.log(spread[firsts, c])[kernel_group])
        cat_log_probs.append(np.where(np.arange(n)[:, None] == cats[:, c], log_hit, log_miss))
    cat_log_probs = tuple(cat_log_probs)
    return JointParzen(layout=layout, starts=starts, log_w=log_w, mus=mus, sigmas=sigmas, quad=quad, const=const,
                       cats=cats, keep=keep, spread=spread, cat_log_probs=cat_log_probs)
