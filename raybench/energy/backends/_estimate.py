"""An energy estimate for machines whose counters cannot be read. Everything it returns is "estimated".

    P_cpu  = TDP * (idle_fraction + (1 - idle_fraction) * u)    u = busy share of all logical CPUs
    P_dram = ram_w_per_gb * installed GB                        (constant: DRAM power barely follows load)

TDP is `cpu_tdp_w` when given, else 10 W per logical CPU. docs/energy.md gives the sources.
Energy is integrated between reads with the utilization measured over the same interval, so the
estimate follows load at the rate the caller reads.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

import psutil

from raybench.energy._cputime import node_cpu_s
from raybench.energy._types import ESTIMATED, Reading

DEFAULT_W_PER_CPU = 10.0
DEFAULT_IDLE_FRACTION = 0.3
DEFAULT_RAM_W_PER_GB = 0.375


class EstimateBackend:
    """Cumulative modelled energy for "cpu" and/or "dram"."""

    name = "estimate"

    def __init__(
        self,
        *,
        cpu_tdp_w: float | None = None,
        cpu_idle_fraction: float = DEFAULT_IDLE_FRACTION,
        ram_w_per_gb: float = DEFAULT_RAM_W_PER_GB,
        domains: Iterable[str] = ("cpu", "dram"),
        logical_cpus: int | None = None,
        memory_bytes: int | None = None,
        cpu_times: Callable[[], tuple[float, float]] = node_cpu_s,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if cpu_tdp_w is not None and cpu_tdp_w <= 0:
            raise ValueError(f"cpu_tdp_w must be > 0, got {cpu_tdp_w}")
        if not 0 <= cpu_idle_fraction <= 1:
            raise ValueError(f"cpu_idle_fraction must be in [0, 1], got {cpu_idle_fraction}")
        if ram_w_per_gb < 0:
            raise ValueError(f"ram_w_per_gb must be >= 0, got {ram_w_per_gb}")
        self.domains = tuple(domains)
        unknown = set(self.domains) - {"cpu", "dram"}
        if unknown:
            raise ValueError(f"the estimator models 'cpu' and 'dram', got {sorted(unknown)}")
        n_cpus = logical_cpus or psutil.cpu_count(logical=True) or 1
        self.cpu_tdp_w = float(cpu_tdp_w) if cpu_tdp_w is not None else DEFAULT_W_PER_CPU * n_cpus
        self.cpu_idle_fraction = cpu_idle_fraction
        mem = memory_bytes if memory_bytes is not None else psutil.virtual_memory().total
        self.dram_w = ram_w_per_gb * mem / 2**30  # "GB" of RAM as sold: GiB
        self.provenance = {d: ESTIMATED for d in self.domains}
        self._cpu_times = cpu_times
        self._clock = clock
        self._last_t = clock()
        self._last_busy, self._last_total = cpu_times()
        self._total_uj = dict.fromkeys(self.domains, 0.0)

    def cpu_power_w(self, utilization: float) -> float:
        u = min(max(utilization, 0.0), 1.0)
        return self.cpu_tdp_w * (self.cpu_idle_fraction + (1.0 - self.cpu_idle_fraction) * u)

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
