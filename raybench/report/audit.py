"""The counterfactual audit of a run's pruning: every stop, what it saved, and whether it was right.

audit(events, against=None) -> Audit, from the events of a run (as raybench.events' reader yields them):

- One row per stop decision of a pruning rule (budget stops are not pruning and are left out): trial, step,
  rule, value, cutoff or probability, and what the stop saved, `saved_s` and `saved_j`. Both are ESTIMATES:
  the trial's measured cost per epoch times the epochs it did not run (task.epochs - its last step). Seconds
  per epoch are its wall time at its last report over its epochs; joules per epoch are its attributed energy
  (the energy ledger replayed from the log's energy_sample events: CPU, DRAM and GPU joules, all attempts)
  over its epochs. For a trial without attributed energy in the samples, the report events' own energy_j (the
  trial's attributed energy so far) is used; without either, None.
- One row per protected trial whose wrapped rule would have stopped it (the guard's decision with
  overridden "stop"), marked counterfactual: the trial ran on, so its full curve is known.
- `would_have_final`: the value the stopped trial would have ended with, where known: from the trial itself for
  counterfactual rows, and from `against` (the events of a full run of the same configs, matched by config)
  for every row. `wrong`: whether that value beats the run's best final value (of its completed trials other
  than the trial itself).

Totals: stops and what they saved, the wrong-stop rate over the rows whose final is known with its 95 %
Wilson interval, and the regret: how far the best final value among the stopped trials beats the run's best
(0 where it does not), in the metric's units.
"""

from __future__ import annotations

import heapq
import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any, Optional

from raybench.energy import EnergyLedger

ESTIMATED = "estimated: measured cost per epoch x epochs not run"
AUDIT_FILE = "audit.json"


@dataclass(frozen=True)
class AuditRow:
    """One stop (or, for a protected trial, one stop its rule would have made)."""

    trial_id: int
    step: int
    rule: str
    value: Optional[float]
    cutoff: Optional[float]
    probability: Optional[float]
    detail: str
    counterfactual: bool
    epochs_run: int
    epochs_not_run: int
    saved_s: Optional[float]
    saved_j: Optional[float]
    energy_source: Optional[str]  # "ledger", "report" or None
    would_have_final: Optional[float] = None
    final_source: Optional[str] = None  # "protected" (its own curve) or "against"
    wrong: Optional[bool] = None

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}  # flat plain values: no deep copy needed


@dataclass(frozen=True)
class Audit:
    metric: str
    mode: str
    epochs: int
    rows: tuple[AuditRow, ...]
    totals: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Plain types only, NaN-free: ready for audit.json."""
        return {"metric": self.metric, "mode": self.mode, "epochs": self.epochs, "basis": ESTIMATED,
                "rows": [r.to_dict() for r in self.rows], "totals": dict(self.totals)}


class _Trial:
    def __init__(self) -> None:
        self.config: Mapping[str, Any] = {}
        self.values: dict[int, float] = {}
        self.elapsed_s: Optional[float] = None
        self.report_j: Optional[float] = None
        self.last_step = 0
        self.status: Optional[str] = None
        self.final: Optional[float] = None


def _number(v: Any) -> Optional[float]:
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) else None


_TRIAL_KINDS = frozenset({"trial_created", "report", "decision", "trial_completed"})


def _may_be_a_row(e: Mapping[str, Any]) -> bool:
    """A decision the audit can make a row of: a pruning stop, or a protected trial's overridden stop."""
    reason = e.get("reason") or {}
    return ((e.get("action") == "stop" and reason.get("rule") != "budget")
            or (reason.get("guard") == "protected" and reason.get("overridden") == "stop"))


