"""Who used which joule: the interval split (energy/_interval.py) added up over many samples and nodes.

Per node, interval and domain the energy goes to four kinds of bucket: each trial's active joules
(cpu, dram, gpu), each trial's share of the idle baseline for what it reserved ("idle_reserved"), the
phases "startup" (a worker's first imports and data loading) and "final_test", and "unattributed"
(unreserved idle, Ray, the OS, other users, GPUs nobody holds). They sum to the node total in every
interval; `EnergyLedger.accounting_check()` reports how far the floating-point sum landed, which says
the books add up, not how accurate the measurement is.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

from raybench.energy._interval import (
    PHASES,
    RESOURCE_OF_DOMAIN,
    TRIAL_KEYS,
    IntervalAttribution,
    attribute_interval,
)
from raybench.energy._types import DOMAINS, ESTIMATED, MEASURED, NONE

__all__ = ["PHASES", "RESOURCE_OF_DOMAIN", "TRIAL_KEYS", "EnergyLedger", "IntervalAttribution", "attribute_interval",
           "provenance_label"]
# Per trial, beside TRIAL_KEYS: the range of its active and idle joules (equal to them where all was measured).
RANGE_KEYS = ("active_low_j", "active_high_j", "idle_low_j", "idle_high_j")


def provenance_label(kinds: Iterable[str]) -> str:
    """One label for a domain seen with these provenances: "none" only when nothing else was seen.

    "mixed" is returned only together with the joules of each kind (EnergyLedger.provenance_j),
    so a mixed figure is never reported without its make-up.
    """
    seen = set(kinds) - {NONE}
    if not seen:
        return NONE
    return seen.pop() if len(seen) == 1 else "mixed"


class EnergyLedger:
    """Attributes energy_sample payloads from many nodes and adds them up per trial and bucket."""

    def __init__(self) -> None:
        self._baseline: dict[str, dict[str, Any]] = {}
        self._trials: dict[int, dict[str, float]] = {}
        self._ranges: dict[int, dict[str, float]] = {}
        self._trial_kinds: dict[int, dict[str, set[str]]] = {}
        self._trial_idle: dict[int, dict[str, float]] = {}
        self._phases = dict.fromkeys(PHASES, 0.0)
        self._unattributed = dict.fromkeys(DOMAINS, 0.0)
        self._unattributed_idle = 0.0
        self._total = dict.fromkeys(DOMAINS, 0.0)
        self._total_range = [0.0, 0.0]
        self._kinds: dict[str, set[str]] = {d: set() for d in DOMAINS}
        self._by_kind = {d: {MEASURED: 0.0, ESTIMATED: 0.0} for d in DOMAINS}
        self._abs_interval_error = 0.0
        self.n_samples = 0
        self.n_gaps = 0

    def add_baseline(self, payload: Mapping[str, Any]) -> None:
        """A node_baseline payload: the idle power (and per-GPU idle power) for that node's later samples."""
        self._baseline[str(payload.get("node_id", ""))] = {
            "power_w": {d: float(v or 0.0) for d, v in (payload.get("power_w") or {}).items()},
            "gpu_power_w": {int(i): float(v or 0.0) for i, v in (payload.get("gpu_power_w") or {}).items()},
        }

    def baseline_w(self, node_id: str) -> dict[str, float]:
        return dict(self._baseline.get(str(node_id), {}).get("power_w", {}))

    def add_sample(self, payload: Mapping[str, Any]) -> IntervalAttribution:
        a = attribute_interval(payload, self._baseline.get(str(payload.get("node_id", ""))))
        lo_hi = {d: a.range.get(d, (1.0, 1.0)) for d in DOMAINS}
        for tid, parts in a.trials.items():
            acc = self._trials.setdefault(tid, dict.fromkeys(TRIAL_KEYS, 0.0))
            for k, v in parts.items():
                acc[k] += v
            rng = self._ranges.setdefault(tid, dict.fromkeys(RANGE_KEYS, 0.0))
            idle = a.idle_by_domain.get(tid, {})
            kinds = self._trial_kinds.setdefault(tid, {d: set() for d in DOMAINS})
            idle_acc = self._trial_idle.setdefault(tid, dict.fromkeys(DOMAINS, 0.0))
            for d in DOMAINS:
                idle_acc[d] += idle.get(d, 0.0)
                lo, hi = lo_hi[d]
                rng["active_low_j"] += parts[f"{d}_j"] * lo
                rng["active_high_j"] += parts[f"{d}_j"] * hi
                rng["idle_low_j"] += idle.get(d, 0.0) * lo
                rng["idle_high_j"] += idle.get(d, 0.0) * hi
                if parts[f"{d}_j"] or idle.get(d, 0.0):
                    kinds[d].add(a.provenance.get(d, NONE))
        for p, parts in a.phases.items():
            self._phases[p] += math.fsum(parts.values())
        for d in DOMAINS:
            self._unattributed[d] += a.unattributed_j[d]
            self._total[d] += a.total_j[d]
            self._total_range[0] += a.total_j[d] * lo_hi[d][0]
            self._total_range[1] += a.total_j[d] * lo_hi[d][1]
            kind = a.provenance.get(d, NONE)
            self._kinds[d].add(kind)
            if kind in self._by_kind[d]:
                self._by_kind[d][kind] += a.total_j[d]
        self._unattributed_idle += a.unattributed_idle_j
        self._abs_interval_error += abs(a.error_j)
        self.n_samples += 1
        self.n_gaps += bool(payload.get("gap"))
        return a

    def trial(self, trial_id: int) -> dict[str, float]:
        """cpu_j, dram_j, gpu_j, idle_reserved_j of one trial so far (zeros if never seen)."""
        return dict(self._trials.get(int(trial_id), dict.fromkeys(TRIAL_KEYS, 0.0)))

    def trials(self) -> dict[int, dict[str, float]]:
        return {tid: dict(v) for tid, v in self._trials.items()}

    def trial_range(self, trial_id: int) -> dict[str, float]:
        """active_low_j, active_high_j, idle_low_j, idle_high_j: equal to the figures where all was measured."""
        return dict(self._ranges.get(int(trial_id), dict.fromkeys(RANGE_KEYS, 0.0)))

    def trial_idle_by_domain(self, trial_id: int) -> dict[str, float]:
        """A trial's idle_reserved_j split by domain (cpu, dram, gpu)."""
        return dict(self._trial_idle.get(int(trial_id), dict.fromkeys(DOMAINS, 0.0)))

    def trial_provenance(self, trial_id: int) -> str:
        """measured, estimated, mixed or none, over every domain that gave this trial energy."""
        kinds = self._trial_kinds.get(int(trial_id), {})
        return provenance_label(k for d in DOMAINS for k in kinds.get(d, ()))

    def buckets(self) -> dict[str, float]:
        t = self._trials.values()
        return {
            "trials_j": math.fsum(v[k] for v in t for k in ("cpu_j", "dram_j", "gpu_j")),
            "idle_reserved_j": math.fsum(v["idle_reserved_j"] for v in t),
            **{f"{p}_j": self._phases[p] for p in PHASES},
            "unattributed_j": math.fsum(self._unattributed.values()),
            "unattributed_idle_j": self._unattributed_idle,
            "total_j": math.fsum(self._total.values()),
        }

    def total_by_domain(self) -> dict[str, float]:
        return dict(self._total)

    def total_range_j(self) -> tuple[float, float]:
        """(low, high) of the node total: estimated joules scaled by their range factors, measured ones as read."""
        return self._total_range[0], self._total_range[1]

    def accounting_check(self) -> dict[str, float]:
        """How far the buckets' sum is from the total. Always about zero: it checks the bookkeeping, and says
        nothing about how close the measured or estimated energy is to the truth."""
        b = self.buckets()
        parts = [b["trials_j"], b["idle_reserved_j"], b["unattributed_j"], *(b[f"{p}_j"] for p in PHASES)]
        err = abs(b["total_j"] - math.fsum(parts))
        return {
            "abs_error_j": err,
            "rel_error": err / b["total_j"] if b["total_j"] > 0 else 0.0,
            "sum_abs_interval_error_j": self._abs_interval_error,
        }

    balance = accounting_check  # the old name, for callers not yet moved

    def provenance(self) -> dict[str, str]:
        return {d: provenance_label(self._kinds[d]) for d in DOMAINS}

    def provenance_j(self) -> dict[str, dict[str, float]]:
        """Per domain, the joules that were measured and those that were estimated."""
        return {d: dict(v) for d, v in self._by_kind.items()}

    def summary(self) -> dict[str, Any]:
        return {
            "trials": self.trials(),
            "buckets": self.buckets(),
            "total_by_domain_j": self.total_by_domain(),
            "accounting_check": self.accounting_check(),
            "provenance": self.provenance(),
            "provenance_j": self.provenance_j(),
            "n_samples": self.n_samples,
            "n_gaps": self.n_gaps,
        }
