"""The scheduler: hands out configs, answers every report with continue or stop, logs every event.

`SchedulerCore` holds no Ray handle; `raybench.runtime.actors` wraps it as the one scheduler actor.
Every method is a short sequence: update the trial table, ask the sampler or pruner, append events.
"""

from __future__ import annotations

import math
import time
from typing import Any, Optional

from raybench.config import ExperimentConfig
from raybench.energy import EnergyLedger
from raybench.events import EventLog, make_event, read_events
from raybench.runtime._budget import Budget
from raybench.runtime._trials import Trial, TrialState, TrialTable
from raybench.search.decision import Action, Decision, Reason
from raybench.search.pruners import make_pruner
from raybench.search.samplers import make_sampler
from raybench.search.space import grid_values

# Every event is flushed to the OS as it is appended, so a killed process loses nothing. Only the
# run's milestones are also fsynced against power loss: an fsync per trial end would cost milliseconds
# on a busy disk and cap the trial rate.
_SYNCED = {"experiment_start", "test_result", "experiment_end", "budget_exhausted"}


def trial_seed(seed: int, trial_id: int) -> int:
    """A per-trial seed: trials differ, and the same experiment seed gives the same trials."""
    return (seed * 1_000_003 + trial_id * 7_919) % (2**31 - 1)


