"""Two trade-off plots: the Pareto front of a run with several objectives (its metric against joules), and
the audit's joules saved by each stop against what the stop cost in the metric."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Optional

from matplotlib.figure import Figure

from raybench.report.plots._data import OUTCOME_COLORS, RunData, is_number
from raybench.report.plots._figures import new_figure

ENERGY_OBJECTIVES = ("energy_j", "energy_with_idle_j")


def pareto_axes(run: RunData) -> Optional[tuple[str, str]]:
    """(metric, energy objective) for a run whose objectives include both, else None."""
    pareto = run.summary.get("pareto")
    if not isinstance(pareto, Mapping) or not pareto.get("objectives"):
        return None
    names = [o.get("name") for o in pareto["objectives"]]
    energy = next((n for n in names if n in ENERGY_OBJECTIVES), None)
    metric = run.metric if run.metric in names else next((n for n in names if n not in ENERGY_OBJECTIVES), None)
    return (metric, energy) if metric and energy else None


def draw_pareto(run: RunData, axes: tuple[str, str]) -> Figure:
    """Every completed trial with its objective values: the metric against joules, the front highlighted."""
    metric, energy = axes
    front = {t["trial_id"] for t in run.summary["pareto"].get("trials") or ()}
    pts = [(t.trial_id, t.objectives[energy], t.objectives[metric]) for t in run.state.trials.values()
           if t.objectives and is_number(t.objectives.get(energy)) and is_number(t.objectives.get(metric))]
    fig, (ax,) = new_figure(7.5, 4.2)
    rest = [p for p in pts if p[0] not in front]
    ax.scatter([p[1] for p in rest], [p[2] for p in rest], s=18, color=OUTCOME_COLORS["pending"], alpha=0.7,
               label="dominated")
    on = sorted((p for p in pts if p[0] in front), key=lambda p: p[1])
    ax.plot([p[1] for p in on], [p[2] for p in on], "-o", color=OUTCOME_COLORS["completed"], markersize=5,
            drawstyle="steps-post", label=f"Pareto front ({len(on)} trials)")
    for tid, x, y in on:
        ax.annotate(f"#{tid}", (x, y), textcoords="offset points", xytext=(3, 3), fontsize=7)
    ax.set_xlabel(f"{energy} (attributed, J)")
    ax.set_ylabel(metric)
    ax.set_title(f"{metric} against energy per trial", fontsize=11, loc="left")
    ax.legend(loc="best", fontsize=8, frameon=False)
    return fig


def draw_audit(audit: Mapping[str, Any]) -> Figure:
    """One point per stop: the joules it saved (estimated) against what it lost in the metric where the
    trial's full curve is known (0 for a right stop); stops whose final is unknown sit on a line of their own."""
    rows = [r for r in audit.get("rows") or () if not r.get("counterfactual") and is_number(r.get("saved_j"))]
    sign = 1.0 if audit.get("mode", "max") == "max" else -1.0
    best = (audit.get("totals") or {}).get("best_final")
    fig, (ax,) = new_figure(7.5, 4.0)
    known = [r for r in rows if r.get("wrong") is not None and is_number(r.get("would_have_final")) and is_number(best)]
    unknown = [r for r in rows if r not in known]
    right = [r for r in known if not r["wrong"]]
    wrong = [r for r in known if r["wrong"]]
    ax.scatter([r["saved_j"] for r in right], [0.0] * len(right), s=20, color=OUTCOME_COLORS["completed"],
               label=f"right stop ({len(right)})")
    ax.scatter([r["saved_j"] for r in wrong], [sign * (r["would_have_final"] - best) for r in wrong], s=28,
               color=OUTCOME_COLORS["failed"], marker="x", label=f"wrong stop ({len(wrong)})")
    if unknown:
        ax.scatter([r["saved_j"] for r in unknown], [0.0] * len(unknown), s=14, facecolors="none",
                   edgecolors=OUTCOME_COLORS["pending"], label=f"final unknown ({len(unknown)})")
    ax.set_xlabel("joules saved by the stop (estimated)")
    ax.set_ylabel(f"{audit.get('metric', 'metric')} lost vs the run's best")
    tot = audit.get("totals") or {}
    ax.set_title(f"Stops: {tot.get('stops', 0)}, saved {tot.get('saved_j') or 0:.4g} J; regret "
                 f"{tot.get('regret') if tot.get('regret') is not None else 'unknown'}", fontsize=11, loc="left")
    ax.legend(loc="best", fontsize=8, frameon=False)
    return fig
