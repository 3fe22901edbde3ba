"""Hyperband (Li et al., 2018, JMLR 18(185)): several brackets of successive halving, run side by side.

Rung milestones are min_resource * reduction_factor**k up to max_resource. Bracket s has the milestones from
min_resource * reduction_factor**s up, so bracket 0 stops earliest and the last bracket never stops anything
(its only rung is max_resource, or none before it). A trial is compared only with the trials of its own bracket.

The rule at a rung is Optuna's successive halving: with n values at the rung (this trial's included), the trial
goes on when its value is at least the k-th best, k = max(n // reduction_factor, 1). Bracket s is drawn with
probability proportional to ceil(n_brackets * eta**(n_brackets-1-s) / (n_brackets-s)), Optuna's trial budget
per bracket, but from a seeded hash of the trial id (Optuna hashes the study name and trial number).
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right, insort
from collections.abc import Sequence
from itertools import accumulate

from raybench.search.decision import Decision
from raybench.search.pruners._asha import rung_milestones
from raybench.search.pruners._base import Pruner, check_int, check_number
from raybench.search.pruners._stats import unit_hash


class _Rungs:
    """One bracket: milestone -> {trial_id: value}, and each rung's values in ascending order."""

    def __init__(self, milestones: tuple[float, ...]) -> None:
        self.milestones = milestones
        self.recorded: dict[float, dict[int, float]] = {m: {} for m in milestones}
        self.ordered: list[list[float]] = [[] for _ in milestones]


class HyperbandPruner(Pruner):
    """Hyperband over successive-halving brackets.

    min_resource: the first milestone (in the unit), > 0.
    max_resource: the last milestone is the largest min_resource * eta**k <= max_resource.
    reduction_factor: eta > 1; about 1 in eta trials goes on past each rung.
    seed: picks each trial's bracket.
    """

    name = "hyperband"

    def __init__(self, *, mode: str = "max", unit: str = "epoch", min_resource: float = 1.0,
                 max_resource: float = 100.0, reduction_factor: float = 3.0, seed: int = 0) -> None:
        super().__init__(mode=mode, unit=unit)
        min_resource = check_number("min_resource", min_resource)
        max_resource = check_number("max_resource", max_resource)
        eta = check_number("reduction_factor", reduction_factor)
        if not 0.0 < min_resource < math.inf:
            raise ValueError(f"min_resource must be > 0 and finite, got {min_resource!r}")
        if not 1.0 < eta < math.inf:
            raise ValueError(f"reduction_factor must be > 1 and finite, got {eta!r}")
        if not min_resource <= max_resource < math.inf:
            raise ValueError(f"max_resource must be finite and >= min_resource {min_resource:g}, got {max_resource!r}")
        self._seed = check_int("seed", seed, low=0)
        self._eta = eta
        milestones = rung_milestones(min_resource, eta, max_resource)
        n = len(milestones)
        self._brackets = [_Rungs(milestones[s:]) for s in range(n)]
        self._budgets = tuple(bracket_budgets(n, eta))
        self._ends = list(accumulate(self._budgets))
        self._bracket_of: dict[int, int] = {}
        self._next_rung: dict[int, int] = {}

    @property
    def n_brackets(self) -> int:
        return len(self._brackets)

    @property
    def budgets(self) -> tuple[int, ...]:
        """Each bracket's share of the trials, in Optuna's units (its trial allocation budget)."""
        return self._budgets

    def bracket_of(self, trial_id: int) -> int:
        """The bracket a trial is in, or would be in once it reports."""
        index = self._bracket_of.get(trial_id)
        if index is None:
            slot = int(unit_hash(self._seed, trial_id) * self._ends[-1])
            index = bisect_right(self._ends, slot)
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
            return self._between_rungs(progress, value, milestones, k)
        v = self._sign * value
        # A report passing several rungs is judged at each with its value, lowest first, as Optuna does.
        while True:
            ordered = bracket.ordered[k]
            n_peers = len(ordered)
            cutoff = halving_cutoff(ordered, v, self._eta)
            insort(ordered, v)
            bracket.recorded[milestones[k]][trial_id] = v
            k += 1
            stop = v < cutoff
            if stop or k == len(milestones) or progress < milestones[k]:
                break
        self._next_rung[trial_id] = k
        milestone = milestones[k - 1]
        at = f"rung {k + index} ({self._where(milestone)}) of bracket {index}"
        if n_peers == 0:
            return self._continue(progress, value, f"continued at {at}: first trial to reach it", rung=milestone)
        return self._compared(stop, progress, value, self._sign * cutoff, n_peers, at, rung=milestone)

    def _between_rungs(self, progress: float, value: float, milestones: tuple[float, ...], k: int) -> Decision:
        at = self._where(progress)
        if k == len(milestones):
            return self._continue(progress, value, f"continued at {at}: past the last rung "
                                                   f"({self._where(milestones[-1])})")
        return self._continue(progress, value, f"continued at {at}: next rung at {self._where(milestones[k])}")


def halving_cutoff(others: Sequence[float], v: float, eta: float) -> float:
    """The k-th largest of `others` (ascending) and `v`, k = max(n // eta, 1) with n = len(others) + 1.

    A value at least this large is among the k best at its rung and goes on (ties go on).
    """
    n = len(others) + 1
    j = n - max(int(n // eta), 1)  # ascending index of the k-th largest
    p = bisect_left(others, v)
    if j < p:
        return others[j]
    return v if j == p else others[j - 1]


def bracket_budgets(n_brackets: int, eta: float) -> list[int]:
    """Optuna's trial allocation budget of each bracket: ceil(n * eta**s / (s + 1)), s = n - 1 - bracket."""
    return [math.ceil(n_brackets * eta ** (n_brackets - 1 - b) / (n_brackets - b)) for b in range(n_brackets)]
