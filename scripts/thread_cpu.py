"""Per-thread CPU of a running process, every few seconds: where a process's CPU goes, thread by thread.

Reads /proc/PID/task/*/stat (Linux). For the scheduler actor of a bench_scale run:

    python scripts/bench_scale.py --workers 32 --no-tune --trials 40000 --repeats 1 &
    python scripts/thread_cpu.py "$(pgrep -f 'ray::ProbedScheduler' | head -1)" --every 3 --times 20

Each line: the whole process's CPU over the interval (% of one core), then its busiest threads (thread id, name,
% of one core).
"""

from __future__ import annotations

import argparse
import os
import sys
import time


def snapshot(pid: int) -> dict[int, tuple[str, int]]:
    """thread id -> (name, CPU ticks used so far)."""
    out = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/stat") as f:
                s = f.read()
        except OSError:
            continue  # the thread ended meanwhile
        fields = s[s.rindex(")") + 2:].split()
        out[int(tid)] = (s[s.index("(") + 1:s.rindex(")")], int(fields[11]) + int(fields[12]))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("pid", type=int)
    ap.add_argument("--every", type=float, default=3.0, help="seconds between two lines (default 3)")
    ap.add_argument("--times", type=int, default=20, help="how many lines (default 20)")
    ap.add_argument("--top", type=int, default=4, help="threads a line names (default 4)")
    args = ap.parse_args()
    hz = os.sysconf("SC_CLK_TCK")
    try:
        before = snapshot(args.pid)
    except FileNotFoundError:
        sys.exit(f"error: no process {args.pid}; give the pid of a running process")
    for _ in range(args.times):
        time.sleep(args.every)
        try:
            after = snapshot(args.pid)
        except FileNotFoundError:
            print("(the process ended)")
            return
        used = sorted(((ticks - before.get(tid, ("", 0))[1], tid, name) for tid, (name, ticks) in after.items()),
                      reverse=True)
        total = sum(u for u, _, _ in used) / hz / args.every * 100
        busiest = " ".join(f"{tid}:{name}={u / hz / args.every * 100:.0f}%" for u, tid, name in used[:args.top] if u)
        print(f"{total:4.0f}% | {busiest}", flush=True)
        before = after


if __name__ == "__main__":
    main()
