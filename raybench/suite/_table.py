"""The suite table: one row per (value, seed) run, the median and spread per value, and its three views
(suite.json, suite.md and the terminal). Pure functions over run summaries; nothing here runs anything."""

from __future__ import annotations

import csv
import json
import math
import os
import statistics
from collections.abc import Mapping, Sequence
from typing import Any, Optional

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from raybench.events._atomic import atomic_write_text
from raybench.suite._converge import Convergence
from raybench.suite._spec import Suite, Variant

SUITE_SCHEMA = 1
DONE = ("completed", "budget")  # statuses of a finished run whose numbers count
# Numeric columns of a run row that are summarised per value (median, min, max).
STATS = ("jct_s", "energy_j", "avg_trial_power_w", "waste_j", "waste_fraction", "cost", "co2e_g", "best_val",
         "test_accuracy", "failed", "mem_failed", "peak_rss_mb")


def run_row(v: Variant, summary: Optional[Mapping[str, Any]], *, run_dir: Optional[str], status: str,
            note: str = "") -> dict[str, Any]:
    """One run's line of the suite table; summary None for a run that never happened (skipped, error).
    run_dir is read for trials.csv; the row keeps its name, relative to the suite directory."""
    row: dict[str, Any] = {"index": v.index, "label": v.label, "value": v.value, "seed": v.seed,
                           "run_dir": os.path.basename(run_dir) if run_dir else None, "status": status, "note": note}
    s = summary or {}
    e = s.get("energy") or {}
    waste = e.get("waste") or {}
    best = s.get("best") or {}
    trials = s.get("trials") or {}
    row.update({
        "jct_s": s.get("jct_s"),
        "energy_j": e.get("total_j"),
        "provenance": (e.get("provenance") or {}).get("energy"),
        "avg_trial_power_w": e.get("avg_trial_power_w"),
        "waste_j": waste.get("energy_j"),
        "waste_fraction": waste.get("energy_fraction"),
        "cost": (e.get("cost") or {}).get("total"),
        "currency": (e.get("cost") or {}).get("currency"),
        "co2e_g": (e.get("carbon") or {}).get("co2e_g"),
        "best_val": best.get("val_metric"),
        "test_accuracy": best.get("test_accuracy"),
        "trials": trials.get("total"),
        "completed": trials.get("completed"),
        "pruned": trials.get("pruned"),
        "failed": trials.get("failed"),
    })
    row.update(_memory_columns(run_dir) if summary is not None and run_dir else {"mem_failed": None, "peak_rss_mb": None})
    return row


def _memory_columns(run_dir: str) -> dict[str, Any]:
    """Trials failed by the memory limit, and the largest peak RSS of any trial (trials.csv)."""
    path = os.path.join(run_dir, "trials.csv")
    try:
        with open(path, encoding="utf-8", newline="") as f:
            rows = list(csv.DictReader(f))
    except OSError:
        return {"mem_failed": None, "peak_rss_mb": None}
    peaks = [float(r["peak_rss_mb"]) for r in rows if r.get("peak_rss_mb") not in (None, "")]
    return {"mem_failed": sum(r.get("cause") == "memory_limit" for r in rows),
            "peak_rss_mb": max(peaks) if peaks else None}


