"""Replay: a recorded run's learning curves through the scheduler core, on simulated workers and a
simulated clock, under another pruner or sampler. Counterfactual seconds and joules without retraining.

Energy model (docs/replay.md): a trial costs its recorded joules for the epochs it runs; each epoch's
joules are the trial's attributed active joules (cpu + dram + gpu) split over its epochs by their
recorded seconds; the source run's idle and unattributed power, as a mean over its wall time, is charged
for the simulated wall time. Every figure a replay writes carries the provenance "replayed".
"""

from __future__ import annotations

import csv
import heapq
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Optional

from raybench.config import ExperimentConfig
from raybench.core.records import Finished, Wait
from raybench.core.scheduler import SchedulerCore
from raybench.core.state import ExperimentState, TrialStatus, fold
from raybench.errors import UserError
from raybench.search.decision import Action
from raybench.search.samplers import Sampler
from raybench.search.space import grid_values

REPLAYED = "replayed"
DOMAINS = ("cpu", "dram", "gpu")


@dataclass(frozen=True)
class Epoch:
    metrics: dict[str, float]
    seconds: float
    joules: dict[str, float]  # per domain


@dataclass
class Curve:
    """One recorded configuration: its epochs in order (epoch k is epochs[k-1])."""

    config: dict[str, Any]
    epochs: list[Epoch] = field(default_factory=list)


@dataclass
class Source:
    """What a replay reads from: the config, the curves in recorded order, and the idle power."""

    config: ExperimentConfig
    curves: list[Curve]
    idle_w: float = 0.0
    run_id: Optional[str] = None
    path: Optional[str] = None
    provenance: dict[str, str] = field(default_factory=dict)
    concurrency: int = 1

    def full_grid(self) -> bool:
        """Whether every config of the (finite) space has a curve that runs all its epochs."""
        space = self.config.space()
        try:
            n = math.prod(len(grid_values(p)) for p in space.values())
        except (TypeError, ValueError):
            return False
        full = {_key(c.config) for c in self.curves if len(c.epochs) >= self.config.task.epochs}
        return len(full) == n


def _key(config: Mapping[str, Any]) -> tuple:
    return tuple(sorted((k, repr(v)) for k, v in config.items()))


# ---- reading a source -----------------------------------------------------------------------------

def source_from_run(run_dir: str, events: Sequence[Mapping[str, Any]], energy: Optional[Mapping[str, Any]]) -> Source:
    """A Source from a run's events and its derived energy section (summary.json's "energy")."""
    start = next((e for e in events if e.get("event") == "experiment_start"), None)
    if start is None:
        raise UserError(f"{run_dir}: the log has no experiment_start; it cannot be replayed")
    config = ExperimentConfig.model_validate(start["config"])
    state: ExperimentState = fold(events)
    reports: dict[int, dict[int, Mapping[str, Any]]] = {}
    for e in events:
        if e.get("event") == "report" and isinstance(e.get("trial_id"), int) and isinstance(e.get("step"), int):
            reports.setdefault(e["trial_id"], {})[e["step"]] = e  # the last attempt's report of each step
    per_trial = {int(p["trial_id"]): p for p in (energy or {}).get("per_trial") or () if "trial_id" in p}
    curves = []
    for tid in sorted(state.trials):
        t = state.trials[tid]
        steps = reports.get(tid, {})
        if not t.known or not steps or t.status is TrialStatus.FAILED:
            continue
        ordered = [steps[k] for k in range(1, max(steps) + 1) if k in steps]
        if len(ordered) != max(steps):
            continue  # a gap in its curve (damage): it cannot be replayed epoch by epoch
        seconds = [max(0.0, float(r.get("elapsed_s") or 0.0)) for r in ordered]
        secs = [b - a if b >= a else b for a, b in zip([0.0, *seconds[:-1]], seconds)]
        joules = _domain_j(per_trial.get(tid))
        total_s = math.fsum(secs)
        epochs = [Epoch(dict(r.get("metrics") or {}), s,
                        {d: j * (s / total_s if total_s > 0 else 1.0 / len(secs)) for d, j in joules.items()})
                  for r, s in zip(ordered, secs)]
        curves.append(Curve(dict(t.config), epochs))
    buckets = (energy or {}).get("buckets") or {}
    wall = max((float(e["t"]) for e in events if isinstance(e.get("t"), (int, float))), default=0.0) - float(start["t"])
    idle_j = float(buckets.get("unattributed_j", 0.0)) + float(buckets.get("idle_reserved_j", 0.0))
    return Source(config=config, curves=curves, idle_w=idle_j / wall if wall > 0 else 0.0,
                  run_id=start.get("run_id"), path=os.path.abspath(run_dir),
                  provenance=dict((energy or {}).get("provenance") or {}),
                  concurrency=int(start.get("effective_concurrency") or 1))


