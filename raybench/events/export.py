"""Exporting events to JSON Lines and CSV, for tools that do not speak msgpack, and a run's trials as
CodeCarbon's emissions.csv, so that CodeCarbon's own tooling reads raybench runs."""

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


# CodeCarbon's emissions.csv columns (codecarbon 3.x, output_methods/emissions_data.py), in its order.
CODECARBON_COLUMNS = (
    "timestamp", "project_name", "run_id", "experiment_id", "duration", "emissions", "emissions_rate",
    "cpu_power", "gpu_power", "ram_power", "cpu_energy", "gpu_energy", "ram_energy", "energy_consumed",
    "water_consumed", "country_name", "country_iso_code", "region", "cloud_provider", "cloud_region", "os",
    "python_version", "codecarbon_version", "cpu_count", "cpu_model", "gpu_count", "gpu_model", "longitude",
    "latitude", "ram_total_size", "tracking_mode", "cpu_utilization_percent", "gpu_utilization_percent",
    "ram_utilization_percent", "ram_used_gb", "on_cloud", "pue", "wue",
)


def codecarbon_rows(events: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """One row per trial that ended, in CodeCarbon's columns and units: seconds, watts, kWh, kg CO2e, GB.

    Energy is the trial's footprint per domain: its active joules plus its share of the idle baseline for
    what it reserved (cpu, ram, gpu); energy_consumed is their sum, without PUE. emissions applies the run's
    PUE and grid intensity (kg CO2e). run_id is "<raybench run id>-trial-<id>"; experiment_id the run id.
    What raybench does not know (location, water, utilization) is left empty or 0.
    """
    from datetime import datetime, timezone

    from raybench.energy.metrics import DEFAULT_CARBON, J_PER_KWH
    from raybench.events._energy import ledger_of
    from raybench.events._trials import derive_trials

    start = next((e for e in events if e.get("event") == "experiment_start"), {})
    cfg = start.get("config") or {}
    carbon = {**DEFAULT_CARBON, **(cfg.get("carbon") or {})}
    env = start.get("env") or {}
    resources = {e["trial_id"]: e.get("resources") or {} for e in events if e.get("event") == "trial_started"}
    ledger = ledger_of(events)
    out = []
    for r in derive_trials(events):
        if r.ended_t is None:
            continue
        parts, idle = ledger.trial(r.trial_id), ledger.trial_idle_by_domain(r.trial_id)
        joules = {d: parts[f"{d}_j"] + idle[d] for d in ("cpu", "dram", "gpu")}
        kwh = {d: j / J_PER_KWH for d, j in joules.items()}
        total_kwh = math.fsum(kwh.values())
        kg = total_kwh * float(carbon["pue"]) * float(carbon["g_per_kwh"]) / 1000.0
        dur = max(float(r.duration_s or 0.0), 0.0)
        res = resources.get(r.trial_id, {})
        out.append({
            "timestamp": datetime.fromtimestamp(r.ended_t, timezone.utc).isoformat(timespec="seconds"),
            "project_name": start.get("name", ""), "run_id": f"{start.get('run_id', '')}-trial-{r.trial_id}",
            "experiment_id": start.get("run_id", ""), "duration": dur, "emissions": kg,
            "emissions_rate": kg / dur if dur > 0 else 0.0,
            "cpu_power": joules["cpu"] / dur if dur > 0 else 0.0, "gpu_power": joules["gpu"] / dur if dur > 0 else 0.0,
            "ram_power": joules["dram"] / dur if dur > 0 else 0.0,
            "cpu_energy": kwh["cpu"], "gpu_energy": kwh["gpu"], "ram_energy": kwh["dram"], "energy_consumed": total_kwh,
            "water_consumed": 0.0, "country_name": "", "country_iso_code": "", "region": "", "cloud_provider": "",
            "cloud_region": "", "os": env.get("platform", ""), "python_version": env.get("python", ""),
            "codecarbon_version": "", "cpu_count": float(res.get("cpus", 0) or 0), "cpu_model": "",
            "gpu_count": float(res.get("gpus", 0) or 0), "gpu_model": "", "longitude": "", "latitude": "",
            "ram_total_size": float(res.get("memory_mb", 0) or 0) / 1024.0, "tracking_mode": "process",
            "cpu_utilization_percent": 0.0, "gpu_utilization_percent": 0.0, "ram_utilization_percent": 0.0,
            "ram_used_gb": 0.0, "on_cloud": "N", "pue": float(carbon["pue"]), "wue": 0.0,
        })
    return out


def export_codecarbon(events: Iterable[Mapping[str, Any]], fp: IO[str]) -> list[str]:
    """Write the run's trials as CodeCarbon's emissions.csv (see `codecarbon_rows`). Returns the columns."""
    rows = codecarbon_rows(list(events))
    writer = csv.writer(fp, lineterminator="\n")
    writer.writerow(CODECARBON_COLUMNS)
    for row in rows:
        writer.writerow([cell(row[c]) for c in CODECARBON_COLUMNS])
    return list(CODECARBON_COLUMNS)


# The export formats by name, for the CLI.
EXPORTERS = {"jsonl": export_jsonl, "csv": export_csv, "codecarbon": export_codecarbon}
