"""NVIDIA GPUs through NVML (nvidia-ml-py, imported as pynvml).

Each GPU reports energy one of two ways, chosen per device when the backend opens:
- "counter": nvmlDeviceGetTotalEnergyConsumption, millijoules since the driver loaded (Volta and
  later). A 64-bit counter: no wraparound to handle.
- "power": nvmlDeviceGetPowerUsage, milliwatts, integrated with the trapezoid rule between reads.
  Its accuracy depends on the read rate; the driver already averages power over about a second.

The counter is exact but dear: about 4 ms of CPU per call on an H100 (driver 580), against 0.02 ms
for a power reading. So every read integrates power, and the counter is read at most once per
`counter_period_s`, which re-anchors the total to the exact value. Readings stay monotonic: when the
integral ran ahead of the counter, the total holds still until the counter catches up.
Every NVMLError is turned into HardwareError here, so nothing above this module imports pynvml.
"""

from __future__ import annotations

import importlib
import time
from types import ModuleType
from typing import Any

from raybench.energy._types import MEASURED, GpuDevice, GpuReading
from raybench.errors import HardwareError


def import_pynvml() -> ModuleType:
    try:
        return importlib.import_module("pynvml")
    except ImportError as e:
        raise HardwareError("energy.gpu: nvml needs nvidia-ml-py: pip install nvidia-ml-py") from e


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class NvmlGpus:
    """Cumulative energy per GPU. Opening it initialises NVML; close() shuts NVML down."""

    name = "nvml"
    provenance = MEASURED

    def __init__(self, *, counter_period_s: float = 10.0, clock=time.monotonic) -> None:
        if counter_period_s < 0:
            raise ValueError(f"counter_period_s must be >= 0, got {counter_period_s}")
        self.counter_period_s = counter_period_s
        self._nv = nv = import_pynvml()
        self._clock = clock
        self._call("nvmlInit")
        try:
            count = self._call("nvmlDeviceGetCount")
            handles, devices = [], []
            for i in range(count):
                h = self._call("nvmlDeviceGetHandleByIndex", i)
                uuid = _text(self._call("nvmlDeviceGetUUID", h))
                name = _text(self._call("nvmlDeviceGetName", h))
                try:
                    nv.nvmlDeviceGetTotalEnergyConsumption(h)
                    source = "counter"
                except nv.NVMLError:
                    source = "power"  # pre-Volta, or a driver that hides the counter
                handles.append(h)
                devices.append(GpuDevice(i, uuid, name, source))
        except BaseException:
            self._shutdown()
            raise
        self._handles = tuple(handles)
        self.devices: tuple[GpuDevice, ...] = tuple(devices)
        now = clock()
        self._origin_mj: dict[int, float] = {}
        self._power_mw: dict[int, tuple[float, float]] = {}  # index -> (time_s, last power_mw)
        self._anchor_mj: dict[int, float] = {}  # exact total at the last counter read (0 without one)
        self._since_mj: dict[int, float] = {}  # integrated power since that read
        self._total_mj: dict[int, float] = {}  # what read() reports: monotonic
        for d, h in zip(self.devices, self._handles):
            if d.energy_source == "counter":
                self._origin_mj[d.index] = float(self._call("nvmlDeviceGetTotalEnergyConsumption", h))
            self._power_mw[d.index] = (now, float(self._call("nvmlDeviceGetPowerUsage", h)))
            self._anchor_mj[d.index] = self._since_mj[d.index] = self._total_mj[d.index] = 0.0
        self._counter_t = now

    def _call(self, fn: str, *args: Any) -> Any:
        try:
            return getattr(self._nv, fn)(*args)
        except self._nv.NVMLError as e:
            raise HardwareError(f"NVML {fn} failed: {e}; check `nvidia-smi`, or set energy.gpu: none") from e

    def read(self) -> GpuReading:
        now = self._clock()
        use_counter = now - self._counter_t >= self.counter_period_s
        if use_counter:
            self._counter_t = now
        for d, h in zip(self.devices, self._handles):
            i = d.index
            t0, p0 = self._power_mw[i]
            p1 = float(self._call("nvmlDeviceGetPowerUsage", h))
            self._power_mw[i] = (now, p1)
            if use_counter and d.energy_source == "counter":
                self._anchor_mj[i] = float(self._call("nvmlDeviceGetTotalEnergyConsumption", h)) - self._origin_mj[i]
                self._since_mj[i] = 0.0
            else:
                self._since_mj[i] += 0.5 * (p0 + p1) * max(now - t0, 0.0)
            self._total_mj[i] = max(self._total_mj[i], self._anchor_mj[i] + self._since_mj[i])
        return GpuReading(now, dict(self._total_mj))

    def _shutdown(self) -> None:
        try:
            self._nv.nvmlShutdown()
        except self._nv.NVMLError:
            pass  # already down, or never came up: nothing to release

    def close(self) -> None:
        self._shutdown()
