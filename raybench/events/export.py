"""Exporting events to JSON Lines and CSV, for tools that do not speak msgpack."""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import IO, Any, Optional

# Columns that lead every CSV export, when any event has them; the rest follow in sorted order.
LEAD_COLUMNS = ("event", "t", "trial_id", "node_id", "step")


def _key(k: Any) -> str:
    if isinstance(k, str):
        return k
    if isinstance(k, bytes):
        return k.hex()
    return json.dumps(jsonable(k))


def jsonable(obj: Any) -> Any:
    """`obj` as plain JSON values: dict keys become strings (trial ids "3"), tuples become lists, bytes become
    hex, and NaN or infinite floats become None, since JSON has no spelling for them."""
    if isinstance(obj, Mapping):
        return {_key(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, (bytes, bytearray)):
        return bytes(obj).hex()
    return obj


def _ordered(event: Mapping[str, Any]) -> dict[str, Any]:
    out = {k: event[k] for k in ("event", "t", "trial_id") if k in event}
    out.update((k, v) for k, v in event.items() if k not in out)
    return out


def export_jsonl(events: Iterable[Mapping[str, Any]], fp: IO[str]) -> int:
    """Write one JSON object per event and line, `event`, `t` and `trial_id` first. Returns the line count."""
    n = 0
    for event in events:
        fp.write(json.dumps(jsonable(_ordered(event)), allow_nan=False, ensure_ascii=False))
        fp.write("\n")
        n += 1
    return n


def flatten(event: Mapping[str, Any]) -> dict[str, Any]:
    """One flat dict with dotted names ("metrics.val_loss"). Maps keyed by trial id, lists and empty maps
    stay whole as a JSON cell, so a run with many trials does not grow a column per trial."""
    out: dict[str, Any] = {}

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, Mapping) and value and all(isinstance(k, str) for k in value):
            for k, v in value.items():
                walk(f"{prefix}.{k}" if prefix else k, v)
        elif isinstance(value, (Mapping, list, tuple)):
            out[prefix] = json.dumps(jsonable(value), allow_nan=False, sort_keys=True)
        else:
            out[prefix] = value

    walk("", event)
    return out


def columns_for(rows: Iterable[Mapping[str, Any]]) -> list[str]:
    """The stable column order: LEAD_COLUMNS that occur, then every other name sorted."""
    names: set[str] = set()
    for row in rows:
        names.update(row)
    return [c for c in LEAD_COLUMNS if c in names] + sorted(names.difference(LEAD_COLUMNS))


def cell(value: Any) -> str:
    """A CSV cell: empty for None, lower-case booleans, repr-exact floats."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def export_csv(
    events: Iterable[Mapping[str, Any]], fp: IO[str], *, columns: Optional[Sequence[str]] = None
) -> list[str]:
    """Write one CSV row per event with flattened, dotted columns. Returns the columns written.

    `fp` should be opened with newline="". Pass `columns` to fix the set and order; others are dropped.
    """
    rows = [flatten(e) for e in events]
    cols = list(columns) if columns is not None else columns_for(rows)
    writer = csv.writer(fp, lineterminator="\n")
    writer.writerow(cols)
    for row in rows:
        writer.writerow([cell(row.get(c)) for c in cols])
    return cols
