"""Trial actors killed with SIGKILL mid-training: retried from their checkpoint, failed past max_failures."""

import os
import random
import signal
import time

import pytest
from rb_helpers import events_of, experiment, run
from rel_helpers import Injector, ended_once, is_trial_worker, read_log, wait_for

pytestmark = pytest.mark.timeout(240)


def sleepy(epochs, epoch_time_s, **overrides):
    return experiment(task={"dataset": "synthetic", "workload": "raybench.testing:sleepy", "epochs": epochs,
                            "options": {"epoch_time_s": epoch_time_s}},
                      pruner={"type": "none"}, **overrides)


def attempts(run_dir, trial_id, attempt):
    return [e for e in read_log(run_dir) if e["event"] == "trial_started" and e["trial_id"] == trial_id
            and e["attempt"] == attempt]


def reports_since(run_dir, trial_id, t0):
    return [e["step"] for e in read_log(run_dir) if e["event"] == "report" and e["trial_id"] == trial_id
            and e["t"] >= t0]


def kill_attempt(run_dir, trial_id, attempt, n_reports, stop):
    """SIGKILL the worker of one attempt of a trial once it has reported n_reports epochs."""
    ev = wait_for(lambda: attempts(run_dir, trial_id, attempt), 60, f"attempt {attempt} of trial {trial_id}",
                  stop)[0]
    wait_for(lambda: len(reports_since(run_dir, trial_id, ev["t"])) >= n_reports, 60,
             f"{n_reports} reports of attempt {attempt}", stop)
    assert is_trial_worker(ev["pid"])
    os.kill(ev["pid"], signal.SIGKILL)
    return ev


def test_killed_actor_resumes_its_trial_from_the_last_checkpoint(local_ray, tmp_path):
    d = tmp_path / "r"
    cfg = sleepy(6, 0.4, search_space={"x": {"type": "choice", "values": [1.0, 0.9]}},
                 sampler={"type": "grid"}, budget={"max_trials": None}, max_failures=3)
    killer = Injector(lambda stop: kill_attempt(d, 0, 1, 2, stop))
    summary = run(cfg, d)
    first = killer.value()

    events = events_of(d)
    fails = [e for e in events if e["event"] == "trial_failed"]
    assert len(fails) == 1 and fails[0]["cause"] == "actor_died" and not fails[0]["final"]
    again = [e for e in events if e["event"] == "trial_started" and e["trial_id"] == 0]
    assert [e["attempt"] for e in again] == [1, 2]
    assert again[1]["from_step"] >= 2 and again[1]["pid"] != first["pid"]
    # Each epoch is reported once: the retry starts right after the checkpointed one.
    steps = [e["step"] for e in events if e["event"] == "report" and e["trial_id"] == 0]
    assert steps == list(range(1, 7)), steps
    retried = [e["step"] for e in events if e["event"] == "report" and e["trial_id"] == 0 and e["t"] > again[1]["t"]]
    assert retried[0] == again[1]["from_step"] + 1
    assert summary["trials"]["completed"] == 2 and summary["status"] == "completed"
    assert ended_once(events)


def test_a_trial_killed_past_max_failures_fails_and_the_run_ends(local_ray, tmp_path):
    d = tmp_path / "r"
    cfg = sleepy(8, 0.4, search_space={"x": {"type": "choice", "values": [1.0, 0.9]}},
                 sampler={"type": "grid"}, budget={"max_trials": None}, max_failures=1,
                 workers={"count": 1, "cpus": 1, "memory_mb": 256})
    # max_failures = 1: the first death is retried, the second is final.
    killer = Injector(lambda stop: [kill_attempt(d, 0, a, 1, stop) for a in (1, 2)])
    summary = run(cfg, d)
    killer.value()

    events = events_of(d)
    fails = [e for e in events if e["event"] == "trial_failed"]
    assert [(e["trial_id"], e["attempt"], e["final"]) for e in fails] == [(0, 1, False), (0, 2, True)]
    assert all(e["cause"] == "actor_died" for e in fails)
    assert summary["trials"]["failed"] == 1 and summary["trials"]["completed"] == 1
    assert events[-1]["event"] == "experiment_end" and summary["status"] == "completed"
    assert ended_once(events)


def random_kills(run_dir, n, seed, stop):
    """SIGKILL a random live trial worker every 0.2 to 1.5 s (seeded), n times; returns the kill count."""
    rng = random.Random(seed)
    kills = 0
    deadline = time.time() + 150
    while kills < n and not stop.is_set() and time.time() < deadline:
        time.sleep(rng.uniform(0.2, 1.5))
        latest = {}
        for e in read_log(run_dir):
            if e["event"] == "trial_started":
                latest[e["worker"]] = e["pid"]  # each worker slot's newest actor
        pids = sorted(p for p in set(latest.values()) if is_trial_worker(p))
        if pids:
            os.kill(rng.choice(pids), signal.SIGKILL)
            kills += 1
    return kills


def test_random_kills_end_every_trial_exactly_once(local_ray, tmp_path):
    """Ten SIGKILLs at seeded random moments, whatever each worker is doing at that moment."""
    d = tmp_path / "r"
    cfg = sleepy(4, 0.25, search_space={"x": {"type": "uniform", "low": 0.5, "high": 1.0}},
                 budget={"max_trials": 14}, max_failures=3)
    killer = Injector(lambda stop: random_kills(d, 10, int(os.environ.get("KSEED", 6)), stop))
    summary = run(cfg, d)
    kills = killer.value()
    assert kills == 10, f"only {kills} kills before the run ended"

    events = events_of(d)
    assert ended_once(events)
    fails = [e for e in events if e["event"] == "trial_failed"]
    assert fails and {e["cause"] for e in fails} == {"actor_died"}
    assert summary["trials"]["total"] == 14 and events[-1]["event"] == "experiment_end"
    # No epoch of a trial is reported twice: a retry starts after the last checkpoint.
    for tid in {e["trial_id"] for e in events if e["event"] == "trial_created"}:
        steps = [e["step"] for e in events if e["event"] == "report" and e["trial_id"] == tid]
        assert steps == sorted(set(steps)), (tid, steps)
    assert all(e["steps"] == 4 for e in events if e["event"] == "trial_completed")
