"""basht's baseline workload, done right: a feed-forward classifier with ReLU, trained with Adam or SGD.

The training loop slices preloaded tensors with a seeded permutation: no DataLoader and no worker
processes, so an epoch of mnist-5k costs a few dozen small matrix products.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from raybench.workloads._data import Splits
from raybench.workloads._state import decode, encode

OPTIMIZERS = ("adam", "sgd")
SGD_MOMENTUM = 0.9  # plain SGD at Adam's learning rates barely moves in 5 epochs
_EVAL_CHUNK = 8192  # rows per forward pass when scoring, to bound memory on the full data sets
_STATE_FORMAT = 1


@dataclass(frozen=True)
class FFParams:
    """The hyperparameters of the feed-forward workload, with basht's defaults."""

    layer_size: int = 64
    num_layers: int = 1
    weight_decay: float = 0.0
    lr: float = 1e-3

    def __post_init__(self) -> None:
        if self.layer_size < 1:
            raise ValueError(f"layer_size must be >= 1, got {self.layer_size}")
        if self.num_layers < 1:
            raise ValueError(f"num_layers must be >= 1, got {self.num_layers}")
        if not (self.weight_decay >= 0 and math.isfinite(self.weight_decay)):
            raise ValueError(f"weight_decay must be a finite number >= 0, got {self.weight_decay}")
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise ValueError(f"lr must be a finite number > 0, got {self.lr}")

    @classmethod
    def from_dict(cls, params: Mapping[str, Any]) -> FFParams:
        """Parameters from a sampled configuration; missing ones take their defaults."""
        known = [f.name for f in fields(cls)]
        unknown = sorted(set(params) - set(known))
        if unknown:
            raise ValueError(
                f"unknown hyperparameter(s) {', '.join(map(repr, unknown))} for model ff; "
                f"it takes {', '.join(known)} (or set task.workload for a custom model)"
            )
        return cls(
            **{k: _as_int(k, v) for k, v in params.items() if k in ("layer_size", "num_layers")},
            **{k: _as_float(k, v) for k, v in params.items() if k in ("weight_decay", "lr")},
        )


def _as_int(name: str, v: Any) -> int:
    # Choice values from YAML may arrive as 64.0; anything that is not a whole number is an error.
    ok = not isinstance(v, bool) and isinstance(v, (int, float, np.integer, np.floating))
    if not ok or not math.isfinite(v) or float(v) != int(v):
        raise ValueError(f"{name} must be a whole number, got {v!r}")
    return int(v)


def _as_float(name: str, v: Any) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)):
        raise ValueError(f"{name} must be a number, got {v!r}")
    return float(v)


def build_model(n_features: int, n_classes: int, p: FFParams) -> nn.Sequential:
    """num_layers hidden layers of layer_size units, each followed by ReLU, then a linear output."""
    layers: list[nn.Module] = []
    width = n_features
    for _ in range(p.num_layers):
        layers += [nn.Linear(width, p.layer_size), nn.ReLU()]
        width = p.layer_size
    layers.append(nn.Linear(width, n_classes))
    return nn.Sequential(*layers)


def _seeds(seed: int) -> tuple[int, int]:
    """Two independent 63-bit seeds (model init, data order) from one trial seed."""
    init, order = np.random.SeedSequence(seed % 2**64).generate_state(2, dtype=np.uint64)
    return int(init) >> 1, int(order) >> 1


