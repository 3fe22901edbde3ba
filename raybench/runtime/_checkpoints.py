"""Running trials' latest epoch checkpoints, kept in the run directory so that a resume continues them.

One file per running trial, `RUN_DIR/checkpoints/trial-<id>.msgpack`, holding the step and the workload's
`state()` as plain msgpack (no pickles, no ext types, like the event log). Each write goes to a temporary
file that is fsynced and renamed over the old one, so a crash leaves the old checkpoint or the new one.
The file is deleted when its trial ends.

The files are written by a thread of their own (_Writer), never by the caller: a write costs a create, a
rename and an fsync, 2 to 4 ms on the development VM, and on the scheduler's one thread that was more
than its whole decision on a short epoch. The thread keeps only the latest pending write per trial (a
trial's newer checkpoint replaces one not yet written, a delete cancels it). The checkpoint of a short
epoch (under QUICK_EPOCH_S) waits WRITE_DELAY_S: a trial that ends sooner (most trials a pruner stops
early, when epochs are that short) never costs a file. flush() writes what is pending at once; the scheduler flushes before it ends or
gives up its log.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Optional

import msgpack

CHECKPOINT_DIR = "checkpoints"
FORMAT = 1
# The checkpoint of an epoch shorter than QUICK_EPOCH_S is written WRITE_DELAY_S after its report, unless a
# newer one or its trial's end comes first: trials of such epochs that a pruner stops early then never touch
# the disk. A crash of the scheduler in that time resumes the trial from its previous checkpoint, so at most
# one such short epoch runs again. Longer epochs' checkpoints are written at once.
WRITE_DELAY_S = 0.5
QUICK_EPOCH_S = 0.1


def _plain(obj: Any) -> Any:
    tolist = getattr(obj, "tolist", None)  # numpy arrays and scalars become lists and numbers
    if callable(tolist):
        return tolist()
    raise TypeError(f"cannot checkpoint a {type(obj).__name__} without pickle; convert it to numbers, bytes, "
                    "lists or dicts")


def _no_ext(code: int, data: bytes) -> Any:
    raise ValueError(f"msgpack ext type {code} is not allowed in a checkpoint")


class _Writer:
    """Runs file jobs on one thread, keeping only the newest pending job per key. A job waits until it is due:
    a key keeps the place and the due time of its oldest job not yet run, so a key whose jobs keep coming is
    still run on time. flush() runs everything pending at once."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._cond = threading.Condition()
        self._pending: dict[Any, tuple[float, Any]] = {}  # key -> (due, job), in the order keys were queued
        self._busy = False
        self._running: Any = None  # the key whose job runs now
        self._hurry = 0  # flushes waiting: run what is pending without waiting for it to be due
        self._thread: Optional[threading.Thread] = None
        self.error: Optional[BaseException] = None  # the last job's failure, for the owner to report

    def put(self, key: Any, job: Any, due: float) -> None:
        with self._cond:
            was = self._pending.get(key)
            idle = not self._pending
            self._pending[key] = (min(due, was[0]) if was else due, job)
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name=self._name, daemon=True)
                self._thread.start()
            if idle:  # else the thread already waits for the first pending key, which is due no later
                self._cond.notify_all()

    def drop_or_put(self, key: Any, job: Any, due: float, needed: Callable[[], bool]) -> None:
        """Cancel the key's pending job, then put `job` unless `needed()` says there is nothing left to do.
        needed() is asked under the lock and only while no job of the key runs (one that runs now gets `job`
        after it), so a key with nothing on disk costs no wake-up of the thread."""
        with self._cond:
            self._pending.pop(key, None)
            if self._running == key or needed():
                self.put(key, job, due)

    def flush(self, timeout: Optional[float] = None) -> bool:
        with self._cond:
            self._hurry += 1
            self._cond.notify_all()
            try:
                return self._cond.wait_for(lambda: not self._pending and not self._busy, timeout)
            finally:
                self._hurry -= 1

    def _loop(self) -> None:
        while True:
            with self._cond:
                while True:
                    if not self._pending:
                        self._cond.wait()
                        continue
                    key = next(iter(self._pending))
                    wait = self._pending[key][0] - time.monotonic()
                    if wait <= 0 or self._hurry:
                        break
                    self._cond.wait(wait)
                _, job = self._pending.pop(key)
                self._busy, self._running = True, key
            try:
                job()
            except Exception as e:  # a full disk must not kill the thread: later jobs may succeed
                self.error = e
            finally:
                with self._cond:
                    self._busy, self._running = False, None
                    self._cond.notify_all()


