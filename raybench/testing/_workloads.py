"""Fault-injecting workloads: raise, hog memory, or take their time, on the trials a config picks."""

from __future__ import annotations

import time
from typing import Any

_hoard: list[bytearray] = []


class Flaky:
    """A tiny learning curve: val_accuracy = 1 - 0.5 / epoch, scaled by params["x"] (default 1).

    task.options:
      fail_at_epoch: raise at this epoch when params["fail"] is true (every attempt).
      hog_mb: allocate and touch this many MB at epoch 1 when params["hog"] is true.
      epoch_time_s: sleep this long per epoch.
    """

    def __init__(self, params: dict[str, Any], task: dict[str, Any], seed: int) -> None:
        self.params, self.options, self.seed = params, task.get("options") or {}, seed
        self.epoch = 0

    def train_epoch(self, epoch: int) -> dict[str, float]:
        self.epoch = epoch
        time.sleep(float(self.options.get("epoch_time_s", 0.0)))
        if self.params.get("fail") and epoch >= int(self.options.get("fail_at_epoch", 1)):
            raise RuntimeError(f"injected failure at epoch {epoch}")
        if self.params.get("hog") and epoch == 1:
            block = bytearray(int(self.options.get("hog_mb", 512)) * 1024 * 1024)
            for i in range(0, len(block), 4096):  # touch every page so it is resident
                block[i] = 1
            _hoard.append(block)
            time.sleep(1.0)  # give the watchdog time to see it
        return {"train_loss": 0.5 / epoch}

    def evaluate(self) -> dict[str, float]:
        x = float(self.params.get("x", 1.0))
        return {"val_accuracy": x * (1.0 - 0.5 / max(self.epoch, 1)), "val_loss": 0.5 / max(self.epoch, 1)}

    def test(self) -> dict[str, float]:
        return {"test_accuracy": self.evaluate()["val_accuracy"]}

    def state(self) -> dict[str, Any]:
        return {"epoch": self.epoch}

    def load_state(self, state: dict[str, Any]) -> None:
        self.epoch = int(state["epoch"])


def flaky(params: dict[str, Any], task: dict[str, Any], seed: int) -> Flaky:
    return Flaky(params, task, seed)


def memory_hog(params: dict[str, Any], task: dict[str, Any], seed: int) -> Flaky:
    return Flaky({**params, "hog": params.get("hog", True)}, task, seed)


def sleepy(params: dict[str, Any], task: dict[str, Any], seed: int) -> Flaky:
    opts = {"epoch_time_s": 0.5, **(task.get("options") or {})}
    return Flaky(params, {**task, "options": opts}, seed)
