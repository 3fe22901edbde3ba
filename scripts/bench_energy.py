"""How much CPU the energy monitor costs the node it measures.

    .venv/bin/python scripts/bench_energy.py [--quick] [--seconds S]

Runs NodeMonitor.sample() at 1 Hz and at 10 Hz, the way the per-node energy actor does, and reports
this process's CPU time over wall time as a percentage of one core (the target is <= 1% at 1 Hz).
Two set-ups, each tracking 4 processes: the machine's default backend (energy.backend: auto), and
the powercap backend on a fake sysfs tree (the code path of a machine with RAPL).
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import tempfile
import time

import psutil

from raybench.energy import NodeMonitor, open_cpu_backend, open_gpu_backend
from raybench.energy.backends import FakePowercap, NullGpus, PowercapBackend


def measure(monitor: NodeMonitor, rate_hz: float, seconds: float) -> dict[str, float]:
    period = 1.0 / rate_hz
    n, sample_cpu = 0, 0.0
    wall0, cpu0 = time.perf_counter(), time.process_time()
    next_t = wall0
    while (now := time.perf_counter()) - wall0 < seconds:
        if now < next_t:
            time.sleep(next_t - now)
        t = time.thread_time()
        monitor.sample()
        sample_cpu += time.thread_time() - t
        n += 1
        next_t += period
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    return {"samples": n, "cpu_pct": 100.0 * cpu / wall, "ms_per_sample": 1000.0 * sample_cpu / max(n, 1)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="3 s per measurement instead of 10 s")
    ap.add_argument("--seconds", type=float, default=None, help="seconds per measurement")
    args = ap.parse_args()
    seconds = args.seconds or (3.0 if args.quick else 10.0)

    sleepers = [subprocess.Popen(["sleep", "600"]) for _ in range(4)]
    root = tempfile.mkdtemp(prefix="raybench-bench-powercap-")
    rows = []
    try:
        FakePowercap.intel(root, sockets=2, dram=True)
        setups = [
            ("default (auto)", NodeMonitor(open_cpu_backend("auto"), open_gpu_backend("auto"), node_id="bench")),
            ("powercap, fake tree", NodeMonitor(PowercapBackend(root), NullGpus(), node_id="bench")),
        ]
        for label, mon in setups:
            for i, p in enumerate(sleepers):
                mon.track(i, p.pid, {"cpus": 1, "memory_mb": 1024})
            for rate in (1.0, 10.0):
                r = measure(mon, rate, seconds)
                rows.append((label, f"{mon.cpu.name} + gpu {mon.gpu.name}", rate, r))
            mon.close()
    finally:
        for p in sleepers:
            p.kill()
            p.wait()
        shutil.rmtree(root)

    cpu_model = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")),
                     platform.processor()) if os.path.exists("/proc/cpuinfo") else platform.processor()
    print(f"machine: {cpu_model}, {psutil.cpu_count()} logical CPUs, {len(psutil.pids())} processes, "
          f"Python {platform.python_version()}, {seconds:g} s per row, 4 tracked processes")
    print("| setup | backend | rate | samples | monitor CPU (% of one core) | CPU ms per sample |")
    print("|---|---|---|---|---|---|")
    for label, backend, rate, r in rows:
        print(f"| {label} | {backend} | {rate:g} Hz | {r['samples']} | {r['cpu_pct']:.3f} | {r['ms_per_sample']:.3f} |")


if __name__ == "__main__":
    main()
