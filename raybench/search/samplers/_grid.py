"""Grid search: every point of a finite space once, in a seeded order."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Optional

import numpy as np

from raybench.search import space as sp
from raybench.search.samplers._base import Config, Sampler

MAX_GRID_POINTS = 10_000_000


class GridSampler(Sampler):
    """The full Cartesian product of a space of choices and integer ranges, shuffled by seed.

    A point counts as used once it is handed out or replayed, whatever its trial's fate,
    so no point is given twice. suggest returns None once every point is used.
    """

    def __init__(self, space: Mapping[str, sp.Param], *, seed: int = 0, mode: Optional[str] = None,
                 objectives: Optional[Sequence[tuple[str, str]]] = None) -> None:
        super().__init__(space, seed=seed, mode=mode, objectives=objectives)
        for name, param in self._space.items():
            if not sp.is_finite(param):
                raise ValueError(f"grid needs finite parameters, but {name!r} is {param}; "
                                 "make it a choice or an int range, or use sampler random or tpe")
        self._axes = [sp.grid_values(p) for p in self._space.values()]
        self._n_points = math.prod(len(axis) for axis in self._axes)
        if self._n_points > MAX_GRID_POINTS:
            raise ValueError(f"grid has {self._n_points} points, more than {MAX_GRID_POINTS}; "
                             "use sampler random or tpe, or shrink the space")
        # Index the product instead of listing it: a point is a mixed-radix number.
        self._order = np.random.default_rng(np.random.SeedSequence([self._seed])).permutation(self._n_points)
        self._cursor = 0
        self._used: set[int] = set()

    @property
    def n_points(self) -> int:
        return self._n_points

    @property
    def n_left(self) -> int:
        return self._n_points - len(self._used)

    def _propose(self, trial_id: int) -> Optional[Config]:
        while self._cursor < self._n_points and int(self._order[self._cursor]) in self._used:
            self._cursor += 1
        if self._cursor == self._n_points:
            return None
        return self._decode(int(self._order[self._cursor]))

    def _on_config(self, trial_id: int, config: Config) -> None:
        self._used.add(self._encode(config))

    def _decode(self, index: int) -> Config:
        config = {}
        for name, axis in reversed(list(zip(self._space, self._axes))):
            index, digit = divmod(index, len(axis))
            config[name] = axis[digit]
        return {name: config[name] for name in self._space}

    def _encode(self, config: Config) -> int:
        index = 0
        for name, axis in zip(self._space, self._axes):
            value = config[name]
            digit = next(i for i, v in enumerate(axis) if v == value and type(v) is type(value))
            index = index * len(axis) + digit
        return index
