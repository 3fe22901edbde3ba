"""The CPU's TDP for the estimator, from the best source this machine offers, saying which one it used.

In order:
1. `energy.cpu_tdp_w` when the user set it;
2. RAPL's long-term power limit (`constraint_0_power_limit_uw`, PL1) of every package zone, which is
   usually readable even where `energy_uj` is root-only;
3. the shipped table of CPU models (data/cpu_tdp.csv, from the vendors' specification pages), scaled to
   the physical cores this machine sees when it sees fewer than the chip has (a VM's share);
4. watts per physical core, the median over that table, times the physical cores.
"""

from __future__ import annotations

import csv
import os
import statistics
from dataclasses import dataclass
from functools import cache
from typing import Optional

import psutil

TABLE = os.path.join(os.path.dirname(__file__), "data", "cpu_tdp.csv")


@dataclass(frozen=True)
class TdpChoice:
    """tdp_w for all the CPUs this machine sees; source: config, rapl-pl1, cpu-table or per-core."""

    tdp_w: float
    source: str
    detail: str


@cache
def cpu_table(path: str = TABLE) -> tuple[tuple[str, float, int], ...]:
    with open(path, newline="") as f:
        rows = csv.DictReader(line for line in f if not line.startswith("#"))
        return tuple((r["model"], float(r["tdp_w"]), int(r["cores"])) for r in rows)


def watts_per_core(path: str = TABLE) -> float:
    return statistics.median(tdp / cores for _m, tdp, cores in cpu_table(path))


def cpu_model_and_sockets(cpuinfo: str = "/proc/cpuinfo") -> tuple[str, int]:
    model, sockets = "", set()
    try:
        with open(cpuinfo) as f:
            for line in f:
                key, _, value = line.partition(":")
                key = key.strip()
                if key == "model name" and not model:
                    model = value.strip()
                elif key == "physical id":
                    sockets.add(value.strip())
    except OSError:
        pass
    return model, max(len(sockets), 1)


def rapl_pl1_w(powercap_root: str) -> Optional[float]:
    """Sum of PL1 over the package zones, or None when no package publishes one."""
    from raybench.energy.backends._powercap import PowercapUnreadable, discover_zones, select_zones

    try:
        packages = [z for z in select_zones(discover_zones(powercap_root)).get("cpu", []) if z.name.startswith("package")]
    except PowercapUnreadable:
        return None
    total = 0.0
    for z in packages:
        try:
            with open(os.path.join(z.path, "constraint_0_power_limit_uw")) as f:
                total += float(f.read()) / 1e6
        except (OSError, ValueError):
            return None
    return total or None


def resolve_tdp(*, cpu_tdp_w: Optional[float] = None, powercap_root: str = "/sys/class/powercap",
                cpuinfo: str = "/proc/cpuinfo", physical_cores: Optional[int] = None) -> TdpChoice:
    if cpu_tdp_w is not None:
        return TdpChoice(float(cpu_tdp_w), "config", f"energy.cpu_tdp_w = {cpu_tdp_w:g} W")
    pl1 = rapl_pl1_w(powercap_root)
    if pl1:
        return TdpChoice(pl1, "rapl-pl1", f"RAPL package power limit (PL1) under {powercap_root}: {pl1:g} W")
    cores = physical_cores or psutil.cpu_count(logical=False) or psutil.cpu_count() or 1
    model, sockets = cpu_model_and_sockets(cpuinfo)
    hits = [row for row in cpu_table() if row[0].lower() in model.lower()]
    if hits:
        name, tdp, chip_cores = max(hits, key=lambda r: len(r[0]))
        if cores < chip_cores * sockets:  # a VM or container sees part of the chip
            return TdpChoice(tdp * cores / chip_cores, "cpu-table",
                             f"{name}: {tdp:g} W for {chip_cores} cores, scaled to the {cores} cores seen here")
        return TdpChoice(tdp * sockets, "cpu-table", f"{name}: {tdp:g} W x {sockets} socket(s)")
    w = watts_per_core()
    return TdpChoice(w * cores, "per-core", f"{model or 'unknown CPU'} is not in the table: {w:.2f} W per physical "
                     f"core (the table's median) x {cores} cores")
