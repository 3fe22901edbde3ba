"""A stand-in for the one experiment fold the runtime is getting (raybench.core): the trial facts the
dashboard shows, under the same names (`apply`, `trials`, `best()`, `best_value()`, TrialState's fields),
so that switching to it is an import. Pure Python; only what a display needs.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Optional


class TrialStatus(enum.Enum):
    PENDING = "pending"
    RUNNING = "running"
    COMPLETED = "completed"
    PRUNED = "pruned"
    FAILED = "failed"

    @property
    def ended(self) -> bool:
        return self in (TrialStatus.COMPLETED, TrialStatus.PRUNED, TrialStatus.FAILED)


@dataclass(frozen=True)
class Span:
    trial_id: int
    attempt: int
    t0: float
    t1: float
    outcome: str
    node_id: Optional[str] = None


@dataclass
class TrialState:
    trial_id: int
    config: dict[str, Any] = field(default_factory=dict)
    status: TrialStatus = TrialStatus.PENDING
    attempts: int = 0
    node_id: Optional[str] = None
    steps: int = 0
    max_steps: int = 0
    last_finite: Optional[float] = None
    best_value: Optional[float] = None
    started_t: Optional[float] = None
    attempt_t: Optional[float] = None
    ended_t: Optional[float] = None
    duration_s: Optional[float] = None
    stop_reason: Optional[Mapping[str, Any]] = None
    error: Optional[str] = None
    cause: Optional[str] = None
    test_metrics: dict[str, Any] = field(default_factory=dict)
    spans: list[Span] = field(default_factory=list)

    @property
    def final_value(self) -> Optional[float]:
        return self.last_finite


def _num(v: Any) -> Optional[float]:
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) else None


class ExperimentState:
    """Trials by id, and the best one: completed trials by final value, else pruned ones by best value."""

    def __init__(self, metric: str = "val_accuracy", mode: str = "max") -> None:
        if mode not in ("max", "min"):
            raise ValueError(f"mode must be 'max' or 'min', got {mode!r}")
        self.metric = metric
        self.sign = 1.0 if mode == "max" else -1.0
        self.trials: dict[int, TrialState] = {}
        self._best: dict[TrialStatus, int] = {}

    @classmethod
    def for_config(cls, config: Mapping[str, Any]) -> ExperimentState:
        metric = config.get("metric") or {}
        return cls(str(metric.get("name", "val_accuracy")), str(metric.get("mode", "max")))

    def _better(self, a: Optional[float], b: Optional[float]) -> bool:
        return a is not None and (b is None or a * self.sign > b * self.sign)

    def best(self) -> Optional[TrialState]:
        tid = self._best.get(TrialStatus.COMPLETED, self._best.get(TrialStatus.PRUNED))
        return None if tid is None else self.trials[tid]

    def best_value(self) -> Optional[float]:
        t = self.best()
        if t is None:
            return None
        return t.final_value if t.status is TrialStatus.COMPLETED else t.best_value

    def apply(self, e: Mapping[str, Any]) -> None:
        tid, kind, t = e.get("trial_id"), e.get("event"), _num(e.get("t"))
        if not isinstance(tid, int) or isinstance(tid, bool):
            return
        tr = self.trials.get(tid)
        if tr is None:
            tr = self.trials[tid] = TrialState(tid)
        if kind == "trial_created":
            tr.config = dict(e.get("config") or {})
        elif kind == "trial_started":
            self._close(tr, t, "failed")
            tr.attempts = e["attempt"] if isinstance(e.get("attempt"), int) else tr.attempts + 1
            tr.status, tr.node_id, tr.attempt_t = TrialStatus.RUNNING, e.get("node_id"), t
            tr.steps = int(e.get("from_step") or 0)
            tr.started_t = t if tr.started_t is None else tr.started_t
        elif kind == "report":
            if isinstance(e.get("step"), int):
                tr.steps = e["step"]
                tr.max_steps = max(tr.max_steps, tr.steps)
            value = _num((e.get("metrics") or {}).get(self.metric))
            if value is not None:
                tr.last_finite = value
                if self._better(value, tr.best_value):
                    tr.best_value = value
        elif kind == "decision" and e.get("action") == "stop":
            tr.stop_reason = e.get("reason") if isinstance(e.get("reason"), Mapping) else {}
        elif kind == "trial_completed":
            tr.status = TrialStatus.PRUNED if e.get("status") == "pruned" else TrialStatus.COMPLETED
            tr.ended_t, tr.error, tr.cause = t, None, None
            tr.last_finite = _num(e.get("final_metric")) if _num(e.get("final_metric")) is not None else tr.last_finite
            if self._better(_num(e.get("best_metric")), tr.best_value):
                tr.best_value = _num(e.get("best_metric"))
            if isinstance(e.get("steps"), int):
                tr.steps = e["steps"]
                tr.max_steps = max(tr.max_steps, tr.steps)
            tr.duration_s = _num(e.get("duration_s"))
            self._close(tr, t, tr.status.value)
            self._rank(tr)
        elif kind == "trial_failed":
            tr.error, tr.cause = e.get("error"), e.get("cause")
            self._close(tr, t, "failed")
            if e.get("final", True):
                tr.status, tr.ended_t = TrialStatus.FAILED, t
                tr.duration_s = None if tr.started_t is None or t is None else t - tr.started_t
            else:
                tr.status = TrialStatus.PENDING
        elif kind == "test_result":
            tr.test_metrics.update(e.get("metrics") or {})

    def _close(self, tr: TrialState, t: Optional[float], outcome: str) -> None:
        if tr.attempt_t is not None:
            end = t if t is not None else tr.attempt_t
            tr.spans.append(Span(tr.trial_id, tr.attempts, tr.attempt_t, end, outcome, tr.node_id))
            tr.attempt_t = None

    def _rank(self, tr: TrialState) -> None:
        value = tr.final_value if tr.status is TrialStatus.COMPLETED else tr.best_value
        cur_id = self._best.get(tr.status)
        cur = None
        if cur_id is not None:
            c = self.trials[cur_id]
            cur = c.final_value if c.status is TrialStatus.COMPLETED else c.best_value
        if self._better(value, cur):
            self._best[tr.status] = tr.trial_id
