"""Why a report costs the live scheduler two to three times what it costs in a tight loop.

bench_growth drives the scheduler core with reports back to back: about 70 us of CPU a report on the
development VM. bench_scale's live scheduler spends 165 to 230 us of CPU a report, and a per-thread CPU
count of the scheduler's process (scripts/thread_cpu.py) puts nearly all of it in the report channel's
thread: the same Python code, not Ray's threads. What differs is what happens between two calls. Live, the
channel thread sleeps in `select` until the next report, and 32 or 64 trial processes run meanwhile on the
same cores.

This runs the live scheduler's body (LiveScheduler, writing a real event log; no Ray) fed as bench_growth
feeds it, and counts the thread's own CPU inside each `report_many` (time.thread_time, so waiting is not
counted), in three settings, interleaved:
- warm: calls back to back;
- paused: the thread sleeps `--pause-us` between calls, as the channel thread waits for the next report;
- paused, neighbours: the same, while `--neighbours` processes walk an 8 MB array each (as other processes
  on the cores would) and sleep briefly in turn.

    python scripts/bench_sched_cold.py                      # 4,000 trials, 3 rounds
    python scripts/bench_sched_cold.py --trials 20000 --rounds 5
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, HERE)

NEIGHBOUR = """
import array, sys, time
buf = array.array("q", range(1 << 20))  # 8 MB, read in strides of 512 bytes: evicts the caches it shares
end = time.time() + float(sys.argv[1])
while time.time() < end:
    s = 0
    for i in range(0, len(buf), 64):
        s += buf[i]
    time.sleep(0.0005)
"""


def child(trials: int, pause_s: float) -> float:
    """CPU microseconds of the scheduler's thread a report, inside report_many."""
    import bench_growth

    import raybench.core.scheduler as core
    from raybench.runtime._scheduler import LiveScheduler

    run_dir = tempfile.mkdtemp(prefix="rb-cold-")
    spent = [0.0]

    class Timed(LiveScheduler):
        def report_many(self, *args, **kwargs):
            if pause_s:
                time.sleep(pause_s)
            t = time.thread_time()
            try:
                return super().report_many(*args, **kwargs)
            finally:
                spent[0] += time.thread_time() - t

    def make(cfg, log):  # bench_growth opens the log itself; the live scheduler opens its own
        log.close()
        os.remove(os.path.join(run_dir, "events.msgpack"))
        return Timed(cfg, run_dir)

    core.SchedulerCore = make  # bench_growth imports it inside child_schedule, so it takes this one
    result = bench_growth.child_schedule(trials, run_dir)
    return spent[0] / result["decisions"] * 1e6


def measure(trials: int, pause_s: float, neighbours: int) -> float:
    hogs = [subprocess.Popen([sys.executable, "-c", NEIGHBOUR, "600"]) for _ in range(neighbours)]
    try:
        if hogs:
            time.sleep(0.5)
        out = subprocess.run([sys.executable, __file__, "--child", str(trials), str(pause_s)],
                             check=True, capture_output=True, text=True).stdout
        return float(out.strip().splitlines()[-1])
    finally:
        for h in hogs:
            h.kill()
            h.wait()


def main() -> None:
    if len(sys.argv) == 4 and sys.argv[1] == "--child":
        print(child(int(sys.argv[2]), float(sys.argv[3])))
        return
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=4000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--pause-us", type=float, default=300.0, help="sleep between two calls (default 300)")
    ap.add_argument("--neighbours", type=int, default=8, help="processes walking memory meanwhile (default 8)")
    args = ap.parse_args()
    settings = [("warm: back to back", 0.0, 0), (f"paused {args.pause_us:.0f} us", args.pause_us / 1e6, 0),
                (f"paused {args.pause_us:.0f} us, {args.neighbours} neighbours", args.pause_us / 1e6,
                 args.neighbours)]
    got: dict[str, list[float]] = {name: [] for name, _, _ in settings}
    for r in range(args.rounds):
        for name, pause, hogs in settings:
            us = measure(args.trials, pause, hogs)
            got[name].append(us)
            print(f"  round {r + 1}: {name}: {us:.1f} us CPU/report", flush=True)
    warm = statistics.median(got[settings[0][0]])
    print(f"\nmachine: {os.cpu_count()} CPUs; LiveScheduler fed as bench_growth feeds it, {args.trials:,} trials; "
          f"median of {args.rounds}")
    print("| setting | scheduler thread CPU us/report | ratio to warm |")
    print("|---|---:|---:|")
    for name, _, _ in settings:
        m = statistics.median(got[name])
        print(f"| {name} | {m:.1f} | {m / warm:.2f}x |")


if __name__ == "__main__":
    main()
