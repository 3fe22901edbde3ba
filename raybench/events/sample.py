"""A realistic hand-built event sequence, for tests and for tools that need a log without running Ray.

Six trials on two nodes, median pruner on val_accuracy (max):
    0  completed after 3 epochs, with a test result
    1  pruned at epoch 1
    2  fails once (actor_died), is retried from its epoch-1 checkpoint, completes, with a test result
    3  fails twice (oom), the second time for good
    4  still running when the log ends (unless ended=True, where the run is interrupted)
    5  created, never started
"""

from __future__ import annotations

from typing import Any

from raybench.events._types import make_event

T0 = 1_700_000_000.0

CONFIG: dict[str, Any] = {
    "name": "sample",
    "seed": 0,
    "metric": {"name": "val_accuracy", "mode": "max"},
    "search_space": {"lr": {"type": "loguniform", "low": 1e-4, "high": 1e-1}},
    "pruner": {"type": "median", "progress": "epoch", "warmup": 1, "min_peers": 1, "startup_trials": 0},
    "workers": {"count": 2, "cpus": 2, "memory_mb": 2048},
}

PARAMS = {
    0: {"lr": 0.01, "optimizer": "adam"},
    1: {"lr": 0.0001, "optimizer": "sgd"},
    2: {"lr": 0.003, "optimizer": "adam"},
    3: {"lr": 0.09, "optimizer": "sgd"},
    4: {"lr": 0.02, "optimizer": "adam"},
    5: {"lr": 0.0005, "optimizer": "adam"},
}

_RES = {"cpus": 2, "memory_mb": 2048, "gpus": 0, "tpus": 0}
_POWER = {"cpu": 12.5, "dram": 1.5, "gpu": None}
_PROV = {"cpu": "powercap", "dram": "powercap", "gpu": "none"}


def _reason(rule: str, step: int, value: float, cutoff: float, detail: str) -> dict[str, Any]:
    return {"rule": rule, "progress": float(step), "unit": "epoch", "value": value, "cutoff": cutoff,
            "n_peers": 1, "rung": None, "detail": detail}


