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


# ---- the exit status ---------------------------------------------------------------------------------------
# Once the session is over and reported, the process leaves with pytest's own status without tearing the
# interpreter down: a clean-clone CI run had every test pass and then died of a segfault in that teardown
# (native threads of the libraries the tests load, in a process that ran hundreds of tests), which turned a
# green run red. Nothing of the tests' outcome is skipped: the status is the session's.
_status = {}


def pytest_sessionfinish(session, exitstatus):
    _status["code"] = int(exitstatus)


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config):
    if "code" in _status and os.environ.get("RAYBENCH_TEST_TEARDOWN") != "1":  # =1: the normal teardown
        import sys

        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(_status["code"])
