"""Custom workloads named "module:function" in task.workload.

The function is called as function(params, task, seed) and returns a Workload. The module is looked
up on sys.path, with the current directory appended, as `python -m` would: a console script does not
put the working directory on sys.path, and an experiment's own modules usually live there.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Callable, Mapping
from typing import Any

from raybench.errors import ConfigError
from raybench.workloads._protocol import Workload, missing_methods

Factory = Callable[[dict, dict, int], Any]


def load_factory(ref: str) -> Factory:
    """The callable that ref ("module:function") names. Raises ConfigError saying what is wrong."""
    module_name, sep, attr = ref.partition(":")
    if not sep or not module_name or not attr:
        raise ConfigError(f"task.workload must be 'module:function', got {ref!r}")
    if os.getcwd() not in sys.path:
        sys.path.append(os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except Exception as e:  # any failure inside the user's module is reported the same way
        raise ConfigError(
            f"task.workload {ref!r}: module {module_name!r} does not import ({type(e).__name__}: {e}); "
            "check the name and that it is on PYTHONPATH or under the current directory"
        ) from e
    if not hasattr(module, attr):
        raise ConfigError(f"task.workload {ref!r}: module {module_name!r} has no attribute {attr!r}; "
                          "check the name after the colon")
    factory = getattr(module, attr)
    if not callable(factory):
        raise ConfigError(f"task.workload {ref!r}: {attr!r} is a {type(factory).__name__}, not a function; "
                          "name a function(params, task, seed) that returns a workload")
    return factory


def build_custom(ref: str, task: Mapping[str, Any], params: Mapping[str, Any], *, seed: int) -> Workload:
    workload = load_factory(ref)(dict(params), dict(task), seed)
    missing = missing_methods(workload)
    if missing:
        raise ConfigError(f"task.workload {ref!r} returned a {type(workload).__name__} without "
                          f"{', '.join(missing)}; a workload needs train_epoch, evaluate, test, state, load_state")
    return workload
