"""build_workload: the one entry point the trial actor calls."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import Any, Optional

from raybench.search.space import Param
from raybench.workloads._custom import build_custom
from raybench.workloads._protocol import Workload
from raybench.workloads._synthetic import build_synthetic

MODELS = ("ff",)


def build_workload(
    task: Mapping[str, Any],
    params: Mapping[str, Any],
    *,
    seed: int,
    threads: int = 1,
    device: str = "cpu",
    experiment_seed: int = 0,
    space: Optional[Mapping[str, Param]] = None,
) -> Workload:
    """The workload of one trial.

    task: TaskSpec.model_dump(). params: the sampled hyperparameters. seed: the trial's seed, which
    fixes model init and data order. threads: torch's intra-op threads (process-wide).
    experiment_seed: shared by every trial; fixes the data split and the synthetic objective.
    space: the search space; only dataset synthetic needs it.
    """
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise ValueError(f"threads must be an int >= 1, got {threads!r}")
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ValueError(f"seed must be an int, got {seed!r}")
    # torch is imported only for the workloads that train with it: the import costs a second and
    # a few hundred MB per process, which synthetic and custom workloads need not pay.
    if task.get("workload"):
        if "torch" in sys.modules:
            sys.modules["torch"].set_num_threads(threads)
        return build_custom(task["workload"], task, params, seed=seed)
    dataset = task.get("dataset", "mnist-5k")
    if dataset == "synthetic":
        return build_synthetic(task, params, seed=seed, experiment_seed=experiment_seed, space=space)
    import torch

    from raybench.workloads._data import load_splits
    from raybench.workloads._ff import FeedForwardWorkload, FFParams

    torch.set_num_threads(threads)
    model = task.get("model", "ff")
    if model not in MODELS:
        raise ValueError(f"unknown model {model!r}; use one of {', '.join(MODELS)} or set task.workload")
    ff_params = FFParams.from_dict(params)  # checked before any data is loaded
    splits = load_splits(dataset, data_root=task.get("data_root"), download=bool(task.get("download", False)),
                         split_seed=experiment_seed)
    return FeedForwardWorkload(splits, ff_params, optimizer=task.get("optimizer", "adam"),
                               batch_size=int(task.get("batch_size", 64)), seed=seed, device=device)
