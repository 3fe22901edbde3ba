"""raybench vs Ray Tune with many workers on a simulated multi-node cluster, in the same run.

A `ray.cluster_utils.Cluster` of NODES nodes (1 logical CPU each) holds W workers of NODES/W CPUs, so 8,
32 and 64 workers fit on a 2-core machine. Both runtimes run zero-cost synthetic trials of up to 10
reports each with ASHA (grace 1, eta 3, max_t 10): what is measured is the runtime's own cost.

raybench runs its real scheduler actor (LiveScheduler, writing a real event log) and its real trial
actors; subclasses defined here only add probes: the trial actor times each report's round trip (the
latency of a decision as the worker sees it), and the scheduler tells its process CPU time. Reports go over
the report channel, as in a run (workers.report_channel: socket); --ablate-channel also runs raybench with
every report a Ray call, and --ablate-events with Ray's task events on, each in the same run. --floor runs
the same workers against a scheduler that answers at once and logs nothing: the latency the machine and the
workers set, which no real scheduler can beat.
Tune runs a function trainable with `reuse_actors=True` and `ASHAScheduler`; a callback stamps each trial's
end. trials/s and reports/s are steady-state rates over the middle 80% of trial ends (start-up and the
tail left out, the same rule for both); a decision's p50 and p99 are taken over the round trips that began
and ended in that window, and the p99 over every report is printed beside them; wall s is the whole run
from its first actor to its last trial.
While raybench's trials run, the whole machine's CPU use is read from /proc/stat: how many CPUs were busy,
and how much time the hypervisor took from this VM (steal).

    python scripts/bench_scale.py                    # 8, 32, 64 workers; 3 repeats
    python scripts/bench_scale.py --quick            # 8 and 32 workers, 1 repeat, fewer trials
    python scripts/bench_scale.py --workers 32 --no-tune
    python scripts/bench_scale.py --workers 8 32 64 --no-tune --repeats 1 --trials 12000 --floor
    python scripts/bench_scale.py --workers 8 32 64 --repeats 1 --tune-trials 150 --trials 6000 --ablate-channel
    python scripts/bench_scale.py --workers 8 32 64 --repeats 1 --floor --plot docs/scale.png
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
from typing import Optional

import numpy as np

os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
os.environ.setdefault("RAY_AUTH_MODE", "token")

NODES = 4
SPACE = {"x": {"type": "uniform", "low": 0.0, "high": 1.0},
         "y": {"type": "loguniform", "low": 1e-4, "high": 1e-1}}


def config(workers: int, trials: int, channel: str = "socket", energy: bool = False):
    from raybench.config import ExperimentConfig

    return ExperimentConfig.model_validate({
        "name": "bench-scale", "seed": 0,
        "task": {"dataset": "synthetic", "epochs": 10},
        "search_space": SPACE,
        "sampler": {"type": "random"},
        "pruner": {"type": "asha", "grace_period": 1, "reduction_factor": 3, "max_t": 10},
        "workers": {"count": workers, "cpus": NODES / workers, "memory_mb": 64, "enforce_memory": False,
                    "report_channel": channel},
        "budget": {"max_trials": trials},
        "energy": ({"backend": "estimate", "gpu": "none", "baseline_s": 0.5, "interval_s": 1.0} if energy else
                   {"backend": "none", "gpu": "none"}),
        "max_failures": 0,
    })


def _probes(pairs: bool = True):
    """The probing subclasses, made here so that Ray ships them by value to the actors. pairs=False: every
    report goes alone (the ablation of the pairing)."""
    from raybench.core.scheduler import ASSIGNMENT_WIRE
    from raybench.runtime._scheduler import LiveScheduler
    from raybench.runtime.actors import TrialWorker  # the class of a run's trial actors

    class ProbedWorker(TrialWorker):
        def __init__(self, *a, **kw):
            super().__init__(*a, **kw)
            self.latencies_ms: list[float] = []
            self.answered_at: list[float] = []  # when each answer came (wall clock), to pick the steady window

        def _report(self, *args, **kw):
            t = time.perf_counter()
            action = super()._report(*args, **kw)
            self.latencies_ms.append((time.perf_counter() - t) * 1e3)
            self.answered_at.append(time.time())
            if not pairs:
                self._rtt_s = 0.0
            return action

        def cpu_s(self) -> float:
            return time.process_time()

        def latencies(self) -> tuple[list[float], list[float]]:
            return self.answered_at, self.latencies_ms

    class ProbedScheduler(LiveScheduler):
        def cpu_s(self) -> float:
            return time.process_time()

        def profile(self, path=None) -> None:
            """Start cProfile on the thread that runs the calls; with a path, stop and write the stats."""
            import cProfile

            if path is None:
                self._prof = cProfile.Profile()
                self._prof.enable()
            else:
                self._prof.disable()
                self._prof.dump_stats(path)

    class FloorScheduler(ProbedScheduler):
        """The floor: answers the same calls at once, deciding nothing and logging nothing.

        Trials end where stopping ASHA (grace 1, eta 3, max_t 10) ends two thirds of each rung's: 2/3 of
        trial ids at epoch 1, 2/9 at 3, 2/27 at 9, the rest complete at 10; reports come in the same pairs.
        What its workers see as latency is what the machine and the workers cost with a scheduler that costs
        next to nothing."""

        def start(self, **kw):
            self._floor_lock = threading.Lock()
            self._floor_next, self._floor_ends, self._floor_reports = 0, [], 0
            return super().start(**kw)

        def _floor_assignment(self):
            from raybench.core.records import Assignment

            tid, self._floor_next = self._floor_next, self._floor_next + 1
            if tid >= self.cfg.budget.max_trials:
                return None
            return Assignment(trial_id=tid, config={"x": 0.5, "y": 0.01}, attempt=1, seed=tid,
                              experiment_seed=self.cfg.seed, task=self._task, space=self.space,
                              metric=self.cfg.metric.name, epochs=self.cfg.task.epochs, from_step=0,
                              checkpoint=None, send_checkpoints=self.send_checkpoints)

        def next_trial(self, worker, node_id, pid, finished=None):
            with self._floor_lock:
                return self._floor_assignment()

        def report_many(self, trial_id, reports, rss_mb=None, worker=None, node_id=None, pid=0):
            rung = 1 if trial_id % 3 else 3 if trial_id % 9 else 9 if trial_id % 27 else 10
            with self._floor_lock:
                for step, *_ in reports:
                    self._floor_reports += 1
                    if step >= rung:
                        self._floor_ends.append(time.time())
                        nxt = self._floor_assignment()
                        wire = None if nxt is None else tuple(getattr(nxt, f) for f in ASSIGNMENT_WIRE)
                        return 2 if step < 10 else 0, True, wire
                return 0, False, None

        def floor_stats(self):
            return self._floor_ends, self._floor_reports

    return ProbedWorker, ProbedScheduler, FloorScheduler


def raybench_once(workers: int, trials: int, out: str, pairs: bool = True, profile: str = "",
                  task_events: bool = False, channel: str = "socket", floor: bool = False,
                  energy: bool = False) -> dict:
    import ray
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    from raybench.core.records import WorkerShape
    from raybench.events import EVENTS_FILE, read_events
    from raybench.runtime._cluster import alive_nodes
    from raybench.runtime._energy_fleet import EnergyFleet, energy_run_id
    from raybench.runtime.actors import QUIET

    cfg = config(workers, trials, channel, energy)
    shape = WorkerShape.of(cfg.workers)
    worker_cls, sched_cls, floor_cls = _probes(pairs)
    sched_cls = floor_cls if floor else sched_cls
    os.makedirs(out)
    here = ray.get_runtime_context().get_node_id()
    t0 = time.time()
    quiet = {} if task_events else QUIET  # the actors' options as raybench's own (runtime/actors.py)
    sched = ray.remote(num_cpus=0, max_restarts=0, **quiet)(sched_cls).options(
        scheduling_strategy=NodeAffinitySchedulingStrategy(here, soft=False)).remote(cfg, out)
    run_id = f"bench{os.getpid()}{len(os.listdir(os.path.dirname(out)))}"
    ray.get(sched.start.remote(run_id=run_id, env={}, requested=workers, effective=workers))
    fleet = EnergyFleet(cfg, run_id, sched, _say)
    fleet.start(alive_nodes())  # energy on: an energy actor per node, its baseline measured, as a run does
    actors = [ray.remote(max_restarts=0, **quiet)(worker_cls).options(**shape.ray_options(), scheduling_strategy="SPREAD")
              .remote(i, shape, run_id=energy_run_id(cfg, run_id), memory_limit=False) for i in range(workers)]
    worker_cpu0 = sum(ray.get([a.cpu_s.remote() for a in actors]))  # all started; their start-up left out
    cpu0 = ray.get(sched.cpu_s.remote())
    if profile:
        ray.get(sched.profile.remote())
    machine0, run_t0 = _machine_jiffies(), time.time()
    done = ray.get([a.run.remote(sched) for a in actors])
    machine1, run_s = _machine_jiffies(), time.time() - run_t0
    wall = time.time() - t0
    if profile:
        ray.get(sched.profile.remote(profile))
    cpu1 = ray.get(sched.cpu_s.remote())
    worker_cpu = sum(ray.get([a.cpu_s.remote() for a in actors])) - worker_cpu0
    stamped = ray.get([a.latencies.remote() for a in actors])
    at = np.concatenate([np.asarray(when, dtype=float) for when, _ in stamped])
    lat = np.concatenate([np.asarray(ms, dtype=float) for _, ms in stamped])
    fleet.stop()
    fleet.kill()
    if not floor:
        ray.get(sched.end.remote("completed", ""))
    for a in actors:
        ray.kill(a)
    if not floor:
        ray.kill(sched)
    assert sum(done) == trials, (sum(done), trials)
    if floor:  # nothing logged: the floor scheduler's own stamps (its reports are counted, not stamped)
        ends, n_reports = ray.get(sched.floor_stats.remote())
        ray.kill(sched)
        ends.sort()
        rate, lo, hi = _steady(ends)
        # Its reports are not stamped: the steady rate of reports is that of trials times reports per trial.
        return {"wall_s": wall, "trials_s": rate, "reports_s": rate * n_reports / trials,
                **_latency(at, lat, lo, hi),
                "sched_cpu": (cpu1 - cpu0) / (ends[-1] - ends[0]), "reports_per_trial": n_reports / trials,
                "sched_us_per_report": (cpu1 - cpu0) / n_reports * 1e6,
                "worker_ms_per_trial": worker_cpu / trials * 1e3, "log_bytes": 0,
                **_machine_use(machine0, machine1, run_s)}
    events = read_events(os.path.join(out, EVENTS_FILE)).events
    ends = sorted(e["t"] for e in events if e["event"] == "trial_completed")
    reports = sorted(e["t"] for e in events if e["event"] == "report")
    assert len(ends) == trials
    rate, lo, hi = _steady(ends)
    n_rep = sum(1 for t in reports if lo <= t <= hi)
    first = min(e["t"] for e in events if e["event"] == "trial_started")
    return {"wall_s": wall, "trials_s": rate, "reports_s": n_rep / (hi - lo),
            **_latency(at, lat, lo, hi),
            "sched_cpu": (cpu1 - cpu0) / (ends[-1] - first), "reports_per_trial": len(reports) / trials,
            "sched_us_per_report": (cpu1 - cpu0) / len(reports) * 1e6,
            "worker_ms_per_trial": worker_cpu / trials * 1e3,
            "log_bytes": os.path.getsize(os.path.join(out, EVENTS_FILE)),
            **_machine_use(machine0, machine1, run_s)}


def _machine_jiffies() -> Optional[tuple[int, int, int]]:
    """(busy, steal, all) clock ticks of every CPU of this machine since boot, from /proc/stat (Linux)."""
    try:
        with open("/proc/stat") as f:
            ticks = [int(x) for x in f.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    idle = ticks[3] + (ticks[4] if len(ticks) > 4 else 0)  # idle + iowait
    steal = ticks[7] if len(ticks) > 7 else 0
    return sum(ticks[:8]) - idle - steal, steal, sum(ticks[:8])


def _machine_use(a, b, seconds: float) -> dict:
    """The whole machine while the trials ran: CPUs busy (of os.cpu_count()) and the share of time the
    hypervisor took (steal): the evidence for or against "the machine, not the scheduler, is the limit"."""
    if a is None or b is None or seconds <= 0:
        return {"machine_busy_cpus": float("nan"), "steal_pct": float("nan")}
    hz = os.sysconf("SC_CLK_TCK")
    total = max(b[2] - a[2], 1)
    return {"machine_busy_cpus": (b[0] - a[0]) / hz / seconds, "steal_pct": 100.0 * (b[1] - a[1]) / total}


def _latency(at: np.ndarray, ms: np.ndarray, lo: float, hi: float) -> dict:
    """A decision's p50 and p99 over the steady window: the round trips that began and ended between the first
    and the last of the middle 80% of trial ends (the window of the rates). Its p99 over every report is kept
    beside it: that one also holds the first calls of processes just started (while the others still start,
    up to most of a second at 64 workers) and the last ones of a draining run."""
    steady = ms[(at - ms / 1e3 >= lo) & (at <= hi)]
    n = len(steady)
    if not n:  # a run too short for any round trip to fit in its window
        steady = np.array([np.nan])
    return {"p50_ms": float(np.percentile(steady, 50)), "p99_ms": float(np.percentile(steady, 99)),
            "p99_all_ms": float(np.percentile(ms, 99)), "steady_reports": n}


def _steady(ends: list[float]) -> tuple[float, float, float]:
    """Trial ends per second over the middle 80% of ends."""
    n = len(ends)
    i, j = n // 10, n - 1 - n // 10
    return (j - i) / max(ends[j] - ends[i], 1e-9), ends[i], ends[j]


def _tune_trainable(config):
    from ray import tune

    from raybench.search.space import LogUniform, Uniform
    from raybench.search.synthetic import SyntheticObjective

    objective = SyntheticObjective({"x": Uniform(0.0, 1.0), "y": LogUniform(1e-4, 1e-1)}, 0)
    for step in range(1, 11):
        tune.report({"val_accuracy": objective.curve(config, step)})


def tune_once(workers: int, trials: int, out: str) -> dict:
    from ray import tune
    from ray.tune import Callback
    from ray.tune.schedulers import ASHAScheduler

    ends: list[float] = []
    results = [0]

    class Stamps(Callback):
        def on_trial_complete(self, iteration, trials, trial, **info):
            ends.append(time.time())

        def on_trial_result(self, iteration, trials, trial, result, **info):
            results[0] += 1

    tuner = tune.Tuner(
        tune.with_resources(_tune_trainable, {"cpu": NODES / workers}),
        param_space={"x": tune.uniform(0.0, 1.0), "y": tune.loguniform(1e-4, 1e-1)},
        tune_config=tune.TuneConfig(
            num_samples=trials, max_concurrent_trials=workers, reuse_actors=True,
            scheduler=ASHAScheduler(metric="val_accuracy", mode="max", max_t=10, grace_period=1,
                                    reduction_factor=3)),
        run_config=tune.RunConfig(storage_path=out, name="tune", verbose=0, callbacks=[Stamps()]),
    )
    t = time.time()
    grid = tuner.fit()
    wall = time.time() - t
    assert len(grid) == trials
    rate, lo, hi = _steady(sorted(ends))
    return {"wall_s": wall, "trials_s": rate, "reports_s": results[0] / wall,
            "reports_per_trial": results[0] / trials}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workers", type=int, nargs="+", default=[8, 32, 64])
    ap.add_argument("--trials", type=int, default=None, help="raybench trials per run (default 50 per worker, "
                                                             "at least 1,000)")
    ap.add_argument("--tune-trials", type=int, default=None, help="Tune trials per run (default 10 per worker, "
                                                                  "at least 200)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--no-tune", action="store_true")
    ap.add_argument("--profile", help="write the scheduler's cProfile stats of the first raybench run here")
    ap.add_argument("--ablate", action="store_true", help="also run raybench with every report sent alone")
    ap.add_argument("--ablate-channel", action="store_true",
                    help="also run raybench with reports sent as Ray calls (workers.report_channel: ray)")
    ap.add_argument("--ablate-events", action="store_true",
                    help="also run raybench with Ray's task events on (as Ray's default is)")
    ap.add_argument("--ablate-energy", action="store_true",
                    help="also run raybench with energy measured (backend estimate: an energy actor per node, "
                         "each trial tracked and untracked), as a run measures it by default")
    ap.add_argument("--floor", action="store_true",
                    help="also run the same workers against a scheduler that answers at once, deciding and logging "
                         "nothing: the latency the machine and the workers set")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--plot", help="also draw trials/s and decision latency against the workers into this PNG")
    args = ap.parse_args(argv)
    if args.quick:
        args.workers, args.repeats = [8, 32], 1

    import ray
    from ray.cluster_utils import Cluster

    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
    for _ in range(NODES - 1):
        cluster.add_node(num_cpus=1)
    cluster.wait_for_nodes()
    ray.init(address=cluster.address, logging_level="ERROR")
    rows = []
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for w in args.workers:
                n_rb = args.trials or max(1000, 50 * w) // (4 if args.quick else 1)
                n_tu = args.tune_trials or max(200, 10 * w) // (2 if args.quick else 1)
                rb, tu, ablations = [], [], {}
                for r in range(args.repeats):  # interleaved, so that both see the same load
                    rb.append(raybench_once(w, n_rb, os.path.join(tmp, f"rb-{w}-{r}"),
                                            profile=args.profile if r == 0 and w == args.workers[0] else ""))
                    print(f"  {w} workers, raybench run {r}: {_fmt(rb[-1])}", flush=True)
                    for name, on, kw in ((" (floor)", args.floor, {"floor": True}),
                                         (" (unpaired)", args.ablate, {"pairs": False}),
                                         (" (Ray calls)", args.ablate_channel, {"channel": "ray"}),
                                         (" (task events)", args.ablate_events, {"task_events": True}),
                                         (" (energy on)", args.ablate_energy, {"energy": True})):
                        if on:
                            res = raybench_once(w, n_rb, os.path.join(tmp, f"rb{len(ablations)}-{w}-{r}"), **kw)
                            ablations.setdefault(name, []).append(res)
                            print(f"  {w} workers, raybench{name} run {r}: {_fmt(res)}", flush=True)
                    if not args.no_tune:
                        tu.append(tune_once(w, n_tu, os.path.join(tmp, f"tune-{w}-{r}")))
                        print(f"  {w} workers, tune run {r}: {_fmt(tu[-1])}", flush=True)
                rows.append((w, n_rb, n_tu, _median(rb), _median(tu) if tu else None,
                             [x["trials_s"] / y["trials_s"] for x, y in zip(rb, tu)],
                             {k: _median(v) for k, v in ablations.items()}))
    finally:
        ray.shutdown()
        cluster.shutdown()
    print(f"\nmachine: {os.cpu_count()} CPUs; simulated cluster of {NODES} nodes x 1 CPU; zero-cost synthetic "
          f"trials, 10 epochs, ASHA (grace 1, eta 3); median of {args.repeats}")
    print("| workers | CPUs each | trials (rb / Tune) | raybench trials/s | Tune trials/s | ratio | raybench "
          "reports/s | decision p50 ms | p99 ms | p99 ms, all reports | scheduler CPU (% of a core) | "
          f"scheduler CPU us/report | worker CPU ms/trial | machine CPUs busy (of {os.cpu_count()}) | steal % |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for w, n_rb, n_tu, rb, tu, ratios, ablated in rows:
        for name, r in (("", rb), *ablated.items()):
            tu_rate = f"{tu['trials_s']:.1f}" if tu and not name else "-"
            ratio = f"{statistics.median(ratios):.1f}x" if ratios and not name else "-"
            print(f"| {w}{name} | {NODES / w:g} | {n_rb:,} / {n_tu:,} | {r['trials_s']:.1f} | {tu_rate} | {ratio} | "
                  f"{r['reports_s']:.0f} | {r['p50_ms']:.2f} | {r['p99_ms']:.2f} | {r['p99_all_ms']:.2f} | "
                  f"{r['sched_cpu'] * 100:.0f} | {r['sched_us_per_report']:.0f} | {r['worker_ms_per_trial']:.1f} | "
                  f"{r['machine_busy_cpus']:.2f} | {r['steal_pct']:.1f} |")
    if args.plot:
        plot(rows, args.plot)
        print(f"\nfigure: {args.plot}")
    return 0


def plot(rows: list, path: str) -> None:
    """trials/s (raybench, Tune, each ablation) and the decision latency's p50 and p99 against the workers."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    workers = [w for w, *_ in rows]
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4), layout="constrained")
    series = {"raybench": [rb for _, _, _, rb, _, _, _ in rows]}
    for _, _, _, _, _, _, ablated in rows:
        for name in ablated:
            series.setdefault("raybench" + name, [a.get(name) for *_, a in rows])
    for name, runs in series.items():
        left.plot(workers, [r["trials_s"] if r else float("nan") for r in runs], marker="o", label=name)
        if name in ("raybench", "raybench (floor)"):
            right.plot(workers, [r["p50_ms"] for r in runs], marker="o", label=f"{name}: p50")
            right.plot(workers, [r["p99_ms"] for r in runs], marker="s", linestyle="--", label=f"{name}: p99")
            if name == "raybench":
                right.plot(workers, [r["p99_all_ms"] for r in runs], marker="s", linestyle=":", alpha=0.6,
                           label=f"{name}: p99, start-up and drain included")
    if any(tu for _, _, _, _, tu, _, _ in rows):
        left.plot(workers, [tu["trials_s"] if tu else float("nan") for _, _, _, _, tu, _, _ in rows], marker="^",
                  label="Ray Tune (reuse_actors, ASHA)")
    right.axhline(50, color="grey", linestyle=":", label="target: p99 50 ms")
    left.set_yscale("log")
    for ax, title, unit in ((left, "trials per second (steady state)", "trials/s"),
                            (right, "a report's decision as the worker waits for it (steady state)", "ms")):
        ax.set_xscale("log", base=2)
        ax.set_xticks(workers, [str(w) for w in workers])
        ax.set_title(title)
        ax.set_xlabel("workers")
        ax.set_ylabel(unit)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(f"Zero-cost trials on a simulated cluster of {NODES} nodes, {os.cpu_count()} CPUs", fontsize=10)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _say(message: str) -> None:
    """The energy layer's notices, as a run shows them (they carry console markup)."""
    from rich.console import Console

    Console(stderr=True, highlight=False).print(message)


def _median(runs: list[dict]) -> dict:
    return {k: statistics.median(r[k] for r in runs) for k in runs[0]}


def _fmt(r: dict) -> str:
    return ", ".join(f"{k} {v:.3g}" for k, v in r.items())


if __name__ == "__main__":
    sys.exit(main())
