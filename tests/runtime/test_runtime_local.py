"""The runtime on a real local Ray instance: scheduling, decisions, budgets, failures and laptop mode."""

import collections
import json
import os

import pytest
from rb_helpers import events_of, experiment, run

pytestmark = pytest.mark.timeout(240)


def ended_once(events):
    """Every created trial ends exactly once: one trial_completed or one final trial_failed."""
    ends = collections.Counter(e["trial_id"] for e in events
                               if e["event"] == "trial_completed" or (e["event"] == "trial_failed" and e["final"]))
    created = {e["trial_id"] for e in events if e["event"] == "trial_created"}
    return created == set(ends) and all(n == 1 for n in ends.values())


def test_synthetic_asha_run_logs_every_decision_with_its_reason(local_ray, tmp_path):
    summary = run(experiment(), tmp_path / "r")
    events = events_of(tmp_path / "r")
    kinds = [e["event"] for e in events]
    assert kinds[0] == "experiment_start" and kinds[-1] == "experiment_end"
    assert summary["trials"]["total"] == 12
    assert summary["trials"]["completed"] + summary["trials"]["pruned"] == 12
    assert summary["trials"]["pruned"] >= 1  # ASHA with eta 2 over 12 random trials stops some
    assert ended_once(events)
    reports = [e for e in events if e["event"] == "report"]
    decisions = [e for e in events if e["event"] == "decision"]
    assert len(reports) == len(decisions)
    for d in decisions:
        assert d["action"] in ("continue", "stop")
        assert d["reason"]["rule"] in ("asha", "none") and d["reason"]["detail"]
    stops = [d for d in decisions if d["action"] == "stop"]
    assert stops and all(d["reason"]["cutoff"] is not None and d["reason"]["n_peers"] >= 1 for d in stops)
    # A stopped trial reports nothing after its stop: it stopped within one epoch.
    for d in stops:
        later = [r for r in reports if r["trial_id"] == d["trial_id"] and r["step"] > d["step"]]
        assert later == []
    assert summary["best"]["test_accuracy"] is not None
    assert summary["concurrency"] == {"requested": 2, "effective": 2}
    assert os.path.isfile(tmp_path / "r" / "trials.csv")
    with open(tmp_path / "r" / "summary.json") as f:
        assert json.load(f)["jct_s"] > 0


def test_energy_buckets_add_up_to_the_node_total(local_ray, tmp_path):
    cfg = experiment(task={"dataset": "synthetic", "epochs": 3, "options": {"epoch_time_s": 0.3}},
                     budget={"max_trials": 4}, pruner={"type": "none"})
    summary = run(cfg, tmp_path / "r")
    e = summary["energy"]
    b = e["buckets"]
    assert b["total_j"] > 0
    parts = b["trials_j"] + b["idle_reserved_j"] + b["startup_j"] + b["final_test_j"] + b["unattributed_j"]
    assert abs(parts - b["total_j"]) <= 1e-6 * b["total_j"]
    assert e["accounting_check"]["rel_error"] < 1e-9
    assert e["provenance"]["cpu"] == "estimated"  # no RAPL here: it must say so
    assert b["trials_j"] > 0
    samples = [x for x in events_of(tmp_path / "r") if x["event"] == "energy_sample"]
    assert samples and any(s["trial_cpu_s"] for s in samples)


def test_laptop_mode_runs_what_fits_and_says_so(local_ray, tmp_path):
    cfg = experiment(workers={"count": 4, "cpus": 2, "memory_mb": 512}, budget={"max_trials": 3},
                     pruner={"type": "none"})
    summary = run(cfg, tmp_path / "r")
    assert summary["concurrency"] == {"requested": 4, "effective": 1}
    started = [e for e in events_of(tmp_path / "r") if e["event"] == "trial_started"]
    assert {e["resources"]["cpus"] for e in started} == {2}


def test_time_budget_stops_the_experiment(local_ray, tmp_path):
    cfg = experiment(task={"dataset": "synthetic", "epochs": 50, "options": {"epoch_time_s": 0.1}},
                     budget={"max_trials": None, "max_time_s": 3}, pruner={"type": "none"})
    summary = run(cfg, tmp_path / "r")
    events = events_of(tmp_path / "r")
    assert any(e["event"] == "budget_exhausted" and e["kind"] == "time_s" for e in events)
    assert summary["status"] == "budget"
    assert ended_once(events)


