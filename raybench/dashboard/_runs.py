"""The runs under PATH: found by walking it, followed by polling, each known by an id.

A request names a run by its id, a key of `Registry.runs`; no request text is ever joined to a path.
The walk does not leave PATH: a directory or file whose real path (symlinks resolved) is outside PATH is
skipped, and so is an events.msgpack or audit.json that is not a regular file.
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Any, Optional, Union

from raybench.dashboard._follow import LogFollower
from raybench.dashboard._state import RunState
from raybench.events import EVENTS_FILE

AUDIT_FILE = "audit.json"
MAX_DEPTH = 3  # PATH itself, a folder of runs, a suite of them, a folder of suites
MAX_RUNS = 500
MAX_AUDIT_BYTES = 8 * 1024 * 1024
CATCH_UP_POLLS = 16


def inside(root: Path, path: Path) -> bool:
    """Whether path's real location (symlinks resolved) is root or below it. root must be resolved."""
    try:
        real = path.resolve(strict=True)
    except (OSError, RuntimeError):
        return False
    return real == root or root in real.parents


def safe_file(root: Path, path: Path) -> Optional[Path]:
    """path when it is a regular file really inside root, else None."""
    return path if inside(root, path) and path.is_file() else None


def find_runs(root: Path, *, max_depth: int = MAX_DEPTH, limit: int = MAX_RUNS) -> dict[str, Path]:
    """Run directories (holding an events.msgpack) under root, by id: their path relative to root, "." for
    root itself. A run directory is not searched further."""
    found: dict[str, Path] = {}
    todo = [(root, 0)]
    while todo and len(found) < limit:
        d, depth = todo.pop()
        if safe_file(root, d / EVENTS_FILE):
            found[d.relative_to(root).as_posix() if d != root else "."] = d
            continue
        if depth >= max_depth:
            continue
        try:
            entries = sorted(os.scandir(d), key=lambda x: x.name, reverse=True)
        except OSError:
            continue
        for entry in entries:
            sub = Path(entry.path)
            if not entry.name.startswith(".") and inside(root, sub) and sub.is_dir():
                todo.append((sub, depth + 1))
    return found


class Run:
    """One followed run: its follower, its folded state, and its audit.json when there is one."""

    def __init__(self, run_id: str, root: Path, run_dir: Path) -> None:
        self.id = run_id
        self.root = root
        self.dir = run_dir
        self.follower = LogFollower(run_dir / EVENTS_FILE)
        self.state = RunState()
        self.audit: Optional[dict[str, Any]] = None
        self._audit_key: Optional[tuple[int, int]] = None
        self._log_key: tuple[Any, ...] = ()
        self.log_version = 0
        self.epoch = 0  # goes up when the log was replaced and the state folded afresh

    def poll(self) -> bool:
        """Read what was appended; True when anything the page shows changed."""
        if safe_file(self.root, self.follower.path) is None:
            return False
        before = self.state.version
        batch = self.follower.poll()
        if batch.reset:
            self.state = RunState()
            self.epoch += 1
        for e in batch.events:
            self.state.apply(e)
        f = self.follower
        key = (f.error, f.damage_count, f.pending_bytes > 0, f.tail_damage)
        changed = batch.reset or self.state.version != before or key != self._log_key
        self._log_key = key
        if self._read_audit():
            changed = True
        if changed:
            self.log_version += 1
        return changed

    def _read_audit(self) -> bool:
        path = safe_file(self.root, self.dir / AUDIT_FILE)
        if path is None:
            changed, self.audit, self._audit_key = self.audit is not None, None, None
            return changed
        st = path.stat()
        key = (st.st_mtime_ns, st.st_size)
        if key == self._audit_key:
            return False
        self._audit_key = key
        if st.st_size > MAX_AUDIT_BYTES:
            self.audit = {"error": f"audit.json is {st.st_size} bytes; the dashboard reads at most {MAX_AUDIT_BYTES}"}
            return True
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            self.audit = data if isinstance(data, dict) else {"error": "audit.json does not hold a JSON object"}
        except (OSError, ValueError) as e:
            self.audit = {"error": f"audit.json cannot be read: {e}"}
        return True

    @property
    def version(self) -> int:
        return self.log_version

    def log_info(self) -> dict[str, Any]:
        f = self.follower
        return {"error": f.error, "damage_count": f.damage_count, "damage": [d.to_dict() for d in f.damage],
                "offset": f.offset, "pending_bytes": f.pending_bytes, "tail_damage": f.tail_damage}

    def _status(self) -> dict[str, str]:
        """A log that cannot be read and gave no event is "unreadable" rather than "starting"."""
        return {"status": "unreadable"} if self.follower.error and not self.state.n_events else {}

    def summary(self) -> dict[str, Any]:
        return {"id": self.id, **self.state.summary(), **self._status(), "version": self.version,
                "log": self.log_info(), "has_audit": self.audit is not None}

    def snapshot(self, since: int = 0, epoch: Optional[int] = None) -> dict[str, Any]:
        """The run page's data; trials changed after `since` only when the client saw this epoch."""
        if epoch != self.epoch or since > self.state.version:
            since = 0
        snap = self.state.snapshot(since)
        snap["summary"].update(self._status())
        return {"id": self.id, **snap, "epoch": self.epoch, "run_version": self.version, "log": self.log_info(),
                "audit": self.audit}


class Registry:
    """Every run under root. `poll()` finds new runs (every `rescan_every` polls) and reads all logs; it
    runs in a worker thread, so readers take `lock`."""

    def __init__(self, root: Union[str, os.PathLike], *, rescan_every: int = 4) -> None:
        self.root = Path(root).resolve(strict=True)
        self.runs: dict[str, Run] = {}
        self.lock = threading.Lock()
        self.version = 0
        self.rescan_every = rescan_every
        self._polls = 0

    def poll(self) -> bool:
        changed = False
        if self._polls % self.rescan_every == 0:
            found = find_runs(self.root)
            with self.lock:
                for run_id in set(self.runs) - set(found):
                    del self.runs[run_id]
                    changed = True
                for run_id, d in found.items():
                    if run_id not in self.runs:
                        self.runs[run_id] = Run(run_id, self.root, d)
                        changed = True
        self._polls += 1
        for run in list(self.runs.values()):
            for _ in range(CATCH_UP_POLLS):  # a long log is read in chunks, the lock let go between them
                with self.lock:
                    changed = run.poll() or changed
                if not run.follower.behind:
                    break
        if changed:
            self.version += 1
        return changed

    def run_list(self) -> dict[str, Any]:
        with self.lock:
            runs = [r.summary() for r in sorted(self.runs.values(), key=lambda r: r.id)]
        return {"root": self.root.name or str(self.root), "version": self.version, "runs": runs}

    def get(self, run_id: str) -> Optional[Run]:
        return self.runs.get(run_id)
