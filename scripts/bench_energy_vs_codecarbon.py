"""raybench's energy figures against CodeCarbon's, for the same experiment on the same machine.

    .venv/bin/python scripts/bench_energy_vs_codecarbon.py [--trials 6] [--epoch-s 1.0] [--write]

Runs one `raybench run` (synthetic task whose epochs busy-wait, energy.backend auto) in a subprocess
while CodeCarbon's OfflineEmissionsTracker measures the machine (tracking_mode "machine", one reading a
second). Reports, per domain, each tool's average power over its own window and their ratio, and
each tool's energy. With --write, the table replaces the "### raybench against CodeCarbon" part of
BENCHMARKS.md's "## Energy" section. CodeCarbon is a dev dependency (pip install codecarbon).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import re
import subprocess
import sys
import tempfile
import time

import psutil
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HEADING = "### raybench against CodeCarbon"


def experiment(trials: int, epoch_s: float) -> dict:
    return {
        "name": "bench-vs-codecarbon", "seed": 0,
        "task": {"dataset": "synthetic", "epochs": 3, "options": {"epoch_time_s": epoch_s}},
        "search_space": {"x": {"type": "uniform", "low": 0.0, "high": 1.0}},
        "sampler": {"type": "random"},
        "budget": {"max_trials": trials},
        "workers": {"count": 2, "cpus": 1, "memory_mb": 512},
        "energy": {"backend": "auto", "gpu": "auto", "baseline_s": 2.0, "interval_s": 1.0},
    }


def run_raybench(cfg: dict, work: str) -> tuple[dict, list[dict], float]:
    from raybench.events import read_events

    path = os.path.join(work, "exp.yaml")
    with open(path, "w") as f:
        yaml.safe_dump(cfg, f)
    out = os.path.join(work, "run")
    env = {**os.environ, "PYTHONPATH": ROOT + os.pathsep + os.environ.get("PYTHONPATH", "")}
    t0 = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "raybench", "run", path, "--out", out, "--no-progress"], env=env,
                          capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"raybench run failed ({done.returncode}):\n{done.stderr[-3000:]}")
    wall = time.monotonic() - t0
    with open(os.path.join(out, "summary.json")) as f:
        summary = json.load(f)
    return summary, read_events(os.path.join(out, "events.msgpack")).events, wall


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=6)
    ap.add_argument("--epoch-s", type=float, default=1.0)
    ap.add_argument("--write", action="store_true", help="write the result into BENCHMARKS.md")
    args = ap.parse_args()
    try:
        from codecarbon import OfflineEmissionsTracker
    except ImportError:
        sys.exit("needs CodeCarbon: pip install codecarbon (it is in the dev extra)")
    logging.getLogger("codecarbon").setLevel(logging.ERROR)

    with tempfile.TemporaryDirectory() as work:
        tracker = OfflineEmissionsTracker(country_iso_code="USA", measure_power_secs=1, tracking_mode="machine",
                                          save_to_file=False, log_level="error")
        tracker.start()
        t0 = time.monotonic()
        try:
            summary, events, _ = run_raybench(experiment(args.trials, args.epoch_s), work)
        finally:
            tracker.stop()
        cc_s = time.monotonic() - t0
        cc = tracker.final_emissions_data
    e = summary["energy"]
    rb_s = e["sampled_s"]
    notes = [ev["message"] for ev in events if ev["event"] == "warning" and "estimator:" in ev.get("message", "")]
    rows = []
    for domain, cc_kwh in (("cpu", cc.cpu_energy), ("dram", cc.ram_energy), ("gpu", cc.gpu_energy)):
        cc_j = float(cc_kwh) * 3.6e6
        rb_j = float(e["by_domain_j"][domain])
        cc_w, rb_w = cc_j / cc_s, rb_j / rb_s if rb_s > 0 else 0.0
        ratio = f"{rb_w / cc_w:.2f}" if cc_w > 0 else "-"
        rows.append(f"| {domain} | {e['provenance'][domain]} | {rb_w:.2f} | {cc_w:.2f} | {ratio} | {rb_j:.1f} | {cc_j:.1f} |")
    machine = (f"{psutil.cpu_count()} logical CPUs ({platform.processor() or platform.machine()}), "
               f"{psutil.virtual_memory().total / 2**30:.0f} GiB, load average {os.getloadavg()[0]:.1f} at the end, "
               f"Python {platform.python_version()}, CodeCarbon {getattr(sys.modules.get('codecarbon'), '__version__', '?')} "
               f"(its CPU: {cc.cpu_model}, tracking {cc.tracking_mode})")
    table = "\n".join([
        f"Command: `.venv/bin/python scripts/bench_energy_vs_codecarbon.py --trials {args.trials} "
        f"--epoch-s {args.epoch_s} --write`.",
        "",
        f"Machine: {machine}. raybench sampled {rb_s:.1f} s of node time; CodeCarbon tracked {cc_s:.1f} s "
        "(the whole subprocess, Ray's start included), so powers, not joules, are compared.",
        "",
        "| domain | raybench provenance | raybench W | CodeCarbon W | ratio (raybench / CodeCarbon) | raybench J | CodeCarbon J |",
        "|---|---|---|---|---|---|---|",
        *rows,
        "",
        "raybench's estimator said: " + ("; ".join(notes) if notes else "(nothing: counters were read)"),
    ])
    print(table)
    if args.write:
        write(table)


def write(table: str) -> None:
    path = os.path.join(ROOT, "BENCHMARKS.md")
    with open(path) as f:
        text = f.read()
    energy = text.index("## Energy")
    nxt = text.find("\n## ", energy + 1)
    nxt = len(text) if nxt < 0 else nxt + 1
    section = text[energy:nxt]
    block = f"{HEADING}\n\n{table}\n\n"
    if HEADING in section:
        start = section.index(HEADING)
        end = section.find("\n### ", start + 1)
        end = len(section) if end < 0 else end + 1
        # keep the hand-written explanation that follows the generated table
        tail = section[start:end]
        expl = re.search(r"\n(Why they differ:.*)", tail, re.S)
        section = section[:start] + block + (expl.group(1).rstrip() + "\n\n" if expl else "") + section[end:]
    else:
        section = section.rstrip("\n") + "\n\n" + block
    with open(path, "w") as f:
        f.write(text[:energy] + section + text[nxt:])


if __name__ == "__main__":
    main()
