"""The memory watchdog's reading of a process tree, and when it samples. Real processes, no Ray."""

from __future__ import annotations

import subprocess
import sys
import time

import psutil
import pytest

from raybench.runtime import _watchdog
from raybench.runtime._watchdog import MemoryWatchdog, tree_rss_mb

# A child that starts a grandchild holding about 60 MB, and waits for it.
_TREE = ("import subprocess, sys; subprocess.run([sys.executable, '-c', "
         "\"b = bytearray(60 * 1024 * 1024); import time; time.sleep(30)\"])")


@pytest.fixture
def tree():
    child = subprocess.Popen([sys.executable, "-c", _TREE])
    try:
        deadline = time.time() + 20
        while time.time() < deadline:
            kids = psutil.Process(child.pid).children(recursive=True)
            if kids and kids[0].memory_info().rss > 50 * 1024 * 1024:
                break
            time.sleep(0.05)
        else:
            pytest.fail("the grandchild did not start")
        yield child
    finally:
        for p in psutil.Process(child.pid).children(recursive=True):
            p.kill()
        child.kill()
        child.wait()


@pytest.mark.skipif(not _watchdog._PROC_CHILDREN, reason="needs /proc/PID/task/TID/children (Linux)")
def test_the_proc_walk_sees_grandchildren_and_agrees_with_psutil(tree) -> None:
    me = psutil.Process()
    walked = tree_rss_mb(me)
    assert walked > 60  # this process, the child and the 60 MB grandchild
    assert walked == pytest.approx(_watchdog._psutil_tree_rss_mb(me), rel=0.05)
    assert tree_rss_mb(psutil.Process(tree.pid)) > 60  # from the child down


def test_an_armed_watchdog_fires_once_over_its_limit_and_a_disarmed_one_does_not(tree) -> None:
    fired: list[float] = []
    dog = MemoryWatchdog(10.0, fired.append, interval_s=0.02).start()  # far below this tree's RSS
    try:
        time.sleep(0.2)
        assert fired == []  # disarmed: no trial, nothing to enforce
        dog.arm()
        deadline = time.time() + 5
        while not fired and time.time() < deadline:
            time.sleep(0.02)
        time.sleep(0.1)
        assert len(fired) == 1 and fired[0] > 60
        assert dog.peak_mb >= fired[0]
    finally:
        dog.stop()


def test_a_disarmed_watchdog_leaves_the_peak_of_the_last_trial_alone() -> None:
    dog = MemoryWatchdog(None, lambda rss: None, interval_s=0.01).start()
    try:
        dog.arm()
        time.sleep(0.05)
        dog.disarm()
        dog.peak_mb = -1.0  # a sample taken now would raise it
        time.sleep(0.1)
        assert dog.peak_mb == -1.0
    finally:
        dog.stop()


@pytest.mark.skipif(not _watchdog._PROC_CHILDREN, reason="needs /proc/PID/task/TID/children (Linux)")
def test_without_children_the_tree_is_walked_seldom_and_a_new_child_is_still_seen(monkeypatch) -> None:
    walks = []
    real = _watchdog._walk
    monkeypatch.setattr(_watchdog, "_walk", lambda pid: walks.append(time.monotonic()) or real(pid))
    dog = MemoryWatchdog(None, lambda rss: None, interval_s=0.02, tree_every_s=0.5).start()
    child = None
    try:
        dog.arm()
        time.sleep(1.2)  # about 60 samples; no child: a walk at the first and then every 0.5 s
        assert 2 <= len(walks) <= 4, walks
        own = dog.peak_mb
        child = subprocess.Popen([sys.executable, "-c", _TREE])  # a child holding a 60 MB grandchild
        deadline = time.time() + 20
        while dog.peak_mb < own + 50 and time.time() < deadline:
            time.sleep(0.02)
        assert dog.peak_mb >= own + 50  # seen within a walk or two of the grandchild's allocation
        before = len(walks)
        time.sleep(0.5)
        assert len(walks) - before >= 10  # with children, every sample walks the tree
    finally:
        dog.stop()
        if child is not None:
            for p in psutil.Process(child.pid).children(recursive=True):
                p.kill()
            child.kill()
            child.wait()


@pytest.mark.skipif(not _watchdog._PROC_CHILDREN, reason="needs /proc (Linux)")
def test_arm_reads_this_process_rss_fresh_through_the_file_it_keeps_open() -> None:
    dog = MemoryWatchdog(None, lambda rss: None, interval_s=60)  # not started: only arm() reads
    assert dog._statm is not None
    dog.arm()
    before = dog.peak_mb
    assert before == pytest.approx(psutil.Process().memory_info().rss / _watchdog.MB, rel=0.05)
    block = bytearray(80 * 1024 * 1024)  # touched: resident
    dog.arm()
    assert dog.peak_mb >= before + 70  # the same open file, read again, sees the new pages
    del block
