"""Search-space parameters: what a hyperparameter may take, sampling and membership.

Values are plain Python scalars so that configs go into the msgpack log unchanged.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Union

import numpy as np

Scalar = Union[int, float, str, bool, None]


@dataclass(frozen=True)
class Choice:
    """One of a finite list of values (numbers, strings, booleans)."""

    values: tuple[Scalar, ...]


@dataclass(frozen=True)
class Uniform:
    """A float drawn uniformly from [low, high]."""

    low: float
    high: float


@dataclass(frozen=True)
class LogUniform:
    """A positive float whose logarithm is uniform on [log low, log high]."""

    low: float
    high: float


@dataclass(frozen=True)
class IntRange:
    """An integer in [low, high], both ends included, optionally on a log scale."""

    low: int
    high: int
    log: bool = False


Param = Union[Choice, Uniform, LogUniform, IntRange]
SearchSpace = Mapping[str, Param]


def is_finite(param: Param) -> bool:
    """True where the parameter has a finite, enumerable set of values."""
    return isinstance(param, (Choice, IntRange))


def grid_values(param: Param) -> tuple[Scalar, ...]:
    """Every value of a finite parameter, in declaration order."""
    if isinstance(param, Choice):
        return param.values
    if isinstance(param, IntRange):
        return tuple(range(param.low, param.high + 1))
    raise ValueError(f"a grid needs finite parameters, got {type(param).__name__}")


def grid_points(space: SearchSpace) -> list[dict[str, Scalar]]:
    """The Cartesian product of a finite space, in declaration order."""
    names = list(space)
    return [dict(zip(names, combo)) for combo in itertools.product(*(grid_values(space[n]) for n in names))]


def sample(param: Param, rng: np.random.Generator) -> Scalar:
    """One value drawn from the parameter's prior."""
    if isinstance(param, Choice):
        return param.values[int(rng.integers(len(param.values)))]
    if isinstance(param, Uniform):
        return float(rng.uniform(param.low, param.high))
    if isinstance(param, LogUniform):
        return float(math.exp(rng.uniform(math.log(param.low), math.log(param.high))))
    if isinstance(param, IntRange):
        if param.log:  # floor of a log-uniform draw on [low, high + 1); low >= 1 is validated
            x = math.exp(rng.uniform(math.log(param.low), math.log(param.high + 1)))
            return int(min(math.floor(x), param.high))
        return int(rng.integers(param.low, param.high + 1))
    raise TypeError(f"unknown parameter type {type(param).__name__}")


def contains(param: Param, value: Any) -> bool:
    """True where the value lies in the parameter's domain."""
    if isinstance(param, Choice):
        return any(value == v and type(value) is type(v) for v in param.values)
    if isinstance(param, IntRange):
        return isinstance(value, int) and not isinstance(value, bool) and param.low <= value <= param.high
    if isinstance(param, (Uniform, LogUniform)):
        return isinstance(value, float) and param.low <= value <= param.high
    return False


def sample_config(space: SearchSpace, rng: np.random.Generator) -> dict[str, Scalar]:
    """One configuration drawn from the prior of every parameter."""
    return {name: sample(p, rng) for name, p in space.items()}
