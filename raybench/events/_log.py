"""The event log writer: append-only, one framed record per event, flushed as it happens."""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, Optional, Union

from raybench.errors import RunDirError
from raybench.events._framing import encode
from raybench.events._reader import LogRead, read_events
from raybench.events._types import should_sync

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX
    fcntl = None  # type: ignore[assignment]


def _fsync_dir(directory: Path) -> None:
    # Makes the new file's name durable, not just its bytes.
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _open_fd(path: Path, flags: int, *, new: bool) -> int:
    try:
        fd = os.open(path, flags, 0o644)
    except FileExistsError as e:
        raise RunDirError(f"event log {path} already exists; resume the run, or start over with --force") from e
    except FileNotFoundError as e:
        raise RunDirError(f"run directory {path.parent} does not exist; create it before opening the log") from e
    except OSError as e:
        raise RunDirError(f"cannot open event log {path}: {e.strerror or e}; check the run directory") from e
    if fcntl is not None:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            os.close(fd)
            raise RunDirError(f"another process is writing {path}; stop it or use another run directory") from e
    if new:
        _fsync_dir(path.parent)
    return fd


def _move_tail_aside(path: Path, fd: int, end: int, size: int) -> Path:
    """Copy bytes [end, size) to events.msgpack.torn-<end> (never overwriting), then cut the log at `end`."""
    aside = path.with_name(f"{path.name}.torn-{end}")
    n = 1
    while aside.exists():
        aside = path.with_name(f"{path.name}.torn-{end}.{n}")
        n += 1
    with open(path, "rb") as src:
        src.seek(end)
        tail = src.read(size - end)
    with open(aside, "xb") as dst:
        dst.write(tail)
        dst.flush()
        os.fsync(dst.fileno())
    os.ftruncate(fd, end)
    os.fsync(fd)
    _fsync_dir(path.parent)
    return aside


class EventLog:
    """An open event log. Use `EventLog.open`; `append` may be called from several threads.

    recovered: what was in the log when it was opened with resume=True (empty for a new log).
    torn_path: where a damaged tail was moved on resume, or None.
    """

    def __init__(self, path: Path, fd: int, recovered: LogRead, torn_path: Optional[Path],
                 buffered: bool = False) -> None:
        self.path = path
        self.recovered = recovered
        self.torn_path = torn_path
        self._fp = os.fdopen(fd, "ab")
        self._lock = threading.Lock()
        self._buffered = buffered
        self._held = 0  # > 0 inside held(): appends are flushed when the outermost held() ends

    @classmethod
    def open(cls, path: Union[str, os.PathLike], *, resume: bool = False, buffered: bool = False) -> EventLog:
        """Open `path` for appending.

        A new log refuses to overwrite an existing file (RunDirError). With resume=True an existing log is
        read, anything after its last readable record is moved to `<name>.torn-<offset>`, and appends go
        after that record; a missing file starts a new log. A file that is not a raybench log raises
        EventLogError.

        buffered=True leaves flushing to the file object's buffer (and close): only for logs that can be
        made again, such as a replay's, never for a live run, whose every event must reach the OS at once.
        """
        p = Path(path)
        if not resume or not p.exists():
            fd = _open_fd(p, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, new=True)
            return cls(p, fd, LogRead([], []), None, buffered)
        fd = _open_fd(p, os.O_RDWR | os.O_APPEND, new=False)
        try:
            recovered = read_events(p)
            size = os.fstat(fd).st_size
            torn = _move_tail_aside(p, fd, recovered.end_offset, size) if recovered.end_offset < size else None
        except BaseException:
            os.close(fd)
            raise
        return cls(p, fd, recovered, torn)

    def append(self, event: Mapping[str, Any], *, sync: Optional[bool] = None) -> None:
        """Append one event and flush it to the OS; fsync too when `sync` is true.

        sync=None fsyncs the run's milestones only (events._types.SYNCED_EVENTS).
        """
        kind = event.get("event")
        if not isinstance(kind, str) or not isinstance(event.get("t"), (int, float)):
            raise ValueError(f"an event needs a str 'event' and a numeric 't', got event={kind!r}; use make_event")
        record = encode(event)
        do_sync = should_sync(event) if sync is None else sync
        with self._lock:
            if self._fp.closed:
                raise ValueError(f"event log {self.path} is closed")
            self._fp.write(record)
            if not (self._buffered or self._held):
                self._fp.flush()
            if do_sync:
                self._fp.flush()
                os.fsync(self._fp.fileno())

    @contextlib.contextmanager
    def held(self) -> Iterator[None]:
        """Appends inside wait in the buffer and reach the OS together, with one flush at the end.

        For a caller that answers once for several events (a batch of reports): everything is flushed
        before it answers, so nothing anyone acted on can be lost with the process. Milestones still
        fsync at once. Re-entrant.
        """
        with self._lock:
            self._held += 1
        try:
            yield
        finally:
            with self._lock:
                self._held -= 1
                if not self._held and not self._fp.closed and not self._buffered:
                    self._fp.flush()

    def sync(self) -> None:
        """fsync everything appended so far."""
        with self._lock:
            if not self._fp.closed:
                self._fp.flush()
                os.fsync(self._fp.fileno())

    @property
    def closed(self) -> bool:
        return self._fp.closed

    def close(self) -> None:
        """fsync and close; closing twice is harmless. Closing releases the writer lock."""
        with self._lock:
            if not self._fp.closed:
                self._fp.flush()
                os.fsync(self._fp.fileno())
                self._fp.close()

    def __enter__(self) -> EventLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
