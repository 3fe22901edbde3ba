"""Fixtures for reliability tests: a real Ray instance, the runtime tests' helpers, and fault injection."""

import os
import sys

import pytest

os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
os.environ.setdefault("RAY_AUTH_MODE", "token")
sys.path.insert(0, os.path.join(os.path.dirname(__file__), os.pardir, "runtime"))  # rb_helpers


@pytest.fixture(scope="module")
def local_ray():
    import ray

    if ray.is_initialized():
        ray.shutdown()
    ray.init(address="local", num_cpus=2, include_dashboard=False, logging_level="ERROR")
    yield ray
    ray.shutdown()
