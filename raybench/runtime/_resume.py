"""Resume: rebuild the scheduler's state from the event log of a run that was cut off.

The sampler is told every trial it handed out (and the final value where there is one), the pruner
re-reads every report in log order (its decisions are a deterministic function of that sequence), and
trials that were running when the driver died go back to the queue to run again.
"""

from __future__ import annotations

import os
from typing import Any

from raybench.config import ExperimentConfig, validate
from raybench.errors import RunDirError
from raybench.runtime._trials import TrialState


def load_log(run_dir: str) -> list[dict[str, Any]]:
    from raybench.events import read_events

    return read_events(os.path.join(run_dir, "events.msgpack")).events


def config_from_log(run_dir: str) -> ExperimentConfig:
    events = load_log(run_dir)
    start = next((e for e in events if e.get("event") == "experiment_start"), None)
    if start is None:
        raise RunDirError(f"{run_dir}: the event log has no experiment_start; it cannot be resumed, start anew")
    if any(e.get("event") == "experiment_end" for e in events):
        raise RunDirError(f"{run_dir}: this run already ended; there is nothing to resume "
                          f"(`raybench report {run_dir}` writes its summary again)")
    return validate(ExperimentConfig, start["config"], f"{run_dir}/events.msgpack")


def restore(core, events: list[dict[str, Any]]) -> dict[str, int]:
    """Replay a log into a fresh SchedulerCore. Returns counts of what was restored."""
    trials = core.trials
    ended: dict[int, str] = {}
    start = next(e for e in events if e.get("event") == "experiment_start")
    core.t0 = start["t"]
    for e in events:
        kind = e.get("event")
        if isinstance(e.get("trial_id"), int):
            trials.ids_from = max(trials.ids_from, e["trial_id"] + 1)
            if kind != "trial_created" and e["trial_id"] not in trials.trials:
                continue  # its trial_created was lost to damage in the middle of the log: its config is unknown
        if kind == "trial_created":
            trials.add(e["trial_id"], e["config"])
        elif kind == "trial_started":
            t = trials.trials[e["trial_id"]]
            t.attempts = e["attempt"]
            t.state = TrialState.RUNNING
        elif kind == "report":
            t = trials.trials[e["trial_id"]]
            value = float(e["metrics"][core.cfg.metric.name])
            t.steps, t.last_value, t.elapsed_s = e["step"], value, e.get("elapsed_s", 0.0)
            if t.best_value is None or core._better(value, t.best_value):
                t.best_value = value
            progress = e.get("progress", float(e["step"]))
            if t.last_progress is None or progress > t.last_progress:
                t.last_progress = progress
                core.pruner.report(t.trial_id, progress, value)
        elif kind == "decision":
            core.decisions[e["action"]] = core.decisions.get(e["action"], 0) + 1
        elif kind == "trial_completed":
            t = trials.trials[e["trial_id"]]
            t.state = TrialState(e["status"])
            ended[t.trial_id] = e["status"]
            if t.state is TrialState.COMPLETED:
                core.pruner.complete(t.trial_id)
                if t.last_value is not None and (core.best is None or core._better(t.last_value, core.best[1])):
                    core.best = (t.trial_id, t.last_value)
                    core.best_state = None  # checkpoints are not in the log; the final test retrains
        elif kind == "trial_failed":
            if e.get("final"):
                trials.trials[e["trial_id"]].state = TrialState.FAILED
                ended[e["trial_id"]] = "failed"
            else:  # queued for a retry, not running
                trials.trials[e["trial_id"]].state = TrialState.PENDING
        elif kind == "node_baseline":
            core.ledger.add_baseline(e)
        elif kind == "energy_sample":
            core.ledger.add_sample(e)
        elif kind == "budget_exhausted" and e.get("kind") == "trials":
            core.exhausted = True
    requeued = 0
    for tid in sorted(trials.trials):
        t = trials.trials[tid]
        value = t.last_value if tid in ended and ended[tid] != "failed" else None
        core.sampler.replay(tid, t.config, value if t.state.ended else None)
        if ended.get(tid) == "failed":
            core.sampler.observe(tid, None)  # a failed trial is dropped, not left pending (TPE's liar)
        if not t.state.ended:
            if t.state is TrialState.RUNNING:
                core.lost.append((tid, t.attempts))  # logged by core.start, after the resumed experiment_start
            # last_progress stays: the pruner has judged those reports already, so the re-run's first
            # epochs go unjudged until they pass it (the pruner demands rising progress per trial).
            t.state = TrialState.PENDING
            t.steps, t.checkpoint, t.checkpoint_step = 0, None, 0
            trials.queue.append(tid)
            requeued += 1
    return {"trials": len(trials), "ended": len(ended), "requeued": requeued}
