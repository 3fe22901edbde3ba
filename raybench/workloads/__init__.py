"""What a trial trains: the Workload interface, the built-in workloads and their data.

The runtime calls build_workload(task, params, seed=...) and drives the result through
train_epoch / evaluate / test / state / load_state. docs/workloads.md describes each workload.
"""

from raybench.workloads._build import build_workload
from raybench.workloads._custom import load_factory
from raybench.workloads._protocol import Workload
from raybench.workloads._synthetic import SyntheticWorkload

# These need torch, whose import costs about a second: loaded on first use, so that a process running
# only synthetic or custom workloads never pays for it.
_LAZY = {"Splits": "_data", "load_splits": "_data", "resolve_data_root": "_data",
         "FeedForwardWorkload": "_ff", "FFParams": "_ff"}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f"raybench.workloads.{_LAZY[name]}"), name)
    raise AttributeError(f"module 'raybench.workloads' has no attribute {name!r}")

__all__ = [
    "FFParams",
    "FeedForwardWorkload",
    "Splits",
    "SyntheticWorkload",
    "Workload",
    "build_workload",
    "load_factory",
    "load_splits",
    "resolve_data_root",
]
