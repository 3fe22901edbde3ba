"""NodeMonitor's tracking: late tracks, hand-overs inside one interval, and read errors, on fake hardware."""

import os

import pytest

from raybench.energy import EnergyLedger, NodeMonitor
from raybench.energy.backends import FakePowercap, NullGpus, PowercapBackend

NODE = {"cpus": 4, "memory_mb": 4096, "gpus": 0}


class Clock:
    def __init__(self, t=1000.0):
        self.t = t

    def __call__(self):
        return self.t


def test_an_untrack_that_overtakes_its_track_leaves_no_ghost(tmp_path, energy_log):
    clock = Clock()
    mon = NodeMonitor(PowercapBackend(FakePowercap.intel(str(tmp_path)).root), NullGpus(), node_resources=NODE,
                      wall_clock=clock)
    # The worker sent track (seq 1) then untrack (seq 2); Ray delivered the untrack first.
    mon.untrack(5, seq=2, t=1000.5)
    assert mon.track(5, os.getpid(), {"cpus": 1}, seq=1, t=1000.1) is False
    assert mon.tracked == ()
    clock.t = 1001.0
    s = mon.sample()
    assert 5 not in s["reserved"] and 5 not in s["trial_cpu_s"]  # no ghost charged CPU time forever
    assert "arrived after its untrack" in energy_log.text
    # A later attempt of the same trial (a higher sequence number) is tracked again.
    assert mon.track(5, os.getpid(), {"cpus": 1}, seq=3, t=1001.0) is True


def test_hand_over_inside_one_interval_weights_by_overlap(tmp_path):
    """Trial 1 holds a 2-CPU slot for the first 0.4 s of a 1-s interval, trial 2 for the last 0.6 s.
    Package at 40 W, all idle (baseline 40 W): the slot's idle half (20 J) is split 8 J : 12 J."""
    tree = FakePowercap.intel(str(tmp_path), dram=False)
    clock = Clock()
    mon = NodeMonitor(PowercapBackend(tree.root), NullGpus(), node_id="n", node_resources=NODE, wall_clock=clock)
    ledger = EnergyLedger()
    ledger.add_baseline({"node_id": "n", "power_w": {"cpu": 40.0}})
    mon.track(1, os.getpid(), {"cpus": 2}, seq=1, t=1000.0)
    mon.untrack(1, seq=2, t=1000.4)
    mon.track(2, os.getpid(), {"cpus": 2}, seq=3, t=1000.4)
    tree.add_energy("intel-rapl:0", 40_000_000)
    clock.t = 1001.0
    s = mon.sample()
    assert s["held_s"][1] == pytest.approx(0.4) and s["held_s"][2] == pytest.approx(0.6)
    a = ledger.add_sample({**s, "trial_cpu_s": {}, "node_cpu_s": 0.0})
    assert a.trials[1]["idle_reserved_j"] == pytest.approx(8.0, rel=0.01)
    assert a.trials[2]["idle_reserved_j"] == pytest.approx(12.0, rel=0.01)
    assert a.unattributed_idle_j == pytest.approx(20.0, rel=0.01)


def test_a_read_error_mid_run_becomes_an_estimated_gap_and_the_backend_is_reopened(tmp_path, energy_log):
    """10 W for 1 s, then the counter file is unreadable for one interval (estimated at the last power,
    labelled so, with a range), then readable again through a reopened backend."""
    tree = FakePowercap.intel(str(tmp_path), dram=False)
    clock = Clock()
    opened = []

    counter = os.path.join(tree.root, "intel-rapl:0", "energy_uj")

    def reopen():  # the zone is back by the time the monitor reopens the backend
        os.replace(counter + ".away", counter)
        opened.append(1)
        return PowercapBackend(tree.root)

    mon = NodeMonitor(PowercapBackend(tree.root), NullGpus(), node_id="n", node_resources=NODE, wall_clock=clock,
                      reopen_cpu=reopen)
    tree.add_energy("intel-rapl:0", 10_000_000)
    clock.t += 1
    good = mon.sample()
    assert good["energy_j"]["cpu"] == pytest.approx(10.0) and "gap" not in good
    value = tree.energy_uj("intel-rapl:0")
    os.replace(counter, counter + ".away")  # the zone vanishes (a driver reload, a hot-unplugged socket)
    clock.t += 2
    bad = mon.sample()
    assert bad["gap"]["domains"] == ["cpu"] and "cpu" in bad["gap"]["error"]
    assert bad["provenance"]["cpu"] == "estimated"
    assert bad["energy_j"]["cpu"] == pytest.approx(20.0)  # 2 s at the last good 10 W
    assert bad["estimate_range"]["cpu"] == [0.5, 2.0]
    assert opened == [1]
    tree.set_energy("intel-rapl:0", value + 5_000_000)
    clock.t += 1
    after = mon.sample()
    assert "gap" not in after and after["provenance"]["cpu"] == "measured"
    ledger = EnergyLedger()
    for s in (good, bad, after):
        ledger.add_sample(s)
    assert ledger.n_gaps == 1 and ledger.provenance()["cpu"] == "mixed"
    assert ledger.total_range_j() == pytest.approx((10 + 10 + 5, 10 + 40 + 5), rel=0.01)


def test_sampling_survives_a_backend_that_cannot_be_reopened(tmp_path):
    tree = FakePowercap.intel(str(tmp_path), dram=False)
    clock = Clock()

    def reopen():
        raise OSError("still gone")

    mon = NodeMonitor(PowercapBackend(tree.root), NullGpus(), node_resources=NODE, wall_clock=clock, reopen_cpu=reopen)
    counter = os.path.join(tree.root, "intel-rapl:0", "energy_uj")
    os.replace(counter, counter + ".away")
    for _ in range(3):
        clock.t += 1
        assert mon.sample()["gap"]["domains"] == ["cpu"]
