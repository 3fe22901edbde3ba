"""Asynchronous successive halving (ASHA; Li et al., 2018, arXiv:1810.05934).

Rung milestones are grace_period * reduction_factor**k for every k with a milestone <= max_t. A trial reaches a
rung at its first report with progress >= the milestone; its value there is compared with the values that
earlier trials recorded at that rung, then recorded. The cutoff is the (1 - 1/reduction_factor) percentile of
those values, so about one trial in reduction_factor goes on. The first trial at a rung has nothing to be
compared with and always goes on.

With brackets > 1, bracket s starts at the rung of milestone grace_period * reduction_factor**s (later first
stops, fewer rungs). A trial's bracket is drawn with probability proportional to exp(number of rungs), as Ray
Tune does, but from a seeded hash of its trial id instead of the global RNG, so a replay draws the same.
"""

from __future__ import annotations

import math
from bisect import bisect_right, insort

from raybench.search.decision import Decision
from raybench.search.pruners._base import Pruner, check_int, check_number
from raybench.search.pruners._stats import percentile_of_sorted, unit_hash


class _Bracket:
    """The rungs of one bracket: milestone -> {trial_id: value}, plus each rung's values in sorted order."""

    def __init__(self, milestones: tuple[float, ...]) -> None:
        self.milestones = milestones
        self.recorded: dict[float, dict[int, float]] = {m: {} for m in milestones}
        # Sorted copies of the recorded values: the cutoff is then an index, not a sort per report.
        self.ordered: list[list[float]] = [[] for _ in milestones]


class ASHAPruner(Pruner):
    """Asynchronous successive halving.

    grace_period: the first milestone (in the unit), > 0 and <= max_t.
    reduction_factor: eta > 1; about 1/eta of the trials at a rung go on past it.
    max_t: no milestone beyond it. ASHA does not stop trials at max_t; the runtime ends them.
    brackets: how many brackets, at most the number of rungs.
    seed: picks each trial's bracket (with brackets > 1).
    """

    name = "asha"

    def __init__(self, *, mode: str = "max", unit: str = "epoch", grace_period: float = 1.0,
                 reduction_factor: float = 3.0, max_t: float = 100.0, brackets: int = 1, seed: int = 0) -> None:
        super().__init__(mode=mode, unit=unit)
        grace_period = check_number("grace_period", grace_period)
        reduction_factor = check_number("reduction_factor", reduction_factor)
        max_t = check_number("max_t", max_t)
        if not 0.0 < grace_period < math.inf:
            raise ValueError(f"grace_period must be > 0 and finite, got {grace_period!r}")
        if not 1.0 < reduction_factor < math.inf:
            raise ValueError(f"reduction_factor must be > 1 and finite, got {reduction_factor!r}")
        if not grace_period <= max_t < math.inf:
            raise ValueError(f"max_t must be finite and >= grace_period {grace_period:g}, got {max_t!r}")
        milestones = rung_milestones(grace_period, reduction_factor, max_t)
        brackets = check_int("brackets", brackets, low=1)
        if brackets > len(milestones):
            raise ValueError(f"brackets must be <= the {len(milestones)} rungs from grace_period to max_t, "
                             f"got {brackets}; lower brackets or raise max_t")
        self._seed = check_int("seed", seed, low=0)
        self._brackets = [_Bracket(milestones[s:]) for s in range(brackets)]
        self._thresholds = bracket_thresholds([len(b.milestones) for b in self._brackets])
        # Written as Ray Tune writes it (percentile, then numpy's /100), so the quantile is the same float.
        self._quantile = (1 - 1 / reduction_factor) * 100 / 100
        self._bracket_of: dict[int, int] = {}
        self._next_rung: dict[int, int] = {}

    def bracket_of(self, trial_id: int) -> int:
        """The bracket a trial is in, or would be in once it reports."""
        index = self._bracket_of.get(trial_id)
        if index is None:
            index = bisect_right(self._thresholds, unit_hash(self._seed, trial_id))
        return index

    def rungs(self, bracket: int = 0) -> dict[float, dict[int, float]]:
        """A copy of one bracket's rungs, milestone -> {trial_id: value}, values in the user's sign."""
        return {m: {t: self._sign * v for t, v in rec.items()} for m, rec in self._brackets[bracket].recorded.items()}

    def _forget(self, trial_id: int) -> None:
        self._bracket_of.pop(trial_id, None)
        self._next_rung.pop(trial_id, None)

    def _decide(self, trial_id: int, progress: float, value: float) -> Decision:
        if not math.isfinite(value):
            return self._stop_not_finite(progress, value)
        index = self._bracket_of.get(trial_id)
        if index is None:
            index = self._bracket_of[trial_id] = self.bracket_of(trial_id)
        bracket = self._brackets[index]
        milestones = bracket.milestones
        k = self._next_rung.get(trial_id, 0)
        if k == len(milestones) or progress < milestones[k]:
            return self._no_rung(progress, value, milestones, k)
        v = self._sign * value
        # A report may pass several rungs at once (coarse seconds or joules): it reaches each of them with this
        # value, lowest first, and stops at the first it fails, as it would not have been promoted further.
        while True:
            ordered = bracket.ordered[k]
            cutoff = percentile_of_sorted(ordered, self._quantile) if ordered else None
            n_peers = len(ordered)
            insort(ordered, v)
            bracket.recorded[milestones[k]][trial_id] = v
            k += 1
            stop = cutoff is not None and v < cutoff
            if stop or k == len(milestones) or progress < milestones[k]:
                break
        self._next_rung[trial_id] = k
        milestone = milestones[k - 1]
        at = f"rung {k + index} ({self._where(milestone)})"
        if cutoff is None:
            return self._continue(progress, value, f"continued at {at}: first trial to reach it", rung=milestone)
        return self._compared(stop, progress, value, self._sign * cutoff, n_peers, at, rung=milestone)

    def _no_rung(self, progress: float, value: float, milestones: tuple[float, ...], k: int) -> Decision:
        at = self._where(progress)
        if k == len(milestones):
            return self._continue(progress, value, f"continued at {at}: past the last rung "
                                                   f"({self._where(milestones[-1])})")
        return self._continue(progress, value, f"continued at {at}: next rung at {self._where(milestones[k])}")


def rung_milestones(grace_period: float, reduction_factor: float, max_t: float) -> tuple[float, ...]:
    """grace_period * reduction_factor**k for k = 0, 1, ... while <= max_t.

    The relative slack of 1e-9 keeps a milestone that equals max_t in exact arithmetic (1 * 10**3 vs 1000)
    but rounds to just above it in floating point.
    """
    out = []
    k = 0
    while (m := grace_period * reduction_factor**k) <= max_t * (1 + 1e-9):
        out.append(m)
        k += 1
    return tuple(out)


def bracket_thresholds(n_rungs: list[int]) -> list[float]:
    """Upper ends in [0, 1) of each bracket's share but the last, with weights exp(rungs) as in Ray Tune."""
    top = max(n_rungs)
    weights = [math.exp(n - top) for n in n_rungs]
    total = sum(weights)
    out: list[float] = []
    acc = 0.0
    for w in weights[:-1]:
        acc += w
        out.append(acc / total)
    return out
