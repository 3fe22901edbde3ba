"""What the plots and the HTML report read from a run: the events, the trial rows, the summary, and the
trial spans and stop decisions folded from the log. Pure functions; nothing here draws."""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Optional, Union

from raybench.core.state import ExperimentState, Span, fold
from raybench.events import SUMMARY_FILE, TrialRow, derive_summary, derive_trials, read_events
from raybench.events.derive import SUMMARY_SCHEMA, DerivedRun, run_log, section_energy

# Outcome colours shared by every plot and the HTML legend (colour-blind safe Okabe-Ito hues).
OUTCOME_COLORS = {
    "completed": "#009E73",
    "pruned": "#E69F00",
    "failed": "#D55E00",
    "running": "#56B4E9",
    "pending": "#999999",
}


def is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


@dataclass(frozen=True)
class RunData:
    """One run as the report sees it. start_t is the x-axis origin of every time plot (Unix seconds)."""

    run_dir: Path
    events: Sequence[Mapping[str, Any]]
    state: ExperimentState
    rows: Sequence[TrialRow]
    summary: Mapping[str, Any]
    start_t: float
    end_t: float
    damage: Sequence[Any] = field(default_factory=tuple)

    @property
    def metric(self) -> str:
        return str((self.summary.get("metric") or {}).get("name", "val_accuracy"))

    @property
    def mode(self) -> str:
        return str((self.summary.get("metric") or {}).get("mode", "max"))

    def of_type(self, kind: str) -> Sequence[Mapping[str, Any]]:
        """The events of one kind, in log order (read-only: every plot shares them)."""
        return self._by_kind.get(kind, ())

    @cached_property
    def _by_kind(self) -> dict[str, list[Mapping[str, Any]]]:
        # One pass for every kind: the plots ask for several, and a large log has 800,000 events.
        by_kind: dict[str, list[Mapping[str, Any]]] = {}
        for e in self.events:
            by_kind.setdefault(e.get("event"), []).append(e)
        return by_kind


def _read_summary_file(path: Path) -> dict[str, Any]:
    # A summary.json that cannot be read is not fatal: the log can always be derived again.
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


# Keys every summary of this schema has; a file without one of them is derived again.
_SUMMARY_KEYS = ("run_id", "status", "started_t", "trials", "best", "anytime", "decisions", "events", "metric",
                 "energy")


def _current(summary: Mapping[str, Any], events: Sequence[Any], damage: Sequence[Any]) -> bool:
    """Whether summary.json was derived from exactly these events by this schema."""
    return (summary.get("schema") == SUMMARY_SCHEMA and summary.get("events") == len(events)
            and len(summary.get("damage") or ()) == len(damage) and all(k in summary for k in _SUMMARY_KEYS))


def load_run(run_dir: Union[str, os.PathLike]) -> RunData:
    """Read RUN_DIR/events.msgpack and, where present, RUN_DIR/summary.json.

    The summary, its energy section included, is derived from the log and then overlaid with summary.json,
    so a file written by an older raybench still has every key.
    """
    d = Path(run_dir)
    read = read_events(run_log(d))
    events = list(read.events)
    state = fold(events)
    rows = derive_trials(state)
    on_disk = _read_summary_file(d / SUMMARY_FILE)
    if _current(on_disk, events, read.damage):
        summary = on_disk  # derived from this very log (`raybench report` writes it first): not derived twice
    else:
        summary = derive_summary(events, damage=read.damage, rows=rows, state=state,
                                 extra=[section_energy(events, rows)])
        summary.update(on_disk)
    return _run_data(d, events, state, rows, summary, tuple(read.damage))


def run_data(derived: DerivedRun) -> RunData:
    """RunData from a derive pass that just wrote the run's outputs: no second read of the log."""
    run = _run_data(derived.run_dir, derived.events, derived.state, derived.rows,
                    json.loads(derived.summary_text), derived.damage)
    if derived.by_kind:  # the derive pass indexed the events by kind already: the plots use that index
        run.__dict__["_by_kind"] = derived.by_kind
    return run


def _run_data(d: Path, events, state, rows, summary, damage) -> RunData:
    started = summary.get("started_t")
    if is_number(started) and is_number(state.last_t):  # the fold already knows the last time
        return RunData(d, events, state, rows, summary, float(started), max(float(state.last_t), float(started)),
                       damage)
    times = [float(e["t"]) for e in events if is_number(e.get("t"))]
    start_t = float(started) if is_number(started) else min(times, default=0.0)
    end_t = max(times, default=start_t)
    return RunData(d, events, state, rows, summary, start_t, end_t, damage)


def trial_spans(run: RunData) -> list[Span]:
    """Every attempt of every trial, in start order, as the fold closed them. An attempt still open at the
    end of the log runs to the log's last event."""
    spans = [sp for t in run.state.trials.values() for sp in t.spans]
    spans += [Span(t.trial_id, t.attempts, t.attempt_t, max(run.end_t, t.attempt_t), "running", t.node_id)
              for t in run.state.trials.values() if t.attempt_t is not None]
    return sorted(spans, key=lambda s: (s.t0, s.trial_id))


@dataclass(frozen=True)
class Stop:
    """A decision event with action "stop", and the pruner's reason for it."""

    trial_id: int
    step: Optional[int]
    t: float
    reason: Mapping[str, Any]


def stop_decisions(run: RunData) -> list[Stop]:
    out = []
    for e in run.of_type("decision"):
        if e.get("action") == "stop" and isinstance(e.get("trial_id"), int):
            step = e.get("step") if isinstance(e.get("step"), int) else None
            reason = e.get("reason") if isinstance(e.get("reason"), Mapping) else {}
            out.append(Stop(e["trial_id"], step, float(e.get("t") or 0.0), reason))
    return out


def reported_steps(run: RunData) -> dict[int, tuple[int, int]]:
    """(first, last) reported step per trial id."""
    steps: dict[int, tuple[int, int]] = {}
    for e in run.of_type("report"):
        tid, step = e.get("trial_id"), e.get("step")
        if isinstance(tid, int) and isinstance(step, int):
            lo, hi = steps.get(tid, (step, step))
            steps[tid] = (min(lo, step), max(hi, step))
    return steps


def plain(text: Any) -> str:
    """Text from the log made safe for a matplotlib label: a "$" would otherwise start mathtext, and a
    user's unbalanced "$" in a config value would make the figure fail to draw."""
    return str(text).replace("$", r"\$")


def param_text(value: Any) -> str:
    """A hyperparameter value as one label: nested values as compact JSON."""
    if isinstance(value, (Mapping, list, tuple)):
        return json.dumps(value, sort_keys=True, default=str)
    return str(value)
