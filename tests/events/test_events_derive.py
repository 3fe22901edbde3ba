"""trials.csv and summary.json derived from a hand-built run."""

from __future__ import annotations

import csv
import json
import os

import pytest

from raybench.errors import EventLogError, RunDirError
from raybench.events import EventLog, derive_summary, derive_trials, make_event, write_run_outputs
from raybench.events.derive import write_trials_csv
from raybench.events.sample import T0, sample_events


def _resumed() -> list[dict]:
    """The sample run, crashed after 32 s, resumed at 100 s; trials 4 and 5 finish, and it completes."""
    events = sample_events()
    start = dict(events[0], t=T0 + 100.0, resumed=True, effective_concurrency=3)

    def ev(kind: str, dt: float, /, **f) -> dict:
        return make_event(kind, t=T0 + dt, **f)

    res = {"cpus": 2, "memory_mb": 2048, "gpus": 0, "tpus": 0}
    return events + [
        start,
        ev("trial_started", 101.0, trial_id=4, attempt=2, node_id="n-w1", worker="w0", pid=9, resources=res,
           from_step=1),
        ev("trial_started", 101.5, trial_id=5, attempt=1, node_id="n-head", worker="w1", pid=10, resources=res,
           from_step=0),
        ev("report", 110.0, trial_id=4, step=2, metrics={"val_accuracy": 0.95}, elapsed_s=9.0, energy_j=None,
           progress=2.0),
        ev("trial_completed", 111.0, trial_id=4, status="completed", steps=2, final_metric=0.95, best_metric=0.95,
           duration_s=16.0, peak_rss_mb=300.0),
        ev("trial_completed", 120.0, trial_id=5, status="completed", steps=3, final_metric=0.5, best_metric=0.6,
           duration_s=18.5, peak_rss_mb=290.0),
        ev("experiment_end", 150.0, status="completed", reason="all trials done"),
    ]


def test_trial_rows():
    rows = {r.trial_id: r for r in derive_trials(sample_events())}
    assert [rows[i].status for i in range(6)] == ["completed", "pruned", "completed", "failed", "running", "pending"]
    r0 = rows[0]
    assert (r0.attempts, r0.steps, r0.final_metric, r0.best_metric) == (1, 3, 0.85, 0.86)
    assert (r0.started_t, r0.ended_t, r0.duration_s) == (T0 + 4.0, T0 + 22.1, 18.1)
    assert r0.node_id == "n-head" and r0.peak_rss_mb == 402.5
    assert r0.test_metrics == {"test_accuracy": 0.84, "test_loss": 0.41}
    assert r0.config == {"lr": 0.01, "optimizer": "adam"}
    assert rows[1].stop_rule == "median" and rows[1].stop_detail == "below the median of 1 peer"
    r2 = rows[2]  # failed once, retried from its checkpoint, completed: the old error is gone
    assert (r2.attempts, r2.steps, r2.best_metric, r2.error, r2.cause) == (2, 3, 0.9, None, None)
    r3 = rows[3]
    assert (r3.attempts, r3.cause, r3.ended_t) == (2, "oom", T0 + 26.0)
    assert r3.error == "worker exceeded its memory limit of 2048 MB"
    assert r3.duration_s == pytest.approx(26.0 - 23.1)
    r4 = rows[4]  # still running: metrics so far, no end
    assert (r4.steps, r4.final_metric, r4.best_metric, r4.ended_t, r4.duration_s) == (1, 0.75, 0.75, None, None)
    assert rows[5].attempts == 0 and rows[5].started_t is None


def test_failed_then_waiting_for_retry_is_pending():
    events = sample_events()
    cut = next(i for i, e in enumerate(events) if e["event"] == "trial_failed") + 1
    row = {r.trial_id: r for r in derive_trials(events[:cut])}[2]
    assert (row.status, row.cause, row.ended_t) == ("pending", "actor_died", None)