class Auditor:
    """What the audit needs of a run's events, gathered one event at a time (`add`), so that a reader of the log
    can audit it in the same pass as it derives the rest, holding per trial its curve and not every event.
    `audit()` then gives what `audit(events)` gives."""

    def __init__(self) -> None:
        self.config: dict[str, Any] = {}
        self.trials: dict[int, _Trial] = {}
        self.decisions: list[Mapping[str, Any]] = []
        self._ledger = EnergyLedger()
        self._metric = "val_accuracy"

    def add(self, e: Mapping[str, Any]) -> None:
        kind = e.get("event")
        if kind not in _TRIAL_KINDS:
            if kind == "experiment_start" and not self.config:
                self.config = dict(e.get("config") or {})
                self._metric = (self.config.get("metric") or {}).get("name", "val_accuracy")
            elif kind == "node_baseline":
                self._ledger.add_baseline(e)
            elif kind == "energy_sample":
                self._ledger.add_sample(e)
            return
        tid = e.get("trial_id")
        if not isinstance(tid, int) or isinstance(tid, bool):
            return
        t = self.trials.get(tid)
        if t is None:
            t = self.trials[tid] = _Trial()
        if kind == "trial_created":
            t.config = e.get("config") or {}
        elif kind == "report":
            step = e.get("step")
            value = _number((e.get("metrics") or {}).get(self._metric))
            if isinstance(step, int) and value is not None:
                t.values[step] = value
            if isinstance(step, int) and step >= t.last_step:
                t.last_step = step
                t.elapsed_s = _number(e.get("elapsed_s"))
                t.report_j = _number(e.get("energy_j"))
        elif kind == "decision":
            if _may_be_a_row(e):
                self.decisions.append(e)
        elif kind == "trial_completed":
            t.status = e.get("status")
            t.final = _number(e.get("final_metric"))

    def joules(self) -> dict[int, float]:
        """Attributed joules per trial (empty without energy samples)."""
        if not self._ledger.n_samples:
            return {}
        return {tid: v["cpu_j"] + v["dram_j"] + v["gpu_j"] for tid, v in self._ledger.trials().items()}

    def audit(self, against: Optional[Iterable[Mapping[str, Any]]] = None) -> Audit:
        return _audit(self, against)


def _fold(events: Iterable[Mapping[str, Any]]) -> Auditor:
    a = Auditor()
    for e in events:
        a.add(e)
    return a


def _key(config: Mapping[str, Any]) -> str:
    return json.dumps(config, sort_keys=True, default=str)


def _full_finals(events: Iterable[Mapping[str, Any]], epochs: int) -> dict[str, float]:
    """config -> final value, for the trials of a full run that reached `epochs`."""
    out = {}
    for t in _fold(events).trials.values():
        if t.last_step >= epochs and t.status != "pruned":
            final = t.final if t.status == "completed" and t.final is not None else t.values.get(t.last_step)
            if final is not None:
                out[_key(t.config)] = final
    return out


def wilson_interval(k: int, n: int, z: float = 1.959963984540054) -> tuple[float, float]:
    """The Wilson score interval of a proportion k/n (95 % by default); (0, 1) for n = 0."""
    if n == 0:
        return 0.0, 1.0
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return max(0.0, centre - half), min(1.0, centre + half)


def audit(events: Iterable[Mapping[str, Any]], against: Optional[Iterable[Mapping[str, Any]]] = None) -> Audit:
    """The audit of a run's stops; see the module's docstring. Each of `events` and `against` is read once."""
    return _audit(_fold(events), against)


