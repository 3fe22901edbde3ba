"""Normal-distribution numerics in numpy alone (scipy is not a runtime dependency).

Probabilities are kept in linear space: every mixture here contains a broad prior kernel,
so a mixture's mass never underflows even where single kernels do.
"""

from __future__ import annotations

import math

import numpy as np

LOG_SQRT_2PI = 0.5 * math.log(2.0 * math.pi)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
_INV_SQRT2 = 1.0 / math.sqrt(2.0)
# Chebyshev fit of erfc (Press et al., Numerical Recipes, section 6.2): relative error < 1.2e-7.
_ERFC_COEFFS = (-1.26551223, 1.00002368, 0.37409196, 0.09678418, -0.18628806,
                0.27886807, -1.13520398, 1.48851587, -0.82215223, 0.17087277)
# Where an interval is narrower than this (in standard deviations, times its distance from 0
# where that exceeds 1), density times width is more accurate than a difference of two tails.
_NARROW = 1e-2
# Tails beyond 36 standard deviations are taken as that at 36 (about 1e-284): exp() of
# arguments near the underflow limit is ten times slower than of ordinary ones.
_MAX_U = 36.0 * _INV_SQRT2
_CENTRAL_CUTOFF = 9.0


def tail(z: np.ndarray) -> np.ndarray:
    """Phi(-|z|): the smaller tail of the standard normal, with small relative error."""
    u = np.minimum(np.abs(z) * _INV_SQRT2, _MAX_U)
    t = 1.0 / (1.0 + 0.5 * u)
    poly = np.full_like(t, _ERFC_COEFFS[-1])
    for c in _ERFC_COEFFS[-2::-1]:
        poly *= t
        poly += c
    return 0.5 * t * np.exp(poly - u * u)


def mass(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Phi(b) - Phi(a) of the standard normal, elementwise, for a <= b."""
    return mass_from_tails(a, b, tail(a), tail(b))


def central_mass(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Phi(b) - Phi(a) for a <= 0 <= b, as for a kernel centred inside its support."""
    z = np.stack([a, b])
    # Tails beyond 9 standard deviations (< 1e-19) cannot change 1 - ta - tb: skip them.
    near = np.abs(z) < _CENTRAL_CUTOFF
    tails = np.zeros_like(z)
    tails[near] = tail(z[near])
    return 1.0 - tails[0] - tails[1]


def mass_from_tails(a: np.ndarray, b: np.ndarray, ta: np.ndarray, tb: np.ndarray) -> np.ndarray:
    """Phi(b) - Phi(a), given the tails ta = tail(a) and tb = tail(b)."""
    # Only differences of small tails appear, so nothing cancels far from 0.
    exact = np.maximum(np.where(b <= 0, tb - ta, np.where(a >= 0, ta - tb, 1.0 - ta - tb)), 0.0)
    width, mid = b - a, 0.5 * (a + b)
    narrow = width * np.maximum(1.0, np.abs(mid)) < _NARROW
    if narrow.any():
        midpoint = width * _INV_SQRT_2PI * np.exp(-0.5 * np.minimum(mid * mid, _MAX_U**2))
        exact = np.where(narrow, midpoint, exact)
    return exact
