"""Energy series for the plots, from energy_sample events (and summary.json's energy section when the
run has one). All values in joules, watts and Unix seconds."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from raybench.events._summary import per_trial_active_j
from raybench.report.plots._data import RunData, is_number

DOMAINS = ("cpu", "dram", "gpu")
# Backend names that estimate rather than measure; every other named backend reads a hardware counter.
_ESTIMATED_BACKENDS = frozenset({"estimate", "estimated", "model", "tdp"})
_NO_BACKEND = frozenset({"", "none", "null"})


def energy_samples(run: RunData) -> list[Mapping[str, Any]]:
    """energy_sample events with a valid interval, sorted by their end t1."""
    out = [e for e in run.samples if is_number(e.get("t0")) and is_number(e.get("t1"))]
    return sorted(out, key=lambda e: (float(e["t1"]), str(e.get("node_id"))))


def domain_j(sample: Mapping[str, Any]) -> dict[str, float]:
    """The sample's joules per measured domain; None (not measured) and non-finite values are left out."""
    raw = sample.get("energy_j") if isinstance(sample.get("energy_j"), Mapping) else {}
    return {d: float(raw[d]) for d in DOMAINS if is_number(raw.get(d))}


def provenance_kind(backend: Any) -> str:
    """'measured', 'estimated', 'replayed' or 'none' for one provenance value, which may be a backend name
    (powercap, nvml, estimate) or already a kind."""
    name = str(backend or "").strip().lower()
    if name in _NO_BACKEND:
        return "none"
    if name == "replayed":  # raybench replay: the source's joules, re-timed
        return "replayed"
    return "estimated" if name in _ESTIMATED_BACKENDS else "measured"


def energy_provenance(samples: list[Mapping[str, Any]]) -> str:
    """One label for the joules in these samples: measured, estimated, 'measured + estimated', or none."""
    kinds = set()
    for s in samples:
        prov = s.get("provenance") if isinstance(s.get("provenance"), Mapping) else {}
        for d in domain_j(s):
            kinds.add(provenance_kind(prov.get(d)))
    kinds.discard("none")
    if not kinds:
        return "none"
    return " + ".join(sorted(kinds, key=("measured", "estimated", "replayed").index))


def cumulative_energy(samples: list[Mapping[str, Any]]) -> tuple[np.ndarray, np.ndarray]:
    """(t, joules): the run's cumulative energy, node totals summed over nodes, one point per sample end t1,
    starting from 0 J at the earliest t0. Empty arrays without samples."""
    if not samples:
        return np.zeros(0), np.zeros(0)
    t = [min(float(s["t0"]) for s in samples)] + [float(s["t1"]) for s in samples]
    j = np.concatenate([[0.0], np.cumsum([math.fsum(domain_j(s).values()) for s in samples])])
    return np.asarray(t), j


def energy_at(t: float, curve: tuple[np.ndarray, np.ndarray]) -> float:
    """Cumulative joules of the samples that ended by Unix time t: 0 before the first, the run's total after
    the last. The same rule as summary.json's energy.anytime, so the plot and the file agree."""
    ts, js = curve
    i = int(np.searchsorted(ts, t, side="right")) - 1
    return float(js[i]) if i >= 0 else 0.0


@dataclass(frozen=True)
class TrialEnergy:
    """Attributed joules per trial id, read from the energy section (computed once, in raybench.events)."""

    joules: Mapping[int, float]
    provenance: str


def trial_energy_j(run: RunData, samples: list[Mapping[str, Any]]) -> TrialEnergy:
    """Per-trial joules from the summary's energy.per_trial, which load_run derives from the log's samples
    with the energy layer's attribution (or summary.json gives)."""
    prov = energy_provenance(samples)
    energy = run.summary.get("energy")
    per_trial = energy.get("per_trial") if isinstance(energy, Mapping) else None
    exact = {int(p["trial_id"]): j for p in per_trial or () if isinstance(p, Mapping)
             and p.get("trial_id") is not None and (j := _attributed_j(p)) is not None}
    return TrialEnergy(exact, prov)


def _attributed_j(entry: Mapping[str, Any]) -> float | None:
    """A per_trial entry's joules: the trial's own cpu, dram and gpu joules, without the idle share of what it
    reserved ("energy_j" as a number, or the older "total_j" and {"energy_j": {"total"}} layouts)."""
    return per_trial_active_j(entry)


@dataclass(frozen=True)
class PowerSeries:
    """One node's power in one domain: (t0, t1, watts) per sample, in time order."""

    node_id: str
    domain: str
    provenance: str
    points: tuple[tuple[float, float, float], ...]


def node_power_w(samples: list[Mapping[str, Any]]) -> list[PowerSeries]:
    """Watts = energy_j / (t1 - t0) per node and domain; zero-length intervals are skipped."""
    acc: dict[tuple[str, str], list[tuple[float, float, float]]] = {}
    prov: dict[tuple[str, str], str] = {}
    for s in sorted(samples, key=lambda e: float(e["t0"])):
        t0, t1 = float(s["t0"]), float(s["t1"])
        if t1 <= t0:
            continue
        sprov = s.get("provenance") if isinstance(s.get("provenance"), Mapping) else {}
        for d, e in domain_j(s).items():
            key = (str(s.get("node_id")), d)
            acc.setdefault(key, []).append((t0, t1, e / (t1 - t0)))
            prov[key] = provenance_kind(sprov.get(d))
    return [PowerSeries(n, d, prov[(n, d)], tuple(p)) for (n, d), p in sorted(acc.items())]
