"""Pruning decisions: an action and the reason for it, so that every stop can be audited."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any, Optional


class Action(enum.IntEnum):
    """What a trial should do next. When decisions merge, the larger value wins (STOP > PAUSE > CONTINUE).

    PAUSE: the trial reached a rung of promotion ASHA; it keeps its checkpoint and waits for a promotion.
    """

    CONTINUE = 0
    PAUSE = 1
    STOP = 2

    @property
    def label(self) -> str:
        return self.name.lower()


# Fields added after the first log format: to_dict() leaves them out at their defaults, so the reasons of the
# older rules keep their exact shape in the event log, and from_dict() fills them back in.
_OPTIONAL = ("probability", "predicted", "interval_low", "interval_high", "families", "guard", "overridden",
             "score")


@dataclass(frozen=True)
class Reason:
    """Why a pruner decided what it did.

    rule: the pruner's name ("asha", "hyperband", "learning_curve", "median", "percentile", "none",
        "min_value", "budget").
    progress: the trial's progress in the pruner's unit (epochs, seconds or joules).
    unit: that unit ("epoch", "time_s", "energy_j").
    value: the trial's value that was compared (None where nothing was compared).
    cutoff: the threshold it was compared with (None where there was none).
    n_peers: how many other trials the cutoff was computed from.
    rung: the rung milestone, or None.
    detail: one human sentence.
    probability: learning_curve: P(final value better than the cutoff).
    predicted: learning_curve: the predicted value at max_t.
    interval_low, interval_high: learning_curve: the 90 % interval of that prediction (low <= high).
    families: learning_curve: the curve families fitted, best weight first.
    guard: the guardrail that shaped the decision: "protected", "patience" or "min_value"; None without one.
    overridden: the action ("stop" or "pause") the wrapped rule decided where a guard turned it into continue.
    score: promotion ASHA: the promotion priority (the value, or expected improvement per joule).
    """

    rule: str
    progress: float
    unit: str = "epoch"
    value: Optional[float] = None
    cutoff: Optional[float] = None
    n_peers: int = 0
    rung: Optional[float] = None
    detail: str = ""
    probability: Optional[float] = None
    predicted: Optional[float] = None
    interval_low: Optional[float] = None
    interval_high: Optional[float] = None
    families: tuple[str, ...] = ()
    guard: Optional[str] = None
    overridden: Optional[str] = None
    score: Optional[float] = None

    def to_dict(self) -> dict[str, Any]:
        """Plain types only (families as a list); the optional fields only where they are set."""
        # Spelled out rather than dataclasses.fields(): this runs once per report, on the scheduler's hot path.
        out: dict[str, Any] = {"rule": self.rule, "progress": self.progress, "unit": self.unit, "value": self.value,
                               "cutoff": self.cutoff, "n_peers": self.n_peers, "rung": self.rung,
                               "detail": self.detail}
        for name in _OPTIONAL:
            v = getattr(self, name)
            if v is not None and v != ():
                out[name] = list(v) if isinstance(v, tuple) else v
        return out

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Reason:
        """The inverse of to_dict(), ignoring keys it does not know (a newer log)."""
        known = {f.name for f in fields(cls)}
        kwargs = {k: v for k, v in d.items() if k in known}
        if "families" in kwargs:
            kwargs["families"] = tuple(kwargs["families"] or ())
        return cls(**kwargs)


@dataclass(frozen=True)
class Decision:
    action: Action
    reason: Reason

    @property
    def stop(self) -> bool:
        return self.action is Action.STOP

    @property
    def pause(self) -> bool:
        return self.action is Action.PAUSE


def merge(*decisions: Decision) -> Decision:
    """The decision with the highest precedence (STOP > PAUSE > CONTINUE); the first such wins ties."""
    return max(decisions, key=lambda d: d.action)
