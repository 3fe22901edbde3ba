"""The run's plots as PNG files in RUN_DIR/plots/, drawn from the event log (docs/report.md).

`write_plots(run)` draws every plot the run has data for and says, in `notes`, why any other was left
out (no energy samples, no stop decisions, ...), so the HTML report can say so instead of going quiet.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Union

from matplotlib.figure import Figure

from raybench.report.plots._data import (
    OUTCOME_COLORS,
    PlotIndex,
    RunData,
    Span,
    Stop,
    load_run,
    reported_steps,
    run_data,
    stop_decisions,
    trial_spans,
)
from raybench.report.plots._energy import (
    PowerSeries,
    TrialEnergy,
    cumulative_energy,
    energy_provenance,
    energy_samples,
    node_power_w,
    trial_energy_j,
)
from raybench.report.plots._figures import anytime_points, draw_anytime, draw_energy_per_trial, draw_power
from raybench.report.plots._pruning import (
    MAX_PARAMS,
    draw_pruning_timeline,
    draw_stopped_params,
    hyperparameters,
    timeline_sample,
)
from raybench.report.plots._tradeoffs import draw_audit, draw_pareto, pareto_axes

PLOTS_DIR = "plots"
PLOT_NAMES = ("anytime_time", "anytime_energy", "energy_per_trial", "pruning_timeline", "stopped_params", "node_power",
              "pareto", "audit")

__all__ = [
    "OUTCOME_COLORS",
    "PLOTS_DIR",
    "PLOT_NAMES",
    "Plot",
    "PlotSet",
    "PowerSeries",
    "PlotIndex",
    "RunData",
    "Span",
    "Stop",
    "TrialEnergy",
    "cumulative_energy",
    "energy_provenance",
    "energy_samples",
    "load_run",
    "node_power_w",
    "run_data",
    "stop_decisions",
    "trial_energy_j",
    "trial_spans",
    "write_plots",
]


@dataclass(frozen=True)
class Plot:
    """One PNG written: name is one of PLOT_NAMES; alt describes what it shows for readers who cannot see it."""

    name: str
    path: str
    title: str
    alt: str


@dataclass(frozen=True)
class PlotSet:
    plots: tuple[Plot, ...]
    notes: dict[str, str]  # plot name -> why it was not drawn
    energy: Optional[TrialEnergy]  # per-trial joules, None without energy samples or per_trial
    provenance: str  # of the energy samples: measured, estimated, "measured + estimated" or none
    audit: Optional[dict] = None  # run_audit's result, which the HTML table shows beside the plot

    def get(self, name: str) -> Optional[Plot]:
        return next((p for p in self.plots if p.name == name), None)


def run_audit(run: RunData) -> Optional[dict]:
    """RUN_DIR/audit.json where `raybench audit` wrote one (it may use --against), else the audit of the log.
    write_plots makes it once and keeps it in PlotSet.audit for the page's table (seconds at 100,000 trials)."""
    import json

    from raybench.report.audit import AUDIT_FILE

    path = run.run_dir / AUDIT_FILE
    if path.is_file():
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            pass
    return run.log_audit


def _save(fig: Figure, out: Path, name: str, title: str, alt: str) -> Plot:
    path = out / f"{name}.png"
    fig.savefig(path, format="png", metadata={"Software": None})  # no version stamp: same log, same bytes
    return Plot(name, str(path), title, alt)