class FeedForwardWorkload:
    """One trial of the feed-forward classifier on a preloaded split."""

    def __init__(
        self,
        splits: Splits,
        params: FFParams,
        *,
        optimizer: str = "adam",
        batch_size: int = 64,
        seed: int = 0,
        device: str = "cpu",
    ) -> None:
        if optimizer not in OPTIMIZERS:
            raise ValueError(f"unknown optimizer {optimizer!r}; use one of {', '.join(OPTIMIZERS)}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self._device = torch.device(device)
        self._batch_size = batch_size
        self._data = {k: getattr(splits, k).to(self._device) for k in
                      ("train_x", "train_y", "val_x", "val_y", "test_x", "test_y")}
        init_seed, order_seed = _seeds(seed)
        # A private RNG scope, so building a model neither reads nor moves the process-wide RNG.
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(init_seed)
            self._model = build_model(splits.n_features, splits.n_classes, params).to(self._device)
        if optimizer == "adam":
            self._opt: torch.optim.Optimizer = torch.optim.Adam(
                self._model.parameters(), lr=params.lr, weight_decay=params.weight_decay)
        else:
            self._opt = torch.optim.SGD(
                self._model.parameters(), lr=params.lr, weight_decay=params.weight_decay, momentum=SGD_MOMENTUM)
        self._order = torch.Generator().manual_seed(order_seed)
        self._epochs_done = 0

    def train_epoch(self, epoch: int) -> dict[str, float]:
        """One pass over the training split in a fresh seeded order; mean loss and accuracy.

        epoch is the runtime's label only: the order comes from the RNG, which a checkpoint carries.
        """
        x, y = self._data["train_x"], self._data["train_y"]
        n = len(y)
        perm = torch.randperm(n, generator=self._order).to(self._device)
        self._model.train()
        loss_sum = torch.zeros((), device=self._device)
        correct = torch.zeros((), dtype=torch.long, device=self._device)
        for start in range(0, n, self._batch_size):
            idx = perm[start:start + self._batch_size]
            xb, yb = x[idx], y[idx]
            logits = self._model(xb)
            loss = F.cross_entropy(logits, yb)
            self._opt.zero_grad(set_to_none=True)
            loss.backward()
            self._opt.step()
            with torch.no_grad():  # summed on the device: one sync per epoch, not per step
                loss_sum += loss * len(idx)
                correct += (logits.argmax(1) == yb).sum()
        self._epochs_done += 1
        return {"train_loss": float(loss_sum) / n, "train_accuracy": int(correct) / n}

    def evaluate(self) -> dict[str, float]:
        """Loss and accuracy on the validation split: what the search optimises."""
        loss, acc = self._score(self._data["val_x"], self._data["val_y"])
        return {"val_loss": loss, "val_accuracy": acc}

    def test(self) -> dict[str, float]:
        """Loss and accuracy on the test split, which neither training nor the search ever sees."""
        loss, acc = self._score(self._data["test_x"], self._data["test_y"])
        return {"test_loss": loss, "test_accuracy": acc}

    @torch.inference_mode()
    def _score(self, x: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
        self._model.eval()
        loss_sum, correct = 0.0, 0
        for start in range(0, len(y), _EVAL_CHUNK):
            logits = self._model(x[start:start + _EVAL_CHUNK])
            yb = y[start:start + _EVAL_CHUNK]
            loss_sum += float(F.cross_entropy(logits, yb, reduction="sum"))
            correct += int((logits.argmax(1) == yb).sum())
        return loss_sum / len(y), correct / len(y)

    def state(self) -> dict[str, Any]:
        """Model, optimizer and data-order RNG as raw bytes, plus the number of epochs done."""
        return {
            "format": _STATE_FORMAT,
            "epochs_done": self._epochs_done,
            "model": encode(self._model.state_dict()),
            "optimizer": encode(self._opt.state_dict()),
            "order_rng": self._order.get_state().numpy().tobytes(),
        }

    def load_state(self, state: dict[str, Any]) -> None:
        """Restores a state() so that the next epoch gives exactly what it would have given."""
        if state.get("format") != _STATE_FORMAT:
            raise ValueError(f"checkpoint format {state.get('format')!r} is not {_STATE_FORMAT}; "
                             "it was written by another version of this workload")
        self._model.load_state_dict(decode(state["model"]))
        self._opt.load_state_dict(decode(state["optimizer"]))
        self._order.set_state(torch.frombuffer(bytearray(state["order_rng"]), dtype=torch.uint8).clone())
        self._epochs_done = int(state["epochs_done"])
