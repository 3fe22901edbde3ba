"""Percentile pruning: stop a trial whose best value so far is not in the top `percentile` % of its peers.

The statistic, for a report of trial T at progress p:
    best  = T's best value over its reports so far, this one included;
    peers = every other trial with a value at p, whatever its state (running, completed or stopped);
    cutoff = the (100 - percentile)th percentile of the peers' values at p (mode max; for min, mirrored);
    stop when best is worse than cutoff (ties continue).
"A value at p" is the value reported at exactly p for unit "epoch". For "time_s" and "energy_j", where no two
trials report at the same point, it is the peer's value at its largest progress <= p.
"""

from __future__ import annotations

import math
from bisect import bisect_right, insort
from collections.abc import Sequence

from raybench.search.decision import Decision
from raybench.search.pruners._base import Pruner, check_int, check_number, where
from raybench.search.pruners._stats import percentile_of_sorted


class PercentilePruner(Pruner):
    """Keeps trials whose best value so far is in the top `percentile` % of their peers at the same step.

    percentile: the share of trials kept, 0 < percentile < 100 (25: stop below the 75th percentile).
    warmup: no stop while progress < warmup.
    min_peers: no stop while fewer than this many other trials have a value at the step.
    startup_trials: no stop until this many trials have completed.
    """

    name = "percentile"

    def __init__(self, *, mode: str = "max", unit: str = "epoch", percentile: float = 25.0, warmup: float = 1.0,
                 min_peers: int = 3, startup_trials: int = 0) -> None:
        super().__init__(mode=mode, unit=unit)
        percentile = check_number("percentile", percentile)
        if not 0.0 < percentile < 100.0:
            raise ValueError(f"percentile must be > 0 and < 100, got {percentile!r}")
        warmup = check_number("warmup", warmup)
        if not warmup >= 0.0:
            raise ValueError(f"warmup must be >= 0, got {warmup!r}")
        self._percentile = percentile
        # Values are stored in larger-is-better sign, so the cutoff keeping the top p % is the (100 - p)th
        # percentile. Written as Optuna writes it, so the quantile is the same float.
        self._quantile = (100.0 - percentile) / 100.0
        self._warmup = warmup
        self._min_peers = check_int("min_peers", min_peers, low=1)
        self._startup_trials = check_int("startup_trials", startup_trials, low=0)
        self._best: dict[int, float] = {}
        # unit "epoch": step -> the sorted values reported at it. Other units: trial -> (progress, values).
        self._at_step: dict[float, list[float]] = {}
        self._history: dict[int, tuple[list[float], list[float]]] = {}
        self._exact_steps = unit == "epoch"

    @property
    def percentile(self) -> float:
        return self._percentile

    def _decide(self, trial_id: int, progress: float, value: float) -> Decision:
        if not math.isfinite(value):
            return self._stop_not_finite(progress, value)
        v = self._sign * value
        best = self._best.get(trial_id)
        if best is None or v > best:
            best = v
        self._best[trial_id] = best
        # Judge before recording, so the trial is never its own peer.
        decision = self._judge(trial_id, progress, best)
        if self._exact_steps:
            insort(self._at_step.setdefault(progress, []), v)
        else:
            steps, values = self._history.setdefault(trial_id, ([], []))
            steps.append(progress)
            values.append(v)
        return decision

    def _forget(self, trial_id: int) -> None:
        self._best.pop(trial_id, None)

    def _judge(self, trial_id: int, progress: float, best: float) -> Decision:
        at = self._where(progress)
        value = self._sign * best
        if progress < self._warmup:
            return self._continue(progress, value, f"continued at {at}: warm-up until "
                                                   f"{where(self._unit, self._warmup)}")
        if self.n_completed < self._startup_trials:
            return self._continue(progress, value, f"continued at {at}: {self.n_completed} of "
                                                   f"{self._startup_trials} start-up trials completed")
        peers = self._peer_values(trial_id, progress)
        n = len(peers)
        if n < self._min_peers:
            return self._continue(progress, value, f"continued at {at}: {n} peers, {self._min_peers} needed",
                                  n_peers=n)
        cutoff = percentile_of_sorted(peers, self._quantile)
        return self._compared(best < cutoff, progress, value, self._sign * cutoff, n, at, what="best ")

    def _peer_values(self, trial_id: int, progress: float) -> Sequence[float]:
        if self._exact_steps:
            return self._at_step.get(progress, ())
        # No index answers "each trial's latest value at or before p" for any p in O(log n); this scan costs
        # one bisect per peer, fine for the hundreds of trials an experiment runs.
        found = []
        for other, (steps, values) in self._history.items():
            if other != trial_id:
                i = bisect_right(steps, progress)
                if i:
                    found.append(values[i - 1])
        found.sort()
        return found
