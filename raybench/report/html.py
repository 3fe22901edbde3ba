"""The self-contained HTML report of a run: RUN_DIR/report.html, with the plots embedded (docs/report.md).

One file, no JavaScript, no external requests: images are base64 data URIs, the CSS is inline, and a
Content-Security-Policy forbids the page from loading anything else. Every string that comes from the
log (config values are user input) goes through html.escape.
"""

from __future__ import annotations

import base64
import html
import json
import os
import struct
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Optional, Union

from raybench import __version__
from raybench.events import gc_paused
from raybench.report.plots import PlotSet, RunData, load_run, stop_decisions, write_plots
from raybench.report.plots._data import is_number, param_text
from raybench.report.plots._energy import cumulative_energy, energy_samples

REPORT_FILE = "report.html"
MAX_TABLE_ROWS = 1_000  # rows of the trials and stops tables; the rest are in trials.csv and the log
_CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"
_CSS = """
:root { --fg:#1d2327; --muted:#5f6b73; --line:#dde3e8; --bg:#ffffff; --band:#f5f7f9; --accent:#0b5cad; }
* { box-sizing: border-box; }
body { margin:0; font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif; color:var(--fg); background:var(--bg); }
header { background:#14212b; color:#fff; padding:20px 32px; }
header h1 { margin:0; font-size:22px; font-weight:600; }
header p { margin:4px 0 0; color:#b9c6d0; font-size:13px; }
nav { padding:8px 32px; border-bottom:1px solid var(--line); font-size:13px; background:var(--band); }
nav a { color:var(--accent); margin-right:14px; text-decoration:none; }
main { max-width:1180px; margin:0 auto; padding:8px 32px 40px; }
section { margin-top:28px; }
h2 { font-size:18px; border-bottom:2px solid var(--line); padding-bottom:4px; margin:0 0 12px; }
figure { margin:12px 0 20px; }
figure img { max-width:100%; height:auto; border:1px solid var(--line); border-radius:4px; }
figcaption, .note { color:var(--muted); font-size:13px; }
.note { background:var(--band); border-left:3px solid #c5ced6; padding:6px 10px; }
.scroll { overflow-x:auto; }
table { border-collapse:collapse; font-size:13px; margin:4px 0 12px; }
th, td { padding:4px 10px; border-bottom:1px solid var(--line); text-align:left; vertical-align:top; }
thead th { background:var(--band); position:sticky; top:0; }
tbody tr:nth-child(even) { background:#fafbfc; }
td.num { text-align:right; font-variant-numeric:tabular-nums; }
table.kv th { width:190px; color:var(--muted); font-weight:500; }
code { font-size:12px; background:var(--band); padding:1px 4px; border-radius:3px; word-break:break-word; }
.st { padding:1px 7px; border-radius:9px; font-size:12px; color:#fff; background:#5f6b73; white-space:nowrap; }
.st-completed { background:#007a5a; } .st-budget { background:#0b5cad; } .st-interrupted { background:#8a5a00; } .st-pruned { background:#a86f00; } .st-failed { background:#b34700; }
.st-running { background:#2f7fae; } .st-pending { background:#77828a; }
details summary { cursor:pointer; color:var(--accent); font-size:13px; }
footer { color:var(--muted); font-size:12px; padding:16px 32px; border-top:1px solid var(--line); }
"""


def esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def fmt(value: Any, spec: str = ".4g", unit: str = "") -> str:
    """A value as text (not yet escaped): numbers with `spec`, None as a dash, maps and lists as JSON."""
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (int, float)):
        return f"{value:{spec}}{unit}" if is_number(value) else str(value)
    if isinstance(value, (Mapping, list, tuple)):
        return json.dumps(value, sort_keys=True, default=str)
    return str(value)


