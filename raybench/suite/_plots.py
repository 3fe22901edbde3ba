"""The suite's plots: each measure against the factor, median over seeds with min–max error bars.

A numeric factor (memory, CPUs, nodes) is a line over a numeric axis. A categorical one (pruner, sampler)
is one bar per category: a line joining categories would suggest an order between them that does not exist.
Drawn with the run report's figure style (raybench.report.plots) on an Agg canvas, never through pyplot.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from matplotlib.figure import Figure

COLOR = "#0072B2"
PLOTS = (  # file name, key in by_value, y label, title
    ("jct", "jct_s", "job completion time, s", "Job completion time"),
    ("energy", "energy_j", "energy of all nodes, J", "Energy"),
    ("wattage", "avg_trial_power_w", "average trial power, W", "Trial wattage"),
    ("waste", "waste_j", "wasted trial energy, J", "Waste (labels: share of trial energy)"),
    ("cost", "cost", "optimization cost", "Optimization cost"),
)


def write_suite_plots(doc: Mapping[str, Any], out_dir: str, *, numeric: bool) -> list[str]:
    """Draw OUT/plots/{jct,energy,wattage,waste,cost}.png from suite.json's document; return the paths."""
    os.makedirs(out_dir, exist_ok=True)
    paths = []
    for name, key, ylabel, title in PLOTS:
        fig = draw_suite_plot(doc, key, ylabel, title, numeric=numeric)
        path = os.path.join(out_dir, f"{name}.png")
        fig.savefig(path, format="png", metadata={"Software": None})
        paths.append(path)
    return paths


def draw_suite_plot(doc: Mapping[str, Any], key: str, ylabel: str, title: str, *, numeric: bool) -> Figure:
    """One measure of the suite against its factor: a line for a numeric factor, bars for categories."""
    from raybench.report.plots._figures import new_figure

    by_value = doc["by_value"]
    xs = [float(v["value"]) for v in by_value] if numeric else list(range(len(by_value)))
    multi = len(doc["seeds"]) > 1
    prov = "/".join(sorted({v["provenance"] for v in by_value if v.get("provenance")})) or "no energy data"
    currency = next((v["currency"] for v in by_value if v.get("currency")), "")
    conv = doc.get("converge") or {}
    fig, (ax,) = new_figure(6.5, 3.8)
    pts = [(x, v[key]) for x, v in zip(xs, by_value) if v.get(key)]
    if pts:
        px = [x for x, _ in pts]
        med = [s["median"] for _, s in pts]
        spread = [[s["median"] - s["min"] for _, s in pts], [s["max"] - s["median"] for _, s in pts]]
        label = "median over seeds" if multi else "one seed"
        if numeric:
            ax.plot(px, med, "-o", color=COLOR, linewidth=1.6, markersize=5, label=label)
        else:
            ax.bar(px, med, width=0.6, color=COLOR, alpha=0.85, label=label)
        if multi:
            ax.errorbar(px, med, yerr=spread, fmt="none", ecolor=COLOR if numeric else "#222222", capsize=4 if numeric else 6,
                        alpha=0.7 if numeric else 0.9, label="min–max over seeds")
        bad = [(x, v[key]["median"]) for x, v in zip(xs, by_value)
               if v.get(key) and (v.get("failed") or {}).get("max")]
        if bad:
            ax.scatter([x for x, _ in bad], [y for _, y in bad], marker="x", s=60, zorder=4,
                       color="#D55E00", label="runs with failed trials")
        if key == "waste_j":
            for x, v in zip(xs, by_value):
                f = v.get("waste_fraction")
                if v.get(key) and f:
                    ax.annotate(f"{f['median']:.0%}", (x, v[key]["max" if multi and not numeric else "median"]),
                                textcoords="offset points", xytext=(0, 7), ha="center", fontsize=8)
        ax.set_ylim(bottom=0)
    for x, v in zip(xs, by_value):
        if not v.get(key):
            ax.text(x, 0.03, v["status"].split("/")[0], transform=ax.get_xaxis_transform(), rotation=90,
                    ha="center", va="bottom", fontsize=8, color="#999999")
    if conv.get("converged") and conv.get("at") is not None:
        at = next(x for x, v in zip(xs, by_value) if v["label"] == conv["at"])
        ax.axvline(at, color="#D55E00", linestyle="--", linewidth=1, label=f"converged ({conv['metric']})")
    if not numeric:
        ax.set_xticks(xs, [str(v["label"]) for v in by_value], rotation=20 if len(xs) > 4 else 0)
        ax.set_xlim(-0.6, len(xs) - 0.4)
    elif len(xs) <= 12:
        ax.set_xticks(xs, [str(v["label"]) for v in by_value])
    ax.set_xlabel(doc["factor"])
    unit = {"energy_j": f" ({prov})", "waste_j": f" ({prov})", "avg_trial_power_w": f" ({prov})",
            "cost": f", {currency}" if currency else ""}.get(key, "")
    ax.set_ylabel(ylabel + unit, fontsize=9)
    ax.set_title(f"{title}: suite {doc['name']} ({doc['variant']})", fontsize=11, loc="left")
    if pts:
        ax.legend(fontsize=8)
    return fig
