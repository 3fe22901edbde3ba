"""The pruner interface, and the checks and wording every pruner shares.

A pruner sees each intermediate result of each trial, in the order the runtime received them, and answers
with a Decision. Its state is a function of that call sequence alone (no clock, no global RNG), so replaying
a run's log of report()/complete() calls rebuilds it exactly.
"""

from __future__ import annotations

import abc
import math
import numbers
from collections.abc import Mapping
from typing import Any, ClassVar, Optional

from raybench.search.decision import Action, Decision, Reason

MODES = ("max", "min")
UNITS = ("epoch", "time_s", "energy_j")


class Pruner(abc.ABC):
    """Decides after each intermediate result whether a trial continues.

    report(trial_id, progress, value): the trial's metric `value` after `progress` in the pruner's unit
        ("epoch": 1, 2, 3 ...; "time_s": seconds; "energy_j": joules). Progress must increase strictly per
        trial. Returns the decision with its reason.
    complete(trial_id): the trial ran to its end without being stopped.
    register(trial_id, config): a hook for each new trial's config (a no-op but for the guard).
    """

    name: ClassVar[str]

    def __init__(self, *, mode: str = "max", unit: str = "epoch") -> None:
        if mode not in MODES:
            raise ValueError(f"mode must be 'max' or 'min', got {mode!r}")
        if unit not in UNITS:
            raise ValueError(f"unit must be one of {', '.join(UNITS)}, got {unit!r}")
        self._mode = mode
        self._unit = unit
        # Values are stored multiplied by the sign, so that larger is better in both modes.
        self._sign = 1.0 if mode == "max" else -1.0
        self._last_progress: dict[int, float] = {}
        self._completed: set[int] = set()

    @property
    def mode(self) -> str:
        return self._mode

    @property
    def unit(self) -> str:
        return self._unit

    @property
    def n_completed(self) -> int:
        return len(self._completed)

    def report(self, trial_id: int, progress: float, value: float) -> Decision:
        trial_id = check_trial_id(trial_id)
        progress = check_number("progress", progress)
        value = check_number("value", value)
        if not math.isfinite(progress):
            raise ValueError(f"progress must be finite, got {progress!r} for trial {trial_id}")
        if trial_id in self._completed:
            raise ValueError(f"trial {trial_id} was already completed; it cannot report progress {progress:g}")
        last = self._last_progress.get(trial_id)
        if last is not None and progress <= last:
            raise ValueError(
                f"progress must increase per trial, got {progress:g} after {last:g} for trial {trial_id}"
            )
        self._last_progress[trial_id] = progress
        return self._decide(trial_id, progress, value)

    def register(self, trial_id: int, config: Mapping[str, Any]) -> None:
        """A new trial and its config, before its first report. Most rules ignore it; the guard needs it."""
        return

    def complete(self, trial_id: int) -> None:
        trial_id = check_trial_id(trial_id)
        self._completed.add(trial_id)
        # A completed trial reports no more; keep only what its peers are compared with.
        self._last_progress.pop(trial_id, None)
        self._forget(trial_id)

    def _forget(self, trial_id: int) -> None:
        """Drop per-trial state that only the trial's own later reports would need."""
        return

    @abc.abstractmethod
    def _decide(self, trial_id: int, progress: float, value: float) -> Decision:
        """The decision for a checked report; `value` is in the user's sign."""

    # ---- wording shared by the rules ----

    def _where(self, progress: float) -> str:
        return where(self._unit, progress)

    def _continue(self, progress: float, value: float, detail: str, **fields: Any) -> Decision:
        reason = Reason(rule=self.name, progress=progress, unit=self._unit, value=value, detail=detail, **fields)
        return Decision(Action.CONTINUE, reason)

    def _stop_not_finite(self, progress: float, value: float) -> Decision:
        # A diverged trial (NaN or infinite loss) cannot be ranked against its peers; running on wastes energy.
        detail = f"stopped at {self._where(progress)}: value {value} is not finite"
        return Decision(Action.STOP, Reason(rule=self.name, progress=progress, unit=self._unit, value=value,
                                            detail=detail))

    def _compared(self, stop: bool, progress: float, value: float, cutoff: float, n_peers: int,
                  at: str, rung: Optional[float] = None, what: str = "") -> Decision:
        """A decision that compared `value` with `cutoff`, both in the user's sign."""
        if self._mode == "max":
            sign = "<" if stop else ">="
        else:
            sign = ">" if stop else "<="
        verb = "stopped" if stop else "continued"
        peers = "peer" if n_peers == 1 else "peers"
        detail = f"{verb} at {at}: {what}{value:.6g} {sign} cutoff {cutoff:.6g} from {n_peers} {peers}"
        reason = Reason(rule=self.name, progress=progress, unit=self._unit, value=value, cutoff=cutoff,
                        n_peers=n_peers, rung=rung, detail=detail)
        return Decision(Action.STOP if stop else Action.CONTINUE, reason)


def where(unit: str, progress: float) -> str:
    """A point of progress as a user reads it: "epoch 3", "120 s", "4500 J"."""
    if unit == "epoch":
        return f"epoch {progress:g}"
    return f"{progress:g} {'s' if unit == 'time_s' else 'J'}"


def check_trial_id(trial_id: Any) -> int:
    if isinstance(trial_id, bool) or not isinstance(trial_id, numbers.Integral) or trial_id < 0:
        raise ValueError(f"trial_id must be a non-negative int, got {trial_id!r}")
    return int(trial_id)


def check_number(name: str, x: Any) -> float:
    if isinstance(x, bool):
        raise ValueError(f"{name} must be a number, got {x!r}")
    try:
        return float(x)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number, got {x!r}") from None


def check_int(name: str, x: Any, *, low: int) -> int:
    if isinstance(x, bool) or not isinstance(x, numbers.Integral) or x < low:
        raise ValueError(f"{name} must be an int >= {low}, got {x!r}")
    return int(x)
