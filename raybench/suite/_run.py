"""`run_suite`: every (value, seed) of a suite as its own run, in order, on one Ray connection.

A suite that was cut off is resumed by running it again: a run directory whose summary.json says the run
ended (completed or budget) is kept and read; any other run directory is moved aside as
NAME.incomplete-N and its variant runs again from the start (a resumed run's JCT would span the gap).
"""

from __future__ import annotations

import json
import os
from typing import Any, Optional

from rich.console import Console
from rich.markup import escape

from raybench.core.records import WorkerShape
from raybench.errors import RaybenchError, ResourceError, RunDirError, UserError
from raybench.suite._converge import Convergence, check
from raybench.suite._spec import Suite, Variant, load_suite
from raybench.suite._table import DONE, aggregate, median_of, print_table, run_row, suite_document, write_suite_files

PLOTS_DIR = "plots"


# Factors a replay can vary: what decides, not what runs (resources, the space or the task need real runs).
REPLAYABLE = frozenset({"pruner", "sampler", "budget.max_trials", "seed"})


def run_suite(path: str, *, out: Optional[str] = None, address: Optional[str] = None, quick: bool = False,
              console: Optional[Console] = None, progress: bool = True, replay: Optional[str] = None) -> int:
    """Run (or resume) the suite in path into out (default runs/suites/NAME, NAME-quick for --quick).

    replay: a full grid run whose recorded curves every variant replays (S-Pru, S-Sam) instead of training.
    Returns the exit code: 0, 1 when a run failed with an error, 130 when interrupted. A bad suite file or
    output directory raises a one-line UserError before anything runs or is written.
    """
    console = console or Console()
    suite = load_suite(path, quick=quick)
    out = out or os.path.join("runs", "suites", suite.name + ("-quick" if quick else "") + ("-replay" if replay else ""))
    if os.path.exists(out) and not os.path.isdir(out):
        raise RunDirError(f"{out} exists and is not a directory; choose another --out")
    if replay is not None:
        other = sorted(set(suite.factor) - REPLAYABLE)
        if other:
            raise UserError(f"suite {suite.name} varies {', '.join(other)}: a replay can vary only "
                            f"{', '.join(sorted(REPLAYABLE))}; run it without --replay")
        from raybench.core.replay import load_source

        source = load_source(replay)
        os.makedirs(out, exist_ok=True)
        return _Runner(suite, out, address, console, progress, check_resources=False, source=source).run()
    from raybench.runtime import _cluster as cl

    conn = cl.connect(address)  # once: every run of the suite joins this connection
    os.makedirs(out, exist_ok=True)
    return _Runner(suite, out, address, console, progress, check_resources=not conn.autoscaling).run()


