"""A run with Optuna's TPESampler (sampler type optuna) on a real local Ray: four workers of a quarter CPU run at
once on two cores, a run cut off mid-way resumes from its log, and every suggestion, before and after the
resume, is the one a sampler driven by the log alone makes: after the resume, from a study rebuilt from the log.

The cut run is the log a driver killed at that moment leaves (every event is flushed as it is appended):
its prefix, up to the sixth trial end, with four trials still running. Killing real drivers is covered by
tests/reliability; here one Ray instance serves both runs, which keeps the test short.
"""

import pytest
from rb_helpers import events_of, experiment, run

from raybench.events import EventLog
from raybench.search.samplers import make_sampler

pytest.importorskip("optuna")
pytestmark = pytest.mark.timeout(240)

SPACE = {"x": {"type": "uniform", "low": 0.0, "high": 1.0},
         "lr": {"type": "loguniform", "low": 0.0001, "high": 0.1},
         "n": {"type": "int", "low": 1, "high": 4},
         "act": {"type": "choice", "values": ["relu", "tanh"]}}
TRIALS = 16


def config():
    return experiment(name="optuna-tpe", seed=1, search_space=SPACE,
                      sampler={"type": "optuna", "name": "TPESampler", "options": {"n_startup_trials": 4}},
                      pruner={"type": "none"}, task={"epochs": 2, "options": {"epoch_time_s": 0.2}},
                      workers={"count": 4, "cpus": 0.25, "memory_mb": 1024}, budget={"max_trials": TRIALS})


def most_running(events):
    running, most = set(), 0
    for e in events:
        if e["event"] == "trial_started":
            running.add(e["trial_id"])
        elif e["event"] in ("trial_completed", "trial_failed"):
            running.discard(e["trial_id"])
        most = max(most, len(running))
    return most


def ended(e):
    """The event that ends a trial for good: it completed, or failed with no retry left (never re-run)."""
    return e["event"] == "trial_completed" or (e["event"] == "trial_failed" and e["final"])


def ended_once(events):
    ends = [e["trial_id"] for e in events if ended(e)]
    return sorted(ends) == sorted({e["trial_id"] for e in events if e["event"] == "trial_created"})


def shadow_check(cfg, events):
    """Drive a sampler from the log as the scheduler drives its own; every new trial's config must match.

    At a resumed start, a fresh sampler learns the earlier trials as `--resume` teaches the scheduler's
    (replay with the final value, observe None for a failure, no value for a trial that was running).
    Returns how many suggestions were checked.
    """
    sampler, configs, values, failed, checked = None, {}, {}, set(), 0
    for e in events:
        kind = e["event"]
        if kind == "experiment_start":
            sampler = make_sampler(cfg.sampler, cfg.space(), seed=cfg.seed, mode=cfg.metric.mode)
            for tid in sorted(configs):
                sampler.replay(tid, configs[tid], values.get(tid))
                if tid in failed:
                    sampler.observe(tid, None)
        elif kind == "trial_created":
            assert sampler.suggest(e["trial_id"]) == e["config"], f"trial {e['trial_id']}"
            configs[e["trial_id"]] = e["config"]
            checked += 1
        elif kind == "trial_completed":
            sampler.observe(e["trial_id"], e["final_metric"])
            values[e["trial_id"]] = e["final_metric"]
        elif kind == "trial_failed" and e["final"]:
            sampler.observe(e["trial_id"], None)
            failed.add(e["trial_id"])
    return checked


def test_optuna_tpe_runs_four_workers_and_resumes_from_its_log(local_ray, tmp_path):
    cfg = config()
    run(cfg, tmp_path / "full")
    full = events_of(tmp_path / "full")
    assert full[0]["effective_concurrency"] == 4 and most_running(full) == 4
    assert ended_once(full) and shadow_check(cfg, full) == TRIALS

    ends = [i for i, e in enumerate(full) if e["event"] == "trial_completed"]
    cut = full[:ends[5] + 1]
    (tmp_path / "cut").mkdir()
    with EventLog.open(tmp_path / "cut" / "events.msgpack") as log:
        for e in cut:
            log.append(e, sync=False)
    done_before = {e["trial_id"] for e in cut if ended(e)}
    running_at_cut = {e["trial_id"] for e in cut if e["event"] == "trial_started"} - done_before
    assert running_at_cut, "no trial was running at the cut"

    summary = run(None, tmp_path / "cut", resume=True)
    events = events_of(tmp_path / "cut")
    starts = [i for i, e in enumerate(events) if e["event"] == "experiment_start"]
    assert len(starts) == 2 and events[starts[1]]["resumed"] and events[-1]["event"] == "experiment_end"
    after = events[starts[1]:]
    assert not {e["trial_id"] for e in after if e["event"] == "trial_started"} & done_before
    assert running_at_cut <= {e["trial_id"] for e in after if e["event"] == "trial_started"}  # re-run
    assert ended_once(events) and summary["trials"]["total"] == TRIALS
    assert any(e["event"] == "trial_created" for e in after), "no new trial after the resume"
    assert shadow_check(cfg, events) == TRIALS
