"""Soak: thousands of zero-cost trials through the real scheduler actor and trial actors on 8 workers.

Every trial ends exactly once, and the scheduler's memory does not grow with reports: its RSS at the end is
within 20% of its RSS at the tenth of the run. CI runs 2,000 trials; RAYBENCH_SOAK_TRIALS=10000 is the
benchmark's size (BENCHMARKS.md, "Scale").
"""

import collections
import os
import time

import pytest
from rb_helpers import events_of, experiment

pytestmark = pytest.mark.timeout(900)

TRIALS = int(os.environ.get("RAYBENCH_SOAK_TRIALS", "2000"))
WORKERS = 8


def _measured_scheduler():
    """The live scheduler with one probe: its process's resident memory. Made in a function, so that Ray
    ships the class by value (the test module is not importable in the actor)."""
    from raybench.runtime._scheduler import LiveScheduler

    class Measured(LiveScheduler):
        def rss_mb(self) -> float:
            with open("/proc/self/status") as f:
                return next(int(line.split()[1]) / 1024 for line in f if line.startswith("VmRSS:"))

    return Measured


def test_every_trial_ends_once_and_the_scheduler_memory_stays_flat(local_ray, tmp_path):
    import ray

    from raybench.core.records import WorkerShape
    from raybench.runtime.actors import TrialActor

    cfg = experiment(task={"dataset": "synthetic", "epochs": 10},
                     pruner={"type": "asha", "grace_period": 1, "reduction_factor": 3, "max_t": 10},
                     workers={"count": WORKERS, "cpus": 2 / WORKERS, "memory_mb": 64, "enforce_memory": False},
                     budget={"max_trials": TRIALS}, energy={"backend": "none", "gpu": "none"}, max_failures=0)
    shape = WorkerShape.of(cfg.workers)
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    sched = ray.remote(num_cpus=0, max_restarts=0)(_measured_scheduler()).remote(cfg, str(run_dir))
    ray.get(sched.start.remote(run_id="soak", env={}, requested=WORKERS, effective=WORKERS))
    actors = [TrialActor.options(**shape.ray_options()).remote(i, shape, memory_limit=False) for i in range(WORKERS)]
    pending = [a.run.remote(sched) for a in actors]
    done = []
    rss_tenth = None
    while pending:
        ready, pending = ray.wait(pending, num_returns=len(pending), timeout=0.5)
        done += ray.get(ready)
        if rss_tenth is None:
            st = ray.get(sched.status.remote())
            if st["completed"] + st["pruned"] >= TRIALS // 10:
                rss_tenth = ray.get(sched.rss_mb.remote())
        time.sleep(0.05)
    rss_end = ray.get(sched.rss_mb.remote())
    ray.get(sched.end.remote("completed", ""))
    for a in actors:
        ray.kill(a)

    assert sum(done) == TRIALS
    events = events_of(run_dir)
    ends = collections.Counter(e["trial_id"] for e in events if e["event"] == "trial_completed")
    assert sorted(ends) == list(range(TRIALS)) and set(ends.values()) == {1}
    assert not [e for e in events if e["event"] == "trial_failed"]
    # A stop is obeyed: no report of a trial follows its stop decision.
    stopped = set()
    for e in events:
        if e["event"] == "report":
            assert e["trial_id"] not in stopped
        elif e["event"] == "decision" and e["action"] == "stop":
            stopped.add(e["trial_id"])
    assert rss_tenth is not None
    print(f"soak: {TRIALS} trials, scheduler RSS {rss_tenth:.1f} MB at trial {TRIALS // 10} -> {rss_end:.1f} MB")
    assert rss_end <= 1.2 * rss_tenth, (rss_tenth, rss_end)
