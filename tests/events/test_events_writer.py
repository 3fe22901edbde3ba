"""EventLog: refuses to overwrite, resumes after a torn tail, appends from threads, fsyncs what matters."""

from __future__ import annotations

import os
import threading
import time

import numpy as np
import pytest

import raybench.events as events_pkg
from raybench.errors import RunDirError
from raybench.events import EVENT_FIELDS, EventLog, make_event, read_events
from raybench.events.sample import sample_events


def _report(i: int, tid: int = 0) -> dict:
    return make_event("report", trial_id=tid, step=i, metrics={"val_accuracy": 0.5, "val_loss": 0.7},
                      elapsed_s=float(i), energy_j=None, progress=float(i))


def test_public_api_is_exactly_all():
    public = {n for n in dir(events_pkg) if not n.startswith("_")}
    modules = {"derive", "export", "sample"}
    assert public - modules == set(events_pkg.__all__)


def test_new_log_refuses_to_overwrite(tmp_path):
    path = tmp_path / "events.msgpack"
    path.write_bytes(b"precious")
    with pytest.raises(RunDirError, match="already exists"):
        EventLog.open(path)
    assert path.read_bytes() == b"precious"


def test_missing_run_dir(tmp_path):
    with pytest.raises(RunDirError, match="does not exist"):
        EventLog.open(tmp_path / "nope" / "events.msgpack")


def test_second_writer_is_refused(tmp_path):
    path = tmp_path / "events.msgpack"
    with EventLog.open(path):
        with pytest.raises(RunDirError, match="another process"):
            EventLog.open(path, resume=True)
    with EventLog.open(path, resume=True) as log:  # the lock went with the first writer
        assert log.recovered.events == []


def test_resume_on_missing_file_starts_a_new_log(tmp_path):
    with EventLog.open(tmp_path / "events.msgpack", resume=True) as log:
        log.append(_report(1))
    assert len(read_events(tmp_path / "events.msgpack").events) == 1


def test_resume_never_overwrites_a_torn_file(tmp_path):
    path = tmp_path / "events.msgpack"
    with EventLog.open(path) as log:
        log.append(_report(1))
    good = path.stat().st_size
    for junk in (b"\x89RB\x01\xff", b"\x89RB"):
        with open(path, "ab") as fp:
            fp.write(junk)
        with EventLog.open(path, resume=True) as log:
            assert log.recovered.damage[0].offset == good
    assert (tmp_path / f"events.msgpack.torn-{good}").read_bytes() == b"\x89RB\x01\xff"
    assert (tmp_path / f"events.msgpack.torn-{good}.1").read_bytes() == b"\x89RB"
    assert path.stat().st_size == good


def test_threads_append_whole_records(tmp_path):
    path = tmp_path / "events.msgpack"
    n_threads, n_each = 8, 300
    with EventLog.open(path) as log:
        def work(tid: int) -> None:
            for i in range(n_each):
                log.append(_report(i, tid), sync=False)

        threads = [threading.Thread(target=work, args=(t,)) for t in range(n_threads)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    read = read_events(path)
    assert read.damage == [] and len(read.events) == n_threads * n_each
    for tid in range(n_threads):
        assert [e["step"] for e in read.events if e["trial_id"] == tid] == list(range(n_each))


def test_default_sync_policy(tmp_path, monkeypatch):
    synced: list[int] = []
    real = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (synced.append(fd), real(fd)))
    with EventLog.open(tmp_path / "events.msgpack") as log:
        synced.clear()
        log.append(_report(1))
        log.append(make_event("warning", code="x", message="y"))
        assert synced == []
        log.append(make_event("trial_failed", trial_id=0, attempt=1, error="boom", cause="error", final=True))
        assert synced == []  # per-trial events are flushed, not fsynced: only the run's milestones are
        log.append(make_event("budget_exhausted", kind="time_s", limit=1.0, value=1.5))
        assert len(synced) == 1
        log.append(_report(2), sync=True)
        log.append(make_event("experiment_end", status="completed", reason="done"), sync=False)
        assert len(synced) == 2


def test_append_checks_its_input(tmp_path):
    with EventLog.open(tmp_path / "events.msgpack") as log:
        with pytest.raises(ValueError, match="make_event"):
            log.append({"t": 1.0})
        with pytest.raises(TypeError, match="cannot log a object"):
            log.append({"event": "warning", "t": 1.0, "code": object()})
        log.append({"event": "report", "t": 1.0, "metrics": {"a": np.float32(0.5), "b": np.arange(3)}})
    log.close()
    with pytest.raises(ValueError, match="closed"):
        log.append(_report(1))
    event = read_events(tmp_path / "events.msgpack").events[0]
    assert event["metrics"] == {"a": 0.5, "b": [0, 1, 2]}


def test_make_event():
    e = make_event("warning", code="c", message="m", t=5)
    assert e == {"event": "warning", "t": 5.0, "code": "c", "message": "m"}
    assert abs(make_event("warning", code="c", message="m")["t"] - time.time()) < 5
    with pytest.raises(ValueError, match="unknown event type"):
        make_event("nope")
    with pytest.raises(ValueError, match="missing message"):
        make_event("warning", code="c")
    with pytest.raises(ValueError, match="cause must be one of"):
        make_event("trial_failed", trial_id=1, attempt=1, error="e", cause="bad", final=True)
    # the sample run uses every event type with its required fields
    assert {e["event"] for e in sample_events(ended=True)} == set(EVENT_FIELDS)


def test_append_throughput(tmp_path, capsys):
    """Not asserted: printed so that a run with -s shows it (target: >= 20,000 flush-only events/s)."""
    batch = [_report(i, i % 16) for i in range(20_000)]
    with EventLog.open(tmp_path / "events.msgpack") as log:
        t = time.perf_counter()
        for e in batch:
            log.append(e)
        elapsed_s = time.perf_counter() - t
    size = (tmp_path / "events.msgpack").stat().st_size
    t = time.perf_counter()
    n = len(read_events(tmp_path / "events.msgpack").events)
    read_s = time.perf_counter() - t
    with capsys.disabled():
        print(f"\nevent log: append {len(batch) / elapsed_s:,.0f} events/s flush-only "
              f"({size / len(batch):.0f} B/event), read {n / read_s:,.0f} events/s")
    assert n == len(batch)


def test_held_appends_reach_the_os_together_when_the_outermost_hold_ends(tmp_path):
    import os

    from raybench.events import EventLog, make_event, read_events

    path = tmp_path / "events.msgpack"
    with EventLog.open(path) as log:
        with log.held():
            with log.held():
                log.append(make_event("warning", t=1.0, code="a", message="m"))
            log.append(make_event("warning", t=2.0, code="b", message="m"))
            assert os.path.getsize(path) == 0  # still in the writer's buffer
        assert [e["code"] for e in read_events(path).events] == ["a", "b"]
        log.append(make_event("warning", t=3.0, code="c", message="m"))
        assert len(read_events(path).events) == 3  # outside a hold, every append is flushed at once
