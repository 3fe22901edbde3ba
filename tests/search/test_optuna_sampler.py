"""The Optuna plug-in (sampler type optuna): real Optuna samplers through ask/tell, without Ray."""

from __future__ import annotations

import math
import os
import random
import subprocess
import sys

import pytest

from raybench.config import load_config
from raybench.config._schema import OptunaSamplerSpec
from raybench.errors import ConfigError
from raybench.search import space as sp
from raybench.search.samplers import make_sampler
from raybench.search.samplers._optuna import OptunaSampler

optuna = pytest.importorskip("optuna")  # the dev extra installs it; only the missing-optuna tests hide it
TrialState = optuna.trial.TrialState

SPACE = {"x": sp.Uniform(-2.0, 2.0), "lr": sp.LogUniform(1e-4, 1e-1), "n": sp.IntRange(1, 8),
         "act": sp.Choice(("relu", "tanh", None))}
# Few start-up trials, so that short runs reach each sampler's model.
OPTIONS = {"RandomSampler": {}, "TPESampler": {"n_startup_trials": 3},
           "CmaEsSampler": {"n_startup_trials": 2, "popsize": 4, "warn_independent_sampling": False},
           "GPSampler": {"n_startup_trials": 3}}
NAMES = sorted(OPTIONS)
# Samplers whose suggestion is a function of (seed, trial id, the study's trials): replay is exact for them.
# CMA-ES keeps its generations in attributes the log does not hold (see docs/samplers.md).
HISTORY_ONLY = ["GPSampler", "RandomSampler", "TPESampler"]
# GPSampler's acquisition over pending trials (a batch EI, Monte Carlo) costs seconds per ask on 2 cores, so its
# loops keep one trial in flight; the four-parallel-asks test gives it pending trials still.
IN_FLIGHT = {"GPSampler": 1}


def make(name: str, seed: int = 0, mode: str = "max", space=None) -> OptunaSampler:
    return OptunaSampler(SPACE if space is None else space, seed=seed, mode=mode, name=name, options=OPTIONS[name])


def value_of(trial_id: int, config: dict) -> float | None:
    """A smooth objective with an optimum inside the space; every fifth trial fails."""
    if trial_id % 5 == 4:
        return None
    return (-(config["x"] - 0.5) ** 2 - (math.log10(config["lr"]) + 2.5) ** 2 - 0.1 * abs(config["n"] - 4)
            + (0.3 if config["act"] == "tanh" else 0.0))


def drive(sampler: OptunaSampler, n_trials: int, *, workers: int = 4, first_id: int = 0) -> dict[int, dict]:
    """Trials with `workers` in flight: the oldest is observed before the next one is asked for."""
    configs: dict[int, dict] = {}
    in_flight: list[int] = []
    next_id = first_id
    while next_id < first_id + n_trials or in_flight:
        while len(in_flight) < workers and next_id < first_id + n_trials:
            configs[next_id] = sampler.suggest(next_id)
            in_flight.append(next_id)
            next_id += 1
        done = in_flight.pop(0)
        sampler.observe(done, value_of(done, configs[done]))
    return configs


def typed(configs: dict[int, dict]) -> dict[int, tuple]:
    return {t: tuple((k, type(v).__name__, repr(v)) for k, v in c.items()) for t, c in configs.items()}


def states(sampler: OptunaSampler) -> list[TrialState]:
    return [t.state for t in sampler.study.trials]


# ---- the loop ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", NAMES)
def test_a_search_loop_stays_in_the_space_and_the_study_sees_every_trial(name: str) -> None:
    sampler = make(name, seed=1)
    configs = drive(sampler, 6, workers=IN_FLIGHT.get(name, 4))
    for config in configs.values():
        assert list(config) == list(SPACE)
        assert all(sp.contains(p, config[k]) for k, p in SPACE.items()), config
    trials = sampler.study.trials
    assert [t.params["x"] for t in trials] == [configs[i]["x"] for i in range(6)]  # trial-id order
    assert [t.state for t in trials] == [TrialState.FAIL if i % 5 == 4 else TrialState.COMPLETE for i in range(6)]
    assert trials[0].value == pytest.approx(value_of(0, configs[0]))