def write_plots(run: Union[RunData, str, os.PathLike], *, out_dir: Optional[Union[str, os.PathLike]] = None) -> PlotSet:
    """Draw every plot the run has data for into out_dir (RUN_DIR/plots by default).

    run: a RunData from load_run, or a run directory. Plot files of this module that the run no longer has
    data for are removed, so the folder never mixes two versions of a run.
    """
    run = run if isinstance(run, RunData) else load_run(run)
    out = Path(out_dir) if out_dir is not None else run.run_dir / PLOTS_DIR
    out.mkdir(parents=True, exist_ok=True)
    plots: list[Plot] = []
    notes: dict[str, str] = {}
    samples = energy_samples(run)
    prov = energy_provenance(samples)
    curve = cumulative_energy(samples) if samples else None
    points = anytime_points(run, curve)
    final = next((p for p in reversed(points) if p.get("best") is not None), None)
    best_txt = f"final best {final['best']:.4g} (trial #{final['best_trial_id']})" if final else "no best yet"

    plots.append(_save(draw_anytime(run, points, "t_s", "seconds since the run started"), out, "anytime_time",
                       "Best so far against time",
                       f"Step line of the best {run.metric} so far against seconds since the start, with a dot per "
                       f"ended trial coloured by outcome; {len(points)} trial end(s), {best_txt}."))
    if curve is not None:
        plots.append(_save(draw_anytime(run, points, "energy_j", f"cumulative energy of all nodes, J ({prov})"), out,
                           "anytime_energy", "Best so far against energy",
                           f"Step line of the best {run.metric} so far against the cumulative joules of all nodes "
                           f"({prov}) at each trial end; {best_txt}."))
    else:
        notes["anytime_energy"] = "the log has no energy samples, so best-so-far is plotted against time only"

    energy = trial_energy_j(run, samples)
    if energy.joules:
        plots.append(_save(draw_energy_per_trial(run, energy), out, "energy_per_trial", "Energy per trial",
                           f"{'Dots' if len(energy.joules) > 500 else 'Bar chart'} of attributed joules for each of "
                           f"{len(energy.joules)} trials, coloured by outcome "
                           f"(completed, pruned, failed, running); largest {max(energy.joules.values()):.4g} J."))
    else:
        notes["energy_per_trial"] = "no energy samples and no per-trial energy in summary.json"

    stops = stop_decisions(run)
    if any(r.steps for r in run.rows):
        n_steps = len(reported_steps(run))
        shown, every = timeline_sample(range(n_steps))
        sample = (f" A sample: every {every}th of {n_steps:,} trials by id ({len(shown):,} lines), since one line "
                  "per trial would be a blot." if every > 1 else "")
        plots.append(_save(draw_pruning_timeline(run, stops), out, "pruning_timeline", "Pruning timeline",
                           f"One line per trial from its first to its last reported step; {len(stops)} stop "
                           f"decision(s) marked with a cross and labelled with the pruning rule.{sample}"))
    else:
        notes["pruning_timeline"] = "no trial reported a step"

    names = hyperparameters(run)
    n_pruned = sum(r.status == "pruned" for r in run.rows)
    if names and n_pruned:
        more = f"; the first {MAX_PARAMS} of {len(names)} are shown" if len(names) > MAX_PARAMS else ""
        plots.append(_save(draw_stopped_params(run, names), out, "stopped_params", "Stopped configurations",
                           f"One panel per hyperparameter ({', '.join(names[:MAX_PARAMS])}): values of the "
                           f"{n_pruned} stopped trials against the completed ones{more}."))
    else:
        notes["stopped_params"] = "no trial was stopped by the pruner" if names else "the trials have no hyperparameters"

    series = node_power_w(samples)
    if series:
        nodes = sorted({s.node_id for s in series})
        plots.append(_save(draw_power(run, series), out, "node_power", "Node power and trial attempts",
                           f"Watts per domain over time for {len(nodes)} node(s) ({prov}), above a bar per trial "
                           "attempt from its start to its end, coloured by how the attempt ended."))
    else:
        notes["node_power"] = "the log has no energy samples"

    axes = pareto_axes(run)
    if axes is not None:
        n_front = len(run.summary["pareto"].get("trials") or ())
        plots.append(_save(draw_pareto(run, axes), out, "pareto", "Pareto front",
                           f"Each completed trial's {axes[0]} against its {axes[1]}; the {n_front} non-dominated "
                           "trials joined as a step line and labelled."))
    else:
        notes["pareto"] = "the run has one objective (a metric list with energy draws a Pareto front)"

    audit = run_audit(run)
    if audit is not None and audit["rows"]:
        plots.append(_save(draw_audit(audit), out, "audit", "Stops: joules saved against what they cost",
                           f"One point per stop of the pruner ({audit['totals']['stops']}): the joules it saved "
                           "(estimated) against the metric it lost where the trial's full curve is known."))
    else:
        notes["audit"] = "the pruner stopped no trial"

    made = {p.name for p in plots}
    for name in PLOT_NAMES:
        if name not in made:
            (out / f"{name}.png").unlink(missing_ok=True)
    return PlotSet(tuple(plots), notes, energy if energy.joules else None, prov, audit)
