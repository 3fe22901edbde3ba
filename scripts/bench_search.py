"""How fast is the search core? TPE suggest latency against Optuna's, and pruner decision throughput.

For each history size, the samplers first learn the same random trials on a mixed 4-parameter
space (log-uniform lr, int layers, choice size, uniform dropout); then each new trial is
timed from suggest to observe (Optuna: ask, four suggest_* calls, tell), so all include their
bookkeeping. Ours runs multivariate and independent; Optuna runs with its defaults (Optuna 5:
multivariate TPE, constant liar) and the same seed. Speedups are against Optuna in the same run.

    .venv/bin/python scripts/bench_search.py           # 100, 1,000 and 5,000 observed trials
    .venv/bin/python scripts/bench_search.py --quick   # 100 and 1,000, fewer repeats
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
from pathlib import Path

import numpy as np

from raybench.search import space as sp
from raybench.search.samplers import TPESampler

SPACE = {"lr": sp.LogUniform(1e-5, 1e-1), "layers": sp.IntRange(1, 8),
         "size": sp.Choice((32, 64, 128, 256, 512)), "dropout": sp.Uniform(0.0, 0.5)}


def objective(c: dict) -> float:
    """A made-up validation accuracy to maximise; any value would do for timing."""
    return (0.95 - 0.02 * (math.log10(c["lr"]) + 3) ** 2 - 0.01 * abs(c["layers"] - 3)
            - 0.01 * abs(math.log2(c["size"]) - 7) - 0.1 * (c["dropout"] - 0.2) ** 2)


def history(n: int) -> list[tuple[dict, float]]:
    rng = np.random.default_rng(12345)
    return [(c, objective(c)) for c in (sp.sample_config(SPACE, rng) for _ in range(n))]


def time_ours(past: list[tuple[dict, float]], n_suggest: int, *, multivariate: bool) -> list[float]:
    sampler = TPESampler(SPACE, seed=0, mode="max", multivariate=multivariate)
    for trial_id, (config, value) in enumerate(past):
        sampler.replay(trial_id, config, value)
    seconds = []
    for trial_id in range(len(past), len(past) + n_suggest):
        t0 = time.perf_counter()
        config = sampler.suggest(trial_id)
        sampler.observe(trial_id, objective(config))
        seconds.append(time.perf_counter() - t0)
    return seconds


def time_optuna(past: list[tuple[dict, float]], n_suggest: int) -> list[float]:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    dists = {"lr": optuna.distributions.FloatDistribution(1e-5, 1e-1, log=True),
             "layers": optuna.distributions.IntDistribution(1, 8),
             "size": optuna.distributions.CategoricalDistribution([32, 64, 128, 256, 512]),
             "dropout": optuna.distributions.FloatDistribution(0.0, 0.5)}
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=0))
    study.add_trials([optuna.trial.create_trial(params=c, distributions=dists, value=v) for c, v in past])
    seconds = []
    for _ in range(n_suggest):
        t0 = time.perf_counter()
        trial = study.ask()
        config = {"lr": trial.suggest_float("lr", 1e-5, 1e-1, log=True),
                  "layers": trial.suggest_int("layers", 1, 8),
                  "size": trial.suggest_categorical("size", [32, 64, 128, 256, 512]),
                  "dropout": trial.suggest_float("dropout", 0.0, 0.5)}
        study.tell(trial, objective(config))
        seconds.append(time.perf_counter() - t0)
    return seconds


def bench_tpe(quick: bool, with_optuna: bool) -> None:
    sizes = (100, 1000) if quick else (100, 1000, 5000)
    print("TPE suggest latency, 4-parameter mixed space (median ms per trial, suggest to observe)")
    print(f"{'observed':>9} {'multivariate_ms':>16} {'independent_ms':>15} {'optuna_ms':>10} {'speedup mv':>11} "
          f"{'speedup ind':>12} {'n_ours':>7} {'n_optuna':>9}")
    for n in sizes:
        past = history(n)
        n_ours = 20 if quick else 100
        n_optuna = 3 if n >= 5000 else (5 if quick else 20)
        # Interleaved in rounds, so that a change in machine load hits all three alike.
        mv, ind, theirs = [], [], []
        for _ in range(n_optuna if with_optuna else 1):
            mv += time_ours(past, max(1, n_ours // max(n_optuna, 1)), multivariate=True)
            ind += time_ours(past, max(1, n_ours // max(n_optuna, 1)), multivariate=False)
            if with_optuna:
                theirs += time_optuna(past, 1)
        mv_ms, ind_ms = statistics.median(mv) * 1e3, statistics.median(ind) * 1e3
        theirs_ms = statistics.median(theirs) * 1e3 if theirs else math.nan
        print(f"{n:>9,} {mv_ms:>16.2f} {ind_ms:>15.2f} {theirs_ms:>10.2f} {theirs_ms / mv_ms:>10.1f}x "
              f"{theirs_ms / ind_ms:>11.1f}x {len(mv):>7} {len(theirs):>9}", flush=True)


def bench_pruners() -> None:
    scripts = Path(__file__).resolve().parent
    if not (scripts / "_bench_pruners.py").exists():
        print("\npruner decision throughput: scripts/_bench_pruners.py is not there yet; skipped")
        return
    sys.path.insert(0, str(scripts))
    from _bench_pruners import measure_decisions

    print("\npruner decision throughput (decisions/s)")
    for name, per_s in measure_decisions().items():
        print(f"{name:>12} {per_s:>14,.0f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="100 and 1,000 observed trials, fewer repeats")
    parser.add_argument("--no-optuna", action="store_true", help="time raybench alone")
    args = parser.parse_args()
    bench_tpe(args.quick, not args.no_optuna)
    bench_pruners()


if __name__ == "__main__":
    main()
