"""Running trials' latest epoch checkpoints, kept in the run directory so that a resume continues them.

One file per running trial, `RUN_DIR/checkpoints/trial-<id>.msgpack`, holding the step and the workload's
`state()` as plain msgpack (no pickles, no ext types, like the event log). Each write goes to a temporary
file that is fsynced and renamed over the old one, so a crash leaves the old checkpoint or the new one.
The file is deleted when its trial ends.
"""

from __future__ import annotations

import os
import tempfile
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


class CheckpointStore:
    """The checkpoint files of one run directory. `fsync=False` trades durability for speed (tests)."""

    def __init__(self, run_dir: str | os.PathLike, *, fsync: bool = True) -> None:
        self.dir = Path(run_dir) / CHECKPOINT_DIR
        self.fsync = fsync
        self.bytes_written = 0
        self.writes = 0

    def path(self, trial_id: int) -> Path:
        return self.dir / f"trial-{int(trial_id)}.msgpack"

    def save(self, trial_id: int, step: int, state: dict[str, Any]) -> None:
        """Replace the trial's checkpoint by this one, atomically."""
        payload = msgpack.packb({"format": FORMAT, "trial_id": int(trial_id), "step": int(step), "state": state},
                                use_bin_type=True, default=_plain)
        self.dir.mkdir(exist_ok=True)
        target = self.path(trial_id)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=self.dir)
        try:
            with os.fdopen(fd, "wb") as fp:
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

    def delete(self, trial_id: int) -> None:
        try:
            os.unlink(self.path(trial_id))
        except FileNotFoundError:
            pass

    def load(self, trial_id: int) -> Optional[tuple[int, dict[str, Any]]]:
        """(step, state) of the trial's checkpoint, or None when it has none or it cannot be read."""
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
        if self.dir.is_dir():
            for p in self.dir.glob(".trial-*.tmp"):
                try:
                    p.unlink()
                except OSError:
                    pass

    def trial_ids(self) -> list[int]:
        """The trials that have a checkpoint file."""
        if not self.dir.is_dir():
            return []
        out = []
        for p in self.dir.glob("trial-*.msgpack"):
            try:
                out.append(int(p.name[len("trial-"):-len(".msgpack")]))
            except ValueError:
                continue
        return sorted(out)