@pytest.mark.parametrize("name", NAMES)
def test_the_seed_fixes_the_sequence(name: str) -> None:
    first, second, other = make(name, seed=3), make(name, seed=3), make(name, seed=4)
    workers = IN_FLIGHT.get(name, 4)
    a, b = drive(first, 5, workers=workers), drive(second, 5, workers=workers)
    assert typed(a) == typed(b)
    assert typed(drive(other, 3, workers=workers)) != typed({t: a[t] for t in range(3)})


@pytest.mark.parametrize("name", HISTORY_ONLY)
def test_replay_rebuilds_the_study_and_the_next_suggestions_match(name: str) -> None:
    original = make(name, seed=5)
    workers = IN_FLIGHT.get(name, 4)
    configs = drive(original, 5, workers=workers)
    pending = {t: original.suggest(t) for t in range(5, 5 + min(3, workers))}  # still running at the "crash"
    resumed = make(name, seed=5)
    history = [(t, c, value_of(t, c)) for t, c in configs.items()] + [(t, c, "pending") for t, c in pending.items()]
    random.Random(0).shuffle(history)  # replay order does not matter
    for trial_id, config, value in history:
        if value == "pending":
            resumed.replay(trial_id, config)
        elif value is None:
            resumed.replay(trial_id, config)
            resumed.observe(trial_id, None)
        else:
            resumed.replay(trial_id, config, value)
    assert states(resumed) == states(original)
    assert [t.params for t in resumed.study.trials] == [t.params for t in original.study.trials]
    # Finish the pending trials, then ask for more (two at once where pending trials are cheap), in both.
    for sampler in (original, resumed):
        for trial_id, config in pending.items():
            sampler.observe(trial_id, value_of(trial_id, config))
    after = [{t: s.suggest(t) for t in range(9, 9 + min(2, workers))} for s in (original, resumed)]
    assert all(sp.contains(p, c[k]) for c in after[0].values() for k, p in SPACE.items())
    assert typed(after[0]) == typed(after[1])


def test_cma_es_carries_on_after_replay_with_the_history_in_its_study() -> None:
    original = make("CmaEsSampler", seed=2)
    configs = drive(original, 10)
    resumed = make("CmaEsSampler", seed=2)
    for trial_id, config in configs.items():
        resumed.replay(trial_id, config, value_of(trial_id, config))
        if value_of(trial_id, config) is None:
            resumed.observe(trial_id, None)
    assert states(resumed) == states(original)
    more = drive(resumed, 6, first_id=10)
    assert all(sp.contains(p, c[k]) for c in more.values() for k, p in SPACE.items())
    assert len(resumed.study.trials) == 16


@pytest.mark.parametrize("name", NAMES)
def test_four_parallel_asks_are_pending_trials_until_observed(name: str) -> None:
    # Past the start-up trials, so that the model is in play; GPSampler starts modelling one ask later, at
    # trial 9, whose acquisition then weighs two pending trials (four would cost it seconds per ask).
    options = {**OPTIONS[name], "n_startup_trials": 5} if name == "GPSampler" else OPTIONS[name]
    sampler = OptunaSampler(SPACE, seed=6, name=name, options=options)
    drive(sampler, 5, workers=1)
    asked = {t: sampler.suggest(t) for t in range(5, 9)}
    assert len({tuple(c.items()) for c in asked.values()}) == 4  # four different configs
    assert states(sampler)[5:] == [TrialState.RUNNING] * 4
    sampler.observe(7, 1.0)
    sampler.observe(5, None)
    assert states(sampler)[5:] == [TrialState.FAIL, TrialState.RUNNING, TrialState.COMPLETE, TrialState.RUNNING]
    assert sampler.suggest(6) == asked[6]  # a known trial keeps its config; nothing new is asked
    assert len(sampler.study.trials) == 9
    config = sampler.suggest(9)  # with trials 6 and 8 still pending
    assert all(sp.contains(p, config[k]) for k, p in SPACE.items())
    assert states(sampler)[5:] == [TrialState.FAIL, TrialState.RUNNING, TrialState.COMPLETE, TrialState.RUNNING,
                                   TrialState.RUNNING]


