"""`raybench replay`: a recorded run (or a table of curves) through the scheduler core under another
pruner or sampler, written as a normal run directory."""

from __future__ import annotations

import os
import time
from typing import Any, Optional

import yaml

from raybench.errors import UserError


def _spec(flag: str, text: Optional[str]) -> Optional[dict[str, Any]]:
    if text is None:
        return None
    try:
        spec = yaml.safe_load(text)
    except yaml.YAMLError:
        spec = None
    if not isinstance(spec, dict) or "type" not in spec:
        raise UserError(f"{flag} takes a YAML flow mapping with a type, e.g. {flag} '{{type: asha, grace_period: 1}}'; "
                        f"got {text!r}")
    return spec


def cmd_replay(args) -> int:
    from raybench.cli._commands import _console, _run_dir_for, existing_run_dir
    from raybench.config import ExperimentConfig, validate
    from raybench.core.replay import check_sampler_change, replay, source_from_csv, source_from_run
    from raybench.events import EVENTS_FILE, EventLog, read_events, write_run_outputs
    from raybench.events.derive import section_energy
    from raybench.report import print_summary

    pruner, sampler = _spec("--pruner", args.pruner), _spec("--sampler", args.sampler)
    if (args.source is None) == (args.curves is None):
        raise UserError("raybench replay: give a SOURCE_RUN directory or --curves FILE.csv (one of them)")
    if args.curves:
        source = source_from_csv(args.curves, metric=args.metric, mode=args.mode)
    else:
        run_dir = existing_run_dir(args.source)
        events = read_events(os.path.join(run_dir, EVENTS_FILE)).events
        source = source_from_run(run_dir, events, section_energy(events).get("energy"))
    if not source.curves:
        raise UserError(f"{args.source or args.curves}: no trial with a learning curve to replay")
    data = source.config.to_dict()
    data["name"] = f"{source.config.name}-replay"
    if pruner is not None:
        data["pruner"] = pruner
    if sampler is not None:
        check_sampler_change(source, sampler)
        data["sampler"] = sampler
    workers = args.workers or source.concurrency
    data["workers"] = {**data["workers"], "count": workers}
    data["budget"] = {**data["budget"], "max_trials": data["budget"].get("max_trials") if sampler else None}
    config = validate(ExperimentConfig, data, "replay")
    out = _run_dir_for(data["name"], args.out, force=args.force)
    t = time.perf_counter()
    log = EventLog.open(os.path.join(out, EVENTS_FILE), buffered=True)
    try:
        result = replay(source, config, log, workers=workers, sampler_changed=sampler is not None)
    finally:
        log.close()
    took = time.perf_counter() - t
    summary = write_run_outputs(out)
    console = _console()
    console.print(f"replayed {result.reports} reports of {result.trials} trials on {workers} simulated "
                  f"worker(s) in {took:.2f} s ({result.simulated_s:.0f} s simulated); energy is replayed")
    print_summary(summary, console=console, run_dir=out)
    return 0
