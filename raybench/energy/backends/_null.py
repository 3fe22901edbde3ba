"""Null objects: a CPU side that reads no domain and a GPU side with zero devices.

Code above iterates over what a backend has; with these it iterates over nothing and reports 0 J
with provenance "none", instead of branching on whether hardware exists.
"""

from __future__ import annotations

import time

from raybench.energy._types import NONE, GpuDevice, GpuReading, Reading


class NullCpu:
    name = "none"
    provenance: dict[str, str] = {}

    def read(self) -> Reading:
        return Reading(time.monotonic(), {})

    def close(self) -> None:
        pass


class NullGpus:
    name = "none"
    provenance = NONE
    devices: tuple[GpuDevice, ...] = ()

    def read(self) -> GpuReading:
        return GpuReading(time.monotonic(), {})

    def close(self) -> None:
        pass
