"""Efficiency metrics of an experiment, as a plain dict for summary.json. docs/metrics.md has the formulas.

Input is per-trial records (what each trial reserved, how long it ran, the joules attributed to it
and whether it improved the best result when it completed) and experiment-level figures (JCT, the
energy buckets, provenance, prices and carbon). Nothing here measures or calls the runtime.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Optional

from raybench.energy._types import DOMAINS
from raybench.energy.attribution import provenance_label

STATUSES = ("completed", "pruned", "failed")
# Defaults equal raybench.config's CostSpec and CarbonSpec; docs/metrics.md gives their sources.
DEFAULT_PRICES = {"currency": "USD", "cpu_hour": 0.0316, "gb_hour": 0.0042, "gpu_hour": 2.93, "tpu_hour": 1.20}
# "gas" says what g_per_kwh counts: the IEA's 475 g/kWh is CO2 only, a CO2e factor would say "CO2e".
DEFAULT_CARBON = {"g_per_kwh": 475.0, "pue": 1.58, "gas": "CO2"}
J_PER_KWH = 3.6e6


@dataclass(frozen=True)
class TrialRecord:
    """One finished trial. energy_j: "cpu", "dram", "gpu" and "idle_reserved" in joules."""

    trial_id: int
    status: str
    start_s: float
    end_s: float
    duration_s: float
    cpus: float = 0.0
    memory_mb: float = 0.0
    gpus: float = 0.0
    tpus: float = 0.0
    energy_j: Mapping[str, float] = field(default_factory=dict)
    improved_best: bool = False
    completion_order: Optional[int] = None
    metric: Optional[float] = None

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"status must be one of {', '.join(STATUSES)}, got {self.status!r}")
        if self.duration_s < 0:
            raise ValueError(f"duration_s must be >= 0, got {self.duration_s}")
        # Accept the ledger's names (cpu_j, idle_reserved_j) as well as the bare ones.
        clean = {k.removesuffix("_j"): float(v) for k, v in self.energy_j.items()}
        object.__setattr__(self, "energy_j", clean)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> TrialRecord:
        reserved = d.get("reserved") or {}
        return cls(
            trial_id=int(d["trial_id"]),
            status=str(d["status"]),
            start_s=float(d.get("start_s", 0.0)),
            end_s=float(d.get("end_s", 0.0)),
            duration_s=float(d.get("duration_s", float(d.get("end_s", 0.0)) - float(d.get("start_s", 0.0)))),
            cpus=float(d.get("cpus", reserved.get("cpus", 0.0))),
            memory_mb=float(d.get("memory_mb", reserved.get("memory_mb", 0.0))),
            gpus=float(d.get("gpus", reserved.get("gpus", 0.0))),
            tpus=float(d.get("tpus", reserved.get("tpus", 0.0))),
            energy_j=dict(d.get("energy_j") or {}),
            improved_best=bool(d.get("improved_best", False)),
            completion_order=d.get("completion_order"),
            metric=d.get("metric"),
        )

    @property
    def active_j(self) -> float:
        return math.fsum(self.energy_j.get(k, 0.0) for k in DOMAINS)

    @property
    def footprint_j(self) -> float:
        """Active energy plus the idle share of what it reserved: what running it cost the node."""
        return self.active_j + self.energy_j.get("idle_reserved", 0.0)

    @property
    def waste_reason(self) -> Optional[str]:
        if self.status != "completed":
            return self.status
        return None if self.improved_best else "no_improvement"


def trial_cost(rec: TrialRecord, prices: Mapping[str, Any]) -> dict[str, float]:
    """Reserved resource-hours times price, per resource and in total."""
    h = rec.duration_s / 3600.0
    parts = {
        "cpu": rec.cpus * h * float(prices.get("cpu_hour", 0.0)),
        "memory": rec.memory_mb / 1024.0 * h * float(prices.get("gb_hour", 0.0)),
        "gpu": rec.gpus * h * float(prices.get("gpu_hour", 0.0)),
        "tpu": rec.tpus * h * float(prices.get("tpu_hour", 0.0)),
    }
    parts["total"] = math.fsum(parts.values())
    return parts


def trial_metrics(rec: TrialRecord, prices: Mapping[str, Any] | None = None) -> dict[str, Any]:
    prices = {**DEFAULT_PRICES, **(prices or {})}
    e = {d: rec.energy_j.get(d, 0.0) for d in DOMAINS}
    return {
        "trial_id": rec.trial_id,
        "status": rec.status,
        "duration_s": rec.duration_s,
        "energy_j": {**e, "total": rec.active_j, "idle_reserved": rec.energy_j.get("idle_reserved", 0.0),
                     "with_idle": rec.footprint_j},
        "avg_power_w": rec.active_j / rec.duration_s if rec.duration_s > 0 else 0.0,
        "cost": trial_cost(rec, prices)["total"],
        "wasted": rec.waste_reason is not None,
        "waste_reason": rec.waste_reason,
    }


def _frac(part: float, whole: float) -> Optional[float]:
    return part / whole if whole > 0 else None


def experiment_metrics(
    trials: Iterable[TrialRecord | Mapping[str, Any]],
    *,
    jct_s: float,
    buckets: Mapping[str, float] | None = None,
    provenance: Mapping[str, str] | None = None,
    provenance_j: Mapping[str, Mapping[str, float]] | None = None,
    prices: Mapping[str, Any] | None = None,
    carbon: Mapping[str, float] | None = None,
) -> dict[str, Any]:
    """Every experiment-level metric, and the per-trial ones, as one JSON-ready dict.

    buckets: EnergyLedger.buckets() (the node total with its trials/idle_reserved/unattributed split).
    Without it the total is the trials' own footprint and unattributed energy is unknown (None).
    """
    recs = [t if isinstance(t, TrialRecord) else TrialRecord.from_dict(t) for t in trials]
    prices = {**DEFAULT_PRICES, **(prices or {})}
    carbon = {**DEFAULT_CARBON, **(carbon or {})}
    per_trial = [trial_metrics(r, prices) for r in recs]
    costs = {r.trial_id: trial_cost(r, prices) for r in recs}

    active_j = math.fsum(r.active_j for r in recs)
    idle_reserved_j = math.fsum(r.energy_j.get("idle_reserved", 0.0) for r in recs)
    footprint_j = active_j + idle_reserved_j
    if buckets is not None:
        total_j = float(buckets["total_j"])
        unattributed_j: Optional[float] = float(buckets.get("unattributed_j", 0.0))
        unattributed_idle_j: Optional[float] = buckets.get("unattributed_idle_j")
    else:
        total_j, unattributed_j, unattributed_idle_j = footprint_j, None, None
    trial_time_s = math.fsum(r.duration_s for r in recs)
    oc = math.fsum(c["total"] for c in costs.values())
    n_completed = sum(r.status == "completed" for r in recs)

    by_reason: dict[str, dict[str, float]] = {}
    for r in recs:
        reason = r.waste_reason
        if reason is None:
            continue
        acc = by_reason.setdefault(reason, {"n": 0, "energy_j": 0.0, "time_s": 0.0, "cost": 0.0})
        acc["n"] += 1
        acc["energy_j"] += r.footprint_j
        acc["time_s"] += r.duration_s
        acc["cost"] += costs[r.trial_id]["total"]
    wte = math.fsum(v["energy_j"] for v in by_reason.values())
    wtt = math.fsum(v["time_s"] for v in by_reason.values())
    wtc = math.fsum(v["cost"] for v in by_reason.values())

    kwh = total_j / J_PER_KWH  # component energy (CPU, DRAM, GPU): PUE multiplies this, nothing else
    co2e_g = kwh * carbon["pue"] * carbon["g_per_kwh"]
    wr_w = idle_reserved_j / jct_s if jct_s > 0 else 0.0
    twh = footprint_j / 3600.0

    prov = {d: (provenance or {}).get(d, "none") for d in DOMAINS}
    energy_label = provenance_label(prov[d] for d in DOMAINS)
    return {
        "trials": per_trial,
        "counts": {"trials": len(recs), **{s: sum(r.status == s for r in recs) for s in STATUSES}},
        "jct_s": jct_s,
        "energy": {
            "total_j": total_j,
            "trials_j": active_j,
            "idle_reserved_j": idle_reserved_j,
            "unattributed_j": unattributed_j,
            "unattributed_idle_j": unattributed_idle_j,
            "trial_watt_hours": twh,
            "avg_trial_power_w": active_j / trial_time_s if trial_time_s > 0 else 0.0,
            "per_completed_trial_j": total_j / n_completed if n_completed else None,
        },
        "waste": {
            "energy_j": wte,
            "time_s": wtt,
            "cost": wtc,
            "energy_fraction": _frac(wte, footprint_j),
            "time_fraction": _frac(wtt, trial_time_s),
            "cost_fraction": _frac(wtc, oc),
            "by_reason": by_reason,
        },
        "idle": {"idle_reserved_j": idle_reserved_j, "idle_reserved_power_w": wr_w,
                 "unattributed_idle_j": unattributed_idle_j},
        "cost": {
            "currency": prices["currency"],
            "total": oc,
            "by_resource": {k: math.fsum(c[k] for c in costs.values()) for k in ("cpu", "memory", "gpu", "tpu")},
            "prices": {k: prices[k] for k in ("cpu_hour", "gb_hour", "gpu_hour", "tpu_hour")},
        },
        # co2e_g keeps its name for old readers; `gas` says whether it is CO2 or CO2e (that of g_per_kwh).
        "carbon": {"kwh": kwh, "pue": carbon["pue"], "g_per_kwh": carbon["g_per_kwh"], "co2e_g": co2e_g,
                   "gas": carbon.get("gas", "CO2")},
        "provenance": {**prov, "energy": energy_label},
        "provenance_j": {d: dict(v) for d, v in (provenance_j or {}).items()},
        # The same figures under the names basht uses (definitions in docs/metrics.md).
        "basht": {"JCT": jct_s, "TWH": twh, "CINT": co2e_g, "OC": oc, "WTE": wte, "WTT": wtt, "WTC": wtc, "WR": wr_w},
    }


def improved_flags(values: Iterable[Optional[float]], mode: str = "max") -> list[bool]:
    """For results in completion order: whether each one beat every earlier one. None never improves."""
    if mode not in ("max", "min"):
        raise ValueError(f"mode must be 'max' or 'min', got {mode!r}")
    sign = 1.0 if mode == "max" else -1.0
    best = -math.inf
    out = []
    for v in values:
        better = v is not None and not math.isnan(v) and sign * v > best
        if better:
            best = sign * v
        out.append(better)
    return out


def anytime_curve(completions: Iterable[Mapping[str, Any]], mode: str = "max") -> list[dict[str, Any]]:
    """The best-so-far curve. Each completion (in order) has "metric" (None for a failed trial) and the
    experiment's cumulative "energy_j" and "time_s" at that moment. One point per completion."""
    items = list(completions)
    flags = improved_flags((c.get("metric") for c in items), mode)
    curve, best = [], None
    for i, (c, better) in enumerate(zip(items, flags), start=1):
        if better:
            best = c["metric"]
        curve.append({"order": i, "energy_j": float(c["energy_j"]), "time_s": float(c["time_s"]),
                      "metric": c.get("metric"), "best": best, "improved": better})
    return curve