def test_summary_of_an_unfinished_run():
    s = derive_summary(sample_events())
    assert s["status"] == "unfinished" and s["end_reason"] is None
    assert s["wall_s"] == pytest.approx(32.01)
    rows = derive_trials(sample_events())  # JCT: the first trial's start to the last trial's end
    first = min(r.started_t for r in rows if r.started_t is not None)
    last = max(r.ended_t for r in rows if r.ended_t is not None)
    assert s["jct_s"] == pytest.approx(last - first) and s["jct_s"] < s["wall_s"]
    assert s["trials"] == {"total": 6, "completed": 2, "pruned": 1, "failed": 1, "running": 1, "paused": 0,
                           "pending": 1, "failed_attempts": 3, "retried": 2}
    assert s["concurrency"] == {"requested": 4, "effective": 2}
    assert s["metric"] == {"name": "val_accuracy", "mode": "max"}
    best = s["best"]
    assert (best["trial_id"], best["val_metric"], best["test_accuracy"]) == (2, 0.9, 0.89)
    assert best["config"] == {"lr": 0.003, "optimizer": "adam"} and "pruned" in best["basis"]
    assert [(p["trial_id"], p["best"]) for p in s["anytime"]] == [(1, 0.3), (0, 0.86), (3, 0.86), (2, 0.9)]
    assert s["anytime"][0]["t_s"] == pytest.approx(10.6)
    assert s["decisions"] == {"continue": 7, "stop": 1, "stop_by_rule": {"median": 1}}
    assert s["warnings"] == {"trial_retry": 1} and s["nodes"] == 2 and s["budget"] is None
    assert "damage" not in s
    json.dumps(s, allow_nan=False)


def test_summary_of_an_ended_run():
    s = derive_summary(sample_events(ended=True))
    assert (s["status"], s["end_reason"]) == ("budget", "time budget of 33 s used up")
    assert s["wall_s"] == pytest.approx(33.5)
    assert s["budget"] == {"kind": "time_s", "limit": 33.0, "value": 33.0}


def test_summary_of_a_resumed_run():
    s = derive_summary(_resumed())
    assert s["status"] == "completed" and s["resumes"] == 1
    assert s["wall_s"] == pytest.approx(150.0)
    assert s["active_s"] == pytest.approx(32.01 + 50.0)
    assert s["concurrency"]["effective"] == 3
    assert s["trials"]["completed"] == 4 and s["trials"]["running"] == 0
    assert s["best"]["trial_id"] == 4 and s["best"]["val_metric"] == 0.95


def test_min_mode_picks_the_lowest():
    events = sample_events()
    events[0] = dict(events[0], config={**events[0]["config"], "metric": {"name": "val_loss", "mode": "min"}})
    # the sample's trial_completed values are accuracies; without them the reports' val_loss decides
    events = [dict(e, final_metric=None, best_metric=None) if e["event"] == "trial_completed" else e for e in events]
    s = derive_summary(events)
    assert s["best"]["trial_id"] == 2 and s["best"]["val_metric"] == pytest.approx(0.1)


def test_extra_sections_merge_and_clashes_raise():
    s = derive_summary(sample_events(), extra=[lambda ev: {"energy": {"total_j": len(ev)}}, {"cost": 1}])
    assert s["energy"] == {"total_j": len(sample_events())} and s["cost"] == 1
    with pytest.raises(ValueError, match="repeats key"):
        derive_summary(sample_events(), extra=[{"trials": {}}])


def test_empty_log_summary():
    s = derive_summary([])
    assert s["status"] == "unfinished" and s["trials"]["total"] == 0 and s["best"] is None and s["jct_s"] == 0.0


def _run_dir(tmp_path, events) -> os.PathLike:
    with EventLog.open(tmp_path / "events.msgpack") as log:
        for e in events:
            log.append(e, sync=False)
    return tmp_path


def test_write_run_outputs(tmp_path):
    run = _run_dir(tmp_path, sample_events(ended=True))
    with open(run / "events.msgpack", "ab") as fp:
        fp.write(b"\x89RB\x01\x10\x00")  # a torn tail
    summary = write_run_outputs(run)
    assert json.loads((run / "summary.json").read_text()) == summary
    assert summary["damage"] == [{"offset": summary["damage"][0]["offset"], "skipped_bytes": 6, "kind": "torn_tail"}]
    with open(run / "trials.csv", newline="") as fp:
        rows = list(csv.DictReader(fp))
    assert [r["trial_id"] for r in rows] == ["0", "1", "2", "3", "4", "5"]
    header = list(rows[0])
    assert header[:3] == ["trial_id", "status", "attempts"]
    assert {"test_accuracy", "test_loss", "stop_detail", "error", "cause", "param.lr", "param.optimizer"} <= set(header)
    assert rows[0]["test_accuracy"] == "0.84" and rows[0]["param.lr"] == "0.01"
    assert rows[3]["cause"] == "oom" and rows[4]["status"] == "running" and rows[4]["ended_t"] == ""
    assert sorted(p.name for p in run.iterdir()) == ["events.msgpack", "summary.json", "trials.csv"]


