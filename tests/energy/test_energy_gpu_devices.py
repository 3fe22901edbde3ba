"""Per-GPU accounting on FakeNvml: MIG slices, devices without power readings, and re-anchoring corrections."""

import os

import pynvml
import pytest

from raybench.energy import EnergyLedger, NodeMonitor, open_gpu_backend
from raybench.energy.backends import FakeGpu, FakeNvml, NullCpu, NvmlGpus
from raybench.errors import HardwareError


class Clock:
    def __init__(self, t=1000.0):
        self.t = t

    def __call__(self):
        return self.t


def _patch(monkeypatch, gpus):
    fake = FakeNvml(gpus)
    for name, fn in fake.functions().items():
        monkeypatch.setattr(pynvml, name, fn)
    return fake


def test_mig_slices_map_to_their_parent_and_split_it(monkeypatch, energy_log):
    mig = ("MIG-aaaa-0", "MIG-aaaa-1", "MIG-aaaa-2", "MIG-aaaa-3")
    fake = _patch(monkeypatch, [FakeGpu("GPU-aaaa", mig=mig), FakeGpu("GPU-bbbb")])
    clock = Clock()
    mon = NodeMonitor(NullCpu(), NvmlGpus(counter_period_s=0), node_id="n", wall_clock=clock,
                      node_resources={"cpus": 4, "memory_mb": 0, "gpus": 2})
    mon.track(1, os.getpid(), {"gpus": 1, "gpu_ids": ["MIG-aaaa-1"]}, t=0.0)
    mon.track(2, os.getpid(), {"gpus": 1, "gpu_ids": ["MIG-aaaa-2", "MIG-aaaa-3"]}, t=0.0)
    mon.track(3, os.getpid(), {"gpus": 1, "gpu_ids": ["MIG-ffff-9"]}, t=0.0)  # matches nothing
    fake.gpus[0].energy_mj += 400_000
    fake.gpus[1].energy_mj += 100_000
    clock.t += 1
    s = mon.sample()
    assert s["reserved"][1]["gpu_share"] == {0: 0.25} and s["reserved"][2]["gpu_share"] == {0: 0.5}
    assert "MIG slices" in energy_log.text and "MIG-ffff-9" in energy_log.text
    ledger = EnergyLedger()
    ledger.add_baseline({"node_id": "n", "power_w": {}, "gpu_power_w": {0: 100.0, 1: 100.0}})
    ledger.add_sample(s)
    # GPU 0: 100 J idle + 300 J above; by slice: 1/4 and 2/4; the free slice and GPU 1 are unattributed
    assert ledger.trial(1)["idle_reserved_j"] == pytest.approx(25.0) and ledger.trial(1)["gpu_j"] == pytest.approx(75.0)
    assert ledger.trial(2)["gpu_j"] == pytest.approx(150.0)
    assert ledger.trial(3)["gpu_j"] == 0.0
    assert ledger.buckets()["unattributed_j"] == pytest.approx(100.0 + 100.0)


def test_a_gpu_without_power_readings_is_left_out_and_the_others_measured(monkeypatch, energy_log):
    _patch(monkeypatch, [FakeGpu("GPU-aaaa", power_mw=None), FakeGpu("GPU-bbbb")])
    gpus = NvmlGpus()
    assert [d.uuid for d in gpus.devices] == ["GPU-bbbb"]
    assert "GPU 0 (GPU-aaaa)" in energy_log.text
    gpus.close()


def test_no_readable_gpu_says_so_instead_of_no_gpu_visible(monkeypatch, energy_log):
    _patch(monkeypatch, [FakeGpu("GPU-aaaa", power_mw=None)])
    with pytest.raises(HardwareError, match="sees 1 GPU.*none gives a power reading"):
        NvmlGpus()
    assert open_gpu_backend("auto").devices == ()
    assert "no NVIDIA GPU visible" not in energy_log.text and "none gives a power reading" in energy_log.text


def test_re_anchoring_correction_is_spread_over_the_period_it_belongs_to(monkeypatch):
    """Power reads 50 W but the GPU drew 100 W. The counter (read every 10 s) catches the missing 50 J/s.
    Trial 1 held the GPU for the first 5 s, trial 2 for the next 5 s; the 500 J correction is split 250:250,
    not charged to trial 2 because it held the GPU when the counter was read."""
    fake = _patch(monkeypatch, [FakeGpu("GPU-aaaa", power_mw=50_000)])
    clock = Clock(0.0)
    gpus = NvmlGpus(counter_period_s=10, clock=clock)
    wall = Clock(1000.0)
    mon = NodeMonitor(NullCpu(), gpus, node_id="n", wall_clock=wall, node_resources={"cpus": 1, "memory_mb": 0, "gpus": 1})
    ledger = EnergyLedger()
    mon.track(1, os.getpid(), {"gpus": 1, "gpu_ids": ["0"]}, t=1000.0)
    for step in range(1, 11):
        if step == 6:
            mon.untrack(1, t=1005.0)
            mon.track(2, os.getpid(), {"gpus": 1, "gpu_ids": ["0"]}, t=1005.0)
        clock.t += 1
        wall.t += 1
        fake.gpus[0].energy_mj += 100_000
        ledger.add_sample(mon.sample())
    t1, t2 = ledger.trial(1)["gpu_j"], ledger.trial(2)["gpu_j"]
    assert t1 + t2 == pytest.approx(1000.0)
    assert t1 == pytest.approx(500.0, rel=0.01) and t2 == pytest.approx(500.0, rel=0.01)
