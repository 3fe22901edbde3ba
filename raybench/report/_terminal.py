"""The terminal views of runs: one run's summary and several runs side by side."""

from __future__ import annotations

import json
import os
from typing import Any, Optional

from rich.console import Console
from rich.table import Table


def _num(x: Any, fmt: str = ".4g", unit: str = "") -> str:
    if x is None:
        return "-"
    if isinstance(x, (int, float)):
        return f"{x:{fmt}}{unit}"
    return str(x)


def _energy(summary: dict[str, Any]) -> dict[str, Any]:
    return summary.get("energy") or {}


def _range(d: dict[str, Any], key: str, unit: str) -> str:
    """" (low–high unit, estimated)" where the figure is (partly) estimated, else ""."""
    lo, hi = d.get(f"{key}_low"), d.get(f"{key}_high")
    if lo is None or hi is None:
        return ""
    return f" (range {lo:.4g}–{hi:.4g}{unit}, estimated)"


def print_summary(summary: dict[str, Any], *, console: Console, run_dir: Optional[str] = None) -> None:
    """The summary table at the end of `raybench run` and from `raybench report`."""
    trials = summary.get("trials", {})
    best = summary.get("best") or {}
    conc = summary.get("concurrency", {})
    t = Table(title=f"raybench: {summary.get('name', '')}", show_header=False, title_justify="left")
    t.add_column("what", style="bold")
    t.add_column("value")
    t.add_row("status", str(summary.get("status", "?")))
    t.add_row("JCT", _num(summary.get("jct_s"), ".1f", " s"))
    t.add_row("trials", f"{trials.get('total', 0)} total: {trials.get('completed', 0)} completed, "
                        f"{trials.get('pruned', 0)} pruned, {trials.get('failed', 0)} failed")
    t.add_row("workers", f"{conc.get('effective', '?')} of {conc.get('requested', '?')} requested")
    if best:
        t.add_row("best trial", f"#{best.get('trial_id')}  val {_num(best.get('val_metric'))}")
        t.add_row("best config", json.dumps(best.get("config"), sort_keys=True))
        t.add_row("test accuracy", _num(best.get("test_accuracy"), ".4f"))
    e = _energy(summary)
    if e:
        prov = e.get("provenance", {})
        prov_s = ", ".join(f"{k} {v}" for k, v in prov.items() if v and v != "none")
        t.add_row("energy", f"{_num(e.get('total_j'), '.4g', ' J')}{_range(e, 'total_j', ' J')}  ({prov_s})")
        b = e.get("buckets", {})
        if b:
            t.add_row("  buckets", ", ".join(f"{k} {_num(v, '.4g', ' J')}" for k, v in b.items()))
        check = e.get("accounting_check", e.get("balance"))  # "balance" in summaries written before the rename
        if check is not None:
            t.add_row("  accounting check", _num(check.get("rel_error"), ".2e")
                      + " (buckets vs total: bookkeeping, not accuracy)")
        w = e.get("waste", {})
        if w:
            t.add_row("waste", f"{_num(w.get('energy_j'), '.4g', ' J')} ({_num(w.get('energy_fraction'), '.1%')})"
                               f", {_num(w.get('time_s'), '.1f', ' s')} trial time")
        if e.get("cost"):
            t.add_row("cost", f"{e['cost']['total']:.4g} {e['cost']['currency']} (reserved resource-hours x prices)")
        if e.get("carbon"):
            c = e["carbon"]
            gas = c.get("gas", "CO2e")
            t.add_row("carbon", f"{c['co2e_g']:.4g} g {gas}{_range(c, 'co2e_g', ' g')} ({c['g_per_kwh']:g} g/kWh, "
                                f"PUE {c['pue']:g})")
    near = summary.get("cheapest_near_best")
    if near and near.get("trial_id") != near.get("best_trial_id"):
        t.add_row("cheapest near best", f"#{near['trial_id']}  val {_num(near.get('value'))} for "
                                        f"{_num(near.get('energy_j'), '.4g', ' J')} (best: "
                                        f"{_num(near.get('best_energy_j'), '.4g', ' J')}), within "
                                        f"{near.get('within', 0.01):g} of the best")
    elif near:
        t.add_row("cheapest near best", f"the best trial #{near['trial_id']} is also the cheapest within "
                                        f"{near.get('within', 0.01):g} of it")
    pareto = summary.get("pareto")
    if pareto and pareto.get("trials"):
        names = ", ".join(f"{o['name']} ({o['mode']})" for o in pareto["objectives"])
        t.add_row("pareto front", f"{len(pareto['trials'])} of {pareto['n_candidates']} completed trials on {names}; "
                                  f"hypervolume {_num(pareto.get('hypervolume'), '.4g')}")
    dmg = summary.get("damage")
    if dmg:
        t.add_row("[red]log damage[/]", f"{len(dmg)} damaged region(s) skipped; see summary.json")
    console.print(t)
    if run_dir:
        console.print(f"run directory: {run_dir}  (events.msgpack, summary.json, trials.csv)")


