"""The reader recovers every whole record from a cut or corrupted log and never raises for damage."""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from raybench.errors import EventLogError
from raybench.events import (
    BAD_CRC,
    BAD_HEADER,
    HEADER_BYTES,
    MAGIC,
    TORN_TAIL,
    Damage,
    EventLog,
    Record,
    iter_events,
    iter_log,
    read_events,
)
from raybench.events.sample import sample_events

EVENTS = sample_events(ended=True)


@pytest.fixture(scope="module")
def log(tmp_path_factory: pytest.TempPathFactory) -> tuple[bytes, list[int]]:
    """The sample run's log bytes and the offset where each record starts (plus the file size)."""
    path = tmp_path_factory.mktemp("log") / "events.msgpack"
    with EventLog.open(path) as log:
        for e in EVENTS:
            log.append(e, sync=False)
    data = path.read_bytes()
    starts = [r.offset for r in iter_log(path)]
    return data, [*starts, len(data)]


def _write(path: os.PathLike, data: bytes) -> os.PathLike:
    with open(path, "wb") as fp:
        fp.write(data)
    return path


def test_round_trip(log, tmp_path):
    data, starts = log
    read = read_events(_write(tmp_path / "e", data))
    assert read.events == EVENTS
    assert read.damage == []
    assert read.end_offset == read.size_bytes == len(data)
    assert len(starts) == len(EVENTS) + 1
    # int dict keys (trial ids) survive msgpack
    sample = next(e for e in read.events if e["event"] == "energy_sample")
    assert sample["trial_cpu_s"] == {0: 0.9}


def test_cut_at_every_offset_of_the_last_records(log, tmp_path):
    data, starts = log
    path = tmp_path / "events.msgpack"
    first = starts[-4]  # the last three records
    for cut in range(first, len(data) + 1):
        read = read_events(_write(path, data[:cut]))
        whole = sum(1 for s in starts[1:] if s <= cut)
        assert read.events == EVENTS[:whole], cut
        if cut == starts[whole]:
            assert read.damage == [], cut
        else:
            assert read.damage == [Damage(starts[whole], cut - starts[whole], TORN_TAIL)], cut
        assert read.end_offset == starts[whole]


def test_resume_after_every_cut_appends_cleanly(log, tmp_path):
    data, starts = log
    first = starts[-3]
    for cut in range(first, len(data) + 1):
        run = tmp_path / str(cut)
        run.mkdir()
        path = _write(run / "events.msgpack", data[:cut])
        whole = sum(1 for s in starts[1:] if s <= cut)
        with EventLog.open(path, resume=True) as writer:
            assert writer.recovered.events == EVENTS[:whole]
            for e in EVENTS[whole:]:
                writer.append(e, sync=False)
        read = read_events(path)
        assert read.events == EVENTS and read.damage == [], cut
        aside = run / f"events.msgpack.torn-{starts[whole]}"
        if cut == starts[whole]:
            assert writer.torn_path is None and not aside.exists()
        else:
            assert writer.torn_path == aside
            assert aside.read_bytes() == data[starts[whole]:cut]


