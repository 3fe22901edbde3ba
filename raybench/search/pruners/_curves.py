"""Learning-curve extrapolation: parametric families, their least-squares fits, and a Laplace approximation.

Every family is f(u) = c + a * h(u; z), with u = progress / max_t (so the prediction is always at u = 1), c and
a entering linearly and one or two shape parameters z. For a given z the best (c, a) is a closed-form linear
least-squares solution, so a fit is a vectorised search over a grid of z, refined once on a finer grid around
the best point (variable projection). No iterative optimiser, no starting point, and the same result on every
call: the pruner's decisions stay a pure function of its inputs.

Each family is constrained to improve with progress (values in larger-is-better sign): where the unconstrained
slope has the wrong sign, the fit falls back to the flat curve at the mean. Learning curves improve with
training, and without the constraint a noisy dip would be extrapolated into a collapse and stop good trials.

Uncertainty (Laplace approximation): with Gaussian noise and flat priors, the posterior of the parameters
near the least-squares point is Gaussian with covariance s^2 (J^T J)^-1, J the Jacobian of the curve at the
data, s^2 = RSS / (n - p). Linearised at that point (the delta method), the prediction at u = 1 has variance
s^2 (g^T (J^T J)^-1 g + 1), g the curve's gradient there and the 1 the noise of the final report itself; with
s^2 estimated from n - p residuals, the prediction is a Student t with n - p degrees of freedom (as for a
linear regression's prediction interval), whose heavy tails matter after a few reports. Families are averaged
with weights exp(-BIC / 2), the Laplace approximation of each family's evidence.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property, lru_cache

import numpy as np
from scipy.special import stdtr, stdtrit

_Basis = Callable[..., np.ndarray]


@dataclass(frozen=True)
class _Family:
    name: str
    offset: bool          # whether c is a parameter (False: f = a * h)
    slope_sign: float     # a * slope_sign >= 0 makes the curve improve with u
    grids: tuple[np.ndarray, ...]
    basis: _Basis         # basis(log_u, *z) -> h, broadcast over z's leading axis

    @cached_property
    def coarse(self) -> list[np.ndarray]:
        """The coarse grid's points, one (points, 1) column per shape parameter."""
        return [m.reshape(-1, 1) for m in np.meshgrid(*self.grids, indexing="ij")]

    @cached_property
    def fine(self) -> list[np.ndarray]:
        """Offsets of the finer grid: 9 (one shape parameter) or 7x7 points spanning one coarse step either side."""
        points = 9 if len(self.grids) == 1 else 7
        steps = [np.linspace(-(g[1] - g[0]), g[1] - g[0], points) for g in self.grids]
        return [m.reshape(-1, 1) for m in np.meshgrid(*steps, indexing="ij")]

    @cached_property
    def n_params(self) -> int:
        return int(self.offset) + 1 + len(self.grids)


def _pow3(log_u: np.ndarray, log_alpha: np.ndarray) -> np.ndarray:
    # c - |a| u^-alpha: a power law rising to its asymptote c.
    return np.exp(-np.exp(log_alpha) * log_u)


def _exp3(log_u: np.ndarray, log_b: np.ndarray) -> np.ndarray:
    # c - |a| exp(-b u)
    return np.exp(-np.exp(log_b) * np.exp(log_u))


def _log_power(log_u: np.ndarray, beta: np.ndarray, log_g: np.ndarray) -> np.ndarray:
    # a / (1 + (u / e^beta)^-g): a logistic in log u (Domhan et al.'s log power, written stably).
    return 1.0 / (1.0 + np.exp(-np.exp(log_g) * (log_u - beta)))


def _janoschek(log_u: np.ndarray, log_kappa: np.ndarray, log_delta: np.ndarray) -> np.ndarray:
    # alpha - (alpha - beta) exp(-kappa u^delta)
    return np.exp(-np.exp(log_kappa) * np.exp(np.exp(log_delta) * log_u))


FAMILIES: dict[str, _Family] = {f.name: f for f in (
    _Family("pow3", True, -1.0, (np.linspace(math.log(0.02), math.log(3.0), 48),), _pow3),
    _Family("exp3", True, -1.0, (np.linspace(math.log(0.1), math.log(300.0), 48),), _exp3),
    _Family("log_power", False, 1.0, (np.linspace(-6.0, 2.0, 14), np.linspace(math.log(0.05), math.log(4.0), 12)),
            _log_power),
    _Family("janoschek", True, -1.0,
            (np.linspace(math.log(0.1), math.log(300.0), 14), np.linspace(math.log(0.2), math.log(3.0), 12)),
            _janoschek),
)}


