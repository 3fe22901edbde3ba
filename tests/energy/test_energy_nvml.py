"""NVML backend with pynvml's functions replaced at the module boundary by FakeNvml."""

import pynvml
import pytest

from raybench.energy import GpuDevice, open_gpu_backend, probe_nvml, resolve_gpu_ids
from raybench.energy.backends import FakeGpu, FakeNvml, NullGpus, NvmlGpus
from raybench.errors import HardwareError


class Clock:
    def __init__(self):
        self.t = 100.0

    def __call__(self):
        return self.t


def install(monkeypatch, fake):
    for name, fn in fake.functions().items():
        monkeypatch.setattr(pynvml, name, fn)
    return fake


def test_energy_counter_is_read_per_device(monkeypatch):
    fake = install(monkeypatch, FakeNvml([FakeGpu("GPU-aaaa", energy_mj=1_000), FakeGpu("GPU-bbbb", energy_mj=5)]))
    gpus = NvmlGpus(counter_period_s=0)
    assert [(d.index, d.uuid, d.energy_source) for d in gpus.devices] == [(0, "GPU-aaaa", "counter"), (1, "GPU-bbbb", "counter")]
    fake.gpus[0].energy_mj += 2_500
    fake.gpus[1].energy_mj += 10
    assert gpus.read().energy_mj == {0: 2_500.0, 1: 10.0}
    gpus.close()
    assert not fake.initialized


def test_power_is_integrated_with_the_trapezoid_rule_without_a_counter(monkeypatch):
    fake = install(monkeypatch, FakeNvml([FakeGpu("GPU-old", energy_mj=None, power_mw=100_000)]))
    clock = Clock()
    gpus = NvmlGpus(clock=clock)
    assert gpus.devices[0].energy_source == "power"
    clock.t += 2.0
    fake.gpus[0].power_mw = 200_000
    assert gpus.read().energy_mj[0] == pytest.approx(300_000.0)  # (100 W + 200 W) / 2 * 2 s = 300 J
    clock.t += 1.0
    assert gpus.read().energy_mj[0] == pytest.approx(500_000.0)


def test_counter_is_read_once_per_period_and_power_fills_in(monkeypatch):
    fake = install(monkeypatch, FakeNvml([FakeGpu("GPU-a", energy_mj=0, power_mw=100_000)]))
    clock = Clock()
    gpus = NvmlGpus(counter_period_s=10.0, clock=clock)
    calls = []
    counter = fake.nvmlDeviceGetTotalEnergyConsumption
    monkeypatch.setattr(pynvml, "nvmlDeviceGetTotalEnergyConsumption", lambda h: calls.append(h) or counter(h))
    for _ in range(4):  # 4 s at 100 W: integrated, the counter is not touched
        clock.t += 1.0
        fake.gpus[0].energy_mj += 110_000  # the truth is 110 W
        got = gpus.read().energy_mj[0]
    assert calls == [] and got == pytest.approx(400_000.0)
    clock.t += 6.0
    fake.gpus[0].energy_mj += 6 * 110_000
    assert gpus.read().energy_mj[0] == pytest.approx(1_100_000.0)  # re-anchored on the exact counter
    assert calls == [0]


def test_readings_stay_monotonic_when_power_ran_ahead_of_the_counter(monkeypatch):
    fake = install(monkeypatch, FakeNvml([FakeGpu("GPU-a", energy_mj=0, power_mw=200_000)]))
    clock = Clock()
    gpus = NvmlGpus(counter_period_s=2.0, clock=clock)
    clock.t += 1.0
    fake.gpus[0].energy_mj += 100_000  # the truth is 100 W; power says 200 W
    assert gpus.read().energy_mj[0] == pytest.approx(200_000.0)
    clock.t += 1.0
    fake.gpus[0].energy_mj += 100_000
    assert gpus.read().energy_mj[0] == pytest.approx(200_000.0)  # counter says 200 kJ: held, not lowered
    fake.gpus[0].power_mw = 100_000
    clock.t += 1.0
    assert gpus.read().energy_mj[0] == pytest.approx(350_000.0)


def test_mixed_devices(monkeypatch):
    install(monkeypatch, FakeNvml([FakeGpu("GPU-new", energy_mj=0), FakeGpu("GPU-old", energy_mj=None)]))
    assert [d.energy_source for d in NvmlGpus().devices] == ["counter", "power"]


def test_no_nvml_library_gives_zero_devices_under_auto(monkeypatch, energy_log):
    install(monkeypatch, FakeNvml([], init_error=pynvml.NVML_ERROR_LIBRARY_NOT_FOUND))
    assert not probe_nvml().available
    gpus = open_gpu_backend("auto")
    assert isinstance(gpus, NullGpus) and gpus.devices == () and gpus.read().energy_mj == {}
    open_gpu_backend("auto")
    assert sum("no NVIDIA GPU" in r.getMessage() for r in energy_log.records) == 1


def test_no_nvml_library_fails_loudly_when_asked_for(monkeypatch):
    install(monkeypatch, FakeNvml([], init_error=pynvml.NVML_ERROR_LIBRARY_NOT_FOUND))
    with pytest.raises(HardwareError, match="NVML nvmlInit failed.*energy.gpu: none") as err:
        open_gpu_backend("nvml")
    assert isinstance(err.value.__cause__, pynvml.NVMLError)


def test_auto_uses_nvml_when_a_gpu_is_there(monkeypatch):
    install(monkeypatch, FakeNvml([FakeGpu("GPU-1")]))
    assert open_gpu_backend("auto").name == "nvml"


def test_zero_gpus_under_auto_is_the_null_object(monkeypatch):
    install(monkeypatch, FakeNvml([]))
    assert isinstance(open_gpu_backend("auto"), NullGpus)


def test_errors_during_reads_are_translated(monkeypatch):
    fake = install(monkeypatch, FakeNvml([FakeGpu("GPU-1")]))
    gpus = NvmlGpus()
    fake.initialized = False  # e.g. the driver went away
    with pytest.raises(HardwareError, match="NVML"):
        gpus.read()


def test_unknown_gpu_backend_names_the_valid_ones():
    with pytest.raises(ValueError, match="auto, nvml, none"):
        open_gpu_backend("cuda")


def test_gpu_ids_accept_indices_and_uuids():
    devices = [GpuDevice(0, "GPU-1111aaaa-0000"), GpuDevice(1, "GPU-2222bbbb-0000"), GpuDevice(2, "GPU-2222cccc-0000")]
    assert resolve_gpu_ids(devices, ["1", 0]) == (1, 0)
    assert resolve_gpu_ids(devices, ["GPU-2222cccc-0000"]) == (2,)
    assert resolve_gpu_ids(devices, ["1111aaaa"]) == (0,)  # prefix without "GPU-", as CUDA accepts
    assert resolve_gpu_ids(devices, ["GPU-2222"]) == ()  # ambiguous: not guessed
    assert resolve_gpu_ids(devices, ["7", "", "0", "0"]) == (0,)
