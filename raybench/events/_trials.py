"""One row per trial, folded from the event log."""

from __future__ import annotations

import csv
import io
import json
import math
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Optional, Union

from raybench.events import _types as ev
from raybench.events._atomic import atomic_write_text
from raybench.events.export import cell

TRIAL_STATES = ("completed", "pruned", "failed", "running", "pending")


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


def metric_spec(events: Iterable[Mapping[str, Any]]) -> tuple[str, str]:
    """The (name, mode) of the metric from the first experiment_start's config; val_accuracy/max without one."""
    for e in events:
        if e.get("event") == ev.EXPERIMENT_START:
            metric = (e.get("config") or {}).get("metric") or {}
            return str(metric.get("name", "val_accuracy")), str(metric.get("mode", "max"))
    return "val_accuracy", "max"


def better(mode: str) -> Callable[[float, float], bool]:
    """A strict "a is better than b" for the metric's mode."""
    return (lambda a, b: a > b) if mode == "max" else (lambda a, b: a < b)


class _Acc:
    """The mutable state of one trial while the log is folded."""

    def __init__(self, trial_id: int) -> None:
        self.row: dict[str, Any] = {"trial_id": trial_id, "config": {}, "status": "pending", "test_metrics": {}}
        self.last: Optional[float] = None
        self.best: Optional[float] = None
        self.stop: Optional[Mapping[str, Any]] = None
        self.done: Optional[Mapping[str, Any]] = None


def _fold(acc: _Acc, e: Mapping[str, Any], metric: str, is_better: Callable[[float, float], bool]) -> None:
    kind, row, t = e["event"], acc.row, e.get("t")
    if kind == ev.TRIAL_CREATED:
        row["config"] = dict(e.get("config") or {})
    elif kind == ev.TRIAL_STARTED:
        row["attempts"] = row.get("attempts", 0) + 1
        row["status"] = "running"
        row.setdefault("started_t", t)
        row["node_id"] = e.get("node_id")
    elif kind == ev.REPORT:
        if isinstance(e.get("step"), int):
            row["steps"] = max(row.get("steps", 0), e["step"])
        value = (e.get("metrics") or {}).get(metric)
        if is_number(value):
            acc.last = value
            if acc.best is None or is_better(value, acc.best):
                acc.best = value
    elif kind == ev.DECISION and e.get("action") == "stop":
        acc.stop = e.get("reason") or {}
    elif kind == ev.TRIAL_COMPLETED:
        acc.done = e
        row.update(status=e.get("status", "completed"), ended_t=t, error=None, cause=None)
    elif kind == ev.TRIAL_FAILED:
        row.update(error=e.get("error"), cause=e.get("cause"))
        if e.get("peak_rss_mb") is not None:
            row["failed_peak_rss_mb"] = e["peak_rss_mb"]
        if e.get("final", True):
            row.update(status="failed", ended_t=t)
        else:
            row["status"] = "pending"
    elif kind == ev.TEST_RESULT:
        row["test_metrics"].update(e.get("metrics") or {})


def _freeze(acc: _Acc) -> TrialRow:
    row, done = acc.row, acc.done or {}
    row["final_metric"] = done.get("final_metric") if is_number(done.get("final_metric")) else acc.last
    row["best_metric"] = done.get("best_metric") if is_number(done.get("best_metric")) else acc.best
    if isinstance(done.get("steps"), int):
        row["steps"] = done["steps"]
    row["peak_rss_mb"] = done.get("peak_rss_mb", row.pop("failed_peak_rss_mb", None))
    row.pop("failed_peak_rss_mb", None)
    if row["status"] in ("completed", "pruned") and is_number(done.get("duration_s")):
        row["duration_s"] = done["duration_s"]
    elif row["status"] in ("completed", "pruned", "failed") and row.get("started_t") is not None:
        row["duration_s"] = row["ended_t"] - row["started_t"]
    if row["status"] in ("running", "pending"):
        row["ended_t"] = None
    if row["status"] == "pruned" and acc.stop is not None:
        row.update(stop_rule=acc.stop.get("rule"), stop_detail=acc.stop.get("detail"))
    return TrialRow(**row)


def derive_trials(events: Iterable[Mapping[str, Any]]) -> list[TrialRow]:
    """One TrialRow per trial id seen in the log, sorted by trial id."""
    events = list(events)
    metric, mode = metric_spec(events)
    is_better = better(mode)
    accs: dict[int, _Acc] = {}
    for e in events:
        tid = e.get("trial_id")
        if tid is None or e.get("event") not in ev.EVENT_TYPES:
            continue
        acc = accs.get(tid)
        if acc is None:
            acc = accs[tid] = _Acc(tid)
        _fold(acc, e, metric, is_better)
    return [_freeze(accs[tid]) for tid in sorted(accs)]


_TRIAL_COLUMNS = (
    "trial_id", "status", "attempts", "steps", "final_metric", "best_metric", "started_t", "ended_t",
    "duration_s", "node_id", "peak_rss_mb",
)
_TAIL_COLUMNS = ("stop_rule", "stop_detail", "error", "cause")


def _test_column(name: str) -> str:
    return name if name.startswith("test_") else f"test_{name}"


def _param_cell(value: Any) -> Any:
    return json.dumps(value, sort_keys=True) if isinstance(value, (Mapping, list, tuple)) else value


def trials_csv_text(rows: Sequence[TrialRow]) -> str:
    """trials.csv as text: fixed columns, test metrics, stop and failure columns, then `param.<name>`."""
    tests = sorted({_test_column(k) for r in rows for k in r.test_metrics})
    params = sorted({k for r in rows for k in r.config})
    cols = [*_TRIAL_COLUMNS, *tests, *_TAIL_COLUMNS, *(f"param.{p}" for p in params)]
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(cols)
    for r in rows:
        values = {c: getattr(r, c) for c in (*_TRIAL_COLUMNS, *_TAIL_COLUMNS)}
        values.update((_test_column(k), v) for k, v in r.test_metrics.items())
        values.update((f"param.{k}", _param_cell(v)) for k, v in r.config.items())
        writer.writerow([cell(values.get(c)) for c in cols])
    return buf.getvalue()


def write_trials_csv(rows: Sequence[TrialRow], path: Union[str, os.PathLike]) -> None:
    """Write trials.csv atomically (temporary file, fsync, rename)."""
    atomic_write_text(path, trials_csv_text(rows))
