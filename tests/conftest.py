"""Shared by every test: Ray binds loopback with token auth, and a real local Ray instance per module."""

import os

import pytest

# Set before anything imports Ray: a local head then binds 127.0.0.1, with token authentication.
os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
os.environ.setdefault("RAY_AUTH_MODE", "token")


@pytest.fixture(scope="module")
def local_ray():
    """A real local Ray instance of 2 CPUs and no GPU, its own (never another cluster's), for one module."""
    import ray

    if ray.is_initialized():
        ray.shutdown()
    ray.init(address="local", num_cpus=2, num_gpus=0, include_dashboard=False, logging_level="ERROR")
    yield ray
    ray.shutdown()
