"""The body of each subcommand. Heavy imports (Ray, torch) happen only in the commands that need them."""

from __future__ import annotations

import os
import shutil
import sys
import time

from rich.console import Console

from raybench.errors import RunDirError, UserError


def _console() -> Console:
    return Console(stderr=False, highlight=False)


def _run_dir_for(name: str, out: str | None, *, force: bool) -> str:
    run_dir = out or os.path.join("runs", f"{name}-{time.strftime('%Y%m%d-%H%M%S')}")
    if os.path.exists(run_dir):
        if not os.path.isdir(run_dir):
            raise RunDirError(f"{run_dir} exists and is not a directory; choose another --out")
        if os.listdir(run_dir):
            if not force:
                raise RunDirError(f"{run_dir} already holds a run; pass --force to replace it, "
                                  f"or --resume {run_dir} to continue it")
            shutil.rmtree(run_dir)
    os.makedirs(run_dir, exist_ok=True)
    return run_dir


def existing_run_dir(path: str) -> str:
    """A run directory that exists and holds a readable event log, or a one-line RunDirError."""
    from raybench.events.derive import run_log

    run_log(path)
    return path


def cmd_validate(args) -> int:
    from raybench.config import load_config

    bad = 0
    for path in args.configs:
        try:
            cfg = load_config(path)
            print(f"{path}: ok ({cfg.name}: {len(cfg.search_space)} parameters, sampler {cfg.sampler.type}, "
                  f"pruner {cfg.pruner.type})")
        except UserError as e:
            print(f"raybench: error: {e}", file=sys.stderr)
            bad += 1
    return 2 if bad else 0


def cmd_run(args) -> int:
    from raybench.config import load_config
    from raybench.runtime import run_experiment

    if args.resume:
        if args.force:
            raise UserError("--resume and --force contradict each other; drop one")
        run_dir = existing_run_dir(args.resume)
        cfg = None if args.config is None else load_config(args.config)
    else:
        if args.config is None:
            raise UserError("raybench run: give a CONFIG file (or --resume RUN_DIR)")
        cfg = load_config(args.config)
        run_dir = _run_dir_for(cfg.name, args.out, force=args.force)
    console = _console()
    summary = run_experiment(cfg, run_dir, address=args.address, resume=bool(args.resume),
                             progress=not args.no_progress, num_cpus=args.num_cpus, console=console)
    from raybench.report import print_summary

    print_summary(summary, console=console, run_dir=run_dir)
    return 0


def cmd_report(args) -> int:
    from raybench.events.derive import derive_run, write_run_outputs
    from raybench.report import print_summary

    run_dir = existing_run_dir(args.run_dir)
    console = _console()
    if not args.html:
        print_summary(write_run_outputs(run_dir), console=console, run_dir=run_dir)
        return 0
    from raybench.report.html import write_report
    from raybench.report.plots import PlotIndex, run_data

    # The log is read once: the outputs are derived and the page's index is gathered in the same pass, keeping
    # the run-level events and what the page reads of the others, not every report.
    index = PlotIndex()
    derived = derive_run(run_dir, keep_events=False, taps=[index.add])
    print_summary(derived.summary, console=console, run_dir=run_dir)
    path = write_report(run_dir, run=run_data(derived, index))
    console.print(f"report: {path}")
    return 0


def cmd_export(args) -> int:
    from raybench.events import read_events
    from raybench.events.derive import run_log
    from raybench.events.export import EXPORTERS

    run_dir = existing_run_dir(args.run_dir)
    events = read_events(run_log(run_dir)).events
    write = EXPORTERS[args.format]
    if args.output:
        with open(args.output, "w", encoding="utf-8", newline="") as f:
            write(events, f)
    else:
        write(events, sys.stdout)
    return 0


def cmd_compare(args) -> int:
    from raybench.report import compare_runs

    dirs = [existing_run_dir(d) for d in args.run_dirs]
    compare_runs(dirs, console=_console())
    return 0


def cmd_suite(args) -> int:
    from raybench.suite import run_suite

    return run_suite(args.suite, out=args.out, address=args.address, quick=args.quick, console=_console(),
                     replay=args.replay)


def cmd_dashboard(args) -> int:
    from raybench.dashboard import serve

    serve(args.path, host=args.host, port=args.port, token=args.token)
    return 0
