"""How fast is the search core? TPE suggest latency against Optuna's, and pruner decision throughput.

For each history size, both samplers first learn the same random trials on a mixed 4-parameter
space (log-uniform lr, int layers, choice size, uniform dropout); then each new trial is
timed from suggest to observe (Optuna: ask, four suggest_* calls, tell), so both include their
bookkeeping. Optuna runs with its defaults and the same seed.

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


def time_ours(past: list[tuple[dict, float]], n_suggest: int) -> list[float]:
    sampler = TPESampler(SPACE, seed=0, mode="max")
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
    print(f"{'observed':>9} {'raybench_ms':>12} {'optuna_ms':>10} {'speedup':>8} {'n_ours':>7} {'n_optuna':>9}")
    for n in sizes:
        past = history(n)
        n_ours = 20 if quick else 100
        n_optuna = 3 if n >= 5000 else (5 if quick else 20)
        ours = statistics.median(time_ours(past, n_ours)) * 1e3
        theirs = statistics.median(time_optuna(past, n_optuna)) * 1e3 if with_optuna else math.nan
        print(f"{n:>9,} {ours:>12.2f} {theirs:>10.2f} {theirs / ours:>7.1f}x {n_ours:>7} "
              f"{n_optuna if with_optuna else 0:>9}", flush=True)


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
