"""Per-trial energy columns from the log: one function (events/_energy.trial_energy) for trials.csv and summary.json."""

import pytest

from raybench.events import make_event
from raybench.events._energy import TRIAL_ENERGY_COLUMNS, jct_and_wall_s, trial_energy
from raybench.events._trials import derive_trials
from raybench.events.derive import section_energy
from raybench.events.sample import sample_events

T = 1_700_000_000.0
RES = {"cpus": 1, "memory_mb": 1024, "gpus": 0, "tpus": 0}
CONFIG = {"metric": {"name": "val_accuracy", "mode": "max"}}


def ev(kind, dt, **f):
    return make_event(kind, t=T + dt, **f)


def run_events(provenance_cpu="measured"):
    """Two trials on one 4-CPU node, one 10-s interval: 100 J cpu, 20 J dram; baseline 4 W cpu, 1 W dram."""
    prov = {"cpu": provenance_cpu, "dram": "measured", "gpu": "none"}
    sample = dict(node_id="n", t0=T + 2, t1=T + 12, energy_j={"cpu": 100.0, "dram": 20.0, "gpu": 0.0},
                  provenance=prov, node_cpu_s=10.0, trial_cpu_s={1: 2.0, 2: 6.0}, trial_gpu_j={},
                  reserved={1: RES, 2: RES}, node_resources={"cpus": 4, "memory_mb": 4096, "gpus": 0},
                  phase_cpu_s={"startup": 1.0}, phase_reserved={"startup": {"cpus": 1}}, phase_held_s={"startup": 2.0})
    if provenance_cpu == "estimated":
        sample["estimate_range"] = {"cpu": [0.5, 2.0]}
    return [
        ev("experiment_start", 0, run_id="r", name="x", config=CONFIG, env={}, requested_concurrency=2,
           effective_concurrency=2, resumed=False),
        ev("node_baseline", 1, node_id="n", duration_s=1.0, power_w={"cpu": 4.0, "dram": 1.0, "gpu": 0.0}, provenance=prov),
        ev("trial_created", 2, trial_id=1, config={"a": 1}),
        ev("trial_started", 3, trial_id=1, attempt=1, node_id="n", worker=0, pid=1, resources=RES, from_step=0),
        ev("trial_created", 4, trial_id=2, config={"a": 2}),
        ev("trial_started", 5, trial_id=2, attempt=1, node_id="n", worker=1, pid=2, resources=RES, from_step=0),
        ev("trial_completed", 11, trial_id=1, status="completed", steps=1, final_metric=0.5, best_metric=0.5,
           duration_s=8.0, peak_rss_mb=1.0),
        ev("trial_completed", 12, trial_id=2, status="completed", steps=1, final_metric=0.7, best_metric=0.7,
           duration_s=7.0, peak_rss_mb=1.0),
        ev("energy_sample", 12.5, **sample),
        ev("experiment_end", 14, status="completed", reason="done"),
    ]


def test_trial_energy_by_hand():
    cols = trial_energy(run_events())
    # cpu: idle 40 J -> 10 J per 1-CPU trial; dynamic 60 J by CPU time: 2/10 -> 12 J, 6/10 -> 36 J
    # dram: idle 10 J -> 1024/4096 -> 2.5 J each; dynamic 10 J: 2 J and 6 J
    assert cols[1] == pytest.approx({"energy_j": 14.0, "energy_idle_j": 12.5, "energy_cpu_j": 12.0,
                                     "energy_dram_j": 2.0, "energy_gpu_j": 0.0, "energy_provenance": "measured"})
    assert cols[2]["energy_j"] == pytest.approx(42.0) and "energy_j_low" not in cols[2]
    assert set(cols[1]) <= set(TRIAL_ENERGY_COLUMNS)


def test_estimated_trials_carry_low_and_high():
    cols = trial_energy(run_events("estimated"))
    assert cols[1]["energy_provenance"] == "mixed"
    assert cols[1]["energy_j_low"] == pytest.approx(12.0 * 0.5 + 2.0)
    assert cols[1]["energy_j_high"] == pytest.approx(12.0 * 2.0 + 2.0)


def test_summary_per_trial_uses_the_same_numbers_and_separates_startup():
    events = run_events("estimated")
    e = section_energy(events)["energy"]
    cols = trial_energy(events)
    for t in e["per_trial"]:
        assert {k: t[k] for k in cols[t["trial_id"]]} == cols[t["trial_id"]]
    # startup: cpu idle 40 J x 1 CPU x 2/10 s / 4 CPUs = 2 J, cpu dynamic 60 J x 1/10 = 6 J, dram dynamic 10 J x 1/10
    assert e["startup_j"] == pytest.approx(9.0) and e["final_test_j"] == 0.0
    assert e["accounting_check"]["abs_error_j"] < 1e-9
    assert e["total_j_low"] < e["total_j"] < e["total_j_high"]
    assert e["carbon"]["co2e_g_low"] < e["carbon"]["co2e_g"] < e["carbon"]["co2e_g_high"]


def test_jct_is_first_trial_start_to_last_trial_end_and_wall_is_the_whole_log():
    events = run_events()
    jct, wall = jct_and_wall_s(events, derive_trials(events))
    assert jct == pytest.approx(12 - 3) and wall == pytest.approx(14)
    e = section_energy(events)["energy"]
    assert (e["jct_s"], e["wall_s"]) == (pytest.approx(9.0), pytest.approx(14.0))


def test_the_sample_run_still_derives():
    e = section_energy(sample_events(ended=True))["energy"]
    assert e["per_trial"] and all("energy_j" in t for t in e["per_trial"])
