"""RAPL energy counters through the Linux powercap sysfs tree.

Layout (flat entries in the root, each a symlink to a zone directory):

    intel-rapl:0        name=package-0   socket 0 (AMD Zen uses the same driver and names)
    intel-rapl:0:0      name=core        inside package-0: never counted
    intel-rapl:0:1      name=uncore      inside package-0: never counted
    intel-rapl:0:2      name=dram        outside the package: counted as "dram"
    intel-rapl:1        name=package-1   socket 1
    intel-rapl:2        name=psys        whole platform: counted only when there is no package zone
    intel-rapl-mmio:0   name=package-0   the same package through MMIO: a duplicate, skipped
    intel-rapl-tpmi:0   name=package-0   the same through TPMI (kernels 6.x on recent Xeons): counted
                                         only when no MSR zone reads that package

Zones are chosen so that no joule is counted twice: packages already hold core and uncore, and psys
holds the packages and the memory, so with psys standing in for the packages a dram zone is not
counted (and no DRAM estimate is added either). Every counter wraps at its max_energy_range_uj, so
each read adds the delta to a running total; reads must come more often than one wrap period. A
"wrap" that would mean more than the zone's plausible maximum power is a counter reset (a driver
reload, a firmware reset): it is counted from zero and said once. A zone that cannot be read when the
backend opens is left out, said once; the backend fails only when no CPU-side zone is left.
"""

from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass

from raybench.energy._types import MEASURED, Reading
from raybench.errors import HardwareError

DEFAULT_ROOT = "/sys/class/powercap"

_ENTRY = re.compile(r"^(intel-rapl(?:-mmio|-tpmi)?):(\d+)(?::(\d+))?$")
# Without a published power constraint, a zone drawing more than this is implausible (no socket does).
DEFAULT_MAX_ZONE_W = 2000.0

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
    mmio: bool  # read through an alternative interface (MMIO or TPMI), which may duplicate an MSR zone
    max_energy_range_uj: int
    max_power_w: float = DEFAULT_MAX_ZONE_W  # above this, a backwards counter is a reset, not a wrap


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
        zones.append(Zone(entry, path, names[entry], package, control != "intel-rapl", max_uj, _max_power_w(path)))
    return zones


def _max_power_w(path: str) -> float:
    """The most a zone can plausibly draw: its largest constraint_*_max_power_uw, else twice its largest power
    limit (PL2 and short bursts sit above PL1), else DEFAULT_MAX_ZONE_W."""
    best_max = best_limit = 0.0
    for i in range(4):
        for kind in ("max_power_uw", "power_limit_uw"):
            try:
                v = float(_read_text(os.path.join(path, f"constraint_{i}_{kind}")))
            except (OSError, ValueError):
                continue
            if kind == "max_power_uw":
                best_max = max(best_max, v / 1e6)
            else:
                best_limit = max(best_limit, v / 1e6)
    return best_max or 2 * best_limit or DEFAULT_MAX_ZONE_W


def select_zones(zones: list[Zone]) -> dict[str, list[Zone]]:
    """The zones to count, per domain, so that no energy is counted twice (see the module docstring)."""
    unique, seen = [], set()
    for z in sorted(zones, key=lambda z: (z.mmio, z.entry)):  # MSR zones first, then MMIO/TPMI ones
        if (z.package, z.name) not in seen:
            seen.add((z.package, z.name))
            unique.append(z)
    unique.sort(key=lambda z: z.entry)
    top = [z for z in unique if z.package == z.name]
    packages = [z for z in top if z.name.startswith("package")]
    # dram is a subzone on most Intel parts and a top-level zone on some servers; never in a package.
    dram = [z for z in unique if z.name == "dram"]
    cpu = packages or [z for z in top if z.name == "psys"]
    out: dict[str, list[Zone]] = {}
    if cpu:
        out["cpu"] = cpu
    if dram and packages:  # psys already holds the memory: its dram zone would count it twice
        out["dram"] = dram
    return out


class PowercapBackend:
    """Cumulative package and DRAM energy from RAPL counters, wraparound and resets included."""

    name = "powercap"

    def __init__(self, root: str = DEFAULT_ROOT, *, clock=time.monotonic) -> None:
        from raybench.energy._log import say_once

        self.root = root
        self._clock = clock
        found = discover_zones(root)
        chosen = select_zones(found)
        if "cpu" not in chosen:
            raise PowercapUnreadable(
                f"no package or psys RAPL zone under {root}; set energy.backend: estimate", "no-zones"
            )
        # With psys standing in for the packages, DRAM is inside the CPU figure: nothing may add it again.
        self.dram_in_cpu = chosen["cpu"][0].name == "psys" and any(z.name == "dram" for z in found)
        self._last_uj: dict[str, int] = {}
        dropped: list[str] = []
        first_error: PowercapUnreadable | None = None
        for domain in list(chosen):
            keep = []
            for z in chosen[domain]:
                try:
                    self._last_uj[z.path] = read_counter(os.path.join(z.path, "energy_uj"))
                    keep.append(z)
                except PowercapUnreadable as e:
                    first_error = first_error or e
                    dropped.append(f"{z.entry} ({z.name}): {e.reason}")
            if keep:
                chosen[domain] = keep
            else:
                del chosen[domain]
        if "cpu" not in chosen:
            assert first_error is not None
            raise first_error
        if dropped:
            say_once(f"powercap-dropped-{root}", f"RAPL zones left out because they cannot be read: {', '.join(dropped)}; "
                     "the energy they hold is not measured")
        self.zones: dict[str, tuple[Zone, ...]] = {d: tuple(zs) for d, zs in chosen.items()}
        self.provenance = {d: MEASURED for d in self.zones}
        self._last_t = clock()
        self._total_uj = dict.fromkeys(self.zones, 0)
        self.resets = 0

    def _all(self):
        for zs in self.zones.values():
            yield from zs

    def read(self) -> Reading:
        now = self._clock()
        dt = max(now - self._last_t, 1e-3)
        for domain, zs in self.zones.items():
            for z in zs:
                raw = read_counter(os.path.join(z.path, "energy_uj"))
                self._total_uj[domain] += self._delta(z, self._last_uj[z.path], raw, dt)
                self._last_uj[z.path] = raw
        self._last_t = now
        return Reading(now, dict(self._total_uj))

    def _delta(self, z: Zone, last: int, raw: int, dt: float) -> int:
        if raw >= last:
            return raw - last
        # The counter restarts at 0 after max_energy_range_uj (one hardware unit, a few tens of uJ, is lost
        # per wrap). Two wraps between reads cannot be told from one. A wrap that would mean more than the
        # zone's maximum power is a reset: count from zero.
        wrapped = raw + z.max_energy_range_uj - last
        if wrapped / 1e6 / dt <= z.max_power_w:
            return wrapped
        from raybench.energy._log import say_once

        self.resets += 1
        say_once(f"powercap-reset-{z.path}", f"RAPL counter {z.entry} ({z.name}) went back from {last} to {raw} uJ, "
                 f"which as a wrap would mean {wrapped / 1e6 / dt:.0f} W (its maximum is {z.max_power_w:.0f} W): "
                 "counted as a counter reset, from zero")
        return raw

    def close(self) -> None:
        pass
