"""Tables derived from the event log: trials.csv and summary.json. Pure functions over the event list."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Union

from raybench.core.state import ExperimentState
from raybench.errors import RunDirError
from raybench.events._atomic import atomic_write_text
from raybench.events._bulk import gc_paused
from raybench.events._energy import section_energy, trial_energy
from raybench.events._reader import iter_events
from raybench.events._summary import (
    BEST_BASIS,
    SECTIONS,
    SUMMARY_SCHEMA,
    FactsBuilder,
    RunFacts,
    Section,
    cheapest_near_best,
    derive_summary,
    run_facts,
    summary_of,
)
from raybench.events._trials import (
    TRIAL_STATES,
    TrialRow,
    derive_trials,
    trials_csv_pieces,
    trials_csv_text,
    write_trials_csv,
)

EVENTS_FILE = "events.msgpack"
SUMMARY_FILE = "summary.json"
TRIALS_FILE = "trials.csv"

__all__ = [
    "BEST_BASIS",
    "DerivedRun",
    "EVENTS_FILE",
    "SECTIONS",
    "SUMMARY_FILE",
    "SUMMARY_SCHEMA",
    "TRIALS_FILE",
    "TRIAL_STATES",
    "RunFacts",
    "Section",
    "TrialRow",
    "derive_run",
    "derive_summary",
    "derive_trials",
    "run_facts",
    "run_log",
    "section_energy",
    "trials_csv_text",
    "write_run_outputs",
    "write_trials_csv",
]


def run_log(run_dir: Union[str, os.PathLike]) -> Path:
    """RUN_DIR/events.msgpack, or a one-line RunDirError saying what is wrong with the run directory."""
    d = Path(run_dir)
    log = d / EVENTS_FILE
    if not d.exists():
        raise RunDirError(f"{d}: no such run directory (it does not exist); pass the --out of an earlier run")
    if not d.is_dir():
        raise RunDirError(f"{d}: not a directory; pass a run directory")
    if not log.is_file():
        raise RunDirError(f"{d}: no {EVENTS_FILE} here; is it a raybench run directory?")
    if not os.access(log, os.R_OK):
        raise RunDirError(f"{log}: not readable; fix its permissions")
    return log


@dataclass(frozen=True)
class DerivedRun:
    """One pass over a run's log: its events, their fold, the trial rows and summary.json as written.

    `events` and `by_kind` hold every event, or, from `derive_run(keep_events=False)`, the run-level ones only.
    """

    run_dir: Path
    events: list[Mapping[str, Any]]
    damage: tuple[Any, ...]
    state: ExperimentState
    rows: list[TrialRow]
    summary: dict[str, Any]
    summary_text: str  # summary.json's text, for readers that want it as a reader of the file sees it
    by_kind: Mapping[str, Sequence[Mapping[str, Any]]] = field(default_factory=dict)  # `events` by kind, in order
    n_events: int = 0  # how many events the log holds (all read, whether kept or not)


def derive_run(run_dir: Union[str, os.PathLike], *, extra: Sequence[Section] = (), keep_events: bool = True,
               taps: Sequence[Callable[[Mapping[str, Any]], None]] = ()) -> DerivedRun:
    """Read RUN_DIR/events.msgpack once, write RUN_DIR/summary.json and RUN_DIR/trials.csv atomically, and
    return everything derived on the way (the HTML report reuses it instead of reading the log again).

    keep_events=False keeps only the run-level events (memory then follows the trials, not the reports);
    each of `taps` is given every event of the log, in order, in the same pass.
    A missing or unreadable run directory or log raises RunDirError; a file that is not an event log raises
    EventLogError. Damage in the log is recovered from and listed under "damage".
    """
    d = Path(run_dir)
    with gc_paused():
        return _derive_run(d, extra, keep_per_trial=keep_events or any(callable(s) for s in extra), taps=taps,
                           keep_text=keep_events)


def _derive_run(d: Path, extra: Sequence[Section], *, keep_per_trial: bool, taps: Sequence[Callable] = (),
                keep_text: bool = True) -> DerivedRun:
    """One streamed pass over the log. keep_per_trial=False keeps only its run-level events in the result
    (summary.FactsBuilder): the outputs are the same, and memory follows the trials, not the reports.
    keep_text=False writes summary.json as it is encoded and keeps no copy of its text."""
    damage: list[Any] = []
    b = FactsBuilder(keep_per_trial=keep_per_trial)
    events = iter_events(run_log(d), damage)
    if taps:
        for e in events:
            b.add(e)
            for tap in taps:
                tap(e)
    else:
        for e in events:
            b.add(e)
    facts = b.facts()
    state, rows = facts.state, facts.rows
    energy = section_energy(b.events, rows, resources=b.resources, last_t=b.max_t)
    near = cheapest_near_best(state, ((energy.get("energy") or {}).get("per_trial") or []))
    summary = summary_of(facts, damage=damage, extra=[energy, {"cheapest_near_best": near}, *extra],
                         events=b.events if keep_per_trial else None)
    # The text is kept for the report; without it, it is written as it is encoded (with indent, json builds
    # the whole text from millions of pieces: about 100 MB held for the 16 MB summary of 100,000 trials).
    text = json.dumps(summary, indent=2, allow_nan=False) + "\n" if keep_per_trial and keep_text else None
    try:
        atomic_write_text(d / TRIALS_FILE, trials_csv_pieces(rows, trial_energy(b.events)))
        atomic_write_text(d / SUMMARY_FILE, text if text is not None else _pieces(summary))
    except OSError as e:
        raise RunDirError(f"cannot write the run outputs in {d}: {e.strerror or e}; check free space and permissions") from e
    return DerivedRun(d, b.events, tuple(damage), state, rows, summary, text or "", b.by_kind, b.n_events)


def _pieces(summary: dict[str, Any]) -> Iterator[str]:
    yield from json.JSONEncoder(indent=2, allow_nan=False).iterencode(summary)
    yield "\n"


def write_run_outputs(run_dir: Union[str, os.PathLike], *, extra: Sequence[Section] = ()) -> dict[str, Any]:
    """Read RUN_DIR/events.msgpack and write RUN_DIR/summary.json and RUN_DIR/trials.csv atomically.

    Returns the summary. Errors as derive_run's. The log is streamed and its per-trial and per-report events
    are folded, not kept (unless an extra section is a function of the events), so a run's end costs memory
    in proportion to its trials.
    """
    d = Path(run_dir)
    with gc_paused():
        return _derive_run(d, extra, keep_per_trial=any(callable(s) for s in extra), keep_text=False).summary
