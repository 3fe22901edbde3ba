"""Resume: which config a cut-off run was started with. (Its state is folded from the log by the
scheduler core itself, raybench.core.scheduler.)"""

from __future__ import annotations

import os
from typing import Any

from raybench.config import ExperimentConfig, validate
from raybench.errors import RunDirError
from raybench.events import EVENTS_FILE


def load_log(run_dir: str) -> list[dict[str, Any]]:
    from raybench.events import read_events

    return read_events(os.path.join(run_dir, EVENTS_FILE)).events


def config_from_log(run_dir: str) -> ExperimentConfig:
    events = load_log(run_dir)
    start = next((e for e in events if e.get("event") == "experiment_start"), None)
    if start is None:
        raise RunDirError(f"{run_dir}: the event log has no experiment_start; it cannot be resumed, start anew")
    if any(e.get("event") == "experiment_end" for e in events):
        raise RunDirError(f"{run_dir}: this run already ended; there is nothing to resume "
                          f"(`raybench report {run_dir}` writes its summary again)")
    return validate(ExperimentConfig, start["config"], f"{run_dir}/{EVENTS_FILE}")
