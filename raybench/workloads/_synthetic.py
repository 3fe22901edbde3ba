"""The synthetic workload: learning curves from raybench.search.synthetic, with no training.

task.options it reads: epoch_time_s (busy-wait this long per epoch, to look like work to the energy
meters; default 0) and noise_sd (default 0.01).
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from typing import Any

from raybench.search.space import Param
from raybench.search.synthetic import SyntheticObjective

OPTIONS = ("epoch_time_s", "noise_sd")


class SyntheticWorkload:
    """One trial on a synthetic objective; train_epoch costs nothing unless epoch_time_s is set."""

    def __init__(self, objective: SyntheticObjective, config: Mapping[str, Any], *, trial_seed: int,
                 epoch_time_s: float = 0.0) -> None:
        if not (epoch_time_s >= 0 and math.isfinite(epoch_time_s)):
            raise ValueError(f"epoch_time_s must be a finite number >= 0, got {epoch_time_s!r}")
        # final() fails now, naming the parameter, when config does not fit the space. The curve's shape is
        # fixed by the config: kept, not recomputed at every epoch.
        self._final, self._tau = objective.shape(config)
        self._objective = objective
        self._config = dict(config)
        self._trial_seed = trial_seed
        self._epoch_time_s = float(epoch_time_s)
        self._epochs_done = 0

    def train_epoch(self, epoch: int) -> dict[str, float]:
        end = time.perf_counter() + self._epoch_time_s
        while time.perf_counter() < end:  # a busy wait on purpose: sleeping would draw no power
            pass
        self._epochs_done += 1
        return {"train_loss": 1.0 - self._objective.rise(self._final, self._tau, self._epochs_done)}

    def evaluate(self) -> dict[str, float]:
        done = self._epochs_done
        acc = self._objective.observe(self._objective.rise(self._final, self._tau, done), done, self._trial_seed)
        return {"val_accuracy": acc, "val_loss": 1.0 - acc}

    def test(self) -> dict[str, float]:
        """The noiseless final value: what the config would reach with unlimited epochs."""
        acc = self._final
        return {"test_accuracy": acc, "test_loss": 1.0 - acc}

    def state(self) -> dict[str, Any]:
        return {"epochs_done": self._epochs_done}

    def load_state(self, state: dict[str, Any]) -> None:
        self._epochs_done = int(state["epochs_done"])


_last: list[tuple[Any, int, float, SyntheticObjective]] = []  # the previous trial's objective, for the next


def _objective(space: Mapping[str, Param], seed: int, noise_sd: float) -> SyntheticObjective:
    """The experiment's objective. A trial actor runs trial after trial on the same space (the very object
    of its first assignment), so the objective is built once, not per trial (it was most of a zero-cost
    trial's CPU in the worker)."""
    if _last and _last[0][0] is space and _last[0][1:3] == (seed, noise_sd):
        return _last[0][3]
    objective = SyntheticObjective(space, seed=seed, noise_sd=noise_sd)
    _last[:] = [(space, seed, noise_sd, objective)]
    return objective


def build_synthetic(task: Mapping[str, Any], params: Mapping[str, Any], *, seed: int, experiment_seed: int,
                    space: Mapping[str, Param] | None) -> SyntheticWorkload:
    if space is None:
        raise ValueError("dataset synthetic needs the search space: call build_workload(..., space=config.space())")
    options = dict(task.get("options") or {})
    unknown = sorted(set(options) - set(OPTIONS))
    if unknown:
        raise ValueError(f"unknown task.options {unknown} for dataset synthetic; it reads {', '.join(OPTIONS)}")
    objective = _objective(space, experiment_seed, float(options.get("noise_sd", 0.01)))
    return SyntheticWorkload(objective, params, trial_seed=seed,
                             epoch_time_s=float(options.get("epoch_time_s", 0.0)))
