"""Running trials' latest epoch checkpoints, kept in the run directory so that a resume continues them.

One file per running trial, `RUN_DIR/checkpoints/trial-<id>.msgpack`, holding the step and the workload's
`state()` as plain msgpack (no pickles, no ext types, like the event log). Each write goes to a temporary
file that is fsynced and renamed over the old one, so a crash leaves the old checkpoint or the new one.
The file is deleted when its trial ends.

The files are written by a thread of their own (_Writer), never by the caller: a write costs a create, a
rename and an fsync, 2 to 4 ms on the development VM, and on the scheduler's one thread that was more
than its whole decision on a short epoch. The thread keeps only the latest pending write per trial (a
trial's newer checkpoint replaces one not yet written, a delete cancels it) and runs a few milliseconds
behind its callers. flush() waits for it; the scheduler flushes before it ends or gives up its log.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any, Optional

import msgpack

CHECKPOINT_DIR = "checkpoints"
FORMAT = 1


def _plain(obj: Any) -> Any:
    tolist = getattr(obj, "tolist", None)  # numpy arrays and scalars become lists and numbers
    if callable(tolist):
        return tolist()
    raise TypeError(f"cannot checkpoint a {type(obj).__name__} without pickle; convert it to numbers, bytes, "
                    "lists or dicts")


def _no_ext(code: int, data: bytes) -> Any:
    raise ValueError(f"msgpack ext type {code} is not allowed in a checkpoint")


class _Writer:
    """Runs file jobs on one thread, in order, keeping only the newest pending job per key."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._cond = threading.Condition()
        self._pending: dict[Any, Any] = {}  # key -> job, in the order keys were first queued
        self._busy = False
        self._thread: Optional[threading.Thread] = None
        self.error: Optional[BaseException] = None  # the last job's failure, for the owner to report

    def put(self, key: Any, job: Any) -> None:
        with self._cond:
            self._pending.pop(key, None)  # the newer job goes to the back of the line
            self._pending[key] = job
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name=self._name, daemon=True)
                self._thread.start()
            self._cond.notify_all()

    def flush(self, timeout: Optional[float] = None) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: not self._pending and not self._busy, timeout)

    def _loop(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: bool(self._pending))
                key = next(iter(self._pending))
                job = self._pending.pop(key)
                self._busy = True
            try:
                job()
            except Exception as e:  # a full disk must not kill the thread: later jobs may succeed
                self.error = e
            finally:
                with self._cond:
                    self._busy = False
                    self._cond.notify_all()


class CheckpointStore:
    """The checkpoint files of one run directory. `fsync=False` trades durability for speed (tests)."""

    def __init__(self, run_dir: str | os.PathLike, *, fsync: bool = True) -> None:
        self.dir = Path(run_dir) / CHECKPOINT_DIR
        self.fsync = fsync
        self.bytes_written = 0
        self.writes = 0
        self._writer = _Writer("raybench-checkpoints")

    def path(self, trial_id: int) -> Path:
        return self.dir / f"trial-{int(trial_id)}.msgpack"

    def save(self, trial_id: int, step: int, state: dict[str, Any]) -> None:
        """Replace the trial's checkpoint by this one, atomically, on the writer thread. `state` must not
        change afterwards (the scheduler's copy of a report's checkpoint never does)."""
        tid, step = int(trial_id), int(step)
        self._writer.put(tid, lambda: self._write(tid, step, state))

    def delete(self, trial_id: int) -> None:
        """Remove the trial's checkpoint (and cancel a write of it not yet made), on the writer thread."""
        tid = int(trial_id)
        self._writer.put(tid, lambda: self._unlink(tid))

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

    def _unlink(self, trial_id: int) -> None:
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
        if not self.dir.is_dir():
            return []
        out = []
        for p in self.dir.glob("trial-*.msgpack"):
            try:
                out.append(int(p.name[len("trial-"):-len(".msgpack")]))
            except ValueError:
                continue
        return sorted(out)
