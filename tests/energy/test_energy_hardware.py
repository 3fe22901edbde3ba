"""Idle power is split by the hardware (logical CPUs, physical RAM, GPUs), not by Ray's resources."""

import psutil
import pytest

from raybench.energy import EnergyLedger, NodeMonitor
from raybench.energy._hardware import cgroup_cpu_quota, hardware_resources
from raybench.energy.backends import FakePowercap, NullGpus, PowercapBackend


def test_cgroup_quota_v2_and_v1(tmp_path):
    (tmp_path / "cpu.max").write_text("400000 100000\n")
    assert cgroup_cpu_quota(str(tmp_path)) == 4.0
    (tmp_path / "cpu.max").write_text("max 100000\n")
    assert cgroup_cpu_quota(str(tmp_path)) is None
    v1 = tmp_path / "v1"
    (v1 / "cpu").mkdir(parents=True)
    (v1 / "cpu" / "cpu.cfs_quota_us").write_text("150000")
    (v1 / "cpu" / "cpu.cfs_period_us").write_text("100000")
    assert cgroup_cpu_quota(str(v1)) == 1.5


def test_the_monitor_defaults_to_the_hardware(tmp_path):
    mon = NodeMonitor(PowercapBackend(FakePowercap.intel(str(tmp_path)).root), NullGpus())
    assert mon.node_resources["cpus"] == psutil.cpu_count(logical=True)
    assert mon.node_resources["memory_mb"] == pytest.approx(psutil.virtual_memory().total / 2**20)
    assert hardware_resources(3, cgroup_root=str(tmp_path))["gpus"] == 3.0


def test_num_cpus_8_on_a_64_thread_host_leaves_the_rest_unattributed():
    # Ray was told 8 CPUs; RAPL measures the 64-thread host idling at 128 W for 1 s. One trial holds 2 CPUs.
    s = {"node_id": "n", "t0": 0.0, "t1": 1.0, "energy_j": {"cpu": 128.0, "dram": 0.0, "gpu": 0.0},
         "provenance": {"cpu": "measured"}, "node_cpu_s": 0.0, "trial_cpu_s": {1: 0.0}, "trial_gpu_j": {},
         "reserved": {1: {"cpus": 2}}, "node_resources": {"cpus": 64, "memory_mb": 65536, "gpus": 0}}
    ledger = EnergyLedger()
    ledger.add_baseline({"node_id": "n", "power_w": {"cpu": 128.0}})
    a = ledger.add_sample(s)
    assert a.trials[1]["idle_reserved_j"] == pytest.approx(4.0)  # 2/64 of 128 J, not 2/8 (32 J)
    assert a.unattributed_idle_j == pytest.approx(124.0)
