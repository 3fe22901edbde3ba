"""How long a learning-curve decision takes, and what the rule stops, on 27-epoch synthetic curves.

The synthetic objective (raybench/search/synthetic.py) over an 81-point grid (two parameters of 9 values),
27 epochs per trial, noise sd 0.01, trials run one after another in grid order (one worker). Every report goes
through LearningCurvePruner(max_t=27); the median pruner (defaults, min_peers 1) is timed on the same stream as
the reference. A second pass times the fit of full 27-point curves (max_t=81, reports at epoch 27).

    .venv/bin/python scripts/bench_learning_curve.py [--quick]

Prints the median ms per decision, and for the rule's stops: epochs run against the grid's, the best final
value reached against the grid's best, and the stops whose trial would have ended above the best final value
of the trials that ran to the end (wrong stops, judged on the noisy epoch-27 value).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from raybench.search import space as sp  # noqa: E402
from raybench.search.pruners import LearningCurvePruner, MedianPruner, Pruner  # noqa: E402
from raybench.search.synthetic import SyntheticObjective  # noqa: E402

EPOCHS = 27


def _curves(n_side: int, seed: int) -> list[list[float]]:
    space = {"lr": sp.LogUniform(1e-4, 1e-1), "width": sp.Uniform(0.0, 1.0)}
    objective = SyntheticObjective(space, seed=seed)
    lrs = [1e-4 * (1e3 ** (i / (n_side - 1))) for i in range(n_side)]
    widths = [i / (n_side - 1) for i in range(n_side)]
    configs = [{"lr": lr, "width": w} for lr in lrs for w in widths]
    return [[objective.curve(c, e, trial=t) for e in range(1, EPOCHS + 1)] for t, c in enumerate(configs)]


def play(pruner: Pruner, curves: list[list[float]]) -> tuple[list[float], list[float], list[int]]:
    """Seconds per decision, seconds per decision that fitted curves, and the epochs each trial ran."""
    times, fitted, ran = [], [], []
    for trial, curve in enumerate(curves):
        for epoch, value in enumerate(curve, start=1):
            start = time.perf_counter()
            decision = pruner.report(trial, epoch, value)
            times.append(time.perf_counter() - start)
            if decision.reason.probability is not None:
                fitted.append(times[-1])
            if decision.stop and epoch < EPOCHS:
                break
        else:
            pruner.complete(trial)
        ran.append(epoch)
    return times, fitted, ran


def full_curve_fits(curves: list[list[float]]) -> list[float]:
    """Seconds per decision judging a whole 27-point curve (predicting epoch 81)."""
    pruner = LearningCurvePruner(max_t=81)
    out = []
    for trial, curve in enumerate(curves):
        for epoch, value in enumerate(curve[:-1], start=1):
            pruner.report(trial, epoch, value)
        start = time.perf_counter()
        pruner.report(trial, EPOCHS, curve[-1])
        out.append(time.perf_counter() - start)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a 5x5 grid instead of 9x9")
    args = parser.parse_args()
    curves = _curves(5 if args.quick else 9, seed=0)
    play(LearningCurvePruner(max_t=EPOCHS), curves[:3])  # warm-up: imports, caches
    lc_times, fitted, ran = play(LearningCurvePruner(max_t=EPOCHS), curves)
    ref_times, _, _ = play(MedianPruner(min_peers=1), curves)
    full = full_curve_fits(curves)
    ms = 1e3
    print(f"curves: {len(curves)} trials x {EPOCHS} epochs")
    print(f"learning_curve, decisions that fitted curves: median {statistics.median(fitted) * ms:.3f} ms, "
          f"p90 {statistics.quantiles(fitted, n=10)[-1] * ms:.3f} ms over {len(fitted)} "
          f"(all {len(lc_times)} decisions: median {statistics.median(lc_times) * ms:.3f} ms)")
    lc27 = statistics.median(full)
    print(f"learning_curve, a 27-point curve: median {lc27 * ms:.3f} ms, p90 "
          f"{statistics.quantiles(full, n=10)[-1] * ms:.3f} ms over {len(full)}")
    ref = statistics.median(ref_times)
    print(f"median pruner (reference), all decisions: median {ref * ms:.4f} ms; 27-point learning_curve / median: "
          f"{lc27 / ref:.0f}x")
    finals = [c[-1] for c in curves]
    completed = [i for i, e in enumerate(ran) if e == EPOCHS]
    best_run = max(finals[i] for i in completed)
    wrong = [i for i, e in enumerate(ran) if e < EPOCHS and finals[i] > best_run]
    print(f"epochs run: {sum(ran)} of {len(curves) * EPOCHS} ({sum(ran) / (len(curves) * EPOCHS):.1%}); "
          f"stops: {len(curves) - len(completed)}")
    print(f"best final: {best_run:.4f} (grid best {max(finals):.4f}); wrong stops: {len(wrong)}")


if __name__ == "__main__":
    main()
