"""A trial process's memory watchdog: tracks peak RSS of the process tree and enforces the worker's limit.

Ray's `memory` resource is a reservation only; this is what makes `workers.memory_mb` a limit.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Optional

import psutil

MB = 1024 * 1024


def tree_rss_mb(proc: psutil.Process) -> float:
    """Resident memory of a process and all its children, in MB."""
    total = 0
    for p in [proc, *proc.children(recursive=True)]:
        try:
            total += p.memory_info().rss
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return total / MB


class MemoryWatchdog:
    """Samples RSS every `interval_s`; calls `on_exceed(rss_mb)` once when over `limit_mb` (None: never)."""

    def __init__(self, limit_mb: Optional[float], on_exceed: Callable[[float], None], *,
                 interval_s: float = 0.2) -> None:
        self.limit_mb = limit_mb
        self.on_exceed = on_exceed
        self.interval_s = interval_s
        self.peak_mb = 0.0
        self._proc = psutil.Process()
        self._stop = threading.Event()
        self._fired = False
        self._armed = False  # only a running trial can exceed the limit: there is nothing to fail otherwise
        self._thread = threading.Thread(target=self._loop, name="raybench-memory-watchdog", daemon=True)

    def start(self) -> MemoryWatchdog:
        self._thread.start()
        return self

    def arm(self) -> None:
        """A trial starts: measure its peak from here, and enforce the limit while it runs."""
        self.peak_mb = tree_rss_mb(self._proc)
        self._fired = False
        self._armed = True

    def disarm(self) -> None:
        self._armed = False

    def stop(self) -> None:
        self._stop.set()

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            rss = tree_rss_mb(self._proc)
            self.peak_mb = max(self.peak_mb, rss)
            if self.limit_mb is not None and rss > self.limit_mb and self._armed and not self._fired:
                self._fired = True
                self.on_exceed(rss)
