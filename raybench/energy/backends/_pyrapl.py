"""RAPL through pyRAPL, for users who select it (energy.backend: pyrapl).

pyRAPL reads the same sysfs files as the powercap backend but from a fixed path and without
wraparound handling, so wraparound is handled here with the ranges sysfs publishes. pyRAPL logs a
pymongo/pandas notice when imported; it is imported lazily with that output swallowed, and without
letting its logging.warning() install a handler on the root logger.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import logging
import time
from types import ModuleType

from raybench.energy._log import say_once
from raybench.energy._types import MEASURED, Reading
from raybench.errors import HardwareError

_SYSFS = "/sys/class/powercap"


def import_pyrapl() -> ModuleType:
    """pyRAPL, imported silently. Raises HardwareError when it is not installed."""
    root = logging.getLogger()
    guard = logging.NullHandler()
    # logging.warning() calls basicConfig() when the root has no handler; a handler stops that.
    added = not root.handlers
    if added:
        root.addHandler(guard)
    previous = logging.root.manager.disable
    logging.disable(logging.CRITICAL)
    try:
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            return importlib.import_module("pyRAPL")
    except ImportError as e:
        raise HardwareError("energy.backend: pyrapl needs pyRAPL: pip install pyRAPL==0.2.3.1") from e
    finally:
        logging.disable(previous)
        if added:
            root.removeHandler(guard)


def _ranges(n_slots: int) -> list[int | None]:
    """max_energy_range_uj per pyRAPL slot (socket*2 + 0 for package, + 1 for dram), where sysfs has it."""
    from raybench.energy.backends._powercap import PowercapUnreadable, discover_zones

    out: list[int | None] = [None] * n_slots
    try:
        zones = discover_zones(_SYSFS)
    except PowercapUnreadable:
        return out
    for z in zones:
        if z.mmio or not z.package.startswith("package-"):
            continue
        try:
            socket = int(z.package.split("-")[1])
        except ValueError:
            continue
        slot = socket * 2 + (0 if z.name == z.package else 1 if z.name == "dram" else -1)
        if 0 <= slot < n_slots and (z.name == z.package or z.name == "dram"):
            out[slot] = z.max_energy_range_uj
    return out


class PyRaplBackend:
    """Cumulative package and DRAM energy from pyRAPL's Sensor."""

    name = "pyrapl"

    def __init__(self, *, clock=time.monotonic) -> None:
        pyrapl = import_pyrapl()
        try:
            self._sensor = pyrapl.Sensor()
            first = list(self._sensor.energy())
        except (pyrapl.PyRAPLException, OSError) as e:
            raise HardwareError(
                f"pyRAPL cannot read RAPL ({type(e).__name__}: {e}); check that {_SYSFS}/intel-rapl:* exists "
                "and is readable (docs/energy.md), or set energy.backend: estimate"
            ) from e
        self._clock = clock
        self._last = first
        self._range = _ranges(len(first))
        self.provenance = {d: MEASURED for d, i in (("cpu", 0), ("dram", 1)) if first[i::2] and min(first[i::2]) >= 0}
        if "cpu" not in self.provenance:
            raise HardwareError("pyRAPL found no package counter; set energy.backend: estimate")
        self._total_uj = dict.fromkeys(self.provenance, 0)

    def read(self) -> Reading:
        now = self._clock()
        try:
            raw = list(self._sensor.energy())
        except OSError as e:
            raise HardwareError(f"pyRAPL read failed: {e}") from e
        for slot, (new, old) in enumerate(zip(raw, self._last)):
            domain = "cpu" if slot % 2 == 0 else "dram"
            if domain not in self._total_uj or new < 0 or old < 0:
                continue
            if new >= old:
                delta = new - old
            elif self._range[slot] is not None:
                delta = new + self._range[slot] - old
            else:
                say_once("pyrapl-wrap", "pyRAPL counter wrapped and sysfs gives no range: one interval counted as 0 J")
                delta = 0
            self._total_uj[domain] += int(delta)
        self._last = raw
        return Reading(now, dict(self._total_uj))

    def close(self) -> None:
        pass
