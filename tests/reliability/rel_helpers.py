"""Helpers for reliability tests (import as `rel_helpers`): fault injection beside a run, and log checks."""

import collections
import os
import threading
import time

import pytest


def ended_once(events):
    """Every created trial ends exactly once: one trial_completed or one final trial_failed."""
    ends = collections.Counter(e["trial_id"] for e in events
                               if e["event"] == "trial_completed" or (e["event"] == "trial_failed" and e["final"]))
    created = {e["trial_id"] for e in events if e["event"] == "trial_created"}
    return created == set(ends) and all(n == 1 for n in ends.values())


def is_trial_worker(pid):
    """True when pid is a live trial actor process (never kill a pid the OS has given to someone else)."""
    import psutil

    try:
        return "TrialWorker" in " ".join(psutil.Process(pid).cmdline())
    except psutil.Error:
        return False


class Injector(threading.Thread):
    """Fault injection beside a run: fn() runs in a thread while the test's thread runs the experiment.

    The driver stays in the test's thread, so a failing injector never leaves a driver running on its own.
    """

    def __init__(self, fn):
        super().__init__(daemon=True)
        self.fn, self.result, self.error = fn, None, None
        self.run_ended = threading.Event()  # set once the experiment returned: waiting for more is futile
        self.start()

    def run(self):
        try:
            self.result = self.fn(self.run_ended)
        except BaseException as e:  # re-raised by value() in the test's thread
            self.error = e

    def value(self, timeout=30):
        self.run_ended.set()
        self.join(timeout)
        assert not self.is_alive(), f"the fault injector did not finish in {timeout} s"
        if self.error is not None:
            raise self.error
        return self.result


def actor_pids(class_name):
    """Pids of this process's local Ray's actors of a class (children of its own raylet, never anyone else's)."""
    import psutil
    import ray

    raylet = ray._private.worker._global_node.all_processes["raylet"][0].process.pid
    return [p.pid for p in psutil.Process(raylet).children(recursive=True)
            if f"ray::{class_name}" in " ".join(p.cmdline())]


def read_log(run_dir):
    """The events written so far (none before the log exists)."""
    from raybench.events import read_events

    path = os.path.join(str(run_dir), "events.msgpack")
    return read_events(path).events if os.path.exists(path) else []


def wait_for(predicate, timeout, what, stop=None, interval=0.1):
    """Polls predicate() until it returns something truthy, and returns that; fails on timeout or `stop`."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        if stop is not None and stop.is_set():
            pytest.fail(f"the run ended before {what}")
        time.sleep(interval)
    pytest.fail(f"timed out after {timeout} s waiting for {what}")
