"""The dashboard's per-run aggregates: they agree with the log's own derivation (trial statuses, counts,
energy), best-so-far only improves and ends at the best trial, deltas carry only changed trials, and
memory does not grow with the number of events."""

from __future__ import annotations

import gc
import math
import tracemalloc

import pytest
from synth import synthetic_events

from raybench.dashboard import Downsampled, RunState
from raybench.events import derive_trials, make_event
from raybench.events._energy import trial_energy
from raybench.events.sample import T0, sample_events


def _fold(events) -> RunState:
    state = RunState()
    for e in events:
        state.apply(e)
    return state


@pytest.mark.parametrize("events", [sample_events(ended=True), synthetic_events(40, seed=5)], ids=["sample", "synthetic"])
def test_trial_statuses_and_counts_match_the_derived_trial_table(events) -> None:
    state = _fold(events)
    rows = {r.trial_id: r for r in derive_trials(events)}
    snap = state.snapshot()
    assert {t["id"]: t["status"] for t in snap["trials"]} == {tid: r.status for tid, r in rows.items()}
    counts = snap["summary"]["counts"]
    assert counts["total"] == len(rows)
    for status in ("completed", "pruned", "failed", "running", "pending"):
        assert counts[status] == sum(r.status == status for r in rows.values())
    joules = math.fsum(v for e in events if e["event"] == "energy_sample" for v in e["energy_j"].values() if v)
    assert snap["summary"]["energy_j"] == pytest.approx(joules)
    per_trial = trial_energy(events)  # what trials.csv's energy_j holds
    assert per_trial
    for t in snap["trials"]:
        if t["id"] in per_trial:
            assert t["energy_j"] == pytest.approx(per_trial[t["id"]]["energy_j"])


def test_best_so_far_only_improves_and_ends_at_the_best_completed_trial() -> None:
    events = synthetic_events(60, seed=7)
    state = _fold(events)
    points = state.anytime_points()
    bests = [p[2] for p in points]
    assert bests == sorted(bests) and len(points) >= 2
    times = [p[0] for p in points]
    joules = [p[1] for p in points]
    assert times == sorted(times) and joules == sorted(joules)
    done = [e for e in events if e["event"] == "trial_completed" and e["status"] == "completed"]
    best = max(done, key=lambda e: e["final_metric"])
    assert bests[-1] == best["final_metric"] and points[-1][3] == best["trial_id"]
    assert state.summary()["best"]["trial_id"] == best["trial_id"]


def test_a_stop_keeps_its_reason_and_step() -> None:
    state = _fold(sample_events(ended=True))
    row = next(t for t in state.snapshot()["trials"] if t["id"] == 1)
    assert row["status"] == "pruned"
    assert row["stop"]["rule"] == "median" and row["stop"]["step"] == 1 and row["stop"]["cutoff"] == 0.5
    assert row["stop"]["detail"] == "below the median of 1 peer" and row["stop"]["t_s"] == pytest.approx(10.51)


def test_a_snapshot_since_a_version_holds_only_the_trials_changed_after_it() -> None:
    events = synthetic_events(10, seed=1, ended=False)
    state = _fold(events)
    v = state.version
    assert state.snapshot(v)["trials"] == []
    state.apply(make_event("trial_created", t=events[-1]["t"] + 1, trial_id=10, config={"lr": 0.01}))
    later = state.snapshot(v)
    assert [t["id"] for t in later["trials"]] == [10] and later["version"] == v + 1
    assert len(state.snapshot(0)["trials"]) == 11


def _traced_bytes(fn) -> int:
    gc.collect()
    tracemalloc.start()
    try:
        fn()
        gc.collect()
        return tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()


