"""The log follower: a growing log read piece by piece gives exactly what one full read gives, a record
cut by the end of the file waits for its rest, damage is skipped and counted, and a replaced log is
read again from the start."""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest

from raybench.dashboard import LogFollower
from raybench.events import BAD_CRC, BAD_HEADER, EventLog, make_event, read_events
from raybench.events._framing import encode
from raybench.events.sample import sample_events


def _event(i: int) -> dict:
    return make_event("warning", t=1000.0 + i, code="energy", message=f"note {i}")


def _drain(f: LogFollower) -> list[dict]:
    out: list[dict] = []
    while True:
        batch = f.poll()
        out += batch.events
        if not batch.events:
            return out


def test_a_growing_log_is_read_from_where_the_last_poll_stopped(tmp_path: Path) -> None:
    path = tmp_path / "events.msgpack"
    follower = LogFollower(path)
    assert follower.poll().events == []  # no file yet: nothing, no error
    log = EventLog.open(path)
    seen = []
    for i in range(5):
        log.append(_event(2 * i), sync=False)
        log.append(_event(2 * i + 1), sync=False)
        batch = follower.poll()
        assert [e["message"] for e in batch.events] == [f"note {2 * i}", f"note {2 * i + 1}"]
        assert follower.offset == os.path.getsize(path) and follower.pending_bytes == 0
        seen += batch.events
    log.close()
    assert follower.poll().events == []
    assert seen == read_events(path).events
    assert follower.error is None and follower.damage_count == 0


@pytest.mark.parametrize("cut", [3, 11, 12, 20])
def test_a_record_cut_by_the_end_of_the_file_waits_for_its_rest(tmp_path: Path, cut: int) -> None:
    path = tmp_path / "events.msgpack"
    first, second = encode(_event(1)), encode(_event(2))
    path.write_bytes(first + second[:cut])
    follower = LogFollower(path)
    assert [e["message"] for e in follower.poll().events] == ["note 1"]
    assert follower.offset == len(first) and follower.pending_bytes == cut
    assert follower.poll().events == []
    with open(path, "ab") as f:
        f.write(second[cut:])
    assert [e["message"] for e in follower.poll().events] == ["note 2"]
    assert follower.damage_count == 0 and follower.pending_bytes == 0


def test_pieces_of_any_size_give_what_one_full_read_gives(tmp_path: Path) -> None:
    """The sample run's log with a flipped byte and a corrupt length in it, appended in random pieces."""
    records = [encode(e) for e in sample_events(ended=True)]
    flipped = bytearray(records[7])
    flipped[-2] ^= 0xFF  # a payload byte: bad CRC
    records[7] = bytes(flipped)
    bad_len = bytearray(records[12])
    bad_len[4:8] = (len(bad_len) + 10_000).to_bytes(4, "little")  # runs past the records after it
    records[12] = bytes(bad_len)
    data = b"".join(records)
    full = tmp_path / "full.msgpack"
    full.write_bytes(data)
    expected = read_events(full)
    rng = random.Random(0)
    for trial in range(5):
        path = tmp_path / f"grow{trial}.msgpack"
        path.write_bytes(b"")
        follower = LogFollower(path, chunk_bytes=rng.choice([16, 64, 1 << 20]))
        got: list[dict] = []
        at = 0
        while at < len(data):
            step = rng.randint(1, 300)
            with open(path, "ab") as f:
                f.write(data[at:at + step])
            at += step
            got += follower.poll().events
        got += _drain(follower)
        assert got == expected.events
        assert sorted(d.kind for d in follower.damage) == sorted(d.kind for d in expected.damage) == [BAD_CRC, BAD_HEADER]


def test_damage_at_the_end_is_skipped_and_records_after_it_are_read(tmp_path: Path) -> None:
    path = tmp_path / "events.msgpack"
    bad = bytearray(encode(_event(1)))
    bad[-1] ^= 0x01
    path.write_bytes(encode(_event(0)) + bytes(bad))
    follower = LogFollower(path)
    assert [e["message"] for e in follower.poll().events] == ["note 0"]
    assert follower.tail_damage == BAD_CRC and follower.pending_bytes == len(bad)
    assert follower.poll().events == [] and follower.damage_count == 0
    with open(path, "ab") as f:
        f.write(encode(_event(2)))
    assert [e["message"] for e in follower.poll().events] == ["note 2"]
    assert follower.damage_count == 1 and follower.damage[0].kind == BAD_CRC and follower.tail_damage is None


def test_a_file_that_is_not_a_log_is_an_error_not_an_exception(tmp_path: Path) -> None:
    path = tmp_path / "events.msgpack"
    path.write_text("hello, I am a text file\n")
    follower = LogFollower(path)
    assert follower.poll().events == []
    assert "not a raybench event log" in follower.error
    path.write_bytes(b"")
    empty = LogFollower(path)
    assert empty.poll().events == [] and empty.error is None


def test_a_replaced_log_is_read_again_from_the_start(tmp_path: Path) -> None:
    path = tmp_path / "events.msgpack"
    path.write_bytes(encode(_event(0)) + encode(_event(1)))
    follower = LogFollower(path)
    assert len(follower.poll().events) == 2
    replacement = tmp_path / "new.msgpack"
    replacement.write_bytes(encode(_event(7)))
    os.replace(replacement, path)  # another inode, and shorter
    batch = follower.poll()
    assert batch.reset and [e["message"] for e in batch.events] == ["note 7"]


def test_a_small_chunk_still_reads_a_record_larger_than_it(tmp_path: Path) -> None:
    path = tmp_path / "events.msgpack"
    big = make_event("warning", t=1.0, code="energy", message="x" * 5000)
    path.write_bytes(encode(big) + encode(_event(1)))
    follower = LogFollower(path, chunk_bytes=64)
    assert [e["message"][:1] for e in _drain(follower)] == ["x", "n"]
    assert follower.offset == os.path.getsize(path) and not follower.behind
    with pytest.raises(ValueError, match="chunk_bytes"):
        LogFollower(path, chunk_bytes=4)