def _num(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def aggregate(suite: Suite, rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Per factor value: the statuses of its runs and, over its finished runs, median, min and max."""
    out = []
    for i, label in enumerate(suite.labels, start=1):
        mine = [r for r in rows if r["index"] == i]
        done = [r for r in mine if r["status"] in DONE]
        stats: dict[str, Any] = {}
        for key in STATS:
            xs = [r[key] for r in done if _num(r.get(key))]
            stats[key] = ({"median": statistics.median(xs), "min": min(xs), "max": max(xs), "n": len(xs)}
                          if xs else None)
        statuses = sorted({r["status"] for r in mine})
        notes = sorted({r["note"] for r in mine if r.get("note")})
        out.append({"index": i, "label": label, "value": suite.values[i - 1], "runs": len(mine),
                    "finished": len(done), "status": "/".join(statuses) or "not run", "note": "; ".join(notes),
                    "provenance": "/".join(sorted({r["provenance"] for r in done if r.get("provenance")})) or None,
                    "currency": next((r["currency"] for r in done if r.get("currency")), None), **stats})
    return out


def median_of(agg: Mapping[str, Any], key: str) -> Optional[float]:
    s = agg.get(key)
    return s["median"] if s else None


def suite_document(suite: Suite, rows: Sequence[Mapping[str, Any]], conv: Optional[Convergence], *,
                   status: str, not_run: Sequence[str]) -> dict[str, Any]:
    by_value = aggregate(suite, rows)
    converge = None
    if suite.converge is not None:
        c = suite.converge
        converge = {"metric": c.metric, "threshold": c.threshold, "k": c.k,
                    "converged": bool(conv and conv.converged),
                    "at": suite.labels[conv.at] if conv and conv.at is not None else None,
                    "reason": conv.reason if conv else "nothing measured yet",
                    "gains": {suite.labels[i]: g for i, g in enumerate(conv.gains)} if conv else {}}
    return {"schema": SUITE_SCHEMA, "name": suite.name, "question": suite.question, "file": suite.path,
            "variant": "quick" if suite.quick else "full", "status": status, "factor": suite.factor_name,
            "values": list(suite.labels), "seeds": list(suite.seeds), "converge": converge,
            "not_run": list(not_run), "runs": [dict(r) for r in rows], "by_value": by_value}


def write_suite_files(out: str, doc: Mapping[str, Any]) -> None:
    atomic_write_text(os.path.join(out, "suite.json"), json.dumps(doc, indent=2, allow_nan=False, default=str) + "\n")
    atomic_write_text(os.path.join(out, "suite.md"), markdown(doc))


# ---- views -----------------------------------------------------------------------------------

def _fmt(x: Any, fmt: str) -> str:
    if not _num(x):
        return "-"
    return format(x, fmt)


def _spread(stat: Optional[Mapping[str, Any]], fmt: str) -> str:
    """median, with [min–max] when the runs differ at this precision."""
    if not stat:
        return "-"
    text = _fmt(stat["median"], fmt)
    lo, hi = _fmt(stat["min"], fmt), _fmt(stat["max"], fmt)
    if stat["n"] > 1 and lo != hi:
        text += f" [{lo}–{hi}]"
    return text


# (header, key, format) of the per-value and per-run tables of suite.md.
VALUE_COLUMNS = (
    ("JCT s", "jct_s", ".1f"),
    ("energy J", "energy_j", ".4g"),
    ("trial W", "avg_trial_power_w", ".3g"),
    ("waste J", "waste_j", ".4g"),
    ("waste", "waste_fraction", ".1%"),
    ("cost", "cost", ".3g"),
    ("best val", "best_val", ".4f"),
    ("test acc", "test_accuracy", ".4f"),
    ("failed", "failed", "g"),
    ("mem-limit failed", "mem_failed", "g"),
    ("peak RSS MB", "peak_rss_mb", ".0f"),
)


def _md_cell(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def markdown(doc: Mapping[str, Any]) -> str:
    lines = [f"# Suite {doc['name']} ({doc['variant']})", ""]
    if doc.get("question"):
        lines += [doc["question"], ""]
    prov = "/".join(sorted({v["provenance"] for v in doc["by_value"] if v.get("provenance")})) or "none"
    cur = next((v["currency"] for v in doc["by_value"] if v.get("currency")), "")
    lines += [f"- factor: `{doc['factor']}`; seeds: {', '.join(map(str, doc['seeds']))}; status: {doc['status']}",
              f"- energy provenance: {prov}; cost in {cur or '-'}"]
    c = doc.get("converge")
    if c:
        lines.append(f"- stopping rule: {c['metric']} gain < {c['threshold']:.0%} for {c['k']} step(s): "
                     + (f"converged at {c['at']}" if c["converged"] else c["reason"]))
    if doc.get("not_run"):
        lines.append(f"- not run (after convergence): {', '.join(map(str, doc['not_run']))}")
    lines += ["", "Median over seeds, [min–max] where the seeds differ.", ""]
    head = ["value", "runs", *(h for h, _, _ in VALUE_COLUMNS), "status"]
    lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for v in doc["by_value"]:
        cells = [v["label"], f"{v['finished']}/{v['runs']}", *(_spread(v.get(k), f) for _, k, f in VALUE_COLUMNS),
                 v["status"] + (f": {v['note']}" if v.get("note") else "")]
        lines.append("| " + " | ".join(_md_cell(c) for c in cells) + " |")
    lines += ["", "## Runs", ""]
    head = ["value", "seed", "run dir", "status", *(h for h, _, _ in VALUE_COLUMNS), "provenance"]
    lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in doc["runs"]:
        cells = [r["label"], r["seed"], r.get("run_dir") or "-", r["status"] + (f": {r['note']}" if r.get("note") else ""),
                 *(_fmt(r.get(k), f) for _, k, f in VALUE_COLUMNS), r.get("provenance") or "-"]
        lines.append("| " + " | ".join(_md_cell(c) for c in cells) + " |")
    return "\n".join(lines) + "\n"


# The terminal's table: one column per value, one row per measure (fits a narrow terminal; values that do
# not fit continue below). Medians only; the spreads are in suite.md.
TERMINAL_ROWS = (
    ("JCT s", "jct_s", ".3g"),
    ("energy J", "energy_j", ".4g"),
    ("trial W", "avg_trial_power_w", ".3g"),
    ("waste J", "waste_j", ".4g"),
    ("waste", "waste_fraction", ".1%"),
    ("cost", "cost", ".3g"),
    ("best val", "best_val", ".4f"),
    ("test acc", "test_accuracy", ".4f"),
    ("failed trials", "failed", "g"),
)


def print_table(doc: Mapping[str, Any], *, console: Console) -> None:
    """Per value: the median over its finished runs (min–max over seeds is in suite.md and suite.json)."""
    prov = "/".join(sorted({v["provenance"] for v in doc["by_value"] if v.get("provenance")})) or "none"
    cur = next((v["currency"] for v in doc["by_value"] if v.get("currency")), "")
    rows = list(TERMINAL_ROWS)
    if "memory_mb" in doc["factor"] or any((v.get("mem_failed") or {}).get("max") for v in doc["by_value"]):
        rows += [("memory-limit failed", "mem_failed", "g"), ("peak RSS MB", "peak_rss_mb", ".0f")]
    values = list(doc["by_value"])
    per_table = max(1, (console.width - 22) // 13)
    for start in range(0, len(values), per_table):
        part = values[start:start + per_table]
        title = f"suite {doc['name']} ({doc['variant']}): {doc['factor']}; energy {prov}, cost {cur or '-'}"
        t = Table(title=title, title_justify="left", min_width=min(len(title), console.width))
        t.add_column(doc["factor"], style="bold", no_wrap=True)
        for v in part:
            t.add_column(escape(str(v["label"])), justify="right", overflow="fold")
        for head, key, fmt in rows:
            t.add_row(head, *(_fmt(median_of(v, key), fmt) for v in part))
        t.add_row("runs", *(f"{v['finished']}/{v['runs']} {v['status']}" for v in part))
        if any(v.get("note") for v in part):
            t.add_row("note", *(escape(v.get("note") or "") for v in part))
        console.print(t)
    if len(doc["seeds"]) > 1:
        console.print(f"medians over {len(doc['seeds'])} seeds; min–max per value in suite.md")
    c = doc.get("converge")
    if c:
        console.print(f"stopping rule ({c['metric']} gain < {c['threshold']:.0%} for {c['k']} step(s)): "
                      + escape(f"converged at {c['at']}" if c["converged"] else c["reason"]))
    if doc.get("not_run"):
        console.print(escape(f"not run after convergence: {', '.join(map(str, doc['not_run']))}"))
