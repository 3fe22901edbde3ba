"""Promotion ASHA: the original asynchronous successive halving (Li et al., 2018, arXiv:1810.05934, Algorithm 2).

A trial that reaches a rung below the last PAUSES there, keeping its checkpoint. When a worker is free, the
scheduler asks next_promotion(): the best paused trial that is in the top 1/reduction_factor of its rung (by
the values recorded there so far) is promoted, resumes from its checkpoint and runs to the next rung; when no
paused trial qualifies, the scheduler starts a new trial. A trial reaching the last rung runs to its end.

Promotion order:
    value: the highest rung with a candidate first, then the best value there (Li et al.'s order);
    value_per_joule: the largest expected improvement at the next rung per joule its promotion will cost,
        over all rungs (see expected_improvement() and docs/pruners.md).
"""

from __future__ import annotations

import math
from bisect import insort
from collections.abc import Mapping
from typing import NamedTuple, Optional

from raybench.search.decision import Action, Decision, Reason
from raybench.search.pruners._asha import rung_milestones
from raybench.search.pruners._base import Pruner, check_number, check_trial_id

ORDERS = ("value", "value_per_joule")


class Promotion(NamedTuple):
    """A paused trial to resume: its id, the milestone of the rung it paused at, and why it was chosen."""

    trial_id: int
    rung: float
    reason: Reason


