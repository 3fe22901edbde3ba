"""The counterfactual audit on hand-made logs: what each stop saved, and whether it was wrong."""

from __future__ import annotations

import json
import math

import pytest

from raybench.report.audit import audit, wilson_interval

EPOCHS = 10


def _start(mode: str = "max") -> dict:
    return {"event": "experiment_start", "t": 0.0, "config": {"task": {"epochs": EPOCHS},
                                                              "metric": {"name": "val_accuracy", "mode": mode}}}


def _trial(tid: int, x: int, values: list[float], s_per_epoch: float, *, status: str, stop_at: int | None = None,
           energy_per_epoch: float | None = None) -> list[dict]:
    out = [{"event": "trial_created", "trial_id": tid, "config": {"x": x}}]
    for step, v in enumerate(values, start=1):
        out.append({"event": "report", "trial_id": tid, "step": step, "metrics": {"val_accuracy": v},
                    "elapsed_s": s_per_epoch * step,
                    "energy_j": None if energy_per_epoch is None else energy_per_epoch * step, "progress": step})
        if step == stop_at:
            out.append({"event": "decision", "trial_id": tid, "step": step, "action": "stop",
                        "reason": {"rule": "median", "progress": step, "unit": "epoch", "value": v, "cutoff": 0.7,
                                   "n_peers": 3, "rung": None, "detail": "stopped"}})
    out.append({"event": "trial_completed", "trial_id": tid, "status": status, "steps": len(values),
                "final_metric": values[-1]})
    return out


def _protected_would_stop(tid: int, step: int) -> dict:
    return {"event": "decision", "trial_id": tid, "step": step, "action": "continue",
            "reason": {"rule": "asha", "progress": step, "unit": "epoch", "value": 0.4, "cutoff": 0.6, "n_peers": 2,
                       "rung": 3.0, "detail": "continued: protected", "guard": "protected", "overridden": "stop"}}


def _sample(cpu_s: dict[int, float], joules: float) -> dict:
    return {"event": "energy_sample", "node_id": "n", "t0": 0.0, "t1": 100.0,
            "energy_j": {"cpu": joules, "dram": None, "gpu": None},
            "provenance": {"cpu": "fake", "dram": "none", "gpu": "none"}, "node_cpu_s": sum(cpu_s.values()),
            "trial_cpu_s": cpu_s, "trial_gpu_j": {},
            "reserved": {t: {"cpus": 1, "memory_mb": 0, "gpus": 0} for t in cpu_s},
            "node_resources": {"cpus": 4, "memory_mb": 1000, "gpus": 0}}


def _rising(final: float, n: int) -> list[float]:
    return [round(final * (1 - 0.5 ** step), 6) for step in range(1, n + 1)]


def _run() -> list[dict]:
    events = [_start()]
    events += _trial(0, 1, _rising(0.9, EPOCHS), 2.0, status="completed")
    events += _trial(1, 2, _rising(0.6, 4), 3.0, status="pruned", stop_at=4)
    protected = _trial(2, 3, _rising(0.95, EPOCHS), 2.0, status="completed")
    protected[4:4] = [_protected_would_stop(2, 3)]
    protected[8:8] = [_protected_would_stop(2, 5)]  # only its first would-be stop counts
    events += protected
    events.append({"event": "decision", "trial_id": 0, "step": 2, "action": "stop",
                   "reason": {"rule": "budget", "progress": 2, "detail": "budget"}})  # not a pruning stop
    # 520 J split by CPU seconds: trial 0 200 J, trial 1 120 J, trial 2 200 J.
    events.append(_sample({0: 20.0, 1: 12.0, 2: 20.0}, 520.0))
    return events


def test_saved_seconds_and_joules_are_the_cost_per_epoch_times_the_epochs_not_run() -> None:
    a = audit(_run())
    stop, counterfactual = a.rows
    assert (stop.trial_id, stop.step, stop.rule, stop.cutoff, stop.counterfactual) == (1, 4, "median", 0.7, False)
    assert (stop.epochs_run, stop.epochs_not_run) == (4, 6)
    assert stop.saved_s == pytest.approx(3.0 * 6) and stop.saved_j == pytest.approx(120.0 / 4 * 6)
    assert stop.energy_source == "ledger" and stop.would_have_final is None and stop.wrong is None
    assert a.totals["stops"] == 1 and a.totals["saved_j"] == pytest.approx(180.0)
    assert a.totals["saved_s"] == pytest.approx(18.0)
    assert "estimated" in a.to_dict()["basis"]