def test_outputs_are_replaced_atomically(tmp_path, monkeypatch):
    run = _run_dir(tmp_path, sample_events())
    (run / "summary.json").write_text("old")

    def broken(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", broken)
    with pytest.raises(RunDirError, match="No space left"):
        write_run_outputs(run)
    assert (run / "summary.json").read_text() == "old"
    assert sorted(p.name for p in run.iterdir()) == ["events.msgpack", "summary.json"]  # no temp files left


def test_write_trials_csv_nested_params(tmp_path):
    events = [make_event("trial_created", t=1, trial_id=7, config={"layers": [64, 32], "opt": {"name": "adam"}})]
    write_trials_csv(derive_trials(events), tmp_path / "t.csv")
    with open(tmp_path / "t.csv", newline="") as fp:
        (row,) = csv.DictReader(fp)
    assert json.loads(row["param.layers"]) == [64, 32] and json.loads(row["param.opt"]) == {"name": "adam"}
    assert row["status"] == "pending"


def test_bad_run_dirs(tmp_path):
    with pytest.raises(RunDirError, match="does not exist"):
        write_run_outputs(tmp_path / "missing")
    with pytest.raises(RunDirError, match="no events.msgpack"):
        write_run_outputs(tmp_path)
    (tmp_path / "events.msgpack").write_text("definitely not msgpack")
    with pytest.raises(EventLogError, match="not a raybench event log"):
        write_run_outputs(tmp_path)


def _outputs(run) -> tuple[str, str]:
    return (run / "summary.json").read_text(), (run / "trials.csv").read_text()


@pytest.mark.parametrize("case", ["unfinished", "ended", "resumed", "events_before_start", "no_start", "damaged"])
def test_streamed_outputs_equal_those_of_the_whole_event_list(tmp_path, case):
    """write_run_outputs keeps no per-trial or per-report event (memory follows the trials, not the reports);
    what it writes is byte for byte what deriving from the whole event list writes."""
    from raybench.events._summary import PER_TRIAL_KINDS
    from raybench.events.derive import _derive_run

    events = {"unfinished": sample_events(), "ended": sample_events(ended=True), "resumed": _resumed()}.get(case)
    if case == "events_before_start":  # a log whose first record is not its experiment_start
        events = sample_events(ended=True)
        events = [events[3], events[0], *events[1:3], *events[4:]]
    if case == "no_start":
        events = sample_events(ended=True)[1:]
    run = _run_dir(tmp_path, events or sample_events(ended=True))
    if case == "damaged":
        with open(run / "events.msgpack", "r+b") as fp:
            fp.seek(os.path.getsize(run / "events.msgpack") // 2)
            fp.write(b"\x00" * 40)  # a record in the middle made unreadable
    whole = _derive_run(run, (), keep_per_trial=True)
    expected = _outputs(run)
    assert json.loads(expected[0]) == whole.summary and expected[0] == whole.summary_text
    assert (whole.summary["energy"] is None) == (case == "no_start") and bool(whole.damage) == (case == "damaged")
    (run / "summary.json").unlink()
    streamed = _derive_run(run, (), keep_per_trial=False)
    assert _outputs(run) == expected
    assert not any(e["event"] in PER_TRIAL_KINDS for e in streamed.events)
    assert len(whole.events) > len(streamed.events) and streamed.summary == whole.summary
    kinds = {e["event"] for e in whole.events}
    assert {k: list(v) for k, v in whole.by_kind.items()} == {
        k: [e for e in whole.events if e["event"] == k] for k in kinds}  # the index the report's plots reuse
    assert write_run_outputs(run) == whole.summary and _outputs(run) == expected
    assert derive_summary(whole.events, damage=whole.damage, extra=[
        {k: whole.summary[k] for k in ("energy", "cheapest_near_best")}]) == whole.summary
