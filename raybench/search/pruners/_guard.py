"""Guardrails around any pruner: protected trials, a floor on the value, and patience before a stop.

protected_trials K: K anchors are spread over the search space by a seeded maximin design (greedy farthest
    points among seeded candidates, or the grid itself for a small finite space). Each anchor protects the first
    registered trial whose config is nearer to it than to any other anchor, so the protected trials cover the
    space; they are never stopped (nor paused), and run to their end: the control group of the audit.
min_value X: after warm-up, a report worse than X (in the metric's direction) would stop the trial, as
    Optuna's ThresholdPruner does.
patience P: a trial stops only at its P-th consecutive report that would stop it (the wrapped rule's stop or
    min_value); a non-finite value stops at once.

The guard learns each trial's config through register(trial_id, config), which the scheduler calls for every
trial it creates, before the trial's first report.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import replace
from typing import Any, Optional

import numpy as np

from raybench.search import space as sp
from raybench.search.decision import Action, Decision, Reason
from raybench.search.pruners._base import Pruner, check_int, check_number, check_trial_id


class GuardedPruner(Pruner):
    """A pruner with guardrails; see the module's docstring. Other attributes come from the wrapped pruner.

    inner: the pruner guarded.
    protected_trials: K >= 0 trials never stopped (needs `space`).
    min_value: stop a trial whose value is worse than this after warm-up; None for no floor.
    warmup: min_value applies from this progress on.
    patience: P >= 1; stop at the P-th consecutive report that would stop the trial.
    space: the search space (name -> raybench.search.space parameter), for the protected trials' spread.
    seed: the seed of the maximin design.
    """

    name = "guard"

    def __init__(self, inner: Pruner, *, protected_trials: int = 0, min_value: Optional[float] = None,
                 warmup: float = 0.0, patience: int = 1, space: Optional[Mapping[str, sp.Param]] = None,
                 seed: int = 0) -> None:
        if not isinstance(inner, Pruner) or isinstance(inner, GuardedPruner):
            raise ValueError(f"the guard wraps one unguarded pruner, got {inner!r}")
        super().__init__(mode=inner.mode, unit=inner.unit)
        self._inner = inner
        self._k = check_int("protected_trials", protected_trials, low=0)
        if min_value is not None:
            min_value = check_number("min_value", min_value)
            if not math.isfinite(min_value):
                raise ValueError(f"min_value must be finite, got {min_value!r}")
        self._min_value = min_value
        warmup = check_number("warmup", warmup)
        if not 0.0 <= warmup < math.inf:
            raise ValueError(f"warmup must be >= 0 and finite, got {warmup!r}")
        self._warmup = warmup
        self._patience = check_int("patience", patience, low=1)
        if self._k and not space:
            raise ValueError("guard protected_trials needs the search space; pass space= to make_pruner")
        self._space = dict(space or {})
        self._anchors = maximin_anchors(self._space, self._k, check_int("seed", seed, low=0)) if self._k else None
        self._claimed: dict[int, int] = {}  # anchor -> trial
        self._protected: set[int] = set()
        self._streak: dict[int, int] = {}

    @property
    def inner(self) -> Pruner:
        return self._inner

    @property
    def protected(self) -> frozenset[int]:
        return frozenset(self._protected)

    def __getattr__(self, attr: str) -> Any:
        # Only reached for attributes the guard lacks: the wrapped rule's own (rungs, next_promotion, ...).
        if attr.startswith("_"):
            raise AttributeError(attr)
        return getattr(self._inner, attr)

    def register(self, trial_id: int, config: Mapping[str, Any]) -> None:
        trial_id = check_trial_id(trial_id)
        self._inner.register(trial_id, config)
        if self._anchors is None or len(self._claimed) == len(self._anchors) or trial_id in self._protected:
            return
        x = encode(self._space, config)
        anchor = int(np.argmin(((self._anchors - x) ** 2).sum(axis=1)))
        if anchor not in self._claimed:
            self._claimed[anchor] = trial_id
            self._protected.add(trial_id)

    def complete(self, trial_id: int) -> None:
        self._inner.complete(trial_id)  # first: it may refuse (a paused trial), and then nothing has changed
        super().complete(trial_id)

    def _forget(self, trial_id: int) -> None:
        self._streak.pop(trial_id, None)

    def _decide(self, trial_id: int, progress: float, value: float) -> Decision:
        d = self._inner.report(trial_id, progress, value)
        at = self._where(progress)
        if trial_id in self._protected:
            if d.action is Action.CONTINUE:
                return Decision(Action.CONTINUE, replace(d.reason, guard="protected",
                                                         detail=f"{d.reason.detail} (protected trial)"))
            if d.pause:
                self._inner.promote(trial_id)  # type: ignore[attr-defined]
            verb = "stopped" if d.stop else "paused"
            detail = f"continued at {at}: protected trial; {d.reason.rule} would have {verb} it: {d.reason.detail}"
            return Decision(Action.CONTINUE, replace(d.reason, guard="protected", overridden=d.action.label,
                                                     detail=detail))
        if d.pause:
            self._streak.pop(trial_id, None)
            return d
        would = d if d.stop else self._below_floor(progress, value)
        if would is None:
            self._streak.pop(trial_id, None)
            return d
        streak = self._streak[trial_id] = self._streak.get(trial_id, 0) + 1
        if self._patience == 1 or not math.isfinite(value):
            return would
        if streak < self._patience:
            detail = f"continued at {at}: would stop ({streak} of {self._patience} in a row): {would.reason.detail}"
            return Decision(Action.CONTINUE, replace(would.reason, guard="patience", overridden="stop", detail=detail))
        return Decision(Action.STOP, replace(would.reason, guard=would.reason.guard or "patience",
                                             detail=f"{would.reason.detail} ({streak} in a row)"))

    def _below_floor(self, progress: float, value: float) -> Optional[Decision]:
        x = self._min_value
        if x is None or progress < self._warmup:
            return None
        if math.isfinite(value) and not self._sign * value < self._sign * x:
            return None
        sign = "<" if self._sign > 0 else ">"
        detail = f"stopped at {self._where(progress)}: {value:.6g} {sign} min_value {x:.6g}"
        return Decision(Action.STOP, Reason(rule="min_value", progress=progress, unit=self._unit, value=value,
                                            cutoff=x, detail=detail, guard="min_value"))


def encode(space: Mapping[str, sp.Param], config: Mapping[str, Any]) -> np.ndarray:
    """A config as a point of the unit cube: numbers scaled (log where the parameter is), choices one-hot / sqrt 2,
    so that two different choices are as far apart as the two ends of a numeric range."""
    out: list[float] = []
    for name, p in space.items():
        if name not in config:
            raise ValueError(f"config of a registered trial lacks {name!r}; it has {sorted(config)}")
        v = config[name]
        if isinstance(p, sp.Choice):
            out += [(1.0 if v == c and type(v) is type(c) else 0.0) / math.sqrt(2.0) for c in p.values]
        elif isinstance(p, sp.LogUniform) or (isinstance(p, sp.IntRange) and p.log):
            lo, hi = math.log(p.low), math.log(p.high)
            out.append((math.log(v) - lo) / (hi - lo) if hi > lo else 0.0)
        else:
            out.append((v - p.low) / (p.high - p.low) if p.high > p.low else 0.0)
    return np.asarray(out, dtype=float)


def maximin_anchors(space: Mapping[str, sp.Param], k: int, seed: int) -> np.ndarray:
    """k points spread over the space: greedy farthest-point selection among seeded candidates (the grid itself
    for a finite space of at most 4096 points, else 64 * k draws, at least 512), from the most central one."""
    finite = all(sp.is_finite(p) for p in space.values())
    if finite and math.prod(len(sp.grid_values(p)) for p in space.values()) <= 4096:
        configs = sp.grid_points(space)
        order = np.random.default_rng(seed).permutation(len(configs))
        configs = [configs[i] for i in order]
    else:
        rng = np.random.default_rng(seed)
        configs = [sp.sample_config(space, rng) for _ in range(max(64 * k, 512))]
    points = np.stack([encode(space, c) for c in configs])
    first = int(np.argmin(((points - points.mean(axis=0)) ** 2).sum(axis=1)))
    chosen = [first]
    dist = ((points - points[first]) ** 2).sum(axis=1)
    while len(chosen) < min(k, len(points)):
        i = int(np.argmax(dist))
        if dist[i] == 0.0:
            break  # fewer distinct points than k
        chosen.append(i)
        dist = np.minimum(dist, ((points - points[i]) ** 2).sum(axis=1))
    return points[chosen]
