"""Attribution: worked examples and invariants (hypothesis) over energy_sample payloads."""

import json
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from raybench.energy import EnergyLedger, attribute_interval


def sample(**kw):
    base = {
        "node_id": "n1",
        "t0": 0.0,
        "t1": 1.0,
        "energy_j": {"cpu": 100.0, "dram": 10.0, "gpu": 0.0},
        "provenance": {"cpu": "measured", "dram": "measured", "gpu": "none"},
        "node_cpu_s": 4.0,
        "trial_cpu_s": {},
        "trial_gpu_j": {},
        "reserved": {},
        "node_resources": {"cpus": 8, "memory_mb": 8000, "gpus": 2},
    }
    base.update(kw)
    return base


def test_worked_example():
    s = sample(
        trial_cpu_s={1: 1.0, 2: 2.0},
        reserved={1: {"cpus": 2, "memory_mb": 2000, "gpus": 0}, 2: {"cpus": 4, "memory_mb": 2000, "gpus": 0}},
    )
    a = attribute_interval(s, {"cpu": 40.0, "dram": 8.0, "gpu": 0.0})
    # cpu: idle 40 J -> 2/8 and 4/8 reserved; dynamic 60 J -> 1/4 and 2/4 of node CPU time
    assert a.trials[1]["cpu_j"] == pytest.approx(15.0)
    assert a.trials[2]["cpu_j"] == pytest.approx(30.0)
    # dram: idle 8 J -> 2000/8000 each; dynamic 2 J by CPU time
    assert a.trials[1]["dram_j"] == pytest.approx(0.5)
    assert a.trials[1]["idle_reserved_j"] == pytest.approx(10.0 + 2.0)
    assert a.trials[2]["idle_reserved_j"] == pytest.approx(20.0 + 2.0)
    assert a.unattributed_j["cpu"] == pytest.approx(10.0 + 15.0)
    assert a.unattributed_idle_j == pytest.approx(10.0 + 4.0)
    b = a.buckets()
    assert b["total_j"] == 110.0 and abs(a.error_j) < 1e-9


def test_baseline_above_measured_is_capped():
    a = attribute_interval(sample(energy_j={"cpu": 5.0}, reserved={1: {"cpus": 8}}), {"cpu": 40.0})
    assert a.trials[1]["idle_reserved_j"] == pytest.approx(5.0) and a.trials[1]["cpu_j"] == 0.0


def test_gpu_energy_goes_to_the_holder():
    s = sample(energy_j={"gpu": 300.0}, trial_gpu_j={1: 200.0}, reserved={1: {"gpus": 1}})
    a = attribute_interval(s, {"gpu": 100.0})
    # idle 100 J: half reserved by trial 1; dynamic 200 J: 200/300 of the GPU joules are its GPU's.
    assert a.trials[1]["idle_reserved_j"] == pytest.approx(50.0)
    assert a.trials[1]["gpu_j"] == pytest.approx(200.0 * 200 / 300)
    assert a.unattributed_j["gpu"] == pytest.approx(300 - 50 - 200 * 200 / 300)


def test_no_trials_means_everything_is_unattributed():
    a = attribute_interval(sample(), {"cpu": 10.0})
    assert a.trials == {} and a.buckets()["unattributed_j"] == 110.0


def test_trial_cpu_above_node_cpu_is_normalised():
    a = attribute_interval(sample(node_cpu_s=1.0, trial_cpu_s={1: 1.0, 2: 1.0}), None)
    assert a.trials[1]["cpu_j"] == pytest.approx(50.0) and a.unattributed_j["cpu"] == pytest.approx(0.0)


def test_json_string_keys_are_accepted():
    s = json.loads(json.dumps(sample(trial_cpu_s={5: 2.0}, reserved={5: {"cpus": 1}})))
    assert list(attribute_interval(s).trials) == [5]


def test_ledger_adds_nodes_and_uses_each_nodes_baseline():
    ledger = EnergyLedger()
    ledger.add_baseline({"node_id": "n1", "power_w": {"cpu": 50.0}})
    ledger.add_baseline({"node_id": "n2", "power_w": {"cpu": 0.0}})
    ledger.add_sample(sample(node_id="n1", trial_cpu_s={1: 4.0}))
    ledger.add_sample(sample(node_id="n2", trial_cpu_s={1: 4.0}, provenance={"cpu": "estimated", "dram": "estimated"}))
    t = ledger.trial(1)
    assert t["cpu_j"] == pytest.approx(50.0 + 100.0)
    assert ledger.provenance() == {"cpu": "mixed", "dram": "mixed", "gpu": "none"}
    assert ledger.provenance_j()["cpu"] == {"measured": 100.0, "estimated": 100.0}
    assert ledger.accounting_check()["abs_error_j"] < 1e-9
    assert ledger.trial(99) == {"cpu_j": 0.0, "dram_j": 0.0, "gpu_j": 0.0, "idle_reserved_j": 0.0}
    assert set(ledger.summary()) >= {"trials", "buckets", "accounting_check", "provenance", "provenance_j"}


