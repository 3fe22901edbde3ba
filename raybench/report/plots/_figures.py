"""The time and energy figures: anytime performance, energy per trial, node power with trial spans.

Figures are built with matplotlib's object API on an Agg canvas, never through pyplot, so drawing needs
no display and leaves no global figure state behind in a long-lived process.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from raybench.report.plots._data import OUTCOME_COLORS, RunData, is_number, plain, trial_spans
from raybench.report.plots._energy import PowerSeries, TrialEnergy, energy_at

_DOMAIN_STYLE = {"cpu": "-", "dram": "--", "gpu": ":"}
_MAX_LABELLED_TRIALS = 40  # beyond this, tick labels on the trial axis overlap; ticks are thinned
_MANY_POINTS = 1_000  # past this many dots, they shrink and turn translucent so that density shows
_MANY_BARS = 500  # past this many trials, energy per trial is drawn as dots, not bars


def _dots(n: int) -> dict[str, Any]:
    """Marker size and opacity for n dots: big and solid for a few, small and translucent for many."""
    return {"s": 28, "alpha": 1.0} if n <= _MANY_POINTS else {"s": 5, "alpha": 0.35}


def new_figure(width_in: float, height_in: float, *, rows: int = 1, height_ratios: Sequence[float] | None = None) -> tuple[Figure, list[Any]]:
    fig = Figure(figsize=(width_in, height_in), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(rows, 1, sharex=rows > 1, height_ratios=height_ratios, squeeze=False)[:, 0]
    for ax in axes:
        ax.grid(True, alpha=0.3, linewidth=0.6)
        ax.spines[["top", "right"]].set_visible(False)
    return fig, list(axes)


def outcome_legend(ax: Any, outcomes: Sequence[str], **kwargs: Any) -> None:
    seen = [o for o in OUTCOME_COLORS if o in set(outcomes)]
    if seen:
        ax.legend(handles=[Patch(color=OUTCOME_COLORS[o], label=o) for o in seen], fontsize=8, **kwargs)


def anytime_points(run: RunData, curve: tuple[Any, Any] | None) -> list[dict[str, Any]]:
    """summary["anytime"] with each trial's own best metric, its Unix end time and, given the cumulative
    energy curve, the run's joules at that end."""
    by_id = {r.trial_id: r for r in run.rows}
    out = []
    for p in run.summary.get("anytime") or []:
        if not is_number(p.get("t_s")):
            continue
        row = by_id.get(int(p["trial_id"]))
        t_abs = run.start_t + float(p["t_s"])
        out.append({**p, "own": row.best_metric if row is not None and row.status != "failed" else None,
                    "energy_j": energy_at(t_abs, curve) if curve is not None else None})
    return out


def draw_anytime(run: RunData, points: list[dict[str, Any]], x_key: str, x_label: str) -> Figure:
    """Best-so-far metric (a step line) over x, with each ended trial's own best value as a dot in its
    outcome colour. Failed trials have no value and show as ticks on the x axis."""
    fig, (ax,) = new_figure(7.5, 4.0)
    xs = [float(p[x_key]) for p in points]
    best = [p["best"] if is_number(p.get("best")) else math.nan for p in points]
    if xs:
        # Extend the last best to the run's end so the curve shows how long it held.
        end_x = (run.end_t - run.start_t) if x_key == "t_s" else max(xs)
        ax.step(xs + [max(end_x, xs[-1])], best + best[-1:], where="post", color="#222222", linewidth=1.8,
                label=f"best {plain(run.metric)} so far")
    for status in ("completed", "pruned", "failed"):
        sel = [p for p in points if p.get("status") == status]
        if status == "failed":
            if sel:
                ax.plot([float(p[x_key]) for p in sel], [0] * len(sel), "|", color=OUTCOME_COLORS["failed"],
                        markersize=12, transform=ax.get_xaxis_transform(), label="failed trial ends", clip_on=False)
            continue
        sel = [p for p in sel if is_number(p.get("own"))]
        if sel:
            ax.scatter(np.array([float(p[x_key]) for p in sel]), np.array([float(p["own"]) for p in sel]), zorder=3,
                       linewidths=0,
                       color=OUTCOME_COLORS[status], label=f"{status} trial (its best)", **_dots(len(points)))
    ax.set_xlabel(x_label)
    ax.set_ylabel(f"{plain(run.metric)} ({plain(run.mode)})")
    ax.set_title(f"Anytime performance: best {plain(run.metric)} so far", fontsize=11, loc="left")
    if xs:
        # "best" placement tests every point against every spot: minutes for 100,000 points.
        ax.legend(fontsize=8, loc="best" if len(points) <= _MANY_POINTS else "lower right")
    else:
        ax.text(0.5, 0.5, "no trial has ended yet", ha="center", va="center", transform=ax.transAxes)
    return fig


