"""JSON Lines and CSV export."""

from __future__ import annotations

import csv
import io
import json

import pytest

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


# ---- CodeCarbon's emissions.csv --------------------------------------------------------------------------

T = 1_700_000_000.0
RES = {"cpus": 1, "memory_mb": 1024, "gpus": 0, "tpus": 0}


def _run() -> list[dict]:
    """One trial, one 10-s interval on a 4-CPU node: 100 J cpu, 20 J dram; baseline 4 W cpu, 1 W dram."""
    def ev(kind, dt, **f):
        return make_event(kind, t=T + dt, **f)

    prov = {"cpu": "measured", "dram": "measured", "gpu": "none"}
    cfg = {"metric": {"name": "val_accuracy", "mode": "max"}, "carbon": {"g_per_kwh": 400.0, "pue": 1.5}}
    return [
        ev("experiment_start", 0, run_id="r1", name="exp", config=cfg, env={"python": "3.11.9", "platform": "Linux"},
           requested_concurrency=1, effective_concurrency=1, resumed=False),
        ev("node_baseline", 1, node_id="n", duration_s=1.0, power_w={"cpu": 4.0, "dram": 1.0, "gpu": 0.0}, provenance=prov),
        ev("trial_created", 2, trial_id=1, config={"a": 1}),
        ev("trial_started", 2, trial_id=1, attempt=1, node_id="n", worker=0, pid=1, resources=RES, from_step=0),
        ev("trial_completed", 12, trial_id=1, status="completed", steps=1, final_metric=0.5, best_metric=0.5,
           duration_s=10.0, peak_rss_mb=1.0),
        ev("energy_sample", 12.5, node_id="n", t0=T + 2, t1=T + 12, energy_j={"cpu": 100.0, "dram": 20.0, "gpu": 0.0},
           provenance=prov, node_cpu_s=10.0, trial_cpu_s={1: 2.0}, trial_gpu_j={}, reserved={1: RES},
           node_resources={"cpus": 4, "memory_mb": 4096, "gpus": 0}),
        ev("experiment_end", 14, status="completed", reason="done"),
    ]


def test_codecarbon_rows_by_hand():
    from raybench.events.export import CODECARBON_COLUMNS, export_codecarbon

    buf = io.StringIO()
    export_codecarbon(_run(), buf)
    rows = list(csv.DictReader(io.StringIO(buf.getvalue())))
    assert tuple(rows[0]) == CODECARBON_COLUMNS and len(rows) == 1
    r = rows[0]
    # cpu: 10 J idle share (40 J x 1/4) + 12 J (60 J x 2/10); dram: 2.5 J + 2 J
    assert float(r["cpu_energy"]) * 3.6e6 == pytest.approx(22.0)
    assert float(r["ram_energy"]) * 3.6e6 == pytest.approx(4.5)
    assert float(r["energy_consumed"]) == pytest.approx(26.5 / 3.6e6)
    assert float(r["emissions"]) == pytest.approx(26.5 / 3.6e6 * 1.5 * 400 / 1000)  # kg CO2e
    assert float(r["cpu_power"]) == pytest.approx(2.2) and float(r["duration"]) == 10.0
    assert r["run_id"] == "r1-trial-1" and r["project_name"] == "exp" and r["timestamp"].startswith("2023-11-14T22:13:32")


def test_cli_exports_codecarbon(tmp_path, capsys):
    from raybench.cli._main import main
    from raybench.events import EventLog

    log = EventLog.open(tmp_path / "events.msgpack")
    for e in _run():
        log.append(e)
    log.close()
    assert main(["export", str(tmp_path), "--format", "codecarbon"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("timestamp,project_name,run_id") and len(lines) == 2
