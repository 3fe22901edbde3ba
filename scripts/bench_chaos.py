"""The chaos benchmark: seeded random faults on a 3-node cluster, then a SIGKILLed driver and a resume.

    .venv/bin/python scripts/bench_chaos.py [--seeds 20] [--first-seed 1] [--trials 10] [--json OUT]

Each seed is one run of tests/reliability/chaos.py: kill -9 of two trial actors, an energy actor and the
scheduler actor, removal of a worker node (in a seeded order, at seeded moments), then SIGKILL of the driver
alone and `raybench run --resume` at once. Prints one row per seed and the totals that docs/reliability.md
quotes: faults injected, faults survived, trials lost (target 0), epochs re-run.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), os.pardir, "tests", "reliability"))

import chaos  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=20)
    ap.add_argument("--first-seed", type=int, default=1)
    ap.add_argument("--trials", type=int, default=10)
    ap.add_argument("--json", default=None, help="also write the rows here")
    args = ap.parse_args()

    rows = []
    t0 = time.time()
    chaos.start_cluster()
    try:
        with tempfile.TemporaryDirectory(prefix="raybench-chaos-") as work:
            for seed in range(args.first_seed, args.first_seed + args.seeds):
                res = chaos.chaos_run(seed, work, trials=args.trials)
                rows.append(res.row())
                print(json.dumps(res.row()), flush=True)
    finally:
        chaos.stop_cluster()
    injected = sum(r["faults"] for r in rows)
    survived = sum(r["survived"] for r in rows)
    print(f"\nmachine: {platform.node()} ({os.cpu_count()} CPUs), {len(rows)} seeds in {time.time() - t0:.0f} s")
    print(f"faults injected {injected}, survived {survived}, trials {sum(r['trials'] for r in rows)}, "
          f"trials lost {sum(r['lost'] for r in rows)}, epochs re-run {sum(r['epochs_rerun'] for r in rows)}, "
          f"seeds with a problem {sum(bool(r['problems']) for r in rows)}")
    walls = sorted(r["wall_s"] for r in rows)
    if walls:
        print(f"seconds per seed: median {walls[len(walls) // 2]:.0f}, max {walls[-1]:.0f}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
