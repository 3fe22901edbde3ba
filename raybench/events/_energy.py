"""The energy section of summary.json: the log's energy samples attributed and turned into metrics.

Attribution (raybench.energy.attribution) and the formulas (raybench.energy.metrics, docs/metrics.md)
live in the energy layer; this module only gathers their inputs from the events.
"""

from __future__ import annotations

import bisect
from collections.abc import Mapping, Sequence
from typing import Any, Optional

from raybench.energy import EnergyLedger
from raybench.energy.metrics import TrialRecord, anytime_curve, experiment_metrics, improved_flags
from raybench.events._trials import TrialRow, derive_trials


def _cumulative_energy(samples: Sequence[Mapping[str, Any]]) -> tuple[list[float], list[float]]:
    """(t1 of each sample in time order, node energy summed over all nodes up to it)."""
    ts, cum, total = [], [], 0.0
    for s in sorted(samples, key=lambda s: s["t1"]):
        total += sum(float(v or 0.0) for v in (s.get("energy_j") or {}).values())
        ts.append(float(s["t1"]))
        cum.append(total)
    return ts, cum


def energy_at(ts: list[float], cum: list[float], t: float) -> float:
    i = bisect.bisect_right(ts, t)
    return cum[i - 1] if i else 0.0


def section_energy(events: Sequence[Mapping[str, Any]], rows: Optional[Sequence[TrialRow]] = None) -> dict[str, Any]:
    ledger = EnergyLedger()
    samples = []
    resources: dict[int, Mapping[str, Any]] = {}
    start = next((e for e in events if e.get("event") == "experiment_start"), None)
    for e in events:
        kind = e.get("event")
        if kind == "node_baseline":
            ledger.add_baseline(e)
        elif kind == "energy_sample":
            ledger.add_sample(e)
            samples.append(e)
        elif kind == "trial_started":
            resources[e["trial_id"]] = e.get("resources") or {}
    if not samples or start is None:
        return {"energy": None}
    cfg = start.get("config") or {}
    mode = (cfg.get("metric") or {}).get("mode", "max")
    rows = list(rows) if rows is not None else derive_trials(events)
    ended = sorted((r for r in rows if r.status in ("completed", "pruned", "failed") and r.ended_t is not None),
                   key=lambda r: (r.ended_t, r.trial_id))
    flags = improved_flags([r.final_metric if r.status == "completed" else None for r in ended], mode)
    per_trial = ledger.trials()
    records = []
    for order, (r, improved) in enumerate(zip(ended, flags), start=1):
        res = resources.get(r.trial_id, {})
        records.append(TrialRecord(
            trial_id=r.trial_id, status=r.status, start_s=r.started_t or r.ended_t, end_s=r.ended_t,
            duration_s=max(r.duration_s or 0.0, 0.0), cpus=float(res.get("cpus", 0)),
            memory_mb=float(res.get("memory_mb", 0)), gpus=float(res.get("gpus", 0)), tpus=float(res.get("tpus", 0)),
            energy_j=per_trial.get(r.trial_id, {}), improved_best=improved, completion_order=order,
            metric=r.final_metric))
    t_end = max(float(e.get("t", 0.0)) for e in events)
    jct_s = t_end - float(start["t"])
    m = experiment_metrics(records, jct_s=jct_s, buckets=ledger.buckets(), provenance=ledger.provenance(),
                           provenance_j=ledger.provenance_j(), prices=cfg.get("cost"), carbon=cfg.get("carbon"))
    ts, cum = _cumulative_energy(samples)
    t0 = float(start["t"])
    anytime = anytime_curve([{"metric": r.final_metric if r.status == "completed" else None,
                              "energy_j": energy_at(ts, cum, r.ended_t), "time_s": r.ended_t - t0}
                             for r in ended], mode)
    energy = m.pop("energy")
    return {"energy": {
        **energy,
        "buckets": ledger.buckets(),
        "balance": ledger.balance(),
        "by_domain_j": ledger.total_by_domain(),
        "provenance": m.pop("provenance"),
        "provenance_j": m.pop("provenance_j"),
        "per_trial": m.pop("trials"),
        "waste": m.pop("waste"),
        "idle": m.pop("idle"),
        "cost": m.pop("cost"),
        "carbon": m.pop("carbon"),
        "basht": m.pop("basht"),
        "anytime": anytime,
        "n_samples": ledger.n_samples,
    }}
