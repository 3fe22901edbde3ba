"""Event names, their required fields, and `make_event`.

`docs/events.md` documents every field. The reader does not validate events against this table, so a
newer log with extra fields or unknown event types still reads; `make_event` checks what the runtime emits.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

EXPERIMENT_START = "experiment_start"
NODE_JOINED = "node_joined"
NODE_BASELINE = "node_baseline"
TRIAL_CREATED = "trial_created"
TRIAL_STARTED = "trial_started"
REPORT = "report"
DECISION = "decision"
TRIAL_COMPLETED = "trial_completed"
TRIAL_FAILED = "trial_failed"
TRIAL_OBJECTIVES = "trial_objectives"
TRIAL_PAUSED = "trial_paused"
TRIAL_PROMOTED = "trial_promoted"
ENERGY_SAMPLE = "energy_sample"
TEST_RESULT = "test_result"
WARNING = "warning"
BUDGET_EXHAUSTED = "budget_exhausted"
EXPERIMENT_END = "experiment_end"

# Required fields per event type, besides "event" and "t". Extra fields are allowed.
EVENT_FIELDS: dict[str, tuple[str, ...]] = {
    EXPERIMENT_START: (
        "run_id", "name", "config", "env", "requested_concurrency", "effective_concurrency", "resumed",
    ),
    NODE_JOINED: ("node_id", "host", "resources"),
    NODE_BASELINE: ("node_id", "duration_s", "power_w", "provenance"),
    TRIAL_CREATED: ("trial_id", "config"),
    TRIAL_STARTED: ("trial_id", "attempt", "node_id", "worker", "pid", "resources", "from_step"),
    REPORT: ("trial_id", "step", "metrics", "elapsed_s", "energy_j", "progress"),
    DECISION: ("trial_id", "step", "action", "reason"),
    TRIAL_COMPLETED: ("trial_id", "status", "steps", "final_metric", "best_metric", "duration_s", "peak_rss_mb"),
    TRIAL_FAILED: ("trial_id", "attempt", "error", "cause", "final"),
    TRIAL_OBJECTIVES: ("trial_id", "values"),
    TRIAL_PAUSED: ("trial_id", "step"),
    TRIAL_PROMOTED: ("trial_id", "step", "reason"),
    ENERGY_SAMPLE: (
        "node_id", "t0", "t1", "energy_j", "provenance", "node_cpu_s", "trial_cpu_s", "trial_gpu_j",
        "reserved", "node_resources",
    ),
    TEST_RESULT: ("trial_id", "metrics"),
    WARNING: ("code", "message"),
    BUDGET_EXHAUSTED: ("kind", "limit", "value"),
    EXPERIMENT_END: ("status", "reason"),
}

EVENT_TYPES: frozenset[str] = frozenset(EVENT_FIELDS)

# Events that may come many times a second. They are flushed but not fsynced: losing the last of them
# to a power cut costs little, and an fsync per report would cap throughput at the disk's sync rate.
HIGH_RATE_EVENTS: frozenset[str] = frozenset({REPORT, DECISION, ENERGY_SAMPLE, WARNING})

TRIAL_STATUSES = ("completed", "pruned")
FAILURE_CAUSES = ("error", "actor_died", "node_lost", "oom", "memory_limit", "driver_lost")
END_STATUSES = ("completed", "budget", "interrupted", "failed")
ACTIONS = ("continue", "pause", "stop")
BUDGET_KINDS = ("trials", "time_s", "energy_j")

_CHOICES: dict[tuple[str, str], tuple[str, ...]] = {
    (TRIAL_COMPLETED, "status"): TRIAL_STATUSES,
    (TRIAL_FAILED, "cause"): FAILURE_CAUSES,
    (EXPERIMENT_END, "status"): END_STATUSES,
    (DECISION, "action"): ACTIONS,
    (BUDGET_EXHAUSTED, "kind"): BUDGET_KINDS,
}


def make_event(kind: str, /, **fields: Any) -> dict[str, Any]:
    """An event dict of type `kind` stamped with the current Unix time (pass `t=` to set it).

    Raises ValueError for an unknown type, a missing required field, or a value outside its choices.
    """
    required = EVENT_FIELDS.get(kind)
    if required is None:
        raise ValueError(f"unknown event type {kind!r}; use one of {', '.join(sorted(EVENT_TYPES))}")
    missing = [name for name in required if name not in fields]
    if missing:
        raise ValueError(f"{kind} event is missing {', '.join(missing)}")
    for name, choices in _CHOICES_BY_KIND.get(kind, ()):
        if fields[name] not in choices:
            raise ValueError(f"{kind}.{name} must be one of {', '.join(choices)}, got {fields[name]!r}")
    t = fields.pop("t", None)
    event: dict[str, Any] = {"event": kind, "t": float(time.time() if t is None else t)}
    event.update(fields)
    return event


# make_event runs for every report and decision: look up a kind's choices, do not scan them all.
_CHOICES_BY_KIND: dict[str, tuple[tuple[str, tuple[str, ...]], ...]] = {
    kind: tuple((name, choices) for (k, name), choices in _CHOICES.items() if k == kind)
    for kind in {k for k, _ in _CHOICES}
}


# The run's milestones. Every event is flushed to the OS as it is appended, so a killed process loses
# nothing; only these are also fsynced against power loss, since an fsync per trial would cost
# milliseconds on a busy disk and cap the trial rate.
SYNCED_EVENTS: frozenset[str] = frozenset({EXPERIMENT_START, TEST_RESULT, EXPERIMENT_END, BUDGET_EXHAUSTED})


def should_sync(event: Mapping[str, Any]) -> bool:
    """Whether appending `event` fsyncs by default: the run's milestones only."""
    return event.get("event") in SYNCED_EVENTS
