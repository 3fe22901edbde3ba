"""What runs inside a trial actor: pull a trial from the scheduler, train it epoch by epoch, report, repeat.

One actor serves many trials, so the process start and the data loading are paid once per worker slot.
"""

from __future__ import annotations

import copy
import dataclasses
import os
import time
import traceback
from typing import Any, Optional

from raybench.core.records import Assignment, BestTrial, Finished, Wait, WorkerShape
from raybench.core.scheduler import ASSIGNMENT_WIRE
from raybench.runtime._channel import ChannelClosed, ReportClient, connect
from raybench.runtime._energy_node import (
    EnergyLink,
    Untrack,
    send_untrack,
    track_trial,
    trial_warm,
    untrack_later,
    untrack_trial,
)
from raybench.runtime._names import energy_actor_name
from raybench.runtime._watchdog import MemoryWatchdog


def one_line(exc: BaseException) -> str:
    """An exception as one line: its type, message and the innermost frame."""
    tb = traceback.extract_tb(exc.__traceback__)
    where = f" at {os.path.basename(tb[-1].filename)}:{tb[-1].lineno}" if tb else ""
    msg = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {msg}{where}"[:500]


class TrialWorker:
    """The body of a trial actor. `ray` handles are passed in; the training itself knows nothing of Ray."""

    def __init__(self, worker: int, shape: WorkerShape, *, run_id: Optional[str] = None,
                 memory_limit: bool = True) -> None:
        import ray

        self.worker = worker
        self.threads = shape.threads
        self.device = shape.device
        # What Ray reserved for this actor, as the energy actor splits idle power (TPUs draw no node power).
        self.reserved = {k: v for k, v in shape.resources().items() if k != "tpus"}
        # What the energy actor is told at each trial; Ray fixes CUDA_VISIBLE_DEVICES for the actor's life.
        self._tracked = {**self.reserved, "gpu_ids": _visible_gpus()}
        self.pid = os.getpid()
        self.node_id = ray.get_runtime_context().get_node_id()
        self.energy_actor_name = energy_actor_name(run_id, self.node_id) if run_id else None
        self._energy = None
        self._energy_failed = False  # a call to the energy actor failed: look it up again at the next trial
        self._untrack_due: Optional[Untrack] = None  # the last trial's untrack, sent with the next one's track
        self._trial_id: Optional[int] = None
        self._scheduler = None
        self._client: Optional[ReportClient] = None  # the report channel to the scheduler; None: Ray calls
        self._rtt_s = 0.0  # a moving average of a report's round trip, as this worker sees it
        self.watchdog = MemoryWatchdog(shape.memory_limit_mb if memory_limit else None, self._over_limit).start()

    def _over_limit(self, rss_mb: float) -> None:
        import ray

        if self._scheduler is not None and self._trial_id is not None:
            try:
                ray.get(self._scheduler.memory_exceeded.remote(self._trial_id, rss_mb), timeout=10)
            finally:
                os._exit(137)  # the trial's memory is the limit's business, not the node's OOM killer's

    def _energy_actor(self):
        import ray

        if self._energy is None and self.energy_actor_name:
            try:
                self._energy = EnergyLink(ray.get_actor(self.energy_actor_name))
            except ValueError:
                pass  # not started yet on this node (a node that just joined): look again at the next trial
        return self._energy

    def run(self, scheduler) -> int:
        """Serve trials until the scheduler has none left; return how many this worker ran."""
        self._scheduler = scheduler
        self._open_channel(scheduler)
        try:
            return self._serve(scheduler)
        finally:
            self._send_untrack()
            if self._client is not None:
                self._client.close()
                self._client = None

    def _open_channel(self, scheduler) -> None:
        """Connect to the scheduler's report channel; where it cannot be reached, report through Ray calls."""
        import ray

        if self._client is not None:
            self._client.close()
        self._client, why = connect(ray.get(scheduler.channel.remote()))
        if why is not None:
            scheduler.channel_failed.remote(self.worker, self.node_id, why)

    def _serve(self, scheduler) -> int:
        import ray

        done = 0
        first: Optional[Assignment] = None  # the template the handed-out wire fields fill in
        assignment = ray.get(scheduler.next_trial.remote(self.worker, self.node_id, self.pid, None))
        while assignment is not None:
            if isinstance(assignment, Wait):  # paused trials may be promoted once running ones reach a rung
                self._send_untrack()
                time.sleep(assignment.seconds)
                assignment = ray.get(scheduler.next_trial.remote(self.worker, self.node_id, self.pid, None))
                continue
            first = first or assignment
            handed, value = self._run_trial(scheduler, assignment)
            done += 1
            # The call that ended the trial usually brought the next one too (only the fields that differ from
            # trial to trial, or seconds to wait); else ask, saying how it ended.
            if not handed:
                self._send_untrack()
                assignment = ray.get(scheduler.next_trial.remote(self.worker, self.node_id, self.pid, value))
            elif isinstance(value, float):
                assignment = Wait(value)
            else:
                assignment = None if value is None else dataclasses.replace(first, **dict(zip(ASSIGNMENT_WIRE, value)))
        return done

    def _run_trial(self, scheduler, a: Assignment) -> tuple[bool, Any]:
        """Run one trial. Returns (True, the next assignment or None) when the scheduler ended the trial and
        handed out the next one in the same call, else (False, the Finished to tell it, or None)."""
        from raybench.workloads import build_workload

        tid = a.trial_id
        self._trial_id = tid
        self.watchdog.arm()
        energy = self._energy_actor()
        reserved = self._tracked
        after, self._untrack_due = self._untrack_due, None
        if energy is None and after is not None:
            send_untrack(after)
        # Acknowledged, with the last trial's untrack in the same call; a process's first trial starts in
        # "startup". A kept handle that fails (its actor died): look the node's newest energy actor up at once
        # and tell that one.
        if energy is not None and not track_trial(energy, tid, self.pid, reserved, after=after):
            self._energy_failed = True
            again = self._energy_actor()
            if again is not None and again is not energy:
                energy = again  # the last trial's untrack goes too: to its own actor first, if that is another
                self._energy_failed = not track_trial(energy, tid, self.pid, reserved, after=after)
            elif after is not None:
                send_untrack(after)
        t_start = time.time()
        held: list[tuple] = []  # a report trained but not yet sent (at most one)
        try:
            workload = build_workload(a.task, a.config, seed=a.seed, threads=self.threads,
                                      device=self.device, experiment_seed=a.experiment_seed, space=a.space)
            if a.checkpoint is not None:
                workload.load_state(a.checkpoint)
            if energy is not None:
                trial_warm(energy, tid, self.pid, reserved)  # the process's start-up (imports, data) ends here
            epochs = a.epochs
            for epoch in range(a.from_step + 1, epochs + 1):
                t_epoch = time.perf_counter()
                train = workload.train_epoch(epoch)
                metrics = {**train, **workload.evaluate()}
                last = epoch == epochs
                ckpt = workload.state() if (a.send_checkpoints or last) else None
                epoch_s = time.perf_counter() - t_epoch
                if not held and not last and epoch_s < self._rtt_s:
                    # An epoch is shorter than a round trip: train one more before asking, and send both
                    # reports in one call. A stop decided on this report then arrives one epoch late at most.
                    held.append((epoch, metrics, time.time() - t_start, copy.deepcopy(ckpt)))
                    continue
                batch = [*held, (epoch, metrics, time.time() - t_start, ckpt)]
                held = []
                _, ended, nxt = self._report(scheduler, tid, batch, handoff=True)
                if ended:
                    return True, nxt
            return False, Finished(tid, "completed", self.watchdog.peak_mb)  # a resumed trial past its epochs
        except Exception as exc:  # a trial's own error fails the trial, never the worker
            if held:  # what it trained before the error counts, as it would have unbatched
                try:
                    self._report(scheduler, tid, held, handoff=False)
                except Exception:
                    pass
            scheduler.trial_error.remote(tid, one_line(exc), "error")
            return False, None
        finally:
            self.watchdog.disarm()
            if energy is not None:  # numbered and stamped now, sent with the next trial's track or on its own
                self._untrack_due = untrack_later(energy, tid)
            self._trial_id = None

    def _send_untrack(self) -> None:
        """Send the last trial's untrack now: no trial follows at once (a wait, a hand-off not given, the end)."""
        due, self._untrack_due = self._untrack_due, None
        if due is not None and not send_untrack(due):
            self._energy_failed = True

    def _report(self, scheduler, tid: int, reports: list[tuple], *, handoff: bool) -> tuple[int, bool, Any]:
        """One round trip with one or two reports: SchedulerCore.report_many's answer (the last decision,
        whether the trial ended, the next assignment's wire fields when it ended and `handoff`)."""
        import ray

        t = time.perf_counter()
        args = (tid, reports, self.watchdog.peak_mb, *((self.worker, self.node_id, self.pid) if handoff else
                                                       (None, None, 0)))
        if self._client is not None:
            try:
                out = self._client.call("report_many", *args)
            except ChannelClosed:
                self._client = None  # the scheduler went away (its next Ray call says so), or the connection broke
                raise
        else:
            out = ray.get(scheduler.report_many.remote(*args))
        rtt_s = time.perf_counter() - t
        self._rtt_s = rtt_s if self._rtt_s == 0.0 else 0.8 * self._rtt_s + 0.2 * rtt_s
        return out

    def final_test(self, best: BestTrial) -> dict[str, float]:
        """Test accuracy of the best configuration: its final checkpoint, or a seeded retrain without one."""
        from raybench.workloads import build_workload

        energy = self._energy_actor()
        if energy is not None:  # the final test has its own energy bucket
            track_trial(energy, best.trial_id, self.pid, self._tracked, phase="final_test")
        try:
            workload = build_workload(best.task, best.config, seed=best.seed, threads=self.threads,
                                      device=self.device, experiment_seed=best.experiment_seed, space=best.space)
            if best.checkpoint is not None:
                workload.load_state(best.checkpoint)
            else:
                for epoch in range(1, best.task["epochs"] + 1):
                    workload.train_epoch(epoch)
            return workload.test()
        finally:
            if energy is not None:
                untrack_trial(energy, best.trial_id, phase="final_test")

    def ping(self) -> str:
        return self.node_id


def _visible_gpus() -> list[str]:
    ids = os.environ.get("CUDA_VISIBLE_DEVICES", "")
    return [g for g in ids.split(",") if g.strip()]
