"""An energy estimate for machines whose counters cannot be read. Everything it returns is "estimated".

    P_cpu  = TDP * (idle_fraction + (1 - idle_fraction) * u)    u = busy share of all logical CPUs
    P_dram = w_per_dimm * DIMMs                                 (constant: DRAM power barely follows load)

TDP comes from energy/_tdp.py (config, RAPL PL1, the CPU table, or watts per physical core), and which
one was used is said once. DIMMs are counted from EDAC sysfs where the kernel lists them, else guessed
from the installed memory (`dimm_count`). `ram_w_per_gb`, when set, replaces the DIMM model by watts per
GB. Every figure comes with a range (`estimate_range`, factors for low and high): docs/energy.md gives
the basis. Energy is integrated between reads with the utilization measured over the same interval.
"""

from __future__ import annotations

import glob
import logging
import math
import time
from collections.abc import Callable, Iterable
from typing import Optional

import psutil

from raybench.energy._cputime import node_cpu_s
from raybench.energy._log import say_once
from raybench.energy._tdp import TdpChoice, resolve_tdp
from raybench.energy._types import ESTIMATED, Reading

DEFAULT_IDLE_FRACTION = 0.3
DEFAULT_W_PER_DIMM = 3.0
# CodeCarbon's accuracy notes compare its TDP-based estimate with RAPL on four CPUs and find it off by
# -60 % to +190 %. With estimate = truth * (1 + e), the truth lies in [estimate / 2.9, estimate / 0.4].
CPU_RANGE = (1 / 2.9, 1 / 0.4)
# Per DIMM, CodeCarbon uses 1.5 W (ARM) and 5 W (x86); our 3 W sits between, and the range spans both.
DRAM_RANGE = (1.5 / DEFAULT_W_PER_DIMM, 5.0 / DEFAULT_W_PER_DIMM)


def dimm_count(memory_bytes: int, *, edac: str = "/sys/devices/system/edac/mc") -> tuple[int, str]:
    """(DIMMs, how it was found): EDAC's list where the kernel has one, else a guess from the memory size.

    The guess assumes the common module size for that much memory: 8 GiB up to 16 GiB, 16 GiB up to
    128 GiB, 32 GiB up to 512 GiB, 64 GiB beyond, and at least one module.
    """
    found = glob.glob(f"{edac}/mc*/dimm*/size") or glob.glob(f"{edac}/mc*/rank*/size")
    sizes = []
    for path in found:
        try:
            with open(path) as f:
                sizes.append(int(f.read()))
        except (OSError, ValueError):
            continue
    if any(sizes):
        return sum(1 for v in sizes if v > 0), "EDAC"
    gib = memory_bytes / 2**30
    module = 8 if gib <= 16 else 16 if gib <= 128 else 32 if gib <= 512 else 64
    return max(1, math.ceil(gib / module - 1e-9)), f"{gib:.0f} GiB in {module} GiB modules (guessed)"


