"""NVIDIA GPUs through NVML (nvidia-ml-py, imported as pynvml).

Each GPU reports energy one of two ways, chosen per device when the backend opens:
- "counter": nvmlDeviceGetTotalEnergyConsumption, millijoules since the driver loaded (Volta and
  later). A 64-bit counter: no wraparound to handle.
- "power": nvmlDeviceGetPowerUsage, milliwatts, integrated with the trapezoid rule between reads.
  Its accuracy depends on the read rate; the driver already averages power over about a second.

The counter is exact but dear: about 4 ms of CPU per call on an H100 (driver 580), against 0.02 ms
for a power reading. So every read integrates power, and the counter is read at most once per
`counter_period_s`, which re-anchors the total to the exact value. The jump of a re-anchoring (up or
down) is reported apart (`GpuReading.correction_mj`) so that the monitor spreads it over its period.
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
    """Cumulative energy per GPU. Opening it initialises NVML; close() shuts NVML down.

    A GPU that gives no power reading is left out (said once) and the others are still read; only when
    NVML sees GPUs and none of them can be read does opening fail, saying so.
    """

    name = "nvml"
    provenance = MEASURED

    def __init__(self, *, counter_period_s: float = 10.0, clock=time.monotonic) -> None:
        if counter_period_s < 0:
            raise ValueError(f"counter_period_s must be >= 0, got {counter_period_s}")
        self.counter_period_s = counter_period_s
        self._nv = nv = import_pynvml()
        self._clock = clock
        self._call("nvmlInit")
        self.unreadable: list[str] = []
        try:
            count = self._call("nvmlDeviceGetCount")
            handles, devices = [], []
            for i in range(count):
                h = self._call("nvmlDeviceGetHandleByIndex", i)
                uuid = _text(self._call("nvmlDeviceGetUUID", h))
                name = _text(self._call("nvmlDeviceGetName", h))
                try:
                    nv.nvmlDeviceGetPowerUsage(h)
                except nv.NVMLError as e:
                    self.unreadable.append(f"GPU {i} ({uuid}): {e}")
                    continue
                try:
                    nv.nvmlDeviceGetTotalEnergyConsumption(h)
                    source = "counter"
                except nv.NVMLError:
                    source = "power"  # pre-Volta, or a driver that hides the counter
                handles.append(h)
                devices.append(GpuDevice(i, uuid, name, source, self._mig_uuids(h)))
        except BaseException:
            self._shutdown()
            raise
        if self.unreadable:
            from raybench.energy._log import say_once

            if not devices:
                self._shutdown()
                raise HardwareError(f"NVML sees {count} GPU(s) but none gives a power reading "
                                    f"({'; '.join(self.unreadable)}); check `nvidia-smi -q -d POWER`, or set energy.gpu: none")
            say_once("nvml-unreadable", "no power reading from " + "; ".join(self.unreadable)
                     + ": its energy is not measured (the other GPUs are)")
        self._handles = tuple(handles)
        self.devices: tuple[GpuDevice, ...] = tuple(devices)
        now = clock()
        self._origin_mj: dict[int, float] = {}
        self._power_mw: dict[int, tuple[float, float]] = {}  # index -> (time_s, last power_mw)
        self._total_mj: dict[int, float] = {}  # what read() reports
        self._correction_mj: dict[int, float] = {}  # cumulative re-anchoring corrections (part of the total)
        for d, h in zip(self.devices, self._handles):
            if d.energy_source == "counter":
                self._origin_mj[d.index] = float(self._call("nvmlDeviceGetTotalEnergyConsumption", h))
            self._power_mw[d.index] = (now, float(self._call("nvmlDeviceGetPowerUsage", h)))
            self._total_mj[d.index] = self._correction_mj[d.index] = 0.0
        self._counter_t = now

    def _mig_uuids(self, h: Any) -> tuple[str, ...]:
        nv = self._nv
        try:
            n = int(nv.nvmlDeviceGetMaxMigDeviceCount(h))
        except (nv.NVMLError, AttributeError):
            return ()
        out = []
        for j in range(n):
            try:
                out.append(_text(nv.nvmlDeviceGetUUID(nv.nvmlDeviceGetMigDeviceHandleByIndex(h, j))))
            except nv.NVMLError:
                continue  # an empty slot
        return tuple(out)

    def _call(self, fn: str, *args: Any) -> Any:
        try:
            return getattr(self._nv, fn)(*args)
        except self._nv.NVMLError as e:
            raise HardwareError(f"NVML {fn} failed: {e}; check `nvidia-smi`, or set energy.gpu: none") from e

    def read(self) -> GpuReading:
        """Integrated power since the last read; every counter_period_s the exact counter instead, whose
        difference from the integral is reported in `correction_mj` so that it can be spread over the
        period it belongs to rather than charged to whoever holds the GPU at that moment."""
        now = self._clock()
        use_counter = now - self._counter_t >= self.counter_period_s
        if use_counter:
            self._counter_t = now
        for d, h in zip(self.devices, self._handles):
            i = d.index
            t0, p0 = self._power_mw[i]
            p1 = float(self._call("nvmlDeviceGetPowerUsage", h))
            self._power_mw[i] = (now, p1)
            integrated = self._total_mj[i] + 0.5 * (p0 + p1) * max(now - t0, 0.0)
            if use_counter and d.energy_source == "counter":
                exact = float(self._call("nvmlDeviceGetTotalEnergyConsumption", h)) - self._origin_mj[i]
                self._correction_mj[i] += exact - integrated
                self._total_mj[i] = exact
            else:
                self._total_mj[i] = integrated
        return GpuReading(now, dict(self._total_mj), dict(self._correction_mj))

    def _shutdown(self) -> None:
        try:
            self._nv.nvmlShutdown()
        except self._nv.NVMLError:
            pass  # already down, or never came up: nothing to release

    def close(self) -> None:
        self._shutdown()