def draw_energy_per_trial(run: RunData, energy: TrialEnergy) -> Figure:
    """One bar per trial id with joules, coloured by the trial's status."""
    status = {r.trial_id: r.status for r in run.rows}
    ids = sorted(energy.joules)
    fig, (ax,) = new_figure(max(6.0, min(14.0, 0.35 * len(ids) + 3)), 3.8)
    colors = [OUTCOME_COLORS.get(status.get(t, "pending"), "#999999") for t in ids]
    joules = [energy.joules[t] for t in ids]
    many = len(ids) > _MANY_BARS
    if many:  # thousands of bars are a blot and slow to draw: one dot per trial instead
        ax.scatter(np.arange(len(ids)), np.array(joules, dtype=float), c=colors, linewidths=0, **_dots(len(ids)))
    else:
        ax.bar(range(len(ids)), joules, color=colors, edgecolor="#333333", linewidth=0.4)
    trial_ticks(ax, ids, axis="x")
    ax.set_xlabel("trial")
    ax.set_ylabel(f"energy, J ({energy.provenance})")
    ax.set_title(f"Energy per trial (attributed){f', one dot per trial ({len(ids):,})' if many else ''}",
                 fontsize=11, loc="left", wrap=True)
    outcome_legend(ax, [status.get(t, "pending") for t in ids], loc="upper right")
    return fig


def trial_ticks(ax: Any, ids: Sequence[int], *, axis: str) -> None:
    every = max(1, math.ceil(len(ids) / _MAX_LABELLED_TRIALS))
    pos = list(range(0, len(ids), every))
    labels = [f"#{ids[i]}" for i in pos]
    if axis == "x":
        ax.set_xticks(pos, labels, rotation=90 if len(pos) > 15 else 0, fontsize=8)
    else:
        ax.set_yticks(pos, labels, fontsize=8)


def _power_xy(points: Sequence[tuple[float, float, float]], origin: float) -> tuple[list[float], list[float]]:
    """A step line through (t0, t1, W) intervals, broken (NaN) wherever one interval does not start where
    the previous ended, so a gap in sampling is not drawn as constant power."""
    xs: list[float] = []
    ys: list[float] = []
    prev_t1 = None
    for t0, t1, w in points:
        if prev_t1 is not None and abs(t0 - prev_t1) > 1e-3:
            xs.append(math.nan)
            ys.append(math.nan)
        xs += [t0 - origin, t1 - origin]
        ys += [w, w]
        prev_t1 = t1
    return xs, ys


def short_node_names(node_ids: Sequence[str], *, min_len: int = 6) -> dict[str, str]:
    """Ray's 56-hex-digit node ids cut to the shortest length at which they stay apart: their start, or their
    end where ids share a long start (a fake autoscaler's fff...f00001, fff...f00002)."""
    ids = sorted(set(node_ids))
    longest = max((len(i) for i in ids), default=0)
    for n in range(min_len, longest + 1):
        for head in (True, False):
            short = {i: (i[:n] if head else i[-n:]) for i in ids}
            if len(set(short.values())) == len(ids):
                return {i: (v if v == i else f"{v}…" if head else f"…{v}") for i, v in short.items()}
    return {i: i for i in ids}


def draw_power(run: RunData, series: list[PowerSeries]) -> Figure:
    """Top: watts per node and domain over seconds since the start. Bottom: each trial attempt as a bar
    from its start to its end, coloured by how the attempt ended."""
    spans = trial_spans(run)
    ids = sorted({s.trial_id for s in spans})
    fig, (ax, ax_t) = new_figure(9.0, 5.0 + min(4.0, 0.12 * len(ids)), rows=2,
                                 height_ratios=(2.0, 1.0 + min(3.0, 0.1 * len(ids))))
    nodes = sorted({s.node_id for s in series})
    palette = [f"C{i % 10}" for i in range(len(nodes))]
    names = short_node_names(nodes)
    for s in series:
        xs, ys = _power_xy(s.points, run.start_t)
        ax.plot(xs, ys, _DOMAIN_STYLE.get(s.domain, "-"), color=palette[nodes.index(s.node_id)], linewidth=1.3,
                label=plain(f"{names[s.node_id]} {s.domain} ({s.provenance})"))
    ax.set_ylabel("power, W")
    ax.set_title("Node power per domain, and trial attempts", fontsize=11, loc="left")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    row = {tid: i for i, tid in enumerate(ids)}
    for s in spans:
        ax_t.broken_barh([(s.t0 - run.start_t, max(s.t1 - s.t0, 1e-3))], (row[s.trial_id] - 0.4, 0.8),
                         facecolors=OUTCOME_COLORS.get(s.outcome, "#999999"), alpha=0.85)
    trial_ticks(ax_t, ids, axis="y")
    ax_t.set_ylim(-0.7, len(ids) - 0.3)
    ax_t.invert_yaxis()
    ax_t.set_xlabel("seconds since the run started")
    outcome_legend(ax_t, [s.outcome for s in spans], loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return fig
