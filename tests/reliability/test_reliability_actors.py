"""Trial actors killed with SIGKILL mid-training: retried from their checkpoint, failed past max_failures."""

import os
import random
import signal
import time

import pytest
from rb_helpers import events_of, experiment, run
from rel_helpers import Injector, actor_pids, ended_once, is_trial_worker, read_log, wait_for

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
    """SIGKILL a random live trial worker every 0.2 to 1 s (seeded), n times; returns the kill count."""
    rng = random.Random(seed)
    kills = 0
    deadline = time.time() + 150
    while kills < n and not stop.is_set() and time.time() < deadline:
        time.sleep(rng.uniform(0.2, 1.0))
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
                 budget={"max_trials": 20}, max_failures=3)
    cfg = cfg.model_copy(update={"pruner": experiment().pruner})  # ASHA: kills also land between stop and end
    killer = Injector(lambda stop: random_kills(d, 10, 6, stop))
    summary = run(cfg, d)
    kills = killer.value()
    assert kills == 10, f"only {kills} kills before the run ended"

    events = events_of(d)
    assert ended_once(events)
    fails = [e for e in events if e["event"] == "trial_failed"]
    assert fails and {e["cause"] for e in fails} == {"actor_died"}
    assert summary["trials"]["total"] == 20 and events[-1]["event"] == "experiment_end"
    # No epoch of a trial is reported twice: a retry starts after the last checkpoint.
    for tid in {e["trial_id"] for e in events if e["event"] == "trial_created"}:
        steps = [e["step"] for e in events if e["event"] == "report" and e["trial_id"] == tid]
        assert steps == sorted(set(steps)), (tid, steps)
    done = [e for e in events if e["event"] == "trial_completed"]
    assert all(e["steps"] == 4 for e in done if e["status"] == "completed")
    # A trial the pruner stopped is never resumed by a retry: nothing is reported after its stop.
    for stop in (e for e in events if e["event"] == "decision" and e["action"] == "stop"):
        assert not [e for e in events if e["event"] == "report" and e["trial_id"] == stop["trial_id"]
                    and e["step"] > stop["step"]]


def kill_scheduler_after(d, n_done):
    def kill(stop):
        wait_for(lambda: sum(e["event"] == "trial_completed" for e in read_log(d)) >= n_done, 60,
                 f"{n_done} trials", stop)
        [pid] = actor_pids("LiveScheduler")
        os.kill(pid, signal.SIGKILL)
        return pid
    return kill


def test_a_dead_scheduler_is_replaced_from_the_log(local_ray, tmp_path):
    d = tmp_path / "r"
    cfg = sleepy(4, 0.3, budget={"max_trials": 6})
    killer = Injector(kill_scheduler_after(d, 2))
    summary = run(cfg, d)
    killer.value()
    events = events_of(d)
    assert summary["status"] == "completed" and summary["trials"]["total"] == 6 and ended_once(events)
    starts = [e for e in events if e["event"] == "experiment_start"]
    assert [e["resumed"] for e in starts] == [False, True]
    # Nothing was logged twice: each (trial, step) report once per attempt, each trial created once.
    created = [e["trial_id"] for e in events if e["event"] == "trial_created"]
    assert len(created) == len(set(created)) == 6
    reports = [(e["trial_id"], e["step"]) for e in events if e["event"] == "report"]
    assert len(reports) == len(set(reports))  # running trials continued from their checkpoint files


def test_a_scheduler_that_dies_past_max_failures_is_a_clear_error_and_the_run_resumes(local_ray, tmp_path):
    from raybench.errors import RaybenchError

    d = tmp_path / "r"
    cfg = sleepy(4, 0.3, budget={"max_trials": 6}, max_failures=0)
    killer = Injector(kill_scheduler_after(d, 2))
    with pytest.raises(RaybenchError, match="the scheduler actor died .*`raybench run --resume "):
        run(cfg, d)
    killer.value()
    summary = run(None, d, resume=True)
    events = events_of(d)
    assert summary["status"] == "completed" and summary["trials"]["total"] == 6 and ended_once(events)
    assert sum(e["event"] == "experiment_start" for e in events) == 2


def test_a_dead_energy_actor_is_replaced_and_its_gap_estimated(local_ray, tmp_path):
    d = tmp_path / "r"
    cfg = sleepy(5, 0.4, budget={"max_trials": 8})

    def kill_energy(stop):
        wait_for(lambda: [e for e in read_log(d) if e["event"] == "energy_sample"], 60, "an energy sample", stop)
        [pid] = actor_pids("EnergyNode")
        os.kill(pid, signal.SIGKILL)
        return time.time()

    killer = Injector(kill_energy)
    summary = run(cfg, d)
    t_killed = killer.value()
    events = events_of(d)
    assert summary["status"] == "completed" and summary["trials"]["completed"] == 8 and ended_once(events)
    samples = [e for e in events if e["event"] == "energy_sample"]
    gaps = [e for e in samples if e.get("gap")]
    assert len(gaps) == 1 and set(gaps[0]["provenance"].values()) <= {"estimated", "none"}
    assert gaps[0]["t0"] <= t_killed + 0.5 < gaps[0]["t1"] and gaps[0]["energy_j"]["cpu"] > 0
    assert [e for e in samples if e["t0"] >= gaps[0]["t1"] - 0.5], "the new energy actor never sampled"
    notices = [e["message"] for e in events if e["event"] == "warning" and e["code"] == "energy"]
    assert len(notices) == len(set(notices))  # the replacement's one-time notices are not logged again
    assert [e["code"] for e in events if e["event"] == "warning" and e["code"] != "energy"] == ["energy_gap"]
    assert sum(e["event"] == "node_joined" for e in events) == 1
    assert summary["energy"]["accounting_check"]["rel_error"] < 1e-9