def _domain_j(entry: Optional[Mapping[str, Any]]) -> dict[str, float]:
    """A summary per_trial entry's attributed joules per domain (energy_cpu_j ...; older: energy_j.cpu)."""
    if not entry:
        return dict.fromkeys(DOMAINS, 0.0)
    old = entry.get("energy_j") if isinstance(entry.get("energy_j"), Mapping) else {}
    return {d: float(entry.get(f"energy_{d}_j") or old.get(d) or 0.0) for d in DOMAINS}


CURVE_COLUMNS = ("epoch", "value", "seconds")


def source_from_csv(path: str, *, metric: str = "val_accuracy", mode: str = "max") -> Source:
    """A Source from a table of learning curves: one row per (config, epoch) with the columns epoch, value,
    seconds, optionally joules, and one `param.NAME` column per hyperparameter (docs/replay.md)."""
    try:
        with open(path, newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
    except OSError as e:
        raise UserError(f"cannot read {path}: {e.strerror or e}; check the path") from None
    if not rows:
        raise UserError(f"{path}: no rows; a curves table needs a header and one row per (config, epoch)")
    cols = set(rows[0])
    missing = [c for c in CURVE_COLUMNS if c not in cols]
    params = sorted(c[len("param."):] for c in cols if c.startswith("param."))
    if missing or not params:
        raise UserError(f"{path}: needs the columns {', '.join(CURVE_COLUMNS)} and at least one param.NAME column"
                        f"{'; missing ' + ', '.join(missing) if missing else ''}")
    by_config: dict[tuple, Curve] = {}
    values: dict[str, list[Any]] = {p: [] for p in params}
    for i, row in enumerate(rows, start=2):
        try:
            config = {p: _cell(row[f"param.{p}"]) for p in params}
            epoch, value, seconds = int(row["epoch"]), float(row["value"]), float(row["seconds"])
            joules = float(row["joules"]) if row.get("joules") not in (None, "") else 0.0
        except (TypeError, ValueError):
            raise UserError(f"{path}:{i}: epoch must be an int and value, seconds, joules numbers; got {row}") from None
        for p in params:
            if config[p] not in values[p]:
                values[p].append(config[p])
        curve = by_config.setdefault(_key(config), Curve(config))
        if epoch != len(curve.epochs) + 1:
            raise UserError(f"{path}:{i}: epochs of one config must run 1, 2, 3 ... in order; got epoch {epoch}")
        curve.epochs.append(Epoch({metric: value}, seconds, {"cpu": joules, "dram": 0.0, "gpu": 0.0}))
    epochs = max(len(c.epochs) for c in by_config.values())
    config = ExperimentConfig.model_validate({
        "name": os.path.splitext(os.path.basename(path))[0] or "curves",
        "task": {"dataset": "synthetic", "epochs": epochs},
        "metric": {"name": metric, "mode": mode},
        "search_space": {p: {"type": "choice", "values": sorted(values[p], key=repr)} for p in params},
        "sampler": {"type": "grid"}, "workers": {"count": 1, "cpus": 1},
    })
    return Source(config=config, curves=list(by_config.values()), path=os.path.abspath(path),
                  provenance={"cpu": "recorded"})


def _cell(text: str) -> Any:
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return {"true": True, "false": False}.get(text.lower(), text)


# ---- the replayed order of configs ----------------------------------------------------------------

class RecordedOrder(Sampler):
    """The source's configs in the order they were recorded, then nothing."""

    def __init__(self, space, *, seed: int = 0, mode: str = "max", configs: Sequence[Mapping[str, Any]] = ()) -> None:
        super().__init__(space, seed=seed, mode=mode)
        self._order = [dict(c) for c in configs]

    def _propose(self, trial_id: int):
        return dict(self._order[trial_id]) if trial_id < len(self._order) else None


# ---- the simulation ---------------------------------------------------------------------------------

class SimClock:
    def __init__(self, t: float) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


@dataclass
class ReplayResult:
    reports: int
    trials: int
    simulated_s: float


def replay(source: Source, config: ExperimentConfig, log, *, workers: int, sampler_changed: bool,
           run_id: str = "replay") -> ReplayResult:
    """Run `config` over the source's curves with `workers` simulated workers; every event goes to `log`."""
    if workers < 1:
        raise UserError(f"--workers must be >= 1, got {workers}")
    curves = {_key(c.config): c for c in source.curves}
    t0 = 0.0
    clock = SimClock(t0)
    core = SchedulerCore(config, log, clock=clock)
    if not sampler_changed:
        core.sampler = RecordedOrder(core.space, seed=config.seed, mode=config.metric.mode,
                                     configs=[c.config for c in source.curves])
    core.start(run_id=run_id, env={"replay": True}, requested=workers, effective=workers, resumed=False,
               replay_of={"run_id": source.run_id, "path": source.path, "provenance": source.provenance})
    idle_node = "replay-idle"
    # Per-epoch samples only where a decision reads joules while a trial runs (progress in joules, or an
    # energy budget); otherwise one sample per trial at its end gives every trial the same joules.
    per_epoch = getattr(config.pruner, "progress", "epoch") == "energy_j" or config.budget.max_energy_j is not None
    # (time, order, worker, kind, payload): "ask" for the next trial, "epoch" when an epoch's report is due.
    queue: list[tuple[float, int, int, str, Any]] = []
    order = 0
    for w in range(workers):
        queue.append((t0, order, w, "ask", None))
        order += 1
    heapq.heapify(queue)
    reports = 0
    last_t = t0
    # Workers told to Wait (paused trials may yet be promoted) ask again right after the next event that
    # is not another worker's wait; re-queueing them at once would let two waiting workers ask each other's
    # turn forever without simulated time moving on.
    waiting: list[int] = []
    while queue:
        t, _, w, kind, payload = heapq.heappop(queue)
        clock.t = t
        if kind == "ask":
            a = core.next_trial(w, f"replay-worker-{w}", 0, payload)
            if a is None:
                continue
            if isinstance(a, Wait):
                waiting.append(w)
                continue
            curve = curves.get(_key(a.config))
            if curve is None:
                raise UserError(f"the sampler asked for {a.config}, which the source did not record; replay with "
                                "the source's sampler, or from an exhaustive grid run")
            job = (a, curve, a.from_step + 1, t)
            if not curve.epochs:
                heapq.heappush(queue, (t, order, w, "ask", Finished(a.trial_id, "pruned")))
            else:
                heapq.heappush(queue, (t + curve.epochs[a.from_step].seconds, order, w, "epoch", job))
            order += 1
            order = _wake(queue, waiting, t, order)
            continue
        a, curve, step, started = payload
        ep = curve.epochs[step - 1]
        if per_epoch:
            core.energy([_sample(f"replay-worker-{w}", t - ep.seconds, t, {a.trial_id: ep.joules})])
        # A simulated worker keeps every epoch's state (an empty checkpoint), so a promoted or retried trial
        # continues after its last epoch, as a live run with checkpoints does.
        action = core.report(a.trial_id, step, ep.metrics, t - started, checkpoint={} if a.send_checkpoints else None)
        reports += 1
        last = step >= min(a.epochs, len(curve.epochs))
        if action is Action.PAUSE and not last:
            if not per_epoch:
                ran = curve.epochs[a.from_step:step]
                joules = {d: math.fsum(e.joules[d] for e in ran) for d in DOMAINS}
                core.energy([_sample(f"replay-worker-{w}", started, t, {a.trial_id: joules})])
            heapq.heappush(queue, (t, order, w, "ask", Finished(a.trial_id, "paused")))
        elif action is Action.STOP or last:
            if not per_epoch:  # the trial's joules in one sample over its span: the same attribution, fewer events
                ran = curve.epochs[a.from_step:step]
                joules = {d: math.fsum(e.joules[d] for e in ran) for d in DOMAINS}
                core.energy([_sample(f"replay-worker-{w}", started, t, {a.trial_id: joules})])
            status = "completed" if step >= a.epochs else "pruned"
            if last and step < a.epochs and action is not Action.STOP:
                core.emit("warning", code="curve_ended",
                          message=f"trial {a.trial_id}: the source recorded {len(curve.epochs)} of {a.epochs} "
                                  "epochs for its config; it ends there")
            heapq.heappush(queue, (t, order, w, "ask", Finished(a.trial_id, status)))
        else:
            nxt = curve.epochs[step]
            heapq.heappush(queue, (t + nxt.seconds, order, w, "epoch", (a, curve, step + 1, started)))
        order += 1
        order = _wake(queue, waiting, t, order)
        last_t = max(last_t, t)
    if source.idle_w > 0 and last_t > t0:
        core.energy([_sample(idle_node, t0, last_t, {}, idle_j=source.idle_w * (last_t - t0))])
    core.end("completed", "replay")
    return ReplayResult(reports=reports, trials=len(core.state), simulated_s=last_t - t0)


def _wake(queue: list, waiting: list[int], t: float, order: int) -> int:
    """Something happened at time t: the waiting workers ask again then, after it."""
    for w in waiting:
        heapq.heappush(queue, (t, order, w, "ask", None))
        order += 1
    waiting.clear()
    return order


def _sample(node: str, t0: float, t1: float, trials: Mapping[int, Mapping[str, float]], *,
            idle_j: float = 0.0) -> dict[str, Any]:
    """An energy_sample on one simulated worker (one trial at a time, so the attribution gives that trial
    exactly its recorded joules per domain), or the idle one (no trial: it stays unattributed)."""
    energy = {d: math.fsum(j.get(d, 0.0) for j in trials.values()) for d in DOMAINS}
    energy["cpu"] += idle_j
    return {"event": "energy_sample", "t": t1, "node_id": node, "t0": t0, "t1": t1, "energy_j": energy,
            "provenance": dict.fromkeys(DOMAINS, REPLAYED), "node_cpu_s": float(len(trials)),
            "trial_cpu_s": dict.fromkeys(trials, 1.0),
            "trial_gpu_j": {tid: j.get("gpu", 0.0) for tid, j in trials.items()},
            "reserved": {}, "node_resources": {}}


def check_sampler_change(source: Source, new_sampler: Mapping[str, Any]) -> None:
    """A sampler may change only over an exhaustive grid run: it can then only ask for recorded configs."""
    if not source.full_grid():
        raise UserError("only the pruner can change when replaying this run: the sampler may choose among recorded "
                        "configs only when the source is an exhaustive grid run without pruning")
    if new_sampler.get("type") not in ("grid", "random", "tpe"):
        raise UserError(f"sampler {new_sampler.get('type')!r} cannot be replayed; use grid, random or tpe, which "
                        "draw from the recorded grid's values")


def replay_config(source: Source, *, pruner: Optional[Mapping[str, Any]] = None,
                  sampler: Optional[Mapping[str, Any]] = None, workers: Optional[int] = None,
                  seed: Optional[int] = None, budget: Optional[Mapping[str, Any]] = None) -> ExperimentConfig:
    """The source's config with another pruner, sampler, concurrency, seed or budget; one-line errors."""
    from raybench.config import validate

    data = source.config.to_dict()
    data["name"] = f"{source.config.name}-replay"
    if pruner is not None:
        data["pruner"] = dict(pruner)
    if sampler is not None:
        check_sampler_change(source, sampler)
        data["sampler"] = dict(sampler)
    if seed is not None:
        data["seed"] = seed
    data["workers"] = {**data["workers"], "count": workers or source.concurrency}
    # Recorded-order replays give every recorded config; a changed sampler keeps the budget it is given.
    data["budget"] = {**data["budget"], **(budget or {}), **({} if sampler else {"max_trials": None})}
    return validate(ExperimentConfig, data, "replay")


def replay_to_dir(source: Source, config: ExperimentConfig, out_dir: str, *,
                  sampler_changed: bool) -> tuple[ReplayResult, dict[str, Any]]:
    """Replay into out_dir (an empty directory): its event log, then summary.json and trials.csv (returned)."""
    from raybench.events import EVENTS_FILE, EventLog, write_run_outputs

    log = EventLog.open(os.path.join(out_dir, EVENTS_FILE), buffered=True)  # a replay can be made again
    try:
        result = replay(source, config, log, workers=config.workers.count, sampler_changed=sampler_changed)
    finally:
        log.close()
    return result, write_run_outputs(out_dir)


def load_source(run_dir: str) -> Source:
    """A run directory as a replay source (its log and its derived energy section)."""
    from raybench.events import EVENTS_FILE, read_events
    from raybench.events.derive import run_log, section_energy

    run_log(run_dir)
    events = read_events(os.path.join(run_dir, EVENTS_FILE)).events
    source = source_from_run(run_dir, events, section_energy(events).get("energy"))
    if not source.curves:
        raise UserError(f"{run_dir}: no trial with a learning curve to replay")
    return source
