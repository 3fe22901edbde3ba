"""The driver: connect to Ray, start the actors, watch them, and write the run's outputs.

Trial actors pull work from the scheduler themselves; the driver only replaces dead workers,
starts energy actors on nodes that join, shows progress, and finishes the run.
"""

from __future__ import annotations

import os
import platform
import socket
import subprocess
import time
import uuid
from dataclasses import dataclass
from typing import Any, Optional

from rich.console import Console

from raybench.config import ExperimentConfig
from raybench.core.records import WorkerShape
from raybench.events import EVENTS_FILE
from raybench.runtime import _cluster as cl
from raybench.runtime._progress import ProgressDisplay


@dataclass
class RunOptions:
    run_dir: str
    address: Optional[str] = None
    resume: bool = False
    progress: bool = True
    num_cpus: Optional[int] = None


def environment() -> dict[str, Any]:
    """What the run ran on: versions, host and git revision."""
    from importlib.metadata import PackageNotFoundError, version

    import raybench

    def v(name: str) -> Optional[str]:
        try:
            return version(name)  # not `import torch`: that alone costs a second
        except PackageNotFoundError:
            return None

    try:
        git = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5,
                             cwd=os.path.dirname(os.path.abspath(raybench.__file__))).stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        git = None
    return {"python": platform.python_version(), "platform": platform.platform(), "host": socket.gethostname(),
            "raybench": raybench.__version__, "ray": v("ray"), "torch": v("torch"), "numpy": v("numpy"),
            "git": git}


