"""What the plots and the HTML report read from a run: the trial rows, the summary, the trial spans and stop
decisions folded from the log, the energy samples and the audit. Pure functions; nothing here draws.

Two ways in: `load_run` reads the log and keeps every event; `PlotIndex`, given each event of the pass that
derives the run's outputs (`raybench report --html`), keeps only what the page reads of the per-report events
(the stops, each trial's first and last step, the audit's fold), so that the page of a run of 100,000 trials
does not hold its 800,000 events.
"""

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
class Stop:
    """A decision event with action "stop", and the pruner's reason for it."""

    trial_id: int
    step: Optional[int]
    t: float
    reason: Mapping[str, Any]


@dataclass(frozen=True)
class RunData:
    """One run as the report sees it. start_t is the x-axis origin of every time plot (Unix seconds).

    events: every event of the log (load_run), or only the run-level ones (from a PlotIndex, which fills in
    `stops`, `steps`, `samples` and `log_audit` instead); n_events: how many the log holds.
    """

    run_dir: Path
    events: Sequence[Mapping[str, Any]]
    state: ExperimentState
    rows: Sequence[TrialRow]
    summary: Mapping[str, Any]
    start_t: float
    end_t: float
    damage: Sequence[Any] = field(default_factory=tuple)
    n_events: Optional[int] = None

    @property
    def event_count(self) -> int:
        return len(self.events) if self.n_events is None else self.n_events

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

    @cached_property
    def stops(self) -> list[Stop]:
        """Every decision with action "stop", in log order."""
        index = PlotIndex(audit=False)
        for e in self.of_type("decision"):
            index.add(e)
        return index.stops

    @cached_property
    def steps(self) -> dict[int, tuple[int, int]]:
        """(first, last) reported step per trial id."""
        index = PlotIndex(audit=False)
        for e in self.of_type("report"):
            index.add(e)
        return index.steps

    @cached_property
    def samples(self) -> Sequence[Mapping[str, Any]]:
        """The energy_sample events, in log order."""
        return self.of_type("energy_sample")

    @cached_property
    def log_audit(self) -> Optional[dict]:
        """The audit of the log (report.audit), as a dict; None where the log cannot be audited."""
        from raybench.report.audit import audit

        try:
            return audit(self.events).to_dict()
        except (KeyError, TypeError, ValueError):
            return None


class PlotIndex:
    """What the page reads of a run's per-report events, one event at a time (`add`): the stop decisions, each
    trial's first and last reported step, the energy samples and the audit's fold. `into(run)` gives them to
    a RunData built without those events."""

    def __init__(self, audit: bool = True) -> None:
        from raybench.report.audit import Auditor

        self.stops: list[Stop] = []
        self.steps: dict[int, tuple[int, int]] = {}
        self.samples: list[Mapping[str, Any]] = []
        self.auditor = Auditor() if audit else None

    def add(self, e: Mapping[str, Any]) -> None:
        kind = e.get("event")
        if kind == "report":
            tid, step = e.get("trial_id"), e.get("step")
            if isinstance(tid, int) and isinstance(step, int):
                span = self.steps.get(tid)
                self.steps[tid] = (step, step) if span is None else (min(span[0], step), max(span[1], step))
        elif kind == "decision":
            if e.get("action") == "stop" and isinstance(e.get("trial_id"), int):
                step = e.get("step") if isinstance(e.get("step"), int) else None
                reason = e.get("reason") if isinstance(e.get("reason"), Mapping) else {}
                self.stops.append(Stop(e["trial_id"], step, float(e.get("t") or 0.0), reason))
        elif kind == "energy_sample":
            self.samples.append(e)
        if self.auditor is not None:
            self.auditor.add(e)

    def into(self, run: RunData) -> RunData:
        run.__dict__.update(stops=self.stops, steps=self.steps, samples=self.samples)
        if self.auditor is not None:
            try:
                run.__dict__["log_audit"] = self.auditor.audit().to_dict()
            except (KeyError, TypeError, ValueError):
                run.__dict__["log_audit"] = None
        return run


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


def run_data(derived: DerivedRun, index: Optional[PlotIndex] = None) -> RunData:
    """RunData from a derive pass that just wrote the run's outputs: no second read of the log. With the index
    that pass fed (derive_run(keep_events=False, taps=[index.add])), the per-report events were not kept."""
    if index is None and not derived.summary_text:
        raise ValueError("derive_run(keep_events=False) kept no reports or decisions: pass the PlotIndex it fed")
    summary = json.loads(derived.summary_text) if derived.summary_text else derived.summary
    run = _run_data(derived.run_dir, derived.events, derived.state, derived.rows, summary, derived.damage,
                    n_events=derived.n_events if index is not None else None)
    if derived.by_kind:  # the derive pass indexed the events by kind already: the plots use that index
        run.__dict__["_by_kind"] = derived.by_kind
    return index.into(run) if index is not None else run


def _run_data(d: Path, events, state, rows, summary, damage, n_events: Optional[int] = None) -> RunData:
    started = summary.get("started_t")
    if is_number(started) and is_number(state.last_t):  # the fold already knows the last time
        return RunData(d, events, state, rows, summary, float(started), max(float(state.last_t), float(started)),
                       damage, n_events)
    times = [float(e["t"]) for e in events if is_number(e.get("t"))]
    start_t = float(started) if is_number(started) else min(times, default=0.0)
    end_t = max(times, default=start_t)
    return RunData(d, events, state, rows, summary, start_t, end_t, damage, n_events)


def trial_spans(run: RunData) -> list[Span]:
    """Every attempt of every trial, in start order, as the fold closed them. An attempt still open at the
    end of the log runs to the log's last event."""
    spans = [sp for t in run.state.trials.values() for sp in t.spans]
    spans += [Span(t.trial_id, t.attempts, t.attempt_t, max(run.end_t, t.attempt_t), "running", t.node_id)
              for t in run.state.trials.values() if t.attempt_t is not None]
    return sorted(spans, key=lambda s: (s.t0, s.trial_id))


def stop_decisions(run: RunData) -> list[Stop]:
    return run.stops


def reported_steps(run: RunData) -> dict[int, tuple[int, int]]:
    """(first, last) reported step per trial id."""
    return run.steps


def plain(text: Any) -> str:
    """Text from the log made safe for a matplotlib label: a "$" would otherwise start mathtext, and a
    user's unbalanced "$" in a config value would make the figure fail to draw."""
    return str(text).replace("$", r"\$")


def param_text(value: Any) -> str:
    """A hyperparameter value as one label: nested values as compact JSON."""
    if isinstance(value, (Mapping, list, tuple)):
        return json.dumps(value, sort_keys=True, default=str)
    return str(value)
