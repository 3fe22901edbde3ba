"""`raybench run` with Optuna's TPESampler (sampler type optuna): four workers of a quarter CPU run at once on
two cores, a killed driver resumes from its log, and every suggestion of both runs is the one a sampler
driven by the log alone makes, the resumed half from a study rebuilt from the log."""

import os
import sys

import pytest
from rb_helpers import events_of

sys.path.insert(0, os.path.join(os.path.dirname(__file__), os.pardir, "reliability"))  # rel_helpers, driver helpers
from rel_helpers import ended_once, read_log, wait_for  # noqa: E402
from test_reliability_driver import kill_session, raybench, session_gone  # noqa: E402

from raybench.config import load_config  # noqa: E402
from raybench.search import space as sp  # noqa: E402
from raybench.search.samplers import make_sampler  # noqa: E402

pytest.importorskip("optuna")
pytestmark = pytest.mark.timeout(180)

CONFIG = """
name: optuna-tpe
seed: 1
task: {dataset: synthetic, epochs: 2, options: {epoch_time_s: 0.25}}
search_space:
  x: {type: uniform, low: 0.0, high: 1.0}
  lr: {type: loguniform, low: 0.0001, high: 0.1}
  n: {type: int, low: 1, high: 4}
  act: {type: choice, values: [relu, tanh]}
sampler: {type: optuna, name: TPESampler, options: {n_startup_trials: 4}}
pruner: {type: none}
workers: {count: 4, cpus: 0.25, memory_mb: 256}
budget: {max_trials: 20}
energy: {backend: estimate, gpu: none, baseline_s: 0.2, interval_s: 0.5}
"""


def most_running(events):
    running, most = set(), 0
    for e in events:
        if e["event"] == "trial_started":
            running.add(e["trial_id"])
        elif e["event"] == "trial_completed" or e["event"] == "trial_failed":
            running.discard(e["trial_id"])
        most = max(most, len(running))
    return most


def shadow_check(cfg, events):
    """Drive a sampler from the log as the scheduler drives its own: each new trial's config must match.

    At the resumed start a fresh sampler learns the earlier trials the way `--resume` teaches it (replay,
    and observe None for failures), so the suggestions after it test the rebuilt study.
    """
    def fresh():
        return make_sampler(cfg.sampler, cfg.space(), seed=cfg.seed, mode=cfg.metric.mode)

    sampler, configs, values, failed = None, {}, {}, set()
    checked = 0
    for e in events:
        kind = e["event"]
        if kind == "experiment_start":
            sampler = fresh()
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


def test_optuna_tpe_runs_four_workers_and_resumes_from_its_log(tmp_path):
    cfg_path = tmp_path / "optuna.yaml"
    cfg_path.write_text(CONFIG)
    cfg = load_config(str(cfg_path))
    d = tmp_path / "run"
    first = raybench("run", str(cfg_path), "--out", str(d))
    try:
        wait_for(lambda: sum(e["event"] == "trial_completed" for e in read_log(d)) >= 4, 90,
                 "four trials to end before the kill")
    finally:
        kill_session(first)
    wait_for(session_gone(first.pid), 30, "the killed run's Ray processes to exit")
    before = events_of(d)
    assert before[0]["effective_concurrency"] == 4 and most_running(before) == 4
    done_before = {e["trial_id"] for e in before if e["event"] == "trial_completed"}

    second = raybench("run", "--resume", str(d))
    try:
        out, _ = second.communicate(timeout=120)
    finally:
        kill_session(second)
    assert second.returncode == 0, out[-3000:]

    events = events_of(d)
    starts = [i for i, e in enumerate(events) if e["event"] == "experiment_start"]
    assert len(starts) == 2 and events[starts[1]]["resumed"] and events[-1]["event"] == "experiment_end"
    after = events[starts[1]:]
    assert not {e["trial_id"] for e in after if e["event"] == "trial_started"} & done_before
    assert ended_once(events)
    created = [e for e in events if e["event"] == "trial_created"]
    assert len(created) == 20 and any(e in after for e in created), "no new trial after the resume"
    space = cfg.space()
    assert all(sp.contains(space[k], v) for e in created for k, v in e["config"].items())
    assert shadow_check(cfg, events) == 20
