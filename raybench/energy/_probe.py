"""Cheap, cached answers to "could this backend work here?".

Each probe opens the backend once (a few file reads, or nvmlInit) and remembers the answer for the
process, so the factory and the CLI can ask as often as they like.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from raybench.errors import HardwareError


@dataclass(frozen=True)
class Probe:
    """available: whether the backend opened. reason: a short code ("permission", "absent", ...).
    detail: the one-line message an explicit request would raise."""

    available: bool
    reason: str = ""
    detail: str = ""


@functools.cache
def probe_powercap(root: str = "/sys/class/powercap") -> Probe:
    from raybench.energy.backends._powercap import PowercapBackend, PowercapUnreadable

    try:
        PowercapBackend(root).close()
    except PowercapUnreadable as e:
        return Probe(False, e.reason, str(e))
    return Probe(True)


@functools.cache
def probe_pyrapl() -> Probe:
    from raybench.energy.backends._pyrapl import PyRaplBackend

    try:
        PyRaplBackend().close()
    except HardwareError as e:
        return Probe(False, "unavailable", str(e))
    return Probe(True)


@functools.cache
def probe_nvml() -> Probe:
    from raybench.energy.backends._nvml import NvmlGpus

    try:
        gpus = NvmlGpus()
    except HardwareError as e:
        return Probe(False, "unavailable", str(e))
    n = len(gpus.devices)
    gpus.close()
    return Probe(n > 0, "" if n else "no-devices", "" if n else "NVML reports no GPU; set energy.gpu: none")


def clear_probes() -> None:
    """Forget every cached answer (tests, or after the user fixed permissions)."""
    for probe in (probe_powercap, probe_pyrapl, probe_nvml):
        probe.cache_clear()
