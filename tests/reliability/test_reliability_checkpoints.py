"""Running trials' checkpoints on disk, without Ray: a resume continues each running trial from its last
epoch, files follow the trials' lives, and the switch turns them off."""

import os
import threading
import time

import msgpack
import pytest
from rb_helpers import experiment
from rel_helpers import ended_once

from raybench.core import Finished
from raybench.events import read_events
from raybench.runtime._checkpoints import CheckpointStore
from raybench.runtime._scheduler import LiveScheduler

pytestmark = pytest.mark.timeout(60)


def core(tmp_path, resume=False, **overrides):
    cfg = experiment(**{"pruner": {"type": "none"}, "max_failures": 3,
                        "task": {"dataset": "synthetic", "epochs": 4}, **overrides})
    return LiveScheduler(cfg, str(tmp_path), resume=resume)


def log(tmp_path):
    return read_events(os.path.join(str(tmp_path), "events.msgpack")).events


def report(c, tid, step):
    return c.report(tid, step, {"val_accuracy": 0.1 * step}, float(step), {"epoch": step, "w": [step] * 3}).label


def files(tmp_path):
    d = tmp_path / "checkpoints"
    return sorted(p.name for p in d.iterdir()) if d.exists() else []


def test_a_resumed_trial_continues_from_its_last_epoch_checkpoint(tmp_path):
    c = core(tmp_path)
    a = c.next_trial(0, "n", 1)
    b = c.next_trial(1, "n", 2)
    for step in (1, 2):
        report(c, a.trial_id, step)
    report(c, b.trial_id, 1)
    c.store.flush()  # the writer thread caught up (it runs milliseconds behind the reports)
    # Only the latest per trial, as plain msgpack.
    assert files(tmp_path) == [f"trial-{a.trial_id}.msgpack", f"trial-{b.trial_id}.msgpack"]
    doc = msgpack.unpackb((tmp_path / "checkpoints" / f"trial-{a.trial_id}.msgpack").read_bytes(),
                          strict_map_key=False)
    assert (doc["step"], doc["state"]) == (2, {"epoch": 2, "w": [2, 2, 2]})
    c.log.close()  # the driver is SIGKILLed here

    r = core(tmp_path, resume=True)
    r.start(run_id="r", env={}, requested=2, effective=2, resumed=True)
    lost = [e for e in log(tmp_path) if e["event"] == "trial_failed" and e["cause"] == "driver_lost"]
    assert {e["trial_id"] for e in lost} == {a.trial_id, b.trial_id}
    assert "continues after epoch" in lost[0]["error"]
    got = {x.trial_id: x for x in (r.next_trial(0, "n", 3), r.next_trial(1, "n", 4))}
    assert (got[a.trial_id].from_step, got[a.trial_id].checkpoint) == (2, {"epoch": 2, "w": [2, 2, 2]})
    assert got[b.trial_id].from_step == 1
    started = [e for e in log(tmp_path) if e["event"] == "trial_started"][-2:]
    assert {e["trial_id"]: e["from_step"] for e in started} == {a.trial_id: 2, b.trial_id: 1}
    # The continued trial reports epochs 3 and 4 only, each once over the whole log, and completes.
    for step in (3, 4):
        assert report(r, a.trial_id, step) == "continue" or step == 4
    r.next_trial(0, "n", 3, Finished(a.trial_id, "completed"))
    steps = [e["step"] for e in log(tmp_path) if e["event"] == "report" and e["trial_id"] == a.trial_id]
    assert steps == [1, 2, 3, 4]
    r.store.flush()
    assert f"trial-{a.trial_id}.msgpack" not in files(tmp_path)  # deleted when its trial ended


def test_files_are_deleted_when_trials_end_and_never_written_when_off(tmp_path):
    (tmp_path / "on").mkdir()
    c = core(tmp_path / "on", budget={"max_trials": 1})
    a = c.next_trial(0, "n", 1)
    report(c, a.trial_id, 1)
    c.store.flush()
    assert files(tmp_path / "on") == [f"trial-{a.trial_id}.msgpack"]
    c.trial_error(a.trial_id, "boom", "error")  # a failed attempt keeps it: the retry starts there
    c.store.flush()
    assert files(tmp_path / "on") == [f"trial-{a.trial_id}.msgpack"]
    again = c.next_trial(0, "n", 1)
    assert (again.trial_id, again.from_step) == (a.trial_id, 1)
    for step in (2, 3):
        report(c, a.trial_id, step)
    assert report(c, a.trial_id, 4) == "continue"  # the last epoch's checkpoint is not written
    c.next_trial(0, "n", 1, Finished(a.trial_id, "completed"))
    c.store.flush()
    assert files(tmp_path / "on") == []
    c.end("completed")
    assert ended_once(log(tmp_path / "on"))

    (tmp_path / "off").mkdir()
    off = core(tmp_path / "off", checkpoints={"persist": False}, max_failures=0)
    t = off.next_trial(0, "n", 1)
    assert not t.send_checkpoints
    report(off, t.trial_id, 1)
    assert files(tmp_path / "off") == []