def test_tpe_constant_liar_sees_the_pending_trials() -> None:
    """With constant_liar, Optuna's TPE treats running trials as bad: pending trials change what it suggests."""
    options = {"n_startup_trials": 3, "constant_liar": True}
    space = {"x": sp.Uniform(0.0, 1.0)}
    with_pending = OptunaSampler(space, seed=1, name="TPESampler", options=options)
    without = OptunaSampler(space, seed=1, name="TPESampler", options=options)
    for sampler in (with_pending, without):
        for t in range(6):
            sampler.replay(t, {"x": 0.1 * t + 0.05}, -abs(0.1 * t + 0.05 - 0.3))
    for t in range(6, 9):
        with_pending.replay(t, {"x": 0.3 + 0.001 * t})  # three workers already near the best
    assert with_pending.suggest(9) != without.suggest(9)


@pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")  # the plain QMCSampler built here
def test_qmc_continues_one_scrambled_sequence_as_plain_optuna_does() -> None:
    """QMCSampler's seed names its sequence, so it is one instance per run: the run equals a plain Optuna loop."""
    space = {"x": sp.Uniform(0.0, 1.0), "lr": sp.LogUniform(1e-4, 1e-1)}
    ours = OptunaSampler(space, seed=3, name="QMCSampler", options={"scramble": True})
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.QMCSampler(seed=3, scramble=True))
    dists = {"x": optuna.distributions.FloatDistribution(0.0, 1.0),
             "lr": optuna.distributions.FloatDistribution(1e-4, 1e-1, log=True)}
    for t in range(8):
        config, trial = ours.suggest(t), study.ask(dists)
        assert config == trial.params
        ours.observe(t, config["x"])
        study.tell(trial, config["x"])


# ---- values, modes, seeds, choices -------------------------------------------------------------------------

def test_failures_nan_infinity_and_a_changed_value() -> None:
    sampler = OptunaSampler({"x": sp.Uniform(0.0, 1.0)}, name="RandomSampler", mode="min")
    for t in range(4):
        sampler.suggest(t)
    sampler.observe(0, None)
    sampler.observe(1, float("nan"))
    sampler.observe(2, math.inf)
    sampler.observe(3, 1.0)
    sampler.observe(3, 2.0)  # a later value replaces the first: the study is rebuilt with it
    trials = sampler.study.trials
    assert [t.state for t in trials] == [TrialState.FAIL, TrialState.FAIL, TrialState.COMPLETE, TrialState.COMPLETE]
    assert (trials[2].value, trials[3].value) == (math.inf, 2.0)
    assert sampler.study.direction == optuna.study.StudyDirection.MINIMIZE


def test_the_experiment_seed_goes_to_the_sampler_unless_options_set_one() -> None:
    space = {"x": sp.Uniform(0.0, 1.0)}
    by_seed = [OptunaSampler(space, seed=s, name="RandomSampler").suggest(0) for s in (0, 1)]
    assert by_seed[0] != by_seed[1]
    fixed = [OptunaSampler(space, seed=s, name="RandomSampler", options={"seed": 11}).suggest(0) for s in (0, 1)]
    assert fixed[0] == fixed[1] != by_seed[0]


def test_choices_keep_their_python_values_even_when_they_compare_equal() -> None:
    space = {"flag": sp.Choice((True, 1, 1.0)), "lr": sp.Choice((0.0001, 0.001)), "act": sp.Choice(("relu", None))}
    sampler = OptunaSampler(space, seed=3, name="TPESampler", options={"n_startup_trials": 2})
    for t in range(12):
        config = sampler.suggest(t)
        assert all(sp.contains(p, config[k]) for k, p in space.items()), config
        sampler.observe(t, float(t % 3))
    seen = {(type(c["flag"]), c["flag"]) for c in (sampler.suggest(t) for t in range(12))}
    assert len(seen) > 1  # not all collapsed onto True
    resumed = OptunaSampler(space, seed=3, name="TPESampler", options={"n_startup_trials": 2})
    for t in range(12):
        resumed.replay(t, sampler.suggest(t), float(t % 3))
    assert typed({12: resumed.suggest(12)}) == typed({12: sampler.suggest(12)})


# ---- building it from a config --------------------------------------------------------------------------------

def test_make_sampler_builds_it_from_a_spec_or_a_dict() -> None:
    spec = OptunaSamplerSpec(type="optuna", name="TPESampler", options={"n_startup_trials": 2})
    built = make_sampler(spec, SPACE, seed=4, mode="min")
    direct = OptunaSampler(SPACE, seed=4, mode="min", name="TPESampler", options={"n_startup_trials": 2})
    assert type(built) is OptunaSampler and built.name == "TPESampler"
    assert typed(drive(built, 6)) == typed(drive(direct, 6))
    from_dict = make_sampler({"type": "optuna", "name": "optuna.samplers:RandomSampler"}, SPACE, seed=0, mode="max")
    assert from_dict.suggest(0) == OptunaSampler(SPACE, name="RandomSampler").suggest(0)


