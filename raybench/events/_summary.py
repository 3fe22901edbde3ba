"""summary.json: one function per section, combined at the end so other sections (energy) merge cleanly."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Optional, Union

from raybench.core.state import ExperimentState, fold
from raybench.events import _types as ev
from raybench.events._energy import jct_s
from raybench.events._reader import Damage
from raybench.events._trials import TRIAL_STATES, TrialRow, derive_trials, is_number
from raybench.events.export import jsonable

SUMMARY_SCHEMA = 1
BEST_BASIS = ("final reported value of the metric over completed trials (the model that is tested); "
              "pruned trials by their best value only when none completed")

# An extra section: a function of the event list returning top-level keys, or those keys directly.
Section = Union[Callable[[Sequence[Mapping[str, Any]]], Mapping[str, Any]], Mapping[str, Any]]


@dataclass(frozen=True)
class RunFacts:
    """What every built-in section needs, computed in one pass over the events (run_facts)."""

    events: Sequence[Mapping[str, Any]]
    state: ExperimentState
    rows: Sequence[TrialRow]
    start_t: Optional[float]
    by_kind: Mapping[str, Sequence[Mapping[str, Any]]] = field(default_factory=dict)  # each kind's events, in order
    last_t: Optional[float] = None  # the latest time of any event
    # (start, end event or None, last time) per experiment_start; a resumed run has several
    segments: Sequence[tuple[Mapping[str, Any], Optional[Mapping[str, Any]], float]] = ()
    n_events: int = 0
    actions: Mapping[str, int] = field(default_factory=dict)  # decisions by action
    stops: Mapping[str, int] = field(default_factory=dict)  # stop decisions by rule

    @property
    def metric(self) -> str:
        return self.state.metric

    @property
    def mode(self) -> str:
        return self.state.mode.value

    def of(self, kind: str) -> Sequence[Mapping[str, Any]]:
        return self.by_kind.get(kind, ())


def _t(e: Mapping[str, Any]) -> Optional[float]:
    t = e.get("t")
    return float(t) if is_number(t) else None


def section_run(f: RunFacts) -> dict[str, Any]:
    """Identity, status and job completion time. jct_s runs from the first trial's start to the last trial's
    end; wall_s from the first experiment_start to the last experiment_end, or to the last event when the log
    ends without one (status "unfinished"); active_s leaves out the gaps between an interruption and its resume."""
    segs = f.segments
    first = segs[0][0] if segs else {}
    last_start, last_end, last_end_t = segs[-1] if segs else ({}, None, f.last_t or 0.0)
    start_t = f.start_t
    end_t = last_end_t if last_end is not None else (f.last_t if f.last_t is not None else start_t)
    return {
        "run_id": first.get("run_id"),
        "name": first.get("name"),
        "status": last_end.get("status") if last_end is not None else "unfinished",
        "end_reason": last_end.get("reason") if last_end is not None else None,
        "started_t": start_t,
        "ended_t": end_t,
        # jct_s: the first trial's start to the last trial's end (docs/metrics.md); wall_s: the whole log.
        "jct_s": jct_s(f.rows),
        "wall_s": (end_t - start_t) if start_t is not None and end_t is not None else 0.0,
        "active_s": sum(max(0.0, end - (_t(s) or end)) for s, _, end in segs),
        "resumes": max(0, len(segs) - 1),
        "concurrency": {
            "requested": last_start.get("requested_concurrency"),
            "effective": last_start.get("effective_concurrency"),
        },
        "metric": {"name": f.metric, "mode": f.mode},
    }


def section_trials(f: RunFacts) -> dict[str, Any]:
    counts = Counter(r.status for r in f.rows)
    failures = f.of(ev.TRIAL_FAILED)
    trials = {"total": len(f.rows), **{s: counts.get(s, 0) for s in TRIAL_STATES}}
    trials["failed_attempts"] = len(failures)
    trials["retried"] = sum(1 for e in failures if not e.get("final", True))
    return {"trials": trials}


def section_best(f: RunFacts) -> dict[str, Any]:
    """The best trial by the one rule (raybench.core.state.ExperimentState.best): completed trials by their
    final value, the model that is tested; only when none completed, pruned trials by their best value."""
    best = f.state.best()
    if best is None:
        return {"best": None}
    return {"best": {
        "trial_id": best.trial_id,
        "config": dict(best.config),
        "val_metric": f.state.best_value(),
        "metric": f.metric,
        "mode": f.mode,
        "basis": BEST_BASIS,
        "status": best.status.value,
        "test_accuracy": best.test_metrics.get("test_accuracy"),
    }}


def section_anytime(f: RunFacts) -> dict[str, Any]:
    """Best-so-far against seconds since the start: one point per trial end (failed ones included, where
    the best stays as it was), so a plot can step through every moment the best could change."""
    mode = f.state.mode
    ended = sorted((r for r in f.rows if r.ended_t is not None), key=lambda r: (r.ended_t, r.trial_id))
    best: Optional[float] = None
    best_id: Optional[int] = None
    points = []
    for r in ended:
        if r.status in ("completed", "pruned") and is_number(r.best_metric):
            if mode.better(r.best_metric, best):  # type: ignore[arg-type]
                best, best_id = r.best_metric, r.trial_id
        t_s = r.ended_t - f.start_t if f.start_t is not None else None  # type: ignore[operator]
        points.append({"t_s": t_s, "trial_id": r.trial_id, "status": r.status, "best": best, "best_trial_id": best_id})
    return {"anytime": points}


def section_decisions(f: RunFacts) -> dict[str, Any]:
    return {"decisions": {"continue": f.actions.get("continue", 0), "stop": f.actions.get("stop", 0),
                          "stop_by_rule": dict(f.stops)}}


def section_notes(f: RunFacts) -> dict[str, Any]:
    """Budget stop, warnings by code, nodes and the event count."""
    budget = None
    for e in f.of(ev.BUDGET_EXHAUSTED):
        budget = {k: e.get(k) for k in ("kind", "limit", "value")}
    warnings = Counter(str(e.get("code")) for e in f.of(ev.WARNING))
    nodes = {e.get("node_id") for e in f.of(ev.NODE_JOINED)}
    return {"budget": budget, "warnings": dict(warnings), "nodes": len(nodes), "events": f.n_events}


def section_pareto(f: RunFacts) -> dict[str, Any]:
    """Several objectives: the non-dominated completed trials and their hypervolume against the reference
    point of raybench.search.pareto (each objective's worst value moved out by 10% of its range)."""
    start = next(iter(f.of(ev.EXPERIMENT_START)), None)
    specs = ((start or {}).get("config") or {}).get("objectives") or []
    if not specs:
        return {"pareto": None}
    from raybench.search.pareto import hypervolume, pareto_front, reference_point

    names = [str(o["name"]) for o in specs]
    modes = [str(o.get("mode", "max")) for o in specs]
    done = [t for t in f.state.trials.values() if t.status.value == "completed" and t.objectives
            and all(is_number(t.objectives.get(n)) for n in names)]
    if not done:
        return {"pareto": {"objectives": [{"name": n, "mode": m} for n, m in zip(names, modes)], "trials": [],
                           "hypervolume": None, "reference": None, "n_candidates": 0}}
    points = [[float(t.objectives[n]) for n in names] for t in done]
    front = [done[i] for i in pareto_front(points, modes)]
    ref = [float(x) for x in reference_point(points, modes)]
    return {"pareto": {
        "objectives": [{"name": n, "mode": m} for n, m in zip(names, modes)],
        "trials": [{"trial_id": t.trial_id, "values": {n: float(t.objectives[n]) for n in names}}
                   for t in sorted(front, key=lambda t: t.trial_id)],
        "hypervolume": hypervolume([[float(t.objectives[n]) for n in names] for t in front], modes, ref),
        "reference": ref,
        "reference_rule": "per objective, its worst value among the completed trials moved outward by 10% of "
                          "their range (raybench.search.pareto)",
        "n_candidates": len(done),
    }}


SECTIONS: tuple[Callable[[RunFacts], dict[str, Any]], ...] = (
    section_run, section_trials, section_best, section_anytime, section_decisions, section_notes, section_pareto,
)


def per_trial_active_j(entry: Mapping[str, Any]) -> Optional[float]:
    """A summary energy.per_trial entry's active joules (cpu + dram + gpu): "energy_j" as a number, or the
    older layouts ("total_j", or {"energy_j": {"total": ...}})."""
    e = entry.get("energy_j")
    if is_number(e):
        return float(e)
    if isinstance(e, Mapping) and is_number(e.get("total")):
        return float(e["total"])
    return float(entry["total_j"]) if is_number(entry.get("total_j")) else None


NEAR_BEST = 0.01  # "within 1 point": one percentage point of an accuracy-like metric


def cheapest_near_best(state: ExperimentState, per_trial: Sequence[Mapping[str, Any]],
                       within: float = NEAR_BEST) -> Optional[dict[str, Any]]:
    """The completed trial with the fewest attributed active joules among those whose final value is within
    `within` of the best trial's, or None without a best or per-trial energy."""
    best = state.best_value()
    if best is None or not per_trial:
        return None
    joules = {int(p["trial_id"]): per_trial_active_j(p) for p in per_trial if "trial_id" in p}
    near = [t for t in state.trials.values() if t.status.value == "completed" and is_number(t.final_value)
            and abs(t.final_value - best) <= within + 1e-12 and is_number(joules.get(t.trial_id))]
    if not near:
        return None
    t = min(near, key=lambda t: (joules[t.trial_id], t.trial_id))
    best_trial = state.best()
    return {"trial_id": t.trial_id, "value": t.final_value, "energy_j": joules[t.trial_id], "within": within,
            "best_trial_id": best_trial.trial_id if best_trial else None,
            "best_energy_j": joules.get(best_trial.trial_id) if best_trial else None}


# The kinds a run logs once or more per trial or per report. Without them the rest of a log is small (starts,
# ends, warnings, energy samples); the summary needs them only through the fold and a few counts.
PER_TRIAL_KINDS = frozenset({ev.TRIAL_CREATED, ev.TRIAL_STARTED, ev.REPORT, ev.DECISION, ev.TRIAL_COMPLETED})


_DECISION, _TRIAL_STARTED = ev.DECISION, ev.TRIAL_STARTED
_EXPERIMENT_START, _EXPERIMENT_END = ev.EXPERIMENT_START, ev.EXPERIMENT_END


class FactsBuilder:
    """RunFacts, one event at a time, in one pass.

    keep_per_trial=False keeps no event of PER_TRIAL_KINDS in `events` and `by_kind` (what the built-in
    sections and the energy section read of them is folded on the way), so that deriving the outputs of a log
    of 100,000 trials holds its trials, not its 800,000 events.
    """

    def __init__(self, state: Optional[ExperimentState] = None, *, keep_per_trial: bool = True,
                 folded: bool = False) -> None:
        self.state = state
        self._folded = folded  # `state` is the fold of these events already
        self._keep_all = keep_per_trial
        self._early: list[Mapping[str, Any]] = []  # events before the first experiment_start, held to fold
        self.events: list[Mapping[str, Any]] = []
        self.by_kind: dict[str, list[Mapping[str, Any]]] = {}
        self._segs: list[list[Any]] = []
        self._first_t: Optional[float] = None
        self._last_t: Optional[float] = None
        self.n_events = 0
        self.actions: Counter[str] = Counter()
        self.stops: Counter[str] = Counter()
        self.resources: dict[Any, Mapping[str, Any]] = {}  # trial id -> resources of its latest start
        self.max_t = 0.0  # the energy section's "last event" (every t read as a float, 0 where absent)
        self._max_seen = False

    def add(self, e: Mapping[str, Any]) -> None:
        # Called once per event of the log (800,000 for 100,000 trials): written for speed.
        kind = e.get("event")
        self.n_events += 1
        if self.state is not None and not self._folded:
            self.state.apply(e)
        else:
            self._fold(e, kind)
        if self._keep_all or kind not in PER_TRIAL_KINDS:
            self.events.append(e)
            same = self.by_kind.get(kind)
            if same is None:
                self.by_kind[kind] = same = []
            same.append(e)
        if kind == _DECISION:
            action = e.get("action")
            self.actions[str(action)] += 1
            if action == "stop":
                self.stops[str((e.get("reason") or {}).get("rule"))] += 1
        elif kind == _TRIAL_STARTED:
            self.resources[e["trial_id"]] = e.get("resources") or {}
        raw = e.get("t", 0.0)
        if type(raw) is float and raw - raw == 0.0:  # the usual case: a finite float, both readings agree
            t: Optional[float] = raw
        else:
            t = _t(e)
            try:
                raw = float(raw)
            except (TypeError, ValueError):
                raw = None
        if raw is not None:  # the energy section's reading: any t, as a float, 0 where absent
            if not self._max_seen or raw > self.max_t:
                self.max_t = raw
            self._max_seen = True
        if t is not None:
            if self._first_t is None:
                self._first_t = t
            if self._last_t is None or t > self._last_t:
                self._last_t = t
        segs = self._segs
        if kind == _EXPERIMENT_START:
            segs.append([e, None, t or 0.0])
        elif segs and segs[-1][1] is None:
            last = segs[-1]
            if t is not None and t > last[2]:
                last[2] = t
            if kind == _EXPERIMENT_END:
                last[1] = e

    def _fold(self, e: Mapping[str, Any], kind: Any) -> None:
        """Into the state, whose metric and mode come from the first experiment_start (raybench.core.state.fold):
        events before it wait for it."""
        if self._folded:
            return
        if self.state is None:
            if kind != ev.EXPERIMENT_START:
                self._early.append(e)
                return
            self.state = ExperimentState.for_config(e.get("config") or {})
            for early in self._early:
                self.state.apply(early)
            self._early = []
        self.state.apply(e)

    def facts(self, rows: Optional[Sequence[TrialRow]] = None) -> RunFacts:
        if self.state is None:  # a log without an experiment_start
            self.state = fold(self._early)
            self._early = []
        segs = self._segs
        start_t = _t(segs[0][0]) if segs else None
        return RunFacts(self.events, self.state, derive_trials(self.state) if rows is None else rows,
                        start_t if start_t is not None else self._first_t, self.by_kind, self._last_t,
                        tuple((s, end, last) for s, end, last in segs), self.n_events, dict(self.actions),
                        dict(self.stops))


def run_facts(events: Sequence[Mapping[str, Any]], rows: Optional[Sequence[TrialRow]] = None,
              state: Optional[ExperimentState] = None) -> RunFacts:
    """The facts of a run, with one pass over its events (a log of 100,000 trials has about 800,000).
    A given `state` is the fold of these events already."""
    b = FactsBuilder(fold(events) if state is None else state, folded=True)
    for e in events:
        b.add(e)
    return b.facts(rows)


def derive_summary(
    events: Iterable[Mapping[str, Any]],
    *,
    damage: Sequence[Damage] = (),
    extra: Sequence[Section] = (),
    rows: Optional[Sequence[TrialRow]] = None,
    state: Optional[ExperimentState] = None,
) -> dict[str, Any]:
    """summary.json as a dict of plain JSON values.

    extra: more sections, each a function of the event list (or a ready dict) returning top-level keys;
    a key that clashes with an existing one raises ValueError rather than silently replacing it.
    rows, state: the derive_trials result and the folded state, when the caller already has them.
    """
    events = list(events)
    return summary_of(run_facts(events, rows, state), damage=damage, extra=extra, events=events)


def summary_of(facts: RunFacts, *, damage: Sequence[Damage] = (), extra: Sequence[Section] = (),
               events: Optional[Sequence[Mapping[str, Any]]] = None) -> dict[str, Any]:
    """derive_summary from facts already gathered; an extra section that is a function is given `events`
    (required then: facts built without the per-trial kinds do not have them all)."""
    summary: dict[str, Any] = {"schema": SUMMARY_SCHEMA}
    for section in SECTIONS:
        summary.update(section(facts))
    if damage:
        summary["damage"] = [d.to_dict() for d in damage]
    for section in extra:
        if callable(section) and events is None:
            raise ValueError("an extra summary section that reads the events needs them: pass events=")
        part = section(events) if callable(section) else section
        clash = sorted(set(part) & set(summary))
        if clash:
            raise ValueError(f"extra summary section repeats key(s) {', '.join(clash)}; rename them")
        summary.update(part)
    return jsonable(summary)
