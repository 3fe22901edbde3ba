"""The experiment core, without Ray: the fold of events into state, the scheduler that live runs, resume
and replay share, and the records that cross between actors."""

# The events package first: its derivations fold with raybench.core.state, which reads the event names
# from raybench.events._types; importing it here first keeps that order whichever package is imported first.
import raybench.events  # noqa: F401, I001

from raybench.core.mode import Mode
from raybench.core.records import Assignment, BestTrial, Finished, Wait, WorkerShape
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
    "Wait",
    "WorkerShape",
    "fold",
]
