"""How many pruning decisions per second the pruners make, on streams shaped like a real experiment.

A pool of workers runs trials of 10 epochs side by side; each report comes from a worker picked at random,
so the trials interleave. A stopped trial frees its worker for a new trial, as the runtime does. The values
follow learning curves: a per-trial quality times (1 - exp(-epoch / 3)), plus noise.

    .venv/bin/python scripts/_bench_pruners.py
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from raybench.search.pruners import ASHAPruner, MedianPruner, Pruner  # noqa: E402

EPOCHS = 10
WORKERS = 8


def _curves(n_trials: int, seed: int) -> list[list[float]]:
    rng = np.random.default_rng(seed)
    quality = rng.uniform(0.5, 1.0, size=(n_trials, 1))
    epochs = np.arange(1, EPOCHS + 1)
    noise = rng.normal(0.0, 0.01, size=(n_trials, EPOCHS))
    return (quality * (1 - np.exp(-epochs / 3)) + noise).tolist()


def _stream(pruner: Pruner, n: int, *, seed: int = 0, step_s: float = 1.0) -> tuple[float, int]:
    """Seconds spent making n decisions, and the number of trials they came from.

    step_s: the progress of one epoch in the pruner's unit (1 for "epoch"; seconds per epoch otherwise).
    """
    curves = _curves(min(n, 20_000), seed)
    picks = np.random.default_rng(seed + 1).integers(0, WORKERS, size=n).tolist()
    running: list = [None] * WORKERS  # per worker: [trial_id, epochs done]
    next_trial = 0
    start = time.perf_counter()
    for w in picks:
        slot = running[w]
        if slot is None:
            slot = running[w] = [next_trial, 0]
            next_trial += 1
        trial, done = slot[0], slot[1] + 1
        slot[1] = done
        decision = pruner.report(trial, done * step_s, curves[trial % len(curves)][done - 1])
        if decision.stop:
            running[w] = None
        elif done == EPOCHS:
            pruner.complete(trial)
            running[w] = None
    return time.perf_counter() - start, next_trial


def measure_decisions(n: int = 200_000) -> dict[str, float]:
    """Decisions per second of ASHA (grace 1, eta 3, max_t 10) and median (defaults), unit "epoch"."""
    out = {}
    for name, pruner in (("asha", ASHAPruner(grace_period=1, reduction_factor=3, max_t=EPOCHS)),
                         ("median", MedianPruner())):
        seconds, _ = _stream(pruner, n)
        out[name] = n / seconds
    return out


def measure_continuous(n: int = 1_000) -> tuple[float, int]:
    """Decisions per second of median with unit "time_s" over n decisions, and the trials they came from.

    Continuous units cost one bisect per peer per report (see _percentile.py), so the rate falls as 1/trials.
    """
    seconds, trials = _stream(MedianPruner(unit="time_s", warmup=0), n, step_s=1.7)
    return n / seconds, trials


if __name__ == "__main__":
    for name, rate in measure_decisions().items():
        print(f"{name:>8}: {rate:,.0f} decisions/s (unit epoch, 200,000 decisions)")
    for n in (1_000, 5_000):
        rate, trials = measure_continuous(n)
        print(f"median, unit time_s, {n:,} decisions from {trials} trials: {rate:,.0f} decisions/s")
