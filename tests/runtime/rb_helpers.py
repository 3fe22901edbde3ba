"""Helpers for tests that run experiments on a real Ray instance (import as `rb_helpers`)."""

import os


def experiment(**overrides):
    """A validated ExperimentConfig: synthetic, fast, energy estimated at 0.2 s intervals."""
    from raybench.config import ExperimentConfig

    base = {
        "name": "t", "seed": 0,
        "task": {"dataset": "synthetic", "epochs": 4},
        "search_space": {"x": {"type": "uniform", "low": 0.0, "high": 1.0},
                         "n": {"type": "int", "low": 1, "high": 3}},
        "sampler": {"type": "random"},
        "pruner": {"type": "asha", "grace_period": 1, "reduction_factor": 2, "max_t": 4},
        "workers": {"count": 2, "cpus": 1, "memory_mb": 512},
        "budget": {"max_trials": 12},
        "energy": {"backend": "estimate", "gpu": "none", "baseline_s": 0.5, "interval_s": 0.2},
    }
    for key, value in overrides.items():
        if key in ("task", "workers", "budget", "energy") and isinstance(value, dict):
            base[key] = {**base[key], **value}
        else:
            base[key] = value
    return ExperimentConfig.model_validate(base)


def run(cfg, run_dir, **kw):
    from rich.console import Console

    from raybench.runtime import run_experiment

    return run_experiment(cfg, str(run_dir), progress=False, console=Console(quiet=True), **kw)


def events_of(run_dir):
    from raybench.events import read_events

    return read_events(os.path.join(str(run_dir), "events.msgpack")).events
