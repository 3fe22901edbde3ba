"""The sampler interface, and the argument checks every sampler shares.

A sampler proposes a config per trial id and learns from final values. Its state is a
function of the trials it knows (config, and value when known), never of call order, so
that `replay` of a run's log rebuilds it exactly.

A sampler optimises one objective (`mode`) or several (`objectives`, (name, mode) pairs);
with several, a trial's value is a tuple of floats in the objectives' order.
"""

from __future__ import annotations

import abc
import math
from collections.abc import Mapping, Sequence
from typing import Any, Optional, Union

import numpy as np

from raybench.search import space as sp

Config = dict[str, sp.Scalar]
# One objective's value, or one per objective; None (or any NaN) for a failed trial.
Value = Union[float, Sequence[float], None]

MODES = ("max", "min")


class Sampler(abc.ABC):
    """Proposes configs for trial ids and learns from their final values.

    suggest(trial_id): a config for this trial, or None once the sampler is exhausted.
        Asking again for a known trial id returns the config it already has.
    observe(trial_id, value): the trial's final value; None (or NaN) means it failed.
        A later call for the same trial replaces the earlier value. With several objectives,
        value is a sequence of one float per objective (NaN in any of them: failed).
    replay(trial_id, config, value=None): record a trial handed out before a restart;
        value None leaves it pending (follow with observe(trial_id, None) for a failure).

    mode: "max" or "min", for one objective (default "max").
    objectives: several objectives instead, as (name, mode) pairs; they decide, and `mode`
        (the runtime passes the mode of the metric its pruner judges) only has to be valid.
    """

    def __init__(self, space: Mapping[str, sp.Param], *, seed: int = 0, mode: Optional[str] = None,
                 objectives: Optional[Sequence[tuple[str, str]]] = None) -> None:
        self._space: dict[str, sp.Param] = check_space(space)
        self._seed = check_seed(seed)
        self._objectives = check_objectives(objectives, mode)
        self._mode = self._objectives[0][1]
        self._configs: dict[int, Config] = {}

    @property
    def space(self) -> dict[str, sp.Param]:
        return dict(self._space)

    @property
    def seed(self) -> int:
        return self._seed

    @property
    def mode(self) -> str:
        """The mode of the (first) objective."""
        return self._mode

    @property
    def objectives(self) -> tuple[tuple[Optional[str], str], ...]:
        """(name, mode) per objective; a single objective built from `mode` has no name (None)."""
        return self._objectives

    @property
    def n_objectives(self) -> int:
        return len(self._objectives)

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

    def observe(self, trial_id: int, value: Value) -> None:
        check_trial_id(trial_id)
        if trial_id not in self._configs:
            raise ValueError(f"trial {trial_id} was never suggested or replayed; suggest or replay it first")
        self._on_value(trial_id, self._check_value(value))

    def replay(self, trial_id: int, config: Mapping[str, Any], value: Value = None) -> None:
        check_trial_id(trial_id)
        config = self._check_config(config)
        known = self._configs.get(trial_id)
        if known is None:
            self._configs[trial_id] = config
            self._on_config(trial_id, config)
        elif not same_config(known, config):
            raise ValueError(f"trial {trial_id} is already known with config {known}, got {config}")
        if value is not None:
            self._on_value(trial_id, self._check_value(value))

    @abc.abstractmethod
    def _propose(self, trial_id: int) -> Optional[Config]:
        """A new config for this trial id, or None when there is none left."""

    # Optional hooks: a sampler that keeps no state leaves them empty.
    def _on_config(self, trial_id: int, config: Config) -> None:  # noqa: B027
        """Hook: a trial's config became known (suggested or replayed)."""

    def _on_value(self, trial_id: int, value: Any) -> None:  # noqa: B027
        """Hook: a trial's final value became known: a float (one objective) or a tuple of
        floats (several); None means it failed."""

    def _check_value(self, value: Any) -> Any:
        if self.n_objectives == 1:
            if isinstance(value, (list, tuple, np.ndarray)) and len(value) == 1:
                value = value[0]
            return check_value(value)
        return check_values(value, self.n_objectives)

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


def check_objectives(objectives: Any, mode: Any) -> tuple[tuple[Optional[str], str], ...]:
    """(name, mode) pairs from `objectives`, or one unnamed objective from `mode`."""
    if mode is not None and mode not in MODES:
        raise ValueError(f"mode must be 'max' or 'min', got {mode!r}")
    if objectives is None:
        return ((None, mode or "max"),)
    if isinstance(objectives, (str, bytes)) or not isinstance(objectives, Sequence) or not objectives:
        raise ValueError(f"objectives must be a non-empty list of (name, mode) pairs, got {objectives!r}")
    out = []
    for pair in objectives:
        if (not isinstance(pair, Sequence) or isinstance(pair, str) or len(pair) != 2
                or not isinstance(pair[0], str) or pair[1] not in MODES):
            raise ValueError(f"each objective must be a (name, 'max' or 'min') pair, got {pair!r}")
        out.append((pair[0], pair[1]))
    names = [n for n, _ in out]
    if len(set(names)) != len(names):
        raise ValueError(f"objective names must be distinct, got {names}")
    return tuple(out)


def check_values(value: Any, n_objectives: int) -> Optional[tuple[float, ...]]:
    """One number per objective, or None for a failed trial (None, or NaN in any objective)."""
    if value is None:
        return None
    if isinstance(value, (str, bytes, Mapping)) or not isinstance(value, (Sequence, np.ndarray)) \
            or len(value) != n_objectives:
        raise ValueError(f"value must be a sequence of {n_objectives} numbers (one per objective) or None, "
                         f"got {value!r}")
    checked = [check_value(v) for v in value]
    return None if any(v is None for v in checked) else tuple(checked)


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
