"""Keeping orphaned descendants in a trial's process tree: the trial process becomes a child subreaper.

A trial's CPU time is its process tree's (energy/_cputime.py). A grandchild whose parent exits before
the monitor's next scan would be re-parented to init and fall out of the tree. With
prctl(PR_SET_CHILD_SUBREAPER) set on the trial actor's process, Linux re-parents such orphans to that
process instead, so the next scan still finds them under the trial's root. (cgroup `cpu.stat` would
also work, but Ray does not give each actor its own cgroup.) Adopted orphans are not reaped here: a
waitpid on any child could take a child that the workload's own code waits for; they stay zombies,
with their final CPU time readable, until the actor exits.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

PR_SET_CHILD_SUBREAPER = 36
PR_GET_CHILD_SUBREAPER = 37

_done = False


def become_subreaper() -> bool:
    """Make this process the subreaper of its descendants (Linux 3.4+). Returns whether it is one."""
    global _done
    if _done:
        return True
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        _done = libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
    except (OSError, AttributeError):
        _done = False
    return _done


def is_subreaper() -> bool:
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        flag = ctypes.c_int(0)
        return libc.prctl(PR_GET_CHILD_SUBREAPER, ctypes.byref(flag), 0, 0, 0) == 0 and flag.value == 1
    except (OSError, AttributeError):
        return False
