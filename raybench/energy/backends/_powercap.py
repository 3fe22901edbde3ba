"""RAPL energy counters through the Linux powercap sysfs tree.

Layout (flat entries in the root, each a symlink to a zone directory):

    intel-rapl:0        name=package-0   socket 0 (AMD Zen uses the same driver and names)
    intel-rapl:0:0      name=core        inside package-0: never counted
    intel-rapl:0:1      name=uncore      inside package-0: never counted
    intel-rapl:0:2      name=dram        outside the package: counted as "dram"
    intel-rapl:1        name=package-1   socket 1
    intel-rapl:2        name=psys        whole platform: counted only when there is no package zone
    intel-rapl-mmio:0   name=package-0   the same package through MMIO: a duplicate, skipped

Zones are chosen so that no joule is counted twice: packages already hold core and uncore, and psys
holds the packages. Every counter wraps at its max_energy_range_uj, so each read adds the delta to
a running total; reads must come more often than one wrap period (tens of seconds at full power).
"""

from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass

from raybench.energy._types import MEASURED, Reading
from raybench.errors import HardwareError

DEFAULT_ROOT = "/sys/class/powercap"

_ENTRY = re.compile(r"^(intel-rapl(?:-mmio)?):(\d+)(?::(\d+))?$")

PERMISSION_FIX = (
    "sudo chmod a+r /sys/class/powercap/intel-rapl:*/energy_uj /sys/class/powercap/intel-rapl:*:*/energy_uj"
)


class PowercapUnreadable(HardwareError):
    """A powercap tree that is absent, empty, or whose counters cannot be read.

    `reason` is "absent", "no-zones", "permission" or "io", so callers can choose the message.
    """

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class Zone:
    entry: str  # the name in the root, e.g. "intel-rapl:0:2"
    path: str
    name: str  # the zone's own name file: "package-0", "dram", "core", "psys"
    package: str  # the top-level zone's name ("package-0"); its own name for top-level zones
    mmio: bool
    max_energy_range_uj: int


def read_counter(path: str) -> int:
    """The one place a counter file is opened. Raises PowercapUnreadable, never a bare OSError."""
    try:
        with open(path, "rb") as f:
            return int(f.read())
    except PermissionError as e:
        raise PowercapUnreadable(
            f"cannot read {path}: permission denied (RAPL counters are root-only on kernels since 2020); "
            f"run `{PERMISSION_FIX}` or set energy.backend: estimate",
            "permission",
        ) from e
    except (OSError, ValueError) as e:
        raise PowercapUnreadable(f"cannot read RAPL counter {path}: {e}; set energy.backend: estimate", "io") from e


def _read_text(path: str) -> str:
    with open(path) as f:
        return f.read().strip()


def discover_zones(root: str = DEFAULT_ROOT) -> list[Zone]:
    """Every RAPL zone in `root`, sorted by entry name. Reading `name` files needs no privilege."""
    try:
        entries = sorted(os.listdir(root))
    except FileNotFoundError as e:
        raise PowercapUnreadable(
            f"no powercap tree at {root} (no RAPL on this machine, or a VM/container that hides it); "
            "set energy.backend: estimate",
            "absent",
        ) from e
    except OSError as e:
        raise PowercapUnreadable(f"cannot list {root}: {e}; set energy.backend: estimate", "absent") from e
    names: dict[str, str] = {}
    parsed = []
    for entry in entries:
        m = _ENTRY.match(entry)
        if not m:
            continue
        path = os.path.join(root, entry)
        try:
            names[entry] = _read_text(os.path.join(path, "name"))
            max_uj = int(_read_text(os.path.join(path, "max_energy_range_uj")))
        except (OSError, ValueError):
            continue  # a zone without a readable name or range is not one we can use
        parsed.append((entry, path, m, max_uj))
    zones = []
    for entry, path, m, max_uj in parsed:
        control, top, sub = m.group(1), m.group(2), m.group(3)
        package = names.get(f"{control}:{top}", "?") if sub is not None else names[entry]
        zones.append(Zone(entry, path, names[entry], package, control.endswith("mmio"), max_uj))
    return zones


def select_zones(zones: list[Zone]) -> dict[str, list[Zone]]:
    """The zones to count, per domain, so that no energy is counted twice (see the module docstring)."""
    msr_keys = {(z.package, z.name) for z in zones if not z.mmio}
    unique = [z for z in zones if not (z.mmio and (z.package, z.name) in msr_keys)]
    top = [z for z in unique if z.package == z.name]
    packages = [z for z in top if z.name.startswith("package")]
    # dram is a subzone on most Intel parts and a top-level zone on some servers; never in a package.
    dram = [z for z in unique if z.name == "dram"]
    cpu = packages or [z for z in top if z.name == "psys"]
    out: dict[str, list[Zone]] = {}
    if cpu:
        out["cpu"] = cpu
    if dram:
        out["dram"] = dram
    return out


class PowercapBackend:
    """Cumulative package and DRAM energy from RAPL counters, wraparound included."""

    name = "powercap"

    def __init__(self, root: str = DEFAULT_ROOT, *, clock=time.monotonic) -> None:
        self.root = root
        self._clock = clock
        chosen = select_zones(discover_zones(root))
        if "cpu" not in chosen:
            raise PowercapUnreadable(
                f"no package or psys RAPL zone under {root}; set energy.backend: estimate", "no-zones"
            )
        self.zones: dict[str, tuple[Zone, ...]] = {d: tuple(zs) for d, zs in chosen.items()}
        self.provenance = {d: MEASURED for d in self.zones}
        self._last_uj = {z.path: read_counter(os.path.join(z.path, "energy_uj")) for z in self._all()}
        self._total_uj = dict.fromkeys(self.zones, 0)

    def _all(self):
        for zs in self.zones.values():
            yield from zs

    def read(self) -> Reading:
        now = self._clock()
        for domain, zs in self.zones.items():
            for z in zs:
                raw = read_counter(os.path.join(z.path, "energy_uj"))
                last = self._last_uj[z.path]
                # The counter restarts at 0 after max_energy_range_uj (one hardware unit, a few tens of
                # uJ, is lost per wrap). Two wraps between reads cannot be told from one.
                delta = raw - last if raw >= last else raw + z.max_energy_range_uj - last
                self._last_uj[z.path] = raw
                self._total_uj[domain] += delta
        return Reading(now, dict(self._total_uj))

    def close(self) -> None:
        pass

