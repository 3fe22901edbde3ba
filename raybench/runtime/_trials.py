"""Bookkeeping of trials inside the scheduler: states, attempts, retries and checkpoints (no Ray)."""

from __future__ import annotations

import enum
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Optional


class TrialState(enum.Enum):
    PENDING = "pending"      # created, waiting for a worker (new, or queued for a retry)
    RUNNING = "running"
    COMPLETED = "completed"
    PRUNED = "pruned"
    FAILED = "failed"

    @property
    def ended(self) -> bool:
        return self in (TrialState.COMPLETED, TrialState.PRUNED, TrialState.FAILED)


@dataclass
class Trial:
    trial_id: int
    config: dict[str, Any]
    state: TrialState = TrialState.PENDING
    attempts: int = 0
    worker: Optional[int] = None
    node_id: Optional[str] = None
    steps: int = 0
    last_value: Optional[float] = None
    best_value: Optional[float] = None
    started_t: Optional[float] = None
    elapsed_s: float = 0.0
    checkpoint: Optional[dict] = None
    checkpoint_step: int = 0
    last_progress: Optional[float] = None
    peak_rss_mb: float = 0.0
    stop_requested: bool = False
    values: list = field(default_factory=list)


class TrialTable:
    """Every trial of an experiment by id, plus the queue of trials waiting to be (re)run."""

    def __init__(self) -> None:
        self.trials: dict[int, Trial] = {}
        self.queue: deque[int] = deque()
        self.by_worker: dict[int, int] = {}
        self.ids_from = 0  # no new trial gets an id below this (ids a resumed log used, even for lost trials)

    def __len__(self) -> int:
        return len(self.trials)

    def add(self, trial_id: int, config: dict[str, Any]) -> Trial:
        t = Trial(trial_id, config)
        self.trials[trial_id] = t
        return t

    def next_id(self) -> int:
        return max(max(self.trials, default=-1) + 1, self.ids_from)

    def count(self, state: TrialState) -> int:
        return sum(1 for t in self.trials.values() if t.state is state)

    def running(self) -> list[Trial]:
        return [t for t in self.trials.values() if t.state is TrialState.RUNNING]

    def assign(self, trial: Trial, worker: int, node_id: Optional[str]) -> None:
        trial.state = TrialState.RUNNING
        trial.attempts += 1
        trial.worker = worker
        trial.node_id = node_id
        self.by_worker[worker] = trial.trial_id

    def release(self, trial: Trial, state: TrialState) -> None:
        trial.state = state
        if trial.worker is not None and self.by_worker.get(trial.worker) == trial.trial_id:
            del self.by_worker[trial.worker]
        if state.ended:
            trial.checkpoint = None  # only a running or queued trial needs its checkpoint

    def on_worker(self, worker: int) -> Optional[Trial]:
        tid = self.by_worker.get(worker)
        return self.trials.get(tid) if tid is not None else None
