"""The scheduler's side of failures, without Ray: deaths at awkward moments, and resume from a cut-off log."""

import os

import pytest
from rb_helpers import experiment
from rel_helpers import ended_once

from raybench.core import Finished
from raybench.events import read_events
from raybench.runtime._scheduler import LiveScheduler

pytestmark = pytest.mark.timeout(60)


def core(tmp_path, resume=False, **overrides):
    cfg = experiment(**{"pruner": {"type": "none"}, "max_failures": 3, **overrides})
    return LiveScheduler(cfg, str(tmp_path), resume=resume)


def log(tmp_path):
    return read_events(os.path.join(str(tmp_path), "events.msgpack")).events


def crash(c):
    """What a SIGKILL of the driver leaves: the log as written so far (the lock goes with the process)."""
    c.log.close()


def report(c, tid, step, value=0.5):
    return c.report(tid, step, {"val_accuracy": value}, float(step), {"epoch": step}).label


def test_a_trial_whose_actor_dies_after_a_stop_decision_ends_pruned(tmp_path):
    c = core(tmp_path, pruner={"type": "asha", "grace_period": 1, "reduction_factor": 2, "max_t": 4})
    a = c.next_trial(0, "n", 1)
    b = c.next_trial(1, "n", 2)
    assert report(c, a.trial_id, 1, 0.9) == "continue"
    assert report(c, b.trial_id, 1, 0.1) == "stop"
    c.worker_lost(1, "ActorDiedError: killed", "actor_died")  # died before it said "pruned"
    events = log(tmp_path)
    done = [e for e in events if e["event"] == "trial_completed"]
    assert [(e["trial_id"], e["status"]) for e in done] == [(b.trial_id, "pruned")]
    assert not [e for e in events if e["event"] == "trial_failed"]
    assert b.trial_id not in c.state.queue


def test_a_trial_whose_actor_dies_after_its_last_epoch_completes(tmp_path):
    c = core(tmp_path, task={"dataset": "synthetic", "epochs": 2})
    a = c.next_trial(0, "n", 1)
    for step in (1, 2):
        report(c, a.trial_id, step)
    c.worker_lost(0, "ActorDiedError: killed", "actor_died")
    done = [e for e in log(tmp_path) if e["event"] == "trial_completed"]
    assert [(e["trial_id"], e["status"], e["steps"]) for e in done] == [(a.trial_id, "completed", 2)]
    assert c.best_trial().checkpoint == {"epoch": 2}


def test_a_killed_trial_retries_from_its_checkpoint_until_max_failures(tmp_path):
    c = core(tmp_path, max_failures=2, budget={"max_trials": 1})
    for attempt in (1, 2, 3):
        a = c.next_trial(0, "n", attempt)
        assert a.attempt == attempt and a.from_step == attempt - 1
        report(c, a.trial_id, attempt)
        c.worker_lost(0, "ActorDiedError: killed", "actor_died")
    assert c.next_trial(0, "n", 9) is None and c.idle()
    fails = [e for e in log(tmp_path) if e["event"] == "trial_failed"]
    assert [(e["attempt"], e["final"], e["cause"]) for e in fails] == [
        (1, False, "actor_died"), (2, False, "actor_died"), (3, True, "actor_died")]


def test_resume_reruns_a_cut_off_trial_and_the_pruner_keeps_its_history(tmp_path):
    # Without checkpoint files the trial runs again from its first epoch (with them: test_reliability_checkpoints).
    asha = {"type": "asha", "grace_period": 1, "reduction_factor": 2, "max_t": 4}
    off = {"persist": False}
    c = core(tmp_path, pruner=asha, checkpoints=off)
    c.start(run_id="a", env={}, requested=2, effective=2)
    a = c.next_trial(0, "n", 1)
    b = c.next_trial(1, "n", 2)
    for step in (1, 2):
        report(c, a.trial_id, step, 0.9)
    report(c, b.trial_id, 1, 0.95)
    crash(c)

    r = core(tmp_path, resume=True, pruner=asha, checkpoints=off)
    assert r.restored == {"trials": 2, "ended": 0, "requeued": 2}
    r.start(run_id="b", env={}, requested=2, effective=2, resumed=True)
    assert r.pruner.rungs()[1.0] == {a.trial_id: 0.9, b.trial_id: 0.95}
    again = r.next_trial(0, "n", 3)
    assert again.trial_id == a.trial_id and again.from_step == 0 and again.attempt == 2
    # Epochs the pruner has judged already are not judged twice (the pruner demands rising progress).
    for step in (1, 2, 3):
        assert report(r, a.trial_id, step, 0.9) == "continue"
    events = log(tmp_path)
    resumed = [i for i, e in enumerate(events) if e["event"] == "experiment_start"][1]
    lost = [e for e in events[resumed:] if e["event"] == "trial_failed"]
    assert [(e["trial_id"], e["cause"], e["final"]) for e in lost] == [
        (a.trial_id, "driver_lost", False), (b.trial_id, "driver_lost", False)]


