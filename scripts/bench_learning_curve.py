"""How long a learning-curve decision takes, and what the rule stops, on 27-epoch synthetic curves.

The synthetic objective (raybench/search/synthetic.py) over an 81-point grid (two parameters of 9 values),
27 epochs per trial, noise sd 0.01, trials run one after another in grid order (one worker). Every report goes
through LearningCurvePruner(max_t=27); the median pruner (defaults, min_peers 1) is timed on the same stream as
the reference. A second pass times the fit of full 27-point curves (max_t=81, reports at epoch 27).

    .venv/bin/python scripts/bench_learning_curve.py [--quick]

Prints the median ms per decision (wall, and the thread's CPU time), and for each rule on the same stream
(learning_curve, median, stopping ASHA, hyperband): epochs run against the grid's, the best final value of the
trials that ran to the end against the grid's best, and the stops whose trial would have ended above that
value (wrong stops, judged on the noisy epoch-27 value).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from raybench.search import space as sp  # noqa: E402
from raybench.search.pruners import (  # noqa: E402
    ASHAPruner,
    HyperbandPruner,
    LearningCurvePruner,
    MedianPruner,
    Pruner,
)
from raybench.search.synthetic import SyntheticObjective  # noqa: E402

EPOCHS = 27


def _curves(n_side: int, seed: int) -> list[list[float]]:
    space = {"lr": sp.LogUniform(1e-4, 1e-1), "width": sp.Uniform(0.0, 1.0)}
    objective = SyntheticObjective(space, seed=seed)
    lrs = [1e-4 * (1e3 ** (i / (n_side - 1))) for i in range(n_side)]
    widths = [i / (n_side - 1) for i in range(n_side)]
    configs = [{"lr": lr, "width": w} for lr in lrs for w in widths]
    return [[objective.curve(c, e, trial=t) for e in range(1, EPOCHS + 1)] for t, c in enumerate(configs)]


def play(pruner: Pruner, curves: list[list[float]]) -> tuple[list[float], list[float], list[float], list[int]]:
    """Wall seconds per decision, CPU seconds per decision, CPU seconds per decision that fitted curves, and the
    epochs each trial ran."""
    times, cpu, fitted, ran = [], [], [], []
    for trial, curve in enumerate(curves):
        for epoch, value in enumerate(curve, start=1):
            start, start_cpu = time.perf_counter(), time.thread_time()
            decision = pruner.report(trial, epoch, value)
            cpu.append(time.thread_time() - start_cpu)
            times.append(time.perf_counter() - start)
            if decision.reason.probability is not None:
                fitted.append(cpu[-1])
            if decision.stop and epoch < EPOCHS:
                break
        else:
            pruner.complete(trial)
        ran.append(epoch)
    return times, cpu, fitted, ran


def full_curve_fits(curves: list[list[float]], repeats: int) -> tuple[list[float], list[float]]:
    """Wall and CPU seconds per decision judging a whole 27-point curve (predicting epoch 81).

    The CPU time (this thread's) leaves out the time the process waited for a core, which on a shared machine
    is most of the spread of the wall time.
    """
    wall, cpu = [], []
    for r in range(repeats):
        pruner = LearningCurvePruner(max_t=81)
        for trial, curve in enumerate(curves):
            for epoch, value in enumerate(curve[:-1], start=1):
                pruner.report(trial, epoch, value + 1e-9 * r)
            w, c = time.perf_counter(), time.thread_time()
            pruner.report(trial, EPOCHS, curve[-1])
            cpu.append(time.thread_time() - c)
            wall.append(time.perf_counter() - w)
    return wall, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a 5x5 grid instead of 9x9")
    args = parser.parse_args()
    curves = _curves(5 if args.quick else 9, seed=0)
    play(LearningCurvePruner(max_t=EPOCHS), curves[:3])  # warm-up: imports, caches
    lc_times, lc_cpu, fitted, ran = play(LearningCurvePruner(max_t=EPOCHS), curves)
    _, ref_cpu, _, _ = play(MedianPruner(min_peers=1), curves)
    full, full_cpu = full_curve_fits(curves, repeats=1 if args.quick else 3)
    ms = 1e3
    print(f"curves: {len(curves)} trials x {EPOCHS} epochs")
    print(f"learning_curve, decisions that fitted curves: median {statistics.median(fitted) * ms:.3f} ms CPU, "
          f"p90 {statistics.quantiles(fitted, n=10)[-1] * ms:.3f} ms over {len(fitted)} "
          f"(all {len(lc_times)} decisions: median {statistics.median(lc_cpu) * ms:.3f} ms CPU, "
          f"{statistics.median(lc_times) * ms:.3f} ms wall)")
    lc27 = statistics.median(full_cpu)
    print(f"learning_curve, a 27-point curve: median {lc27 * ms:.3f} ms CPU, p90 "
          f"{statistics.quantiles(full_cpu, n=10)[-1] * ms:.3f} ms; median {statistics.median(full) * ms:.3f} ms "
          f"wall; over {len(full)}")
    ref = statistics.median(ref_cpu)
    print(f"median pruner (reference), all decisions: median {ref * ms:.4f} ms CPU; 27-point learning_curve / "
          f"median: {lc27 / ref:.0f}x")
    finals = [c[-1] for c in curves]
    print(f"grid best final {max(finals):.4f}; the same stream through each rule (one worker, grid order):")
    print("| rule | epochs run | stops | best final of completed trials | wrong stops |")
    print("|---|---:|---:|---:|---:|")
    rules = {"learning_curve (max_t 27)": ran,
             "median (min_peers 1)": play(MedianPruner(min_peers=1), curves)[3],
             "asha stopping (grace 1, eta 3)": play(ASHAPruner(max_t=EPOCHS), curves)[3],
             "hyperband (1..27, eta 3)": play(HyperbandPruner(max_resource=EPOCHS), curves)[3]}
    for name, epochs_run in rules.items():
        completed = [i for i, e in enumerate(epochs_run) if e == EPOCHS]
        best_run = max(finals[i] for i in completed)
        wrong = [i for i, e in enumerate(epochs_run) if e < EPOCHS and finals[i] > best_run]
        print(f"| {name} | {sum(epochs_run)} of {len(curves) * EPOCHS} ({sum(epochs_run) / (len(curves) * EPOCHS):.1%}) "
              f"| {len(curves) - len(completed)} | {best_run:.4f} | {len(wrong)} |")


if __name__ == "__main__":
    main()
