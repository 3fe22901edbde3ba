"""Metrics: worked examples of every formula in docs/metrics.md."""

import json
import math

import pytest

from raybench.config._schema import CarbonSpec, CostSpec
from raybench.energy.metrics import (
    DEFAULT_CARBON,
    DEFAULT_PRICES,
    TrialRecord,
    anytime_curve,
    experiment_metrics,
    improved_flags,
    trial_cost,
)


def rec(tid, status, duration_s, *, improved=False, cpu=0.0, dram=0.0, gpu=0.0, idle=0.0, cpus=1, mem=1024, gpus=0):
    return TrialRecord(tid, status, 0.0, duration_s, duration_s, cpus=cpus, memory_mb=mem, gpus=gpus,
                       energy_j={"cpu_j": cpu, "dram_j": dram, "gpu_j": gpu, "idle_reserved_j": idle},
                       improved_best=improved)


TRIALS = [
    rec(1, "completed", 3600, improved=True, cpu=3000, dram=600, idle=400),
    rec(2, "completed", 1800, improved=False, cpu=1000, dram=200, idle=200),
    rec(3, "pruned", 900, cpu=500, idle=100),
    rec(4, "failed", 100, cpu=50, gpu=50, gpus=1),
]
BUCKETS = {"trials_j": 5400.0, "idle_reserved_j": 700.0, "unattributed_j": 900.0, "unattributed_idle_j": 300.0,
           "total_j": 7000.0}


def test_defaults_match_the_config_schema():
    assert DEFAULT_PRICES == CostSpec().model_dump()
    assert DEFAULT_CARBON == CarbonSpec().model_dump()


def test_trial_level():
    m = experiment_metrics(TRIALS, jct_s=4000, buckets=BUCKETS)
    t1 = m["trials"][0]
    assert t1["energy_j"] == {"cpu": 3000, "dram": 600, "gpu": 0, "total": 3600, "idle_reserved": 400, "with_idle": 4000}
    assert t1["avg_power_w"] == pytest.approx(1.0)
    assert [t["waste_reason"] for t in m["trials"]] == [None, "no_improvement", "pruned", "failed"]


def test_experiment_energy_and_waste():
    m = experiment_metrics(TRIALS, jct_s=4000, buckets=BUCKETS)
    e = m["energy"]
    assert e["total_j"] == 7000 and e["trials_j"] == 5400 and e["idle_reserved_j"] == 700
    assert e["per_completed_trial_j"] == 3500
    assert e["trial_watt_hours"] == pytest.approx(6100 / 3600)
    assert e["avg_trial_power_w"] == pytest.approx(5400 / 6400)
    w = m["waste"]
    assert w["energy_j"] == pytest.approx(1400 + 600 + 100)
    assert w["time_s"] == 1800 + 900 + 100
    assert w["energy_fraction"] == pytest.approx(2100 / 6100)
    assert w["time_fraction"] == pytest.approx(2800 / 6400)
    assert w["by_reason"]["pruned"]["n"] == 1
    assert m["counts"] == {"trials": 4, "completed": 2, "pruned": 1, "failed": 1}
    assert m["idle"]["idle_reserved_power_w"] == pytest.approx(700 / 4000)


def test_cost_is_reserved_resource_hours_times_price():
    prices = {"currency": "EUR", "cpu_hour": 1.0, "gb_hour": 0.5, "gpu_hour": 10.0, "tpu_hour": 0.0}
    c = trial_cost(rec(9, "completed", 1800, cpus=2, mem=2048, gpus=1), prices)
    assert c == {"cpu": 1.0, "memory": 0.5, "gpu": 5.0, "tpu": 0.0, "total": 6.5}
    m = experiment_metrics(TRIALS, jct_s=4000, prices=prices)
    assert m["cost"]["currency"] == "EUR"
    assert m["cost"]["total"] == pytest.approx(sum(trial_cost(r, prices)["total"] for r in TRIALS))
    wasted = [r for r in TRIALS if r.trial_id != 1]
    assert m["waste"]["cost"] == pytest.approx(sum(trial_cost(r, prices)["total"] for r in wasted))


def test_carbon_uses_total_energy_pue_and_grid_intensity():
    m = experiment_metrics(TRIALS, jct_s=1, buckets={**BUCKETS, "total_j": 3.6e6}, carbon={"g_per_kwh": 400, "pue": 1.5})
    assert m["carbon"]["kwh"] == pytest.approx(1.0)
    assert m["carbon"]["co2e_g"] == pytest.approx(600.0)
    assert m["basht"]["CINT"] == m["carbon"]["co2e_g"]


def test_basht_names_are_the_same_figures():
    m = experiment_metrics(TRIALS, jct_s=4000, buckets=BUCKETS)
    b = m["basht"]
    assert b["JCT"] == 4000 and b["OC"] == m["cost"]["total"]
    assert (b["WTE"], b["WTT"], b["WTC"]) == (m["waste"]["energy_j"], m["waste"]["time_s"], m["waste"]["cost"])
    assert b["TWH"] == m["energy"]["trial_watt_hours"] and b["WR"] == m["idle"]["idle_reserved_power_w"]


def test_provenance_is_reported_per_domain():
    m = experiment_metrics(TRIALS, jct_s=1, provenance={"cpu": "measured", "dram": "estimated", "gpu": "none"},
                           provenance_j={"cpu": {"measured": 1.0, "estimated": 0.0}})
    assert m["provenance"] == {"cpu": "measured", "dram": "estimated", "gpu": "none", "energy": "mixed"}
    assert m["provenance_j"]["cpu"] == {"measured": 1.0, "estimated": 0.0}


def test_without_buckets_and_without_trials():
    m = experiment_metrics([], jct_s=0)
    assert m["energy"]["total_j"] == 0 and m["energy"]["unattributed_j"] is None
    assert m["energy"]["per_completed_trial_j"] is None and m["waste"]["energy_fraction"] is None
    json.dumps(m)  # summary.json-ready


def test_records_from_dicts():
    r = TrialRecord.from_dict({"trial_id": "3", "status": "pruned", "start_s": 1, "end_s": 4,
                               "reserved": {"cpus": 2, "memory_mb": 10}, "energy_j": {"cpu": 1.0}})
    assert (r.trial_id, r.duration_s, r.cpus, r.active_j) == (3, 3.0, 2.0, 1.0)
    with pytest.raises(ValueError, match="'paused'"):
        TrialRecord(1, "paused", 0, 0, 0)


def test_improved_flags_and_anytime_curve():
    assert improved_flags([0.5, 0.4, None, 0.7, 0.7, math.nan], "max") == [True, False, False, True, False, False]
    assert improved_flags([3, 2, 4], "min") == [True, True, False]
    curve = anytime_curve([{"metric": 0.5, "energy_j": 10, "time_s": 1}, {"metric": None, "energy_j": 15, "time_s": 2},
                           {"metric": 0.8, "energy_j": 30, "time_s": 3}])
    assert [p["best"] for p in curve] == [0.5, 0.5, 0.8]
    assert [p["improved"] for p in curve] == [True, False, True]
    assert [p["energy_j"] for p in curve] == [10, 15, 30]
    with pytest.raises(ValueError, match="'up'"):
        improved_flags([1], "up")
