"""The state of an experiment, folded from its events: one fold for the live scheduler, resume, derive,
replay and the plots.

`ExperimentState.apply(event)` is the only place where an event changes a trial. It returns what the
event means for the sampler and the pruner (an `Effect`), so that the live scheduler and a resume feed
them through the same rule. Pure Python: no Ray, no clock, no I/O.
"""

from __future__ import annotations

import enum
import math
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Optional, Union

from raybench.core.mode import Mode
from raybench.events import _types as ev


class TrialStatus(enum.Enum):
    PENDING = "pending"      # created, waiting for a worker (new, or queued for a retry)
    RUNNING = "running"
    PAUSED = "paused"        # at a rung of promotion ASHA, keeping its checkpoint, waiting to be promoted
    COMPLETED = "completed"
    PRUNED = "pruned"
    FAILED = "failed"

    @property
    def ended(self) -> bool:
        return self in (TrialStatus.COMPLETED, TrialStatus.PRUNED, TrialStatus.FAILED)


@dataclass(frozen=True, slots=True)
class Span:
    """One attempt of a trial, from its trial_started to its end (Unix s); outcome is how it ended."""

    trial_id: int
    attempt: int
    t0: float
    t1: float
    outcome: str
    node_id: Optional[str] = None


@dataclass(slots=True)  # one per trial, kept for the whole run: slots halve its memory
class TrialState:
    """One trial as the log tells it. `known` is False when its trial_created record was lost to damage."""

    trial_id: int
    config: dict[str, Any] = field(default_factory=dict)
    known: bool = False
    status: TrialStatus = TrialStatus.PENDING
    attempts: int = 0
    failures: int = 0                    # failed attempts so far (a promotion is a new attempt, not a failure)
    worker: Optional[int] = None
    node_id: Optional[str] = None
    steps: int = 0                       # the last reported step of the current attempt
    max_steps: int = 0                   # the furthest step any attempt reported
    last_value: Optional[float] = None   # the last reported value, as reported (NaN included)
    last_finite: Optional[float] = None
    best_value: Optional[float] = None   # the best finite reported value
    last_progress: Optional[float] = None  # the last progress the pruner judged
    started_t: Optional[float] = None    # the first start
    attempt_t: Optional[float] = None    # the start of the current attempt
    ended_t: Optional[float] = None
    duration_s: Optional[float] = None
    peak_rss_mb: float = 0.0
    stop_requested: bool = False
    stop_reason: Optional[Mapping[str, Any]] = None
    error: Optional[str] = None
    cause: Optional[str] = None
    test_metrics: dict[str, Any] = field(default_factory=dict)
    spans: list[Span] = field(default_factory=list)
    last_metrics: Mapping[str, Any] = field(default_factory=dict)  # every metric of its last report
    objectives: Optional[dict[str, float]] = None  # final objective values of a multi-objective run

    @property
    def final_value(self) -> Optional[float]:
        """The value the trial ended with (its last report), or its last finite one where that was not."""
        if self.last_value is not None and math.isfinite(self.last_value):
            return self.last_value
        return self.last_finite


# ---- effects: what an event asks of the sampler and the pruner ---------------------------------

@dataclass(frozen=True)
class Judge:
    """A report with new progress: the pruner judges it."""

    trial_id: int
    progress: float
    value: float


@dataclass(frozen=True)
class Created:
    """A trial's config became known: the sampler learns it (a no-op for one it suggested itself)."""

    trial_id: int
    config: Mapping[str, Any]


@dataclass(frozen=True)
class Ended:
    """A trial ended: the sampler observes its value (None: failed); a completed one leaves the pruner."""

    trial_id: int
    status: TrialStatus
    value: Optional[float]


@dataclass(frozen=True)
class Observed:
    """A multi-objective trial's final values became known (its energy is final): the sampler observes them."""

    trial_id: int
    values: Mapping[str, float]


@dataclass(frozen=True)
class Promoted:
    """A paused trial was promoted: on a resume, the pruner is told so again."""

    trial_id: int


