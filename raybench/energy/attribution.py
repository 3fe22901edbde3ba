"""Who used which joule: pure functions over energy_sample and node_baseline payloads.

Per node, interval and domain (cpu, dram, gpu), with E the measured energy and P the node's idle
baseline power:

    idle    B = min(P * dt, E)          split by reserved resources (cpus, memory_mb, gpus) over the
                                        node's resources -> each trial's "idle_reserved"; the
                                        unreserved rest -> "unattributed"
    dynamic D = E - B                   cpu and dram: D * trial_cpu_s / node_cpu_s per trial
                                        gpu: D * (joules of the trial's GPUs) / (joules of all GPUs)
                                        the rest (Ray, the OS, other users) -> "unattributed"

So for every interval  sum(trials) + sum(idle_reserved) + unattributed == E, and each function
returns how far from that its floating-point sum landed.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from raybench.energy._types import DOMAINS, ESTIMATED, MEASURED, NONE

RESOURCE_OF_DOMAIN = {"cpu": "cpus", "dram": "memory_mb", "gpu": "gpus"}
TRIAL_KEYS = ("cpu_j", "dram_j", "gpu_j", "idle_reserved_j")


def _shares(weights: Mapping[int, float], whole: float) -> dict[int, float]:
    """weight / max(whole, sum of weights): fractions that never add up to more than 1."""
    clean = {k: max(float(w), 0.0) for k, w in weights.items()}
    denom = max(whole, math.fsum(clean.values()))
    return {k: (w / denom if denom > 0 else 0.0) for k, w in clean.items()}


def _int_keys(m: Mapping[Any, Any] | None) -> dict[int, Any]:
    # msgpack keeps int keys; JSON turns them into strings. Accept both.
    return {int(k): v for k, v in (m or {}).items()}


@dataclass(frozen=True)
class IntervalAttribution:
    """One node's interval, split into buckets. All values in joules."""

    node_id: str
    t0: float
    t1: float
    total_j: dict[str, float]  # per domain
    trials: dict[int, dict[str, float]]  # trial id -> cpu_j, dram_j, gpu_j, idle_reserved_j
    unattributed_j: dict[str, float]  # per domain
    unattributed_idle_j: float  # the part of unattributed that is unreserved idle baseline
    provenance: dict[str, str] = field(default_factory=dict)

    def buckets(self) -> dict[str, float]:
        trials = math.fsum(t[k] for t in self.trials.values() for k in ("cpu_j", "dram_j", "gpu_j"))
        idle = math.fsum(t["idle_reserved_j"] for t in self.trials.values())
        return {
            "trials_j": trials,
            "idle_reserved_j": idle,
            "unattributed_j": math.fsum(self.unattributed_j.values()),
            "total_j": math.fsum(self.total_j.values()),
        }

    @property
    def error_j(self) -> float:
        """total - (trials + idle_reserved + unattributed): zero up to rounding."""
        b = self.buckets()
        return b["total_j"] - (b["trials_j"] + b["idle_reserved_j"] + b["unattributed_j"])


