"""How good is our TPE? Best value after N trials, over seeds, against Optuna's default TPESampler.

Runs raybench's TPE (multivariate and independent) and Optuna 5's default `TPESampler` (seeded, same
n_startup_trials, sequential ask/tell) on Branin, Hartmann-6, BBOB functions from the
`coco-experiment` package (`cocoex`) in 2 to 10 dimensions, and mixed log/int/categorical spaces with
and without noise. Every function is minimised. Per function, a one-sided Mann-Whitney U test of each
of ours against Optuna's: "worse" when p(ours worse) < 0.05, "better" when p(ours better) < 0.05,
else "level"; and the same test of our multivariate against our independent TPE. Runs are spread
over a pool of 2 processes.

    .venv/bin/python scripts/bench_tpe_quality.py            # 100 trials, 10 seeds
    .venv/bin/python scripts/bench_tpe_quality.py --quick    # 40 trials, 3 seeds, fewer functions
"""

from __future__ import annotations

import argparse
import math
import multiprocessing
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from raybench.search import space as sp
from raybench.search.samplers import make_sampler

N_STARTUP = 10
ALPHA = 0.05


@dataclass(frozen=True)
class Problem:
    name: str
    space: dict[str, sp.Param]
    fn: Callable[..., float]  # fn(config, rng): rng draws the noise of noisy problems
    optimum: float = math.nan


def branin(c: dict, rng=None) -> float:
    x1, x2 = c["x1"], c["x2"]
    b, cc, t = 5.1 / (4 * math.pi**2), 5 / math.pi, 1 / (8 * math.pi)
    return (x2 - b * x1**2 + cc * x1 - 6) ** 2 + 10 * (1 - t) * math.cos(x1) + 10


_H6_ALPHA = np.array([1.0, 1.2, 3.0, 3.2])
_H6_A = np.array([[10, 3, 17, 3.5, 1.7, 8], [0.05, 10, 17, 0.1, 8, 14],
                  [3, 3.5, 1.7, 10, 17, 8], [17, 8, 0.05, 10, 0.1, 14]])
_H6_P = 1e-4 * np.array([[1312, 1696, 5569, 124, 8283, 5886], [2329, 4135, 8307, 3736, 1004, 9991],
                         [2348, 1451, 3522, 2883, 3047, 6650], [4047, 8828, 8732, 5743, 1091, 381]])


def hartmann6(c: dict, rng=None) -> float:
    v = np.array([c[f"x{i}"] for i in range(6)])
    return float(-np.sum(_H6_ALPHA * np.exp(-np.sum(_H6_A * (v - _H6_P) ** 2, axis=1))))


_ACT_PENALTY = {"relu": 0.0, "gelu": 0.05, "tanh": 0.4, "sigmoid": 1.0}


def mixed(c: dict, rng=None) -> float:
    """A made-up validation loss: log-scale lr that interacts with depth, categorical width and activation."""
    lr_opt = -2.5 - 0.15 * (c["layers"] - 3)  # deeper nets want a smaller learning rate
    return ((math.log10(c["lr"]) - lr_opt) ** 2 + 0.08 * (c["layers"] - 3) ** 2
            + 0.15 * (math.log2(c["width"]) - 7) ** 2 + _ACT_PENALTY[c["act"]]
            + 0.05 * (math.log2(c["batch"]) - 6) ** 2 + 3.0 * (c["dropout"] - 0.2) ** 2)


_OPT_LR = {"sgd": -1.0, "momentum": -1.7, "adam": -3.0, "adamw": -3.2}
_OPT_BASE = {"sgd": 0.3, "momentum": 0.1, "adam": 0.0, "adamw": -0.05}


def optimizer_space(c: dict, rng=None) -> float:
    """Categorical optimizer whose best lr differs per choice; log weight decay; log int batch; int warmup."""
    return (_OPT_BASE[c["opt"]] + 0.5 * (math.log10(c["lr"]) - _OPT_LR[c["opt"]]) ** 2
            + 0.1 * (math.log10(c["wd"]) + 4.0 + (1.0 if c["opt"] == "adamw" else 0.0)) ** 2
            + 0.03 * (math.log2(c["batch"]) - 7) ** 2 + 0.02 * abs(c["warmup"] - 3)
            + (0.0 if c["norm"] else 0.15))