def _lifecycle(tid: int, t: float, stop: bool) -> list[dict]:
    """One trial's events in the runtime's shapes (see synth.py), built without make_event's checks."""
    value = 0.5 + (tid % 97) / 200
    reason = {"rule": "asha", "progress": 1.0, "unit": "epoch", "value": value, "cutoff": 0.7, "n_peers": 8,
              "rung": 1.0, "detail": "stopped at rung 1"}
    return [
        {"event": "trial_created", "t": t, "trial_id": tid, "config": {"lr": 1e-3 * (1 + tid % 13), "layer_size": 64}},
        {"event": "trial_started", "t": t, "trial_id": tid, "attempt": 1, "node_id": "n", "worker": tid % 8,
         "pid": 100 + tid, "resources": {"cpus": 1.0, "memory_mb": 1536, "gpus": 0, "tpus": 0}, "from_step": 0},
        {"event": "report", "t": t + 1, "trial_id": tid, "step": 1, "metrics": {"val_accuracy": value, "val_loss": 1 - value},
         "elapsed_s": 1.0, "energy_j": 14.0, "progress": 1.0},
        {"event": "decision", "t": t + 1, "trial_id": tid, "step": 1, "action": "stop" if stop else "continue",
         "reason": reason},
        {"event": "trial_completed", "t": t + 1.1, "trial_id": tid, "status": "pruned" if stop else "completed",
         "steps": 1, "final_metric": value, "best_metric": value, "duration_s": 1.1, "peak_rss_mb": 900.0},
    ]


def test_memory_grows_with_trials_not_with_events() -> None:
    """Following a 10,000-trial run: its last 1,000 trials fold into a few KB each, and 5,000 more
    reports and energy samples (more samples than a power series keeps points) add nothing that grows,
    since the state keeps aggregates, not events."""
    state = _fold(synthetic_events(2, seed=2, ended=False))
    for tid in range(2, 9_000):
        for e in _lifecycle(tid, 2e9 + tid, stop=tid % 3 > 0):
            state.apply(e)
    per_trial = _traced_bytes(lambda: [state.apply(e) for tid in range(9_000, 10_000)
                                       for e in _lifecycle(tid, 2e9 + tid, stop=tid % 3 > 0)]) / 1_000
    assert per_trial < 4_000, f"{per_trial:.0f} bytes per trial"
    t = 2e9 + 10_000
    more = [make_event("report", t=t + i, trial_id=9_999, step=2 + i, metrics={"val_accuracy": 0.5}, elapsed_s=float(i),
                       energy_j=float(i), progress=float(2 + i)) for i in range(4_000)]
    more += [make_event("energy_sample", t=t + i, node_id="n", t0=t + i, t1=t + i + 1.0, energy_j={"cpu": 10.0},
                        provenance={"cpu": "powercap"}, node_cpu_s=1.0, trial_cpu_s={}, trial_gpu_j={}, reserved={},
                        node_resources={}) for i in range(1_000)]
    grown = _traced_bytes(lambda: [state.apply(e) for e in more])
    assert grown < 100_000, f"{grown} bytes more after 5,000 events"
    assert len(state.power["n"].values()) <= state.power["n"].capacity
    assert state.summary()["counts"]["total"] == 10_000


def test_downsampled_keeps_its_capacity_and_the_mean() -> None:
    s = Downsampled(capacity=8)
    for i in range(1000):
        s.add(float(i), float(i % 10))
    pts = s.values()
    assert len(s.points) < 8 and len(pts) <= 8
    assert pts[0][0] < pts[-1][0]
    weights = [s.stride] * len(s.points) + ([1000 - s.stride * len(s.points)] if len(pts) > len(s.points) else [])
    assert math.fsum(w * v for w, (_, v) in zip(weights, pts)) / 1000 == pytest.approx(4.5)
    with pytest.raises(ValueError, match="capacity"):
        Downsampled(capacity=3)


def test_a_resumed_run_is_running_again_and_counts_its_resume() -> None:
    events = sample_events(ended=True)
    state = _fold(events)
    assert state.summary()["status"] == "budget"
    start = dict(events[0], t=events[-1]["t"] + 5, resumed=True)
    state.apply(start)
    s = state.summary()
    assert s["status"] == "running" and s["resumes"] == 1 and s["run_id"] == events[0]["run_id"]


def test_an_event_with_odd_fields_is_counted_and_left_out() -> None:
    state = _fold(sample_events())
    before = state.summary()["counts"]
    state.apply({"event": "report", "t": T0 + 40, "trial_id": 4, "step": 2, "metrics": "not a map"})
    state.apply(make_event("trial_created", t=T0 + 41, trial_id=6, config={"lr": 0.1}))
    assert state.bad_events == 1 and state.summary()["bad_events"] == 1
    assert state.summary()["counts"]["total"] == before["total"] + 1