def attribute_interval(sample: Mapping[str, Any], baseline_w: Mapping[str, float] | None = None) -> IntervalAttribution:
    """Split one energy_sample payload into buckets, given the node's idle power per domain."""
    baseline_w = baseline_w or {}
    dt = max(float(sample["t1"]) - float(sample["t0"]), 0.0)
    reserved = _int_keys(sample.get("reserved"))
    trial_cpu = _int_keys(sample.get("trial_cpu_s"))
    trial_gpu = _int_keys(sample.get("trial_gpu_j"))
    node_res = sample.get("node_resources") or {}
    ids = sorted(set(reserved) | set(trial_cpu) | set(trial_gpu))
    trials = {tid: dict.fromkeys(TRIAL_KEYS, 0.0) for tid in ids}
    total: dict[str, float] = {}
    unattributed: dict[str, float] = {}
    unattributed_idle = 0.0
    energy = sample.get("energy_j") or {}

    for d in DOMAINS:
        e = max(float(energy.get(d) or 0.0), 0.0)
        idle = min(max(float(baseline_w.get(d) or 0.0), 0.0) * dt, e)
        dynamic = e - idle
        key = RESOURCE_OF_DOMAIN[d]
        idle_share = _shares({t: reserved.get(t, {}).get(key, 0.0) for t in ids}, float(node_res.get(key, 0.0)))
        if d == "gpu":
            dyn_share = _shares({t: trial_gpu.get(t, 0.0) for t in ids}, e)
        else:
            dyn_share = _shares({t: trial_cpu.get(t, 0.0) for t in ids}, float(sample.get("node_cpu_s", 0.0)))
        given_idle = given_dyn = 0.0
        for t in ids:
            i, y = idle * idle_share[t], dynamic * dyn_share[t]
            trials[t]["idle_reserved_j"] += i
            trials[t][f"{d}_j"] += y
            given_idle += i
            given_dyn += y
        total[d] = e
        rest_idle = max(idle - given_idle, 0.0)
        unattributed[d] = rest_idle + max(dynamic - given_dyn, 0.0)
        unattributed_idle += rest_idle
    return IntervalAttribution(
        node_id=str(sample.get("node_id", "")),
        t0=float(sample["t0"]),
        t1=float(sample["t1"]),
        total_j=total,
        trials=trials,
        unattributed_j=unattributed,
        unattributed_idle_j=unattributed_idle,
        provenance=dict(sample.get("provenance") or {}),
    )


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
        self._baseline: dict[str, dict[str, float]] = {}
        self._trials: dict[int, dict[str, float]] = {}
        self._unattributed = dict.fromkeys(DOMAINS, 0.0)
        self._unattributed_idle = 0.0
        self._total = dict.fromkeys(DOMAINS, 0.0)
        self._kinds: dict[str, set[str]] = {d: set() for d in DOMAINS}
        self._by_kind = {d: {MEASURED: 0.0, ESTIMATED: 0.0} for d in DOMAINS}
        self._abs_interval_error = 0.0
        self.n_samples = 0

    def add_baseline(self, payload: Mapping[str, Any]) -> None:
        """A node_baseline payload: the idle power used for that node's later samples."""
        self._baseline[str(payload.get("node_id", ""))] = {d: float(v or 0.0) for d, v in (payload.get("power_w") or {}).items()}

    def baseline_w(self, node_id: str) -> dict[str, float]:
        return dict(self._baseline.get(str(node_id), {}))

    def add_sample(self, payload: Mapping[str, Any]) -> IntervalAttribution:
        a = attribute_interval(payload, self._baseline.get(str(payload.get("node_id", ""))))
        for tid, parts in a.trials.items():
            acc = self._trials.setdefault(tid, dict.fromkeys(TRIAL_KEYS, 0.0))
            for k, v in parts.items():
                acc[k] += v
        for d in DOMAINS:
            self._unattributed[d] += a.unattributed_j[d]
            self._total[d] += a.total_j[d]
            kind = a.provenance.get(d, NONE)
            self._kinds[d].add(kind)
            if kind in self._by_kind[d]:
                self._by_kind[d][kind] += a.total_j[d]
        self._unattributed_idle += a.unattributed_idle_j
        self._abs_interval_error += abs(a.error_j)
        self.n_samples += 1
        return a

    def trial(self, trial_id: int) -> dict[str, float]:
        """cpu_j, dram_j, gpu_j, idle_reserved_j of one trial so far (zeros if never seen)."""
        return dict(self._trials.get(int(trial_id), dict.fromkeys(TRIAL_KEYS, 0.0)))

    def trials(self) -> dict[int, dict[str, float]]:
        return {tid: dict(v) for tid, v in self._trials.items()}

    def buckets(self) -> dict[str, float]:
        t = self._trials.values()
        return {
            "trials_j": math.fsum(v[k] for v in t for k in ("cpu_j", "dram_j", "gpu_j")),
            "idle_reserved_j": math.fsum(v["idle_reserved_j"] for v in t),
            "unattributed_j": math.fsum(self._unattributed.values()),
            "unattributed_idle_j": self._unattributed_idle,
            "total_j": math.fsum(self._total.values()),
        }

    def total_by_domain(self) -> dict[str, float]:
        return dict(self._total)

    def balance(self) -> dict[str, float]:
        """How far trials + idle_reserved + unattributed is from the measured total."""
        b = self.buckets()
        err = abs(b["total_j"] - (b["trials_j"] + b["idle_reserved_j"] + b["unattributed_j"]))
        return {
            "abs_error_j": err,
            "rel_error": err / b["total_j"] if b["total_j"] > 0 else 0.0,
            "sum_abs_interval_error_j": self._abs_interval_error,
        }

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
            "balance": self.balance(),
            "provenance": self.provenance(),
            "provenance_j": self.provenance_j(),
            "n_samples": self.n_samples,
        }