def test_a_damaged_checkpoint_restarts_its_trial_from_the_first_epoch(tmp_path):
    c = core(tmp_path)
    a = c.next_trial(0, "n", 1)
    report(c, a.trial_id, 1)
    c.store.flush()
    c.log.close()
    CheckpointStore(tmp_path).path(a.trial_id).write_bytes(b"\x00garbage")
    (tmp_path / "checkpoints" / f".trial-{a.trial_id}.msgpack.x1.tmp").write_bytes(b"cut short")
    r = core(tmp_path, resume=True)
    r.start(run_id="r", env={}, requested=1, effective=1, resumed=True)
    assert r.next_trial(0, "n", 2).from_step == 0
    assert not list((tmp_path / "checkpoints").glob("*.tmp"))


def test_an_energy_gap_is_estimated_from_the_last_interval_and_the_books_balance(tmp_path):
    c = core(tmp_path)
    c.emit_event({"event": "node_baseline", "t": 1.0, "node_id": "n1", "duration_s": 1.0,
                  "power_w": {"cpu": 10.0, "dram": 1.0, "gpu": 0.0}, "gpu_power_w": {}, "provenance": {}})
    assert c.energy_gap("n1", 105.0, "its energy actor died") is None  # no sample yet: nothing to go on
    c.energy([{"event": "energy_sample", "t": 100.0, "node_id": "n1", "t0": 98.0, "t1": 100.0,
               "energy_j": {"cpu": 40.0, "dram": 4.0, "gpu": 0.0},
               "provenance": {"cpu": "measured", "dram": "estimated", "gpu": "none"}, "node_cpu_s": 1.0,
               "trial_cpu_s": {}, "trial_gpu_j": {}, "reserved": {}, "node_resources": {"cpus": 4.0}}])
    assert c.energy_gap("n1", 105.0, "its energy actor died") == 5.0
    gap = [e for e in log(tmp_path) if e["event"] == "energy_sample"][-1]
    assert (gap["t0"], gap["t1"]) == (100.0, 105.0)
    assert gap["energy_j"] == {"cpu": 100.0, "dram": 10.0, "gpu": 0.0}  # 20 W and 2 W for 5 s
    assert gap["provenance"] == {"cpu": "estimated", "dram": "estimated", "gpu": "none"}
    assert gap["gap"]["domains"] == ["cpu", "dram"] and gap["estimate_range"]["cpu"] == [0.5, 2.0]
    warn = [e for e in log(tmp_path) if e["event"] == "warning"][-1]
    assert warn["code"] == "energy_gap" and (warn["t0"], warn["t1"]) == (100.0, 105.0)
    assert c.ledger.n_gaps == 1 and c.ledger.provenance()["cpu"] == "mixed"
    assert c.ledger.accounting_check()["rel_error"] < 1e-12
    assert c.ledger.total_range_j()[1] > c.ledger.total_range_j()[0]


def test_the_writer_keeps_the_latest_checkpoint_per_trial_and_reads_wait_for_it(tmp_path):
    store = CheckpointStore(tmp_path)
    for step in range(1, 51):  # rewritten faster than the disk takes it: the file ends with the latest
        store.save(7, step, {"epoch": step})
    assert store.load(7) == (50, {"epoch": 50})  # a read waits for the writer
    assert 1 <= store.writes <= 50 and files(tmp_path) == ["trial-7.msgpack"]  # no temporary left
    store.save(8, 1, {"epoch": 1})
    store.delete(8)  # a delete cancels a write not yet made, or removes the file it made
    assert store.flush(timeout=10) and files(tmp_path) == ["trial-7.msgpack"]
    store.delete(7)
    assert store.trial_ids() == [] and store.load(7) is None


def test_a_write_that_fails_is_reported_once_and_the_writer_goes_on(tmp_path):
    store = CheckpointStore(tmp_path)
    store.save(1, 1, {"epoch": object()})  # msgpack cannot hold it
    assert store.flush(timeout=10)
    err = store.take_error()
    assert isinstance(err, TypeError) and "without pickle" in str(err)
    assert store.take_error() is None
    store.save(1, 2, {"epoch": 2})
    assert store.load(1) == (2, {"epoch": 2}) and store.take_error() is None


def test_a_scheduler_whose_checkpoint_cannot_be_written_logs_a_warning_and_runs_on(tmp_path):
    c = core(tmp_path)
    a = c.next_trial(0, "n", 1)
    c.report(a.trial_id, 1, {"val_accuracy": 0.1}, 1.0, {"epoch": object()})
    c.store.flush()
    assert report(c, a.trial_id, 2) == "continue"
    warn = [e for e in log(tmp_path) if e["event"] == "warning" and e["code"] == "checkpoint_write"]
    assert len(warn) == 1 and "free space" in warn[0]["message"]
    c.store.flush()
    assert c.store.load(a.trial_id) == (2, {"epoch": 2, "w": [2, 2, 2]})


