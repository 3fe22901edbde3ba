"""How raybench's costs grow with the number of trials: 100, 1,000, 10,000 and 100,000 synthetic trials.

Each size runs in fresh processes, so that peak RSS is that step's own:
- schedule: the scheduler core (SchedulerCore, the live actor's body) writing a real event log, fed by 8
  simulated workers in turn, zero-cost trials of up to 10 epochs, ASHA (grace 1, eta 3), random sampler.
  Workers send reports the way trial actors do on zero-cost epochs: in pairs, the trial's end handing out
  the next trial (report_many). Time per decision is the scheduler's time in those calls per report;
  its RSS is read at trial N/10 and at the end, and its peak.
- derive: `write_run_outputs` (summary.json and trials.csv from the log), as the driver does at the end;
  its peak RSS is the driver's.
- html: `raybench report RUN_DIR --html` (derive, terminal summary, plots and report.html), end to end, in its
  own process: its time and peak RSS.
- tpe: TPE's suggest time with N finished trials in its history and 7 pending, as 8 workers leave them (median
  of 20 suggestions).

    python scripts/bench_growth.py                     # all four sizes
    python scripts/bench_growth.py --sizes 100 1000    # some of them
    python scripts/bench_growth.py --plot docs/growth.png   # and a figure of every cost against the trials
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time

WORKERS = 8
EPOCHS = 10


def _rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _config(n: int, sampler: str = "random"):
    from raybench.config import ExperimentConfig

    return ExperimentConfig.model_validate({
        "name": "bench-growth", "seed": 0,
        "task": {"dataset": "synthetic", "epochs": EPOCHS},
        "search_space": {"x": {"type": "uniform", "low": 0.0, "high": 1.0},
                         "y": {"type": "loguniform", "low": 1e-4, "high": 1e-1}},
        "sampler": {"type": sampler},
        "pruner": {"type": "asha", "grace_period": 1, "reduction_factor": 3, "max_t": EPOCHS},
        "workers": {"count": WORKERS, "cpus": 0.25, "memory_mb": 256, "enforce_memory": False},
        "budget": {"max_trials": n},
        "energy": {"backend": "none", "gpu": "none"},
        "max_failures": 0,
    })


def _value(config: dict, trial_id: int, step: int) -> float:
    """A cheap learning curve: the config's ceiling approached over epochs, with per-trial noise."""
    ceiling = 0.9 - 0.5 * (config["x"] - 0.3) ** 2 - 0.02 * abs(math.log10(config["y"]) + 2.5)
    noise = ((trial_id * 2654435761 + step * 40503) % 1000) / 1000 * 0.01
    return ceiling * (1.0 - math.exp(-step / 3.0)) + noise


