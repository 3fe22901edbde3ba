"""Warm starts: the finished trials of earlier runs, read from their event logs, to seed a sampler.

`load_warm_start(run_dirs, space, objectives=...)` returns the trials as `WarmTrial` records and a
`WarmStartReport` of what was kept and dropped. An earlier run must have the same parameter names and
types (choice, uniform, loguniform, int) and the objectives this run optimises; bounds and choices may
differ: a trial with a value outside the new space is dropped and counted. A trial's value for the
earlier run's judged metric is its `trial_completed` event's `final_metric` (completed or pruned); a
value for any other objective comes from its `trial_objectives` event (written, for runs with several
objectives, once the trial's energy is final; pruned trials have none). Trials without every value
this run needs are skipped and counted.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional, Union

from raybench.events import EVENTS_FILE, read_events
from raybench.search import space as sp


@dataclass(frozen=True)
class WarmTrial:
    """A finished trial of an earlier run: its config, and its value per objective."""

    config: dict[str, sp.Scalar]
    values: tuple[float, ...]
    source: str = ""  # the run directory it came from
    trial_id: int = -1  # its id in that run


@dataclass(frozen=True)
class WarmRun:
    """What one earlier run gave: trials kept, trials dropped for lying outside the new space, trials
    skipped for having no value (failed, unfinished, or no value for an objective)."""

    run_dir: str
    kept: int
    dropped_out_of_space: int
    skipped_without_value: int


@dataclass(frozen=True)
class WarmStartReport:
    runs: tuple[WarmRun, ...]

    @property
    def kept(self) -> int:
        return sum(r.kept for r in self.runs)

    @property
    def dropped_out_of_space(self) -> int:
        return sum(r.dropped_out_of_space for r in self.runs)

    def line(self) -> str:
        """One human line, e.g. for a warning event."""
        return (f"warm start: {self.kept} trials from {len(self.runs)} earlier run(s), "
                f"{self.dropped_out_of_space} dropped outside the space, "
                f"{sum(r.skipped_without_value for r in self.runs)} without a value")


PathLike = Union[str, "os.PathLike[str]"]


def load_warm_start(run_dirs: Sequence[PathLike], space: Mapping[str, sp.Param], *,
                    objectives: Sequence[tuple[Optional[str], str]]) -> tuple[list[WarmTrial], WarmStartReport]:
    """The finished trials of earlier runs, in run order then trial-id order; ValueError (one line) for a
    run that cannot be read or is incompatible."""
    if isinstance(run_dirs, (str, os.PathLike)):
        run_dirs = [run_dirs]
    trials: list[WarmTrial] = []
    runs = []
    for run_dir in run_dirs:
        kept, run = _load_run(Path(run_dir), space, objectives)
        trials.extend(kept)
        runs.append(run)
    return trials, WarmStartReport(tuple(runs))


def _load_run(run_dir: Path, space: Mapping[str, sp.Param], objectives: Sequence[tuple[Optional[str], str]]
              ) -> tuple[list[WarmTrial], WarmRun]:
    log = run_dir / EVENTS_FILE
    if not log.is_file():
        raise ValueError(f"warm_start: {run_dir} has no {EVENTS_FILE}; give the directory of an earlier run")
    events = read_events(log).events
    start = next((e for e in events if e.get("event") == "experiment_start"), None)
    if start is None or not isinstance(start.get("config"), Mapping):
        raise ValueError(f"warm_start: {run_dir} has no experiment_start with a config; it cannot be used")
    config = start["config"]
    _check_space(run_dir, config.get("search_space") or {}, space)
    judged = _metric(config.get("metric"))
    listed = config.get("objectives")
    earlier = [_metric(m) for m in listed] if isinstance(listed, list) and listed else [judged]
    _check_objectives(run_dir, judged, earlier, objectives)
    configs: dict[int, Mapping[str, Any]] = {}
    named: dict[int, dict[str, Any]] = {}  # trial -> objective name -> value
    for e in events:
        kind, trial_id = e.get("event"), e.get("trial_id")
        if kind == "trial_created" and isinstance(e.get("config"), Mapping):
            configs[trial_id] = e["config"]
        elif kind == "trial_completed":
            named.setdefault(trial_id, {})[judged[0]] = e.get("final_metric")
        elif kind == "trial_objectives" and isinstance(e.get("values"), Mapping):
            named.setdefault(trial_id, {}).update(e["values"])
    kept, dropped, skipped = [], 0, 0
    for trial_id in sorted(set(configs) | set(named)):
        value = _values(named.get(trial_id, {}), judged, objectives)
        if value is None or trial_id not in configs:
            skipped += 1
            continue
        trial_config = configs[trial_id]
        if not _inside(trial_config, space):
            dropped += 1
            continue
        kept.append(WarmTrial(config={n: trial_config[n] for n in space}, values=value, source=str(run_dir),
                              trial_id=trial_id))
    return kept, WarmRun(str(run_dir), len(kept), dropped, skipped)


def _kind(spec: Any) -> str:
    """A parameter's type as the config spells it: choice, uniform, loguniform or int."""
    if isinstance(spec, Mapping):
        return str(spec.get("type"))
    if isinstance(spec, sp.Choice):
        return "choice"
    if isinstance(spec, sp.LogUniform):
        return "loguniform"
    if isinstance(spec, sp.Uniform):
        return "uniform"
    return "int"


def _check_space(run_dir: Path, old: Mapping[str, Any], space: Mapping[str, sp.Param]) -> None:
    missing, extra = sorted(set(space) - set(old)), sorted(set(old) - set(space))
    if missing or extra:
        raise ValueError(f"warm_start: {run_dir} has another search space: missing there {missing}, "
                         f"only there {extra}")
    for name, param in space.items():
        if _kind(old[name]) != _kind(param):
            raise ValueError(f"warm_start: {run_dir} has parameter {name!r} as {_kind(old[name])}, here it is "
                             f"{_kind(param)}")


def _metric(spec: Any) -> tuple[str, str]:
    """(name, mode) of a metric spec as the config writes it."""
    spec = spec if isinstance(spec, Mapping) else {}
    return str(spec.get("name", "val_accuracy")), str(spec.get("mode", "max"))


def _check_objectives(run_dir: Path, judged: tuple[str, str], earlier: list[tuple[str, str]],
                      objectives: Sequence[tuple[Optional[str], str]]) -> None:
    if len(objectives) == 1 and objectives[0][0] is None:  # unnamed: compared with the judged metric's mode
        if judged[1] != objectives[0][1]:
            raise ValueError(f"warm_start: {run_dir} {judged[1]}imised {judged[0]}, this run "
                             f"{objectives[0][1]}imises")
        return
    want = [(n, m) for n, m in objectives]
    if any(o not in earlier and o != judged for o in want):
        raise ValueError(f"warm_start: {run_dir} optimised {earlier}, this run optimises {want}")


def _values(named: Mapping[str, Any], judged: tuple[str, str],
            objectives: Sequence[tuple[Optional[str], str]]) -> Optional[tuple[float, ...]]:
    """The trial's value per objective (an unnamed one is the judged metric); None where one is missing."""
    out = []
    for name, _ in objectives:
        value = named.get(judged[0] if name is None else name)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
            return None
        out.append(float(value))
    return tuple(out)


def _inside(config: Mapping[str, Any], space: Mapping[str, sp.Param]) -> bool:
    if set(config) != set(space):
        return False
    return all(sp.contains(param, config[name]) for name, param in space.items())