def _cost(s: dict[str, Any]) -> Optional[str]:
    c = _energy(s).get("cost")
    return f"{c['total']:.3g} {c['currency']}" if c and isinstance(c.get("total"), (int, float)) else None


def _provenance(s: dict[str, Any]) -> str:
    prov = _energy(s).get("provenance", {})
    return prov.get("energy") or "/".join(sorted({v for v in prov.values() if v != "none"}))


_COLUMNS = (
    ("status", lambda s: s.get("status")),
    ("JCT s", lambda s: _num(s.get("jct_s"), ".1f")),
    ("trials", lambda s: s.get("trials", {}).get("total")),
    ("completed", lambda s: s.get("trials", {}).get("completed")),
    ("pruned", lambda s: s.get("trials", {}).get("pruned")),
    ("failed", lambda s: s.get("trials", {}).get("failed")),
    ("best val", lambda s: _num((s.get("best") or {}).get("val_metric"))),
    ("test acc", lambda s: _num((s.get("best") or {}).get("test_accuracy"), ".4f")),
    ("energy J", lambda s: _num(_energy(s).get("total_j"), ".4g") + _range(_energy(s), "total_j", "").replace(
        ", estimated", "")),
    ("provenance", _provenance),
    ("trial W", lambda s: _num(_energy(s).get("avg_trial_power_w"), ".3g")),
    ("waste J", lambda s: _num(_energy(s).get("waste", {}).get("energy_j"), ".4g")),
    ("waste", lambda s: _num(_energy(s).get("waste", {}).get("energy_fraction"), ".1%")),
    ("cost", _cost),
)


def load_summary(run_dir: str) -> dict[str, Any]:
    from raybench.events.derive import write_run_outputs

    path = os.path.join(run_dir, "summary.json")
    if os.path.isfile(path):
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    return write_run_outputs(run_dir)


def compare_runs(run_dirs: list[str], *, console: Console) -> None:
    """Runs side by side, one column per run and one row per measure: status, JCT, trials, best val and
    test accuracy, energy and its provenance, trial wattage, waste and cost. Runs that do not fit the
    terminal's width continue in another table below."""
    names = [os.path.basename(os.path.normpath(d)) or d for d in run_dirs]
    cells = [[str(v) if (v := f(s)) is not None else "-" for _, f in _COLUMNS]
             for s in (load_summary(d) for d in run_dirs)]
    per_table = max(1, (console.width - 14) // 16)
    for start in range(0, len(names), per_table):
        part = range(start, min(start + per_table, len(names)))
        more = f" (runs {start + 1}-{part[-1] + 1} of {len(names)})" if len(names) > per_table else ""
        title = f"raybench compare{more}"
        t = Table(title=title, title_justify="left", min_width=len(title))
        t.add_column("", style="bold", no_wrap=True)
        for i in part:
            t.add_column(names[i], justify="right", overflow="fold")
        for k, (head, _) in enumerate(_COLUMNS):
            t.add_row(head, *(cells[i][k] for i in part))
        console.print(t)
