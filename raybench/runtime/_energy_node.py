"""The body of a per-node energy actor: a sampling thread around `raybench.energy.NodeMonitor`.

It measures the node's idle baseline, then sends one `energy_sample` to the scheduler every
`energy.interval_s`. Trial actors on the node call `track`/`untrack` as their trials start and end,
through `track_trial`, `trial_warm` and `untrack_trial` below, which wait for the actor's answer and
number their calls, so that an untrack can never be overtaken by its own track. A trial actor that goes
straight from one trial to the next sends the first's untrack with the second's track (`retrack`).
The energy layer's one-time notices (no RAPL permission, estimated DRAM, ...) and every sampling gap
become `warning` events; a failing read never stops sampling.
"""

from __future__ import annotations

import dataclasses
import itertools
import logging
import threading
import time
from typing import Any, Optional

from raybench.errors import HardwareError
from raybench.runtime._channel import ChannelClosed, ReportServer, connect, node_ip

# ---- the trial actor's side (runs in the trial actor's process) ---------------------------------------

_seq = itertools.count(1)  # increasing within one trial actor process: orders its track/untrack calls
_warm = False  # whether this process has finished building a workload once (its start-up is over)
ACK_TIMEOUT_S = 10.0


def _tell(ref) -> bool:
    import ray

    try:
        return bool(ray.get(ref, timeout=ACK_TIMEOUT_S))
    except (ray.exceptions.RayError, ray.exceptions.GetTimeoutError):
        return False  # the energy actor is gone or stuck: the trial goes on, unmeasured


class EnergyLink:
    """A trial actor's way to its node's energy actor: the actor's channel (runtime/_channel.py) where it can be
    reached, else Ray calls. A Ray call costs each side about a millisecond of CPU, the channel tens of
    microseconds; with two calls a trial, that was most of a short trial's cost with energy on. The calls of
    one trial actor go over one connection, in order; an answer later than ACK_TIMEOUT_S, or a closed
    connection, fails the call (False), as a Ray call's timeout or error does."""

    def __init__(self, handle: Any) -> None:
        import ray

        self.handle = handle
        self.client = None
        try:
            self.client, _ = connect(ray.get(handle.channel.remote(), timeout=ACK_TIMEOUT_S),
                                     answer_timeout_s=ACK_TIMEOUT_S)
        except Exception:  # an actor without a channel, or one that cannot be reached: Ray calls
            self.client = None

    def call(self, name: str, *args: Any, **kwargs: Any) -> bool:
        if self.client is not None:
            try:
                return bool(self.client.call(name, *args, **kwargs))
            except ChannelClosed:  # the actor died or is stuck: this call fails, later ones take Ray calls
                self.client = None
                return False
            except Exception:  # the actor's own error, as a Ray call's RayTaskError
                return False
        return _tell(getattr(self.handle, name).remote(*args, **kwargs))

    def close(self) -> None:
        if self.client is not None:
            self.client.close()
            self.client = None


def _call(energy: Any, name: str, *args: Any, **kwargs: Any) -> bool:
    if isinstance(energy, EnergyLink):
        return energy.call(name, *args, **kwargs)
    return _tell(getattr(energy, name).remote(*args, **kwargs))  # a bare actor handle


def track_trial(energy, trial_id: int, pid: int, reserved: dict[str, Any], *, phase: Optional[str] = None,
                after: Optional[Untrack] = None) -> bool:
    """Tell the node's energy actor that this process now works on `trial_id`, and wait for its answer.

    The first trial of a process starts in phase "startup" (imports, data loading) until `trial_warm`.
    The process becomes the child subreaper of its descendants, so orphaned grandchildren stay counted.
    after: the previous trial's untrack, still to send: it goes in the same call (`retrack`) when it is for the
    same energy actor, else on its own first.
    """
    from raybench.energy._reaper import become_subreaper

    if after is not None and after.energy is not energy:
        send_untrack(after)
        after = None
    become_subreaper()
    phase = phase or ("trial" if _warm else "startup")
    if after is None:
        return _call(energy, "track", trial_id, pid, reserved, seq=next(_seq), t=time.time(), phase=phase)
    return _call(energy, "retrack", after.trial_id, trial_id, pid, reserved, ended_seq=after.seq, ended_t=after.t,
                 seq=next(_seq), t=time.time(), phase=phase)


