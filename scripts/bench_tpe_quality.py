"""How good is our TPE? Median best value after N trials on three test functions, over seeds.

Compares raybench's TPE with raybench's random search and with Optuna's TPESampler (seeded,
the same n_startup_trials, sequential ask/tell). Every function is minimised.

    .venv/bin/python scripts/bench_tpe_quality.py            # 100 trials, 20 seeds
    .venv/bin/python scripts/bench_tpe_quality.py --quick    # 40 trials, 3 seeds
"""

from __future__ import annotations

import argparse
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from raybench.search import space as sp
from raybench.search.samplers import make_sampler

N_STARTUP = 10


@dataclass(frozen=True)
class Problem:
    name: str
    space: dict[str, sp.Param]
    fn: Callable[..., float]
    optimum: float


def branin(x1: float, x2: float) -> float:
    b, c, t = 5.1 / (4 * math.pi**2), 5 / math.pi, 1 / (8 * math.pi)
    return (x2 - b * x1**2 + c * x1 - 6) ** 2 + 10 * (1 - t) * math.cos(x1) + 10


_H6_ALPHA = np.array([1.0, 1.2, 3.0, 3.2])
_H6_A = np.array([[10, 3, 17, 3.5, 1.7, 8], [0.05, 10, 17, 0.1, 8, 14],
                  [3, 3.5, 1.7, 10, 17, 8], [17, 8, 0.05, 10, 0.1, 14]])
_H6_P = 1e-4 * np.array([[1312, 1696, 5569, 124, 8283, 5886], [2329, 4135, 8307, 3736, 1004, 9991],
                         [2348, 1451, 3522, 2883, 3047, 6650], [4047, 8828, 8732, 5743, 1091, 381]])


def hartmann6(**x: float) -> float:
    v = np.array([x[f"x{i}"] for i in range(6)])
    return float(-np.sum(_H6_ALPHA * np.exp(-np.sum(_H6_A * (v - _H6_P) ** 2, axis=1))))


_ACT_PENALTY = {"relu": 0.0, "gelu": 0.05, "tanh": 0.4, "sigmoid": 1.0}


def mixed(lr: float, layers: int, width: int, act: str, batch: int, dropout: float) -> float:
    """A made-up validation loss: log-scale lr that interacts with depth, categorical width and activation."""
    lr_opt = -2.5 - 0.15 * (layers - 3)  # deeper nets want a smaller learning rate
    return ((math.log10(lr) - lr_opt) ** 2 + 0.08 * (layers - 3) ** 2 + 0.15 * (math.log2(width) - 7) ** 2
            + _ACT_PENALTY[act] + 0.05 * (math.log2(batch) - 6) ** 2 + 3.0 * (dropout - 0.2) ** 2)


PROBLEMS = [
    Problem("branin", {"x1": sp.Uniform(-5.0, 10.0), "x2": sp.Uniform(0.0, 15.0)}, branin, 0.397887),
    Problem("hartmann6", {f"x{i}": sp.Uniform(0.0, 1.0) for i in range(6)}, hartmann6, -3.32237),
    Problem("mixed", {"lr": sp.LogUniform(1e-5, 1.0), "layers": sp.IntRange(1, 8),
                      "width": sp.Choice((16, 32, 64, 128, 256, 512)),
                      "act": sp.Choice(("relu", "gelu", "tanh", "sigmoid")),
                      "batch": sp.IntRange(8, 1024, log=True), "dropout": sp.Uniform(0.0, 0.5)}, mixed, 0.0),
]


# label -> (runner, options); our TPE runs at the config default and at gamma=0.1 (the fraction Optuna uses).
def _samplers(with_optuna: bool) -> dict[str, tuple[str, dict]]:
    rows = {
        "tpe": ("ours", {"type": "tpe", "n_startup_trials": N_STARTUP}),
        "random": ("ours", {"type": "random"}),
        "tpe gamma=0.1": ("ours", {"type": "tpe", "n_startup_trials": N_STARTUP, "gamma": 0.1}),
    }
    if with_optuna:
        rows["optuna-tpe"] = ("optuna", {})  # Optuna 5's default: multivariate TPE
        rows["optuna-tpe indep."] = ("optuna", {"multivariate": False})
    return rows


def run_ours(problem: Problem, spec: dict, seed: int, n_trials: int) -> float:
    s = make_sampler(spec, problem.space, seed=seed, mode="min")
    best = math.inf
    for t in range(n_trials):
        value = problem.fn(**s.suggest(t))
        s.observe(t, value)
        best = min(best, value)
    return best


def run_optuna(problem: Problem, options: dict, seed: int, n_trials: int) -> float:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    sampler = optuna.samplers.TPESampler(seed=seed, n_startup_trials=N_STARTUP, **options)
    study = optuna.create_study(sampler=sampler)
    for _ in range(n_trials):
        trial = study.ask()
        study.tell(trial, problem.fn(**optuna_params(trial, problem.space)))
    return study.best_value


def optuna_params(trial, space: dict[str, sp.Param]) -> dict:
    params = {}
    for name, p in space.items():
        if isinstance(p, sp.Choice):
            params[name] = trial.suggest_categorical(name, list(p.values))
        elif isinstance(p, sp.IntRange):
            params[name] = trial.suggest_int(name, p.low, p.high, log=p.log)
        else:
            params[name] = trial.suggest_float(name, p.low, p.high, log=isinstance(p, sp.LogUniform))
    return params


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="40 trials, 3 seeds")
    parser.add_argument("--trials", type=int, default=100)
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--no-optuna", action="store_true", help="skip Optuna's TPESampler")
    args = parser.parse_args()
    n_trials, n_seeds = (40, 3) if args.quick else (args.trials, args.seeds)
    samplers = _samplers(not args.no_optuna)
    refs = [label for label, (runner, _) in samplers.items() if runner == "optuna"]
    print(f"{n_trials} trials, seeds 0..{n_seeds - 1}, n_startup_trials={N_STARTUP}; "
          "best value found, lower is better")
    print(f"{'function':<10} {'optimum':>8}  {'sampler':<18} {'median':>9} {'q25':>9} {'q75':>9} "
          + "".join(f" {'p vs ' + r:>22}" for r in refs) + f" {'time_s':>7}")
    for problem in PROBLEMS:
        results, seconds = {}, {}
        for label, (runner, options) in samplers.items():
            run = run_ours if runner == "ours" else run_optuna
            t0 = time.perf_counter()
            results[label] = [run(problem, options, seed, n_trials) for seed in range(n_seeds)]
            seconds[label] = time.perf_counter() - t0
        for label, values in results.items():
            q25, q50, q75 = np.percentile(values, [25, 50, 75])
            ps = [math.nan if label in refs else _mann_whitney_p(values, results[r]) for r in refs]
            print(f"{problem.name:<10} {problem.optimum:>8.4f}  {label:<18} {q50:>9.4f} {q25:>9.4f} {q75:>9.4f}"
                  + "".join(f" {p:>22.3f}" for p in ps) + f" {seconds[label]:>7.1f}", flush=True)
    print("p vs X: two-sided Mann-Whitney U test of that row's best values against X's "
          "(small p: a difference beyond seed noise)")


def _mann_whitney_p(a: list[float], b: list[float]) -> float:
    try:
        from scipy.stats import mannwhitneyu
    except ImportError:
        return math.nan
    return float(mannwhitneyu(a, b, alternative="two-sided").pvalue)


if __name__ == "__main__":
    main()
