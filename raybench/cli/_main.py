"""`raybench`: run, validate, report, export, compare, suite, audit and dashboard. User errors are one line and exit 2."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import Optional

from raybench.errors import RaybenchError, UserError


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line and exit code 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UserError(f"{self.prog}: {message} (see `{self.prog} --help`)")


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="raybench", description="Hyperparameter optimization on Ray that measures what every "
                                             "trial costs in energy, time, money and carbon.")
    from raybench import __version__

    p.add_argument("--version", action="version", version=f"raybench {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True

    r = sub.add_parser("run", help="run an experiment")
    r.add_argument("config", nargs="?", help="experiment YAML (not needed with --resume)")
    r.add_argument("--address", help="Ray cluster to join: 'auto' or ray://HOST:PORT (default: start a local one)")
    r.add_argument("--out", help="run directory (default: runs/NAME-TIMESTAMP)")
    r.add_argument("--force", action="store_true", help="replace an existing run directory")
    r.add_argument("--resume", metavar="RUN_DIR", help="continue a run that was cut off, from its event log")
    r.add_argument("--no-progress", action="store_true", help="no live progress display")
    r.add_argument("--num-cpus", type=int, help="CPUs of a local Ray head (default: all)")

    v = sub.add_parser("validate", help="check experiment files without running them")
    v.add_argument("configs", nargs="+", metavar="CONFIG")

    rep = sub.add_parser("report", help="print the summary of a run (and write its plots and HTML)")
    rep.add_argument("run_dir", metavar="RUN_DIR")
    rep.add_argument("--html", action="store_true", help="also write RUN_DIR/plots/*.png and RUN_DIR/report.html")

    ex = sub.add_parser("export", help="write a run's events as JSON lines or CSV")
    ex.add_argument("run_dir", metavar="RUN_DIR")
    ex.add_argument("--format", choices=["jsonl", "csv", "codecarbon"], default="jsonl")
    ex.add_argument("--output", "-o", help="file to write (default: standard output)")

    cmp_ = sub.add_parser("compare", help="show runs side by side")
    cmp_.add_argument("run_dirs", nargs="+", metavar="RUN_DIR")

    rp = sub.add_parser("replay", help="replay a recorded run's curves under another pruner or sampler")
    rp.add_argument("source", nargs="?", metavar="SOURCE_RUN", help="the run directory to replay")
    rp.add_argument("--curves", metavar="FILE.csv", help="a table of learning curves instead of a run")
    rp.add_argument("--pruner", metavar="SPEC", help="a pruner as a YAML flow mapping, e.g. '{type: asha}'")
    rp.add_argument("--sampler", metavar="SPEC", help="a sampler as a YAML flow mapping (exhaustive grid sources)")
    rp.add_argument("--workers", type=int, help="simulated workers (default: the source's concurrency)")
    rp.add_argument("--out", help="run directory to write (default: runs/NAME-replay-TIMESTAMP)")
    rp.add_argument("--force", action="store_true", help="replace an existing run directory")
    rp.add_argument("--metric", default="val_accuracy", help="with --curves: the metric's name")
    rp.add_argument("--mode", choices=["max", "min"], default="max", help="with --curves: the metric's mode")

    au = sub.add_parser("audit", help="every stop of a run: what it saved and whether it was right")
    au.add_argument("run_dir", metavar="RUN_DIR")
    au.add_argument("--against", metavar="FULL_RUN", help="a full run of the same configs (e.g. an unpruned grid)")

    s = sub.add_parser("suite", help="run a suite of experiments (one run directory per variant)")
    s.add_argument("suite", metavar="SUITE")
    s.add_argument("--out", help="suite directory (default: runs/suites/NAME)")
    s.add_argument("--address", help="Ray cluster to join")
    s.add_argument("--quick", action="store_true", help="run the suite's quick variant")
    s.add_argument("--replay", metavar="GRID_RUN", help="replay every variant over a full grid run's curves "
                                                        "(pruner and sampler suites) instead of training")

    d = sub.add_parser("dashboard", help="a live, read-only web view of a run or a folder of runs")
    d.add_argument("path", metavar="PATH", help="a run directory or a folder of them (e.g. runs/)")
    d.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1, this machine only)")
    d.add_argument("--port", type=int, default=8266, help="port (default: 8266)")
    d.add_argument("--token", help="require this token on every request (needed for a --host other than "
                                   "loopback; default: $RAYBENCH_DASHBOARD_TOKEN)")
    return p


def main(argv: Optional[Sequence[str]] = None) -> int:
    try:
        args = build_parser().parse_args(argv)
        from raybench.cli import _commands

        if args.command == "replay":
            from raybench.cli._replay import cmd_replay

            return cmd_replay(args) or 0
        if args.command == "audit":
            from raybench.cli._audit import cmd_audit

            return cmd_audit(args) or 0
        return getattr(_commands, f"cmd_{args.command}")(args) or 0
    except RaybenchError as e:
        print(f"raybench: error: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print("raybench: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1


def entry() -> None:
    sys.exit(main())
