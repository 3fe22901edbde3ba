"""One record of the event log: a 12-byte header and a msgpack payload.

    offset  size  field
    0       4     magic b"\\x89RB\\x01" (the last byte is the format version)
    4       4     payload length in bytes, uint32 little-endian
    8       4     CRC-32 (zlib) of the payload, uint32 little-endian
    12      n     payload: one msgpack map, the event

The high first magic byte makes a text file fail at offset 0; the CRC catches torn and flipped payloads.
"""

from __future__ import annotations

import enum
import os
import struct
import zlib
from collections.abc import Mapping
from typing import Any, Optional

import msgpack

MAGIC = b"\x89RB\x01"
HEADER = struct.Struct("<4sII")
HEADER_BYTES = HEADER.size
# Far above any real event; a bigger length in a header means the header is corrupt.
MAX_PAYLOAD_BYTES = 64 * 1024 * 1024


class Probe(enum.Enum):
    """What lies at a byte offset of a log."""

    OK = "ok"
    INCOMPLETE = "incomplete"  # a record header or payload cut short by the end of the file
    BAD_MAGIC = "bad_magic"
    BAD_LENGTH = "bad_length"
    BAD_CRC = "bad_crc"


def _plain(obj: Any) -> Any:
    # numpy scalars and arrays reach us from metrics; they become plain numbers and lists, never ext types.
    tolist = getattr(obj, "tolist", None)
    if callable(tolist):
        return tolist()
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    raise TypeError(f"cannot log a {type(obj).__name__}; convert it to int, float, str, bool, None, list or dict")


def encode(event: Mapping[str, Any]) -> bytes:
    """The framed record for `event`."""
    payload = msgpack.packb(event, use_bin_type=True, default=_plain)
    if len(payload) > MAX_PAYLOAD_BYTES:
        raise ValueError(f"{event.get('event')} event is {len(payload)} bytes packed; the limit is {MAX_PAYLOAD_BYTES}")
    return HEADER.pack(MAGIC, len(payload), zlib.crc32(payload)) + payload


def _no_ext(code: int, data: bytes) -> Any:
    raise ValueError(f"msgpack ext type {code} is not allowed in an event log")


def decode(payload: bytes) -> dict[str, Any]:
    """The event in a payload whose CRC matched. ValueError if it is not a msgpack map with a str "event"."""
    try:
        event = msgpack.unpackb(payload, raw=False, strict_map_key=False, ext_hook=_no_ext)
    except (ValueError, TypeError, msgpack.ExtraData, msgpack.FormatError, msgpack.StackError) as e:
        raise ValueError(f"payload is not msgpack: {e}") from e
    if not isinstance(event, dict) or not isinstance(event.get("event"), str):
        raise ValueError("payload is not an event map")
    return event


def probe(buf: Any, offset: int, size: int) -> tuple[Probe, Optional[bytes]]:
    """Classify the record at `offset` of `buf[:size]`; the payload comes back only when the probe is OK."""
    remaining = size - offset
    if remaining < HEADER_BYTES:
        head = bytes(buf[offset:offset + min(remaining, len(MAGIC))])
        return (Probe.INCOMPLETE if MAGIC.startswith(head) else Probe.BAD_MAGIC), None
    magic, length, crc = HEADER.unpack_from(buf, offset)
    if magic != MAGIC:
        return Probe.BAD_MAGIC, None
    if length > MAX_PAYLOAD_BYTES:
        return Probe.BAD_LENGTH, None
    start = offset + HEADER_BYTES
    if start + length > size:
        return Probe.INCOMPLETE, None
    payload = bytes(buf[start:start + length])
    if zlib.crc32(payload) != crc:
        return Probe.BAD_CRC, None
    return Probe.OK, payload


def resync(buf: Any, start: int, size: int, *, accept_torn: bool) -> Optional[int]:
    """The first offset >= `start` where a whole record begins (or, with accept_torn, a record cut by EOF)."""
    at = start
    while True:
        at = buf.find(MAGIC, at, size)
        if at < 0:
            return None
        found, _ = probe(buf, at, size)
        if found is Probe.OK or (accept_torn and found is Probe.INCOMPLETE):
            return at
        at += 1