class EstimateBackend:
    """Cumulative modelled energy for "cpu" and/or "dram"."""

    name = "estimate"

    def __init__(
        self,
        *,
        cpu_tdp_w: float | None = None,
        cpu_idle_fraction: float = DEFAULT_IDLE_FRACTION,
        ram_w_per_gb: Optional[float] = None,
        dram_w_per_dimm: float = DEFAULT_W_PER_DIMM,
        domains: Iterable[str] = ("cpu", "dram"),
        logical_cpus: int | None = None,
        physical_cores: int | None = None,
        memory_bytes: int | None = None,
        dimms: int | None = None,
        powercap_root: str = "/sys/class/powercap",
        cpu_times: Callable[[], tuple[float, float]] = node_cpu_s,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if cpu_tdp_w is not None and cpu_tdp_w <= 0:
            raise ValueError(f"cpu_tdp_w must be > 0, got {cpu_tdp_w}")
        if not 0 <= cpu_idle_fraction <= 1:
            raise ValueError(f"cpu_idle_fraction must be in [0, 1], got {cpu_idle_fraction}")
        if ram_w_per_gb is not None and ram_w_per_gb < 0:
            raise ValueError(f"ram_w_per_gb must be >= 0, got {ram_w_per_gb}")
        if dram_w_per_dimm < 0:
            raise ValueError(f"dram_w_per_dimm must be >= 0, got {dram_w_per_dimm}")
        self.domains = tuple(domains)
        unknown = set(self.domains) - {"cpu", "dram"}
        if unknown:
            raise ValueError(f"the estimator models 'cpu' and 'dram', got {sorted(unknown)}")
        self.tdp: Optional[TdpChoice] = None
        self.cpu_tdp_w = 0.0
        if "cpu" in self.domains:
            if cpu_tdp_w is None and physical_cores is None and logical_cpus is not None:
                physical_cores = logical_cpus
            self.tdp = resolve_tdp(cpu_tdp_w=cpu_tdp_w, powercap_root=powercap_root, physical_cores=physical_cores)
            self.cpu_tdp_w = self.tdp.tdp_w
            say_once(f"tdp-{self.tdp.source}-{self.tdp.tdp_w:.1f}",
                     f"estimator: CPU TDP {self.tdp.tdp_w:.1f} W from {self.tdp.source} ({self.tdp.detail})",
                     level=logging.INFO)
        self.cpu_idle_fraction = cpu_idle_fraction
        mem = memory_bytes if memory_bytes is not None else psutil.virtual_memory().total
        if ram_w_per_gb is not None:
            self.dram_w = ram_w_per_gb * mem / 2**30  # "GB" of RAM as sold: GiB
            self.dram_basis = f"{ram_w_per_gb:g} W per GB x {mem / 2**30:.0f} GB"
        else:
            n, how = (dimms, "given") if dimms is not None else dimm_count(mem)
            self.dram_w = dram_w_per_dimm * n
            self.dram_basis = f"{dram_w_per_dimm:g} W per DIMM x {n} DIMMs ({how})"
        if "dram" in self.domains:
            say_once(f"dram-model-{self.dram_w:.2f}", f"estimator: DRAM {self.dram_w:.1f} W = {self.dram_basis}",
                     level=logging.INFO)
        self.provenance = {d: ESTIMATED for d in self.domains}
        self.estimate_range = {d: {"cpu": CPU_RANGE, "dram": DRAM_RANGE}[d] for d in self.domains}
        self._cpu_times = cpu_times
        self._clock = clock
        self._last_t = clock()
        self._last_busy, self._last_total = cpu_times()
        self._total_uj = dict.fromkeys(self.domains, 0.0)

    def cpu_power_w(self, utilization: float) -> float:
        u = min(max(utilization, 0.0), 1.0)
        return self.cpu_tdp_w * (self.cpu_idle_fraction + (1.0 - self.cpu_idle_fraction) * u)

    def idle_power_w(self) -> dict[str, float]:
        """The model's power of an idle node (no CPU busy): the baseline of a node that is only estimated.
        Measuring it would read whatever else the machine runs at the time as idle."""
        out = {}
        if "cpu" in self.domains:
            out["cpu"] = self.cpu_power_w(0.0)
        if "dram" in self.domains:
            out["dram"] = self.dram_w
        return out

    def read(self) -> Reading:
        now = self._clock()
        busy, total = self._cpu_times()
        dt = max(now - self._last_t, 0.0)
        d_total = total - self._last_total
        u = (busy - self._last_busy) / d_total if d_total > 0 else 0.0
        if "cpu" in self._total_uj:
            self._total_uj["cpu"] += self.cpu_power_w(u) * dt * 1e6
        if "dram" in self._total_uj:
            self._total_uj["dram"] += self.dram_w * dt * 1e6
        self._last_t, self._last_busy, self._last_total = now, busy, total
        return Reading(now, {d: int(v) for d, v in self._total_uj.items()})

    def close(self) -> None:
        pass
