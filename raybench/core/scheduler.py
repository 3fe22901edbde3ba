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
from typing import Any, Optional, Protocol, Union

from raybench.config import ExperimentConfig
from raybench.core.objectives import MEASURED, measured_values, objective_values
from raybench.core.records import Assignment, BestTrial, Finished, Wait, WorkerShape
from raybench.core.state import (
    Created,
    Effect,
    Ended,
    ExperimentState,
    Judge,
    Observed,
    Promoted,
    TrialState,
    TrialStatus,
)
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
        self.objectives = [(o.name, o.mode) for o in config.objective_specs()]
        # Several objectives, or a measured one: the sampler observes each trial's values once its energy is
        # final (a trial_objectives event), not its reported metric at its end.
        self.multi = len(self.objectives) > 1 or self.objectives[0][0] in MEASURED
        self.sampler = make_sampler(config.sampler, self.space, seed=config.seed, mode=config.metric.mode,
                                    objectives=self.objectives if self.multi else None)
        self.pruner = make_pruner(config.pruner, mode=config.metric.mode, seed=config.seed,
                                  max_t=config.task.epochs, space=self.space)
        # Promotion ASHA pauses trials at rungs and promotes them when a worker is free.
        self.promotes = callable(getattr(self.pruner, "next_promotion", None))
        # Whether workers send every epoch's checkpoint: for a retry or a promotion to continue from (a live
        # run that keeps checkpoint files turns it on for them too).
        self.send_checkpoints = config.max_failures > 0 or self.promotes
        self._task = config.task.model_dump()  # the same in every assignment: dumped once
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
        self._awaiting: dict[int, TrialState] = {}  # completed multi-objective trials whose energy is not final
        self._restoring = False
        prior = list(prior)
        if prior:
            self._restore(prior)

    # ---- events ---------------------------------------------------------------------------

    def _emit(self, kind: str, /, **fields: Any) -> Effect:
        """Log an event stamped by the clock, fold it into the state, and feed its effect on."""
        return self._record(make_event(kind, t=self.clock(), **fields))

    def _record(self, event: Mapping[str, Any]) -> Effect:
        self.log.append(event, sync=should_sync(event))
        return self._feed(event)

    # The public names, for callers outside. The core's own calls take the private ones: the live scheduler
    # wraps every public method in its lock (runtime/_channel.serialized), and taking it again for each event,
    # with the lock already held, cost a few per cent of a report's CPU (BENCHMARKS.md, Scale).
    emit = _emit
    record = _record

    def _feed(self, event: Mapping[str, Any]) -> Effect:
        kind = event.get("event")
        if kind == "energy_sample":
            self.ledger.add_sample(event)
            if self._awaiting and not self._restoring:
                self._settle(event)
            return None
        if kind == "node_baseline":
            self.ledger.add_baseline(event)
            return None
        effect = self.state.apply(event)
        if isinstance(effect, Created):
            self.sampler.replay(effect.trial_id, effect.config)  # a no-op for a trial it suggested itself
            self.pruner.register(effect.trial_id, effect.config)  # a guard picks its protected trials by config
        elif isinstance(effect, Promoted):
            if self._restoring:  # live, the pruner chose the promotion itself
                self.pruner.promote(effect.trial_id)
        elif isinstance(effect, Ended):
            if self._restoring and self.promotes and effect.trial_id in self.pruner.paused():
                self.pruner.stop_paused(effect.trial_id)  # it was ended while paused (nothing left to promote it)
            if effect.status is TrialStatus.COMPLETED:
                self.pruner.complete(effect.trial_id)
            if not self.multi:
                self.sampler.observe(effect.trial_id, effect.value)
            elif effect.status is TrialStatus.COMPLETED:
                self._awaiting[effect.trial_id] = self.state.trials[effect.trial_id]
            else:  # a pruned trial's cost is partial: it would look cheap on every energy objective
                self.sampler.observe(effect.trial_id, None)
            self.checkpoints.pop(effect.trial_id, None)  # only a running or queued trial needs its checkpoint
        elif isinstance(effect, Observed):
            self._awaiting.pop(effect.trial_id, None)
            self.sampler.observe(effect.trial_id, tuple(effect.values.get(n, math.nan) for n, _ in self.objectives))
        return effect

    # ---- objective values of multi-objective runs ----------------------------------------------

    def _settle(self, sample: Mapping[str, Any], *, all_: bool = False) -> None:
        """Log the objective values of trials whose energy is now final: a sample from their node reached
        past their end (all_: every waiting trial, at the end of a run or of a resumed log)."""
        t1 = sample.get("t1") if sample else None
        for tid, t in list(self._awaiting.items()):
            if all_ or (sample.get("node_id") == t.node_id and t.ended_t is not None and t1 is not None
                        and t1 >= t.ended_t):
                self._awaiting.pop(tid, None)
                self._emit("trial_objectives", trial_id=tid, values=self._values(t))

    def _values(self, t: TrialState) -> dict[str, float]:
        measured = measured_values(self.ledger.trial(t.trial_id), duration_s=t.duration_s or 0.0,
                                   resources=self.shape.resources(), prices=self.cfg.cost.model_dump(),
                                   carbon=self.cfg.carbon.model_dump())
        reported = {**t.last_metrics, self.cfg.metric.name: t.final_value}
        return objective_values([n for n, _ in self.objectives], reported, measured)

    def emit_event(self, event: dict[str, Any]) -> None:
        """An event made elsewhere (node joined, baseline, warnings)."""
        self._record(event)

    def _restore(self, events: list[Mapping[str, Any]]) -> None:
        """Fold a cut-off run's log; the trials that were running go back to the queue to run again."""
        self._restoring = True
        for e in events:
            effect = self._feed(e)
            if isinstance(effect, Judge):
                self.pruner.report(effect.trial_id, effect.progress, effect.value)  # its decision is logged
        self._restoring = False
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
        self._emit("experiment_start", run_id=run_id, name=self.cfg.name, config=self.cfg.to_dict(), env=env,
                   requested_concurrency=requested, effective_concurrency=effective, resumed=resumed, **extra)
        for trial_id, attempt in self.lost:  # logged after the start they belong to
            self._emit("trial_failed", trial_id=trial_id, attempt=attempt, cause="driver_lost", final=False,
                       error=self.lost_note(trial_id))
        self.lost = []
        warm = getattr(self.sampler, "warm_start_report", None)
        if warm is not None and not resumed:  # what the earlier runs gave the model, said once
            self._emit("warning", code="warm_start", message=warm.line())
        if resumed and self._awaiting:  # completed before the driver died; their node's samples will not come
            self._settle({}, all_=True)

    def lost_note(self, trial_id: int) -> str:
        """The error of a trial that ran when the driver died (a hook: a live run may continue it from a
        checkpoint it kept on disk)."""
        return "the driver stopped while this trial ran; it runs again from its first epoch"

    # ---- handing out work ------------------------------------------------------------------

    def next_trial(self, worker: int, node_id: Optional[str], pid: int,
                   finished: Optional[Finished] = None) -> Union[Assignment, Wait, None]:
        """Record the worker's finished trial (if any) and give it the next one; Wait when none can start now
        but paused trials may still be promoted; None when the run is done."""
        if finished is not None:
            self._finish(finished)
        trial = self._pick()
        if trial is None:
            return self._when_nothing_to_start()
        step, ckpt = self.checkpoints.get(trial.trial_id, (0, None))
        self._emit("trial_started", trial_id=trial.trial_id, attempt=trial.attempts + 1, node_id=node_id,
                   worker=worker, pid=pid, resources=self.shape.resources(), from_step=step)
        return Assignment(
            trial_id=trial.trial_id, config=trial.config, attempt=trial.attempts,
            seed=trial_seed(self.cfg.seed, trial.trial_id), experiment_seed=self.cfg.seed,
            task=self._task, space=self.space, metric=self.cfg.metric.name,
            epochs=self.cfg.task.epochs, from_step=step, checkpoint=ckpt, send_checkpoints=self.send_checkpoints)

    def _check_budget(self) -> None:
        """Stop everything once the time or energy budget is spent (the trial budget only stops new trials)."""
        if self.state.stopping is None:
            reason = self.budget.exhausted(elapsed_s=self.clock() - self.t0, energy_j=self._total_j())
            if reason is not None:
                kind, limit, value = reason
                self._emit("budget_exhausted", kind=kind, limit=limit, value=value)

    def _pick(self) -> Optional[TrialState]:
        self._check_budget()
        st = self.state
        while st.queue:
            t = st.trials[st.queue.popleft()]
            if t.status is TrialStatus.PENDING:
                return t
        if st.stopping is None and self.promotes:
            promoted = self._promote()
            if promoted is not None:
                return promoted
        if st.stopping is not None or st.exhausted:
            return None
        cap = self.cfg.budget.max_trials
        if cap is not None and len(st) >= cap:
            self._emit("budget_exhausted", kind="trials", limit=cap, value=len(st))
            return None
        tid = st.next_id()
        config = self.sampler.suggest(tid)
        if config is None:
            st.exhausted = True
            return None
        self._emit("trial_created", trial_id=tid, config=config)
        return st.trials[tid]

    def _promote(self) -> Optional[TrialState]:
        """Promotion ASHA: the paused trial the pruner promotes (its reason logged), or None."""
        paused = [t for t in self.state.trials.values() if t.status is TrialStatus.PAUSED]
        if not paused:
            return None
        p = self.pruner.next_promotion(joules={t.trial_id: self._trial_j(t.trial_id) for t in paused})
        if p is None:
            return None
        t = self.state.trials[p.trial_id]
        self._emit("trial_promoted", trial_id=t.trial_id, step=t.steps, reason=p.reason.to_dict())
        self.state.queue.remove(t.trial_id)
        return t

    def _when_nothing_to_start(self) -> Optional[Wait]:
        """None when the run is done. Paused trials that no promotion can reach any more (nothing runs, and
        nothing new starts) end as pruned, with the pruner's reason; while trials run, a free worker waits."""
        st = self.state
        paused = [t for t in st.trials.values() if t.status is TrialStatus.PAUSED]
        if not paused:
            return None
        if st.running() and st.stopping is None:
            return Wait()
        for t in sorted(paused, key=lambda t: t.trial_id):
            d = self.pruner.stop_paused(t.trial_id) if t.trial_id in self.pruner.paused() else None
            reason = d.reason.to_dict() if d is not None else {"rule": "budget", "progress": float(t.steps),
                                                                "detail": "stopped while paused: the run stops"}
            self._emit("decision", trial_id=t.trial_id, step=t.steps, action="stop", reason=reason)
            self._emit("trial_completed", trial_id=t.trial_id, status="pruned", steps=t.steps,
                       final_metric=t.last_value, best_metric=t.best_value, duration_s=t.duration_s or 0.0,
                       peak_rss_mb=t.peak_rss_mb or None)
        return None

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
        effect = self._emit("report", trial_id=trial_id, step=step, metrics=metrics, elapsed_s=elapsed_s,
                            energy_j=energy_j if self.ledger.n_samples > 0 else None, progress=progress)
        pruned = (self.pruner.report(trial_id, effect.progress, effect.value)
                  if isinstance(effect, Judge) else None)
        decision = decide(pruned, progress=progress, unit=self.unit, value=float(value), step=step,
                          epochs=self.cfg.task.epochs, stopping=self.state.stopping)
        self._emit("decision", trial_id=trial_id, step=step, action=decision.action.label,
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
        if f.status == "paused":
            self._emit("trial_paused", trial_id=t.trial_id, step=t.steps)
            return
        status = "completed" if f.status == "completed" else "pruned"
        was_best = self.state.best()
        ckpt = self.checkpoints.get(t.trial_id, (0, None))[1]
        now = self.clock()
        self._emit("trial_completed", trial_id=t.trial_id, status=status, steps=t.steps, final_metric=t.last_value,
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
            self._emit("warning", code="late_failure",
                       message=f"trial {trial_id} failed after its last report ({error}); it ends {decided}")
            self._finish(Finished(trial_id, decided))
            return
        final = not retry or t.failures + 1 > self.cfg.max_failures or stopping is not None
        self.last_error = error
        self._emit("trial_failed", trial_id=trial_id, attempt=t.attempts, error=error, cause=cause, final=final,
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
            self._record(s)
        self._check_budget()

    # ---- the end -----------------------------------------------------------------------------

    def interrupt(self, reason: str) -> None:
        """No new trial starts; running ones are told to stop at their next report."""
        self._emit("warning", code="interrupted", message=reason)

    def idle(self) -> bool:
        """True when nothing runs and nothing more will be handed out."""
        st = self.state
        no_more = st.stopping is not None or st.exhausted
        waiting = any(st.trials[i].status is TrialStatus.PENDING for i in st.queue)
        paused = self.promotes and any(t.status is TrialStatus.PAUSED for t in st.trials.values())
        return no_more and not waiting and not paused and not st.running()

    def best_trial(self) -> Optional[BestTrial]:
        """The best completed trial, whose model the final test evaluates; None when none completed."""
        t = self.state.best()
        if t is None or t.status is not TrialStatus.COMPLETED:
            return None
        return BestTrial(trial_id=t.trial_id, config=t.config, val_metric=t.last_value,
                         seed=trial_seed(self.cfg.seed, t.trial_id), experiment_seed=self.cfg.seed,
                         task=self.cfg.task.model_dump(), space=self.space, checkpoint=self.best_state)

    def record_test(self, trial_id: int, metrics: dict[str, float]) -> None:
        self._emit("test_result", trial_id=trial_id, metrics=metrics)

    def end(self, status: str, reason: str = "") -> None:
        self._settle({}, all_=True)  # the last samples are in: whatever still waits is as final as it gets
        self._emit("experiment_end", status=status, reason=reason)
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
        `ASSIGNMENT_WIRE` fields, a float of seconds to wait before asking again, or None): plain values that
        Ray sends without pickling. The fields an assignment shares with every other of the experiment (task,
        space, ...) are not sent again; the worker has them from its first assignment. Every event reaches the
        OS once, before the answer: one flush.
        """
        held = getattr(self.log, "held", None)
        with held() if held is not None else contextlib.nullcontext():
            action, step = Action.CONTINUE, None
            for step, metrics, elapsed_s, checkpoint in reports:
                action = self.report(trial_id, step, metrics, elapsed_s, checkpoint, rss_mb)
                if action is not Action.CONTINUE:  # a stop or a pause: what was trained after it is dropped
                    break
            last = step is not None and step >= self.cfg.task.epochs
            ended = action is not Action.CONTINUE or last
            if not ended or worker is None:
                return int(action), ended, None
            status = "completed" if last else "paused" if action is Action.PAUSE else "pruned"
            nxt = self.next_trial(worker, node_id, pid, Finished(trial_id, status, rss_mb))
            if isinstance(nxt, Wait):  # nothing to start now, but paused trials may be promoted: ask again later
                return int(action), True, float(nxt.seconds)
            return int(action), True, None if nxt is None else tuple(getattr(nxt, f) for f in ASSIGNMENT_WIRE)
