"""`raybench audit RUN_DIR [--against FULL_RUN]`: every stop of a run, what it saved, and whether it was right."""

from __future__ import annotations

import json
import os
from typing import Any

from rich.table import Table


def _n(v: Any, fmt: str = ".4g") -> str:
    if v is None:
        return "-"
    if isinstance(v, bool):
        return "yes" if v else "no"
    return f"{v:{fmt}}" if isinstance(v, (int, float)) else str(v)


def cmd_audit(args) -> int:
    from raybench.cli._commands import _console, existing_run_dir
    from raybench.events import EVENTS_FILE, read_events
    from raybench.events._atomic import atomic_write_text
    from raybench.report.audit import AUDIT_FILE, audit

    run_dir = existing_run_dir(args.run_dir)
    events = read_events(os.path.join(run_dir, EVENTS_FILE)).events
    against = None
    if args.against:
        against = read_events(os.path.join(existing_run_dir(args.against), EVENTS_FILE)).events
    result = audit(events, against).to_dict()
    path = os.path.join(run_dir, AUDIT_FILE)
    atomic_write_text(path, json.dumps(result, indent=2, allow_nan=False) + "\n")
    console = _console()
    t = Table(title=f"audit of {os.path.basename(os.path.normpath(run_dir))}: {len(result['rows'])} stop(s); "
                    f"saved figures are estimates (measured cost per epoch x epochs not run)", title_justify="left")
    for col in ("trial", "step", "rule", "value", "cutoff / P", "saved s", "saved J", "would have", "wrong"):
        t.add_column(col, justify="right" if col not in ("rule",) else "left")
    for r in result["rows"]:
        cut = _n(r["probability"], ".3f") if r.get("probability") is not None else _n(r.get("cutoff"))
        rule = r["rule"] + (" (protected: would stop)" if r.get("counterfactual") else "")
        t.add_row(str(r["trial_id"]), str(r["step"]), rule, _n(r.get("value")), cut, _n(r.get("saved_s"), ".1f"),
                  _n(r.get("saved_j"), ".4g"), _n(r.get("would_have_final")), _n(r.get("wrong")))
    console.print(t)
    tot = result["totals"]
    interval = tot.get("wrong_rate_interval")
    rate = (f"{tot['wrong_rate']:.1%} of {tot['known']} with a known final (95% interval "
            f"{interval[0]:.1%}-{interval[1]:.1%})") if tot.get("wrong_rate") is not None else \
        "unknown: no stopped trial's full curve is known (use protected trials or --against FULL_RUN)"
    console.print(f"stops: {tot['stops']}, saved {_n(tot.get('saved_j'), '.4g')} J and {_n(tot.get('saved_s'), '.1f')} s "
                  f"(estimated); wrong stops: {rate}; regret: {_n(tot.get('regret'))}")
    console.print(f"written: {path}")
    return 0
