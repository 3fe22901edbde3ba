"""Pruning decisions: an action and the reason for it, so that every stop can be audited."""

from __future__ import annotations

import enum
from dataclasses import asdict, dataclass
from typing import Any, Optional


class Action(enum.IntEnum):
    """What a trial should do next. When decisions merge, the larger value wins (STOP > CONTINUE)."""

    CONTINUE = 0
    STOP = 2

    @property
    def label(self) -> str:
        return self.name.lower()


@dataclass(frozen=True)
class Reason:
    """Why a pruner decided what it did.

    rule: the pruner's name ("asha", "median", "percentile", "none", "budget").
    progress: the trial's progress in the pruner's unit (epochs, seconds or joules).
    unit: that unit ("epoch", "time_s", "energy_j").
    value: the trial's value that was compared (None where nothing was compared).
    cutoff: the threshold it was compared with (None where there was none).
    n_peers: how many other trials the cutoff was computed from.
    rung: the ASHA rung milestone, or None.
    detail: one human sentence.
    """

    rule: str
    progress: float
    unit: str = "epoch"
    value: Optional[float] = None
    cutoff: Optional[float] = None
    n_peers: int = 0
    rung: Optional[float] = None
    detail: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Decision:
    action: Action
    reason: Reason

    @property
    def stop(self) -> bool:
        return self.action is Action.STOP


def merge(*decisions: Decision) -> Decision:
    """The decision with the highest precedence; the first such wins ties."""
    return max(decisions, key=lambda d: d.action)
