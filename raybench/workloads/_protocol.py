"""The one interface the runtime's trial actor drives: train, evaluate, test, checkpoint."""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable


@runtime_checkable
class Workload(Protocol):
    """What one trial trains.

    Metric dicts map names to plain floats. `evaluate` reports at least "val_accuracy" and "val_loss";
    `test` at least "test_accuracy". `state` returns only msgpack-able values (no pickle), and
    `load_state` restores them so that the next epoch gives exactly what it would have given.
    """

    def train_epoch(self, epoch: int) -> dict[str, float]: ...

    def evaluate(self) -> dict[str, float]: ...

    def test(self) -> dict[str, float]: ...

    def state(self) -> dict[str, Any]: ...

    def load_state(self, state: dict[str, Any]) -> None: ...


METHODS = ("train_epoch", "evaluate", "test", "state", "load_state")


def missing_methods(obj: object) -> list[str]:
    """The Workload methods that obj lacks or holds as non-callables."""
    return [m for m in METHODS if not callable(getattr(obj, m, None))]