Effect = Union[Judge, Created, Ended, Observed, Promoted, None]


def _num(v: Any) -> Optional[float]:
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else None


class ExperimentState:
    """Every trial by id, the retry queue, the best trial and what stops new work."""

    def __init__(self, metric: str = "val_accuracy", mode: Union[str, Mode] = "max") -> None:
        self.metric = metric
        self.mode = Mode.of(mode)
        self.trials: dict[int, TrialState] = {}
        self.queue: deque[int] = deque()
        self.by_worker: dict[int, int] = {}
        self.ids_from = 0                    # no new trial gets an id below this
        self.exhausted = False               # the trial budget is spent (or the sampler has nothing left)
        self.stopping: Optional[str] = None  # why no new trial starts: a budget kind, or "interrupt"
        self.start_t: Optional[float] = None
        self.last_t: Optional[float] = None
        self.segments = 0                    # experiment_start events: 1 + the number of resumes
        self.status: Optional[str] = None    # experiment_end's status
        self.decisions: dict[str, int] = {}
        self._best_completed: Optional[int] = None
        self._best_pruned: Optional[int] = None

    @classmethod
    def for_config(cls, config: Mapping[str, Any]) -> ExperimentState:
        metric = config.get("metric") or {}
        return cls(str(metric.get("name", "val_accuracy")), str(metric.get("mode", "max")))

    def __len__(self) -> int:
        return len(self.trials)

    # ---- queries -----------------------------------------------------------------------------

    def next_id(self) -> int:
        # Every trial enters through apply(), which raises ids_from past its id: no scan of the trials.
        return self.ids_from

    def count(self, status: TrialStatus) -> int:
        return sum(1 for t in self.trials.values() if t.status is status)

    def running(self) -> list[TrialState]:
        return [t for t in self.trials.values() if t.status is TrialStatus.RUNNING]

    def on_worker(self, worker: int) -> Optional[TrialState]:
        tid = self.by_worker.get(worker)
        return self.trials.get(tid) if tid is not None else None

    def best(self) -> Optional[TrialState]:
        """The best trial: completed trials by their final value (the model that is tested); only when none
        completed, pruned trials by their best value. A tie goes to the first to end."""
        tid = self._best_completed if self._best_completed is not None else self._best_pruned
        return None if tid is None else self.trials[tid]

    def best_value(self) -> Optional[float]:
        t = self.best()
        if t is None:
            return None
        return t.last_value if t.status is TrialStatus.COMPLETED else t.best_value

    # ---- the fold ----------------------------------------------------------------------------

    def apply(self, e: Mapping[str, Any]) -> Effect:
        """Fold one event into the state; return what it asks of the sampler or the pruner."""
        kind = e.get("event")
        t = _num(e.get("t"))
        if t is not None:
            self.last_t = t if self.last_t is None else max(self.last_t, t)
        if kind == ev.EXPERIMENT_START:
            self.segments += 1
            if self.start_t is None:
                self.start_t = t
            self.stopping = None  # a resumed run starts afresh; the trial budget stays spent
            return None
        if kind == ev.EXPERIMENT_END:
            self.status = e.get("status")
            return None
        if kind == ev.BUDGET_EXHAUSTED:
            if e.get("kind") == "trials":
                self.exhausted = True
            else:
                self._stop_all(str(e.get("kind")))
            return None
        if kind == ev.WARNING and e.get("code") == "interrupted":
            self._stop_all("interrupt")
            return None
        tid = e.get("trial_id")
        if kind not in ev.EVENT_TYPES or not isinstance(tid, int) or isinstance(tid, bool):
            return None
        self.ids_from = max(self.ids_from, tid + 1)
        trial = self.trials.get(tid)
        if trial is None:
            trial = self.trials[tid] = TrialState(tid)
        handler = _HANDLERS.get(kind)
        return handler(self, trial, e, t) if handler is not None else None

    def _stop_all(self, why: str) -> None:
        if self.stopping is None:
            self.stopping = why
        for trial in self.running():
            trial.stop_requested = True

    def _release(self, trial: TrialState) -> None:
        if trial.worker is not None and self.by_worker.get(trial.worker) == trial.trial_id:
            del self.by_worker[trial.worker]

    def _close_span(self, trial: TrialState, t: Optional[float], outcome: str) -> None:
        if trial.attempt_t is not None:
            end = t if t is not None else trial.attempt_t
            trial.spans.append(Span(trial.trial_id, trial.attempts, trial.attempt_t, end, outcome, trial.node_id))
            trial.attempt_t = None

    def _created(self, trial: TrialState, e: Mapping[str, Any], t: Optional[float]) -> Effect:
        trial.config = dict(e.get("config") or {})
        trial.known = True
        return Created(trial.trial_id, trial.config)

    def _started(self, trial: TrialState, e: Mapping[str, Any], t: Optional[float]) -> Effect:
        self._close_span(trial, t, "failed")  # a start without an end before it: that attempt was lost
        attempt = e.get("attempt")
        trial.attempts = attempt if isinstance(attempt, int) else trial.attempts + 1
        trial.status = TrialStatus.RUNNING
        trial.stop_requested = False
        trial.worker = e.get("worker") if isinstance(e.get("worker"), int) else None
        trial.node_id = e.get("node_id")
        trial.steps = int(e.get("from_step") or 0)
        trial.attempt_t = t
        if trial.started_t is None:
            trial.started_t = t
        if trial.worker is not None:
            self.by_worker[trial.worker] = trial.trial_id
        if trial.trial_id in self.queue:
            self.queue.remove(trial.trial_id)
        return None

    def _report(self, trial: TrialState, e: Mapping[str, Any], t: Optional[float]) -> Effect:
        step = e.get("step")
        if isinstance(step, int):
            trial.steps = step
            trial.max_steps = max(trial.max_steps, step)
        metrics = e.get("metrics") or {}
        trial.last_metrics = metrics
        value = _num(metrics.get(self.metric))
        if value is None:
            return None
        trial.last_value = value
        if math.isfinite(value):
            trial.last_finite = value
            if self.mode.better(value, trial.best_value):
                trial.best_value = value
        progress = _num(e.get("progress"))
        if progress is None:
            progress = float(step) if isinstance(step, int) else None
        if progress is None or (trial.last_progress is not None and progress <= trial.last_progress):
            return None
        trial.last_progress = progress
        return Judge(trial.trial_id, progress, value) if trial.known else None

    def _decision(self, trial: TrialState, e: Mapping[str, Any], t: Optional[float]) -> Effect:
        action = str(e.get("action"))
        self.decisions[action] = self.decisions.get(action, 0) + 1
        if action == "stop":
            trial.stop_requested = True
            trial.stop_reason = e.get("reason") if isinstance(e.get("reason"), Mapping) else {}
        return None

    def _completed(self, trial: TrialState, e: Mapping[str, Any], t: Optional[float]) -> Effect:
        status = TrialStatus.PRUNED if e.get("status") == "pruned" else TrialStatus.COMPLETED
        trial.status = status
        trial.ended_t = t
        trial.error = trial.cause = None
        final = _num(e.get("final_metric"))
        if final is not None and math.isfinite(final):
            trial.last_finite = final
            if trial.last_value is None:  # its reports were lost to damage
                trial.last_value = final
        best = _num(e.get("best_metric"))
        if best is not None and math.isfinite(best) and self.mode.better(best, trial.best_value):
            trial.best_value = best
        if isinstance(e.get("steps"), int):
            trial.steps = e["steps"]
            trial.max_steps = max(trial.max_steps, e["steps"])
        duration = _num(e.get("duration_s"))
        trial.duration_s = duration if duration is not None else _elapsed(trial.started_t, t)
        if _num(e.get("peak_rss_mb")):
            trial.peak_rss_mb = max(trial.peak_rss_mb, float(e["peak_rss_mb"]))
        self._close_span(trial, t, status.value)
        self._release(trial)
        self._rank(trial)
        return Ended(trial.trial_id, status, trial.last_value) if trial.known else None

    def _paused(self, trial: TrialState, e: Mapping[str, Any], t: Optional[float]) -> Effect:
        trial.status = TrialStatus.PAUSED
        self._close_span(trial, t, "paused")
        self._release(trial)
        return None

    def _promoted(self, trial: TrialState, e: Mapping[str, Any], t: Optional[float]) -> Effect:
        trial.status = TrialStatus.PENDING
        if trial.trial_id not in self.queue:
            self.queue.appendleft(trial.trial_id)
        return Promoted(trial.trial_id) if trial.known else None

    def _failed(self, trial: TrialState, e: Mapping[str, Any], t: Optional[float]) -> Effect:
        trial.failures += 1
        trial.error, trial.cause = e.get("error"), e.get("cause")
        if _num(e.get("peak_rss_mb")):
            trial.peak_rss_mb = max(trial.peak_rss_mb, float(e["peak_rss_mb"]))
        self._close_span(trial, t, "failed")
        self._release(trial)
        if e.get("final", True):
            trial.status = TrialStatus.FAILED
            trial.ended_t = t
            trial.duration_s = _elapsed(trial.started_t, t)
            return Ended(trial.trial_id, TrialStatus.FAILED, None) if trial.known else None
        # Queued for a retry, ahead of new trials.
        trial.status = TrialStatus.PENDING
        if trial.trial_id not in self.queue:
            self.queue.appendleft(trial.trial_id)
        return None

    def _objectives(self, trial: TrialState, e: Mapping[str, Any], t: Optional[float]) -> Effect:
        trial.objectives = dict(e.get("values") or {})
        return Observed(trial.trial_id, trial.objectives) if trial.known else None

    def _test(self, trial: TrialState, e: Mapping[str, Any], t: Optional[float]) -> Effect:
        trial.test_metrics.update(e.get("metrics") or {})
        return None

    def _rank(self, trial: TrialState) -> None:
        if trial.status is TrialStatus.COMPLETED:
            # Ranked by the value it ended with: a trial whose last report is not finite is never the best.
            cur = self.trials[self._best_completed] if self._best_completed is not None else None
            if trial.last_value is not None and self.mode.better(trial.last_value,
                                                                 None if cur is None else cur.last_value):
                self._best_completed = trial.trial_id
        elif trial.status is TrialStatus.PRUNED and trial.best_value is not None:
            cur = self.trials[self._best_pruned] if self._best_pruned is not None else None
            if self.mode.better(trial.best_value, None if cur is None else cur.best_value):
                self._best_pruned = trial.trial_id


def _elapsed(t0: Optional[float], t1: Optional[float]) -> Optional[float]:
    return None if t0 is None or t1 is None else t1 - t0


_HANDLERS = {
    ev.TRIAL_CREATED: ExperimentState._created,
    ev.TRIAL_STARTED: ExperimentState._started,
    ev.REPORT: ExperimentState._report,
    ev.DECISION: ExperimentState._decision,
    ev.TRIAL_COMPLETED: ExperimentState._completed,
    ev.TRIAL_FAILED: ExperimentState._failed,
    ev.TEST_RESULT: ExperimentState._test,
    ev.TRIAL_OBJECTIVES: ExperimentState._objectives,
    ev.TRIAL_PAUSED: ExperimentState._paused,
    ev.TRIAL_PROMOTED: ExperimentState._promoted,
}


def fold(events, state: Optional[ExperimentState] = None) -> ExperimentState:
    """The state after every event, in order; metric and mode come from the first experiment_start."""
    events = list(events)
    if state is None:
        start = next((e for e in events if e.get("event") == ev.EXPERIMENT_START), None)
        state = ExperimentState.for_config((start or {}).get("config") or {})
    for e in events:
        state.apply(e)
    return state
