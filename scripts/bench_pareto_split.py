"""MOTPE's good/bad split alone, on 2-objective loss sets of three shapes, at growing sizes.

    python scripts/bench_pareto_split.py [--sizes 10000 100000] [--repeats 5]

The split runs once per suggestion over every finished trial, with gamma 0.1 (10 % of the trials good), so
it is the part of a multi-objective suggestion that grows with the run. Shapes: independent uniform losses
(small fronts), correlated losses (many small fronts) and anti-correlated losses (one large first front,
which the hypervolume cut then trims). Prints the median time of the split and of the fronts alone.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from raybench.search import pareto
from raybench.search.samplers._tpe._split import split_good
from raybench.search.samplers._tpe.sampler import n_good_trials


def losses(shape: str, n: int, rng: np.random.Generator) -> np.ndarray:
    x = rng.random(n)
    if shape == "independent":
        return np.c_[x, rng.random(n)]
    if shape == "correlated":
        return np.c_[x, x + 0.01 * rng.random(n)]
    return np.c_[x, 1.0 - x + 0.01 * rng.random(n)]


def _median_ms(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return 1e3 * float(np.median(times))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", type=int, nargs="+", default=[1_000, 10_000, 100_000])
    p.add_argument("--repeats", type=int, default=5)
    args = p.parse_args(argv)
    rng = np.random.default_rng(0)
    print(f"{'trials':>8} {'shape':>14} {'good':>6} {'first front':>11} {'fronts ms':>9} {'split ms':>8}")
    for n in args.sizes:
        n_good = n_good_trials(n, 0.1)
        for shape in ("independent", "correlated", "anti-correlated"):
            table = losses(shape, n, rng)
            first = len(pareto.first_fronts(table, 1)[0])
            fronts_ms = _median_ms(lambda t=table, k=n_good: pareto.first_fronts(t, k), args.repeats)
            split_ms = _median_ms(lambda t=table, k=n_good: split_good(t, k), args.repeats)
            print(f"{n:>8,} {shape:>14} {n_good:>6,} {first:>11,} {fronts_ms:>9.1f} {split_ms:>8.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
