"""What the dashboard keeps of one run: the experiment fold (raybench.core, the same one the scheduler,
resume and replay use) for trial status and best-so-far, the energy ledger (raybench.energy, the same
attribution summary.json and trials.csv use) for joules, plus a few bounded aggregates for display.

Nothing here keeps events. Per trial it keeps one record (the fold's TrialState, the ledger's sums and a
small Extra);
per node a Downsampled power series; the best-so-far curve only where it improved. So memory grows with
the number of trials and nodes, not with the number of events. Pure Python; no I/O, no clock.
"""

from __future__ import annotations

import math
from collections import Counter, deque
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Optional

from raybench.core import ExperimentState
from raybench.dashboard._series import Downsampled
from raybench.energy import EnergyLedger

DOMAINS = ("cpu", "dram", "gpu")
RECENT_WARNINGS = 10


def _num(v: Any) -> Optional[float]:
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) else None


@dataclass
class Extra:
    """Per-trial figures the fold does not keep."""

    report_j: Optional[float] = None  # the runtime's attributed joules at the trial's last report
    first_step: Optional[int] = None
    last_step: Optional[int] = None
    stop_t: Optional[float] = None
    stop_step: Optional[int] = None


class RunState:
    """Fold events with `apply`; read them with `summary()` and `snapshot(since)`.

    version goes up with every event; a trial remembers the version that last changed it, so a client
    that has seen version v is sent only the trials changed after v.
    """

    def __init__(self) -> None:
        self.fold: Optional[ExperimentState] = None
        self.version = 0
        self.n_events = 0
        self.run_id: Optional[str] = None
        self.name: Optional[str] = None
        self.config: Mapping[str, Any] = {}
        self.start_t: Optional[float] = None
        self.last_t: Optional[float] = None
        self.end_status: Optional[str] = None
        self.end_reason: Optional[str] = None
        self.segments = 0
        self.concurrency: dict[str, Any] = {}
        self.ledger = EnergyLedger()
        self.n_samples = 0
        self.bad_events = 0
        self.power: dict[str, Downsampled] = {}
        self.hosts: dict[str, str] = {}
        self.anytime: list[tuple[float, float, float, int]] = []  # (t, joules so far, best, best trial)
        self.decisions: Counter[str] = Counter()
        self.stops_by_rule: Counter[str] = Counter()
        self.warnings: Counter[str] = Counter()
        self.recent_warnings: deque[tuple[float, str, str]] = deque(maxlen=RECENT_WARNINGS)
        self.budget: Optional[Mapping[str, Any]] = None
        self.extra: dict[int, Extra] = {}
        self.changed: dict[int, int] = {}

    # ---- folding ------------------------------------------------------------------------------

    @property
    def energy_j(self) -> float:
        """Joules of all nodes so far, every domain."""
        return math.fsum(self.ledger.total_by_domain().values())

    def trial_energy_j(self, tid: int, extra: Extra, *, started: bool) -> Optional[float]:
        """The trial's own (active) joules as the ledger attributes them, as in trials.csv's energy_j; the
        runtime's figure at its last report when the log has no energy samples; None before it started."""
        if not started:
            return None
        if self.n_samples:
            parts = self.ledger.trial(tid)
            return parts["cpu_j"] + parts["dram_j"] + parts["gpu_j"]
        return extra.report_j

    def apply(self, e: Mapping[str, Any]) -> None:
        """Fold one event. One whose fields have the wrong types (a foreign or newer writer) is counted in
        `bad_events` and left out, so one odd record cannot stop the view."""
        self.version += 1
        self.n_events += 1
        try:
            self._apply(e)
        except (AttributeError, KeyError, TypeError, ValueError):
            self.bad_events += 1

    def _apply(self, e: Mapping[str, Any]) -> None:
        kind, t = e.get("event"), _num(e.get("t"))
        if t is not None:
            self.last_t = t if self.last_t is None else max(self.last_t, t)
        if kind == "experiment_start":
            self._start(e, t)
        if self.fold is None:  # metric and mode come from the first experiment_start (defaults if it was lost)
            self.fold = ExperimentState.for_config(self.config)
        best_before = self.fold.best_value()
        self.fold.apply(e)
        if kind == "experiment_end":
            self.end_status, self.end_reason = str(e.get("status")), str(e.get("reason") or "")
        elif kind == "node_joined":
            self.hosts[str(e.get("node_id"))] = str(e.get("host") or "")
        elif kind == "node_baseline":
            self.ledger.add_baseline(e)
        elif kind == "energy_sample":
            self._sample(e)
        elif kind == "warning":
            self.warnings[str(e.get("code"))] += 1
            self.recent_warnings.append((t or 0.0, str(e.get("code")), str(e.get("message") or "")))
        elif kind == "budget_exhausted":
            self.budget = {k: e.get(k) for k in ("kind", "limit", "value")}
        elif kind == "decision":
            self.decisions[str(e.get("action"))] += 1
        tid = e.get("trial_id")
        if isinstance(tid, int) and not isinstance(tid, bool):
            self._trial(tid, kind, e, t, best_before)

    def _start(self, e: Mapping[str, Any], t: Optional[float]) -> None:
        self.segments += 1
        if self.start_t is None:
            self.start_t = t
            self.run_id, self.name = e.get("run_id"), e.get("name")
            config = e.get("config") if isinstance(e.get("config"), Mapping) else {}
            self.config = config if isinstance(config.get("metric", {}), Mapping) else {**config, "metric": {}}
        self.end_status = self.end_reason = None  # a resumed run is running again
        self.concurrency = {"requested": e.get("requested_concurrency"), "effective": e.get("effective_concurrency")}

    def _sample(self, e: Mapping[str, Any]) -> None:
        t0, t1 = _num(e.get("t0")), _num(e.get("t1"))
        self.ledger.add_sample(e)
        self.n_samples += 1
        raw = e.get("energy_j") if isinstance(e.get("energy_j"), Mapping) else {}
        total = math.fsum(j for d in DOMAINS if (j := _num(raw.get(d))) is not None)
        if t0 is not None and t1 is not None and t1 > t0:
            node = str(e.get("node_id"))
            series = self.power.get(node)
            if series is None:
                series = self.power[node] = Downsampled()
            series.add((t0 + t1) / 2, total / (t1 - t0))
        for tid in (e.get("trial_cpu_s") or {}):
            if isinstance(tid, int) and tid in self.changed:
                self.changed[tid] = self.version  # its joules changed

    def _trial(self, tid: int, kind: Any, e: Mapping[str, Any], t: Optional[float], best_before: Optional[float]) -> None:
        fold = self.fold
        assert fold is not None
        self.changed[tid] = self.version
        x = self.extra.get(tid)
        if x is None:
            x = self.extra[tid] = Extra()
        step = e.get("step") if isinstance(e.get("step"), int) else None
        if kind == "report":
            j = _num(e.get("energy_j"))
            x.report_j = j if j is not None else x.report_j
            if step is not None:
                x.first_step = step if x.first_step is None else min(x.first_step, step)
                x.last_step = step if x.last_step is None else max(x.last_step, step)
        elif kind == "decision" and e.get("action") == "stop":
            x.stop_t, x.stop_step = t, step
            reason = e.get("reason") if isinstance(e.get("reason"), Mapping) else {}
            self.stops_by_rule[str(reason.get("rule") or "stop")] += 1
        elif kind in ("trial_completed", "trial_failed"):
            best = fold.best_value()
            best_trial = fold.best()
            if best is not None and best_trial is not None and best != best_before:
                self.anytime.append((t or 0.0, self.energy_j, best, best_trial.trial_id))

    # ---- reading ------------------------------------------------------------------------------

    def _rel(self, t: Optional[float]) -> Optional[float]:
        return None if t is None or self.start_t is None else round(t - self.start_t, 3)

    @property
    def metric(self) -> dict[str, str]:
        m = self.config.get("metric") if isinstance(self.config.get("metric"), Mapping) else {}
        return {"name": str(m.get("name", "val_accuracy")), "mode": str(m.get("mode", "max"))}

    @property
    def status(self) -> str:
        if self.end_status:
            return self.end_status
        return "running" if self.start_t is not None else "starting"

    def counts(self) -> dict[str, int]:
        out = dict.fromkeys(("total", "completed", "pruned", "failed", "running", "pending", "paused"), 0)
        for tr in (self.fold.trials.values() if self.fold else ()):
            out["total"] += 1
            out[tr.status.value] = out.get(tr.status.value, 0) + 1
        return out

    def energy_provenance(self) -> str:
        """measured, estimated, or both ("measured + estimated"), from the ledger's labels per domain."""
        labels = set(self.ledger.provenance().values()) - {"none"}
        if "mixed" in labels:
            labels = (labels - {"mixed"}) | {"measured", "estimated"}
        return " + ".join(k for k in ("measured", "estimated") if k in labels) or "none"

    def best(self) -> Optional[dict[str, Any]]:
        tr = self.fold.best() if self.fold else None
        if tr is None or self.fold is None:
            return None
        return {"trial_id": tr.trial_id, "value": self.fold.best_value(), "config": tr.config,
                "status": tr.status.value}

    def anytime_points(self) -> list[list[Any]]:
        """[t_s, joules, best, trial] where best-so-far changed, then the present with the last best."""
        pts = [[self._rel(t), round(j, 3), b, tid] for t, j, b, tid in self.anytime]
        if pts and self.last_t is not None:
            pts.append([self._rel(self.last_t), round(self.energy_j, 3), pts[-1][2], pts[-1][3]])
        return pts

    def summary(self) -> dict[str, Any]:
        """The run's headline figures: what the run list and the compare table show."""
        jct = None if self.start_t is None or self.last_t is None else self.last_t - self.start_t
        pruner = self.config.get("pruner") if isinstance(self.config.get("pruner"), Mapping) else {}
        sampler = self.config.get("sampler") if isinstance(self.config.get("sampler"), Mapping) else {}
        return {
            "run_id": self.run_id, "name": self.name, "status": self.status, "end_reason": self.end_reason,
            "started_t": self.start_t, "jct_s": jct, "metric": self.metric, "counts": self.counts(),
            "best": self.best(), "energy_j": self.energy_j if self.n_samples else None,
            "energy_range_j": list(self.ledger.total_range_j()) if "estimated" in self.energy_provenance() else None,
            "energy_by_domain_j": self.ledger.total_by_domain(), "provenance": self.energy_provenance(),
            "pruner": pruner.get("type"), "sampler": sampler.get("type"), "stops": self.decisions.get("stop", 0),
            "stops_by_rule": dict(self.stops_by_rule), "resumes": max(self.segments - 1, 0),
            "events": self.n_events, "bad_events": self.bad_events, "version": self.version,
        }

    def trial_row(self, tid: int) -> dict[str, Any]:
        assert self.fold is not None
        tr, x = self.fold.trials[tid], self.extra.get(tid) or Extra()
        stop = None
        if tr.stop_reason is not None:
            stop = {**{k: v for k, v in tr.stop_reason.items() if not isinstance(v, (Mapping, list))},
                    "t_s": self._rel(x.stop_t), "step": x.stop_step}
        spans = [[self._rel(s.t0), self._rel(s.t1), s.outcome, s.node_id] for s in tr.spans]
        if tr.attempt_t is not None:
            spans.append([self._rel(tr.attempt_t), None, "running", tr.node_id])
        return {
            "id": tid, "status": tr.status.value, "attempts": tr.attempts, "config": tr.config,
            "steps": tr.max_steps or tr.steps, "value": tr.final_value, "best": tr.best_value,
            "energy_j": self.trial_energy_j(tid, x, started=tr.started_t is not None), "duration_s": tr.duration_s, "started_s": self._rel(tr.started_t),
            "ended_s": self._rel(tr.ended_t), "node": self.hosts.get(str(tr.node_id)) or tr.node_id,
            "first_step": x.first_step, "last_step": x.last_step, "stop": stop, "error": tr.error,
            "cause": tr.cause, "test": tr.test_metrics or None, "spans": spans,
        }

    def snapshot(self, since: int = 0) -> dict[str, Any]:
        """Everything the run page draws; trials only those changed after version `since`."""
        ids = sorted(tid for tid, v in self.changed.items() if v > since) if self.fold else []
        space = self.config.get("search_space") if isinstance(self.config.get("search_space"), Mapping) else {}
        return {
            "version": self.version, "since": since, "summary": self.summary(),
            "concurrency": self.concurrency, "budget": self.budget, "params": sorted(space),
            "decisions": dict(self.decisions), "warnings": dict(self.warnings),
            "recent_warnings": [[self._rel(t), c, m] for t, c, m in self.recent_warnings],
            "anytime": self.anytime_points(),
            "power": {node: {"host": self.hosts.get(node, ""),
                             "points": [[self._rel(t), round(w, 3)] for t, w in s.values()]}
                      for node, s in sorted(self.power.items())},
            "now_s": self._rel(self.last_t),
            "trials": [self.trial_row(tid) for tid in ids],
        }