def noisy(fn: Callable[..., float], sd: float) -> Callable[..., float]:
    def f(c: dict, rng=None) -> float:
        return fn(c) + (float(rng.normal(0.0, sd)) if rng is not None else 0.0)
    return f


MIXED_SPACE = {"lr": sp.LogUniform(1e-5, 1.0), "layers": sp.IntRange(1, 8),
               "width": sp.Choice((16, 32, 64, 128, 256, 512)), "act": sp.Choice(("relu", "gelu", "tanh", "sigmoid")),
               "batch": sp.IntRange(8, 1024, log=True), "dropout": sp.Uniform(0.0, 0.5)}
OPTIMIZER_SPACE = {"opt": sp.Choice(("sgd", "momentum", "adam", "adamw")), "lr": sp.LogUniform(1e-5, 1.0),
                   "wd": sp.LogUniform(1e-6, 1e-1), "batch": sp.IntRange(16, 1024, log=True),
                   "warmup": sp.IntRange(0, 10), "norm": sp.Choice((True, False))}

# BBOB functions (function id, dimension): sphere, attractive sector, step ellipsoid, Rosenbrock,
# ellipsoid, Rastrigin, Gallagher 101 peaks; instance 1 of each.
BBOB = [(1, 2), (1, 5), (1, 10), (6, 5), (7, 5), (8, 5), (10, 10), (15, 2), (21, 5)]
BBOB_QUICK = [(1, 5), (6, 5)]


def bbob_problem(fid: int, dim: int) -> Problem:
    space = {f"x{i}": sp.Uniform(-5.0, 5.0) for i in range(dim)}
    return Problem(f"bbob-f{fid}-d{dim}", space, _BBOB(fid, dim))


class _BBOB:
    """A BBOB function, built lazily in each worker process (cocoex problems do not pickle)."""

    _cache: dict = {}

    def __init__(self, fid: int, dim: int) -> None:
        self.fid, self.dim = fid, dim

    def __call__(self, c: dict, rng=None) -> float:
        key = (self.fid, self.dim)
        if key not in _BBOB._cache:
            import cocoex

            suite = cocoex.Suite("bbob", "", f"function_indices:{self.fid} dimensions:{self.dim} instance_indices:1")
            _BBOB._cache[key] = suite[0]
        return float(_BBOB._cache[key](np.array([c[f"x{i}"] for i in range(self.dim)])))


def problems(quick: bool) -> list[Problem]:
    out = [Problem("branin", {"x1": sp.Uniform(-5.0, 10.0), "x2": sp.Uniform(0.0, 15.0)}, branin, 0.397887),
           Problem("hartmann6", {f"x{i}": sp.Uniform(0.0, 1.0) for i in range(6)}, hartmann6, -3.32237)]
    out += [bbob_problem(f, d) for f, d in (BBOB_QUICK if quick else BBOB)]
    out += [Problem("mixed", MIXED_SPACE, mixed, 0.0), Problem("mixed+noise", MIXED_SPACE, noisy(mixed, 0.1), 0.0),
            Problem("optimizer", OPTIMIZER_SPACE, optimizer_space, -0.05),
            Problem("optimizer+noise", OPTIMIZER_SPACE, noisy(optimizer_space, 0.05), -0.05)]
    return out


# label -> options; "optuna" is Optuna 5's default TPESampler (multivariate, constant liar).
OURS = {"tpe multivariate": {"type": "tpe", "n_startup_trials": N_STARTUP, "multivariate": True},
        "tpe independent": {"type": "tpe", "n_startup_trials": N_STARTUP, "multivariate": False}}
REFERENCE = "optuna"


def noise_rng(problem: Problem, seed: int) -> np.random.Generator:
    """The noise stream of one run: the same for every sampler at a given seed."""
    return np.random.default_rng([zlib.crc32(problem.name.encode()), seed])


def run_ours(problem: Problem, spec: dict, seed: int, n_trials: int) -> float:
    s = make_sampler(spec, problem.space, seed=seed, mode="min")
    rng = noise_rng(problem, seed)
    best = math.inf
    for t in range(n_trials):
        config = s.suggest(t)
        value = problem.fn(config, rng)
        s.observe(t, value)
        best = min(best, problem.fn(config))
    return best


