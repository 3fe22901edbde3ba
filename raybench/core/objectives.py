"""A trial's objective values: what the workload reported, and what the runtime measured (energy, time,
money, carbon). The measured ones are final only once the energy sample covering the trial's end arrived."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Optional

from raybench.energy.metrics import DEFAULT_CARBON, DEFAULT_PRICES, J_PER_KWH, TrialRecord, trial_cost

MEASURED = ("energy_j", "energy_with_idle_j", "time_s", "cost", "co2e_g")
NEEDS_ENERGY = frozenset(MEASURED) - {"time_s"}


def measured_values(energy_j: Mapping[str, float], *, duration_s: float, resources: Mapping[str, Any],
                    prices: Optional[Mapping[str, Any]] = None,
                    carbon: Optional[Mapping[str, Any]] = None) -> dict[str, float]:
    """The measured objectives of one trial from its attributed joules (the ledger's cpu_j, dram_j, gpu_j,
    idle_reserved_j), its duration and what it reserved. The same figures as trials.csv and summary.json."""
    rec = TrialRecord(trial_id=0, status="completed", start_s=0.0, end_s=duration_s, duration_s=max(duration_s, 0.0),
                      cpus=float(resources.get("cpus", 0.0)), memory_mb=float(resources.get("memory_mb", 0.0)),
                      gpus=float(resources.get("gpus", 0.0)), tpus=float(resources.get("tpus", 0.0)),
                      energy_j={k: v for k, v in energy_j.items() if k in ("cpu_j", "dram_j", "gpu_j",
                                                                             "idle_reserved_j")})
    carbon = {**DEFAULT_CARBON, **(carbon or {})}
    kwh = rec.footprint_j / J_PER_KWH
    return {
        "energy_j": rec.active_j,
        "energy_with_idle_j": rec.footprint_j,
        "time_s": rec.duration_s,
        "cost": trial_cost(rec, {**DEFAULT_PRICES, **(prices or {})})["total"],
        # PUE multiplies the component energy; the grid's intensity turns kWh into grams (docs/metrics.md).
        "co2e_g": kwh * float(carbon["pue"]) * float(carbon["g_per_kwh"]),
    }


def objective_values(names: list[str], reported: Mapping[str, Any], measured: Mapping[str, float]) -> dict[str, float]:
    """Each objective's value by name: measured ones from `measured`, the rest from the last report
    (NaN where the workload did not report it)."""
    out = {}
    for name in names:
        v = measured.get(name) if name in MEASURED else reported.get(name)
        out[name] = float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else math.nan
    return out
