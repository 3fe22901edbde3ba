"""Warm starts: finished trials of earlier runs, read from their event logs, seed TPE; incompatible runs are refused."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from raybench.config._schema import ExperimentConfig
from raybench.events import EVENTS_FILE, EventLog, make_event
from raybench.search import space as sp
from raybench.search.samplers import TPESampler, WarmTrial, load_warm_start, make_sampler

SEARCH_SPACE = {"lr": {"type": "loguniform", "low": 1e-4, "high": 1e-1},
                "layers": {"type": "int", "low": 1, "high": 6},
                "act": {"type": "choice", "values": ["relu", "tanh"]}}
SPACE = {"lr": sp.LogUniform(1e-4, 1e-1), "layers": sp.IntRange(1, 6), "act": sp.Choice(("relu", "tanh"))}


def write_run(run_dir: Path, trials: list[tuple[dict, object]], *, search_space=None, metric=None,
              objectives=None, objective_values=None) -> Path:
    """An earlier run's log: start, then per trial created and, unless its value is 'failed', completed;
    with `objectives` (the config's list) and `objective_values` (trial -> name -> value), the
    trial_objectives events of a run with several objectives."""
    run_dir.mkdir()
    config = ExperimentConfig(name="old", search_space=search_space or SEARCH_SPACE,
                              metric=metric or {"name": "val_accuracy", "mode": "max"},
                              sampler={"type": "tpe"}).to_dict()
    if objectives is not None:
        config["objectives"] = objectives
    with EventLog.open(run_dir / EVENTS_FILE) as log:
        log.append(make_event("experiment_start", run_id="r", name="old", config=config, env={},
                              requested_concurrency=1, effective_concurrency=1, resumed=False))
        for trial_id, (trial_config, value) in enumerate(trials):
            log.append(make_event("trial_created", trial_id=trial_id, config=trial_config))
            if value == "failed":
                log.append(make_event("trial_failed", trial_id=trial_id, attempt=1, error="boom", cause="error",
                                      final=True))
                continue
            log.append(make_event("trial_completed", trial_id=trial_id, status="completed", steps=3,
                                  final_metric=value, best_metric=value, duration_s=1.0, peak_rss_mb=None))
            if objective_values and trial_id in objective_values:
                log.append({"event": "trial_objectives", "t": 0.0, "trial_id": trial_id,
                            "values": objective_values[trial_id]})
    return run_dir


def cfg(lr: float, layers: int = 2, act: str = "relu") -> dict:
    return {"lr": lr, "layers": layers, "act": act}


def test_loader_keeps_finished_trials_and_counts_what_it_drops(tmp_path: Path) -> None:
    run = write_run(tmp_path / "a", [(cfg(1e-3), 0.9), (cfg(5e-2, 6), 0.7), (cfg(1e-2), "failed"),
                                     (cfg(2e-3, 1, "tanh"), None), (cfg(3e-4, 4), 0.8)])
    narrower = dict(SPACE, layers=sp.IntRange(1, 5))  # trial 1 (6 layers) falls outside
    trials, report = load_warm_start([run], narrower, objectives=(("val_accuracy", "max"),))
    assert [(t.trial_id, t.values) for t in trials] == [(0, (0.9,)), (4, (0.8,))]
    assert trials[0].config == cfg(1e-3) and trials[0].source == str(run)
    (only,) = report.runs
    assert (only.kept, only.dropped_out_of_space, only.skipped_without_value) == (2, 1, 2)
    assert "2 trials" in report.line() and "1 dropped" in report.line()


@pytest.mark.parametrize("search_space, metric, message", [
    ({k: v for k, v in SEARCH_SPACE.items() if k != "act"}, None, r"missing there \['act'\]"),
    (dict(SEARCH_SPACE, lr={"type": "uniform", "low": 1e-4, "high": 1e-1}), None, "'lr' as uniform"),
    (None, {"name": "val_loss", "mode": "min"}, "optimised"),
])
def test_an_incompatible_run_is_refused_in_one_line(tmp_path: Path, search_space, metric, message) -> None:
    run = write_run(tmp_path / "a", [(cfg(1e-3), 0.9)], search_space=search_space, metric=metric)
    with pytest.raises(ValueError, match=message) as err:
        load_warm_start([run], SPACE, objectives=(("val_accuracy", "max"),))
    assert "\n" not in str(err.value)
    with pytest.raises(ValueError, match="no events.msgpack"):
        load_warm_start([tmp_path / "nowhere"], SPACE, objectives=(("val_accuracy", "max"),))


def test_an_unnamed_objective_is_checked_by_mode(tmp_path: Path) -> None:
    run = write_run(tmp_path / "a", [(cfg(1e-3), 0.1)], metric={"name": "val_loss", "mode": "min"})
    trials, _ = load_warm_start([run], SPACE, objectives=((None, "min"),))
    assert [t.values for t in trials] == [(0.1,)]
    with pytest.raises(ValueError, match="minimised val_loss, this run maximises"):
        load_warm_start([run], SPACE, objectives=((None, "max"),))


def test_tpe_takes_warm_trials_from_the_config_apart_from_its_own_ids(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    trials = []
    for _ in range(30):
        lr = float(10 ** rng.uniform(-4, -1))
        trials.append((cfg(lr, int(rng.integers(1, 7))), -abs(np.log10(lr) + 3.5)))  # best near lr = 3e-4
    run = write_run(tmp_path / "a", trials)
    sampler = make_sampler({"type": "tpe", "warm_start": [str(run)]}, SPACE, seed=0, mode="max")
    assert sampler.n_prior_trials == 30 and sampler.warm_start_report.kept == 30
    cold = TPESampler(SPACE, seed=0, mode="max")
    # The start-up is already over: the first suggestions come from the model, near the warm trials' best.
    warm_lrs = [sampler.suggest(i)["lr"] for i in range(10)]
    cold_lrs = [cold.suggest(i)["lr"] for i in range(10)]
    assert np.median(np.abs(np.log10(warm_lrs) + 3.5)) < 0.4 < np.median(np.abs(np.log10(cold_lrs) + 3.5))
    with pytest.raises(ValueError, match="-1"):
        sampler.observe(-1, 0.5)  # warm trials are not this run's trials
    sampler.observe(0, 0.5)


def test_prior_trials_are_checked_and_replay_stays_exact() -> None:
    prior = [WarmTrial(cfg(3e-4, 2), (0.9,)), WarmTrial(cfg(1e-2, 5, "tanh"), (0.2,)),
             WarmTrial(cfg(2e-3, 3), (0.5,))]
    a = TPESampler(SPACE, seed=3, mode="max", n_startup_trials=2, prior_trials=prior)
    history = [(i, a.suggest(i)) for i in range(6)]
    for i, c in history:
        a.observe(i, c["lr"])
    b = TPESampler(SPACE, seed=3, mode="max", n_startup_trials=2, prior_trials=prior)
    for i, c in reversed(history):
        b.replay(i, c, c["lr"])
    assert [a.suggest(i) for i in range(6, 10)] == [b.suggest(i) for i in range(6, 10)]
    with pytest.raises(ValueError, match="outside"):
        TPESampler(SPACE, prior_trials=[WarmTrial(cfg(1.0), (0.1,))])
    with pytest.raises(ValueError, match="no value"):
        TPESampler(SPACE, prior_trials=[WarmTrial(cfg(1e-3), (float("nan"),))])


def test_several_objectives_come_from_trial_objectives_events(tmp_path: Path) -> None:
    objectives = [{"name": "val_accuracy", "mode": "max"}, {"name": "energy_j", "mode": "min"}]
    run = write_run(tmp_path / "a", [(cfg(1e-3), 0.9), (cfg(2e-3), 0.8), (cfg(3e-3), 0.7)], objectives=objectives,
                    objective_values={0: {"val_accuracy": 0.9, "energy_j": 120.0},
                                      2: {"val_accuracy": 0.7, "energy_j": 80.0}})  # trial 1: pruned, none
    pairs = (("val_accuracy", "max"), ("energy_j", "min"))
    trials, report = load_warm_start([run], SPACE, objectives=pairs)
    assert [(t.trial_id, t.values) for t in trials] == [(0, (0.9, 120.0)), (2, (0.7, 80.0))]
    assert report.runs[0].skipped_without_value == 1
    # Energy first is fine: the order is this run's.
    trials, _ = load_warm_start([run], SPACE, objectives=(("energy_j", "min"), ("val_accuracy", "max")))
    assert trials[0].values == (120.0, 0.9)
    sampler = TPESampler(SPACE, objectives=pairs, warm_start=[str(run)])
    assert sampler.n_prior_trials == 2
    with pytest.raises(ValueError, match="optimised"):
        load_warm_start([run], SPACE, objectives=(("val_accuracy", "max"), ("co2e_g", "min")))
