"""The experiment core, without Ray: the fold of events into state, the scheduler that live runs, resume
and replay share, and the records that cross between actors."""

from raybench.core.mode import Mode
from raybench.core.records import Assignment, BestTrial, Finished, WorkerShape
from raybench.core.state import Created, Ended, ExperimentState, Judge, Span, TrialState, TrialStatus, fold

__all__ = [
    "Assignment",
    "BestTrial",
    "Created",
    "Ended",
    "ExperimentState",
    "Finished",
    "Judge",
    "Mode",
    "Span",
    "TrialState",
    "TrialStatus",
    "WorkerShape",
    "fold",
]
