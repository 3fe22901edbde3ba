"""Who writes a run directory, and what happens to a writer whose driver died.

The scheduler actor holds the event log's lock. Beside the log it records its owner in `RUN_DIR/writer.json`:
the host, the driver's pid and start time, and its own. Two rules follow:

- an orphan stops by itself: the scheduler watches its driver's process (they run on the same node) and,
  when the driver is gone, closes the log between two events and exits, which ends the run's trial actors'
  calls, so nothing of the old run can write any more;
- a resume that finds the log locked reads writer.json: a live driver is a genuine second writer (one-line
  error); a dead driver's scheduler is an orphan, which the resume ends (SIGKILL, same host) or waits for.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Optional

import psutil

from raybench.events._atomic import atomic_write_text

WRITER_FILE = "writer.json"


def process_started(pid: int) -> Optional[float]:
    """The process's start time (s since the epoch), or None when there is no such process."""
    try:
        p = psutil.Process(pid)
        if p.status() == psutil.STATUS_ZOMBIE:
            return None
        return p.create_time()
    except psutil.Error:
        return None


def same_process(pid: Optional[int], started: Optional[float]) -> bool:
    """True while `pid` is still the process that started at `started` (a pid may be given to another)."""
    if not pid:
        return False
    now = process_started(pid)
    return now is not None and (started is None or abs(now - started) < 0.5)


@dataclass(frozen=True)
class Writer:
    host: str
    driver_pid: Optional[int]
    driver_started: Optional[float]
    scheduler_pid: int
    scheduler_started: Optional[float]

    @classmethod
    def here(cls, driver_pid: Optional[int], driver_started: Optional[float]) -> Writer:
        pid = os.getpid()
        return cls(socket.gethostname(), driver_pid, driver_started, pid, process_started(pid))

    def save(self, run_dir: str) -> None:
        atomic_write_text(os.path.join(run_dir, WRITER_FILE), json.dumps(asdict(self)))

    @classmethod
    def load(cls, run_dir: str) -> Optional[Writer]:
        try:
            with open(os.path.join(run_dir, WRITER_FILE), encoding="utf-8") as f:
                return cls(**json.load(f))
        except (OSError, ValueError, TypeError):
            return None

    @property
    def local(self) -> bool:
        return self.host == socket.gethostname()

    def driver_alive(self) -> bool:
        """Whether its driver still runs (unknown on another host: taken as alive)."""
        if not self.local or self.driver_pid is None:
            return True
        return same_process(self.driver_pid, self.driver_started)

    def end_orphan(self) -> bool:
        """SIGKILL the orphaned scheduler if it is still this host's process; True when one was ended."""
        if not self.local or not same_process(self.scheduler_pid, self.scheduler_started):
            return False
        try:
            psutil.Process(self.scheduler_pid).kill()
        except psutil.Error:
            return False
        return True


class DriverWatch(threading.Thread):
    """Calls `on_gone()` once the driver's process is gone; polls every `interval_s`."""

    def __init__(self, pid: int, started: Optional[float], on_gone: Callable[[], None], *,
                 interval_s: float = 0.2) -> None:
        super().__init__(name="raybench-driver-watch", daemon=True)
        self.pid, self.started, self.on_gone, self.interval_s = pid, started, on_gone, interval_s
        self._stop = threading.Event()

    def run(self) -> None:
        while not self._stop.wait(self.interval_s):
            if not same_process(self.pid, self.started):
                self.on_gone()
                return

    def stop(self) -> None:
        self._stop.set()


def wait_for_lock(open_log: Callable[[], object], run_dir: str, *, say: Callable[[str], None],
                  timeout_s: float = 20.0) -> object:
    """`open_log()`, or, if another process holds the log, end an orphaned writer and try again.

    A live driver's log is refused at once with open_log's one-line error.
    """
    from raybench.errors import RunDirError

    try:
        return open_log()
    except RunDirError as e:
        if "another process is writing" not in str(e):
            raise
        first = e
    w = Writer.load(run_dir)
    if w is None or w.driver_alive():
        raise first
    ended = w.end_orphan()
    say(f"the run's previous driver (pid {w.driver_pid}) is gone; "
        + (f"ended its orphaned scheduler (pid {w.scheduler_pid})" if ended
           else f"waiting up to {timeout_s:.0f} s for its orphaned scheduler to release the log"))
    deadline = time.monotonic() + timeout_s
    while True:
        time.sleep(0.1)
        try:
            return open_log()
        except RunDirError as e:
            if "another process is writing" not in str(e) or time.monotonic() > deadline:
                raise
