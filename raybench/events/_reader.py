"""Reading an event log: every whole record comes back, and damage is reported instead of raised.

Recovery rules (docs/events.md has the full story):
- a record whose header or payload runs past the end of the file, with no whole record after it: torn_tail;
- a header without the magic or with an impossible length: bad_header, skipped to the next whole record;
- a whole record whose CRC does not match: bad_crc, skipped to the next whole record (its length may be
  the corrupt part, so the search starts one byte in, not at the length it claims);
- a record whose CRC matches but whose payload is not an event map: bad_payload, skipped by its length.
Only a file that does not begin like a log and holds no whole record anywhere is an EventLogError.
"""

from __future__ import annotations

import mmap
import os
import zlib
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Optional, Union

from raybench.errors import EventLogError
from raybench.events._framing import HEADER, HEADER_BYTES, MAGIC, MAX_PAYLOAD_BYTES, Probe, decode, probe, resync

TORN_TAIL = "torn_tail"
BAD_HEADER = "bad_header"
BAD_CRC = "bad_crc"
BAD_PAYLOAD = "bad_payload"
DAMAGE_KINDS = (TORN_TAIL, BAD_HEADER, BAD_CRC, BAD_PAYLOAD)


@dataclass(frozen=True)
class Damage:
    """A stretch of the log that held no readable event: where it starts, how long it is, and why."""

    offset: int
    skipped_bytes: int
    kind: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Record:
    """One readable event and where its record lies in the file."""

    offset: int
    size_bytes: int
    event: dict[str, Any]

    @property
    def end(self) -> int:
        return self.offset + self.size_bytes


@dataclass(frozen=True)
class LogRead:
    """Everything recovered from a log.

    end_offset: where the last readable record ends; everything after it is damage.
    """

    events: list[dict[str, Any]]
    damage: list[Damage]
    end_offset: int = 0
    size_bytes: int = 0


_KIND = {Probe.BAD_MAGIC: BAD_HEADER, Probe.BAD_LENGTH: BAD_HEADER, Probe.BAD_CRC: BAD_CRC,
         Probe.INCOMPLETE: TORN_TAIL}


_RELEASE_BYTES = 16 << 20  # how much of the mapped log is read before its pages are given back


def _release(buf: Any) -> Any:
    """A function that drops the pages of buf[:end] from this process (they stay in the OS's file cache), or
    None where mmap cannot: without it, reading a 130 MB log keeps 130 MB resident until the end."""
    advice = getattr(mmap, "MADV_DONTNEED", None)
    if advice is None or not hasattr(buf, "madvise"):
        return None
    done = [0]

    def release(end: int) -> None:
        end -= end % mmap.PAGESIZE
        if end - done[0] >= _RELEASE_BYTES:
            try:
                buf.madvise(advice, done[0], end - done[0])
            except OSError:
                return
            done[0] = end
    return release


def _scan(buf: Any, size: int, name: str, release: Any = None) -> Iterator[Union[Record, Damage]]:
    first, _ = probe(buf, 0, size)
    if first is Probe.BAD_MAGIC and resync(buf, 1, size, accept_torn=False) is None:
        raise EventLogError(f"{name} is not a raybench event log (no record header at offset 0); check the path")
    offset = 0
    unpack, crc32, next_release = HEADER.unpack_from, zlib.crc32, 0
    while offset < size:
        # The usual record, whole and sound, read inline (800,000 of them in a log of 100,000 trials); anything
        # else goes through probe(), which says what is wrong.
        start = offset + HEADER_BYTES
        if start <= size:
            magic, n, crc = unpack(buf, offset)
            end = start + n
            if magic == MAGIC and n <= MAX_PAYLOAD_BYTES and end <= size:
                payload = buf[start:end]
                if crc32(payload) == crc:
                    try:
                        yield Record(offset, end - offset, decode(payload))
                    except ValueError:
                        yield Damage(offset, end - offset, BAD_PAYLOAD)
                    offset = end
                    if release is not None and offset >= next_release:
                        release(offset)
                        next_release = offset + (1 << 20)
                    continue
        found, payload = probe(buf, offset, size)
        if found is Probe.OK:
            assert payload is not None
            length = HEADER_BYTES + len(payload)
            try:
                yield Record(offset, length, decode(payload))
            except ValueError:
                yield Damage(offset, length, BAD_PAYLOAD)
            offset += length
            if release is not None:
                release(offset)
            continue
        kind = _KIND[found]
        nxt = resync(buf, offset + 1, size, accept_torn=True)
        if nxt is None:
            yield Damage(offset, size - offset, kind)
            return
        # A length running past the end while records follow is a corrupt header, not a torn tail.
        yield Damage(offset, nxt - offset, BAD_HEADER if kind == TORN_TAIL else kind)
        offset = nxt


def iter_log(path: Union[str, os.PathLike]) -> Iterator[Union[Record, Damage]]:
    """Stream a log as Records and Damage in file order. Memory stays flat: the file is mapped, not read, and
    the pages already read are given back as it goes.

    Raises EventLogError if the file cannot be opened or is not a raybench log at all.
    """
    p = Path(path)
    try:
        fp = open(p, "rb")
    except OSError as e:
        raise EventLogError(f"cannot open event log {p}: {e.strerror or e}; check the run directory") from e
    with fp:
        size = os.fstat(fp.fileno()).st_size
        if size == 0:
            return
        with mmap.mmap(fp.fileno(), size, access=mmap.ACCESS_READ) as buf:
            yield from _scan(buf, size, str(p), _release(buf))


def iter_events(path: Union[str, os.PathLike], damage: Optional[list[Damage]] = None) -> Iterator[dict[str, Any]]:
    """Stream the events of a log; damage found on the way is appended to `damage` when given."""
    for item in iter_log(path):
        if isinstance(item, Record):
            yield item.event
        elif damage is not None:
            damage.append(item)


def read_events(path: Union[str, os.PathLike]) -> LogRead:
    """Every readable event of a log and the damage around them. Never raises for damage."""
    events: list[dict[str, Any]] = []
    damage: list[Damage] = []
    end = 0
    size = 0
    for item in iter_log(path):
        if isinstance(item, Record):
            events.append(item.event)
            end = item.end
            size = max(size, item.end)
        else:
            damage.append(item)
            size = max(size, item.offset + item.skipped_bytes)
    return LogRead(events, damage, end, size)
