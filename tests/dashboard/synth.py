"""A synthetic run in the shapes the runtime writes (copied from a real `raybench run configs/quick.yaml`
log and docs/events.md): ASHA-style stops with their reasons, two worker slots on one node, an energy
sample every second, a test result and the end. Deterministic for a seed; no Ray.
"""

from __future__ import annotations

import bisect
import math
import random
import threading
import time
from pathlib import Path
from typing import Any, Optional

from raybench.events import EventLog, make_event

NODE = "0538d6deba9c1249bf7bf1e818b0472a7042bafeaf9534941c7638eb"
IDLE_W = {"cpu": 6.8, "dram": 8.8}
BUSY_W = 9.0  # per busy worker slot
PROV = {"cpu": "estimated", "dram": "estimated", "gpu": "none"}


def config(name: str, pruner: str) -> dict[str, Any]:
    return {
        "name": name, "seed": 0,
        "task": {"dataset": "mnist-5k", "model": "ff", "optimizer": "adam", "epochs": 3, "batch_size": 64},
        "metric": {"name": "val_accuracy", "mode": "max"},
        "search_space": {"lr": {"type": "loguniform", "low": 1e-4, "high": 1e-1},
                         "layer_size": {"type": "choice", "values": [32, 64, 128]},
                         "optimizer": {"type": "choice", "values": ["adam", "sgd"]}},
        "sampler": {"type": "random"},
        "pruner": {"type": pruner, "progress": "epoch", "grace_period": 1.0, "reduction_factor": 2.0, "max_t": 3.0},
        "workers": {"count": 2, "cpus": 1.0, "memory_mb": 1536},
    }


