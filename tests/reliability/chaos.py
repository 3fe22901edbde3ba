"""One chaos run: a real driver process on a 3-node `ray.cluster_utils.Cluster`, with seeded random faults.

Used by test_reliability_chaos.py (a few seeds in CI) and scripts/bench_chaos.py (20 seeds, the figures in
docs/reliability.md). The faults, in a seeded order and at seeded moments during training:

- kill -9 of a trial actor (twice), of an energy actor, of the scheduler actor;
- removal of a worker node (the cluster gets a fresh one back afterwards, for the next seed);
- at the end, SIGKILL of the driver process alone (not its group), and `raybench run --resume` at once.

`check(run_dir)` then says what a user must be able to rely on: every trial ends exactly once, no event is
logged twice, the energy ledger balances, and the best trial is the best of the completed ones.
"""

from __future__ import annotations

import collections
import os
import random
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from typing import Any

import msgpack

CONFIG = """
name: chaos
seed: {seed}
task: {{dataset: synthetic, workload: "raybench.testing:sleepy", epochs: 4, options: {{epoch_time_s: 0.4}}}}
search_space:
  x: {{type: uniform, low: 0.5, high: 1.0}}
sampler: {{type: random}}
pruner: {{type: none}}
workers: {{count: 3, cpus: 1, memory_mb: 512}}
budget: {{max_trials: {trials}}}
energy: {{backend: estimate, gpu: none, baseline_s: 0.2, interval_s: 0.5}}
max_failures: 5
"""

FAULTS = ("trial_actor", "trial_actor", "energy_actor", "scheduler", "node")


@dataclass
class ChaosResult:
    seed: int
    injected: list[str] = field(default_factory=list)
    survived: int = 0
    trials: int = 0
    lost: int = 0
    epochs_rerun: int = 0
    problems: list[str] = field(default_factory=list)
    wall_s: float = 0.0

    def row(self) -> dict[str, Any]:
        return {"seed": self.seed, "faults": len(self.injected), "survived": self.survived, "trials": self.trials,
                "lost": self.lost, "epochs_rerun": self.epochs_rerun, "problems": self.problems,
                "wall_s": round(self.wall_s, 1)}


def read(run_dir: str) -> list[dict[str, Any]]:
    from raybench.events import read_events

    path = os.path.join(run_dir, "events.msgpack")
    return read_events(path).events if os.path.exists(path) else []


def pids_of(class_name: str) -> list[int]:
    """Live pids of this machine's `ray::<class_name>` actor processes that belong to this test's cluster."""

    out = []
    for node in _cluster_nodes():
        out += _pids_on(node, class_name)
    return out


def _pids_on(node: Any, class_name: str) -> list[int]:
    import psutil

    out = []
    for r in [info.process.pid for info in node.all_processes.get("raylet", [])]:
        try:
            out += [p.pid for p in psutil.Process(r).children(recursive=True)
                    if p.cmdline() and p.cmdline()[0].startswith(f"ray::{class_name}")]
        except psutil.Error:
            continue
    return out


_CLUSTER: Any = None


def _cluster_nodes() -> list[Any]:
    return list(_CLUSTER.list_all_nodes()) if _CLUSTER is not None else []


def start_cluster():
    """A head of 1 CPU and two workers of 1 CPU: three worker slots on three nodes."""
    global _CLUSTER
    from ray.cluster_utils import Cluster

    _CLUSTER = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
    for _ in range(2):
        _CLUSTER.add_node(num_cpus=1)
    _CLUSTER.wait_for_nodes()
    return _CLUSTER


def stop_cluster() -> None:
    global _CLUSTER
    if _CLUSTER is not None:
        _CLUSTER.shutdown()
        _CLUSTER = None


def driver(args: list[str], log_path: str) -> subprocess.Popen:
    """`python -m raybench ARGS` connected to the test cluster, in a process group of its own."""
    env = {**os.environ, "RAYBENCH_AUTOSCALING": "0"}
    return subprocess.Popen([sys.executable, "-m", "raybench", *args, "--no-progress", "--address",
                             _CLUSTER.address], stdout=open(log_path, "a"), stderr=subprocess.STDOUT, env=env,
                            start_new_session=True)


def _wait(pred, timeout: float, proc: subprocess.Popen) -> bool:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if pred():
            return True
        if proc.poll() is not None:
            return False
        time.sleep(0.1)
    return False


def _kill(pids: list[int], rng: random.Random) -> bool:
    if not pids:
        return False
    try:
        os.kill(rng.choice(pids), signal.SIGKILL)
        return True
    except ProcessLookupError:
        return False


def inject(fault: str, rng: random.Random, run_dir: str) -> bool:
    """One fault; False when there was nothing to hit at that moment."""
    if fault == "trial_actor":
        return _kill(pids_of("TrialWorker"), rng)
    if fault == "energy_actor":
        return _kill(pids_of("EnergyNode"), rng)
    if fault == "scheduler":
        return _kill(pids_of("LiveScheduler"), rng)
    if fault == "node":
        busy = {e.get("node_id") for e in read(run_dir) if e["event"] == "trial_started"}
        # Never the node of the driver's scheduler: a driver loses its own node only with its machine.
        nodes = [n for n in _CLUSTER.worker_nodes if not _pids_on(n, "LiveScheduler")]
        workers = [n for n in nodes if n.node_id in busy] or nodes
        if not workers:
            return False
        _CLUSTER.remove_node(rng.choice(workers), allow_graceful=False)
        return True
    raise ValueError(f"unknown fault {fault!r}")