@dataclass(frozen=True)
class Fit:
    """One family fitted to a curve: its prediction at max_t (a Student t: mean, scale sd, dof degrees of
    freedom), its BIC and parameter count."""

    family: str
    mean: float
    sd: float
    bic: float
    n_params: int
    dof: int


def n_params(name: str) -> int:
    return FAMILIES[name].n_params


class _Batch:
    """Several families' grid points stacked into one matrix, so that one pass of numpy fits them all."""

    def __init__(self, families: Sequence[_Family], sizes: Sequence[int]) -> None:
        self.families = families
        self.bounds = np.cumsum([0, *sizes]).tolist()
        self.offset = np.repeat([f.offset for f in families], sizes)
        self.slope_sign = np.repeat([f.slope_sign for f in families], sizes)

    def best(self, h: np.ndarray, y: np.ndarray) -> list[tuple[int, float, float, float]]:
        """Per family: (row, c, a, rss) of its best row of h, by constrained linear least squares."""
        n = h.shape[1]
        ym = float(y.sum()) / n
        hm = h.sum(axis=1) / n
        shy = h @ y
        shh = np.einsum("ij,ij->i", h, h)
        off = self.offset
        shy = np.where(off, shy - hm * (n * ym), shy)
        shh = np.where(off, shh - hm * (n * hm), shh)
        yy = float(y @ y)
        syy = np.where(off, yy - n * ym * ym, yy)
        a = shy / np.maximum(shh, 1e-300)
        a[a * self.slope_sign < 0.0] = 0.0
        rss = syy - a * (2.0 * shy - a * shh)
        out = []
        for (lo, hi), family in zip(zip(self.bounds, self.bounds[1:]), self.families):
            i = lo + int(np.argmin(rss[lo:hi]))
            c = ym - float(a[i]) * float(hm[i]) if family.offset else 0.0
            out.append((i - lo, c, float(a[i]), max(float(rss[i]), 0.0)))
        return out


@lru_cache(maxsize=32)
def _batches(names: tuple[str, ...]) -> tuple[_Batch, _Batch]:
    families = [FAMILIES[name] for name in names]
    return (_Batch(families, [len(f.coarse[0]) for f in families]),
            _Batch(families, [len(f.fine[0]) for f in families]))


def _laplace(families: Sequence[_Family], log_u: np.ndarray, y: np.ndarray, points: Sequence[tuple]) -> list[Fit]:
    """Each family's prediction at u = 1 with its Laplace (delta-method) spread, at its fitted point.

    points: per family, (shape parameters z, c, a, rss). The Jacobians are stacked into one array, padded to
    4 parameters (a padded parameter has a unit diagonal and a zero gradient, so it adds nothing), so that one
    batched solve serves every family.
    """
    n, m = len(y), len(families)
    at = np.empty(n + 1)
    at[:n], at[n] = log_u, 0.0
    jac = np.zeros((m, 4, n + 1))
    for i, (family, (z, _, a, _)) in enumerate(zip(families, points)):
        # The curve's Jacobian at the data and at u = 1 (log u = 0); shape parameters by central differences,
        # in one call of the basis: rows z, then z + eps and z - eps along each shape parameter.
        k = len(z)
        rows = family.basis(at, *[zi + _SHIFTS[k][:, j:j + 1] for j, zi in enumerate(z)])
        r = int(family.offset)
        jac[i, 0] = 1.0  # c (overwritten by h where there is no offset)
        jac[i, r] = rows[0]
        jac[i, r + 1:r + 1 + k] = (rows[1::2] - rows[2::2]) * (a / (2 * _EPS))
    data, grad = jac[:, :, :-1], jac[:, :, -1]
    info = data @ data.transpose(0, 2, 1)
    diag = info.reshape(m, 16)[:, ::5]  # a view of the diagonals
    p = np.array([f.n_params for f in families])
    pad = np.arange(4) >= p[:, None]
    # A ridge far below any real curvature: it only matters where a = 0 leaves the shape rows at 0.
    ridge = 1e-12 * (1.0 + diag.sum(axis=1))
    diag += np.where(pad, 1.0, ridge[:, None])
    quad = np.einsum("ij,ij->i", grad, np.linalg.solve(info, grad[:, :, None])[:, :, 0])
    floor = 1e-9 * max(1.0, float(np.abs(y).max()))
    fits = []
    for i, (family, (_, c, a, rss)) in enumerate(zip(families, points)):
        k = int(p[i])
        s2 = rss / (n - k)
        var = s2 * (float(quad[i]) + 1.0)
        h1 = jac[i, int(family.offset), -1]
        bic = n * math.log(max(rss / n, floor * floor)) + k * math.log(n)
        fits.append(Fit(family.name, c + a * float(h1), max(math.sqrt(max(var, 0.0)), floor), bic, k, n - k))
    return fits