@pytest.mark.parametrize("record", [0, 1, len(EVENTS) // 2, len(EVENTS) - 2])
def test_flip_any_byte_of_a_record_loses_only_that_record(log, tmp_path, record):
    data, starts = log
    path = tmp_path / "events.msgpack"
    lo, hi = starts[record], starts[record + 1]
    for at in range(lo, hi):
        bad = bytearray(data)
        bad[at] ^= 0xFF
        read = read_events(_write(path, bytes(bad)))
        assert read.events == EVENTS[:record] + EVENTS[record + 1:], at
        assert len(read.damage) == 1, at
        d = read.damage[0]
        assert (d.offset, d.skipped_bytes) == (lo, hi - lo), at
        if at < lo + 4:
            assert d.kind == BAD_HEADER, at
        elif at >= lo + 8:
            assert d.kind == BAD_CRC, at
        else:  # a flipped length misses the CRC, or runs past the end or the size limit
            assert d.kind in (BAD_CRC, BAD_HEADER), at


def test_garbage_between_records_is_skipped(log, tmp_path):
    data, starts = log
    mid = starts[10]
    junk = b"not a record at all" + MAGIC + b"\x00\x00"
    read = read_events(_write(tmp_path / "e", data[:mid] + junk + data[mid:]))
    assert read.events == EVENTS
    assert read.damage == [Damage(mid, len(junk), BAD_HEADER)]


def test_torn_record_after_a_corrupt_one_is_reported_twice(log, tmp_path):
    data, starts = log
    last, second_last = starts[-2], starts[-3]
    bad = bytearray(data[:-3])
    bad[second_last + HEADER_BYTES + 1] ^= 0x01
    read = read_events(_write(tmp_path / "e", bytes(bad)))
    assert read.events == EVENTS[:-2]
    assert read.damage == [
        Damage(second_last, last - second_last, BAD_CRC),
        Damage(last, len(bad) - last, TORN_TAIL),
    ]


@pytest.mark.parametrize("content", [b"hello, this is a text file\n", b"\x89PNG\r\n\x1a\n" + bytes(100), b"{}"])
def test_not_a_log_raises_one_line(tmp_path, content):
    path = _write(tmp_path / "e", content)
    with pytest.raises(EventLogError) as err:
        read_events(path)
    assert "not a raybench event log" in str(err.value) and "\n" not in str(err.value)
    with pytest.raises(EventLogError):
        EventLog.open(path, resume=True)
    assert path.read_bytes() == content


def test_missing_file_and_directory_raise(tmp_path):
    with pytest.raises(EventLogError, match="cannot open"):
        read_events(tmp_path / "absent")
    with pytest.raises(EventLogError, match="cannot open"):
        read_events(tmp_path)


def test_empty_and_tiny_files(tmp_path):
    assert read_events(_write(tmp_path / "a", b"")).events == []
    read = read_events(_write(tmp_path / "b", MAGIC[:2]))
    assert read.events == [] and read.damage == [Damage(0, 2, TORN_TAIL)]


def test_a_corrupt_first_header_is_skipped(log, tmp_path):
    data, starts = log
    read = read_events(_write(tmp_path / "e", b"X" + data[1:]))
    assert read.events == EVENTS[1:]
    assert read.damage == [Damage(0, starts[1], BAD_HEADER)]


def test_streaming_matches_read_events(log, tmp_path):
    data, starts = log
    bad = bytearray(data)
    bad[starts[5] + 20] ^= 0x10
    path = _write(tmp_path / "e", bytes(bad[:-7]))
    damage: list[Damage] = []
    assert list(iter_events(path, damage)) == read_events(path).events
    assert damage == read_events(path).damage


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(edits=st.lists(st.tuples(st.floats(0, 1), st.binary(min_size=0, max_size=12), st.integers(0, 12)),
                      min_size=1, max_size=4),
       cut=st.floats(0.5, 1))
def test_random_damage_never_raises(log, tmp_path, edits, cut):
    data, _ = log
    bad = bytearray(data)
    for where, insert, delete in edits:
        at = max(1, int(where * len(bad)))  # offset 0 intact: a log that begins like one
        bad[at:at + delete] = insert
    bad = bytes(bad[: max(HEADER_BYTES, int(cut * len(bad)))])
    path = _write(tmp_path / "r", bad)
    items = list(iter_log(path))
    offset = 0
    for item in items:  # records and damage tile the file exactly
        assert item.offset == offset
        offset += item.size_bytes if isinstance(item, Record) else item.skipped_bytes
    assert offset == len(bad)
    got = [i.event for i in items if isinstance(i, Record)]
    it = iter(EVENTS)
    assert all(any(e == x for x in it) for e in got)  # an in-order subsequence of what was written
