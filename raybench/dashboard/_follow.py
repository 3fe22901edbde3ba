"""Following a growing event log: each poll reads only the bytes appended since the last one.

The framing and its recovery rules are the reader's (raybench.events, docs/events.md). What differs is
that a log being written ends, most of the time, in a record that is only partly there: the follower
stops in front of it and reads it whole on a later poll, instead of calling it damage. A stretch that can
never become a record (a bad header or CRC with a whole record after it) is damage, counted and skipped.
A log that shrinks or is replaced (another inode) is read again from the start, and the caller is told
so it can fold afresh.
"""

from __future__ import annotations

import os
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Union

from raybench.events import BAD_CRC, BAD_HEADER, BAD_PAYLOAD, HEADER_BYTES, Damage
from raybench.events._framing import Probe, decode, probe, resync

CHUNK_BYTES = 4 * 1024 * 1024  # read per poll (more only to see a record cut by the chunk whole)
MAX_DAMAGE_KEPT = 20

_KIND = {Probe.BAD_MAGIC: BAD_HEADER, Probe.BAD_LENGTH: BAD_HEADER, Probe.BAD_CRC: BAD_CRC}


@dataclass(frozen=True)
class Batch:
    """What one poll found: the new events in log order; reset is True when the log was replaced or
    shrank, so these events start the log again from offset 0."""

    events: list[dict[str, Any]] = field(default_factory=list)
    reset: bool = False


class LogFollower:
    """Reads RUN_DIR/events.msgpack incrementally. Never raises for damage or a missing file.

    offset: where the next unread record starts. pending_bytes: bytes after it that are not yet a whole
    record (the tail being written, or damage that nothing readable follows yet: then tail_damage names
    its kind). error: set when the file is not a raybench log or cannot be read.
    """

    def __init__(self, path: Union[str, os.PathLike], *, chunk_bytes: int = CHUNK_BYTES) -> None:
        if chunk_bytes < HEADER_BYTES:
            raise ValueError(f"chunk_bytes must be at least {HEADER_BYTES}, got {chunk_bytes!r}")
        self.path = Path(path)
        self.chunk_bytes = chunk_bytes
        self.offset = 0
        self.pending_bytes = 0
        self.error: Optional[str] = None
        self.damage: deque[Damage] = deque(maxlen=MAX_DAMAGE_KEPT)
        self.damage_count = 0
        self.tail_damage: Optional[str] = None  # kind of an unreadable stretch at the end, not yet skipped
        self.behind = False  # the last poll stopped at chunk_bytes with more of the file unread
        self._inode: Optional[tuple[int, int]] = None

    def poll(self, *, max_events: Optional[int] = None) -> Batch:
        """The events appended since the last poll (at most about chunk_bytes of them)."""
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return Batch()
        except OSError as e:
            self.error = f"cannot read {self.path.name}: {e.strerror or e}"
            return Batch()
        inode = (st.st_dev, st.st_ino)
        reset = self._inode is not None and (inode != self._inode or st.st_size < self.offset)
        if reset:
            self._restart()
        self._inode = inode
        if st.st_size <= self.offset:
            self.pending_bytes = max(st.st_size - self.offset, 0)
            return Batch(reset=reset)
        try:
            events = self._read(st.st_size, max_events)
        except OSError as e:
            self.error = f"cannot read {self.path.name}: {e.strerror or e}"
            return Batch(reset=reset)
        return Batch(events, reset)

    def _restart(self) -> None:
        self.offset = 0
        self.pending_bytes = 0
        self.error = None
        self.damage.clear()
        self.damage_count = 0

    def _note(self, offset: int, length: int, kind: str) -> None:
        self.damage.append(Damage(offset, length, kind))
        self.damage_count += 1

    def _read(self, size: int, max_events: Optional[int]) -> list[dict[str, Any]]:
        want = min(size - self.offset, self.chunk_bytes)
        with open(self.path, "rb") as fp:
            fp.seek(self.offset)
            buf = fp.read(want)
            n = len(buf)
            if self.offset == 0 and self._not_a_log(buf, n, at_eof=n >= size):
                self.error = f"{self.path.name} is not a raybench event log (no record header at offset 0)"
                return []
            events: list[dict[str, Any]] = []
            pos = 0
            self.tail_damage = None
            while pos < n and (max_events is None or len(events) < max_events):
                found, payload = probe(buf, pos, n)
                if found is Probe.OK:
                    assert payload is not None
                    length = HEADER_BYTES + len(payload)
                    try:
                        events.append(decode(payload))
                    except ValueError:
                        self._note(self.offset + pos, length, BAD_PAYLOAD)
                    pos += length
                    continue
                if found is Probe.INCOMPLETE:
                    nxt = resync(buf, pos + 1, n, accept_torn=False)
                    if nxt is not None:  # a length running past whole records: a corrupt header
                        self._note(self.offset + pos, nxt - pos, BAD_HEADER)
                        pos = nxt
                        continue
                    if self.offset + n < size:
                        # The buffer ends before the file does: read on, so the record (or the records
                        # after a corrupt length) can be seen whole.
                        fp.seek(self.offset + n)
                        buf += fp.read(max(n, self.chunk_bytes))
                        n = len(buf)
                        continue
                    break  # the record being written; read it whole next time
                nxt = resync(buf, pos + 1, n, accept_torn=True)
                if nxt is None:
                    if self.offset + n < size:
                        fp.seek(self.offset + n)
                        buf += fp.read(max(n, self.chunk_bytes))
                        n = len(buf)
                        continue
                    # Nothing readable after it yet: count it once records follow it, or keep it as the tail.
                    self.tail_damage = _KIND[found]
                    break
                self._note(self.offset + pos, nxt - pos, _KIND[found])
                pos = nxt
        self.behind = self.offset + n < size and pos == n
        self.offset += pos
        self.pending_bytes = size - self.offset
        return events

    @staticmethod
    def _not_a_log(buf: bytes, n: int, *, at_eof: bool) -> bool:
        first, _ = probe(buf, 0, n)
        return first is Probe.BAD_MAGIC and at_eof and resync(buf, 1, n, accept_torn=False) is None

