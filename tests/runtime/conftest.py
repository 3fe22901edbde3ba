"""A real local Ray instance shared by the runtime tests of a module, and helpers to run experiments."""

import os

import pytest

os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
os.environ.setdefault("RAY_AUTH_MODE", "token")


@pytest.fixture(scope="module")
def local_ray():
    import ray

    if ray.is_initialized():
        ray.shutdown()
    ray.init(num_cpus=2, include_dashboard=False, logging_level="ERROR")
    yield ray
    ray.shutdown()


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
