"""The scheduler actor's body: the scheduler core writing the run directory.

Everything it decides is in raybench.core.scheduler, which runs without Ray; this adds what a live run has
and a replay has not: RUN_DIR/events.msgpack, opened (and, on resume, folded) here; the running trials'
checkpoint files (runtime/_checkpoints.py); the writer record and the watch on the driver
(runtime/_ownership.py); and the estimate of an energy gap left by a dead energy actor.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping
from typing import Any, Optional

from raybench.config import ExperimentConfig
from raybench.core.scheduler import SchedulerCore, trial_seed
from raybench.core.state import Effect, Ended, TrialStatus
from raybench.events import EVENTS_FILE, EventLog
from raybench.runtime._channel import ReportServer, node_ip, serialized
from raybench.runtime._checkpoints import QUICK_EPOCH_S, WRITE_DELAY_S, CheckpointStore
from raybench.runtime._gc import FullCollections
from raybench.runtime._ownership import DriverWatch, Writer
from raybench.search.decision import Action

__all__ = ["LiveScheduler", "trial_seed"]


@serialized  # the report channel's threads call it too: one call at a time
class LiveScheduler(SchedulerCore):
    def __init__(self, config: ExperimentConfig, run_dir: str, *, resume: bool = False,
                 driver_pid: Optional[int] = None, driver_started: Optional[float] = None,
                 driver_host: Optional[str] = None, restarted: bool = False) -> None:
        self.run_dir = run_dir
        self._who = "scheduler actor died" if restarted else "driver stopped"  # for the running trials' failure
        ck = config.checkpoints
        self.store = CheckpointStore(run_dir, fsync=ck.fsync) if ck.persist else None
        self._last_sample: dict[str, Mapping[str, Any]] = {}  # node -> its latest energy_sample
        self._notices: list[str] = []  # one-liners for the driver's console, drained by status()
        self._epoch_end: dict[int, float] = {}  # running trial -> elapsed_s of its last report (epoch lengths)
        self._server: Optional[ReportServer] = None
        self._no_channel = config.workers.report_channel != "socket"
        self._unreachable: set[Optional[str]] = set()  # nodes said to be unable to reach the channel
        self._collections = FullCollections().install()  # full collections walk only what is new (runtime/_gc.py)
        log = EventLog.open(os.path.join(run_dir, EVENTS_FILE), resume=resume)
        Writer.here(driver_pid, driver_started, driver_host).save(run_dir)
        super().__init__(config, log, prior=log.recovered.events if resume else ())
        self.resumed_from: dict[int, int] = {}
        if self.store is not None:
            self.send_checkpoints = True  # persisted checkpoints need them even without retries
            self._load_checkpoints()
        self._watch = None
        # Only where the driver's process can be seen (a Ray Client driver runs on another machine).
        if driver_pid is not None and driver_host in (None, socket.gethostname()):
            self._watch = DriverWatch(driver_pid, driver_started, self._driver_gone)
            self._watch.start()

    # ---- the orphan rule -------------------------------------------------------------------------

    def _driver_gone(self) -> None:
        """The driver died: stop writing (between two events, under the log's lock) and end this process,
        which fails the old run's trial actors' next call, so none of them can write either."""
        try:
            if self.store is not None:
                self.store.flush(timeout=0.1)  # the checkpoints of reports already logged, if they come at once
            self.log.close()
        finally:
            os._exit(0)

    # ---- the report channel ----------------------------------------------------------------------

    def channel(self) -> Optional[tuple[str, int, bytes]]:
        """Where trial actors send their reports: (host, port, secret) of the report channel
        (runtime/_channel.py), started at the first ask; None: by Ray calls (workers.report_channel: ray, or
        no socket could be opened here)."""
        if self._no_channel:
            return None
        if self._server is None:
            try:
                self._server = ReportServer(self, node_ip())
            except OSError as e:
                self._no_channel = True
                self._emit("warning", code="report_channel",
                           message=f"the scheduler could not open its report channel ({e.strerror or e}); trial "
                                   "actors report through Ray calls, which cost more CPU a report")
                return None
        return (*self._server.address, self._server.secret)

    def channel_stats(self) -> dict[str, int]:
        """Connections the report channel accepted and calls it answered (zeros without a channel)."""
        srv = self._server
        return {"connections": srv.connections, "calls": srv.calls} if srv else {"connections": 0, "calls": 0}

    def channel_failed(self, worker: int, node_id: Optional[str], why: str) -> None:
        """A trial actor could not reach the report channel: it reports through Ray calls (said once a node)."""
        if node_id not in self._unreachable:
            self._unreachable.add(node_id)
            self._emit("warning", code="report_channel", node_id=node_id,
                       message=f"worker {worker} on node {str(node_id)[:8]} cannot reach the scheduler's report "
                               f"channel ({why}); its node's trial actors report through Ray calls, at more CPU a "
                               "report. Open the port between the nodes, or set workers.report_channel: ray")

    # ---- checkpoints -----------------------------------------------------------------------------

    def _load_checkpoints(self) -> None:
        """Give each trial queued to run again its checkpoint file; drop the files of ended trials."""
        assert self.store is not None
        self.store.drop_partial()
        for tid in self.store.trial_ids():
            t = self.state.trials.get(tid)
            if t is None or t.status is not TrialStatus.PENDING:
                self.store.delete(tid)
                continue
            loaded = self.store.load(tid)
            if loaded is not None and loaded[0] < self.cfg.task.epochs:
                self.checkpoints[tid] = loaded
                self.resumed_from[tid] = loaded[0]

    def lost_note(self, trial_id: int) -> str:
        step = self.checkpoints.get(trial_id, (0, None))[0]
        then = f"continues after epoch {step} from its checkpoint" if step else "runs again from its first epoch"
        return f"the {self._who} while this trial ran; it {then}"

    def _feed(self, event: Mapping[str, Any]) -> Effect:
        if event.get("event") == "energy_sample":
            self._last_sample[str(event.get("node_id", ""))] = event
        effect = super()._feed(event)
        if isinstance(effect, Ended):
            self._collections.settle()
            self._epoch_end.pop(effect.trial_id, None)
            if getattr(self, "store", None) is not None:
                self.store.delete(effect.trial_id)
        return effect

    def report(self, trial_id: int, step: int, metrics: dict[str, float], elapsed_s: float,
               checkpoint: Optional[dict] = None, rss_mb: Optional[float] = None) -> Action:
        action = super().report(trial_id, step, metrics, elapsed_s, checkpoint, rss_mb)
        before = self._epoch_end.pop(trial_id, 0.0)
        epoch_s = elapsed_s - before if elapsed_s >= before else elapsed_s  # a new attempt counts from 0
        if action is Action.CONTINUE:  # else the trial ends or pauses here: nothing to remember
            self._epoch_end[trial_id] = elapsed_s
        # Written after the report is logged, so a checkpoint is never ahead of the log. The last epoch's and
        # a stopped trial's are not kept: the trial ends at its worker's next call. A short epoch's waits a
        # little, in case its trial ends first (runtime/_checkpoints.py).
        if (self.store is not None and checkpoint is not None and action is Action.CONTINUE
                and step < self.cfg.task.epochs and self.checkpoints.get(trial_id, (0, None))[1] is checkpoint):
            self.store.save(trial_id, step, checkpoint, delay_s=WRITE_DELAY_S if epoch_s < QUICK_EPOCH_S else 0.0)
        err = self.store.take_error() if self.store is not None else None
        if err is not None:  # the writer thread's; the run goes on, with older checkpoints on disk
            self._emit("warning", code="checkpoint_write",
                       message=f"a checkpoint file could not be written ({type(err).__name__}: {err}); after a "
                               "crash, running trials continue from an older checkpoint or epoch 1; check free space")
        return action

    def end(self, status: str, reason: str = "") -> None:
        if self.store is not None:
            self.store.flush(timeout=30)  # the last checkpoints' fsyncs, before the log says the run ended
        super().end(status, reason)
        self._collections.remove()
        if self._server is not None:
            self._server.close()  # no new connections; open ones end with the process

    # ---- the console ---------------------------------------------------------------------------

    def memory_exceeded(self, trial_id: int, rss_mb: float) -> None:
        super().memory_exceeded(trial_id, rss_mb)
        self._notices.append(f"trial {trial_id} failed: it used {rss_mb:.0f} MB, over workers.memory_mb = "
                             f"{self.cfg.workers.memory_mb}; raise workers.memory_mb or shrink the model")

    def status(self) -> dict[str, Any]:
        st = super().status()
        st["notices"], self._notices = self._notices, []
        return st

    # ---- energy gaps -----------------------------------------------------------------------------

    def energy_gap(self, node_id: str, t1: float, reason: str) -> Optional[float]:
        """A node's energy actor died and a new one measures from `t1`: estimate the interval since the dead
        actor's last sample from that sample's power, as an `estimated` energy_sample with a `gap`, plus
        an `energy_gap` warning. Returns the seconds estimated (None without an earlier sample)."""
        from raybench.energy._monitor import GAP_RANGE

        last = self._last_sample.get(str(node_id))
        if last is None:
            return None
        t0 = float(last["t1"])
        dt, last_dt = t1 - t0, float(last["t1"]) - float(last["t0"])
        if dt <= 0 or last_dt <= 0:
            return None
        energy, prov = {}, {}
        for d, j in (last.get("energy_j") or {}).items():
            was = (last.get("provenance") or {}).get(d, "none")
            energy[d] = float(j or 0.0) / last_dt * dt if was != "none" else 0.0
            prov[d] = "estimated" if was != "none" else "none"
        domains = [d for d, p in prov.items() if p == "estimated"]
        gpu_j = {i: float(j or 0.0) / last_dt * dt for i, j in (last.get("gpu_j") or {}).items()}
        self._emit("energy_sample", node_id=node_id, t0=t0, t1=t1, energy_j=energy, provenance=prov,
                   node_cpu_s=0.0, node_resources=dict(last.get("node_resources") or {}), trial_cpu_s={},
                   trial_gpu_j={}, gpu_j=gpu_j, reserved={}, held_s={}, gap={"domains": domains, "error": reason},
                   estimate_range={d: list(GAP_RANGE) for d in domains})
        self._emit("warning", code="energy_gap", node_id=node_id, t0=t0, t1=t1,
                   message=f"node {str(node_id)[:8]}: no energy measured for {dt:.1f} s ({reason}); estimated from "
                           "the previous interval's power, unattributed, and a new energy actor started")
        return dt

    def checkpoint_stats(self) -> dict[str, Any]:
        s = self.store
        return {"writes": s.writes, "bytes": s.bytes_written} if s is not None else {"writes": 0, "bytes": 0}