def trial_warm(energy, trial_id: int, pid: int, reserved: dict[str, Any]) -> None:
    """The workload is built: the first trial's start-up ends here and the trial proper begins."""
    global _warm
    if not _warm:
        _warm = True
        _call(energy, "track", trial_id, pid, reserved, seq=next(_seq), t=time.time(), phase="trial")


def untrack_trial(energy, trial_id: int, *, phase: str = "trial") -> bool:
    return _call(energy, "untrack", trial_id, seq=next(_seq), t=time.time(), phase=phase)


@dataclasses.dataclass(frozen=True)
class Untrack:
    """A trial's untrack, numbered and stamped when the trial ended, sent with the next trial's track (one call
    instead of two: `track_trial(..., after=)`) or on its own (`send_untrack`) when no trial follows at once."""

    energy: Any
    trial_id: int
    seq: int
    t: float


def untrack_later(energy, trial_id: int) -> Untrack:
    return Untrack(energy, trial_id, next(_seq), time.time())


def send_untrack(u: Untrack) -> bool:
    return _call(u.energy, "untrack", u.trial_id, seq=u.seq, t=u.t, phase="trial")


# ---- the energy actor --------------------------------------------------------------------------------


class _Notices(logging.Handler):
    """Collects what the energy layer says once, so that it reaches the log and the user."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


class EnergyNode:
    def __init__(self, node_id: str, host: str, spec: dict[str, Any], resources: dict[str, float]) -> None:
        from raybench.config import EnergySpec
        from raybench.energy import NodeMonitor

        self.node_id, self.host = node_id, host
        self.spec = EnergySpec.model_validate(spec)
        self.resources = resources
        self._notices = _Notices()
        energy_log = logging.getLogger("raybench.energy")
        energy_log.addHandler(self._notices)
        if energy_log.getEffectiveLevel() > logging.INFO:  # notes such as which TDP the estimator used are INFO
            energy_log.setLevel(logging.INFO)
        self.error: Optional[str] = None
        self.monitor = None
        try:
            # Idle power is split by the hardware (NodeMonitor's default), not by what Ray was told it has.
            self.monitor = NodeMonitor.from_spec(self.spec, node_id=node_id)
        except HardwareError as e:
            self.error = str(e)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None
        self._scheduler = None
        self._server = None  # the channel for track and untrack, opened at the first ask

    def _event(self, kind: str, **fields: Any) -> dict[str, Any]:
        return {"event": kind, "t": time.time(), **fields}

    def _drain_notices(self) -> list[dict[str, Any]]:
        msgs, self._notices.messages = self._notices.messages, []
        return [self._event("warning", code="energy", message=f"{self.host}: {m}") for m in msgs]

    def baseline(self) -> list[dict[str, Any]]:
        """node_joined, node_baseline and any notices, as events; or a HardwareError message to raise."""
        if self.error is not None:
            return [{"error": self.error}]
        events = [self._event("node_joined", node_id=self.node_id, host=self.host, resources=self.resources,
                              hardware=dict(self.monitor.node_resources))]
        if self.spec.baseline_s > 0:
            try:
                with self._lock:
                    payload = self.monitor.measure_baseline(self.spec.baseline_s)
                events.append(self._event("node_baseline", **payload))
            except Exception as e:  # a read error while idle: go on without a baseline (all energy dynamic)
                events.append(self._event("warning", code="energy_gap", node_id=self.node_id, message=(
                    f"{self.host}: the idle baseline could not be measured ({type(e).__name__}: {e}); "
                    "this node's energy is attributed without one")))
        return events + self._drain_notices()

    def start(self, scheduler) -> None:
        if self.monitor is None or self._thread is not None:
            return
        self._scheduler = scheduler
        self._thread = threading.Thread(target=self._loop, name="raybench-energy", daemon=True)
        self._thread.start()

    def _sample(self) -> list[dict[str, Any]]:
        try:
            with self._lock:
                payload = self.monitor.sample()
        except Exception as e:  # never seen; but a sampling thread that dies leaves the run unmeasured
            return [self._event("warning", code="energy_gap", message=f"{self.host}: energy sample failed: "
                                f"{type(e).__name__}: {e}"), *self._drain_notices()]
        events = [self._event("energy_sample", **payload)]
        gap = payload.get("gap")
        if gap:
            events.append(self._event(
                "warning", code="energy_gap", node_id=self.node_id, t0=payload["t0"], t1=payload["t1"],
                message=f"{self.host}: energy of {', '.join(gap['domains'])} could not be read for "
                        f"{payload['t1'] - payload['t0']:.1f} s ({gap.get('error', '')}); estimated from the previous "
                        "interval's power, and the backend reopened"))
        return events + self._drain_notices()

    def _loop(self) -> None:
        interval = self.spec.interval_s
        next_t = time.monotonic() + interval
        while not self._stop.wait(max(0.0, next_t - time.monotonic())):
            next_t += interval
            try:
                self._scheduler.energy.remote(self._sample())
            except Exception:  # the scheduler is gone: the driver notices; keep the thread alive for stop()
                pass

    def channel(self) -> Optional[tuple[str, int, bytes]]:
        """Where this node's trial actors send track and untrack: (host, port, secret) of a channel like the
        scheduler's report channel; None where no socket can be opened (they use Ray calls)."""
        if self._server is None:
            try:
                self._server = ReportServer(self, node_ip(), calls=frozenset({"track", "untrack", "retrack"}))
            except OSError:
                return None
        return (*self._server.address, self._server.secret)

    def track(self, trial_id: int, pid: int, reserved: dict[str, Any], *, seq: Optional[int] = None,
              t: Optional[float] = None, phase: str = "trial") -> bool:
        """Acknowledged: returns whether the call was applied (False: it came after its untrack)."""
        if self.monitor is None:
            return False
        with self._lock:
            if self.monitor.is_tracked(trial_id, phase):  # a retried trial may come back to this node
                self.monitor.untrack(trial_id, t=t, phase=phase)
            return self.monitor.track(trial_id, pid, reserved, seq=seq, t=t, phase=phase)

    def retrack(self, ended: int, trial_id: int, pid: int, reserved: dict[str, Any], *,
                ended_seq: Optional[int] = None, ended_t: Optional[float] = None, seq: Optional[int] = None,
                t: Optional[float] = None, phase: str = "trial") -> bool:
        """untrack(ended) and track(trial_id, ...) in one call, as a trial actor goes from one trial to the
        next: half the calls, and one read of the processes for both (NodeMonitor.retrack)."""
        if self.monitor is None:
            return False
        with self._lock:
            if trial_id != ended and self.monitor.is_tracked(trial_id, phase):
                self.monitor.untrack(trial_id, t=t, phase=phase)
            return self.monitor.retrack(ended, trial_id, pid, reserved, ended_seq=ended_seq, ended_t=ended_t,
                                        seq=seq, t=t, phase=phase)

    def untrack(self, trial_id: int, *, seq: Optional[int] = None, t: Optional[float] = None,
                phase: str = "trial") -> bool:
        if self.monitor is not None:
            with self._lock:
                self.monitor.untrack(trial_id, seq=seq, t=t, phase=phase)
        return True

    def stop(self) -> None:
        """Stop sampling and deliver the last partial interval before returning. Never raises."""
        import ray

        if self._server is not None:
            self._server.close()
        if self._thread is None:
            return
        self._stop.set()
        self._thread.join(timeout=5)
        try:
            ray.get(self._scheduler.energy.remote(self._sample()))
        except Exception as e:  # a finished run must not end with an error because its last sample failed
            logging.getLogger("raybench.energy").warning("the last energy sample was lost: %s", e)
        finally:
            self._thread = None
            if self.monitor is not None:
                self.monitor.close()
