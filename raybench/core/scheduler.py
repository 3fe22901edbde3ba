"""The scheduler core: hands out trials, answers every report, and logs every event it decides on.

Ray-free and clock-driven: the live scheduler actor, a resume and `raybench replay` run this same class.
Every state change goes through `emit`, which appends the event to the log and folds it into the
experiment state (raybench.core.state); the fold's effects feed the sampler and the pruner, on a live run
and on a resume alike.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Optional, Protocol

from raybench.config import ExperimentConfig
from raybench.core.records import Assignment, BestTrial, Finished, WorkerShape
from raybench.core.state import Created, Effect, Ended, ExperimentState, Judge, TrialState, TrialStatus
from raybench.energy import EnergyLedger
from raybench.events import make_event
from raybench.events._types import should_sync
from raybench.search.decision import Action
from raybench.search.policy import Budget, decide
from raybench.search.pruners import make_pruner
from raybench.search.samplers import make_sampler
from raybench.search.space import grid_values

Clock = Callable[[], float]

# The fields of an Assignment that differ from trial to trial: what report_many sends of the next one.
ASSIGNMENT_WIRE = ("trial_id", "config", "attempt", "seed", "from_step", "checkpoint")


class Sink(Protocol):
    def append(self, event: Mapping[str, Any], *, sync: Optional[bool] = None) -> None: ...
    def close(self) -> None: ...


def trial_seed(seed: int, trial_id: int) -> int:
    """A per-trial seed: trials differ, and the same experiment seed gives the same trials."""
    return (seed * 1_000_003 + trial_id * 7_919) % (2**31 - 1)


class SchedulerCore:
    """One experiment's decisions. `log` receives every event; `clock` stamps them (a simulated clock
    in replay). `prior` is the log of a run being resumed: it is folded in before anything new happens."""

    def __init__(self, config: ExperimentConfig, log: Sink, *, clock: Clock = time.time,
                 prior: Iterable[Mapping[str, Any]] = ()) -> None:
        self.cfg = config
        self.log = log
        self.clock = clock
        self.space = config.space()
        self.shape = WorkerShape.of(config.workers)
        self.unit = getattr(config.pruner, "progress", "epoch")
        self.sampler = make_sampler(config.sampler, self.space, seed=config.seed, mode=config.metric.mode)
        self.pruner = make_pruner(config.pruner, mode=config.metric.mode, seed=config.seed)
        self.budget = Budget.of(config.budget)
        self.state = ExperimentState(config.metric.name, config.metric.mode)
        self.ledger = EnergyLedger()
        # Counted once, without building the grid: status() is polled twice a second.
        self._grid_size = (math.prod(len(grid_values(p)) for p in self.space.values())
                           if config.sampler.type == "grid" else None)
        self.checkpoints: dict[int, tuple[int, dict]] = {}  # trial -> (step, state), for running/queued trials
        self.best_state: Optional[dict] = None   # the best completed trial's final checkpoint
        self.t0 = clock()
        self.last_error: Optional[str] = None
        self.lost: list[tuple[int, int]] = []     # (trial, attempt) running when a resumed run's driver died
        self.restored: Optional[dict[str, int]] = None
        prior = list(prior)
        if prior:
            self._restore(prior)

    # ---- events ---------------------------------------------------------------------------

    def emit(self, kind: str, /, **fields: Any) -> Effect:
        """Log an event stamped by the clock, fold it into the state, and feed its effect on."""
        return self.record(make_event(kind, t=self.clock(), **fields))

    def record(self, event: Mapping[str, Any]) -> Effect:
        self.log.append(event, sync=should_sync(event))
        return self._feed(event)

    def _feed(self, event: Mapping[str, Any]) -> Effect:
        kind = event.get("event")
        if kind == "energy_sample":
            self.ledger.add_sample(event)
            return None
        if kind == "node_baseline":
            self.ledger.add_baseline(event)
            return None
        effect = self.state.apply(event)
        if isinstance(effect, Created):
            self.sampler.replay(effect.trial_id, effect.config)  # a no-op for a trial it suggested itself
        elif isinstance(effect, Ended):
            if effect.status is TrialStatus.COMPLETED:
                self.pruner.complete(effect.trial_id)
            self.sampler.observe(effect.trial_id, effect.value)
            self.checkpoints.pop(effect.trial_id, None)  # only a running or queued trial needs its checkpoint
        return effect

    def emit_event(self, event: dict[str, Any]) -> None:
        """An event made elsewhere (node joined, baseline, warnings)."""
        self.record(event)

    def _restore(self, events: list[Mapping[str, Any]]) -> None:
        """Fold a cut-off run's log; the trials that were running go back to the queue to run again."""
        for e in events:
            effect = self._feed(e)
            if isinstance(effect, Judge):
                self.pruner.report(effect.trial_id, effect.progress, effect.value)  # its decision is logged
        st = self.state
        if st.start_t is not None:
            self.t0 = st.start_t
        requeued = 0
        for tid in sorted(st.trials):
            t = st.trials[tid]
            if not t.known:  # its trial_created was lost to damage: no config to run; its id is not given again
                st._release(t)
                del st.trials[tid]
                continue
            if t.status.ended:
                continue
            if t.status is TrialStatus.RUNNING:
                self.lost.append((tid, t.attempts))  # logged by start(), after the resumed experiment_start
            # last_progress stays: the pruner has judged those reports already, so the re-run's first
            # epochs go unjudged until they pass it (the pruner demands rising progress per trial).
            t.status, t.steps, t.stop_requested = TrialStatus.PENDING, 0, False
            st._release(t)
            self.checkpoints.pop(tid, None)
            if tid not in st.queue:
                st.queue.append(tid)
            requeued += 1
        self.restored = {"trials": len(st), "ended": sum(t.status.ended for t in st.trials.values()),
                         "requeued": requeued}

    def start(self, *, run_id: str, env: dict[str, Any], requested: int, effective: int, resumed: bool = False,
              **extra: Any) -> None:
        if not resumed:
            self.t0 = self.clock()
        self.emit("experiment_start", run_id=run_id, name=self.cfg.name, config=self.cfg.to_dict(), env=env,
                  requested_concurrency=requested, effective_concurrency=effective, resumed=resumed, **extra)
        for trial_id, attempt in self.lost:  # logged after the start they belong to
            self.emit("trial_failed", trial_id=trial_id, attempt=attempt, cause="driver_lost", final=False,
                      error="the driver stopped while this trial ran; it runs again from its first epoch")
        self.lost = []

    # ---- handing out work ------------------------------------------------------------------

    def next_trial(self, worker: int, node_id: Optional[str], pid: int,
                   finished: Optional[Finished] = None) -> Optional[Assignment]:
        """Record the worker's finished trial (if any) and give it the next one, or None when done."""
        if finished is not None:
            self._finish(finished)
        trial = self._pick()
        if trial is None:
            return None
        step, ckpt = self.checkpoints.get(trial.trial_id, (0, None))
        self.emit("trial_started", trial_id=trial.trial_id, attempt=trial.attempts + 1, node_id=node_id,
                  worker=worker, pid=pid, resources=self.shape.resources(), from_step=step)
        return Assignment(
            trial_id=trial.trial_id, config=trial.config, attempt=trial.attempts,
            seed=trial_seed(self.cfg.seed, trial.trial_id), experiment_seed=self.cfg.seed,
            task=self.cfg.task.model_dump(), space=self.space, metric=self.cfg.metric.name,
            epochs=self.cfg.task.epochs, from_step=step, checkpoint=ckpt,
            send_checkpoints=self.cfg.max_failures > 0)

    def _check_budget(self) -> None:
        """Stop everything once the time or energy budget is spent (the trial budget only stops new trials)."""
        if self.state.stopping is None:
            reason = self.budget.exhausted(elapsed_s=self.clock() - self.t0, energy_j=self._total_j())
            if reason is not None:
                kind, limit, value = reason
                self.emit("budget_exhausted", kind=kind, limit=limit, value=value)

    def _pick(self) -> Optional[TrialState]:
        self._check_budget()
        st = self.state
        while st.queue:
            t = st.trials[st.queue.popleft()]
            if t.status is TrialStatus.PENDING:
                return t
        if st.stopping is not None or st.exhausted:
            return None
        cap = self.cfg.budget.max_trials
        if cap is not None and len(st) >= cap:
            self.emit("budget_exhausted", kind="trials", limit=cap, value=len(st))
            return None
        tid = st.next_id()
        config = self.sampler.suggest(tid)
        if config is None:
            st.exhausted = True
            return None
        self.emit("trial_created", trial_id=tid, config=config)
        return st.trials[tid]

    # ---- reports and decisions -------------------------------------------------------------

    def report(self, trial_id: int, step: int, metrics: dict[str, float], elapsed_s: float,
               checkpoint: Optional[dict] = None, rss_mb: Optional[float] = None) -> Action:
        """Log a report, decide, log the decision, and return its action."""
        t = self.state.trials[trial_id]
        if t.status is not TrialStatus.RUNNING:
            return Action.STOP  # a late report from a trial already ended (e.g. a replaced actor)
        value = metrics.get(self.cfg.metric.name)
        if value is None:
            raise KeyError(f"the workload reported no '{self.cfg.metric.name}' (metric.name); it reported "
                           f"{sorted(metrics)}")
        if rss_mb:
            t.peak_rss_mb = max(t.peak_rss_mb, rss_mb)
        if checkpoint is not None:
            self.checkpoints[trial_id] = (step, checkpoint)
        energy_j = self._trial_j(trial_id)
        progress = {"epoch": float(step), "time_s": elapsed_s, "energy_j": energy_j}[self.unit]
        effect = self.emit("report", trial_id=trial_id, step=step, metrics=metrics, elapsed_s=elapsed_s,
                           energy_j=energy_j if self.ledger.n_samples > 0 else None, progress=progress)
        pruned = (self.pruner.report(trial_id, effect.progress, effect.value)
                  if isinstance(effect, Judge) else None)
        decision = decide(pruned, progress=progress, unit=self.unit, value=float(value), step=step,
                          epochs=self.cfg.task.epochs, stopping=self.state.stopping)
        self.emit("decision", trial_id=trial_id, step=step, action=decision.action.label,
                  reason=decision.reason.to_dict())
        return decision.action

    def _trial_j(self, trial_id: int) -> float:
        e = self.ledger.trial(trial_id)
        return e["cpu_j"] + e["dram_j"] + e["gpu_j"]

    def _total_j(self) -> float:
        return sum(self.ledger.total_by_domain().values())

    # ---- ends of trials --------------------------------------------------------------------

    def _finish(self, f: Finished) -> None:
        t = self.state.trials[f.trial_id]
        if t.status is not TrialStatus.RUNNING:
            return
        if f.peak_rss_mb:
            t.peak_rss_mb = max(t.peak_rss_mb, f.peak_rss_mb)
        status = "completed" if f.status == "completed" else "pruned"
        was_best = self.state.best()
        ckpt = self.checkpoints.get(t.trial_id, (0, None))[1]
        now = self.clock()
        self.emit("trial_completed", trial_id=t.trial_id, status=status, steps=t.steps, final_metric=t.last_value,
                  best_metric=t.best_value, duration_s=now - (t.attempt_t if t.attempt_t is not None else now),
                  peak_rss_mb=t.peak_rss_mb or None)
        if self.state.best() is t and t is not was_best:
            self.best_state = ckpt

    def trial_error(self, trial_id: int, error: str, cause: str = "error", *, retry: bool = True) -> None:
        """A trial raised or its actor died: queue a retry from its checkpoint, or fail it for good."""
        t = self.state.trials.get(trial_id)
        if t is None or t.status is not TrialStatus.RUNNING:
            return
        stopping = self.state.stopping
        decided = ("completed" if t.steps >= self.cfg.task.epochs
                   else "pruned" if t.stop_requested and stopping is None else None)
        if retry and decided is not None:
            # It died after its outcome was decided (past its last epoch, or told to stop by the pruner) but
            # before it said so: end it as it would have ended instead of running it again.
            self.emit("warning", code="late_failure",
                      message=f"trial {trial_id} failed after its last report ({error}); it ends {decided}")
            self._finish(Finished(trial_id, decided))
            return
        final = not retry or t.attempts > self.cfg.max_failures or stopping is not None
        self.last_error = error
        self.emit("trial_failed", trial_id=trial_id, attempt=t.attempts, error=error, cause=cause, final=final,
                  peak_rss_mb=t.peak_rss_mb or None)

    def worker_lost(self, worker: int, error: str, cause: str = "actor_died",
                    alive_nodes: Optional[list[str]] = None) -> None:
        """A worker's actor died; with the cluster's alive nodes, a death with its node is told apart."""
        t = self.state.on_worker(worker)
        if t is not None:
            if alive_nodes is not None and t.node_id is not None and t.node_id not in alive_nodes:
                cause = "node_lost"
            self.trial_error(t.trial_id, error, cause)

    def memory_exceeded(self, trial_id: int, rss_mb: float) -> None:
        t = self.state.trials.get(trial_id)
        if t is not None:
            t.peak_rss_mb = max(t.peak_rss_mb, rss_mb)
        self.trial_error(trial_id, f"peak RSS {rss_mb:.0f} MB exceeded workers.memory_mb = "
                         f"{self.cfg.workers.memory_mb}", "memory_limit", retry=False)

    # ---- energy ------------------------------------------------------------------------------

    def energy(self, samples: list[dict[str, Any]]) -> None:
        for s in samples:
            self.record(s)
        self._check_budget()

    # ---- the end -----------------------------------------------------------------------------

    def interrupt(self, reason: str) -> None:
        """No new trial starts; running ones are told to stop at their next report."""
        self.emit("warning", code="interrupted", message=reason)

    def idle(self) -> bool:
        """True when nothing runs and nothing more will be handed out."""
        st = self.state
        no_more = st.stopping is not None or st.exhausted
        waiting = any(st.trials[i].status is TrialStatus.PENDING for i in st.queue)
        return no_more and not waiting and not st.running()

    def best_trial(self) -> Optional[BestTrial]:
        """The best completed trial, whose model the final test evaluates; None when none completed."""
        t = self.state.best()
        if t is None or t.status is not TrialStatus.COMPLETED:
            return None
        return BestTrial(trial_id=t.trial_id, config=t.config, val_metric=t.last_value,
                         seed=trial_seed(self.cfg.seed, t.trial_id), experiment_seed=self.cfg.seed,
                         task=self.cfg.task.model_dump(), space=self.space, checkpoint=self.best_state)

    def record_test(self, trial_id: int, metrics: dict[str, float]) -> None:
        self.emit("test_result", trial_id=trial_id, metrics=metrics)

    def end(self, status: str, reason: str = "") -> None:
        self.emit("experiment_end", status=status, reason=reason)
        self.log.close()

    def status(self) -> dict[str, Any]:
        st = self.state
        best = st.best()
        return {
            "elapsed_s": self.clock() - self.t0,
            "created": len(st),
            "completed": st.count(TrialStatus.COMPLETED),
            "pruned": st.count(TrialStatus.PRUNED),
            "failed": st.count(TrialStatus.FAILED),
            "running": st.count(TrialStatus.RUNNING),
            "expected": self.expected_trials(),
            "best": None if best is None else {"trial_id": best.trial_id, "value": st.best_value()},
            "energy_j": self._total_j() if self.ledger.n_samples > 0 else None,
            "idle": self.idle(),
            "stopping": st.stopping,
            "last_error": self.last_error,
        }

    def expected_trials(self) -> Optional[int]:
        n = self._grid_size
        cap = self.cfg.budget.max_trials
        if n is None:
            return cap
        return n if cap is None else min(n, cap)

    # ---- several reports in one call ---------------------------------------------------------

    def report_many(self, trial_id: int, reports: Sequence[tuple[int, dict[str, float], float, Optional[dict]]],
                    rss_mb: Optional[float] = None, worker: Optional[int] = None, node_id: Optional[str] = None,
                    pid: int = 0) -> tuple[int, bool, Optional[tuple]]:
        """Consecutive reports of one trial, each `(step, metrics, elapsed_s, checkpoint)`, decided one by one
        exactly as `report` decides them; those after a STOP are dropped unlogged (the worker trained them
        before it knew). When the trial ends here (a stop, or its last epoch) and `worker` is given, it is
        finished and the worker's next assignment comes back in the same call, as `next_trial` would give it.

        Returns (the last decision's Action as an int, whether the trial ended, the next assignment as
        `ASSIGNMENT_WIRE` fields or None): plain values that Ray sends without pickling. The fields an
        assignment shares with every other of the experiment (task, space, ...) are not sent again; the worker
        has them from its first assignment. Every event reaches the OS once, before the answer: one flush.
        """
        held = getattr(self.log, "held", None)
        with held() if held is not None else contextlib.nullcontext():
            action, step = Action.CONTINUE, None
            for step, metrics, elapsed_s, checkpoint in reports:
                action = self.report(trial_id, step, metrics, elapsed_s, checkpoint, rss_mb)
                if action is Action.STOP:
                    break
            ended = action is Action.STOP or (step is not None and step >= self.cfg.task.epochs)
            if not ended or worker is None:
                return int(action), ended, None
            status = "completed" if step is not None and step >= self.cfg.task.epochs else "pruned"
            nxt = self.next_trial(worker, node_id, pid, Finished(trial_id, status, rss_mb))
            return int(action), True, None if nxt is None else tuple(getattr(nxt, f) for f in ASSIGNMENT_WIRE)
