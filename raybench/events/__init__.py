"""The append-only event log: the one source of truth every table, plot and resume is derived from.

`docs/events.md` documents the event types, the record framing byte by byte, and the recovery rules.
"""

from raybench.events._bulk import gc_paused
from raybench.events._framing import HEADER_BYTES, MAGIC, MAX_PAYLOAD_BYTES
from raybench.events._log import EventLog
from raybench.events._reader import (
    BAD_CRC,
    BAD_HEADER,
    BAD_PAYLOAD,
    DAMAGE_KINDS,
    TORN_TAIL,
    Damage,
    LogRead,
    Record,
    iter_events,
    iter_log,
    read_events,
)
from raybench.events._types import EVENT_FIELDS, EVENT_TYPES, HIGH_RATE_EVENTS, make_event
from raybench.events.derive import (
    EVENTS_FILE,
    SUMMARY_FILE,
    TRIALS_FILE,
    TrialRow,
    derive_summary,
    derive_trials,
    write_run_outputs,
    write_trials_csv,
)
from raybench.events.export import export_csv, export_jsonl

__all__ = [
    "BAD_CRC",
    "BAD_HEADER",
    "BAD_PAYLOAD",
    "DAMAGE_KINDS",
    "EVENTS_FILE",
    "EVENT_FIELDS",
    "EVENT_TYPES",
    "HEADER_BYTES",
    "HIGH_RATE_EVENTS",
    "MAGIC",
    "MAX_PAYLOAD_BYTES",
    "SUMMARY_FILE",
    "TORN_TAIL",
    "TRIALS_FILE",
    "Damage",
    "EventLog",
    "LogRead",
    "Record",
    "TrialRow",
    "derive_summary",
    "derive_trials",
    "export_csv",
    "export_jsonl",
    "gc_paused",
    "iter_events",
    "iter_log",
    "make_event",
    "read_events",
    "write_run_outputs",
    "write_trials_csv",
]
