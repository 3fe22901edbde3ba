"""`raybench replay`: a recorded run (or a table of curves) through the scheduler core under another
pruner or sampler, written as a normal run directory."""

from __future__ import annotations

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
    from raybench.core.replay import load_source, replay_config, replay_to_dir, source_from_csv
    from raybench.report import print_summary

    pruner, sampler = _spec("--pruner", args.pruner), _spec("--sampler", args.sampler)
    if (args.source is None) == (args.curves is None):
        raise UserError("raybench replay: give a SOURCE_RUN directory or --curves FILE.csv (one of them)")
    if args.workers is not None and args.workers < 1:
        raise UserError(f"--workers must be >= 1, got {args.workers}")
    if args.curves:
        source = source_from_csv(args.curves, metric=args.metric, mode=args.mode)
    else:
        source = load_source(existing_run_dir(args.source))
    config = replay_config(source, pruner=pruner, sampler=sampler, workers=args.workers)
    out = _run_dir_for(config.name, args.out, force=args.force)
    t = time.perf_counter()
    result, summary = replay_to_dir(source, config, out, sampler_changed=sampler is not None)
    took = time.perf_counter() - t
    console = _console()
    console.print(f"replayed {result.reports} reports of {result.trials} trials on {config.workers.count} simulated "
                  f"worker(s) in {took:.2f} s ({result.simulated_s:.0f} s simulated); energy is replayed")
    print_summary(summary, console=console, run_dir=out)
    return 0
