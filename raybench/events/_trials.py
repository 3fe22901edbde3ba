"""One row per trial, folded from the event log."""

from __future__ import annotations

import csv
import io
import json
import math
import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Optional, Union

from raybench.core.state import ExperimentState, TrialState, TrialStatus, fold
from raybench.events._atomic import atomic_write_text
from raybench.events.export import cell

TRIAL_STATES = ("completed", "pruned", "failed", "running", "paused", "pending")


@dataclass(frozen=True)
class TrialRow:
    """A trial as the log tells it.

    status: completed | pruned | failed | running (started, not ended when the log ends) | pending (created,
        or failed and waiting for a retry).
    attempts: how many times it was started.
    final_metric, best_metric: from trial_completed, else the last and best reported value of the metric.
    duration_s: from trial_completed, else first start to final failure; None while it runs.
    error, cause: the last failure, cleared if the trial later completed.
    stop_rule, stop_detail: the reason of the stop decision, for pruned trials.
    """

    trial_id: int
    config: Mapping[str, Any]
    status: str
    attempts: int = 0
    steps: int = 0
    final_metric: Optional[float] = None
    best_metric: Optional[float] = None
    started_t: Optional[float] = None
    ended_t: Optional[float] = None
    duration_s: Optional[float] = None
    node_id: Optional[str] = None
    peak_rss_mb: Optional[float] = None
    test_metrics: Mapping[str, Any] = field(default_factory=dict)
    stop_rule: Optional[str] = None
    stop_detail: Optional[str] = None
    error: Optional[str] = None
    cause: Optional[str] = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def row_of(t: TrialState) -> TrialRow:
    """A trial of the fold as a row of trials.csv."""
    status = t.status.value
    ended = t.status.ended
    return TrialRow(
        trial_id=t.trial_id, config=dict(t.config), status=status, attempts=t.attempts,
        steps=t.steps if t.status in (TrialStatus.COMPLETED, TrialStatus.PRUNED) else t.max_steps,
        final_metric=t.final_value, best_metric=t.best_value, started_t=t.started_t,
        ended_t=t.ended_t if ended else None, duration_s=t.duration_s if ended else None,
        node_id=t.node_id, peak_rss_mb=t.peak_rss_mb or None, test_metrics=dict(t.test_metrics),
        stop_rule=(t.stop_reason or {}).get("rule") if t.status is TrialStatus.PRUNED else None,
        stop_detail=(t.stop_reason or {}).get("detail") if t.status is TrialStatus.PRUNED else None,
        error=t.error, cause=t.cause)


def derive_trials(events: Union[Iterable[Mapping[str, Any]], ExperimentState]) -> list[TrialRow]:
    """One TrialRow per trial id seen in the log (or in an already folded state), sorted by trial id."""
    state = events if isinstance(events, ExperimentState) else fold(events)
    return [row_of(state.trials[tid]) for tid in sorted(state.trials)]


_TRIAL_COLUMNS = (
    "trial_id", "status", "attempts", "steps", "final_metric", "best_metric", "started_t", "ended_t",
    "duration_s", "node_id", "peak_rss_mb",
)
_TAIL_COLUMNS = ("stop_rule", "stop_detail", "error", "cause")


def _test_column(name: str) -> str:
    return name if name.startswith("test_") else f"test_{name}"


def _param_cell(value: Any) -> Any:
    return json.dumps(value, sort_keys=True) if isinstance(value, (Mapping, list, tuple)) else value


def trials_csv_text(rows: Sequence[TrialRow], energy: Optional[Mapping[int, Mapping[str, Any]]] = None) -> str:
    """trials.csv as text: fixed columns, the trial's energy (raybench.events._energy.trial_energy: the same
    figures as summary.json's per_trial), test metrics, stop and failure columns, then `param.<name>`."""
    return "".join(trials_csv_pieces(rows, energy))


def trials_csv_pieces(rows: Sequence[TrialRow], energy: Optional[Mapping[int, Mapping[str, Any]]] = None
                      ) -> Iterator[str]:
    """trials_csv_text in pieces of about a thousand rows, for a writer that does not hold the whole file."""
    from raybench.events._energy import TRIAL_ENERGY_COLUMNS

    energy = energy or {}
    tests = sorted({_test_column(k) for r in rows for k in r.test_metrics})
    params = sorted({k for r in rows for k in r.config})
    ranged = any("energy_j_low" in e for e in energy.values())
    e_cols = [c for c in TRIAL_ENERGY_COLUMNS if ranged or c not in ("energy_j_low", "energy_j_high")] if energy else []
    cols = [*_TRIAL_COLUMNS, *e_cols, *tests, *_TAIL_COLUMNS, *(f"param.{p}" for p in params)]
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(cols)
    for i, r in enumerate(rows):
        values = {c: getattr(r, c) for c in (*_TRIAL_COLUMNS, *_TAIL_COLUMNS)}
        values.update(energy.get(r.trial_id, {}))
        values.update((_test_column(k), v) for k, v in r.test_metrics.items())
        values.update((f"param.{k}", _param_cell(v)) for k, v in r.config.items())
        writer.writerow([cell(values.get(c)) for c in cols])
        if i % 1024 == 1023:
            yield buf.getvalue()
            buf.seek(0)
            buf.truncate()
    yield buf.getvalue()


def write_trials_csv(rows: Sequence[TrialRow], path: Union[str, os.PathLike],
                     energy: Optional[Mapping[int, Mapping[str, Any]]] = None) -> None:
    """Write trials.csv atomically (temporary file, fsync, rename)."""
    atomic_write_text(path, trials_csv_text(rows, energy))
