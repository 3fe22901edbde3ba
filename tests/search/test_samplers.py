"""Samplers: the contract every sampler keeps (parametrized over all of them), grid specifics, make_sampler."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import raybench.search.samplers as samplers
from raybench.config._schema import GridSamplerSpec, RandomSamplerSpec, TPESamplerSpec
from raybench.search import space as sp
from raybench.search.samplers import SAMPLERS, GridSampler, RandomSampler, Sampler, TPESampler, make_sampler

# ---- search spaces ------------------------------------------------------------------------------------------

_scalars = st.one_of(st.integers(-1000, 1000), st.floats(-1e6, 1e6, allow_nan=False), st.text(max_size=4),
                     st.booleans(), st.none())


def _distinct(values: list) -> tuple:
    seen: list = []
    for v in values:
        if not any(v == s and type(v) is type(s) for s in seen):
            seen.append(v)
    return tuple(seen)


choices = st.lists(_scalars, min_size=1, max_size=5).map(lambda vs: sp.Choice(_distinct(vs)))


@st.composite
def int_ranges(draw, max_span: int = 40) -> sp.IntRange:
    log = draw(st.booleans())
    low = draw(st.integers(1, 1000) if log else st.integers(-1000, 1000))
    return sp.IntRange(low, low + draw(st.integers(0, max_span)), log)


@st.composite
def uniforms(draw) -> sp.Uniform:
    low = draw(st.floats(-1e6, 1e6))
    width = draw(st.floats(1e-6, 1e6))
    return sp.Uniform(low, low + width)


@st.composite
def log_uniforms(draw) -> sp.LogUniform:
    low = draw(st.floats(1e-8, 1e3))
    return sp.LogUniform(low, low * draw(st.floats(1.001, 1e6)))


def spaces(params) -> st.SearchStrategy[dict[str, sp.Param]]:
    return st.lists(params, min_size=1, max_size=4).map(lambda ps: {f"p{i}": p for i, p in enumerate(ps)})


any_space = spaces(st.one_of(choices, int_ranges(), uniforms(), log_uniforms()))
finite_space = spaces(st.one_of(choices, int_ranges(max_span=5))).filter(lambda s: len(sp.grid_points(s)) <= 300)

# Every sampler behind one door; TPE starts modelling after 3 values so that short runs exercise it.
FACTORIES = {
    "grid": lambda space, seed=0, mode="max": GridSampler(space, seed=seed, mode=mode),
    "random": lambda space, seed=0, mode="max": RandomSampler(space, seed=seed, mode=mode),
    "tpe": lambda space, seed=0, mode="max": TPESampler(space, seed=seed, mode=mode, n_startup_trials=3),
    "tpe-no-liar": lambda space, seed=0, mode="max": TPESampler(space, seed=seed, mode=mode, n_startup_trials=3,
                                                                constant_liar=False),
    "tpe-independent": lambda space, seed=0, mode="max": TPESampler(space, seed=seed, mode=mode, n_startup_trials=3,
                                                                    multivariate=False),
}
ALL = sorted(FACTORIES)
PROPERTY = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def space_for(name: str) -> st.SearchStrategy[dict[str, sp.Param]]:
    return finite_space if name == "grid" else any_space


def value_of(trial_id: int) -> float | None:
    """A scripted final value: every seventh trial fails, every fifth is NaN (also a failure)."""
    if trial_id % 7 == 6:
        return None
    if trial_id % 5 == 4:
        return math.nan
    return math.sin(trial_id * 1.7) * 10.0


def drive(sampler: Sampler, n_trials: int, *, workers: int = 4, first_id: int = 0) -> dict[int, dict]:
    """Run trials with `workers` in flight: each finished trial is observed before the next is asked for."""
    configs: dict[int, dict] = {}
    in_flight: list[int] = []
    next_id = first_id
    while next_id < first_id + n_trials or in_flight:
        while len(in_flight) < workers and next_id < first_id + n_trials:
            config = sampler.suggest(next_id)
            if config is None:
                next_id = first_id + n_trials
                break
            configs[next_id] = config
            in_flight.append(next_id)
            next_id += 1
        if in_flight:
            done = in_flight.pop(0)
            sampler.observe(done, value_of(done))
    return configs


def test_public_api_is_exactly_all() -> None:
    public = {name for name in dir(samplers) if not name.startswith("_")}
    assert set(samplers.__all__) == public
    assert sorted(SAMPLERS) == ["grid", "optuna", "random", "tpe"]


# ---- the contract --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ALL)
def test_every_config_lies_in_the_space(name: str) -> None:
    @PROPERTY
    @given(space=space_for(name), seed=st.integers(0, 2**32))
    def check(space: dict, seed: int) -> None:
        configs = drive(FACTORIES[name](space, seed), 20)
        assert configs
        for config in configs.values():
            assert list(config) == list(space)
            for key, param in space.items():
                assert sp.contains(param, config[key]), (key, param, config[key])

    check()


@pytest.mark.parametrize("name", ALL)
def test_same_seed_gives_the_same_sequence(name: str) -> None:
    @PROPERTY
    @given(space=space_for(name), seed=st.integers(0, 2**32))
    def check(space: dict, seed: int) -> None:
        first = drive(FACTORIES[name](space, seed), 15)
        second = drive(FACTORIES[name](space, seed), 15)
        assert _typed(first) == _typed(second)

    check()


@pytest.mark.parametrize("name", ALL)
def test_replay_rebuilds_the_state(name: str) -> None:
    """After replaying a run's history, in any order, the next suggestions equal an uninterrupted sampler's."""
    @PROPERTY
    @given(space=space_for(name), seed=st.integers(0, 2**32), n_done=st.integers(0, 14),
           shuffle=st.randoms(use_true_random=False))
    def check(space: dict, seed: int, n_done: int, shuffle: random.Random) -> None:
        original = FACTORIES[name](space, seed)
        configs = drive(original, n_done)
        pending = {}
        for trial_id in range(n_done, n_done + 3):  # handed out, still running at the "crash"
            config = original.suggest(trial_id)
            if config is not None:
                pending[trial_id] = config
        resumed = FACTORIES[name](space, seed)
        history = [(t, c, value_of(t)) for t, c in configs.items()] + [(t, c, None) for t, c in pending.items()]
        shuffle.shuffle(history)
        for trial_id, config, value in history:
            resumed.replay(trial_id, config)
            if value is not None or trial_id in configs:
                resumed.observe(trial_id, value)
        start = n_done + 3
        assert _typed(drive(resumed, 6, first_id=start)) == _typed(drive(original, 6, first_id=start))

    check()


@pytest.mark.parametrize("name", ALL)
def test_replay_with_a_value_equals_replay_then_observe(name: str) -> None:
    space = {"a": sp.Choice((1, 2, 3)), "b": sp.IntRange(0, 4)}
    original = FACTORIES[name](space)
    configs = drive(original, 8, workers=1)
    one, two = FACTORIES[name](space), FACTORIES[name](space)
    for trial_id, config in configs.items():
        value = value_of(trial_id)
        one.replay(trial_id, config, value)
        if value is None:  # replay leaves a trial without a value pending; a failure is said with observe
            one.observe(trial_id, None)
        two.replay(trial_id, config)
        two.observe(trial_id, value)
    assert _typed(drive(one, 4, first_id=8)) == _typed(drive(two, 4, first_id=8))


@pytest.mark.parametrize("name", ALL)
def test_choice_values_keep_their_python_type(name: str) -> None:
    space = {"lr": sp.Choice((0.0001, 0.001)), "size": sp.Choice((32, 64)), "flag": sp.Choice((True, 1, 1.0)),
             "act": sp.Choice(("relu", None))}
    for config in drive(FACTORIES[name](space, 3), 12).values():
        assert config["lr"] in (0.0001, 0.001) and type(config["lr"]) is float
        assert type(config["size"]) is int
        assert any(config["flag"] == v and type(config["flag"]) is type(v) for v in (True, 1, 1.0))
        assert config["act"] in ("relu", None)


@pytest.mark.parametrize("name", ALL)
def test_asking_again_for_a_known_trial_returns_its_config(name: str) -> None:
    sampler = FACTORIES[name]({"a": sp.IntRange(0, 9)})
    first = sampler.suggest(0)
    sampler.suggest(1)
    assert sampler.suggest(0) == first
    first["a"] = "changed"  # callers get copies
    assert sampler.suggest(0) != first


@pytest.mark.parametrize("name", ALL)
def test_bad_calls_raise_value_error_naming_the_value(name: str) -> None:
    sampler = FACTORIES[name]({"a": sp.IntRange(0, 9)})
    sampler.suggest(0)
    with pytest.raises(ValueError, match="trial 5"):
        sampler.observe(5, 1.0)
    with pytest.raises(ValueError, match="-1"):
        sampler.suggest(-1)
    with pytest.raises(ValueError, match="'x'"):
        sampler.observe(0, "x")
    with pytest.raises(ValueError, match="outside"):
        sampler.replay(1, {"a": 10})
    with pytest.raises(ValueError, match="keys"):
        sampler.replay(1, {"b": 1})
    other = 0 if sampler.suggest(0) != {"a": 0} else 1
    with pytest.raises(ValueError, match="already known"):
        sampler.replay(0, {"a": other})
    with pytest.raises(ValueError, match="mode"):
        FACTORIES[name]({"a": sp.IntRange(0, 9)}, mode="maximise")
    with pytest.raises(ValueError, match="seed"):
        FACTORIES[name]({"a": sp.IntRange(0, 9)}, seed=-3)
    with pytest.raises(ValueError, match="space"):
        FACTORIES[name]({})


@pytest.mark.parametrize("bad", [sp.Uniform(1.0, 1.0), sp.LogUniform(0.0, 1.0), sp.IntRange(5, 4),
                                 sp.Choice(()), sp.Uniform(-1e308, 1e308), "uniform"])
def test_a_malformed_parameter_is_refused(bad) -> None:
    with pytest.raises(ValueError, match="'x'"):
        RandomSampler({"x": bad})


# ---- random ---------------------------------------------------------------------------------------------------

def test_random_configs_depend_only_on_seed_and_trial_id() -> None:
    space = {"x": sp.Uniform(0.0, 1.0), "n": sp.IntRange(1, 100, log=True)}
    forward, backward = RandomSampler(space, seed=4), RandomSampler(space, seed=4)
    ids = list(range(10))
    a = {t: forward.suggest(t) for t in ids}
    b = {t: backward.suggest(t) for t in reversed(ids)}
    assert a == b
    assert RandomSampler(space, seed=5).suggest(0) != a[0]


# ---- grid ------------------------------------------------------------------------------------------------------

@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(space=finite_space, seed=st.integers(0, 2**32), workers=st.integers(1, 6), crash_at=st.integers(0, 40))
def test_grid_gives_every_point_exactly_once(space: dict, seed: int, workers: int, crash_at: int) -> None:
    points = sp.grid_points(space)
    sampler = GridSampler(space, seed=seed)
    configs = drive(sampler, crash_at, workers=workers)
    # A restart: a new sampler learns what was handed out (a pending trial included) and carries on.
    pending = sampler.suggest(crash_at)
    resumed = GridSampler(space, seed=seed)
    for trial_id, config in configs.items():
        resumed.replay(trial_id, config, value_of(trial_id))
    if pending is not None:
        resumed.replay(crash_at, pending)
        configs[crash_at] = pending
    configs.update(drive(resumed, len(points) + 5, workers=workers, first_id=crash_at + 1))
    got = sorted(_key(c) for c in configs.values())
    assert got == sorted(_key(p) for p in points)
    assert resumed.suggest(10_000) is None and resumed.suggest(10_001) is None
    assert resumed.n_left == 0


def test_grid_order_is_seeded() -> None:
    space = {"a": sp.Choice((1, 2, 3, 4)), "b": sp.IntRange(0, 5)}
    samplers_ = [GridSampler(space, seed=s) for s in (0, 0, 1)]
    order = [[tuple(g.suggest(t).values()) for t in range(24)] for g in samplers_]
    assert order[0] == order[1]
    assert order[0] != order[2]
    assert sorted(order[0]) == sorted(order[2])


def test_grid_refuses_continuous_and_huge_spaces() -> None:
    with pytest.raises(ValueError, match="'lr'"):
        GridSampler({"lr": sp.LogUniform(1e-4, 1e-1)})
    with pytest.raises(ValueError, match="points"):
        GridSampler({f"p{i}": sp.IntRange(0, 99) for i in range(4)})


def test_grid_counts_what_is_left() -> None:
    sampler = GridSampler({"a": sp.Choice(("x", "y")), "b": sp.IntRange(1, 3)})
    assert (sampler.n_points, sampler.n_left) == (6, 6)
    sampler.suggest(0)
    sampler.replay(7, sampler.suggest(1))  # the same trial known twice does not count twice
    assert sampler.n_left == 4


# ---- make_sampler ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("spec, cls", [
    (GridSamplerSpec(type="grid"), GridSampler),
    (RandomSamplerSpec(type="random"), RandomSampler),
    (TPESamplerSpec(type="tpe", gamma=0.2, n_startup_trials=4), TPESampler),
    ({"type": "tpe", "n_ei_candidates": 8, "constant_liar": False}, TPESampler),
    ({"type": "random"}, RandomSampler),
])
def test_make_sampler_builds_from_specs_and_dicts(spec, cls) -> None:
    sampler = make_sampler(spec, {"a": sp.IntRange(0, 3)}, seed=7, mode="min")
    assert type(sampler) is cls
    assert (sampler.seed, sampler.mode) == (7, "min")


def test_make_sampler_passes_the_options_on() -> None:
    spec = TPESamplerSpec(type="tpe", n_startup_trials=2, gamma=0.5)
    direct = TPESampler({"x": sp.Uniform(0.0, 1.0)}, seed=1, n_startup_trials=2, gamma=0.5)
    built = make_sampler(spec, {"x": sp.Uniform(0.0, 1.0)}, seed=1, mode="max")
    assert drive(direct, 12) == drive(built, 12)


def test_make_sampler_refuses_unknown_names_and_options() -> None:
    with pytest.raises(ValueError, match="'cmaes'.*grid, optuna, random, tpe"):
        make_sampler({"type": "cmaes"}, {"a": sp.IntRange(0, 3)}, seed=0, mode="max")
    with pytest.raises(ValueError, match="'gamma'"):
        make_sampler({"type": "random", "gamma": 0.1}, {"a": sp.IntRange(0, 3)}, seed=0, mode="max")
    with pytest.raises(ValueError, match="type"):
        make_sampler({"gamma": 0.1}, {"a": sp.IntRange(0, 3)}, seed=0, mode="max")


def _typed(configs: dict[int, dict]) -> dict[int, tuple]:
    """Configs compared with their types: 1, 1.0 and True are different choices."""
    return {t: _key(c) for t, c in configs.items()}


def _key(config: dict) -> tuple:
    return tuple((k, type(v).__name__, repr(v)) for k, v in config.items())


def test_nan_helper_is_a_failure() -> None:
    sampler = TPESampler({"x": sp.Uniform(0.0, 1.0)}, n_startup_trials=1)
    sampler.suggest(0)
    sampler.observe(0, float("nan"))
    # With no finite value yet, the next trial is still a start-up draw from the prior.
    assert sampler.suggest(1) == RandomSampler({"x": sp.Uniform(0.0, 1.0)}).suggest(1)
    assert np.isnan(value_of(4))