class _Runner:
    def __init__(self, suite: Suite, out: str, address: Optional[str], console: Console, progress: bool, *,
                 check_resources: bool, source: Any = None) -> None:
        self.suite, self.out, self.address = suite, out, address
        self.source = source  # a replay source: every variant replays its curves
        self.console, self.progress, self.check_resources = console, progress, check_resources
        self.rows: list[dict[str, Any]] = []
        self.conv: Optional[Convergence] = None
        self.not_run: list[str] = []

    def run(self) -> int:
        s = self.suite
        self.console.print(f"[bold]suite {s.name}[/] ({'quick' if s.quick else 'full'}): {s.factor_name} over "
                           f"{len(s.labels)} value(s) x {len(s.seeds)} seed(s) -> {escape(self.out)}")
        status = "stopped"  # stays so when an error ends the suite
        try:
            for index, label in enumerate(s.labels, start=1):
                if self.conv is not None and self.conv.converged:
                    self.not_run.append(label)
                    continue
                for v in s.runs_of(index):
                    row = self._one(v)
                    self.rows.append(row)
                    self._write("running")
                    if row["status"] == "interrupted":
                        raise KeyboardInterrupt
                self._converge()
            status = "completed"
        except KeyboardInterrupt:
            status = "interrupted"
            self.console.print("[yellow]suite interrupted:[/] run it again to go on where it stopped")
            return 130
        finally:
            doc = self._write(status)
            if self.rows:
                from raybench.suite._plots import write_suite_plots

                write_suite_plots(doc, os.path.join(self.out, PLOTS_DIR), numeric=s.numeric)
            if status != "stopped":
                print_table(doc, console=self.console)
                self.console.print(f"suite directory: {escape(self.out)}  (suite.json, suite.md, {PLOTS_DIR}/*.png)")
        return 1 if any(r["status"] == "error" for r in self.rows) else 0

    # ---- one run -----------------------------------------------------------------------------

    def _one(self, v: Variant) -> dict[str, Any]:
        from raybench.runtime import run_experiment

        run_dir = os.path.join(self.out, v.dir_name)
        head = (f"[bold]\\[{self._position(v)}/{len(self.suite.variants)}][/] {self.suite.factor_name} = "
                f"{escape(v.label)}, seed {v.seed}")
        if os.path.isdir(run_dir):
            summary = finished_summary(run_dir, v)
            if summary is not None:
                self.console.print(f"{head}: finished earlier, kept ({escape(run_dir)})")
                return run_row(v, summary, run_dir=run_dir, status=summary["status"])
            aside = move_aside(run_dir)
            self.console.print(f"{head}: [yellow]moved an unfinished run aside[/] to {escape(aside)}; running it again")
        skip = self._infeasible(v)
        if skip:
            self.console.print(f"{head}: [yellow]skipped[/]: {escape(skip)}")
            return run_row(v, None, run_dir=None, status="skipped", note=skip)
        self.console.print(f"{head} -> {escape(run_dir)}" + (" (replayed)" if self.source is not None else ""))
        try:
            if self.source is not None:
                summary = self._replay(v, run_dir)
            else:
                summary = run_experiment(v.config, run_dir, address=self.address, progress=self.progress,
                                         console=self.console)
        except ResourceError as e:
            self.console.print(f"  [yellow]skipped[/]: {escape(str(e))}")
            return run_row(v, None, run_dir=None, status="skipped", note=str(e))
        except UserError:
            raise  # the same for every variant (a data set, a workload): stop the suite and say why
        except RaybenchError as e:
            self.console.print(f"  [red]error[/]: {escape(str(e))}")
            return run_row(v, None, run_dir=run_dir, status="error", note=str(e))
        row = run_row(v, summary, run_dir=run_dir, status=summary.get("status", "unfinished"))
        self.console.print("  " + escape(_one_line(row)))
        return row

    def _replay(self, v: Variant, run_dir: str) -> dict[str, Any]:
        """The variant's pruner, sampler, trial budget and seed over the source's recorded curves."""
        from raybench.core.replay import replay_config, replay_to_dir

        src = self.source.config
        sampler = v.config.sampler.model_dump()
        changed = sampler != src.sampler.model_dump()
        config = replay_config(self.source, pruner=v.config.pruner.model_dump(), sampler=sampler if changed else None,
                               seed=v.seed, budget={"max_trials": v.config.budget.max_trials} if changed else None)
        os.makedirs(run_dir, exist_ok=True)
        return replay_to_dir(self.source, config, run_dir, sampler_changed=changed)[1]

    def _position(self, v: Variant) -> int:
        return self.suite.variants.index(v) + 1

    def _infeasible(self, v: Variant) -> Optional[str]:
        """Why this variant cannot run on the cluster as it is (no GPU, too few CPUs), or None."""
        if not self.check_resources:
            return None  # an autoscaler may add what is missing
        import ray

        from raybench.runtime import _cluster as cl

        try:
            cl.check_feasible(cl.alive_nodes(), WorkerShape.of(v.config.workers))
        except ResourceError as e:
            have = ray.cluster_resources()
            return (f"the cluster has GPU {have.get('GPU', 0):g}, TPU {have.get('TPU', 0):g}, "
                    f"CPU {have.get('CPU', 0):g} in all; {e}")
        return None

    # ---- the stopping rule and the outputs --------------------------------------------------

    def _converge(self) -> None:
        c = self.suite.converge
        if c is None:
            return
        by_value = aggregate(self.suite, self.rows)
        series = []
        for agg in by_value:
            mine = [r for r in self.rows if r["index"] == agg["index"]]
            clean = mine and all(r["status"] in DONE and not r.get("failed") for r in mine)
            series.append(median_of(agg, c.metric) if clean else None)
        measured = max((a["index"] for a in by_value if any(r["index"] == a["index"] for r in self.rows)), default=0)
        self.conv = check(series[:measured], threshold=c.threshold, k=c.k)
        if self.conv.converged:
            self.console.print(f"[green]converged[/] at {self.suite.factor_name} = "
                               f"{escape(self.suite.labels[self.conv.at])}: {self.conv.reason}")

    def _write(self, status: str) -> dict[str, Any]:
        doc = suite_document(self.suite, self.rows, self.conv, status=status, not_run=self.not_run)
        write_suite_files(self.out, doc)
        return doc


def finished_summary(run_dir: str, v: Variant) -> Optional[dict[str, Any]]:
    """The summary of a run that ended (completed or budget) with this variant's config; None if unfinished.

    A finished run of another config is an error: the suite file changed under the same directory."""
    try:
        with open(os.path.join(run_dir, "summary.json"), encoding="utf-8") as f:
            summary = json.load(f)
    except (OSError, ValueError):
        return None
    if not isinstance(summary, dict) or summary.get("status") not in DONE:
        return None
    from raybench.events import EVENTS_FILE, read_events

    try:
        events = read_events(os.path.join(run_dir, EVENTS_FILE)).events
    except RaybenchError:
        return None
    start = next((e for e in events if e.get("event") == "experiment_start"), None)
    if start is None:
        return None
    if start.get("config") != v.config.to_dict():
        raise RunDirError(f"{run_dir} holds a finished run of another config (was the suite file changed?); "
                          "pass another --out, or move that directory away")
    return summary


def move_aside(run_dir: str) -> str:
    n = 1
    while os.path.exists(f"{run_dir}.incomplete-{n}"):
        n += 1
    os.rename(run_dir, f"{run_dir}.incomplete-{n}")
    return f"{run_dir}.incomplete-{n}"


def _one_line(row: dict[str, Any]) -> str:
    def f(x: Any, fmt: str) -> str:
        return format(x, fmt) if isinstance(x, (int, float)) else "-"

    return (f"{row['status']}: JCT {f(row['jct_s'], '.1f')} s, energy {f(row['energy_j'], '.4g')} J "
            f"({row.get('provenance') or 'none'}), {f(row['avg_trial_power_w'], '.3g')} W per trial, "
            f"waste {f(row['waste_j'], '.4g')} J ({f(row['waste_fraction'], '.1%')}), "
            f"cost {f(row['cost'], '.3g')} {row.get('currency') or ''}, best val {f(row['best_val'], '.4f')}, "
            f"test acc {f(row['test_accuracy'], '.4f')}, failed trials {row.get('failed')}"
            + (f" ({row['mem_failed']} by the memory limit)" if row.get("mem_failed") else ""))