def child_schedule(n: int, run_dir: str) -> dict:
    from raybench.core.scheduler import ASSIGNMENT_WIRE, SchedulerCore
    from raybench.events import EVENTS_FILE, EventLog

    log = EventLog.open(os.path.join(run_dir, EVENTS_FILE))
    core = SchedulerCore(_config(n), log)
    core.start(run_id="growth", env={}, requested=WORKERS, effective=WORKERS)
    current = {w: core.next_trial(w, "node", w) for w in range(WORKERS)}
    step = dict.fromkeys(range(WORKERS), 0)
    spent = 0.0
    ended = 0
    rss_at_tenth = None
    while any(a is not None for a in current.values()):
        for w, a in current.items():
            if a is None:
                continue
            s = step[w]
            pair = [(k, {"val_accuracy": _value(a.config, a.trial_id, k)}, float(k), None)
                    for k in range(s + 1, min(s + 2, EPOCHS) + 1)]
            t = time.perf_counter()
            _, done, nxt = core.report_many(a.trial_id, pair, None, w, "node", w)
            spent += time.perf_counter() - t
            step[w] = pair[-1][0]
            if done:  # as a trial actor does: the next assignment from the fields that differ
                current[w] = None if nxt is None else dataclasses.replace(a, **dict(zip(ASSIGNMENT_WIRE, nxt)))
                step[w] = 0
                ended += 1
                if rss_at_tenth is None and ended >= max(1, n // 10):
                    rss_at_tenth = _rss_mb()
    core.end("completed", "")
    logged = sum(1 for _ in _reports(run_dir))
    return {"decision_us": spent / logged * 1e6, "decisions": logged,
            "log_bytes_per_trial": os.path.getsize(os.path.join(run_dir, EVENTS_FILE)) / n,
            "sched_rss_tenth_mb": rss_at_tenth, "sched_rss_end_mb": _rss_mb(), "sched_peak_mb": _peak_mb()}


def _reports(run_dir: str):
    from raybench.events import EVENTS_FILE, iter_events

    return (e for e in iter_events(os.path.join(run_dir, EVENTS_FILE)) if e["event"] == "decision")


def child_derive(run_dir: str) -> dict:
    from raybench.events.derive import write_run_outputs

    t = time.perf_counter()
    summary = write_run_outputs(run_dir)
    return {"derive_s": time.perf_counter() - t, "driver_peak_mb": _peak_mb(), "trials": summary["trials"]["total"]}


def child_tpe(n: int) -> dict:
    import numpy as np

    from raybench.search.samplers import make_sampler

    cfg = _config(n, "tpe")
    sampler = make_sampler(cfg.sampler, cfg.space(), seed=0, mode="max")
    rng = np.random.default_rng(0)
    for tid in range(n):  # a history of n finished trials, learned as a resume learns it
        config = {"x": float(rng.uniform()), "y": float(10 ** rng.uniform(-4, -1))}
        sampler.replay(tid, config)
        sampler.observe(tid, _value(config, tid, EPOCHS))
    # As in a live run with WORKERS workers: the other WORKERS - 1 trials are pending when one is suggested (the
    # constant liar puts them in the bad group), and each new suggestion follows the oldest pending one's end.
    pending = {tid: sampler.suggest(tid) for tid in range(n, n + WORKERS - 1)}
    times = []
    for tid in range(n + WORKERS - 1, n + WORKERS - 1 + 20):
        t = time.perf_counter()
        pending[tid] = sampler.suggest(tid)
        times.append(time.perf_counter() - t)
        oldest = min(pending)
        sampler.observe(oldest, _value(pending.pop(oldest), oldest, EPOCHS))
    return {"tpe_suggest_ms": statistics.median(times) * 1e3}


def _child(*args: str) -> dict:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [os.getcwd(), os.environ.get("PYTHONPATH")]))}
    out = subprocess.run([sys.executable, __file__, "--child", *args], capture_output=True, text=True, env=env)
    if out.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def _html(run_dir: str) -> dict:
    """`raybench report RUN_DIR --html` in its own process: its wall time and its peak RSS (from wait4)."""
    t = time.perf_counter()
    with tempfile.TemporaryFile() as err:
        p = subprocess.Popen([sys.executable, "-m", "raybench", "report", run_dir, "--html"],
                             stdout=subprocess.DEVNULL, stderr=err, env={**os.environ, "PYTHONPATH": os.getcwd()})
        _, status, usage = os.wait4(p.pid, 0)
        p.returncode = os.waitstatus_to_exitcode(status)
        if p.returncode != 0:
            err.seek(0)
            raise RuntimeError(f"raybench report --html failed:\n{err.read().decode(errors='replace')[-3000:]}")
    return {"html_s": time.perf_counter() - t, "html_peak_mb": usage.ru_maxrss / 1024}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[100, 1_000, 10_000, 100_000])
    ap.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    ap.add_argument("--keep", help="keep the run directories under this folder")
    ap.add_argument("--plot", help="also draw every cost against the number of trials into this PNG")
    args = ap.parse_args(argv)
    if args.child:
        what, *rest = args.child
        result = {"schedule": lambda: child_schedule(int(rest[0]), rest[1]),
                  "derive": lambda: child_derive(rest[0]),
                  "tpe": lambda: child_tpe(int(rest[0]))}[what]()
        print(json.dumps(result))
        return 0

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        base = args.keep or tmp
        for n in args.sizes:
            run_dir = os.path.join(base, f"growth-{n}")
            os.makedirs(run_dir, exist_ok=True)
            row = {"n": n}
            row.update(_child("schedule", str(n), run_dir))
            row.update(_child("derive", run_dir))
            row.update(_html(run_dir))
            row.update(_child("tpe", str(n)))
            print(json.dumps(row), flush=True)
            rows.append(row)
    print(f"\nmachine: {os.cpu_count()} CPUs; synthetic zero-cost trials, {EPOCHS} epochs, ASHA (grace 1, eta 3), "
          f"{WORKERS} simulated workers")
    print("| trials | scheduler us/decision | TPE suggest ms | log bytes/trial | derive s | report --html s | "
          "driver peak RSS MB | report --html peak RSS MB | scheduler RSS MB at N/10 -> end (peak) |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['n']:,} | {r['decision_us']:.0f} | {r['tpe_suggest_ms']:.2f} | {r['log_bytes_per_trial']:.0f} | "
              f"{r['derive_s']:.2f} | {r['html_s']:.1f} | {r['driver_peak_mb']:.0f} | {r['html_peak_mb']:.0f} | "
              f"{r['sched_rss_tenth_mb']:.0f} -> {r['sched_rss_end_mb']:.0f} ({r['sched_peak_mb']:.0f}) |")
    if args.plot:
        plot(rows, args.plot)
        print(f"\nfigure: {args.plot}")
    return 0


def plot(rows: list[dict], path: str) -> None:
    """Per-trial costs (flat lines mean the cost does not grow) and memory against the trials, log-scaled."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = [r["n"] for r in rows]
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8), layout="constrained")
    panels = (
        ("time per decision or suggestion", "ms", [
            ("scheduler, per decision", [r["decision_us"] / 1e3 for r in rows]),
            ("TPE, per suggestion (7 pending)", [r["tpe_suggest_ms"] for r in rows])]),
        ("time per trial, after the run", "ms per trial", [
            ("derive (summary.json, trials.csv)", [r["derive_s"] / r["n"] * 1e3 for r in rows]),
            ("report --html, end to end", [r["html_s"] / r["n"] * 1e3 for r in rows])]),
        ("peak memory", "MB", [
            ("driver at the run's end (derive)", [r["driver_peak_mb"] for r in rows]),
            ("report --html", [r["html_peak_mb"] for r in rows]),
            ("scheduler", [r["sched_peak_mb"] for r in rows])]),
    )
    for ax, (title, unit, series) in zip(axes, panels):
        for label, ys in series:
            ax.plot(n, ys, marker="o", label=label)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_title(title)
        ax.set_xlabel("trials in the run")
        ax.set_ylabel(unit)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(f"How raybench's costs grow with the trials (synthetic zero-cost trials, {WORKERS} simulated "
                 f"workers, {os.cpu_count()} CPUs)", fontsize=10)
    fig.savefig(path, dpi=110)
    plt.close(fig)


if __name__ == "__main__":
    sys.exit(main())
