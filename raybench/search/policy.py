"""What a trial does after a report: the pruner's decision, the budget and the final-epoch rule, merged
by precedence in one place (STOP > CONTINUE; the first of equal precedence wins)."""

from __future__ import annotations

from typing import Any, Optional

from raybench.search.decision import Action, Decision, Reason, merge


class Budget:
    """The limits that end a whole experiment: wall time and joules. (The trial budget only stops new trials.)"""

    def __init__(self, *, max_time_s: Optional[float] = None, max_energy_j: Optional[float] = None) -> None:
        self.max_time_s = max_time_s
        self.max_energy_j = max_energy_j

    @classmethod
    def of(cls, spec: Any) -> Budget:
        return cls(max_time_s=spec.max_time_s, max_energy_j=spec.max_energy_j)

    def exhausted(self, *, elapsed_s: float, energy_j: float) -> Optional[tuple[str, float, float]]:
        """The first limit reached, as (kind, limit, value), or None."""
        if self.max_time_s is not None and elapsed_s >= self.max_time_s:
            return ("time_s", self.max_time_s, elapsed_s)
        if self.max_energy_j is not None and energy_j >= self.max_energy_j:
            return ("energy_j", self.max_energy_j, energy_j)
        return None


def decide(pruned: Optional[Decision], *, progress: float, unit: str, value: float, step: int,
           epochs: int, stopping: Optional[str]) -> Decision:
    """The decision for one report.

    pruned: the pruner's decision, or None when the report brought no new progress and was not judged.
    stopping: the budget kind (or "interrupt") that stops every running trial, or None.
    A trial that has run its last epoch completes: a stop can no longer save anything.
    """
    decisions = []
    if stopping is not None:
        why = "the run was interrupted" if stopping == "interrupt" else f"the {stopping} budget is exhausted"
        decisions.append(Decision(Action.STOP, Reason("budget", progress, unit, value, detail=f"stopped: {why}")))
    if pruned is None:
        decisions.append(Decision(Action.CONTINUE, Reason(
            "none", progress, unit, value, detail=f"no new {unit} measured since the last report; not judged")))
    elif step >= epochs and pruned.action is not Action.CONTINUE:
        decisions.append(Decision(Action.CONTINUE, pruned.reason))
    else:
        decisions.append(pruned)
    return merge(*decisions)
