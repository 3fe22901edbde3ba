"""Learning-curve pruning: stop a trial whose extrapolated final value is unlikely to beat the best so far.

After each report the trial's curve so far is fitted by a small ensemble of parametric families (pow3, exp3,
log_power, janoschek; raybench/search/pruners/_curves.py), each with a Laplace approximation of its
prediction at max_t, averaged by BIC weights. The trial stops when

    P(final value better than best - margin) < min_probability

where best is the best value any other trial has reported so far (any progress, any state). The reason carries
the predicted final value, its 90 % interval, the probability and the families fitted.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from raybench.search.decision import Action, Decision, Reason
from raybench.search.pruners._base import Pruner, check_number
from raybench.search.pruners._curves import FAMILIES, Mixture, bic_weights, fit_curve, n_params

DEFAULT_FAMILIES = ("pow3", "exp3", "log_power", "janoschek")


class LearningCurvePruner(Pruner):
    """Stops a trial when its predicted final value is unlikely to beat the best value of the other trials.

    max_t: the progress at which the final value is predicted (task.epochs with unit "epoch").
    min_probability: stop when P(final better than best - margin) falls below it, 0 < min_probability < 1.
    margin: >= 0, in the metric's units; a trial within margin of the best is still worth finishing.
    families: the curve families to fit, any of pow3, exp3, log_power, janoschek.
    """

    name = "learning_curve"

    def __init__(self, *, mode: str = "max", unit: str = "epoch", max_t: float = 100.0,
                 min_probability: float = 0.05, margin: float = 0.0,
                 families: Sequence[str] = DEFAULT_FAMILIES) -> None:
        super().__init__(mode=mode, unit=unit)
        max_t = check_number("max_t", max_t)
        if not 0.0 < max_t < math.inf:
            raise ValueError(f"max_t must be > 0 and finite, got {max_t!r}")
        min_probability = check_number("min_probability", min_probability)
        if not 0.0 < min_probability < 1.0:
            raise ValueError(f"min_probability must be > 0 and < 1, got {min_probability!r}")
        margin = check_number("margin", margin)
        if not 0.0 <= margin < math.inf:
            raise ValueError(f"margin must be >= 0 and finite, got {margin!r}")
        if isinstance(families, str) or not families:
            raise ValueError(f"families must be a non-empty list of curve families, got {families!r}")
        unknown = [f for f in families if f not in FAMILIES]
        if unknown:
            raise ValueError(f"unknown curve family {unknown[0]!r}; valid: {', '.join(FAMILIES)}")
        self._max_t = max_t
        self._min_probability = min_probability
        self._margin = margin
        self._families = tuple(dict.fromkeys(families))
        self._min_points = min(n_params(f) for f in self._families) + 2
        self._curves: dict[int, tuple[list[float], list[float]]] = {}
        # The best value so far, its trial, and the best of every other trial: the best "other" in O(1).
        self._best: tuple[float, int] | None = None
        self._second: float | None = None

    @property
    def min_points(self) -> int:
        """Reports a trial needs before it can be judged: the smallest family's parameters + 2."""
        return self._min_points

    def _forget(self, trial_id: int) -> None:
        self._curves.pop(trial_id, None)

    def _best_other(self, trial_id: int) -> float | None:
        if self._best is None:
            return None
        return self._best[0] if self._best[1] != trial_id else self._second

    def _record_best(self, trial_id: int, v: float) -> None:
        # A trial's own best only rises, so the top two values of distinct trials are enough.
        if self._best is None:
            self._best = (v, trial_id)
        elif self._best[1] == trial_id:
            self._best = (max(v, self._best[0]), trial_id)
        elif v > self._best[0]:
            self._second = self._best[0]
            self._best = (v, trial_id)
        elif self._second is None or v > self._second:
            self._second = v

    def _decide(self, trial_id: int, progress: float, value: float) -> Decision:
        if not math.isfinite(value):
            return self._stop_not_finite(progress, value)
        v = self._sign * value
        steps, values = self._curves.setdefault(trial_id, ([], []))
        steps.append(progress)
        values.append(v)
        best = self._best_other(trial_id)
        self._record_best(trial_id, v)
        at = self._where(progress)
        if progress >= self._max_t:
            return self._continue(progress, value, f"continued at {at}: at max_t ({self._where(self._max_t)})")
        if len(values) < self._min_points:
            return self._continue(progress, value, f"continued at {at}: {len(values)} reports, "
                                                   f"{self._min_points} needed for a fit")
        if best is None:
            return self._continue(progress, value, f"continued at {at}: no other trial to compare with")
        return self._judge(progress, value, steps, values, best - self._margin)

    def _judge(self, progress: float, value: float, steps: list[float], values: list[float],
               target: float) -> Decision:
        fits = fit_curve(steps, values, self._max_t, self._families)
        if not fits:  # every point at progress <= 0, or no finite fit
            return self._continue(progress, value, f"continued at {self._where(progress)}: no curve family could "
                                                   f"be fitted")
        weights = bic_weights(fits)
        order = sorted(range(len(fits)), key=lambda i: (-weights[i], fits[i].family))
        mixture = Mixture(fits, weights)
        p = mixture.prob_above(target)
        mean = mixture.mean
        low, high = mixture.quantiles((0.05, 0.95))
        stop = p < self._min_probability
        sign = self._sign
        # Back to the metric's sign: in mode min the interval's ends swap.
        predicted, cutoff = sign * mean, sign * target
        lo, hi = sorted((sign * low, sign * high))
        names = tuple(fits[i].family for i in order)
        better = ">" if sign > 0 else "<"
        rel = "<" if stop else ">="
        detail = (f"{'stopped' if stop else 'continued'} at {self._where(progress)}: P(final {better} "
                  f"{cutoff:.6g}) = {p:.3g} {rel} {self._min_probability:g}; predicted {predicted:.6g} "
                  f"[{lo:.6g}, {hi:.6g}] at {self._where(self._max_t)} from {', '.join(names)}")
        reason = Reason(rule=self.name, progress=progress, unit=self._unit, value=value, cutoff=cutoff,
                        detail=detail, probability=p, predicted=predicted, interval_low=lo, interval_high=hi,
                        families=names)
        return Decision(Action.STOP if stop else Action.CONTINUE, reason)