class PromotionASHAPruner(Pruner):
    """Asynchronous successive halving by promotion.

    grace_period: the first milestone (in the unit), > 0 and <= max_t.
    reduction_factor: eta > 1; the top 1/eta of a rung's trials can be promoted from it.
    max_t: no milestone beyond it; the horizon of a promotion to the last rung.
    order: "value" or "value_per_joule" (the joules come with each next_promotion() call).
    """

    name = "asha"

    def __init__(self, *, mode: str = "max", unit: str = "epoch", grace_period: float = 1.0,
                 reduction_factor: float = 3.0, max_t: float = 100.0, order: str = "value") -> None:
        super().__init__(mode=mode, unit=unit)
        grace_period = check_number("grace_period", grace_period)
        eta = check_number("reduction_factor", reduction_factor)
        max_t = check_number("max_t", max_t)
        if not 0.0 < grace_period < math.inf:
            raise ValueError(f"grace_period must be > 0 and finite, got {grace_period!r}")
        if not 1.0 < eta < math.inf:
            raise ValueError(f"reduction_factor must be > 1 and finite, got {eta!r}")
        if not grace_period <= max_t < math.inf:
            raise ValueError(f"max_t must be finite and >= grace_period {grace_period:g}, got {max_t!r}")
        if order not in ORDERS:
            raise ValueError(f"order must be 'value' or 'value_per_joule', got {order!r}")
        self._eta = eta
        self._max_t = max_t
        self._order = order
        self._milestones = rung_milestones(grace_period, eta, max_t)
        self._recorded: list[dict[int, float]] = [{} for _ in self._milestones]
        self._ordered: list[list[float]] = [[] for _ in self._milestones]
        self._next_rung: dict[int, int] = {}
        self._paused: dict[int, tuple[int, float]] = {}  # trial -> (rung index, progress at the pause)

    @property
    def order(self) -> str:
        return self._order

    def rungs(self) -> dict[float, dict[int, float]]:
        """A copy of the rungs, milestone -> {trial_id: value}, values in the user's sign."""
        return {m: {t: self._sign * v for t, v in rec.items()} for m, rec in zip(self._milestones, self._recorded)}

    def paused(self) -> dict[int, float]:
        """The paused trials and the milestone of the rung each waits at."""
        return {t: self._milestones[k] for t, (k, _) in sorted(self._paused.items())}

    def report(self, trial_id: int, progress: float, value: float) -> Decision:
        k = self._paused.get(check_trial_id(trial_id), (None,))[0]
        if k is not None:
            raise ValueError(f"trial {trial_id} is paused at rung {k + 1} ({self._where(self._milestones[k])}); "
                             f"it reports again only once promoted")
        return super().report(trial_id, progress, value)

    def complete(self, trial_id: int) -> None:
        # A trial paused at its last epoch (a rung at task.epochs below max_t) has nothing left to run: the
        # runtime completes it, and it leaves the paused set (its value stays at the rung).
        super().complete(trial_id)
        self._paused.pop(trial_id, None)

    def _forget(self, trial_id: int) -> None:
        self._next_rung.pop(trial_id, None)

    def _decide(self, trial_id: int, progress: float, value: float) -> Decision:
        if not math.isfinite(value):
            return self._stop_not_finite(progress, value)
        milestones = self._milestones
        k = self._next_rung.get(trial_id, 0)
        at = self._where(progress)
        if k == len(milestones):
            return self._continue(progress, value, f"continued at {at}: past the last rung "
                                                   f"({self._where(milestones[-1])})")
        if progress < milestones[k]:
            return self._continue(progress, value, f"continued at {at}: next rung at {self._where(milestones[k])}")
        # Recorded at the next rung only, even when the report passed several: promotion goes one rung at a time.
        v = self._sign * value
        n_peers = len(self._ordered[k])
        insort(self._ordered[k], v)
        self._recorded[k][trial_id] = v
        self._next_rung[trial_id] = k + 1
        rung = f"rung {k + 1} ({self._where(milestones[k])})"
        if k == len(milestones) - 1:
            return self._continue(progress, value, f"continued at {rung}: the last rung; it runs to its end",
                                  rung=milestones[k], n_peers=n_peers)
        self._paused[trial_id] = (k, progress)
        top = self._top(k)
        cutoff = self._sign * self._ordered[k][-top] if top else None
        detail = (f"paused at {rung}: {value:.6g}, rank {self._rank(k, trial_id)} of {n_peers + 1}; "
                  f"the top {top} can be promoted")
        return Decision(Action.PAUSE, Reason(rule=self.name, progress=progress, unit=self._unit, value=value,
                                             cutoff=cutoff, n_peers=n_peers, rung=milestones[k], detail=detail))

    def _top(self, k: int) -> int:
        return int(len(self._ordered[k]) // self._eta)

    def _ranked(self, k: int) -> list[int]:
        """The trials at rung k, best first; ties go to the lower trial id."""
        rec = self._recorded[k]
        return sorted(rec, key=lambda t: (-rec[t], t))

    def _rank(self, k: int, trial_id: int) -> int:
        return self._ranked(k).index(trial_id) + 1

    def _candidates(self) -> list[tuple[int, int]]:
        """(rung index, trial) of every paused trial in the top 1/eta of its rung."""
        out = []
        for k in range(len(self._milestones) - 1):
            top = self._top(k)
            if top:
                out += [(k, t) for t in self._ranked(k)[:top] if self._paused.get(t, (None,))[0] == k]
        return out

    def next_promotion(self, *, joules: Optional[Mapping[int, float]] = None) -> Optional[Promotion]:
        """Promote the best paused trial in the top 1/eta of its rung, or None (then start a new trial).

        joules: order value_per_joule only: each paused trial's measured joules so far (trial_id -> J, the
            trial's attributed energy up to its pause). Without a positive figure for every candidate, the cost
            of a promotion is counted in the unit's progress instead, and the reason says so.
        """
        candidates = self._candidates()
        if not candidates:
            return None
        if self._order == "value":
            k, t = max(candidates, key=lambda c: (c[0], self._recorded[c[0]][c[1]], -c[1]))
            return self._promote(t, f"{self._sign * self._recorded[k][t]:.6g} in the top {self._top(k)} "
                                    f"of {len(self._recorded[k])}")
        scored = [(self._score(k, t, joules, candidates), k, t) for k, t in candidates]
        (score, ei, cost, per), k, t = max(scored, key=lambda s: (s[0][0], s[1], self._recorded[s[1]][s[2]], -s[2]))
        return self._promote(t, f"expected improvement {ei:.4g} at the next rung for {cost:.4g} {per} "
                                f"= {score:.4g}/{per} ({len(candidates)} candidates)", score=score)

    def promote(self, trial_id: int) -> Promotion:
        """Promote a paused trial out of turn (the guard resumes protected trials this way)."""
        if trial_id not in self._paused:
            raise ValueError(f"trial {trial_id} is not paused; only a paused trial can be promoted")
        return self._promote(trial_id, "out of turn")

    def stop_paused(self, trial_id: int) -> Decision:
        """End a paused trial that can no longer be promoted (nothing left to start, nothing running)."""
        if trial_id not in self._paused:
            raise ValueError(f"trial {trial_id} is not paused; only a paused trial can be stopped here")
        k, progress = self._paused.pop(trial_id)
        v = self._recorded[k][trial_id]
        top = self._top(k)
        detail = (f"stopped at rung {k + 1} ({self._where(self._milestones[k])}): not promoted, rank "
                  f"{self._rank(k, trial_id)} of {len(self._recorded[k])} where the top {top} can be")
        cutoff = self._sign * self._ordered[k][-top] if top else None
        return Decision(Action.STOP, Reason(rule=self.name, progress=progress, unit=self._unit, value=self._sign * v,
                                            cutoff=cutoff, n_peers=len(self._recorded[k]) - 1,
                                            rung=self._milestones[k], detail=detail))

    def _promote(self, trial_id: int, why: str, score: Optional[float] = None) -> Promotion:
        k, progress = self._paused.pop(trial_id)
        top = self._top(k)
        m = self._milestones
        detail = (f"promoted from rung {k + 1} ({self._where(m[k])}) to rung {k + 2} ({self._where(m[k + 1])}): "
                  f"{why}")
        reason = Reason(rule=self.name, progress=progress, unit=self._unit,
                        value=self._sign * self._recorded[k][trial_id],
                        cutoff=self._sign * self._ordered[k][-top] if top else None,
                        n_peers=len(self._recorded[k]) - 1, rung=m[k], detail=detail, score=score)
        return Promotion(trial_id, m[k], reason)

    def _score(self, k: int, trial_id: int, joules: Optional[Mapping[int, float]],
               candidates: list[tuple[int, int]]) -> tuple[float, float, float, str]:
        """(expected improvement per cost, expected improvement, cost, cost unit) of promoting a trial."""
        ei = expected_improvement(self._recorded[k], self._recorded[k + 1], self._recorded[k][trial_id])
        progress = self._paused[trial_id][1]
        # Promoted to the last rung, a trial runs to its end: max_t is then the horizon.
        horizon = self._milestones[k + 1] if k + 2 < len(self._milestones) else max(self._max_t, self._milestones[-1])
        remaining = max(horizon - progress, 0.0)
        measured = joules is not None and all((joules.get(t) or 0.0) > 0.0 for _, t in candidates)
        if measured and self._unit != "energy_j":
            cost, per = joules[trial_id] / progress * remaining, "J"
        else:
            cost, per = remaining, {"epoch": "epochs", "time_s": "s", "energy_j": "J"}[self._unit]
        return (ei / cost if cost > 0 else math.inf), ei, cost, per


def expected_improvement(here: Mapping[int, float], above: Mapping[int, float], v: float) -> float:
    """E[max(0, V - best)] for a trial with value v at a rung, V its value at the next rung (larger is better).

    V ~ Normal(v + mean gain, sd gain), the gains being next-rung minus this-rung values of the trials recorded
    at both; with fewer than two such trials, a gain of 0 with the sd of this rung's values. best is the best
    value at the next rung, or at this rung while the next is empty.
    """
    gains = [above[t] - here[t] for t in above if t in here]
    if len(gains) >= 2:
        mu = sum(gains) / len(gains)
        sd = math.sqrt(sum((g - mu) ** 2 for g in gains) / (len(gains) - 1))
    else:
        values = list(here.values())
        mean = sum(values) / len(values)
        mu, sd = 0.0, math.sqrt(sum((x - mean) ** 2 for x in values) / max(len(values) - 1, 1))
    best = max(above.values()) if above else max(here.values())
    mean = v + mu
    sd = max(sd, 1e-12 * max(1.0, abs(mean)))
    z = (mean - best) / sd
    ei = sd * (z * 0.5 * (1.0 + math.erf(z / math.sqrt(2.0))) + math.exp(-0.5 * z * z) / math.sqrt(2.0 * math.pi))
    return max(ei, 0.0)  # the two terms cancel for very negative z, and rounding may leave a tiny negative
