"""The scheduler actor's body: the scheduler core writing the run directory's event log.

Everything it decides is in raybench.core.scheduler, which runs without Ray; this adds the one thing a
live run has and a replay has not: RUN_DIR/events.msgpack, opened (and, on resume, folded) here.
"""

from __future__ import annotations

import os

from raybench.config import ExperimentConfig
from raybench.core.scheduler import SchedulerCore, trial_seed
from raybench.events import EVENTS_FILE, EventLog

__all__ = ["LiveScheduler", "trial_seed"]


class LiveScheduler(SchedulerCore):
    def __init__(self, config: ExperimentConfig, run_dir: str, *, resume: bool = False) -> None:
        log = EventLog.open(os.path.join(run_dir, EVENTS_FILE), resume=resume)
        super().__init__(config, log, prior=log.recovered.events if resume else ())