def run_optuna(problem: Problem, seed: int, n_trials: int) -> float:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=seed, n_startup_trials=N_STARTUP))
    rng = noise_rng(problem, seed)
    best = math.inf
    for _ in range(n_trials):
        trial = study.ask()
        config = optuna_params(trial, problem.space)
        study.tell(trial, problem.fn(config, rng))
        best = min(best, problem.fn(config))
    return best


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


def _task(args: tuple) -> tuple[str, str, int, float, float]:
    """One run in a worker: (problem, sampler, seed, best noiseless value, seconds)."""
    problem_index, label, seed, n_trials, quick = args
    problem = problems(quick)[problem_index]
    t0 = time.perf_counter()
    best = run_optuna(problem, seed, n_trials) if label == REFERENCE else run_ours(problem, OURS[label], seed,
                                                                                   n_trials)
    return problem.name, label, seed, best, time.perf_counter() - t0


def verdict(ours: list[float], ref: list[float]) -> tuple[str, float, float]:
    """("worse" | "better" | "level", p ours worse, p ours better): one-sided Mann-Whitney U tests."""
    from scipy.stats import mannwhitneyu

    p_worse = float(mannwhitneyu(ours, ref, alternative="greater").pvalue)
    p_better = float(mannwhitneyu(ours, ref, alternative="less").pvalue)
    return ("worse" if p_worse < ALPHA else "better" if p_better < ALPHA else "level"), p_worse, p_better


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="40 trials, 3 seeds, fewer BBOB functions")
    parser.add_argument("--trials", type=int, default=100)
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--processes", type=int, default=2)
    args = parser.parse_args()
    n_trials, n_seeds = (40, 3) if args.quick else (args.trials, args.seeds)
    probs = problems(args.quick)
    labels = list(OURS) + [REFERENCE]
    tasks = [(i, label, seed, n_trials, args.quick) for i in range(len(probs)) for label in labels
             for seed in range(n_seeds)]
    t0 = time.perf_counter()
    with multiprocessing.Pool(args.processes) as pool:
        results = pool.map(_task, tasks, chunksize=1)
    wall_s = time.perf_counter() - t0
    best: dict[tuple[str, str], list[float]] = {}
    seconds: dict[str, float] = {}
    for name, label, _, value, secs in results:
        best.setdefault((name, label), []).append(value)
        seconds[label] = seconds.get(label, 0.0) + secs
    print(f"{n_trials} trials, seeds 0..{n_seeds - 1}, n_startup_trials={N_STARTUP}; best noiseless value found, "
          f"lower is better; median [q25, q75]; verdict vs {REFERENCE} (one-sided Mann-Whitney U, p < {ALPHA})")
    head = f"{'function':<17}" + "".join(f" {label:>28}" for label in labels)
    head += "".join(f" {'vs optuna: ' + label.split()[1][:5]:>26}" for label in OURS) + f" {'mv vs indep':>26}"
    print(head)
    tally = {label: {"worse": 0, "level": 0, "better": 0} for label in [*OURS, "mv vs indep"]}
    for problem in probs:
        cells = []
        for label in labels:
            q25, q50, q75 = np.percentile(best[(problem.name, label)], [25, 50, 75])
            cells.append(f"{q50:.4g} [{q25:.4g}, {q75:.4g}]")
        verdicts = []
        for label in OURS:
            v, p_worse, p_better = verdict(best[(problem.name, label)], best[(problem.name, REFERENCE)])
            tally[label][v] += 1
            verdicts.append(f"{v} (pw {p_worse:.3f}, pb {p_better:.3f})")
        v, p_worse, p_better = verdict(best[(problem.name, "tpe multivariate")], best[(problem.name, "tpe independent")])
        tally["mv vs indep"][v] += 1
        verdicts.append(f"{v} (pw {p_worse:.3f}, pb {p_better:.3f})")
        print(f"{problem.name:<17}" + "".join(f" {c:>28}" for c in cells) + "".join(f" {v:>26}" for v in verdicts),
              flush=True)
    for label, counts in tally.items():
        what = label if label not in OURS else f"{label} vs optuna"
        print(f"{what}: " + ", ".join(f"{k} {v}" for k, v in counts.items()) + f" of {len(probs)}")
    print("cpu seconds per sampler: " + ", ".join(f"{k} {v:.0f}" for k, v in seconds.items())
          + f"; wall {wall_s:.0f} s on {args.processes} processes")


if __name__ == "__main__":
    main()
