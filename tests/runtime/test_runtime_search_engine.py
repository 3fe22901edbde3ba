"""Promotion ASHA and energy as an objective, end to end on a real local Ray (synthetic task)."""

import collections

import pytest
from rb_helpers import events_of, experiment, run

pytestmark = pytest.mark.timeout(300)


def test_promotion_asha_resumes_paused_trials_from_their_checkpoints(local_ray, tmp_path):
    cfg = experiment(pruner={"type": "asha", "variant": "promotion", "grace_period": 1, "reduction_factor": 2,
                             "max_t": 4},
                     budget={"max_trials": 8}, workers={"count": 2, "cpus": 1, "memory_mb": 512})
    summary = run(cfg, tmp_path / "r")
    events = events_of(tmp_path / "r")
    kinds = collections.Counter(e["event"] for e in events)
    assert kinds["trial_paused"] >= 1 and kinds["trial_promoted"] >= 1
    # No epoch of a trial runs twice: a promoted trial starts after the epoch it paused at.
    reports = collections.Counter((e["trial_id"], e["step"]) for e in events if e["event"] == "report")
    assert reports and max(reports.values()) == 1
    promoted, resumed = {}, 0  # each start after a promotion resumes from the epoch it paused at
    for e in events:
        if e["event"] == "trial_promoted":
            promoted[e["trial_id"]] = e["step"]
        elif e["event"] == "trial_started" and e["trial_id"] in promoted:
            assert e["from_step"] == promoted.pop(e["trial_id"]) > 0
            resumed += 1
    assert resumed >= 1 and not promoted
    ends = collections.Counter(e["trial_id"] for e in events if e["event"] == "trial_completed")
    assert len(ends) == 8 and set(ends.values()) == {1}
    assert summary["trials"]["paused"] == 0 and summary["trials"]["completed"] >= 1


def test_energy_as_an_objective_gives_a_pareto_front(local_ray, tmp_path):
    cfg = experiment(metric=[{"name": "val_accuracy", "mode": "max"}, {"name": "energy_j", "mode": "min"}],
                     sampler={"type": "tpe", "n_startup_trials": 3}, pruner={"type": "none"},
                     budget={"max_trials": 6}, task={"dataset": "synthetic", "epochs": 2,
                                                     "options": {"epoch_time_s": 0.3}})
    summary = run(cfg, tmp_path / "r")
    events = events_of(tmp_path / "r")
    objs = {e["trial_id"]: e["values"] for e in events if e["event"] == "trial_objectives"}
    completed = {e["trial_id"] for e in events if e["event"] == "trial_completed" and e["status"] == "completed"}
    assert set(objs) == completed and all(v["energy_j"] > 0 for v in objs.values())
    per_trial = {p["trial_id"]: p["energy_j"] for p in summary["energy"]["per_trial"]}
    for tid, v in objs.items():  # the objective is the trials.csv / summary figure
        assert v["energy_j"] == pytest.approx(per_trial[tid], rel=1e-6)
    pareto = summary["pareto"]
    assert pareto["trials"] and pareto["hypervolume"] > 0 and pareto["n_candidates"] == len(completed)
    assert summary["cheapest_near_best"]["trial_id"] in completed


def test_each_trial_is_measured_only_while_it_runs(local_ray, tmp_path):
    """Trial actors send a trial's untrack with their next trial's track, or alone when none follows at once
    (a promotion wait, the run's end): each trial's tracked time is its attempts' time, not more."""
    cfg = experiment(pruner={"type": "asha", "variant": "promotion", "grace_period": 1, "reduction_factor": 2,
                             "max_t": 4},
                     task={"dataset": "synthetic", "epochs": 4, "options": {"epoch_time_s": 0.02}},
                     budget={"max_trials": 10}, energy={"interval_s": 0.1})
    run(cfg, tmp_path / "r")
    events = events_of(tmp_path / "r")
    assert any(e["event"] == "trial_paused" for e in events)
    attempts, opened = collections.defaultdict(float), {}
    for e in events:
        if e["event"] == "trial_started":
            opened[e["trial_id"]] = e["t"]
        elif e["event"] in ("trial_paused", "trial_completed") and e["trial_id"] in opened:
            attempts[e["trial_id"]] += e["t"] - opened.pop(e["trial_id"])
    held = collections.defaultdict(float)
    for s in (e for e in events if e["event"] == "energy_sample"):
        for tid, seconds in s["held_s"].items():
            held[int(tid)] += seconds
    assert set(held) == set(attempts) and len(attempts) == 10
    n_attempts = collections.Counter(e["trial_id"] for e in events if e["event"] == "trial_started")
    for tid, seconds in attempts.items():
        # Measured: within 2 ms of its attempts' time; an untrack left until the next wait ends was 170 ms late.
        # The bound leaves room for a loaded machine between the two.
        assert held[tid] <= seconds + 0.05 + 0.01 * n_attempts[tid], (tid, held[tid], seconds)