def test_resume_does_not_count_a_queued_retry_as_running(tmp_path):
    c = core(tmp_path)
    c.start(run_id="a", env={}, requested=1, effective=1)
    a = c.next_trial(0, "n", 1)
    report(c, a.trial_id, 1)
    c.worker_lost(0, "ActorDiedError: killed", "actor_died")  # queued for a retry, then the driver dies
    crash(c)
    r = core(tmp_path, resume=True)
    r.start(run_id="b", env={}, requested=1, effective=1, resumed=True)
    assert list(r.state.queue) == [a.trial_id]
    fails = [e for e in log(tmp_path) if e["event"] == "trial_failed"]
    assert [e["cause"] for e in fails] == ["actor_died"]  # no second, made-up driver_lost failure


def test_resume_ends_every_trial_once_and_reruns_no_completed_trial(tmp_path):
    grid = {"search_space": {"x": {"type": "choice", "values": [0.1, 0.2, 0.3, 0.4, 0.5]}},
            "sampler": {"type": "grid"}, "budget": {"max_trials": None}, "task": {"dataset": "synthetic", "epochs": 1}}
    c = core(tmp_path, **grid)
    c.start(run_id="a", env={}, requested=1, effective=1)
    first = c.next_trial(0, "n", 1)
    report(c, first.trial_id, 1)
    second = c.next_trial(0, "n", 1, Finished(first.trial_id, "completed"))
    crash(c)
    r = core(tmp_path, resume=True, **grid)
    r.start(run_id="b", env={}, requested=1, effective=1, resumed=True)
    seen, finished = [], None
    while (a := r.next_trial(0, "n", 2, finished)) is not None:
        seen.append(a.trial_id)
        report(r, a.trial_id, 1)
        finished = Finished(a.trial_id, "completed")
    assert first.trial_id not in seen and seen[0] == second.trial_id
    r.end("completed")
    events = log(tmp_path)
    assert ended_once(events)
    configs = sorted(e["config"]["x"] for e in events if e["event"] == "trial_created")
    assert configs == [0.1, 0.2, 0.3, 0.4, 0.5]


def test_resume_skips_a_trial_whose_creation_record_is_damaged(tmp_path):
    from raybench.events import Record, iter_log

    c = core(tmp_path)
    c.start(run_id="a", env={}, requested=2, effective=2)
    a = c.next_trial(0, "n", 1)
    b = c.next_trial(1, "n", 2)
    report(c, a.trial_id, 1)
    report(c, b.trial_id, 1)
    crash(c)
    path = os.path.join(str(tmp_path), "events.msgpack")
    rec = next(r for r in iter_log(path) if isinstance(r, Record) and r.event["event"] == "trial_created"
               and r.event["trial_id"] == b.trial_id)
    with open(path, "r+b") as f:  # one flipped byte in the payload: that record, and only it, is lost
        f.seek(rec.offset + rec.size_bytes - 1)
        byte = f.read(1)
        f.seek(-1, 1)
        f.write(bytes([byte[0] ^ 0xFF]))
    r = core(tmp_path, resume=True)
    assert sorted(r.state.trials) == [a.trial_id] and list(r.state.queue) == [a.trial_id]
    assert r.next_trial(0, "n", 3).trial_id == a.trial_id
    assert r.next_trial(1, "n", 4).trial_id == b.trial_id + 1  # the lost trial's id is not given again


def drive(c, trials, finished=None):
    """Run trials one after another on worker 0 until the table holds `trials`; each reports two epochs."""
    while (a := c.next_trial(0, "n", 1, finished)) is not None:
        for step in (1, 2):
            report(c, a.trial_id, step, a.config["x"] * step / 2)
        finished = Finished(a.trial_id, "completed")
        if len(c.state) == trials:
            return c.next_trial(0, "n", 1, finished)  # the last end is logged, and the next trial starts
    return None


def test_resume_rebuilds_tpe_and_median_histories_as_an_uninterrupted_run_has_them(tmp_path):
    opts = {"sampler": {"type": "tpe", "n_startup_trials": 3}, "budget": {"max_trials": 9},
            "pruner": {"type": "median", "min_peers": 2, "warmup": 1},
            "search_space": {"x": {"type": "uniform", "low": 0.0, "high": 1.0}}}
    straight, cut = tmp_path / "straight", tmp_path / "cut"
    straight.mkdir()
    cut.mkdir()
    c = core(straight, **opts)
    c.start(run_id="a", env={}, requested=1, effective=1)
    drive(c, 9)

    c = core(cut, **opts)
    c.start(run_id="a", env={}, requested=1, effective=1)
    drive(c, 5)  # trials 0-4 ended, trial 5 running: then the driver dies
    crash(c)
    r = core(cut, resume=True, **opts)
    r.start(run_id="b", env={}, requested=1, effective=1, resumed=True)
    assert r.restored == {"trials": 6, "ended": 5, "requeued": 1}
    drive(r, 9)

    def created(d):
        return {e["trial_id"]: e["config"] for e in log(d) if e["event"] == "trial_created"}

    def judged(d):  # the median rule's cutoff and peers at each judged report
        return {(e["trial_id"], e["step"]): (e["reason"].get("cutoff"), e["reason"].get("n_peers")) for e in log(d)
                if e["event"] == "decision" and e["reason"]["rule"] == "median"}

    assert created(cut) == created(straight) and len(created(cut)) == 9  # TPE proposed the same trials 6-8
    assert judged(cut) == judged(straight) and any(k[0] >= 6 for k in judged(cut))