def synthetic_events(n_trials: int, *, seed: int = 0, name: str = "synthetic", pruner: str = "asha",
                     epochs: int = 3, epoch_s: float = 2.0, t0: float = 1_796_234_722.0,
                     ended: bool = True) -> list[dict[str, Any]]:
    """Events of an n-trial run in log order."""
    rng = random.Random(seed)
    out: list[dict[str, Any]] = []

    def emit(kind: str, t: float, **fields: Any) -> None:
        out.append(make_event(kind, t=t, **fields))

    emit("experiment_start", t0, run_id=f"{seed:08x}", name=name, config=config(name, pruner),
         env={"python": "3.11.7", "platform": "Linux", "host": "vm", "raybench": "0.1.0", "ray": "2.60.0",
              "torch": "2.14.1", "numpy": "2.1.0", "git": None},
         requested_concurrency=2, effective_concurrency=2, resumed=False)
    emit("node_joined", t0 + 1.2, node_id=NODE, host="vm",
         resources={"cpus": 2.0, "memory_mb": 16384.0, "gpus": 0.0, "tpus": 0.0})
    emit("node_baseline", t0 + 2.2, node_id=NODE, duration_s=1.0, power_w={**IDLE_W, "gpu": 0.0}, provenance=PROV)
    slots = [t0 + 3.0, t0 + 3.1]
    rungs: dict[int, list[float]] = {}
    busy: list[tuple[float, float, int]] = []
    for tid in range(n_trials):
        cfg = {"lr": round(10 ** rng.uniform(-4, -1), 6), "layer_size": rng.choice([32, 64, 128]),
               "optimizer": rng.choice(["adam", "sgd"])}
        quality = 0.93 - 0.08 * abs(math.log10(cfg["lr"]) + 2.2) - (0.03 if cfg["optimizer"] == "sgd" else 0.0)
        worker = min(range(len(slots)), key=lambda w: slots[w])
        t = slots[worker]
        emit("trial_created", t, trial_id=tid, config=cfg)
        emit("trial_started", t + 0.0002, trial_id=tid, attempt=1, node_id=NODE, worker=worker, pid=8600 + tid,
             resources={"cpus": 1.0, "memory_mb": 1536, "gpus": 0, "tpus": 0}, from_step=0)
        start, status, acc, best = t, "completed", 0.0, 0.0
        step = 0
        for step in range(1, epochs + 1):
            t += epoch_s * rng.uniform(0.8, 1.2)
            acc = max(0.1, quality * (1 - math.exp(-1.5 * step)) + rng.gauss(0, 0.01))
            best = max(best, acc)
            emit("report", t, trial_id=tid, step=step,
                 metrics={"train_loss": 1.2 - acc, "train_accuracy": acc - 0.02, "val_loss": 1.0 - acc, "val_accuracy": acc},
                 elapsed_s=t - start, energy_j=(t - start) * (BUSY_W + 5.0), progress=float(step))
            peers = rungs.setdefault(step, [])  # kept sorted
            cutoff = peers[len(peers) // 2] if peers else None
            stop = step < epochs and cutoff is not None and acc < cutoff
            detail = (f"stopped at rung {step} (epoch {step}): {acc:.6g} < cutoff {cutoff:.6g} from {len(peers)} peers"
                      if stop else f"continued at rung {step} (epoch {step})")
            emit("decision", t + 0.0003, trial_id=tid, step=step, action="stop" if stop else "continue",
                 reason={"rule": pruner, "progress": float(step), "unit": "epoch", "value": acc, "cutoff": cutoff,
                         "n_peers": len(peers), "rung": float(step) if step < epochs else None, "detail": detail})
            bisect.insort(peers, acc)
            if stop:
                status = "pruned"
                break
        t += 0.01
        emit("trial_completed", t, trial_id=tid, status=status, steps=step, final_metric=acc, best_metric=best,
             duration_s=t - start, peak_rss_mb=1000.0 + tid)
        busy.append((start, t, tid))
        slots[worker] = t + 0.05
    end = max(slots)
    busy.sort()
    k, first = 0, 0
    while t0 + 2.2 + k < end:
        a, b = t0 + 2.2 + k, t0 + 3.2 + k
        while first < len(busy) and busy[first][1] < a - 3 * epochs * epoch_s:
            first += 1  # spans that ended long ago; no trial runs longer than 1.2 * epochs * epoch_s
        near = busy[first:bisect.bisect_right(busy, (b, math.inf, 0))]
        cpu = {tid: round(0.95 * (min(b, e) - max(a, s)), 6) for s, e, tid in near if min(b, e) > max(a, s)}
        n_busy = sum(cpu.values())
        emit("energy_sample", b + 0.004, node_id=NODE, t0=a, t1=b,
             energy_j={"cpu": IDLE_W["cpu"] + BUSY_W * n_busy, "dram": IDLE_W["dram"] + 0.4 * n_busy, "gpu": 0.0},
             provenance=PROV, node_cpu_s=0.1 + n_busy, trial_cpu_s=cpu, trial_gpu_j={},
             reserved={tid: {"cpus": 1.0, "memory_mb": 1536, "gpus": 0} for tid in cpu},
             node_resources={"cpus": 2.0, "memory_mb": 16384.0, "gpus": 0.0})
        k += 1
    if ended:
        emit("test_result", end + 0.05, trial_id=0, metrics={"test_loss": 0.25, "test_accuracy": 0.94})
        emit("experiment_end", end + 0.1, status="completed", reason="")
    return sorted(out, key=lambda e: e["t"])


def write_events(run_dir: Path, events: list[dict[str, Any]]) -> Path:
    run_dir.mkdir(parents=True, exist_ok=True)
    log = EventLog.open(run_dir / "events.msgpack")
    try:
        for e in events:
            log.append(e, sync=False)
    finally:
        log.close()
    return run_dir


class LiveWriter(threading.Thread):
    """Appends events to a run's log through the real EventLog writer, `delay_s` apart, after waiting for
    `go` (when given). The log stays open (and locked) while it writes, as a live run's does."""

    def __init__(self, run_dir: Path, first: list[dict[str, Any]], rest: list[dict[str, Any]], *,
                 delay_s: float = 0.02, go: Optional[threading.Event] = None) -> None:
        super().__init__(daemon=True)
        run_dir.mkdir(parents=True, exist_ok=True)
        self.log = EventLog.open(run_dir / "events.msgpack")
        for e in first:
            self.log.append(e, sync=False)
        self.rest, self.delay_s, self.go = rest, delay_s, go
        self.done = threading.Event()

    def run(self) -> None:
        try:
            if self.go is not None:
                self.go.wait(30)
            for e in self.rest:
                self.log.append(e, sync=False)
                time.sleep(self.delay_s)
        finally:
            self.log.close()
            self.done.set()