def test_report_energy_is_used_without_energy_samples() -> None:
    events = [e for e in _run() if e["event"] != "energy_sample"]
    assert audit(events).rows[0].saved_j is None
    events = [_start()] + _trial(1, 2, _rising(0.6, 4), 3.0, status="pruned", stop_at=4, energy_per_epoch=25.0)
    row = audit(events).rows[0]
    assert row.energy_source == "report" and row.saved_j == pytest.approx(25.0 * 6)


def test_a_protected_trials_would_be_stop_is_judged_on_its_full_curve() -> None:
    a = audit(_run())
    row = a.rows[1]
    assert row.counterfactual and row.trial_id == 2 and row.step == 3 and row.rule == "asha"
    assert (row.epochs_run, row.epochs_not_run) == (3, 7) and row.saved_j == pytest.approx(200.0 / 10 * 7)
    # It ended at 0.95 * (1 - 2**-10), above trial 0's 0.9 * (1 - 2**-10): stopping it would have been wrong.
    assert row.would_have_final == pytest.approx(0.95 * (1 - 0.5 ** 10), abs=1e-6) and row.final_source == "protected"
    assert row.wrong is True
    assert a.totals["known"] == 1 and a.totals["wrong_rate"] == 1.0
    assert a.totals["wrong_rate_interval"] == pytest.approx(list(wilson_interval(1, 1)))
    assert a.totals["regret"] is None  # no real stop has a known final


def test_against_a_full_run_tells_which_stops_were_wrong_and_the_regret() -> None:
    full = [_start()]
    full += _trial(10, 1, _rising(0.9, EPOCHS), 2.0, status="completed")
    full += _trial(11, 2, _rising(0.97, EPOCHS), 2.0, status="completed")  # trial 1's config would have won
    full += _trial(12, 3, _rising(0.95, EPOCHS), 2.0, status="completed")
    a = audit(_run(), against=full)
    stop = a.rows[0]
    assert stop.final_source == "against" and stop.would_have_final == pytest.approx(0.97 * (1 - 0.5 ** 10))
    assert stop.wrong is True
    assert a.totals["regret"] == pytest.approx((0.97 - 0.95) * (1 - 0.5 ** 10), abs=1e-6)
    assert a.totals["known"] == 2 and a.totals["wrong"] == 2
    # A full run where that config ends low: the stop was right, and nothing was lost.
    full[full.index(next(e for e in full if e.get("trial_id") == 11)) + 1:] = []
    full += _trial(11, 2, _rising(0.5, EPOCHS), 2.0, status="completed")
    a = audit(_run(), against=full)
    assert a.rows[0].wrong is False and a.totals["regret"] == 0.0 and a.totals["wrong"] == 1


def test_mode_min_judges_lower_as_better() -> None:
    events = [_start("min")]
    events += _trial(0, 1, [1.0] * EPOCHS, 1.0, status="completed")
    events += _trial(1, 2, [2.0, 2.0], 1.0, status="pruned", stop_at=2)
    full = [_start("min")] + _trial(5, 2, [0.5] * EPOCHS, 1.0, status="completed")
    a = audit(events, against=full)
    assert a.rows[0].wrong is True and a.totals["regret"] == pytest.approx(0.5)


def test_to_dict_is_plain_json() -> None:
    d = audit(_run()).to_dict()
    assert json.loads(json.dumps(d, allow_nan=False)) == d
    assert d["rows"][0]["trial_id"] == 1 and d["metric"] == "val_accuracy" and d["epochs"] == EPOCHS


def test_wilson_interval() -> None:
    lo, hi = wilson_interval(2, 10)
    assert lo == pytest.approx(0.0567, abs=1e-4) and hi == pytest.approx(0.5098, abs=1e-4)
    assert wilson_interval(0, 0) == (0.0, 1.0) and wilson_interval(0, 5)[0] == 0.0
    assert not math.isnan(wilson_interval(5, 5)[1])


def test_the_sample_log_audits_its_one_stop() -> None:
    from raybench.events.sample import sample_events

    events = sample_events(ended=True)
    stops = [e for e in events if e["event"] == "decision" and e["action"] == "stop"
             and e["reason"]["rule"] != "budget"]
    a = audit(events)
    assert [(r.trial_id, r.step) for r in a.rows] == [(e["trial_id"], e["step"]) for e in stops]
    assert all(r.saved_j is not None and r.saved_j > 0 for r in a.rows)
