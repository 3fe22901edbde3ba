"""Run directories for the report tests, built from raybench.events.sample without Ray.

rich_run: the sample run with an energy_sample per node every second (cpu and dram on both nodes, a GPU
    on n-w1), an ASHA-style stop with a rung for trial 4, and hostile config text (markup, "$") in trial 1.
bare_run: the sample run with its energy samples removed, as a machine without energy counters logs it.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from raybench.events import EventLog
from raybench.events.sample import T0, sample_events

HOSTILE = '<script>alert("x")</script> & $cost'
HOSTILE_NOTE = "</td><img src=http://example.invalid/x.png>"
_IDLE_W = {"cpu": 12.5, "dram": 1.5}  # the sample's node_baseline
_PROV = {
    "n-head": {"cpu": "powercap", "dram": "powercap", "gpu": "none"},
    "n-w1": {"cpu": "estimate", "dram": "estimate", "gpu": "nvml"},
}


def _running(events: list[dict[str, Any]]) -> dict[str, list[tuple[int, float, float]]]:
    """(trial, t0, t1) per node for every attempt; an open one runs to the last event."""
    end_t = max(e["t"] for e in events)
    open_: dict[int, tuple[str, float]] = {}
    out: dict[str, list[tuple[int, float, float]]] = {"n-head": [], "n-w1": []}
    for e in events:
        if e["event"] == "trial_started":
            open_[e["trial_id"]] = (e["node_id"], e["t"])
        elif e["event"] in ("trial_completed", "trial_failed") and e["trial_id"] in open_:
            node, t0 = open_.pop(e["trial_id"])
            out[node].append((e["trial_id"], t0, e["t"]))
    for tid, (node, t0) in open_.items():
        out[node].append((tid, t0, end_t))
    return out


def _samples(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    spans = _running(events)
    out = []
    for node, node_spans in spans.items():
        for k in range(2, 33):
            a, b = T0 + k, T0 + k + 1
            cpu_s = {tid: round(0.9 * (min(b, t1) - max(a, t0)), 6) for tid, t0, t1 in node_spans
                     if min(b, t1) > max(a, t0)}
            busy = sum(cpu_s.values())
            gpu = node == "n-w1"
            out.append({
                "event": "energy_sample", "t": b, "node_id": node, "t0": a, "t1": b,
                "energy_j": {"cpu": _IDLE_W["cpu"] + 9.0 * busy, "dram": _IDLE_W["dram"] + 0.5 * busy,
                             "gpu": 30.0 + 50.0 * busy if gpu else None},
                "provenance": _PROV[node], "node_cpu_s": 0.2 + busy, "trial_cpu_s": cpu_s,
                "trial_gpu_j": {t: 50.0 * s for t, s in cpu_s.items()} if gpu else {},
                "reserved": {t: {"cpus": 2, "memory_mb": 2048, "gpus": 1 if gpu else 0} for t in cpu_s},
                "node_resources": {"cpus": 4, "memory_mb": 8192, "gpus": 1 if gpu else 0},
            })
    return out


def rich_events() -> list[dict[str, Any]]:
    events = [copy.deepcopy(e) for e in sample_events(ended=True) if e["event"] != "energy_sample"]
    for e in events:
        if e["event"] == "trial_created" and e["trial_id"] == 1:
            e["config"] = {**e["config"], "optimizer": HOSTILE}
        if e["event"] == "trial_created" and e["trial_id"] == 4:
            e["config"] = {**e["config"], "note": HOSTILE_NOTE}
        if e["event"] == "decision" and e["trial_id"] == 4:
            e["action"] = "stop"
            e["reason"] = {**e["reason"], "rule": "asha", "rung": 0, "n_peers": 3, "cutoff": 0.8,
                           "detail": "below the rung-0 cutoff of 3 peers"}
    stop4 = next(e for e in events if e["event"] == "decision" and e["trial_id"] == 4)
    events.insert(events.index(stop4) + 1, {
        "event": "trial_completed", "t": stop4["t"] + 0.05, "trial_id": 4, "status": "pruned", "steps": 1,
        "final_metric": 0.75, "best_metric": 0.75, "duration_s": 5.9, "peak_rss_mb": 300.0})
    return sorted(events + _samples(events), key=lambda e: e["t"])


def bare_events() -> list[dict[str, Any]]:
    return [e for e in sample_events(ended=True) if e["event"] != "energy_sample"]


def write_run(run_dir: Path, events: list[dict[str, Any]]) -> Path:
    run_dir.mkdir(parents=True, exist_ok=True)
    log = EventLog.open(run_dir / "events.msgpack")
    try:
        for e in events:
            log.append(e, sync=False)
    finally:
        log.close()
    return run_dir


@pytest.fixture
def make_run(tmp_path: Path) -> Callable[[str, list[dict[str, Any]]], Path]:
    """make_run(name, events): a run directory under tmp_path holding just these events."""
    return lambda name, events: write_run(tmp_path / name, events)


@pytest.fixture
def rich_run(tmp_path: Path) -> Path:
    return write_run(tmp_path / "rich", rich_events())


@pytest.fixture
def bare_run(tmp_path: Path) -> Path:
    return write_run(tmp_path / "bare", bare_events())


@pytest.fixture
def sample_run(tmp_path: Path) -> Path:
    """The shipped sample run, unchanged (one energy sample)."""
    return write_run(tmp_path / "sample", sample_events(ended=True))


@pytest.fixture
def hostile_text() -> tuple[str, str]:
    """The config strings rich_run carries in trials 1 and 4, which must stay text in the report."""
    return HOSTILE, HOSTILE_NOTE
