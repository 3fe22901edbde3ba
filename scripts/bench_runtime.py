"""raybench vs Ray Tune on the same Ray instance: trials/s and per-trial overhead on synthetic trials.

Both run the same work: N synthetic trials of up to 10 reports each, ASHA (grace 1, eta 3, max_t 10),
the same concurrency, one CPU per trial, on one `ray.init` of this machine. The trials do no training,
so what is measured is each runtime's own cost per trial: scheduling, actor calls, logging.

    python scripts/bench_runtime.py            # 500 trials
    python scripts/bench_runtime.py --quick    # 100 trials
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

import numpy as np

os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
os.environ.setdefault("RAY_AUTH_MODE", "token")


def raybench_run(n: int, concurrency: int, out: str) -> float:
    from rich.console import Console

    from raybench.config import ExperimentConfig
    from raybench.runtime import run_experiment

    cfg = ExperimentConfig.model_validate({
        "name": "bench-runtime", "seed": 0,
        "task": {"dataset": "synthetic", "epochs": 10},
        "search_space": {"x": {"type": "uniform", "low": 0.0, "high": 1.0},
                         "y": {"type": "loguniform", "low": 1e-4, "high": 1e-1}},
        "sampler": {"type": "random"},
        "pruner": {"type": "asha", "grace_period": 1, "reduction_factor": 3, "max_t": 10},
        "workers": {"count": concurrency, "cpus": 1, "memory_mb": 256, "enforce_memory": False},
        "budget": {"max_trials": n},
        "energy": {"backend": "none", "gpu": "none"},
        "max_failures": 0,
    })
    t = time.perf_counter()
    summary = run_experiment(cfg, out, progress=False, console=Console(quiet=True))
    wall = time.perf_counter() - t
    assert summary["trials"]["total"] == n, summary["trials"]
    return wall


def _space():
    from raybench.search.space import LogUniform, Uniform

    return {"x": Uniform(0.0, 1.0), "y": LogUniform(1e-4, 1e-1)}


def _tune_trainable(config):
    from ray import tune

    from raybench.search.synthetic import SyntheticObjective

    objective = SyntheticObjective(_space(), 0)
    for step in range(1, 11):
        tune.report({"val_accuracy": objective.curve(config, step)})


def tune_run(n: int, concurrency: int, out: str) -> float:
    from ray import tune
    from ray.tune.schedulers import ASHAScheduler

    tuner = tune.Tuner(
        tune.with_resources(_tune_trainable, {"cpu": 1}),
        param_space={"x": tune.uniform(0.0, 1.0), "y": tune.loguniform(1e-4, 1e-1)},
        tune_config=tune.TuneConfig(
            num_samples=n, max_concurrent_trials=concurrency, reuse_actors=True,
            scheduler=ASHAScheduler(metric="val_accuracy", mode="max", max_t=10, grace_period=1,
                                    reduction_factor=3),
        ),
        run_config=tune.RunConfig(storage_path=out, name="tune", verbose=0),
    )
    t = time.perf_counter()
    grid = tuner.fit()
    wall = time.perf_counter() - t
    assert len(grid) == n
    return wall


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=500)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args(argv)
    n, repeats = (100, 1) if args.quick else (args.trials, args.repeats)
    concurrency = 2

    import ray

    ray.init(address="local", num_cpus=2, include_dashboard=False, logging_level="ERROR")
    rb, tu = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(repeats):
            rb.append(raybench_run(n, concurrency, os.path.join(tmp, f"rb{r}")))
            tu.append(tune_run(n, concurrency, os.path.join(tmp, f"tune{r}")))
    ray.shutdown()
    rb_s, tu_s = float(np.median(rb)), float(np.median(tu))
    print(f"machine: {os.cpu_count()} CPUs; {n} synthetic trials x up to 10 reports, ASHA, "
          f"concurrency {concurrency}, median of {repeats}")
    print(f"{'runtime':<10}{'wall s':>10}{'trials/s':>12}{'ms/trial':>12}")
    for name, wall in (("raybench", rb_s), ("ray tune", tu_s)):
        print(f"{name:<10}{wall:>10.2f}{n / wall:>12.1f}{wall / n * 1e3 * concurrency:>12.1f}")
    print(f"ratio (raybench trials/s / tune trials/s): {tu_s / rb_s:.2f}x  (target >= 5x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
