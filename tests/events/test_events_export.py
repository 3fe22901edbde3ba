"""JSON Lines and CSV export."""

from __future__ import annotations

import csv
import io
import json

from raybench.events import export_csv, export_jsonl, make_event
from raybench.events.sample import sample_events

EVENTS = sample_events(ended=True)


def _jsonl(events) -> list[dict]:
    buf = io.StringIO()
    n = export_jsonl(events, buf)
    lines = buf.getvalue().splitlines()
    assert n == len(lines) == len(events)
    return [json.loads(line) for line in lines]


def test_jsonl_fields():
    out = _jsonl(EVENTS)
    for src, obj in zip(EVENTS, out):
        assert obj["event"] == src["event"] and obj["t"] == src["t"]
        assert list(obj)[:2] == ["event", "t"]
        if "trial_id" in src:
            assert list(obj)[2] == "trial_id" and obj["trial_id"] == src["trial_id"]
        else:
            assert "trial_id" not in obj
    report = next(o for o in out if o["event"] == "report")
    assert isinstance(report["step"], int) and report["metrics"]["val_accuracy"] == 0.8
    decision = next(o for o in out if o["event"] == "decision" and o["action"] == "stop")
    assert decision["reason"]["rule"] == "median" and decision["reason"]["n_peers"] == 1
    sample = next(o for o in out if o["event"] == "energy_sample")
    assert sample["trial_cpu_s"] == {"0": 0.9}  # int trial-id keys become strings
    assert sample["reserved"]["0"]["cpus"] == 2


def test_jsonl_non_finite_floats_become_null():
    e = make_event("report", t=1, trial_id=3, step=1, metrics={"val_loss": float("nan"), "x": float("inf")},
                   elapsed_s=1.0, energy_j=None, progress=1.0)
    (obj,) = _jsonl([e])
    assert obj["metrics"] == {"val_loss": None, "x": None}


def test_csv_columns_and_rows():
    buf = io.StringIO()
    cols = export_csv(EVENTS, buf)
    rows = list(csv.DictReader(io.StringIO(buf.getvalue())))
    assert len(rows) == len(EVENTS)
    assert cols[:5] == ["event", "t", "trial_id", "node_id", "step"]
    assert cols[5:] == sorted(cols[5:])
    for name in ("metrics.val_accuracy", "reason.rule", "reason.cutoff", "config.lr", "env.python",
                 "energy_j.cpu", "trial_cpu_s", "resources.cpus", "config.metric.name"):
        assert name in cols, name
    report = next(r for r in rows if r["event"] == "report")
    assert report["metrics.val_accuracy"] == "0.8" and report["energy_j"] == "84.0"
    sample = next(r for r in rows if r["event"] == "energy_sample")
    assert json.loads(sample["trial_cpu_s"]) == {"0": 0.9}  # trial-keyed maps stay one JSON cell
    assert json.loads(sample["trial_gpu_j"]) == {}
    start = next(r for r in rows if r["event"] == "experiment_start")
    assert start["resumed"] == "false" and start["env.git"] == ""


def test_csv_column_order_is_stable():
    a, b = io.StringIO(), io.StringIO()
    assert export_csv(EVENTS, a) == export_csv(list(reversed(EVENTS)), b)
    fixed = io.StringIO()
    assert export_csv(EVENTS, fixed, columns=["t", "event"]) == ["t", "event"]
    assert fixed.getvalue().splitlines()[1] == f"{EVENTS[0]['t']},experiment_start"