def sample_events(*, ended: bool = False, t0: float = T0) -> list[dict[str, Any]]:
    """The sample run's events in log order. ended=True closes it with budget and experiment_end events."""
    out: list[dict[str, Any]] = []

    def emit(event_type: str, dt: float, /, **fields: Any) -> None:
        out.append(make_event(event_type, t=t0 + dt, **fields))

    def report(tid: int, dt: float, step: int, acc: float, elapsed_s: float) -> None:
        emit("report", dt, trial_id=tid, step=step, elapsed_s=elapsed_s, energy_j=elapsed_s * 14.0,
             progress=float(step), metrics={"val_accuracy": acc, "val_loss": 1 - acc, "train_loss": 1.1 - acc})

    def decide(tid: int, dt: float, step: int, acc: float, stop: bool) -> None:
        reason = _reason("median", step, acc, 0.5, "below the median of 1 peer" if stop else "above the median")
        emit("decision", dt, trial_id=tid, step=step, action="stop" if stop else "continue", reason=reason)

    def start(tid: int, dt: float, node: str, attempt: int = 1, from_step: int = 0) -> None:
        emit("trial_started", dt, trial_id=tid, attempt=attempt, node_id=node, worker=f"w{tid % 2}",
             pid=4000 + 10 * tid + attempt, resources=_RES, from_step=from_step)

    emit("experiment_start", 0.0, run_id="20231114-sample", name="sample", config=CONFIG,
         env={"python": "3.11.7", "platform": "Linux", "host": "head", "raybench": "0.1.0", "ray": "2.60.0",
              "torch": "2.14.1", "numpy": "2.1.0", "git": None},
         requested_concurrency=4, effective_concurrency=2, resumed=False)
    for i, node in enumerate(("n-head", "n-w1")):
        emit("node_joined", 0.1 + i / 10, node_id=node, host=f"host{i}", resources={**_RES, "cpus": 4})
        emit("node_baseline", 3.0 + i / 10, node_id=node, duration_s=3.0, power_w=_POWER, provenance=_PROV)
    for tid in range(6):
        emit("trial_created", 3.5 + tid / 100, trial_id=tid, config=PARAMS[tid])

    start(0, 4.0, "n-head")
    start(1, 4.1, "n-w1")
    report(0, 10.0, 1, 0.80, 6.0)
    decide(0, 10.01, 1, 0.80, False)
    report(1, 10.5, 1, 0.30, 6.4)
    decide(1, 10.51, 1, 0.30, True)
    emit("trial_completed", 10.6, trial_id=1, status="pruned", steps=1, final_metric=0.30, best_metric=0.30,
         duration_s=6.5, peak_rss_mb=310.0)
    start(2, 10.7, "n-w1")
    emit("energy_sample", 11.0, node_id="n-head", t0=t0 + 10.0, t1=t0 + 11.0,
         energy_j={"cpu": 12.0, "dram": 1.4, "gpu": None}, provenance=_PROV, node_cpu_s=1.8,
         trial_cpu_s={0: 0.9}, trial_gpu_j={}, reserved={0: {"cpus": 2, "memory_mb": 2048, "gpus": 0}},
         node_resources={"cpus": 4, "memory_mb": 8192, "gpus": 0})
    report(0, 16.0, 2, 0.86, 12.0)
    decide(0, 16.01, 2, 0.86, False)
    report(2, 16.5, 1, 0.70, 5.8)
    decide(2, 16.51, 1, 0.70, False)
    emit("trial_failed", 17.0, trial_id=2, attempt=1, error="RayActorError: the actor died unexpectedly",
         cause="actor_died", final=False)
    emit("warning", 17.1, code="trial_retry", message="trial 2 failed (actor_died); retrying from epoch 1")
    start(2, 17.5, "n-w1", attempt=2, from_step=1)
    report(0, 22.0, 3, 0.85, 18.0)
    decide(0, 22.01, 3, 0.85, False)
    emit("trial_completed", 22.1, trial_id=0, status="completed", steps=3, final_metric=0.85, best_metric=0.86,
         duration_s=18.1, peak_rss_mb=402.5)
    # Logged once the energy sample covering the trial's end has come (a run with several objectives only).
    emit("trial_objectives", 22.5, trial_id=0, values={"val_accuracy": 0.85, "energy_j": 41.0})
    emit("test_result", 23.0, trial_id=0, metrics={"test_accuracy": 0.84, "test_loss": 0.41})
    start(3, 23.1, "n-head")
    emit("trial_failed", 24.0, trial_id=3, attempt=1, error="worker exceeded its memory limit of 2048 MB",
         cause="oom", final=False)
    report(2, 24.5, 2, 0.88, 12.8)
    decide(2, 24.51, 2, 0.88, False)
    start(3, 25.0, "n-head", attempt=2)
    emit("trial_failed", 26.0, trial_id=3, attempt=2, error="worker exceeded its memory limit of 2048 MB",
         cause="oom", final=True)
    start(4, 26.2, "n-head")
    report(2, 30.5, 3, 0.90, 18.8)
    decide(2, 30.51, 3, 0.90, False)
    emit("trial_completed", 30.6, trial_id=2, status="completed", steps=3, final_metric=0.90, best_metric=0.90,
         duration_s=19.9, peak_rss_mb=398.0)
    emit("test_result", 31.0, trial_id=2, metrics={"test_accuracy": 0.89, "test_loss": 0.33})
    report(4, 32.0, 1, 0.75, 5.8)
    decide(4, 32.01, 1, 0.75, False)
    if ended:  # promotion ASHA's two events: trial 4 pauses at its rung, is promoted, and runs on from epoch 1
        emit("trial_paused", 32.02, trial_id=4, step=1)
        emit("trial_promoted", 32.03, trial_id=4, step=1,
             reason=_reason("asha", 1, 0.75, 0.3, "promoted from rung 1 (epoch 1) to rung 2 (epoch 3)"))
        start(4, 32.04, "n-head", attempt=2, from_step=1)
    if ended:
        emit("budget_exhausted", 33.0, kind="time_s", limit=33.0, value=33.0)
        emit("experiment_end", 33.5, status="budget", reason="time budget of 33 s used up")
    return out
