"""The null pruner: every trial runs to its end. The runtime needs no special case for "no pruning"."""

from __future__ import annotations

from raybench.search.decision import Decision
from raybench.search.pruners._base import Pruner


class NoPruner(Pruner):
    """Always continues, and says so in the reason."""

    name = "none"

    def __init__(self, *, mode: str = "max", unit: str = "epoch") -> None:
        super().__init__(mode=mode, unit=unit)

    def _decide(self, trial_id: int, progress: float, value: float) -> Decision:
        return self._continue(progress, value, f"continued at {self._where(progress)}: pruner none never stops")