def badge(status: Any) -> str:
    s = esc(status)
    return f'<span class="st st-{s}">{s}</span>'


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]], *, table_id: str, cls: str = "") -> str:
    """An escaped table. A cell is a plain value (formatted and escaped) or ("html", markup) for markup this
    module built itself."""
    head = "".join(f"<th>{esc(h)}</th>" for h in headers)
    body = []
    for row in rows:
        cells = []
        for v in row:
            if isinstance(v, tuple) and len(v) == 2 and v[0] == "html":
                cells.append(f"<td>{v[1]}</td>")
            else:
                num = ' class="num"' if is_number(v) else ""
                cells.append(f"<td{num}>{esc(fmt(v))}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    cls_attr = f' class="{esc(cls)}"' if cls else ""
    return (f'<div class="scroll"><table id="{esc(table_id)}"{cls_attr}><thead><tr>{head}</tr></thead>'
            f'<tbody>{"".join(body)}</tbody></table></div>')


def kv_table(pairs: Iterable[tuple[str, Any]], *, table_id: str) -> str:
    rows = "".join(f'<tr><th scope="row">{esc(k)}</th><td>{v[1] if isinstance(v, tuple) and v[0] == "html" else esc(fmt(v))}</td></tr>'
                   for k, v in pairs)
    return f'<div class="scroll"><table id="{esc(table_id)}" class="kv"><tbody>{rows}</tbody></table></div>'


def _png_size(data: bytes) -> tuple[int, int]:
    # The IHDR chunk holds width and height right after the 8-byte signature and 8-byte chunk header.
    return struct.unpack(">II", data[16:24]) if data[:8] == b"\x89PNG\r\n\x1a\n" else (0, 0)


def figure(plots: PlotSet, name: str) -> str:
    p = plots.get(name)
    if p is None:
        note = plots.notes.get(name)
        return f'<p class="note">Not drawn: {esc(note)}.</p>' if note else ""
    data = Path(p.path).read_bytes()
    w, h = _png_size(data)
    src = "data:image/png;base64," + base64.b64encode(data).decode("ascii")
    return (f'<figure id="fig-{esc(name)}"><img src="{src}" alt="{esc(p.alt)}" width="{w}" height="{h}">'
            f"<figcaption>{esc(p.title)}: {esc(p.alt)}</figcaption></figure>")


def _energy_section(energy: Mapping[str, Any]) -> list[tuple[str, Any]]:
    """Rows for summary.json's energy section; it may nest its figures under "energy" (metrics layout) or
    hold them at the top, so both are read."""
    inner = energy.get("energy") if isinstance(energy.get("energy"), Mapping) else {}

    def pick(*keys: str) -> Any:
        for k in keys:
            for src in (energy, inner):
                if src.get(k) is not None:
                    return src[k]
        return None

    rows: list[tuple[str, Any]] = []
    prov = pick("provenance")
    if isinstance(prov, Mapping):
        parts = ", ".join(f"{k} {v}" for k, v in prov.items() if k != "energy" and v and v != "none")
        prov_s = f"{prov['energy']}: {parts}" if prov.get("energy") else parts
    else:
        prov_s = fmt(prov)
    low, high = pick("total_j_low"), pick("total_j_high")
    rng = f", estimated range {fmt(low, '.4g')} to {fmt(high, '.4g', ' J')}" if low is not None and high is not None \
        and low != high else ""
    rows.append(("energy", f"{fmt(pick('total_j'), '.4g', ' J')}  ({prov_s or 'provenance unknown'}{rng})"))
    buckets = pick("buckets")
    if not isinstance(buckets, Mapping):
        buckets = {k: pick(k) for k in ("trials_j", "idle_reserved_j", "unattributed_j") if pick(k) is not None}
    if buckets:
        # unattributed_idle_j is part of unattributed_j, so it is shown inside it rather than beside it.
        text = ", ".join(f"{k} {fmt(v, '.4g', ' J')}" for k, v in buckets.items()
                         if k not in ("total_j", "unattributed_idle_j"))
        if buckets.get("unattributed_idle_j") is not None:
            text += f" (of which unreserved idle {fmt(buckets['unattributed_idle_j'], '.4g', ' J')})"
        rows.append(("energy buckets", text))
    check = pick("accounting_check", "balance")  # "balance" in summaries written before the rename
    if isinstance(check, Mapping) and check.get("rel_error") is not None:
        rows.append(("accounting check", f"{fmt(check['rel_error'], '.2e')}: the buckets add up to the total "
                                         "(an identity, not a measure of accuracy)"))
    waste = pick("waste")
    if isinstance(waste, Mapping):
        rows.append(("waste", f"{fmt(waste.get('energy_j'), '.4g', ' J')} ({fmt(waste.get('energy_fraction'), '.1%')}), "
                              f"{fmt(waste.get('time_s'), '.1f', ' s')} trial time"))
    cost = pick("cost")
    if isinstance(cost, Mapping):
        rows.append(("cost", f"{fmt(cost.get('total'))} {fmt(cost.get('currency', ''))}"))
    elif cost is not None:
        rows.append(("cost", fmt(cost)))
    carbon = pick("carbon_g", "carbon")
    if isinstance(carbon, Mapping):
        extra = (f" ({fmt(carbon.get('g_per_kwh'), 'g')} g/kWh, PUE {fmt(carbon.get('pue'), 'g')})"
                 if carbon.get("g_per_kwh") is not None else "")
        gas = str(carbon.get("gas") or "CO2e")
        c_rng = (f", range {fmt(carbon.get('co2e_g_low'), '.4g')} to {fmt(carbon.get('co2e_g_high'), '.4g')}"
                 if carbon.get("co2e_g_low") is not None and carbon.get("co2e_g_low") != carbon.get("co2e_g_high")
                 else "")
        rows.append(("carbon", fmt(carbon.get("co2e_g"), ".4g", f" g {gas}") + extra + c_rng))
    elif carbon is not None:
        rows.append(("carbon", fmt(carbon, ".4g", " g CO2e")))
    return rows


def _flat(prefix: str, value: Any) -> Iterable[tuple[str, Any]]:
    if isinstance(value, Mapping):
        for k, v in value.items():
            yield from _flat(f"{prefix}.{k}" if prefix else str(k), v)
    elif not isinstance(value, list):
        yield prefix, value


def summary_rows(run: RunData, plots: PlotSet) -> list[tuple[str, Any]]:
    s = run.summary
    trials = s.get("trials") or {}
    best = s.get("best") or {}
    conc = s.get("concurrency") or {}
    decisions = s.get("decisions") or {}
    rows: list[tuple[str, Any]] = [
        ("run", f"{fmt(s.get('name'))} ({fmt(s.get('run_id'))})"),
        ("status", ("html", badge(s.get("status", "?")) + (f" {esc(s['end_reason'])}" if s.get("end_reason") else ""))),
        ("JCT", f"{fmt(s.get('jct_s'), '.1f', ' s')} wall clock, {fmt(s.get('active_s'), '.1f', ' s')} active, "
                f"{fmt(s.get('resumes', 0))} resume(s)"),
        ("trials", f"{fmt(trials.get('total', 0))} total: " + ", ".join(
            f"{fmt(trials.get(k, 0))} {k}" for k in ("completed", "pruned", "failed", "running", "pending"))
            + f"; {fmt(trials.get('failed_attempts', 0))} failed attempt(s), {fmt(trials.get('retried', 0))} retried"),
        ("workers", f"{fmt(conc.get('effective'))} of {fmt(conc.get('requested'))} requested"),
        ("metric", f"{run.metric} ({run.mode})"),
    ]
    if best:
        rows += [("best trial", f"#{fmt(best.get('trial_id'))} ({fmt(best.get('status'))}), "
                                f"{fmt(best.get('metric'))} {fmt(best.get('val_metric'))}"),
                 ("best config", ("html", f"<code>{esc(fmt(best.get('config')))}</code>")),
                 ("test accuracy", fmt(best.get("test_accuracy"), ".4f"))]
    else:
        rows.append(("best trial", "none yet: no trial completed or was pruned with a metric"))
    energy = s.get("energy")
    if isinstance(energy, Mapping) and energy:
        rows += _energy_section(energy)
        details = "".join(f"<tr><th>{esc(k)}</th><td>{esc(fmt(v))}</td></tr>" for k, v in _flat("", energy))
        rows.append(("energy, every figure", ("html", f"<details><summary>show</summary><table>{details}</table></details>")))
    else:
        samples = energy_samples(run)
        total = float(cumulative_energy(samples)[1][-1]) if samples else None
        rows.append(("energy", f"{fmt(total, '.4g', ' J')} in {len(samples)} energy samples ({plots.provenance}); "
                               "not attributed: summary.json has no energy section" if samples
                     else "not measured: the log has no energy samples"))
    rows.append(("decisions", f"{fmt(decisions.get('continue', 0))} continue, {fmt(decisions.get('stop', 0))} stop"
                              + (f" ({fmt(decisions.get('stop_by_rule'))})" if decisions.get("stop_by_rule") else "")))
    if s.get("budget"):
        b = s["budget"]
        rows.append(("budget", f"{fmt(b.get('kind'))} budget hit: {fmt(b.get('value'))} of {fmt(b.get('limit'))}"))
    if s.get("warnings"):
        rows.append(("warnings", ", ".join(f"{k} ×{v}" for k, v in s["warnings"].items())))
    if s.get("damage"):
        rows.append(("log damage", f"{len(s['damage'])} damaged region(s) skipped while reading the log"))
    rows.append(("log", f"{fmt(s.get('events'))} events from {fmt(s.get('nodes'))} node(s)"))
    return rows


def stops_table(run: RunData) -> str:
    stops = stop_decisions(run)
    if not stops:
        return '<p class="note">No stop decisions in this log.</p>'
    config = {r.trial_id: r.config for r in run.rows}
    keys = ("rule", "progress", "unit", "value", "cutoff", "n_peers", "rung", "detail")
    rows = [[s.trial_id, s.step, *(s.reason.get(k) for k in keys), fmt(config.get(s.trial_id, {}))]
            for s in stops[:MAX_TABLE_ROWS]]
    return table(["trial", "step", *keys, "config"], rows, table_id="stops") + _cut(len(stops), "stop decisions, in log order",
                                                                                  "events.msgpack")


def trials_table(run: RunData, plots: PlotSet) -> str:
    params = sorted({k for r in run.rows for k in r.config})
    tests = sorted({k for r in run.rows for k in r.test_metrics})
    joules = plots.energy.joules if plots.energy is not None else None
    e_head = ["energy J"] if joules is not None else []
    headers = ["trial", "status", "attempts", "steps", f"final {run.metric}", f"best {run.metric}", "duration s",
               "node", *e_head, *tests, "stop rule", "error", *params]
    rows = []
    for r in run.rows[:MAX_TABLE_ROWS]:
        e = [joules.get(r.trial_id)] if joules is not None else []
        rows.append([r.trial_id, ("html", badge(r.status)), r.attempts, r.steps, r.final_metric, r.best_metric,
                     r.duration_s, r.node_id, *e, *(r.test_metrics.get(t) for t in tests), r.stop_rule,
                     f"{r.cause}: {r.error}" if r.error else None,
                     *(param_text(r.config[p]) if p in r.config else None for p in params)])
    return table(headers, rows, table_id="trials") + _cut(len(run.rows), "trials, by id", "trials.csv")


def _cut(n: int, what: str, where: str) -> str:
    """The note under a table cut at MAX_TABLE_ROWS: a page of 100,000 rows is no read for anyone."""
    if n <= MAX_TABLE_ROWS:
        return ""
    return f'<p class="note">The first {MAX_TABLE_ROWS:,} of {n:,} {esc(what)}; all of them are in {where}.</p>'


def audit_table(plots: PlotSet) -> str:
    """The audit's rows and totals (RUN_DIR/audit.json, or the audit of the log without --against), as
    write_plots made it for the audit plot."""
    a = plots.audit
    if not a or not a.get("rows"):
        return '<p class="note">No stop to audit: the pruner stopped no trial.</p>'
    rows = [[r["trial_id"], r["step"], r["rule"] + (" (protected, would stop)" if r.get("counterfactual") else ""),
             r.get("value"), r.get("probability") if r.get("probability") is not None else r.get("cutoff"),
             r.get("saved_s"), r.get("saved_j"), r.get("would_have_final"),
             None if r.get("wrong") is None else ("yes" if r["wrong"] else "no")] for r in a["rows"][:MAX_TABLE_ROWS]]
    t = a.get("totals") or {}
    iv = t.get("wrong_rate_interval")
    rate = (f"{t['wrong_rate']:.1%} of {t['known']} stops whose final is known (95% interval {iv[0]:.1%} to "
            f"{iv[1]:.1%})") if t.get("wrong_rate") is not None else "unknown (no stopped trial's full curve is known)"
    note = (f'<p class="note">{t.get("stops", 0)} stops saved {fmt(t.get("saved_j"))} J and {fmt(t.get("saved_s"))} s '
            f"({esc(a.get('basis', 'estimated'))}); wrong stops: {esc(rate)}; regret {esc(fmt(t.get('regret')))}.</p>")
    return note + table(["trial", "step", "rule", "value", "cutoff or P", "saved s", "saved J (est.)", "would have",
                         "wrong"], rows, table_id="audit-table") + _cut(len(a["rows"]), "audited stops, in log order",
                                                                         "audit.json, which raybench audit writes")


def _section(sid: str, title: str, *parts: str) -> str:
    return f'<section id="{sid}"><h2>{esc(title)}</h2>{"".join(parts)}</section>'


def render_report(run: RunData, plots: PlotSet) -> str:
    """The report page as a string."""
    s = run.summary
    name = fmt(s.get("name") or run.run_dir.name)
    ended = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(run.end_t)) if run.end_t else "–"
    sections = [
        _section("summary", "Summary", kv_table(summary_rows(run, plots), table_id="summary-table")),
        _section("anytime", "Anytime performance", figure(plots, "anytime_time"), figure(plots, "anytime_energy")),
        _section("energy", "Energy per trial", figure(plots, "energy_per_trial")),
        _section("pruning", "Pruning", figure(plots, "pruning_timeline"), "<h3>Every stop decision</h3>",
                 stops_table(run)),
        _section("audit", "Audit of the stops", figure(plots, "audit"), audit_table(plots)),
        _section("params", "Stopped configurations", figure(plots, "stopped_params")),
        _section("pareto", "Pareto front", figure(plots, "pareto")),
        _section("power", "Node power", figure(plots, "node_power")),
        _section("trials", "Trials", trials_table(run, plots)),
    ]
    nav = "".join(f'<a href="#{sid}">{label}</a>' for sid, label in (
        ("summary", "Summary"), ("anytime", "Anytime"), ("energy", "Energy"), ("pruning", "Pruning"),
        ("audit", "Audit"), ("params", "Configurations"), ("pareto", "Pareto"), ("power", "Power"),
        ("trials", "Trials")))
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f'<meta http-equiv="Content-Security-Policy" content="{_CSP}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>raybench report: {esc(name)}</title><style>{_CSS}</style></head><body>"
        f"<header><h1>raybench report: {esc(name)}</h1><p>run {esc(fmt(s.get('run_id')))} · "
        f"{esc(fmt(s.get('status')))} · log ends {esc(ended)} · {run.event_count} events</p></header>"
        f"<nav>{nav}</nav><main>{''.join(sections)}</main>"
        f"<footer>Generated by raybench {esc(__version__)} from {esc(run.run_dir.name)}/events.msgpack"
        f"{' and summary.json' if (run.run_dir / 'summary.json').is_file() else ''}. "
        "Self-contained: no scripts, no external requests.</footer></body></html>\n"
    )


def write_report(run_dir: Union[str, os.PathLike], *, run: Optional[RunData] = None) -> str:
    """Write RUN_DIR/plots/*.png and RUN_DIR/report.html; return the report's path.

    A missing run directory or log raises RunDirError. The page is written to a temporary file and
    renamed, so a reader never sees half a report.
    """
    with gc_paused():  # the page of a large run is hundreds of thousands of short-lived objects
        run = run if run is not None else load_run(run_dir)
        plots = write_plots(run)
        page = render_report(run, plots)
    path = Path(run_dir) / REPORT_FILE
    tmp = path.with_name(f".{REPORT_FILE}.tmp")
    tmp.write_text(page, encoding="utf-8")
    os.replace(tmp, path)
    return str(path)