class SchedulerCore:
    def __init__(self, config: dict[str, Any], events_path: str, *, resume: bool = False) -> None:
        self.cfg = ExperimentConfig.model_validate(config)
        self.mode = self.cfg.metric.mode
        self.space = self.cfg.space()
        # Counted once, without building the grid: status() is polled twice a second.
        self._grid_size = (math.prod(len(grid_values(p)) for p in self.space.values())
                           if self.cfg.sampler.type == "grid" else None)
        self.sampler = make_sampler(self.cfg.sampler, self.space, seed=self.cfg.seed, mode=self.mode)
        self.pruner = make_pruner(self.cfg.pruner, mode=self.mode, seed=self.cfg.seed)
        self.unit = getattr(self.cfg.pruner, "progress", "epoch")
        prior_events = read_events(events_path).events if resume else []
        self.log = EventLog.open(events_path, resume=resume)
        self.trials = TrialTable()
        self.budget = Budget(self.cfg.budget)
        self.ledger = EnergyLedger()
        self.t0 = time.time()
        self.exhausted = False          # the sampler has nothing more to give
        self.stopping: Optional[str] = None  # why no new trial starts (budget, interrupt)
        self.best: Optional[tuple[int, float]] = None
        self.best_state: Optional[dict] = None
        self.decisions = {"continue": 0, "stop": 0}
        self.last_error: Optional[str] = None
        self.restored: Optional[dict[str, int]] = None
        self.lost: list[tuple[int, int]] = []  # (trial, attempt) running when the resumed run's driver died
        if resume:
            from raybench.runtime._resume import restore

            self.restored = restore(self, prior_events)

    # ---- events ---------------------------------------------------------------------------

    def emit(self, event: str, /, **fields: Any) -> None:
        self.log.append(make_event(event, **fields), sync=event in _SYNCED)

    def emit_event(self, event: dict[str, Any]) -> None:
        """An event made elsewhere (node joined, baseline, warnings)."""
        self.log.append(event, sync=event.get("event") in _SYNCED)
        if event.get("event") == "node_baseline":
            self.ledger.add_baseline(event)

    def start(self, *, run_id: str, env: dict[str, Any], requested: int, effective: int, resumed: bool = False) -> None:
        if not resumed:
            self.t0 = time.time()
        self.emit("experiment_start", run_id=run_id, name=self.cfg.name, config=self.cfg.to_dict(), env=env,
                  requested_concurrency=requested, effective_concurrency=effective, resumed=resumed)
        for trial_id, attempt in self.lost:  # logged after the start they belong to
            self.emit("trial_failed", trial_id=trial_id, attempt=attempt, cause="driver_lost", final=False,
                      error="the driver stopped while this trial ran; it runs again from its first epoch")
        self.lost = []

    # ---- handing out work ------------------------------------------------------------------

    def next_trial(self, worker: int, node_id: Optional[str], pid: int,
                   finished: Optional[dict[str, Any]] = None) -> Optional[dict[str, Any]]:
        """Record the worker's finished trial (if any) and give it the next one, or None when done."""
        if finished is not None:
            self._finish(finished)
        trial = self._pick()
        if trial is None:
            return None
        self.trials.assign(trial, worker, node_id)
        trial.started_t = time.time()
        req = self.cfg.workers
        resources = {"cpus": req.cpus, "memory_mb": req.memory_mb,
                     "gpus": req.accelerators_per_worker if req.accelerator == "GPU" else 0,
                     "tpus": req.accelerators_per_worker if req.accelerator == "TPU" else 0}
        self.emit("trial_started", trial_id=trial.trial_id, attempt=trial.attempts, node_id=node_id, worker=worker,
                  pid=pid, resources=resources, from_step=trial.checkpoint_step)
        return {"trial_id": trial.trial_id, "config": trial.config, "attempt": trial.attempts,
                "seed": trial_seed(self.cfg.seed, trial.trial_id), "task": self.cfg.task.model_dump(),
                "metric": self.cfg.metric.name, "epochs": self.cfg.task.epochs, "from_step": trial.checkpoint_step,
                "checkpoint": trial.checkpoint, "send_checkpoints": self.cfg.max_failures > 0,
                "experiment_seed": self.cfg.seed, "space": self.space}

    def _check_budget(self) -> None:
        """Stop everything once the time or energy budget is spent (the trial budget only stops new trials)."""
        if self.stopping is None:
            reason = self.budget.exhausted(elapsed_s=time.time() - self.t0, energy_j=self._total_j())
            if reason is not None:
                self._stop_everything(*reason)

    def _pick(self) -> Optional[Trial]:
        self._check_budget()
        while self.trials.queue:
            t = self.trials.trials[self.trials.queue.popleft()]
            if t.state is TrialState.PENDING:
                return t
        if self.stopping is not None or self.exhausted:
            return None
        if self.cfg.budget.max_trials is not None and len(self.trials) >= self.cfg.budget.max_trials:
            self.exhausted = True
            self.emit("budget_exhausted", kind="trials", limit=self.cfg.budget.max_trials, value=len(self.trials))
            return None
        tid = self.trials.next_id()
        config = self.sampler.suggest(tid)
        if config is None:
            self.exhausted = True
            return None
        trial = self.trials.add(tid, config)
        self.emit("trial_created", trial_id=tid, config=config)
        return trial

    def _stop_everything(self, kind: str, limit: float, value: float) -> None:
        self.stopping = kind
        self.emit("budget_exhausted", kind=kind, limit=limit, value=value)
        for t in self.trials.running():
            t.stop_requested = True

    # ---- reports and decisions -------------------------------------------------------------

    def report(self, trial_id: int, step: int, metrics: dict[str, float], elapsed_s: float,
               checkpoint: Optional[dict] = None, rss_mb: Optional[float] = None) -> str:
        """Log a report, decide continue or stop, log the decision, and return the action's label."""
        t = self.trials.trials[trial_id]
        if t.state is not TrialState.RUNNING:
            return Action.STOP.label  # a late report from a trial already ended (e.g. a replaced actor)
        value = metrics.get(self.cfg.metric.name)
        if value is None:
            raise KeyError(f"the workload reported no '{self.cfg.metric.name}' (metric.name); it reported "
                           f"{sorted(metrics)}")
        value = float(value)
        t.steps, t.last_value, t.elapsed_s = step, value, elapsed_s
        t.values.append(value)
        if t.best_value is None or self._better(value, t.best_value):
            t.best_value = value
        if rss_mb:
            t.peak_rss_mb = max(t.peak_rss_mb, rss_mb)
        if checkpoint is not None:
            t.checkpoint, t.checkpoint_step = checkpoint, step
        energy_j = self._trial_j(trial_id)
        progress = {"epoch": float(step), "time_s": elapsed_s, "energy_j": energy_j}[self.unit]
        self.emit("report", trial_id=trial_id, step=step, metrics=metrics, elapsed_s=elapsed_s,
                  energy_j=energy_j if self.ledger.n_samples > 0 else None, progress=progress)
        decision = self._decide(t, step, progress, value)
        self.decisions[decision.action.label] += 1
        self.emit("decision", trial_id=trial_id, step=step, action=decision.action.label,
                  reason=decision.reason.to_dict())
        if decision.stop:
            t.stop_requested = True
        return decision.action.label

    def _decide(self, t: Trial, step: int, progress: float, value: float) -> Decision:
        if t.stop_requested and self.stopping is not None:
            return Decision(Action.STOP, Reason("budget", progress, self.unit, value,
                                                detail=f"stopped: the {self.stopping} budget is exhausted"))
        if t.last_progress is not None and progress <= t.last_progress:
            return Decision(Action.CONTINUE, Reason(
                "none", progress, self.unit, value,
                detail=f"no new {self.unit} measured since the last report; not judged"))
        t.last_progress = progress
        decision = self.pruner.report(t.trial_id, progress, value)
        if step >= self.cfg.task.epochs and decision.stop:
            # The trial has finished its epochs: a stop can no longer save anything, so it completes.
            return Decision(Action.CONTINUE, decision.reason)
        return decision

    def _trial_j(self, trial_id: int) -> float:
        e = self.ledger.trial(trial_id)
        return e["cpu_j"] + e["dram_j"] + e["gpu_j"]

    def _total_j(self) -> float:
        return sum(self.ledger.total_by_domain().values())

    def _better(self, a: float, b: float) -> bool:
        return a > b if self.mode == "max" else a < b

    # ---- ends of trials --------------------------------------------------------------------

    def _finish(self, f: dict[str, Any]) -> None:
        t = self.trials.trials[f["trial_id"]]
        if t.state is not TrialState.RUNNING:
            return
        status = TrialState.COMPLETED if f["status"] == "completed" else TrialState.PRUNED
        if f.get("peak_rss_mb"):
            t.peak_rss_mb = max(t.peak_rss_mb, f["peak_rss_mb"])
        duration_s = time.time() - (t.started_t or time.time())
        if status is TrialState.COMPLETED:
            self.pruner.complete(t.trial_id)
            if t.last_value is not None and (self.best is None or self._better(t.last_value, self.best[1])):
                self.best = (t.trial_id, t.last_value)
                self.best_state = f.get("checkpoint") or t.checkpoint
        self.sampler.observe(t.trial_id, t.last_value)
        self.trials.release(t, status)
        self.emit("trial_completed", trial_id=t.trial_id, status=status.value, steps=t.steps,
                  final_metric=t.last_value, best_metric=t.best_value, duration_s=duration_s,
                  peak_rss_mb=t.peak_rss_mb or None)

    def trial_error(self, trial_id: int, error: str, cause: str = "error", *, retry: bool = True) -> None:
        """A trial raised or its actor died: queue a retry from its checkpoint, or fail it for good."""
        t = self.trials.trials.get(trial_id)
        if t is None or t.state is not TrialState.RUNNING:
            return
        decided = ("completed" if t.steps >= self.cfg.task.epochs
                   else "pruned" if t.stop_requested and self.stopping is None else None)
        if retry and decided is not None:
            # It died after its outcome was decided (past its last epoch, or told to stop by the pruner) but
            # before it said so: end it as it would have ended instead of running it again.
            self.emit("warning", code="late_failure",
                      message=f"trial {trial_id} failed after its last report ({error}); it ends {decided}")
            self._finish({"trial_id": trial_id, "status": decided})
            return
        final = not retry or t.attempts > self.cfg.max_failures or self.stopping is not None
        self.last_error = error
        self.emit("trial_failed", trial_id=trial_id, attempt=t.attempts, error=error, cause=cause, final=final,
                  peak_rss_mb=t.peak_rss_mb or None)
        if final:
            self.sampler.observe(trial_id, None)
            self.trials.release(t, TrialState.FAILED)
        else:
            # last_progress stays: the pruner has judged those epochs and demands rising progress, so a
            # retry without a checkpoint re-runs them unjudged.
            self.trials.release(t, TrialState.PENDING)
            if t.checkpoint is None:
                t.checkpoint_step = 0
            self.trials.queue.appendleft(trial_id)

    def worker_lost(self, worker: int, error: str, cause: str = "actor_died",
                    alive_nodes: Optional[list[str]] = None) -> None:
        """A worker's actor died; with the cluster's alive nodes, a death with its node is told apart."""
        t = self.trials.on_worker(worker)
        if t is not None:
            if alive_nodes is not None and t.node_id is not None and t.node_id not in alive_nodes:
                cause = "node_lost"
            self.trial_error(t.trial_id, error, cause)

    def memory_exceeded(self, trial_id: int, rss_mb: float) -> None:
        t = self.trials.trials.get(trial_id)
        if t is not None:
            t.peak_rss_mb = max(t.peak_rss_mb, rss_mb)
        self.trial_error(trial_id, f"peak RSS {rss_mb:.0f} MB exceeded workers.memory_mb = "
                         f"{self.cfg.workers.memory_mb}", "memory_limit", retry=False)

    # ---- energy ------------------------------------------------------------------------------

    def energy(self, samples: list[dict[str, Any]]) -> None:
        for s in samples:
            self.log.append(s, sync=False)
            if s.get("event") == "energy_sample":
                self.ledger.add_sample(s)
        self._check_budget()

    # ---- the end -----------------------------------------------------------------------------

    def interrupt(self, reason: str) -> None:
        """No new trial starts; running ones are told to stop at their next report."""
        if self.stopping is None:
            self.stopping = "interrupt"
            for t in self.trials.running():
                t.stop_requested = True
        self.emit("warning", code="interrupted", message=reason)

    def idle(self) -> bool:
        """True when nothing runs and nothing more will be handed out."""
        no_more = self.stopping is not None or self.exhausted
        waiting = any(self.trials.trials[i].state is TrialState.PENDING for i in self.trials.queue)
        return no_more and not waiting and not self.trials.running()

    def best_trial(self) -> Optional[dict[str, Any]]:
        if self.best is None:
            return None
        tid, value = self.best
        return {"trial_id": tid, "config": self.trials.trials[tid].config, "val_metric": value,
                "seed": trial_seed(self.cfg.seed, tid), "task": self.cfg.task.model_dump(),
                "checkpoint": self.best_state, "experiment_seed": self.cfg.seed, "space": self.space}

    def record_test(self, trial_id: int, metrics: dict[str, float]) -> None:
        self.emit("test_result", trial_id=trial_id, metrics=metrics)

    def end(self, status: str, reason: str = "") -> None:
        self.emit("experiment_end", status=status, reason=reason)
        self.log.close()

    def status(self) -> dict[str, Any]:
        tt = self.trials
        return {
            "elapsed_s": time.time() - self.t0,
            "created": len(tt),
            "completed": tt.count(TrialState.COMPLETED),
            "pruned": tt.count(TrialState.PRUNED),
            "failed": tt.count(TrialState.FAILED),
            "running": tt.count(TrialState.RUNNING),
            "expected": self.expected_trials(),
            "best": None if self.best is None else {"trial_id": self.best[0], "value": self.best[1]},
            "energy_j": self._total_j() if self.ledger.n_samples > 0 else None,
            "idle": self.idle(),
            "stopping": self.stopping,
            "last_error": self.last_error,
        }

    def expected_trials(self) -> Optional[int]:
        n = self._grid_size
        cap = self.cfg.budget.max_trials
        if n is None:
            return cap
        return n if cap is None else min(n, cap)