def test_failing_trials_retry_then_fail_and_the_run_goes_on(local_ray, tmp_path):
    cfg = experiment(task={"dataset": "synthetic", "workload": "raybench.testing:flaky", "epochs": 3,
                           "options": {"fail_at_epoch": 2}},
                     search_space={"fail": {"type": "choice", "values": [False, True]}},
                     sampler={"type": "grid"}, pruner={"type": "none"}, max_failures=2, budget={"max_trials": None})
    summary = run(cfg, tmp_path / "r")
    events = events_of(tmp_path / "r")
    assert summary["trials"]["failed"] == 1 and summary["trials"]["completed"] == 1
    fails = [e for e in events if e["event"] == "trial_failed"]
    assert [e["final"] for e in fails] == [False, False, True]
    assert "injected failure at epoch 2" in fails[-1]["error"] and fails[-1]["cause"] == "error"
    assert ended_once(events)


def test_memory_limit_fails_the_trial_and_the_run_goes_on(local_ray, tmp_path):
    cfg = experiment(task={"dataset": "synthetic", "workload": "raybench.testing:flaky", "epochs": 2,
                           "options": {"hog_mb": 700}},
                     search_space={"hog": {"type": "choice", "values": [False, True]}},
                     sampler={"type": "grid"}, pruner={"type": "none"}, budget={"max_trials": None},
                     workers={"count": 1, "cpus": 1, "memory_mb": 600})
    summary = run(cfg, tmp_path / "r")
    events = events_of(tmp_path / "r")
    fails = [e for e in events if e["event"] == "trial_failed"]
    assert len(fails) == 1 and fails[0]["cause"] == "memory_limit" and fails[0]["final"]
    assert summary["trials"]["completed"] == 1
    done = [e for e in events if e["event"] == "trial_completed"]
    assert done[0]["peak_rss_mb"] > 0


def test_energy_budget_stops_the_experiment(local_ray, tmp_path):
    cfg = experiment(task={"dataset": "synthetic", "epochs": 40, "options": {"epoch_time_s": 0.1}},
                     budget={"max_trials": None, "max_energy_j": 30.0}, pruner={"type": "none"})
    summary = run(cfg, tmp_path / "r")
    events = events_of(tmp_path / "r")
    exhausted = [e for e in events if e["event"] == "budget_exhausted"]
    assert exhausted and exhausted[0]["kind"] == "energy_j" and exhausted[0]["value"] >= 30.0
    assert summary["status"] == "budget"
    stops = [e for e in events if e["event"] == "decision" and e["action"] == "stop"]
    assert all(d["reason"]["rule"] == "budget" for d in stops)
    # Nothing starts once the budget is spent, and what ran was told to stop at its next report.
    t_out = exhausted[0]["t"]
    assert not [e for e in events if e["event"] == "trial_started" and e["t"] > t_out]
    late = [e for e in events if e["event"] == "report" and e["t"] > t_out + 1.0]
    assert not late
    assert ended_once(events)


def test_asha_can_measure_progress_in_joules(local_ray, tmp_path):
    cfg = experiment(task={"dataset": "synthetic", "epochs": 6, "options": {"epoch_time_s": 0.3}},
                     pruner={"type": "asha", "progress": "energy_j", "grace_period": 1.0, "reduction_factor": 2,
                             "max_t": 1000.0},
                     budget={"max_trials": 6})
    run(cfg, tmp_path / "r")
    events = events_of(tmp_path / "r")
    reports = [e for e in events if e["event"] == "report"]
    assert all(r["energy_j"] is not None for r in reports[-5:])
    judged = [e for e in events if e["event"] == "decision" and e["reason"]["rule"] == "asha"]
    assert judged and all(d["reason"]["unit"] == "energy_j" for d in judged)
    # progress is the trial's attributed joules, increasing per trial
    by_trial = collections.defaultdict(list)
    for r in reports:
        by_trial[r["trial_id"]].append(r["progress"])
    assert all(p == sorted(p) for p in by_trial.values())
