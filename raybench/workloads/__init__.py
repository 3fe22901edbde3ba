"""What a trial trains: the Workload interface, the built-in workloads and their data.

The runtime calls build_workload(task, params, seed=...) and drives the result through
train_epoch / evaluate / test / state / load_state. docs/workloads.md describes each workload.
"""

from raybench.workloads._build import build_workload
from raybench.workloads._custom import load_factory
from raybench.workloads._data import Splits, load_splits, resolve_data_root
from raybench.workloads._ff import FeedForwardWorkload, FFParams
from raybench.workloads._protocol import Workload
from raybench.workloads._synthetic import SyntheticWorkload

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
