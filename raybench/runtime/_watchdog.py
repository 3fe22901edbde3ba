"""A trial process's memory watchdog: tracks peak RSS of the process tree and enforces the worker's limit.

Ray's `memory` resource is a reservation only; this is what makes `workers.memory_mb` a limit.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from typing import Optional

import psutil

from raybench.energy._cputime import has_children_files, walk_tree

MB = 1024 * 1024
_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


# The children files of /proc (Linux with CONFIG_PROC_CHILDREN), read as the energy actor reads a trial's tree.
_PROC_CHILDREN = has_children_files()


def _rss_bytes(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/statm", "rb") as f:
            return int(f.read().split()[1]) * _PAGE
    except (OSError, ValueError, IndexError):
        return 0  # ended meanwhile


def _open_statm(pid: int):
    """/proc/PID/statm opened unbuffered (closed with the object), or None where there is no /proc."""
    try:
        return open(f"/proc/{pid}/statm", "rb", buffering=0)
    except OSError:
        return None


def tree_rss_mb(proc: psutil.Process) -> float:
    """Resident memory of a process and all its children, in MB.

    On Linux the tree is walked down from the process through /proc/PID/task/*/children, which costs
    what the tree holds. psutil's children() instead reads every process of the machine: about 1.5 ms with
    70 processes, and a node running 64 trial actors that each sample five times a second spent over a
    core on it. Elsewhere (no children files) psutil is the fallback.
    """
    if not _PROC_CHILDREN:
        return _psutil_tree_rss_mb(proc)
    return _walk(proc.pid)[0] / MB


def _walk(root: int) -> tuple[int, int]:
    """(RSS bytes of root's tree, how many processes it holds besides root) by /proc's children files."""
    total = n = 0
    for pid in walk_tree([root]):
        total += _rss_bytes(pid)
        n += 1
    return total, n - 1


def _psutil_tree_rss_mb(proc: psutil.Process) -> float:
    total = 0
    for p in [proc, *proc.children(recursive=True)]:
        try:
            total += p.memory_info().rss
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return total / MB


class MemoryWatchdog:
    """Samples RSS every `interval_s`; calls `on_exceed(rss_mb)` once when over `limit_mb` (None: never).

    A sample reads the whole process tree while the process has children. Without children, only the
    process's own RSS is read (one small file), and the tree is looked at again every `tree_every_s`: a walk
    opens one file per thread of the process (a Ray worker has about 25), 0.6 ms a walk on the development
    VM, which at five a second in each of 32 trial actors was a tenth of a core. A child started in between
    is seen within `tree_every_s`, and from then on at every sample.
    """

    def __init__(self, limit_mb: Optional[float], on_exceed: Callable[[float], None], *,
                 interval_s: float = 0.2, tree_every_s: float = 1.0) -> None:
        self.limit_mb = limit_mb
        self.on_exceed = on_exceed
        self.interval_s = interval_s
        self.tree_every_s = tree_every_s
        self._tree_due = 0.0  # monotonic time of the next walk of the tree
        self._family = True  # the last walk found children (or none was made yet)
        self.peak_mb = 0.0
        self._proc = psutil.Process()
        self._statm = _open_statm(self._proc.pid)  # this process's own RSS, read at every arm and most samples
        self._stop = threading.Event()
        self._fired = False
        self._armed = False  # only a running trial can exceed the limit: there is nothing to fail otherwise
        self._thread = threading.Thread(target=self._loop, name="raybench-memory-watchdog", daemon=True)

    def start(self) -> MemoryWatchdog:
        self._thread.start()
        return self

    def arm(self) -> None:
        """A trial starts: measure its peak from here, and enforce the limit while it runs. The peak starts
        at this process's own memory (one read; the tree is the sampling thread's, within `interval_s`):
        a walk of the tree here was a large share of a zero-cost trial's CPU in the worker (BENCHMARKS.md, Scale)."""
        self.peak_mb = self._own_rss_bytes() / MB
        self._fired = False
        self._armed = True

    def _sample(self) -> float:
        if not _PROC_CHILDREN:
            return _psutil_tree_rss_mb(self._proc)
        now = time.monotonic()
        if self._family or now >= self._tree_due:
            total, others = _walk(self._proc.pid)
            self._family, self._tree_due = others > 0, now + self.tree_every_s
            return total / MB
        return self._own_rss_bytes() / MB

    def _own_rss_bytes(self) -> int:
        """This process's RSS: one pread of its statm file, kept open (open, read and close were three system
        calls at every trial's start)."""
        if self._statm is None:
            return _rss_bytes(self._proc.pid)
        try:
            return int(os.pread(self._statm.fileno(), 256, 0).split()[1]) * _PAGE
        except (OSError, ValueError, IndexError):
            return _rss_bytes(self._proc.pid)

    def disarm(self) -> None:
        self._armed = False

    def stop(self) -> None:
        self._stop.set()

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            if not self._armed:  # no trial: no peak to keep and no limit to enforce, so no reading either
                continue
            rss = self._sample()
            self.peak_mb = max(self.peak_mb, rss)
            if self.limit_mb is not None and rss > self.limit_mb and self._armed and not self._fired:
                self._fired = True
                self.on_exceed(rss)