def test_a_leftover_temporary_of_a_cut_write_is_dropped_and_the_checkpoint_kept(tmp_path):
    store = CheckpointStore(tmp_path)
    store.save(3, 2, {"epoch": 2})
    store.flush()
    (tmp_path / "checkpoints" / ".trial-3.msgpack.tmp").write_bytes(b"half a write")
    store.drop_partial()
    assert files(tmp_path) == ["trial-3.msgpack"] and store.load(3) == (2, {"epoch": 2})


def test_a_checkpoint_waits_its_delay_and_a_trial_that_ends_sooner_never_touches_the_disk(tmp_path):
    store = CheckpointStore(tmp_path)
    store.save(1, 1, {"epoch": 1}, delay_s=0.3)
    store.delete(1)  # the trial ended before its checkpoint was due
    store.save(2, 1, {"epoch": 1}, delay_s=0.3)
    assert files(tmp_path) == []  # not yet due
    deadline = time.monotonic() + 10
    while files(tmp_path) != ["trial-2.msgpack"] and time.monotonic() < deadline:
        time.sleep(0.02)
    assert files(tmp_path) == ["trial-2.msgpack"] and store.writes == 1  # trial 1 never cost a file
    # A trial whose checkpoints keep coming faster than the delay is still written: its oldest pending
    # checkpoint sets when.
    t0 = time.monotonic()
    step = 1
    while time.monotonic() - t0 < 1.5:
        step += 1
        store.save(2, step, {"epoch": step}, delay_s=0.3)
        time.sleep(0.02)
    assert store.writes >= 3
    # A file left by an earlier scheduler is deleted by a new store too.
    again = CheckpointStore(tmp_path)
    again.delete(2)
    assert again.flush(timeout=10) and files(tmp_path) == []


def test_ending_a_trial_without_a_file_costs_the_writer_nothing_and_one_being_written_is_deleted_after(tmp_path):
    store = CheckpointStore(tmp_path)
    for tid in range(50):  # trials that never had a file end: the writer thread is not even started
        store.delete(tid)
    assert store._writer._thread is None and store.flush(timeout=1)
    store.save(7, 1, {"epoch": 1}, delay_s=30)
    store.delete(7)  # its pending write is cancelled, and there is nothing to unlink
    assert store.flush(timeout=5) and store.writes == 0 and files(tmp_path) == []
    # A delete that comes while its trial's file is being written waits for the write, then removes it.
    started, release = threading.Event(), threading.Event()
    real = store._write

    def slow_write(*args):
        started.set()
        release.wait(10)
        real(*args)

    store._write = slow_write
    store.save(8, 1, {"epoch": 1})
    assert started.wait(10)
    store.delete(8)
    release.set()
    assert store.flush(timeout=10) and store.writes == 1 and files(tmp_path) == []


def test_long_epochs_are_written_at_once_and_a_short_epoch_of_a_trial_that_ends_soon_never(tmp_path):
    c = core(tmp_path)
    a = c.next_trial(0, "n", 1)
    b = c.next_trial(1, "n", 2)
    c.report(a.trial_id, 1, {"val_accuracy": 0.1}, 1.0, {"epoch": 1})  # a 1 s epoch
    c.report(b.trial_id, 1, {"val_accuracy": 0.1}, 0.01, {"epoch": 1})  # a 10 ms epoch
    deadline = time.monotonic() + 10
    while f"trial-{a.trial_id}.msgpack" not in files(tmp_path) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert files(tmp_path) == [f"trial-{a.trial_id}.msgpack"]  # b's waits its delay
    c.trial_error(b.trial_id, "boom", "error", retry=False)  # b ends within it
    c.store.flush()
    assert files(tmp_path) == [f"trial-{a.trial_id}.msgpack"] and c.store.writes == 1


def test_a_wait_for_a_promotion_passes_through_the_live_scheduler(tmp_path):
    from raybench.core.records import Assignment, Wait

    c = core(tmp_path, pruner={"type": "asha", "variant": "promotion", "grace_period": 1, "reduction_factor": 2,
                               "max_t": 4}, budget={"max_trials": 2})
    a = c.next_trial(0, "n", 1)
    assert report(c, a.trial_id, 1) == "pause"  # alone at its rung: it waits for others to compare with
    b = c.next_trial(0, "n", 1, Finished(a.trial_id, "paused"))
    assert isinstance(b, Assignment) and b.send_checkpoints
    assert isinstance(c.next_trial(1, "n", 2), Wait)  # nothing to start while b runs, a may still be promoted