# ---- invariants -----------------------------------------------------------------------------------

joules = st.floats(0, 1e6, allow_nan=False)
small = st.floats(0, 64, allow_nan=False)
trial_ids = st.lists(st.integers(0, 50), unique=True, max_size=6)


@st.composite
def samples(draw):
    ids = draw(trial_ids)
    t0 = draw(st.floats(0, 1e6, allow_nan=False))
    return {
        "node_id": draw(st.sampled_from(["a", "b"])),
        "t0": t0,
        "t1": t0 + draw(st.floats(0, 60, allow_nan=False)),
        "energy_j": {d: draw(joules) for d in ("cpu", "dram", "gpu")},
        "provenance": {"cpu": "measured", "dram": "estimated", "gpu": "measured"},
        "node_cpu_s": draw(small),
        "trial_cpu_s": {i: draw(small) for i in ids},
        "trial_gpu_j": {i: draw(joules) for i in ids if draw(st.booleans())},
        "reserved": {i: {"cpus": draw(small), "memory_mb": draw(st.floats(0, 1e5)), "gpus": draw(st.floats(0, 8))} for i in ids},
        "node_resources": {"cpus": draw(small), "memory_mb": draw(st.floats(0, 1e5)), "gpus": draw(st.floats(0, 8))},
        **(draw(per_device(ids)) if draw(st.booleans()) else {}),
    }


@st.composite
def per_device(draw, ids):
    """The newer payload: per-GPU joules, which slices each trial holds, and how long it held them."""
    n = draw(st.integers(1, 4))
    gpu_j = {i: draw(joules) for i in range(n)}
    shares = {t: {i: draw(st.sampled_from([0.0, 0.25, 0.5, 1.0])) for i in range(n)} for t in ids}
    return {"gpu_j": gpu_j, "held_s": {t: draw(st.floats(0, 60)) for t in ids}, "_shares": shares}


baselines = st.fixed_dictionaries({d: st.floats(0, 1e5, allow_nan=False) for d in ("cpu", "dram", "gpu")})


@settings(max_examples=200, deadline=None)
@given(samples(), baselines)
def test_buckets_sum_to_the_node_total(s, base):
    for t, sh in s.pop("_shares", {}).items():
        s["reserved"][t]["gpu_share"] = sh
    if "gpu_j" in s:
        s["energy_j"]["gpu"] = math.fsum(s["gpu_j"].values())
    a = attribute_interval(s, base)
    b = a.buckets()
    assert b["total_j"] == pytest.approx(math.fsum(s["energy_j"].values()))
    assert abs(a.error_j) <= 1e-9 * max(1.0, b["total_j"])
    for parts in a.trials.values():
        assert all(v >= 0 for v in parts.values())
    assert all(v >= -1e-9 for v in a.unattributed_j.values())
    assert 0 <= a.unattributed_idle_j <= b["unattributed_j"] + 1e-9


@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(samples(), baselines), max_size=8))
def test_ledger_balances_over_many_samples_and_nodes(items):
    ledger = EnergyLedger()
    total = 0.0
    for s, base in items:
        s.pop("_shares", None)
        if "gpu_j" in s:
            s["energy_j"]["gpu"] = math.fsum(s["gpu_j"].values())
        ledger.add_baseline({"node_id": s["node_id"], "power_w": base})
        ledger.add_sample(s)
        total += math.fsum(s["energy_j"].values())
    bal = ledger.accounting_check()
    assert ledger.buckets()["total_j"] == pytest.approx(total)
    assert bal["abs_error_j"] <= 1e-9 * max(1.0, total) and bal["rel_error"] <= 1e-9


# ---- per-GPU attribution, MIG slices, hand-overs, phase buckets (issue 10) -------------------------


def gpu_sample(gpu_j, reserved, **kw):
    return sample(energy_j={"cpu": 0.0, "dram": 0.0, "gpu": sum(gpu_j.values())}, gpu_j=gpu_j, reserved=reserved,
                  node_resources={"cpus": 8, "memory_mb": 8000, "gpus": len(gpu_j)}, **kw)


def test_eight_gpus_seven_idle_the_holder_gets_all_its_gpu_drew():
    # 1 s: trial 1 holds GPU 3 at 700 W, the seven others idle at 60 W; per-GPU baseline 60 W each.
    gpu_j = {i: (700.0 if i == 3 else 60.0) for i in range(8)}
    base = {"node_id": "n1", "power_w": {"gpu": 480.0}, "gpu_power_w": dict.fromkeys(range(8), 60.0)}
    s = gpu_sample(gpu_j, {1: {"gpus": 1, "gpu_share": {3: 1.0}}})
    a = attribute_interval(s, base)
    # its GPU: 60 J idle (reserved) + 640 J above idle = 700 J; the unheld 7 x 60 J are unattributed
    assert a.trials[1]["idle_reserved_j"] == pytest.approx(60.0)
    assert a.trials[1]["gpu_j"] == pytest.approx(640.0)
    assert a.unattributed_j["gpu"] == pytest.approx(420.0)
    assert a.unattributed_idle_j == pytest.approx(420.0)
    assert abs(a.error_j) < 1e-9
    # Without a baseline the holder still gets exactly its own device's 700 J.
    a0 = attribute_interval(s, None)
    assert a0.trials[1]["gpu_j"] == pytest.approx(700.0) and a0.unattributed_j["gpu"] == pytest.approx(420.0)