def _audit(folded: Auditor, against: Optional[Iterable[Mapping[str, Any]]]) -> Audit:
    config, trials, decisions, joules = folded.config, folded.trials, folded.decisions, folded.joules()
    metric = (config.get("metric") or {}).get("name", "val_accuracy")
    mode = (config.get("metric") or {}).get("mode", "max")
    sign = 1.0 if mode == "max" else -1.0
    epochs = int((config.get("task") or {}).get("epochs", 0) or max((t.last_step for t in trials.values()), default=0))
    finals = _full_finals(against, epochs) if against is not None else {}
    completed = {tid: t.final for tid, t in trials.items() if t.status == "completed" and t.final is not None}
    # The best and the runner-up completed trial: "the best of the others" for any trial in O(1).
    ranked = heapq.nsmallest(2, completed.items(), key=lambda kv: (-sign * kv[1], kv[0]))
    best = ranked[0][1] if ranked else None
    rows: list[AuditRow] = []
    seen_counterfactual: set[int] = set()
    for d in decisions:
        reason = d.get("reason") or {}
        tid = d["trial_id"]
        if d.get("action") == "stop" and reason.get("rule") != "budget":
            counterfactual = False
        elif reason.get("guard") == "protected" and reason.get("overridden") == "stop" and tid not in seen_counterfactual:
            counterfactual = True
            seen_counterfactual.add(tid)
        else:
            continue
        # A protected trial is judged against the best of the others: stopping the best itself is wrong too.
        best_other = next((v for other, v in ranked if other != tid), None)
        rows.append(_row(d, reason, trials[tid], joules.get(tid), counterfactual, epochs, finals, best_other, sign))
    known = [r for r in rows if r.wrong is not None]
    n_wrong = sum(r.wrong for r in known)
    stops = [r for r in rows if not r.counterfactual]
    lost = [r.would_have_final for r in rows if r.would_have_final is not None and not r.counterfactual]
    best_lost = max(lost, key=lambda v: sign * v) if lost else None
    regret = None
    if best_lost is not None and best is not None:
        regret = max(0.0, sign * (best_lost - best))
    saved_j = [r.saved_j for r in stops if r.saved_j is not None]
    totals = {
        "stops": len(stops),
        "counterfactual_stops": len(rows) - len(stops),
        "saved_s": math.fsum(r.saved_s for r in stops if r.saved_s is not None),
        "saved_j": math.fsum(saved_j) if saved_j else None,
        "best_final": best,
        "known": len(known),
        "wrong": n_wrong,
        "wrong_rate": n_wrong / len(known) if known else None,
        "wrong_rate_interval": list(wilson_interval(n_wrong, len(known))) if known else None,
        "best_stopped_final": best_lost,
        "regret": regret,
    }
    return Audit(metric, mode, epochs, tuple(rows), totals)


def _row(d: Mapping[str, Any], reason: Mapping[str, Any], t: _Trial, joules: Optional[float], counterfactual: bool,
         epochs: int, finals: Mapping[str, float], best: Optional[float], sign: float) -> AuditRow:
    step = int(d.get("step") or 0)
    # A real stop ends the trial at this step; a protected trial's counterfactual stop would have.
    run = step if counterfactual else max(t.last_step, step)
    not_run = max(epochs - run, 0)
    per_epoch_s = t.elapsed_s / t.last_step if t.elapsed_s is not None and t.last_step else None
    if joules and t.last_step:  # a trial the samples never saw (0 J) falls back to its reports
        per_epoch_j, source = joules / t.last_step, "ledger"
    elif t.report_j is not None and t.last_step:
        per_epoch_j, source = t.report_j / t.last_step, "report"
    else:
        per_epoch_j, source = None, None
    would = final_source = None
    if counterfactual and t.last_step >= epochs:
        would, final_source = (t.final if t.final is not None else t.values.get(t.last_step)), "protected"
    elif finals and t.config and (key := _key(t.config)) in finals:
        would, final_source = finals[key], "against"
    wrong = None if would is None or best is None else sign * would > sign * best
    return AuditRow(
        trial_id=d["trial_id"], step=step, rule=str(reason.get("rule", "?")), value=_number(reason.get("value")),
        cutoff=_number(reason.get("cutoff")), probability=_number(reason.get("probability")),
        detail=str(reason.get("detail", "")), counterfactual=counterfactual, epochs_run=run, epochs_not_run=not_run,
        saved_s=None if per_epoch_s is None else per_epoch_s * not_run,
        saved_j=None if per_epoch_j is None else per_epoch_j * not_run, energy_source=source,
        would_have_final=would, final_source=final_source, wrong=wrong)
