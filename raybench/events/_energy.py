"""The energy section of summary.json and the per-trial energy columns: the log's energy samples
attributed and turned into metrics.

Attribution (raybench.energy.attribution) and the formulas (raybench.energy.metrics, docs/metrics.md)
live in the energy layer; this module only gathers their inputs from the events. `trial_energy` is the one
place per-trial energy figures are read from, for summary.json's per_trial and for trials.csv alike.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Mapping, Sequence
from typing import Any, Optional

from raybench.energy import ESTIMATED, EnergyLedger
from raybench.energy.metrics import J_PER_KWH, TrialRecord, anytime_curve, experiment_metrics, improved_flags
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


# The per-trial energy columns, in order (trials.csv and summary.json's per_trial carry the same values).
TRIAL_ENERGY_COLUMNS = ("energy_j", "energy_idle_j", "energy_cpu_j", "energy_dram_j", "energy_gpu_j",
                        "energy_provenance", "energy_j_low", "energy_j_high")


def ledger_of(events: Sequence[Mapping[str, Any]]) -> EnergyLedger:
    """An EnergyLedger fed with the log's node baselines and energy samples, in log order."""
    ledger = EnergyLedger()
    for e in events:
        kind = e.get("event")
        if kind == "node_baseline":
            ledger.add_baseline(e)
        elif kind == "energy_sample":
            ledger.add_sample(e)
    return ledger


def trial_energy(events: Sequence[Mapping[str, Any]], ledger: Optional[EnergyLedger] = None) -> dict[int, dict[str, Any]]:
    """Per trial id, the energy columns of TRIAL_ENERGY_COLUMNS:

    energy_j (active: cpu + dram + gpu), energy_idle_j (its share of idle for what it reserved), energy_cpu_j,
    energy_dram_j, energy_gpu_j, energy_provenance (measured, estimated, mixed, or none), and, only where
    part of it was estimated, energy_j_low and energy_j_high (the estimate's documented range; else absent).
    Trials that no energy sample saw are absent. Pass `ledger` to reuse one already fed with these events.
    """
    ledger = ledger if ledger is not None else ledger_of(events)
    out: dict[int, dict[str, Any]] = {}
    for tid, parts in sorted(ledger.trials().items()):
        prov = ledger.trial_provenance(tid)
        row: dict[str, Any] = {
            "energy_j": parts["cpu_j"] + parts["dram_j"] + parts["gpu_j"],
            "energy_idle_j": parts["idle_reserved_j"],
            "energy_cpu_j": parts["cpu_j"],
            "energy_dram_j": parts["dram_j"],
            "energy_gpu_j": parts["gpu_j"],
            "energy_provenance": prov,
        }
        if prov in ("estimated", "mixed"):
            rng = ledger.trial_range(tid)
            row["energy_j_low"], row["energy_j_high"] = rng["active_low_j"], rng["active_high_j"]
        out[tid] = row
    return out


def jct_and_wall_s(events: Sequence[Mapping[str, Any]], rows: Sequence[TrialRow],
                   last_t: Optional[float] = None) -> tuple[float, float]:
    """jct_s: the first trial's start to the last trial's end (docs/metrics.md); wall_s: experiment_start to
    the last event (`last_t` when the caller saw events that `events` leaves out). A run without a finished
    trial has jct_s 0."""
    start = next((float(e["t"]) for e in events if e.get("event") == "experiment_start"), None)
    t_last = last_t if last_t is not None else max((float(e.get("t", 0.0)) for e in events), default=0.0)
    wall_s = t_last - start if start is not None else 0.0
    return jct_s(rows), max(wall_s, 0.0)


def jct_s(rows: Sequence[TrialRow]) -> float:
    """The first trial's start to the last trial's end; 0 for a run without a finished trial."""
    starts = [r.started_t for r in rows if r.started_t is not None]
    ends = [r.ended_t for r in rows if r.ended_t is not None]
    return max(max(ends) - min(starts), 0.0) if starts and ends else 0.0


def section_energy(events: Sequence[Mapping[str, Any]], rows: Optional[Sequence[TrialRow]] = None, *,
                   resources: Optional[Mapping[int, Mapping[str, Any]]] = None,
                   last_t: Optional[float] = None) -> dict[str, Any]:
    """summary.json's energy section. A caller that streamed the log and kept only its run-level events
    (events._summary.FactsBuilder) passes the trials' `resources` (of each one's latest trial_started) and the
    log's `last_t`, and its `rows`."""
    samples = [e for e in events if e.get("event") == "energy_sample"]
    start = next((e for e in events if e.get("event") == "experiment_start"), None)
    if not samples or start is None:
        return {"energy": None}
    ledger = ledger_of(events)
    if resources is None:
        resources = {e["trial_id"]: e.get("resources") or {} for e in events if e.get("event") == "trial_started"}
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
    jct_s, wall_s = jct_and_wall_s(events, rows, last_t)
    m = experiment_metrics(records, jct_s=jct_s, buckets=ledger.buckets(), provenance=ledger.provenance(),
                           provenance_j=ledger.provenance_j(), prices=cfg.get("cost"), carbon=cfg.get("carbon"))
    ts, cum = _cumulative_energy(samples)
    t0 = float(start["t"])
    anytime = anytime_curve([{"metric": r.final_metric if r.status == "completed" else None,
                              "energy_j": energy_at(ts, cum, r.ended_t), "time_s": r.ended_t - t0}
                             for r in ended], mode)
    energy = m.pop("energy")
    columns = trial_energy(events, ledger)
    per_trial = [{**t, **columns.get(t["trial_id"], {})} for t in m.pop("trials")]
    check = ledger.accounting_check()
    # Seconds of node time the samples cover (summed over nodes): the average power per domain is J / this.
    sampled_s = math.fsum(max(float(e["t1"]) - float(e["t0"]), 0.0) for e in samples)
    carbon = m.pop("carbon")
    prov = m.pop("provenance")
    if ESTIMATED in ledger.provenance().values() or "mixed" in ledger.provenance().values():
        low, high = ledger.total_range_j()
        energy["total_j_low"], energy["total_j_high"] = low, high
        per_kwh = carbon["pue"] * carbon["g_per_kwh"] / J_PER_KWH
        carbon["co2e_g_low"], carbon["co2e_g_high"] = low * per_kwh, high * per_kwh
    return {"energy": {
        **energy,
        "jct_s": jct_s,
        "wall_s": wall_s,
        "startup_j": ledger.buckets()["startup_j"],
        "final_test_j": ledger.buckets()["final_test_j"],
        "buckets": ledger.buckets(),
        "accounting_check": check,
        "balance": check,  # the old name; report/html.py still reads it
        "by_domain_j": ledger.total_by_domain(),
        "sampled_s": sampled_s,
        "avg_node_power_w": {d: (j / sampled_s if sampled_s > 0 else None) for d, j in ledger.total_by_domain().items()},
        "provenance": prov,
        "provenance_j": m.pop("provenance_j"),
        "per_trial": per_trial,
        "waste": m.pop("waste"),
        "idle": m.pop("idle"),
        "cost": m.pop("cost"),
        "carbon": carbon,
        "basht": m.pop("basht"),
        "anytime": anytime,
        "n_samples": ledger.n_samples,
        "n_gaps": ledger.n_gaps,
    }}
