"""The body of a per-node energy actor: a sampling thread around `raybench.energy.NodeMonitor`.

It measures the node's idle baseline, then sends one `energy_sample` to the scheduler every
`energy.interval_s`. Trial actors on the node call `track`/`untrack` as their trials start and end.
The energy layer's one-time notices (no RAPL permission, estimated DRAM, ...) become `warning` events.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any, Optional

from raybench.errors import HardwareError


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
        logging.getLogger("raybench.energy").addHandler(self._notices)
        self.error: Optional[str] = None
        self.monitor = None
        try:
            self.monitor = NodeMonitor.from_spec(self.spec, node_id=node_id, node_resources={
                "cpus": resources["cpus"], "memory_mb": resources["memory_mb"], "gpus": resources["gpus"]})
        except HardwareError as e:
            self.error = str(e)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None
        self._scheduler = None

    def _event(self, kind: str, **fields: Any) -> dict[str, Any]:
        return {"event": kind, "t": time.time(), **fields}

    def _drain_notices(self) -> list[dict[str, Any]]:
        msgs, self._notices.messages = self._notices.messages, []
        return [self._event("warning", code="energy", message=f"{self.host}: {m}") for m in msgs]

    def baseline(self) -> list[dict[str, Any]]:
        """node_joined, node_baseline and any notices, as events; or a HardwareError message to raise."""
        if self.error is not None:
            return [{"error": self.error}]
        events = [self._event("node_joined", node_id=self.node_id, host=self.host, resources=self.resources)]
        if self.spec.baseline_s > 0:
            with self._lock:
                payload = self.monitor.measure_baseline(self.spec.baseline_s)
            events.append(self._event("node_baseline", **payload))
        return events + self._drain_notices()

    def start(self, scheduler) -> None:
        if self.monitor is None or self._thread is not None:
            return
        self._scheduler = scheduler
        self._thread = threading.Thread(target=self._loop, name="raybench-energy", daemon=True)
        self._thread.start()

    def _sample(self) -> list[dict[str, Any]]:
        with self._lock:
            payload = self.monitor.sample()
        return [self._event("energy_sample", **payload), *self._drain_notices()]

    def _loop(self) -> None:
        interval = self.spec.interval_s
        next_t = time.monotonic() + interval
        while not self._stop.wait(max(0.0, next_t - time.monotonic())):
            next_t += interval
            self._scheduler.energy.remote(self._sample())

    def track(self, trial_id: int, pid: int, reserved: dict[str, Any]) -> None:
        if self.monitor is not None:
            with self._lock:
                self.monitor.untrack(trial_id)  # a retried trial may come back to this node
                self.monitor.track(trial_id, pid, reserved)

    def untrack(self, trial_id: int) -> None:
        if self.monitor is not None:
            with self._lock:
                self.monitor.untrack(trial_id)

    def stop(self) -> None:
        """Stop sampling and deliver the last partial interval before returning."""
        import ray

        if self._thread is None:
            return
        self._stop.set()
        self._thread.join(timeout=5)
        ray.get(self._scheduler.energy.remote(self._sample()))
        self._thread = None