@pytest.mark.parametrize("name, options, says", [
    ("CmaES", {}, "unknown optuna sampler 'CmaES'; valid: .*CmaEsSampler.*TPESampler"),
    ("TPESampler", {"gama": 0.2}, "no option 'gama'; valid: .*gamma"),
    ("RandomSampler", {"seed": -1}, "refused options"),
    ("collections:OrderedDict", {}, "not a subclass of optuna.samplers.BaseSampler"),
    ("no_such_module_xyz:Sampler", {}, "cannot import module 'no_such_module_xyz'"),
    ("optuna.samplers:NoSuch", {}, "has no attribute 'NoSuch'"),
])
def test_bad_names_and_options_are_one_line_value_errors(name, options, says) -> None:
    with pytest.raises(ValueError, match=says) as info:
        OptunaSampler(SPACE, name=name, options=options)
    assert "\n" not in str(info.value)


def test_a_sampler_that_cannot_handle_the_space_fails_at_its_first_suggestion_with_its_reason() -> None:
    sampler = OptunaSampler({"x": sp.Uniform(0.0, 1.0)}, name="BruteForceSampler")  # needs finite spaces
    with pytest.raises(ValueError, match="BruteForceSampler could not suggest trial 0.*step must be given"):
        sampler.suggest(0)
    assert sampler.study.trials == []  # the failed ask leaves no trial behind


def test_a_bad_sampler_in_a_config_file_is_a_one_line_config_error(tmp_path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(CONFIG.format(sampler="{type: optuna, name: CmaEs}"))
    with pytest.raises(ConfigError, match=r"c.yaml:6: .*unknown optuna sampler 'CmaEs'") as info:
        load_config(path)
    assert "\n" not in str(info.value)
    path.write_text(CONFIG.format(sampler="{type: optuna, name: GPSampler, options: {n_startup_trials: 2}}"))
    assert load_config(path).sampler.options == {"n_startup_trials": 2}


# ---- without optuna ---------------------------------------------------------------------------------------------

CONFIG = """name: t
task: {{dataset: synthetic, epochs: 1}}
search_space:
  x: {{type: uniform, low: 0.0, high: 1.0}}
budget: {{max_trials: 1}}
sampler: {sampler}
"""


def test_without_optuna_the_sampler_says_how_to_install_it(monkeypatch, tmp_path) -> None:
    monkeypatch.setitem(sys.modules, "optuna", None)  # `import optuna` now fails as if it were not installed
    with pytest.raises(ValueError, match=r"needs the optuna package.*pip install 'raybench\[optuna\]'"):
        make_sampler({"type": "optuna", "name": "TPESampler"}, SPACE, seed=0, mode="max")
    path = tmp_path / "c.yaml"
    path.write_text(CONFIG.format(sampler="{type: optuna}"))
    with pytest.raises(ConfigError, match=r"pip install 'raybench\[optuna\]'"):
        load_config(path)
    path.write_text(CONFIG.format(sampler="{type: tpe}"))
    assert load_config(path).sampler.type == "tpe"  # only a config that asks for optuna needs it


def test_without_optuna_raybench_run_prints_one_line_and_exits_2(tmp_path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(CONFIG.format(sampler="{type: optuna, name: CmaEsSampler}"))
    hide = ("import sys; sys.modules['optuna'] = None; from raybench.cli._main import entry; "
            "sys.argv = ['raybench', 'run', sys.argv[1], '--out', sys.argv[2]]; sys.exit(entry())")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [os.getcwd(), os.environ.get("PYTHONPATH")]))}
    proc = subprocess.run([sys.executable, "-c", hide, str(path), str(tmp_path / "run")], capture_output=True,
                          text=True, timeout=120, env=env)
    assert proc.returncode == 2, proc.stderr[-2000:]
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr[-2000:]
    assert lines[0].startswith("raybench: error: ") and "pip install 'raybench[optuna]'" in lines[0]
    assert not (tmp_path / "run").exists()
