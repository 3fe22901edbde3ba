"""A fake RAPL device at the sysfs level: a process that keeps a powercap tree's counters moving.

    python -m raybench.testing.fake_rapl ROOT [--package-w 25] [--dram-w 5] [--range-uj N] [--period-s 0.005]

It writes an Intel-style tree under ROOT (package-0 with core, uncore and dram subzones) with the real
layout, and from then on sets every `energy_uj` to watts x seconds since it started, wrapping at
`max_energy_range_uj` as the hardware does. Point `energy.powercap_root` at ROOT and the real powercap
backend reads it like /sys/class/powercap. It writes ROOT/ready once the tree exists, and stops on
SIGTERM or SIGINT. Counters are rewritten atomically, so a reader never sees a torn value.

Unlike a hardware counter, this one is only as fresh as its writer's last round: a writer that is
descheduled or blocked in the filesystem leaves a stale value. It keeps the longest gap between two of its
rounds in ROOT/max_gap_s (seconds, rewritten when it grows), so a test can tell how far its reads could
have been off. Put ROOT on a tmpfs (/dev/shm) where there is one: on a disk filesystem, replacing a file
can wait for writeback under load.
"""

from __future__ import annotations

import argparse
import os
import signal
import time
from collections.abc import Sequence
from typing import Optional

from raybench.energy.backends._fake import FakePowercap

ENTRIES = {"package": ("intel-rapl:0", "intel-rapl:0:0"), "dram": ("intel-rapl:0:2",)}


def build(root: str, *, range_uj: int) -> FakePowercap:
    tree = FakePowercap.intel(root, dram=True, max_energy_range_uj=range_uj)
    tree.open_up()
    return tree


def drive(tree: FakePowercap, *, package_w: float, dram_w: float, period_s: float, stop) -> None:
    """Advance the counters until stop() is true: package and core at package_w (core is inside the package
    and never counted), dram at dram_w."""
    t0 = last = time.monotonic()
    max_gap = 0.0
    gap_file = os.path.join(tree.root, "max_gap_s")
    while not stop():
        now = time.monotonic()
        dt = now - t0
        tree.set_energy("intel-rapl:0", int(package_w * dt * 1e6))
        tree.set_energy("intel-rapl:0:0", int(0.6 * package_w * dt * 1e6))
        tree.set_energy("intel-rapl:0:2", int(dram_w * dt * 1e6))
        # A reader can see a value as old as the gap to the next round plus that round's writes.
        gap = time.monotonic() - last
        last = now
        if gap > max_gap:
            max_gap = gap
            FakePowercap._write(gap_file, f"{max_gap:.6f}")
        time.sleep(period_s)


def main(argv: Optional[Sequence[str]] = None) -> int:
    p = argparse.ArgumentParser(prog="python -m raybench.testing.fake_rapl", description=__doc__.splitlines()[0])
    p.add_argument("root")
    p.add_argument("--package-w", type=float, default=25.0)
    p.add_argument("--dram-w", type=float, default=5.0)
    p.add_argument("--range-uj", type=int, default=262_143_328_850)
    p.add_argument("--period-s", type=float, default=0.005)
    args = p.parse_args(argv)
    if args.package_w < 0 or args.dram_w < 0 or args.range_uj <= 0 or args.period_s <= 0:
        p.error("watts must be >= 0, --range-uj and --period-s > 0")
    tree = build(args.root, range_uj=args.range_uj)
    stopping = []
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stopping.append(True))
    with open(os.path.join(args.root, "ready"), "w") as f:
        f.write(str(os.getpid()))
    drive(tree, package_w=args.package_w, dram_w=args.dram_w, period_s=args.period_s, stop=lambda: bool(stopping))
    return 0
