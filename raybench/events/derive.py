"""Tables derived from the event log: trials.csv and summary.json. Pure functions over the event list."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Union

from raybench.core.state import fold
from raybench.errors import RunDirError
from raybench.events._atomic import atomic_write_text
from raybench.events._energy import section_energy, trial_energy
from raybench.events._reader import read_events
from raybench.events._summary import (
    BEST_BASIS,
    SECTIONS,
    SUMMARY_SCHEMA,
    RunFacts,
    Section,
    cheapest_near_best,
    derive_summary,
    run_facts,
)
from raybench.events._trials import TRIAL_STATES, TrialRow, derive_trials, trials_csv_text, write_trials_csv

EVENTS_FILE = "events.msgpack"
SUMMARY_FILE = "summary.json"
TRIALS_FILE = "trials.csv"

__all__ = [
    "BEST_BASIS",
    "EVENTS_FILE",
    "SECTIONS",
    "SUMMARY_FILE",
    "SUMMARY_SCHEMA",
    "TRIALS_FILE",
    "TRIAL_STATES",
    "RunFacts",
    "Section",
    "TrialRow",
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


def write_run_outputs(run_dir: Union[str, os.PathLike], *, extra: Sequence[Section] = ()) -> dict[str, Any]:
    """Read RUN_DIR/events.msgpack and write RUN_DIR/summary.json and RUN_DIR/trials.csv atomically.

    Returns the summary. A missing or unreadable run directory or log raises RunDirError; a file that is not
    an event log raises EventLogError. Damage in the log is recovered from and listed under "damage".
    """
    d = Path(run_dir)
    read = read_events(run_log(d))
    state = fold(read.events)
    rows = derive_trials(state)
    energy = section_energy(read.events, rows)
    near = cheapest_near_best(state, ((energy.get("energy") or {}).get("per_trial") or []))
    summary = derive_summary(read.events, damage=read.damage, extra=[energy, {"cheapest_near_best": near}, *extra],
                             rows=rows, state=state)
    try:
        atomic_write_text(d / TRIALS_FILE, trials_csv_text(rows, trial_energy(read.events)))
        atomic_write_text(d / SUMMARY_FILE, json.dumps(summary, indent=2, allow_nan=False) + "\n")
    except OSError as e:
        raise RunDirError(f"cannot write the run outputs in {d}: {e.strerror or e}; check free space and permissions") from e
    return summary
