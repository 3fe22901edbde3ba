"""The stopping rule of a sweep: stop once the relative gain stays under a threshold for k steps in a row.

Pure functions over the medians measured so far, so the rule is tested without Ray and a resumed suite
reaches the same decision from the same summaries.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Optional


@dataclass(frozen=True)
class Convergence:
    """converged: the last k gains were all under threshold. at: position (in the series given) of the
    value where that became true. gains[i] compares point i with the previous counted point (None for the
    first counted point and for points left out)."""

    converged: bool
    at: Optional[int]
    gains: tuple[Optional[float], ...]
    reason: str


def relative_gain(previous: float, current: float) -> float:
    """How much lower current is than previous, as a fraction of previous (negative when it got worse)."""
    if previous <= 0:
        return 0.0 if current >= previous else math.inf
    return (previous - current) / previous


def check(series: Sequence[Optional[float]], *, threshold: float, k: int) -> Convergence:
    """series: the watched metric per factor value, in sweep order (lower is better); None for a value that
    does not count (skipped, or its runs had failed trials: a run whose trials die early is fast but
    measures nothing). Converged when the last k gains between counted points are all < threshold."""
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    if not threshold > 0:
        raise ValueError(f"threshold must be > 0, got {threshold}")
    gains: list[Optional[float]] = []
    prev: Optional[float] = None
    run = 0
    for i, x in enumerate(series):
        if x is None or not math.isfinite(x):
            gains.append(None)
            continue
        if prev is None:
            gains.append(None)
        else:
            g = relative_gain(prev, x)
            gains.append(g)
            run = run + 1 if g < threshold else 0
            if run >= k:
                return Convergence(True, i, tuple(gains), f"gain under {threshold:.0%} for {k} step(s) in a row "
                                                          f"(last {g:+.1%})")
        prev = x
    return Convergence(False, None, tuple(gains), f"not converged: fewer than {k} step(s) in a row under "
                                                  f"{threshold:.0%}")
