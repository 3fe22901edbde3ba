"""The driver: connect to Ray, start the actors, watch them, and write the run's outputs.

Trial actors pull work from the scheduler themselves; the driver only replaces dead workers, replaces a dead
scheduler from the log (up to max_failures times), keeps an energy actor on every node, shows progress, and
finishes the run.
"""

from __future__ import annotations

import os
import socket
import time
import uuid
from dataclasses import dataclass
from typing import Any, Optional

from rich.console import Console

from raybench.config import ExperimentConfig
from raybench.core.records import WorkerShape
from raybench.events import EVENTS_FILE
from raybench.runtime import _cluster as cl
from raybench.runtime import _local_ray
from raybench.runtime._autoscaler import InfeasibleWatch
from raybench.runtime._console import quiet_worker_deaths
from raybench.runtime._energy_fleet import EnergyFleet, energy_run_id
from raybench.runtime._energy_fleet import short as _short
from raybench.runtime._environment import environment
from raybench.runtime._ownership import process_started, wait_for_lock
from raybench.runtime._progress import ProgressDisplay


@dataclass
class RunOptions:
    run_dir: str
    address: Optional[str] = None
    resume: bool = False
    progress: bool = True
    num_cpus: Optional[int] = None


class Driver:
    def __init__(self, cfg: ExperimentConfig, opts: RunOptions, console: Console) -> None:
        self.cfg = cfg
        self.opts = opts
        self.console = console
        self.run_id = uuid.uuid4().hex[:8]
        self.events_path = os.path.join(opts.run_dir, EVENTS_FILE)
        self.shape = WorkerShape.of(cfg.workers)
        self.workers: dict[Any, tuple[int, Any]] = {}  # run ref -> (slot, actor)
        self.fleet: Optional[EnergyFleet] = None
        self.scheduler = None
        self._actors: list[Any] = []  # everything this generation started, killed at its end
        self._spare = None  # a trial actor whose work is done, reused for the final test
        self.autoscaling = False  # whether nodes may join: then no node fitting a worker is no dead end
        self.restarts = 0  # scheduler actors that died and were replaced from the log
        self._infeasible: Optional[InfeasibleWatch] = None

    def say(self, text: str) -> None:
        self.console.print(text, soft_wrap=True)  # one line, however narrow the console

    # ---- set-up ------------------------------------------------------------------------------

    def run(self) -> dict[str, Any]:
        from raybench.events import EventLog

        if self.opts.resume:
            if cl.starts_local(self.opts.address):
                _local_ray.clean_up_dead_drivers(self.say)  # a killed local run's orphans hold the log
            # Here, not in the scheduler actor, so that a log still locked by another writer or not readable is
            # a one-line error instead of a dead actor; it also moves a torn tail aside.
            wait_for_lock(lambda: EventLog.open(self.events_path, resume=True).close(), self.opts.run_dir,
                          say=lambda m: self.say(f"[yellow]resume:[/] {m}"))
        conn = cl.connect(self.opts.address, num_cpus=self.opts.num_cpus, say=self.say)  # it may set Ray's env
        quiet_worker_deaths()
        import ray

        nodes = cl.alive_nodes()
        req = self.shape
        requested = self.cfg.workers.count
        self.autoscaling = conn.autoscaling
        if conn.autoscaling:
            effective = requested
            self._infeasible = InfeasibleWatch().install()
        else:
            cl.check_feasible(nodes, req)
            effective = cl.effective_concurrency(nodes, req, requested)
            if effective < requested:
                self.say(f"[yellow]note:[/] the cluster fits {effective} of the {requested} requested workers "
                         f"({req.describe()} each); running {effective} at a time")
        resume, measured = self.opts.resume, set()
        try:
            while True:
                try:
                    return self._generation(requested, effective, resume, measured)
                except ray.exceptions.RayActorError as e:
                    if not self._scheduler_dead():
                        raise
                    err = _short(e)
                measured = set(self.fleet.measured) if self.fleet is not None else measured
                self._teardown()
                self.restarts += 1
                if self.restarts > self.cfg.max_failures:
                    from raybench.errors import RaybenchError

                    again = f" again, past max_failures = {self.cfg.max_failures} restarts" if self.restarts > 1 else ""
                    raise RaybenchError(
                        f"the scheduler actor died{again} ({err}); the event log holds everything up to "
                        f"then: continue with `raybench run --resume {self.opts.run_dir}`") from None
                self.say(f"[yellow]scheduler:[/] its actor died ({err}); starting a new one from the event log "
                         f"({self.restarts} of at most {self.cfg.max_failures} restarts)")
                self._await_log_released()
                resume, self.run_id = True, uuid.uuid4().hex[:8]  # new names for the new energy actors
        finally:
            self._teardown()
            if self._infeasible is not None:
                self._infeasible.remove()

    def _generation(self, requested: int, effective: int, resume: bool, measured: set[str]) -> dict[str, Any]:
        """One scheduler actor's life: start it (folding the log when resuming), run, and finish."""
        import ray

        self._start_scheduler(requested, effective, resume)
        self.fleet = EnergyFleet(self.cfg, self.run_id, self.scheduler, self.say, measured=measured,
                                 gaps=bool(measured))
        self.fleet.start(cl.alive_nodes())
        self._start_workers(effective, check_memory=self.restarts == 0)
        status = "completed"
        try:
            self._watch()
        except KeyboardInterrupt:
            status = "interrupted"
            self.say("[yellow]interrupted:[/] stopping trials at their next report (Ctrl-C again to abort)")
            ray.get(self.scheduler.interrupt.remote("interrupted by the user (SIGINT)"))
            self._watch()
        st = ray.get(self.scheduler.status.remote())
        if status == "completed" and st["stopping"] not in (None, "interrupt"):
            status = "budget"
        self._final_test()
        self.fleet.stop()
        ray.get(self.scheduler.end.remote(status, st["stopping"] or ""))
        return st

    def _scheduler_dead(self) -> bool:
        import ray

        if self.scheduler is None:
            return False
        try:
            ray.get(self.scheduler.idle.remote(), timeout=30)
            return False
        except ray.exceptions.RayActorError:
            return True
        except ray.exceptions.GetTimeoutError:
            return False

    def _teardown(self) -> None:
        """Free every actor of this generation now, not whenever Ray collects the handles."""
        import ray

        if self.fleet is not None:
            self.fleet.kill()
        for actor in self._actors:
            ray.kill(actor)
        self._actors, self.workers, self._spare = [], {}, None

    def _await_log_released(self, timeout_s: float = 30.0) -> None:
        """The dead scheduler's process releases the log's lock as it exits; a new one can open it then."""
        from raybench.errors import RunDirError
        from raybench.events import EventLog

        deadline = time.monotonic() + timeout_s
        while True:
            try:
                EventLog.open(self.events_path, resume=True).close()
                return
            except RunDirError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    def _start_scheduler(self, requested: int, effective: int, resume: bool) -> None:
        import ray
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        from raybench.runtime.actors import SchedulerActor

        here = ray.get_runtime_context().get_node_id()
        me = os.getpid()
        # The log lives in the driver's run directory, so the scheduler that writes it lives on this node; it
        # watches this process and stops writing if it dies (runtime/_ownership.py).
        self.scheduler = SchedulerActor.options(
            scheduling_strategy=NodeAffinitySchedulingStrategy(here, soft=False),
        ).remote(self.cfg, os.path.abspath(self.opts.run_dir), resume=resume, driver_pid=me,
                 driver_started=process_started(me), driver_host=socket.gethostname(), restarted=self.restarts > 0)
        self._actors.append(self.scheduler)
        ray.get(self.scheduler.start.remote(run_id=self.run_id, env=environment(), requested=requested,
                                            effective=effective, resumed=resume))

    def _start_workers(self, count: int, *, check_memory: bool) -> None:
        actors = [self._new_actor(slot) for slot in range(count)]
        if check_memory and not self.autoscaling:
            self._check_idle_memory(actors)
        for slot, actor in enumerate(actors):
            self.workers[actor.run.remote(self.scheduler)] = (slot, actor)

    def _new_actor(self, slot: int):
        from raybench.runtime.actors import TrialActor

        actor = TrialActor.options(**self.shape.ray_options(), scheduling_strategy="SPREAD").remote(
            slot, self.shape, run_id=energy_run_id(self.cfg, self.run_id))
        self._actors.append(actor)
        return actor

    def _spawn(self, slot: int) -> None:
        actor = self._new_actor(slot)
        self.workers[actor.run.remote(self.scheduler)] = (slot, actor)

    def _check_idle_memory(self, actors: list[Any]) -> None:
        """Warn, before any trial starts, when an idle trial actor already holds more than workers.memory_mb."""
        import ray

        limit = self.shape.memory_limit_mb
        if limit is None or not actors:
            return
        # The first actor to answer is enough: they are all one shape. Waiting for every one would stall the
        # start by a minute whenever one cannot be placed (a node that died but is not yet marked dead).
        refs = [a.idle_rss_mb.remote() for a in actors]
        ready, _ = ray.wait(refs, num_returns=1, timeout=60)
        try:
            idle = max(ray.get(ready), default=0.0)
        except ray.exceptions.RayError:
            return  # an actor that cannot start is the watch's business
        if idle >= limit:
            self.say(f"[yellow]warning:[/] workers.memory_mb = {limit:.0f} but an idle trial actor already holds "
                     f"{idle:.0f} MB, so its trials would fail at the memory limit; set workers.memory_mb to at "
                     f"least {int(idle + 256)} (or workers.enforce_memory: false)")

    # ---- watching --------------------------------------------------------------------------

    def _watch(self) -> None:
        import ray

        req = self.shape
        last_nodes = time.time()
        nodes = cl.alive_nodes()
        idle_since: Optional[float] = None
        stranded_since: Optional[float] = None  # since when no alive node fits a worker (fixed clusters)
        with ProgressDisplay(self.console, enabled=self.opts.progress) as progress:
            while self.workers:
                ready, _ = ray.wait(list(self.workers), num_returns=1, timeout=0.5)
                for ref in ready:
                    slot, actor = self.workers.pop(ref)
                    try:
                        ray.get(ref)
                        if self._spare is None:
                            self._spare = actor  # kept for the final test: no new process to start
                        else:
                            ray.kill(actor)  # its work is done: free its resources
                    except (ray.exceptions.RayActorError, ray.exceptions.WorkerCrashedError,
                            ray.exceptions.NodeDiedError) as e:
                        # "Unavailable" may be a live actor out of reach: make sure it can never come back and
                        # report for a trial that its replacement is running.
                        ray.kill(actor)
                        cause = "node_lost" if isinstance(e, ray.exceptions.NodeDiedError) else "actor_died"
                        alive = [n.node_id for n in cl.alive_nodes()]
                        ray.get(self.scheduler.worker_lost.remote(slot, _short(e), cause, alive))
                        if not ray.get(self.scheduler.idle.remote()):
                            self._spawn(slot)
                st = ray.get(self.scheduler.status.remote())
                for note in st.get("notices") or ():
                    progress.note(note)
                progress.update(st)
                idle_since = (idle_since or time.time()) if st["idle"] else None
                if idle_since is not None and time.time() - idle_since > 5:
                    # Nothing runs or waits, yet workers remain: replacements that no node can place any more
                    # (their node was lost). They would only be told "done"; stop waiting for them.
                    for _, actor in self.workers.values():
                        ray.kill(actor)
                    self.workers.clear()
                if self._infeasible is not None:
                    self._infeasible.check(req)
                assert self.fleet is not None
                self.fleet.check(nodes)  # cheap: answers already there; a dead energy actor is replaced at once
                if time.time() - last_nodes > 2:
                    last_nodes = time.time()
                    nodes = cl.alive_nodes()
                    fits = self.autoscaling or any(cl.slots_on(n, req) for n in nodes)
                    stranded_since = None if fits else stranded_since or time.time()
                    if stranded_since is not None and time.time() - stranded_since > 10:
                        from raybench.errors import ResourceError

                        raise ResourceError(
                            f"no node left in the cluster can hold a worker ({req.describe()}): the nodes that "
                            "could have left; "
                            f"add one and continue with `raybench run --resume {self.opts.run_dir}`")

    # ---- the end -----------------------------------------------------------------------------

    def _final_test(self) -> None:
        import ray

        best = ray.get(self.scheduler.best_trial.remote())
        if best is None:
            return
        actor, self._spare = self._spare, None
        for last_try in (False, True):
            actor = actor or self._test_actor()
            try:
                metrics = ray.get(actor.final_test.remote(best))
                ray.get(self.scheduler.record_test.remote(best.trial_id, metrics))
                return
            except ray.exceptions.RayActorError as e:  # the actor died, not the test: once more, on a new one
                if e.actor_id == self.scheduler._actor_id.hex():
                    raise
                if last_try:
                    self._test_failed(e)
            except ray.exceptions.RayError as e:
                self._test_failed(e)
                return
            finally:
                ray.kill(actor)
            actor = None

    def _test_actor(self):
        from raybench.runtime.actors import TrialActor

        # The same shape as a trial's (TPU and memory included); only the memory watchdog is off, since the
        # final test is not a trial the limit could fail.
        actor = TrialActor.options(**self.shape.ray_options()).remote(
            -1, self.shape, run_id=energy_run_id(self.cfg, self.run_id), memory_limit=False)
        self._actors.append(actor)
        return actor

    def _test_failed(self, e: BaseException) -> None:
        self.scheduler.emit_event.remote({"event": "warning", "t": time.time(), "code": "test_failed",
                                          "message": f"the best configuration's test failed: {_short(e)}"})