_EPS = 1e-5
# Per number of shape parameters k: rows z, z + eps e_1, z - eps e_1, z + eps e_2, ...
_SHIFTS = {k: np.vstack([np.zeros(k)] + [s * _EPS * np.eye(k)[j] for j in range(k) for s in (1.0, -1.0)])
           for k in (1, 2)}


def fit_curve(progress: Sequence[float], values: Sequence[float], max_t: float,
              families: Sequence[str]) -> list[Fit]:
    """Every family with at least two residual degrees of freedom, fitted to the curve (larger-is-better sign).

    Least squares on each family's coarse grid, then on a finer grid one coarse step around its best point;
    every family's grid points go through one stacked pass.
    """
    x = np.asarray(progress, dtype=float)
    keep = x > 0.0  # progress 0 (a report at 0 s) has no place on a log scale
    log_u = np.log(x[keep] / max_t)
    y = np.asarray(values, dtype=float)[keep]
    names = tuple(name for name in families if len(y) >= n_params(name) + 2)
    if not names:
        return []
    coarse, fine = _batches(names)
    fams = coarse.families
    best = coarse.best(np.vstack([f.basis(log_u, *f.coarse) for f in fams]), y)
    centers = [[float(g[i, 0]) for g in f.coarse] for f, (i, _, _, _) in zip(fams, best)]
    zs = [[zi + off for zi, off in zip(z, f.fine)] for f, z in zip(fams, centers)]
    best = fine.best(np.vstack([f.basis(log_u, *z) for f, z in zip(fams, zs)]), y)
    points = [([float(zj[i, 0]) for zj in z], c, a, rss) for z, (i, c, a, rss) in zip(zs, best)]
    fits = [f for f in _laplace(fams, log_u, y, points) if math.isfinite(f.mean) and math.isfinite(f.sd)]
    return fits


def bic_weights(fits: Sequence[Fit]) -> list[float]:
    low = min(f.bic for f in fits)
    w = [math.exp(-(f.bic - low) / 2.0) for f in fits]
    total = sum(w)
    return [x / total for x in w]


_STEPS = np.linspace(0.0, 1.0, 24)


class Mixture:
    """The families' predictions averaged with their weights: a mixture of Student t distributions."""

    def __init__(self, fits: Sequence[Fit], weights: Sequence[float]) -> None:
        self._mean = np.array([f.mean for f in fits])
        self._sd = np.array([f.sd for f in fits])
        self._dof = np.array([f.dof for f in fits], dtype=float)
        self._w = np.asarray(weights, dtype=float)

    @property
    def mean(self) -> float:
        return float(self._w @ self._mean)

    def cdf(self, x: np.ndarray) -> np.ndarray:
        """The mixture's CDF at each of the points x."""
        z = (np.asarray(x, dtype=float)[..., None] - self._mean) / self._sd
        return stdtr(self._dof, z) @ self._w

    def prob_above(self, target: float) -> float:
        """P(final > target)."""
        return min(max(1.0 - float(self.cdf(target)), 0.0), 1.0)

    def quantiles(self, qs: Sequence[float]) -> list[float]:
        """The qs-quantiles of the mixture.

        Each lies between the smallest and the largest of the families' own q-quantiles; the CDF on 24 points
        across that bracket, twice, then linear interpolation in the last step.
        """
        out = []
        for q in qs:
            own = self._mean + self._sd * stdtrit(self._dof, q)
            lo, hi = float(own.min()), float(own.max())
            if hi - lo <= 1e-12 * max(1.0, abs(hi)):
                out.append(0.5 * (lo + hi))
                continue
            for _ in range(2):
                xs = lo + (hi - lo) * _STEPS
                cdf = self.cdf(xs)
                i = min(max(int(np.searchsorted(cdf, q)), 1), 23)
                lo, hi, c_lo, c_hi = float(xs[i - 1]), float(xs[i]), float(cdf[i - 1]), float(cdf[i])
            out.append(lo + (hi - lo) * (q - c_lo) / (c_hi - c_lo) if c_hi > c_lo else 0.5 * (lo + hi))
        return out
