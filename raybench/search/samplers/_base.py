"""The sampler interface, and the argument checks every sampler shares.

A sampler proposes a config per trial id and learns from final values. Its state is a
function of the trials it knows (config, and value when known), never of call order, so
that `replay` of a run's log rebuilds it exactly.
"""

from __future__ import annotations

import abc
import math
from collections.abc import Mapping
from typing import Any, Optional

import numpy as np

from raybench.search import space as sp

Config = dict[str, sp.Scalar]

MODES = ("max", "min")


class Sampler(abc.ABC):
    """Proposes configs for trial ids and learns from their final values.

    suggest(trial_id): a config for this trial, or None once the sampler is exhausted.
        Asking again for a known trial id returns the config it already has.
    observe(trial_id, value): the trial's final value; None (or NaN) means it failed.
        A later call for the same trial replaces the earlier value.
    replay(trial_id, config, value=None): record a trial handed out before a restart;
        value None leaves it pending (follow with observe(trial_id, None) for a failure).
    """

    def __init__(self, space: Mapping[str, sp.Param], *, seed: int = 0, mode: str = "max") -> None:
        self._space: dict[str, sp.Param] = check_space(space)
        self._seed = check_seed(seed)
        if mode not in MODES:
            raise ValueError(f"mode must be 'max' or 'min', got {mode!r}")
        self._mode = mode
        self._configs: dict[int, Config] = {}

    @property
    def space(self) -> dict[str, sp.Param]:
        return dict(self._space)

    @property
    def seed(self) -> int:
        return self._seed

    @property
    def mode(self) -> str:
        return self._mode

    def suggest(self, trial_id: int) -> Optional[Config]:
        check_trial_id(trial_id)
        if trial_id in self._configs:
            return dict(self._configs[trial_id])
        config = self._propose(trial_id)
        if config is None:
            return None
        self._configs[trial_id] = dict(config)
        self._on_config(trial_id, self._configs[trial_id])
        return dict(config)

    def observe(self, trial_id: int, value: Optional[float]) -> None:
        check_trial_id(trial_id)
        if trial_id not in self._configs:
            raise ValueError(f"trial {trial_id} was never suggested or replayed; suggest or replay it first")
        self._on_value(trial_id, check_value(value))

    def replay(self, trial_id: int, config: Mapping[str, Any], value: Optional[float] = None) -> None:
        check_trial_id(trial_id)
        config = self._check_config(config)
        known = self._configs.get(trial_id)
        if known is None:
            self._configs[trial_id] = config
            self._on_config(trial_id, config)
        elif not same_config(known, config):
            raise ValueError(f"trial {trial_id} is already known with config {known}, got {config}")
        if value is not None:
            self._on_value(trial_id, check_value(value))

    @abc.abstractmethod
    def _propose(self, trial_id: int) -> Optional[Config]:
        """A new config for this trial id, or None when there is none left."""

    # Optional hooks: a sampler that keeps no state leaves them empty.
    def _on_config(self, trial_id: int, config: Config) -> None:  # noqa: B027
        """Hook: a trial's config became known (suggested or replayed)."""

    def _on_value(self, trial_id: int, value: Optional[float]) -> None:  # noqa: B027
        """Hook: a trial's final value became known; None means it failed."""

    def _check_config(self, config: Mapping[str, Any]) -> Config:
        if not isinstance(config, Mapping) or set(config) != set(self._space):
            got = sorted(config) if isinstance(config, Mapping) else type(config).__name__
            raise ValueError(f"config must have exactly the keys {sorted(self._space)}, got {got}")
        for name, param in self._space.items():
            if not sp.contains(param, config[name]):
                raise ValueError(f"config value {name}={config[name]!r} lies outside {param}")
        return {name: config[name] for name in self._space}


def trial_rng(seed: int, trial_id: int) -> np.random.Generator:
    """The random stream of one trial: the same for a trial whatever came before it."""
    return np.random.default_rng(np.random.SeedSequence([seed, trial_id]))


def same_config(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    # 1 == 1.0 == True in Python, but they are different choices.
    return a.keys() == b.keys() and all(a[k] == b[k] and type(a[k]) is type(b[k]) for k in a)


def clip_float(param: sp.Param, value: float) -> float:
    """Guard a float against landing an ulp outside its bounds after exp/log round trips."""
    return float(min(max(value, param.low), param.high))


def check_seed(seed: Any) -> int:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    return int(seed)


def check_trial_id(trial_id: Any) -> None:
    if isinstance(trial_id, bool) or not isinstance(trial_id, (int, np.integer)) or trial_id < 0:
        raise ValueError(f"trial_id must be a non-negative int, got {trial_id!r}")


def check_value(value: Any) -> Optional[float]:
    """A finite-or-infinite float, or None for a failed trial (NaN counts as failed)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ValueError(f"value must be a number or None, got {value!r}")
    value = float(value)
    return None if math.isnan(value) else value


def check_space(space: Any) -> dict[str, sp.Param]:
    if not isinstance(space, Mapping) or not space:
        raise ValueError(f"space must be a non-empty mapping of name to parameter, got {space!r}")
    for name, param in space.items():
        if not isinstance(name, str):
            raise ValueError(f"parameter names must be str, got {name!r}")
        _check_param(name, param)
    return dict(space)


def _check_param(name: str, param: Any) -> None:
    if isinstance(param, sp.Choice):
        if not param.values:
            raise ValueError(f"parameter {name!r} is a choice with no values; list at least one")
        return
    if isinstance(param, sp.IntRange):
        if param.low > param.high or (param.log and param.low < 1):
            raise ValueError(f"parameter {name!r} needs low <= high (and low >= 1 on a log scale), got {param}")
        return
    if isinstance(param, (sp.Uniform, sp.LogUniform)):
        width = float(param.high) - float(param.low)
        if not (param.low < param.high and math.isfinite(width)):
            raise ValueError(f"parameter {name!r} needs finite low < high, got {param}")
        if isinstance(param, sp.LogUniform) and param.low <= 0:
            raise ValueError(f"parameter {name!r} is log-uniform and needs low > 0, got {param}")
        return
    raise ValueError(f"parameter {name!r} has unknown type {type(param).__name__}; use Choice, Uniform, "
                     "LogUniform or IntRange")