class Driver:
    def __init__(self, cfg: ExperimentConfig, opts: RunOptions, console: Console) -> None:
        self.cfg = cfg
        self.opts = opts
        self.console = console
        self.run_id = uuid.uuid4().hex[:8]
        self.events_path = os.path.join(opts.run_dir, EVENTS_FILE)
        self.shape = WorkerShape.of(cfg.workers)
        self.workers: dict[Any, tuple[int, Any]] = {}  # run ref -> (slot, actor)
        self.energy: dict[str, Any] = {}               # node id -> energy actor
        self.scheduler = None
        self._actors: list[Any] = []  # everything this run started, killed at the end
        self._spare = None  # a trial actor whose work is done, reused for the final test
        self.autoscaling = False  # whether nodes may join: then no node fitting a worker is no dead end

    # ---- set-up ------------------------------------------------------------------------------

    def run(self) -> dict[str, Any]:
        if self.opts.resume:
            from raybench.events import EventLog

            # Here, not in the scheduler actor, so that a log still locked by another writer or not readable is
            # a one-line error instead of a dead actor; it also moves a torn tail aside.
            EventLog.open(self.events_path, resume=True).close()
        conn = cl.connect(self.opts.address, num_cpus=self.opts.num_cpus)  # first: it may set Ray's env
        import ray

        nodes = cl.alive_nodes()
        req = self.shape
        requested = self.cfg.workers.count
        self.autoscaling = conn.autoscaling
        if conn.autoscaling:
            effective = requested
        else:
            cl.check_feasible(nodes, req)
            effective = cl.effective_concurrency(nodes, req, requested)
            if effective < requested:
                self.console.print(
                    f"[yellow]note:[/] the cluster fits {effective} of the {requested} requested workers "
                    f"({req.describe()} each); running {effective} at a time")
        try:
            self._start_scheduler(requested, effective)
            self._start_energy(nodes)
            self._start_workers(effective)
            status = "completed"
            try:
                self._watch()
            except KeyboardInterrupt:
                status = "interrupted"
                self.console.print("[yellow]interrupted:[/] stopping trials at their next report "
                                   "(Ctrl-C again to abort)")
                ray.get(self.scheduler.interrupt.remote("interrupted by the user (SIGINT)"))
                self._watch()
            st = ray.get(self.scheduler.status.remote())
            if status == "completed" and st["stopping"] not in (None, "interrupt"):
                status = "budget"
            self._final_test()
            self._stop_energy()
            ray.get(self.scheduler.end.remote(status, st["stopping"] or ""))
            return st
        except ray.exceptions.RayActorError as e:
            if self.scheduler is None or e.actor_id != self.scheduler._actor_id.hex():
                raise
            from raybench.errors import RaybenchError

            raise RaybenchError(f"the scheduler actor died ({_short(e)}); the event log holds everything up to "
                                f"then: continue with `raybench run --resume {self.opts.run_dir}`") from None
        finally:
            for actor in self._actors:  # free their resources now, not whenever Ray collects the handles
                ray.kill(actor)

    def _start_scheduler(self, requested: int, effective: int) -> None:
        import ray
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        from raybench.runtime.actors import SchedulerActor

        here = ray.get_runtime_context().get_node_id()
        # The log lives in the driver's run directory, so the scheduler that writes it lives on this node.
        self.scheduler = SchedulerActor.options(
            scheduling_strategy=NodeAffinitySchedulingStrategy(here, soft=False),
        ).remote(self.cfg, os.path.abspath(self.opts.run_dir), resume=self.opts.resume)
        self._actors.append(self.scheduler)
        ray.get(self.scheduler.start.remote(run_id=self.run_id, env=environment(), requested=requested,
                                            effective=effective, resumed=self.opts.resume))

    def _start_energy(self, nodes: list[cl.NodeShape]) -> None:
        import ray

        new = [n for n in nodes if n.node_id not in self.energy]
        if not new or (self.cfg.energy.backend == "none" and self.cfg.energy.gpu == "none"):
            return
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        from raybench.runtime.actors import EnergyActor, energy_actor_name

        for n in new:
            self.energy[n.node_id] = EnergyActor.options(
                name=energy_actor_name(self.run_id, n.node_id), lifetime=None,
                scheduling_strategy=NodeAffinitySchedulingStrategy(n.node_id, soft=False),
            ).remote(n.node_id, n.host, self.cfg.energy.model_dump(), n.to_dict())
            self._actors.append(self.energy[n.node_id])
        # Baselines are measured in parallel, before any trial of these nodes starts where possible.
        refs = [self.energy[n.node_id].baseline.remote() for n in new]
        started = []
        for n, ref in zip(new, refs):
            try:
                evs = ray.get(ref)
            except ray.exceptions.RayActorError as e:  # the node left while its baseline was measured
                self.scheduler.emit_event.remote({"event": "warning", "t": time.time(), "code": "energy_lost",
                                                  "message": f"node {n.host} ({n.node_id[:8]}): no energy "
                                                             f"measured, its energy actor died: {_short(e)}"})
                continue
            if evs and "error" in evs[0]:
                from raybench.errors import HardwareError

                raise HardwareError(evs[0]["error"])
            for ev in evs:
                if ev.get("event") == "warning":
                    self.console.print(f"[yellow]energy:[/] {ev['message']}")
                self.scheduler.emit_event.remote(ev)
            started.append(self.energy[n.node_id].start.remote(self.scheduler))
        # Waited for: the energy actor is threaded, so a stop() sent later could otherwise overtake its start().
        for ref in started:
            try:
                ray.get(ref)
            except ray.exceptions.RayActorError:
                pass  # its node left already: _stop_energy says so

    def _start_workers(self, count: int) -> None:
        for slot in range(count):
            self._spawn(slot)

    def _spawn(self, slot: int) -> None:
        from raybench.runtime.actors import TrialActor

        actor = TrialActor.options(**self.shape.ray_options(), scheduling_strategy="SPREAD").remote(
            slot, self.shape, run_id=self._energy_run_id())
        self._actors.append(actor)
        self.workers[actor.run.remote(self.scheduler)] = (slot, actor)

    # ---- watching --------------------------------------------------------------------------

    def _watch(self) -> None:
        import ray

        req = self.shape
        last_nodes = time.time()
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
                progress.update(st)
                idle_since = (idle_since or time.time()) if st["idle"] else None
                if idle_since is not None and time.time() - idle_since > 5:
                    # Nothing runs or waits, yet workers remain: replacements that no node can place any more
                    # (their node was lost). They would only be told "done"; stop waiting for them.
                    for _, actor in self.workers.values():
                        ray.kill(actor)
                    self.workers.clear()
                if time.time() - last_nodes > 2:
                    last_nodes = time.time()
                    nodes = cl.alive_nodes()
                    self._start_energy(nodes)
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
        actor = TrialActor.options(**self.shape.ray_options()).remote(-1, self.shape, run_id=self._energy_run_id(),
                                                                      memory_limit=False)
        self._actors.append(actor)
        return actor

    def _energy_run_id(self) -> Optional[str]:
        """The run id by which trial actors find their node's energy actor, or None when nothing is measured."""
        on = self.cfg.energy.backend != "none" or self.cfg.energy.gpu != "none"
        return self.run_id if on else None

    def _test_failed(self, e: BaseException) -> None:
        self.scheduler.emit_event.remote({"event": "warning", "t": time.time(), "code": "test_failed",
                                          "message": f"the best configuration's test failed: {_short(e)}"})

    def _stop_energy(self) -> None:
        """Stop every energy actor and wait for its last sample; a node that died took its actor along."""
        import ray

        refs = {node: a.stop.remote() for node, a in self.energy.items()}
        deadline = time.time() + 30
        for node, ref in refs.items():
            try:
                ray.get(ref, timeout=max(0.1, deadline - time.time()))
            except (ray.exceptions.RayActorError, ray.exceptions.GetTimeoutError) as e:
                self.scheduler.emit_event.remote({"event": "warning", "t": time.time(), "code": "energy_lost",
                                                  "message": f"node {node[:8]}: its last energy interval is "
                                                             f"lost: {_short(e)}"})


def _short(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return f"{type(e).__name__}: {text[0] if text else ''}"[:300]