class CheckpointStore:
    """The checkpoint files of one run directory. `fsync=False` trades durability for speed (tests)."""

    def __init__(self, run_dir: str | os.PathLike, *, fsync: bool = True) -> None:
        self.dir = Path(run_dir) / CHECKPOINT_DIR
        self.fsync = fsync
        self.bytes_written = 0
        self.writes = 0
        self._files = set(self._listed())  # the trials with a file; only the writer thread changes it after this
        self._writer = _Writer("raybench-checkpoints")

    def path(self, trial_id: int) -> Path:
        return self.dir / f"trial-{int(trial_id)}.msgpack"

    def save(self, trial_id: int, step: int, state: dict[str, Any], *, delay_s: float = 0.0) -> None:
        """Replace the trial's checkpoint by this one, atomically, on the writer thread, `delay_s` from now
        (or sooner, when an older pending checkpoint of the trial is due sooner). `state` must not change
        afterwards (the scheduler's copy of a report's checkpoint never does)."""
        tid, step = int(trial_id), int(step)
        self._writer.put(tid, lambda: self._write(tid, step, state), time.monotonic() + delay_s)

    def delete(self, trial_id: int) -> None:
        """Remove the trial's checkpoint (and cancel a write of it not yet made), on the writer thread."""
        tid = int(trial_id)
        self._writer.drop_or_put(tid, lambda: self._unlink(tid), time.monotonic(), lambda: tid in self._files)

    def flush(self, timeout: Optional[float] = None) -> bool:
        """Wait until every save and delete so far is on disk (True), or `timeout` seconds passed (False)."""
        return self._writer.flush(timeout)

    def take_error(self) -> Optional[BaseException]:
        """The writer's last failure since the previous call (a full disk, a value msgpack cannot hold)."""
        err, self._writer.error = self._writer.error, None
        return err

    def _write(self, trial_id: int, step: int, state: dict[str, Any]) -> None:
        payload = msgpack.packb({"format": FORMAT, "trial_id": trial_id, "step": step, "state": state},
                                use_bin_type=True, default=_plain)
        target = self.path(trial_id)
        tmp = target.with_name(f".{target.name}.tmp")  # one writer thread per run directory: a fixed name is safe
        try:
            fp = open(tmp, "wb")
        except FileNotFoundError:
            self.dir.mkdir(exist_ok=True)
            fp = open(tmp, "wb")
        try:
            with fp:
                fp.write(payload)
                if self.fsync:
                    fp.flush()
                    os.fsync(fp.fileno())
            os.replace(tmp, target)
        except BaseException:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise
        self.bytes_written += len(payload)
        self.writes += 1
        self._files.add(trial_id)

    def _unlink(self, trial_id: int) -> None:
        if trial_id not in self._files:
            return  # its writes were all cancelled before they were due: there is no file
        self._files.discard(trial_id)
        try:
            os.unlink(self.path(trial_id))
        except FileNotFoundError:
            pass

    def load(self, trial_id: int) -> Optional[tuple[int, dict[str, Any]]]:
        """(step, state) of the trial's checkpoint, or None when it has none or it cannot be read."""
        self.flush()
        try:
            raw = self.path(trial_id).read_bytes()
            doc = msgpack.unpackb(raw, raw=False, strict_map_key=False, ext_hook=_no_ext)
        except FileNotFoundError:
            return None
        except (OSError, ValueError, TypeError, msgpack.ExtraData, msgpack.FormatError, msgpack.StackError):
            return None  # damaged: the trial restarts from its first epoch, which is always correct
        if not isinstance(doc, dict) or doc.get("format") != FORMAT or doc.get("trial_id") != int(trial_id):
            return None
        step, state = doc.get("step"), doc.get("state")
        if not isinstance(step, int) or step < 1 or not isinstance(state, dict):
            return None
        return step, state

    def drop_partial(self) -> None:
        """Delete temporary files of writes that a crash cut short (the checkpoint they replaced is intact)."""
        self.flush()
        if self.dir.is_dir():
            for p in self.dir.glob(".trial-*.tmp"):
                try:
                    p.unlink()
                except OSError:
                    pass

    def trial_ids(self) -> list[int]:
        """The trials that have a checkpoint file."""
        self.flush()
        return self._listed()

    def _listed(self) -> list[int]:
        if not self.dir.is_dir():
            return []
        out = []
        for p in self.dir.glob("trial-*.msgpack"):
            try:
                out.append(int(p.name[len("trial-"):-len(".msgpack")]))
            except ValueError:
                continue
        return sorted(out)