def chaos_run(seed: int, work_dir: str, *, trials: int = 10, timeout_s: float = 300.0) -> ChaosResult:
    """One seeded chaos run in work_dir/seed-<seed>; returns what happened and what check() found."""
    rng = random.Random(seed)
    res = ChaosResult(seed)
    t_start = time.time()
    d = os.path.join(work_dir, f"seed-{seed}")
    os.makedirs(d, exist_ok=True)
    cfg = os.path.join(d, "chaos.yaml")
    with open(cfg, "w") as f:
        f.write(CONFIG.format(seed=seed, trials=trials))
    run_dir, out = os.path.join(d, "run"), os.path.join(d, "driver.log")
    faults = list(FAULTS)
    rng.shuffle(faults)
    first = driver(["run", cfg, "--out", run_dir], out)
    try:
        reports = lambda: sum(e["event"] == "report" for e in read(run_dir))  # noqa: E731
        ended = lambda: sum(e["event"] in ("trial_completed",) or (e["event"] == "trial_failed" and e["final"])  # noqa: E731
                            for e in read(run_dir))
        for fault in faults:
            # A seeded moment: after 1 to 4 more epoch reports.
            target = reports() + rng.randint(1, 4)
            if not _wait(lambda t=target: reports() >= t, 90, first):
                break
            if inject(fault, rng, run_dir):
                res.injected.append(fault)
        # At the end: the driver alone, SIGKILLed, as the OOM killer would; then a resume at once.
        _wait(lambda: ended() >= trials - 3, 120, first)
        if first.poll() is None:
            os.kill(first.pid, signal.SIGKILL)
            res.injected.append("driver")
        first.wait(timeout=30)
        if "driver" in res.injected:
            second = driver(["run", "--resume", run_dir], out)
            try:
                second.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                res.problems.append("the resumed run did not finish")
            finally:
                if second.poll() is None:
                    os.killpg(second.pid, signal.SIGKILL)
                    second.wait()
            if second.returncode != 0:
                res.problems.append(f"the resume exited with {second.returncode}")
        elif first.returncode != 0:
            res.problems.append(f"the run exited with {first.returncode}")
    finally:
        if first.poll() is None:
            os.killpg(first.pid, signal.SIGKILL)
            first.wait()
        while len(_CLUSTER.worker_nodes) < 2:  # the next seed gets three nodes again
            _CLUSTER.add_node(num_cpus=1)
        _CLUSTER.wait_for_nodes()
    check(run_dir, res)
    res.survived = len(res.injected) if not res.problems else 0
    res.wall_s = time.time() - t_start
    return res


def check(run_dir: str, res: ChaosResult) -> None:
    """What must hold after any chaos: the properties of docs/reliability.md's "Guarantees"."""
    import json

    events = read(run_dir)
    p = res.problems
    if not events or events[-1]["event"] != "experiment_end":
        p.append("the log does not end with experiment_end")
    ends = collections.Counter(e["trial_id"] for e in events if e["event"] == "trial_completed"
                               or (e["event"] == "trial_failed" and e["final"]))
    created = [e["trial_id"] for e in events if e["event"] == "trial_created"]
    res.trials = len(created)
    if len(created) != len(set(created)):
        p.append("a trial was created twice")
    if set(created) != set(ends) or any(n != 1 for n in ends.values()):
        p.append(f"not every trial ended exactly once: {dict(ends)} for {sorted(set(created))}")
    packed = collections.Counter(msgpack.packb(e, use_bin_type=True) for e in events)
    if any(n > 1 for n in packed.values()):
        p.append("an event was logged twice")
    res.lost = sum(1 for e in events if e["event"] == "trial_failed" and e["final"])
    seen: set[tuple[int, int]] = set()
    for e in events:
        if e["event"] == "report":
            key = (e["trial_id"], e["step"])
            res.epochs_rerun += key in seen
            seen.add(key)
    try:
        with open(os.path.join(run_dir, "summary.json")) as f:
            summary = json.load(f)
    except (OSError, ValueError):
        p.append("no summary.json")
        return
    check_ = (summary.get("energy") or {}).get("accounting_check") or {}
    if not check_ or check_.get("rel_error", 1.0) > 1e-9:
        p.append(f"the energy ledger does not balance: {check_}")
    done = {e["trial_id"]: e["final_metric"] for e in events
            if e["event"] == "trial_completed" and e["status"] == "completed"}
    best = summary.get("best") or {}
    if done and (best.get("trial_id") not in done or best.get("val_metric") != max(done.values())):
        p.append(f"the best trial {best.get('trial_id')} ({best.get('val_metric')}) is not the best completed "
                 f"one ({max(done.values())})")
