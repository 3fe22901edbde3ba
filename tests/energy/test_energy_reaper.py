"""A grandchild orphaned before the monitor's next scan is still counted when the trial process is a subreaper."""

import os
import subprocess
import sys

import pytest

from raybench.energy import NodeMonitor
from raybench.energy.backends import FakePowercap, NullGpus, PowercapBackend

ORPHAN = os.path.join(os.path.dirname(__file__), "orphan.py")
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _run(tmp_path, *flags):
    mon = NodeMonitor(PowercapBackend(FakePowercap.intel(str(tmp_path)).root), NullGpus(),
                      node_resources={"cpus": 2, "memory_mb": 1024, "gpus": 0})
    env = {**os.environ, "PYTHONPATH": ROOT + os.pathsep + os.environ.get("PYTHONPATH", "")}
    p = subprocess.Popen([sys.executable, ORPHAN, "0.4", str(tmp_path / "marker"), *flags], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert p.stdout.readline().strip() == "ready"
        mon.track(1, p.pid, {"cpus": 1})
        p.stdin.write("go\n")
        p.stdin.flush()
        assert p.stdout.readline().strip() == "done"  # the child exited long ago; no scan has run since track
        return mon.sample()["trial_cpu_s"][1]
    finally:
        p.kill()
        p.wait()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="prctl is Linux-only")
def test_an_orphaned_grandchild_is_counted_under_a_subreaper(tmp_path):
    assert _run(tmp_path, "--subreaper") >= 0.35  # the grandchild's 0.4 s


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="prctl is Linux-only")
def test_without_the_subreaper_it_is_lost(tmp_path):
    assert _run(tmp_path) < 0.3  # the defect the subreaper fixes: the 0.4 s vanish with the child
