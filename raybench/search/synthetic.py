"""A synthetic objective: accuracy-like learning curves from a known function of the hyperparameters.

No training happens, so samplers and pruners can be tested and benchmarked in milliseconds against a
known optimum. Everything is a deterministic function of (seed, parameter names, space, config, trial,
epoch); nothing is kept between calls.

The shape: each parameter is mapped to a unit coordinate u in [0, 1] (a log scale for log parameters);
a numeric parameter has a seeded target t and a categorical value a seeded rank r in [0, 1], so its
distance from the best is d = u - t or d = r. Then

    final(config) = floor + (ceiling - floor) * exp(-mean_i(w_i * d_i**2))
    mean(config, epoch) = floor + (final - floor) * (1 - exp(-epoch / tau(config)))
    curve(config, epoch, trial) = clip(mean + N(0, noise_sd), 0, 1)

with seeded weights w_i in [1, 4], and tau between tau_min and tau_max epochs, set by a seeded tilt of
the coordinates, so that curves cross: some configs learn fast and end low.

The noise of (seed, trial, epoch) is a standard normal from a hash of the three (`seeded_normal`): a few
integer operations, since a trial actor draws one at every epoch. It was drawn from a numpy Generator seeded
by the three until 2026-12-04; building that Generator was half of a zero-cost trial's Python in its actor,
and with 64 trial actors on 2 cores it cost the runtime about a fifth of its trials a second (BENCHMARKS.md,
Scale). The draws differ from those of the old stream; their distribution does not.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from raybench.search._hash import GOLDEN, MASK64, mix64, to_unit
from raybench.search.space import Choice, IntRange, LogUniform, Param, Scalar, Uniform

_TARGET_RANGE = (0.15, 0.85)  # numeric optima stay off the edges of the space
_WEIGHT_RANGE = (1.0, 4.0)


@dataclass(frozen=True)
class _Profile:
    """The seeded shape of one parameter."""

    target: float  # numeric: the unit coordinate of the optimum
    weight: float  # how much the parameter matters
    tilt: float  # in [-1, 1]: how moving it changes the learning speed
    ranks: tuple[float, ...]  # choice: the distance of each value from the best, one of them 0


def _profile(seed: int, name: str, param: Param) -> _Profile:
    # Keyed by the parameter's name (crc32 is stable across processes, unlike hash()), so adding a
    # parameter to a space leaves the shape of the others unchanged.
    rng = np.random.default_rng([seed % 2**64, zlib.crc32(name.encode())])
    target = float(rng.uniform(*_TARGET_RANGE))
    weight = float(rng.uniform(*_WEIGHT_RANGE))
    tilt = float(rng.uniform(-1.0, 1.0))
    ranks: tuple[float, ...] = ()
    if isinstance(param, Choice):
        n = len(param.values)
        order = rng.permutation(n)
        ranks = tuple(float(order[i]) / max(n - 1, 1) for i in range(n))
    return _Profile(target, weight, tilt, ranks)


def seeded_normal(*keys: int) -> float:
    """A standard normal variate that is a function of integer keys alone: the keys hashed in turn (search/_hash,
    as the pruners' bracket draws are), the hash and its own hash taken as two uniforms of 53 bits, then Box and
    Muller's transform. Neighbouring keys draw unrelated values (tests/workloads/test_workload_synthetic.py)."""
    h = 0
    for k in keys:
        h = mix64(((h ^ (k & MASK64)) + GOLDEN) & MASK64)
    u1 = to_unit(h) + 2.0**-53  # in (0, 1]: the logarithm is finite
    u2 = to_unit(mix64((h + GOLDEN) & MASK64))
    return math.sqrt(-2.0 * math.log(u1)) * math.cos(2.0 * math.pi * u2)


def _unit(name: str, param: Param, value: Any) -> float:
    """The value's coordinate in [0, 1] along a numeric parameter."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ValueError(f"{name}: expected a number, got {value!r}")
    v = float(value)
    if not param.low <= v <= param.high:
        raise ValueError(f"{name}: {value!r} lies outside [{param.low}, {param.high}]")
    if param.high == param.low:
        return 0.5
    if isinstance(param, LogUniform) or (isinstance(param, IntRange) and param.log):
        return math.log(v / param.low) / math.log(param.high / param.low)
    return (v - param.low) / (param.high - param.low)


def _from_unit(param: Param, u: float) -> Scalar:
    """The value at coordinate u: the inverse of _unit (an int range gives the nearest integer)."""
    if isinstance(param, LogUniform):
        return float(param.low * (param.high / param.low) ** u)
    if isinstance(param, Uniform):
        return float(param.low + u * (param.high - param.low))
    x = param.low * (param.high / param.low) ** u if param.log else param.low + u * (param.high - param.low)
    candidates = {min(max(math.floor(x), param.low), param.high), min(max(math.ceil(x), param.low), param.high)}
    return min(sorted(candidates), key=lambda c: abs(_unit("", param, c) - u))


@dataclass(frozen=True)
class SyntheticObjective:
    """Accuracy-like learning curves over any search space, with a known optimum.

    seed fixes the function (use the experiment's seed, so every trial sees the same one); the trial
    passed to curve() only picks the noise. Values lie in [0, 1]: maximise them.
    """

    space: Mapping[str, Param]
    seed: int = 0
    noise_sd: float = 0.01
    floor: float = 0.1  # the value at epoch 0, and of a config far from the optimum
    ceiling: float = 0.95  # the final value of the optimum
    tau_min_epochs: float = 0.5
    tau_max_epochs: float = 8.0

    def __post_init__(self) -> None:
        if not self.space:
            raise ValueError("the search space is empty; give the synthetic objective at least one parameter")
        for name, p in self.space.items():
            if not isinstance(p, (Choice, Uniform, LogUniform, IntRange)):
                raise ValueError(f"{name}: unknown parameter type {type(p).__name__}")
        if not 0 <= self.floor < self.ceiling <= 1:
            raise ValueError(f"need 0 <= floor < ceiling <= 1, got floor={self.floor} ceiling={self.ceiling}")
        if not self.noise_sd >= 0:
            raise ValueError(f"noise_sd must be >= 0, got {self.noise_sd}")
        if not 0 < self.tau_min_epochs <= self.tau_max_epochs:
            raise ValueError(f"need 0 < tau_min_epochs <= tau_max_epochs, got {self.tau_min_epochs}, "
                             f"{self.tau_max_epochs}")
        profiles = {name: _profile(self.seed, name, p) for name, p in self.space.items()}
        object.__setattr__(self, "_profiles", profiles)  # derived once; the dataclass stays frozen

    def _terms(self, config: Mapping[str, Any]) -> list[tuple[float, float, _Profile]]:
        """(distance from the best, unit coordinate, profile) per parameter."""
        missing = [n for n in self.space if n not in config]
        extra = [n for n in config if n not in self.space]
        if missing or extra:
            raise ValueError(f"config does not match the search space: missing {missing}, unknown {extra}")
        out = []
        for name, p in self.space.items():
            prof: _Profile = self._profiles[name]  # type: ignore[attr-defined]
            if isinstance(p, Choice):
                i = next((i for i, v in enumerate(p.values) if v == config[name] and type(v) is type(config[name])),
                         None)
                if i is None:
                    raise ValueError(f"{name}: {config[name]!r} is not one of {list(p.values)}")
                out.append((prof.ranks[i], prof.ranks[i], prof))
            else:
                u = _unit(name, p, config[name])
                out.append((u - prof.target, u, prof))
        return out

    def final(self, config: Mapping[str, Any]) -> float:
        """The noiseless value the config's curve approaches."""
        return self._final(self._terms(config))

    def tau(self, config: Mapping[str, Any]) -> float:
        """The config's learning time constant, in epochs."""
        return self._tau(self._terms(config))

    def shape(self, config: Mapping[str, Any]) -> tuple[float, float]:
        """(final(config), tau(config)), the config checked once: what a trial keeps for `rise`."""
        terms = self._terms(config)
        return self._final(terms), self._tau(terms)

    def _final(self, terms: list[tuple[float, float, _Profile]]) -> float:
        loss = sum(prof.weight * d * d for d, _, prof in terms) / len(terms)
        return self.floor + (self.ceiling - self.floor) * math.exp(-loss)

    def _tau(self, terms: list[tuple[float, float, _Profile]]) -> float:
        g = min(max(0.5 + sum(prof.tilt * (u - 0.5) for _, u, prof in terms) / len(terms), 0.0), 1.0)
        return self.tau_min_epochs * (self.tau_max_epochs / self.tau_min_epochs) ** g

    def mean_curve(self, config: Mapping[str, Any], epoch: float) -> float:
        """The noiseless value after `epoch` epochs (floor at 0, rising towards final)."""
        if not epoch >= 0:
            raise ValueError(f"epoch must be >= 0, got {epoch}")
        return self.rise(self.final(config), self.tau(config), epoch)

    def rise(self, final: float, tau: float, epoch: float) -> float:
        """mean_curve from a config's final() and tau(), for a caller that keeps them (a trial's are fixed)."""
        return self.floor + (final - self.floor) * (1.0 - math.exp(-epoch / tau))

    def curve(self, config: Mapping[str, Any], epoch: int, *, trial: int = 0) -> float:
        """The observed value after `epoch` epochs: the mean curve plus noise seeded by (trial, epoch)."""
        if isinstance(epoch, bool) or not isinstance(epoch, (int, np.integer)) or epoch < 0:
            raise ValueError(f"epoch must be an int >= 0, got {epoch!r}")
        return self.observe(self.mean_curve(config, epoch), epoch, trial)

    def observe(self, mean: float, epoch: int, trial: int) -> float:
        """The noisy value around `mean` at (trial, epoch): curve() once the mean is known."""
        if self.noise_sd == 0:
            return mean
        return min(max(mean + self.noise_sd * seeded_normal(self.seed, int(trial), int(epoch)), 0.0), 1.0)

    def optimum(self) -> dict[str, Scalar]:
        """The config with the highest final value (exact: the function is separable by parameter)."""
        best: dict[str, Scalar] = {}
        for name, p in self.space.items():
            prof: _Profile = self._profiles[name]  # type: ignore[attr-defined]
            best[name] = p.values[prof.ranks.index(0.0)] if isinstance(p, Choice) else _from_unit(p, prof.target)
        return best

    def best_value(self) -> float:
        """final(optimum()): no config of the space ends higher."""
        return self.final(self.optimum())
