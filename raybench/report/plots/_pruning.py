"""The pruning figures: which trial stopped at which step and why, and where in the search space the
stopped trials were compared with the completed ones."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from raybench.report.plots._data import OUTCOME_COLORS, RunData, Stop, is_number, param_text, plain, reported_steps
from raybench.report.plots._figures import new_figure, outcome_legend, trial_ticks

MAX_TIMELINE_TRIALS = 200  # rows in the pruning timeline; past it, a sample of every k-th trial
MAX_PARAMS = 12  # panels in the hyperparameter figure; the rest are named in the report
MAX_CATEGORIES = 15  # bars per categorical panel; rarer values are pooled as "other"
_GROUPS = (("completed", "completed"), ("pruned", "stopped"))


def stop_label(stop: Stop) -> str:
    """A short marker label: the rule, and the rung where the pruner has rungs."""
    rule = str(stop.reason.get("rule") or "stop")
    rung = stop.reason.get("rung")
    return plain(f"{rule} r{rung}" if rung is not None else rule)


def timeline_sample(ids: Sequence[int]) -> tuple[list[int], int]:
    """The trial ids the timeline draws, and the stride: every trial up to MAX_TIMELINE_TRIALS, else every
    k-th by id (k the stride), so that a row stays thicker than a hairline and the figure is not a blot."""
    every = max(1, math.ceil(len(ids) / MAX_TIMELINE_TRIALS))
    return list(ids[::every]), every


def draw_pruning_timeline(run: RunData, stops: Sequence[Stop]) -> Figure:
    """One line per trial from its first to its last reported step, in its status colour; a cross where a
    stop decision ended it, labelled with the rule (and rung); a dot where it ran all its epochs, a square
    where it failed, a triangle where it is still running. Past MAX_TIMELINE_TRIALS trials, every k-th
    trial by id is drawn, and the title says so; the stop counts in the title are over every trial."""
    steps = reported_steps(run)
    status = {r.trial_id: r.status for r in run.rows}
    all_ids = sorted(steps)
    ids, every = timeline_sample(all_ids)
    fig, (ax,) = new_figure(8.0, 2.2 + min(7.0, 0.28 * len(ids)))
    # Past a few dozen trials the rows are thinner than a label: draw thinner and name the rules in the title.
    dense = len(ids) > 40 or len(stops) > 30
    lw, ms = (1.2, 2.5) if dense else (3.0, 4.0)
    row = {tid: i for i, tid in enumerate(ids)}
    # One artist per outcome, not per trial: segments joined by NaN breaks (thousands of artists take minutes).
    by_status: dict[str, list[int]] = {}
    for tid in ids:
        by_status.setdefault(status.get(tid, "pending"), []).append(tid)
    for st, tids in by_status.items():
        color = OUTCOME_COLORS.get(st, "#999999")
        xs = [x for tid in tids for x in (*steps[tid], math.nan)]
        ys = [y for tid in tids for y in (row[tid], row[tid], math.nan)]
        # Markers at both ends, so a trial that reported a single step still shows as a dot.
        ax.plot(xs, ys, "-o", color=color, linewidth=lw, markersize=ms, solid_capstyle="round")
        end = {"completed": "o", "running": ">", "failed": "s"}.get(st)
        if end:
            ax.plot([steps[t][1] for t in tids], [row[t] for t in tids], end, linestyle="none", color=color,
                    markersize=ms + 3)
    shown = [s for s in stops if s.trial_id in row]
    if shown:
        xs = [s.step if s.step is not None else steps[s.trial_id][1] for s in shown]
        ax.plot(xs, [row[s.trial_id] for s in shown], "X", linestyle="none", color="#B22222", markersize=ms + 5,
                zorder=3)
        if not dense:
            for s, x in zip(shown, xs):
                ax.annotate(stop_label(s), (x, row[s.trial_id]), xytext=(6, 3), textcoords="offset points",
                            fontsize=7, color="#7A1010")
    rungs = sorted({float(s.reason["progress"]) for s in stops
                    if s.reason.get("rung") is not None and is_number(s.reason.get("progress"))
                    and s.reason.get("unit") in ("epoch", "step")})
    for x in rungs:
        ax.axvline(x, color="#888888", linestyle=":", linewidth=0.8)
    trial_ticks(ax, ids, axis="y")
    ax.set_ylim(-0.7, max(len(ids), 1) - 0.3)
    ax.invert_yaxis()
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.set_xlabel("step (epoch)")
    rules = Counter(str(s.reason.get("rule") or "stop") for s in stops)
    by_rule = f" ({', '.join(f'{plain(r)} {n}' for r, n in sorted(rules.items()))})" if rules else ""
    sample = f"\nevery {every}th trial by id shown ({len(ids):,} of {len(all_ids):,})" if every > 1 else ""
    ax.set_title(f"Pruning timeline: {len(stops)} stop decision(s){by_rule}{sample}", fontsize=11, loc="left")
    outcome_legend(ax, [status.get(t, "pending") for t in ids], loc="lower right")
    return fig


def _groups(run: RunData) -> dict[str, list[Mapping[str, Any]]]:
    return {label: [r.config for r in run.rows if r.status == status] for status, label in _GROUPS}


def hyperparameters(run: RunData) -> list[str]:
    """Names of the hyperparameters of the completed and stopped trials, sorted."""
    return sorted({k for configs in _groups(run).values() for c in configs for k in c})


def _is_numeric(values: Sequence[Any]) -> bool:
    present = [v for v in values if v is not None]
    return bool(present) and all(is_number(v) for v in present)


def _strip(ax: Any, name: str, groups: Mapping[str, list[Mapping[str, Any]]]) -> None:
    """Numeric values: one jittered row of dots per group, log scale when they span two decades."""
    rng = np.random.default_rng(0)  # fixed jitter: the same run draws the same picture
    values = [c[name] for cs in groups.values() for c in cs if is_number(c.get(name))]
    for y, (label, configs) in enumerate(groups.items()):
        # arrays, not lists: matplotlib masks a list element by element, seconds for 100,000 dots
        xs = np.array([float(c[name]) for c in configs if is_number(c.get(name))], dtype=float)
        status = "completed" if label == "completed" else "pruned"
        many = len(xs) > 1_000  # thousands of dots: small and translucent, so that density shows
        ax.scatter(xs, y + rng.uniform(-0.15, 0.15, len(xs)), s=4 if many else 22, alpha=0.25 if many else 0.8,
                   linewidths=0, color=OUTCOME_COLORS[status])
    if values and min(values) > 0 and max(values) / min(values) >= 100:
        ax.set_xscale("log")
    ax.set_yticks(range(len(groups)), [f"{k} ({len(v)})" for k, v in groups.items()], fontsize=8)
    ax.set_ylim(-0.6, len(groups) - 0.4)


def _bars(ax: Any, name: str, groups: Mapping[str, list[Mapping[str, Any]]]) -> None:
    """Categorical values: side-by-side counts per value for each group."""
    counts = {label: {} for label in groups}
    for label, configs in groups.items():
        for c in configs:
            if name in c:
                v = param_text(c[name])
                counts[label][v] = counts[label].get(v, 0) + 1
    total = {v: sum(cs.get(v, 0) for cs in counts.values()) for cs in counts.values() for v in cs}
    cats = sorted(total, key=lambda v: (-total[v], v))
    if len(cats) > MAX_CATEGORIES:
        keep = set(cats[: MAX_CATEGORIES - 1])
        for cs in counts.values():
            cs["other"] = sum(n for v, n in list(cs.items()) if v not in keep)
        cats = cats[: MAX_CATEGORIES - 1] + ["other"]
    width = 0.8 / len(groups)
    for i, (label, cs) in enumerate(counts.items()):
        status = "completed" if label == "completed" else "pruned"
        ax.bar(np.arange(len(cats)) + (i - (len(groups) - 1) / 2) * width, [cs.get(v, 0) for v in cats], width,
               color=OUTCOME_COLORS[status], label=label)
    ax.set_xticks(range(len(cats)), [plain(c if len(c) <= 14 else c[:13] + "…") for c in cats], fontsize=8,
                  rotation=30 if len(cats) > 4 else 0)
    ax.set_ylabel("trials", fontsize=8)
    ax.yaxis.get_major_locator().set_params(integer=True)


def draw_stopped_params(run: RunData, names: Sequence[str]) -> Figure:
    """One panel per hyperparameter: stopped (pruned) against completed trials."""
    groups = _groups(run)
    names = list(names)[:MAX_PARAMS]
    ncols = min(3, len(names))
    nrows = math.ceil(len(names) / ncols)
    fig = Figure(figsize=(4.2 * ncols, 2.6 * nrows + 0.6), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    for ax, name in zip(axes, names):
        values = [c.get(name) for cs in groups.values() for c in cs]
        (_strip if _is_numeric(values) else _bars)(ax, name, groups)
        ax.set_title(plain(name), fontsize=10, loc="left")
        ax.grid(True, alpha=0.3, linewidth=0.6)
        ax.spines[["top", "right"]].set_visible(False)
    for ax in axes[len(names):]:
        ax.set_visible(False)
    n = {k: len(v) for k, v in groups.items()}
    fig.suptitle(f"Hyperparameters of stopped ({n['stopped']}) and completed ({n['completed']}) trials",
                 fontsize=11, x=0.01, ha="left")
    axes[0].legend(handles=[Patch(color=OUTCOME_COLORS["completed"], label="completed"),
                            Patch(color=OUTCOME_COLORS["pruned"], label="stopped (pruned)")], fontsize=8, loc="best")
    return fig
