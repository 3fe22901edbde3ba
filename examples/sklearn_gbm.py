"""A custom raybench workload: scikit-learn gradient boosting on the embedded MNIST-5k.

Use it with `task.workload: examples.sklearn_gbm:make_workload` (see sklearn_gbm.yaml), run from the
repository root. Each epoch adds `iters_per_epoch` boosting rounds (one tree per class each) to a
warm-started HistGradientBoostingClassifier.

Hyperparameters: learning_rate (0.1), max_depth (3), max_leaf_nodes (15), l2_regularization (0.0).
task.options: iters_per_epoch (5), split_seed (0; a custom workload sees only the trial seed, so the
split is fixed here unless the config sets it).

Checkpoints hold no model: state() is the number of epochs done, and load_state() refits that many
epochs from scratch. That is exact (boosting without subsampling or early stopping is deterministic)
but costs as much as the training it replays.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from sklearn.ensemble import HistGradientBoostingClassifier
from threadpoolctl import threadpool_limits

from raybench.workloads import load_splits

DEFAULTS = {"learning_rate": 0.1, "max_depth": 3, "max_leaf_nodes": 15, "l2_regularization": 0.0}
OPTIONS = {"iters_per_epoch": 5, "split_seed": 0}


class GBMWorkload:
    """Boosting rounds as epochs; scored on raybench's mnist-5k validation and test splits."""

    def __init__(self, params: dict[str, Any], options: dict[str, Any], seed: int) -> None:
        unknown = sorted(set(params) - set(DEFAULTS))
        if unknown:
            raise ValueError(f"unknown hyperparameter(s) {unknown} for sklearn_gbm; it takes {', '.join(DEFAULTS)}")
        bad_options = sorted(set(options) - set(OPTIONS))
        if bad_options:
            raise ValueError(f"unknown task.options {bad_options} for sklearn_gbm; it reads {', '.join(OPTIONS)}")
        self._hp = {**DEFAULTS, **params}
        self._iters = int(options.get("iters_per_epoch", OPTIONS["iters_per_epoch"]))
        if self._iters < 1:
            raise ValueError(f"iters_per_epoch must be >= 1, got {self._iters}")
        splits = load_splits("mnist-5k", split_seed=int(options.get("split_seed", OPTIONS["split_seed"])))
        self._train = (splits.train_x.numpy(), splits.train_y.numpy())
        self._val = (splits.val_x.numpy(), splits.val_y.numpy())
        self._test = (splits.test_x.numpy(), splits.test_y.numpy())
        self._n_classes = splits.n_classes
        self._seed = seed
        # build_workload has set torch's thread count to the trial's share; OpenMP in sklearn follows it.
        self._threads = torch.get_num_threads()
        self._reset()

    def _reset(self) -> None:
        self._model = HistGradientBoostingClassifier(
            learning_rate=float(self._hp["learning_rate"]),
            max_depth=None if self._hp["max_depth"] is None else int(self._hp["max_depth"]),
            max_leaf_nodes=int(self._hp["max_leaf_nodes"]),
            l2_regularization=float(self._hp["l2_regularization"]),
            max_iter=self._iters,
            warm_start=True,
            early_stopping=False,  # the search decides when to stop, epoch by epoch
            random_state=self._seed % 2**32,
        )
        self._epochs_done = 0

    def train_epoch(self, epoch: int) -> dict[str, float]:
        self._model.set_params(max_iter=(self._epochs_done + 1) * self._iters)
        with threadpool_limits(limits=self._threads):
            self._model.fit(*self._train)
        self._epochs_done += 1
        loss, acc = self._score(*self._train)
        return {"train_loss": loss, "train_accuracy": acc}

    def evaluate(self) -> dict[str, float]:
        loss, acc = self._score(*self._val)
        return {"val_loss": loss, "val_accuracy": acc}

    def test(self) -> dict[str, float]:
        loss, acc = self._score(*self._test)
        return {"test_loss": loss, "test_accuracy": acc}

    def _score(self, x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
        if self._epochs_done == 0:  # no trees yet: a uniform guess
            return math.log(self._n_classes), float(np.mean(y == 0))
        with threadpool_limits(limits=self._threads):
            proba = self._model.predict_proba(x)
        p_true = np.clip(proba[np.arange(len(y)), np.searchsorted(self._model.classes_, y)], 1e-15, 1.0)
        return float(-np.log(p_true).mean()), float(np.mean(self._model.classes_[proba.argmax(1)] == y))

    def state(self) -> dict[str, Any]:
        return {"epochs_done": self._epochs_done}

    def load_state(self, state: dict[str, Any]) -> None:
        self._reset()
        for epoch in range(int(state["epochs_done"])):
            self.train_epoch(epoch)


def make_workload(params: dict[str, Any], task: dict[str, Any], seed: int) -> GBMWorkload:
    """The factory that task.workload names: function(params, task, seed) -> workload."""
    return GBMWorkload(params, dict(task.get("options") or {}), seed)