def test_mig_slices_split_their_parent_gpu():
    # GPU 0 has 4 MIG slices; trial 1 holds one, trial 2 holds two. 400 J, baseline 100 W.
    s = gpu_sample({0: 400.0}, {1: {"gpus": 1, "gpu_share": {0: 0.25}}, 2: {"gpus": 1, "gpu_share": {0: 0.5}}})
    a = attribute_interval(s, {"power_w": {}, "gpu_power_w": {0: 100.0}})
    assert a.trials[1]["idle_reserved_j"] == pytest.approx(25.0) and a.trials[1]["gpu_j"] == pytest.approx(75.0)
    assert a.trials[2]["idle_reserved_j"] == pytest.approx(50.0) and a.trials[2]["gpu_j"] == pytest.approx(150.0)
    assert a.unattributed_j["gpu"] == pytest.approx(100.0)  # the free slice


def test_hand_over_inside_one_interval_splits_by_overlap():
    # One 2-CPU slot of a 4-CPU node: trial 1 held it 0.4 s, trial 2 the last 0.6 s of a 1-s interval.
    s = sample(energy_j={"cpu": 100.0, "dram": 0.0, "gpu": 100.0}, node_resources={"cpus": 4, "memory_mb": 0, "gpus": 1},
               reserved={1: {"cpus": 2, "gpus": 1, "gpu_share": {0: 1.0}}, 2: {"cpus": 2, "gpus": 1, "gpu_share": {0: 1.0}}},
               held_s={1: 0.4, 2: 0.6}, gpu_j={0: 100.0}, trial_cpu_s={}, node_cpu_s=1.0)
    a = attribute_interval(s, {"power_w": {"cpu": 40.0}, "gpu_power_w": {0: 0.0}})
    # idle 40 J: the slot's half is 20 J, counted once: 8 J and 12 J (before: 20 J each)
    assert a.trials[1]["idle_reserved_j"] == pytest.approx(8.0, rel=0.01)
    assert a.trials[2]["idle_reserved_j"] == pytest.approx(12.0, rel=0.01)
    # the GPU's 100 J split 40:60 by overlap (before: 50:50)
    assert a.trials[1]["gpu_j"] == pytest.approx(40.0, rel=0.01)
    assert a.trials[2]["gpu_j"] == pytest.approx(60.0, rel=0.01)
    assert abs(a.error_j) < 1e-9


def test_startup_and_final_test_have_their_own_buckets():
    s = sample(energy_j={"cpu": 100.0, "dram": 0.0, "gpu": 0.0}, node_cpu_s=4.0,
               trial_cpu_s={1: 1.0}, reserved={1: {"cpus": 2}},
               phase_cpu_s={"startup": 2.0, "final_test": 1.0},
               phase_reserved={"startup": {"cpus": 2}, "final_test": {"cpus": 2}})
    ledger = EnergyLedger()
    ledger.add_baseline({"node_id": "n1", "power_w": {"cpu": 40.0}})
    a = ledger.add_sample(s)
    # idle 40 J: 10 J per 2-CPU reservation; dynamic 60 J: 15 J per CPU-second
    assert a.trials[1]["cpu_j"] == pytest.approx(15.0) and a.trials[1]["idle_reserved_j"] == pytest.approx(10.0)
    b = ledger.buckets()
    assert b["startup_j"] == pytest.approx(10.0 + 30.0)
    assert b["final_test_j"] == pytest.approx(10.0 + 15.0)
    assert b["unattributed_j"] == pytest.approx(100.0 - 25.0 - 40.0 - 25.0)
    assert ledger.accounting_check()["abs_error_j"] < 1e-9


def test_estimated_domains_carry_a_range():
    s = sample(energy_j={"cpu": 100.0, "dram": 10.0, "gpu": 0.0}, trial_cpu_s={1: 4.0}, reserved={1: {"cpus": 8}},
               provenance={"cpu": "estimated", "dram": "measured", "gpu": "none"},
               estimate_range={"cpu": [0.4, 2.5]})
    ledger = EnergyLedger()
    ledger.add_sample(s)
    r = ledger.trial_range(1)
    # cpu 100 J estimated (x0.4 .. x2.5), dram 10 J measured (exact)
    assert r["active_low_j"] == pytest.approx(40.0 + 10.0) and r["active_high_j"] == pytest.approx(250.0 + 10.0)
    assert ledger.trial_provenance(1) == "mixed"
    assert ledger.total_range_j() == pytest.approx((50.0, 260.0))
