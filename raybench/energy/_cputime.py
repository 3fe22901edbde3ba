"""CPU seconds of the node and of process trees, read cheaply enough to sample at 10 Hz.

A trial is its process and every descendant. Linux adds a child's CPU time (and its reaped
descendants') to the parent's cutime/cstime when the parent reaps it, so the tree's CPU time is

    sum over live members of (utime + stime + cutime + cstime)

and it stays continuous when a member exits and is reaped by another member. Membership is sticky:
a descendant that is orphaned stays in the tree until it exits. One scan of /proc serves every trial.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass

import psutil

_TICK_S = 1.0 / os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 0.01
_PROC = "/proc"
_OWED_ROUNDS = 2  # a torn read resolves at the next scan; a child that never shows up is forgotten


def node_cpu_s() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole node since boot, summed over logical CPUs.

    Busy excludes idle, iowait and steal (time the hypervisor gave to someone else).
    """
    t = psutil.cpu_times()
    busy = t.user + t.nice + t.system + getattr(t, "irq", 0.0) + getattr(t, "softirq", 0.0)
    return busy, busy + t.idle + getattr(t, "iowait", 0.0)


@dataclass(frozen=True)
class ProcStat:
    ppid: int
    start: float  # start time: tells a reused pid apart
    self_s: float  # utime + stime
    children_s: float  # cutime + cstime: reaped descendants


def _read_proc(path: str) -> bytes | None:
    """A /proc file's bytes, or None where it cannot be read (its process or thread ended). Plain system calls:
    a track reads a few dozen of these, and a Python file object costs more than the read itself."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    try:
        chunks = []
        while chunk := os.read(fd, 65536):
            chunks.append(chunk)
        return b"".join(chunks)
    except OSError:
        return None
    finally:
        os.close(fd)


def _read_stat(pid: str) -> ProcStat | None:
    raw = _read_proc(f"{_PROC}/{pid}/stat")
    if raw is None:
        return None  # exited while we looked
    # comm (field 2) may hold spaces and parentheses: split after the last ')'.
    fields = raw[raw.rfind(b")") + 2 :].split()
    try:
        ut, st, cut, cst = (int(x) for x in fields[11:15])
        return ProcStat(int(fields[1]), float(fields[19]), (ut + st) * _TICK_S, (cut + cst) * _TICK_S)
    except (IndexError, ValueError):
        return None


def _has_proc() -> bool:
    return os.path.isdir(os.path.join(_PROC, "self"))


def scan() -> dict[int, ProcStat]:
    """Every process on the node. Processes that vanish during the scan are skipped."""
    if not _has_proc():
        return _scan_psutil()
    out: dict[int, ProcStat] = {}
    for name in os.listdir(_PROC):
        if name.isdigit() and (st := _read_stat(name)) is not None:
            out[int(name)] = st
    return out


def has_children_files() -> bool:
    pid = os.getpid()
    return os.path.exists(f"{_PROC}/{pid}/task/{pid}/children")  # Linux with CONFIG_PROC_CHILDREN


def _children_of(pid: int) -> list[int]:
    """The direct children of pid, from /proc/PID/task/*/children (each thread lists the ones it forked)."""
    out: list[int] = []
    task = f"{_PROC}/{pid}/task/"
    try:
        tids = os.listdir(task)
    except OSError:
        return out
    for tid in tids:
        raw = _read_proc(f"{task}{tid}/children")
        if raw:  # None: the thread or the process ended meanwhile
            try:
                out.extend(int(c) for c in raw.split())
            except ValueError:
                continue
    return out


def tree_table(roots: Iterable[int]) -> dict[int, ProcStat]:
    """The processes of the trees below `roots` (each root and its live descendants), read down the
    /proc/PID/task/*/children files: a few small files per member instead of every process of the node (a
    full scan read about 150 on a node with 64 trial actors, at every track and untrack). Give a tree's
    known members as roots too, so that an orphan reparented out of it stays in its table. Where those files
    do not exist, a full scan()."""
    if not _has_proc() or not has_children_files():
        return scan()
    out: dict[int, ProcStat] = {}
    for pid in walk_tree(roots):
        if (st := _read_stat(str(pid))) is not None:  # else gone
            out[pid] = st
    return out


def walk_tree(roots: Iterable[int]) -> Iterator[int]:
    """Each pid of the trees below `roots` once, a parent before its children, down /proc's children files."""
    seen: set[int] = set()
    todo = [int(p) for p in roots]
    while todo:
        pid = todo.pop()
        if pid in seen:
            continue
        seen.add(pid)
        yield pid
        todo.extend(_children_of(pid))


class ProcessTable:
    """Repeated scans that re-read only the processes that can matter.

    A process outside every tracked tree can join one only by being born into it, and a newborn has
    a pid not seen before. So between full scans, a pid already known to be outside is not read
    again. The one miss, a pid reused by a tree's newborn, is found at the next full scan; its CPU
    time is cumulative, so it is counted late, not lost.
    """

    def __init__(self, full_every: int = 30) -> None:
        self.full_every = full_every
        self._outside: dict[int, ProcStat] = {}
        self._n = 0

    def scan(self, must_read: set[int] = frozenset()) -> dict[int, ProcStat]:
        self._n += 1
        if not _has_proc() or self._n % self.full_every == 1 or self.full_every <= 1:
            return scan()
        out: dict[int, ProcStat] = {}
        for name in os.listdir(_PROC):
            if not name.isdigit():
                continue
            pid = int(name)
            cached = self._outside.get(pid)
            if cached is not None and pid not in must_read:
                out[pid] = cached
            elif (st := _read_stat(name)) is not None:
                out[pid] = st
        return out

    def remember(self, table: Mapping[int, ProcStat], members: set[int]) -> None:
        """Record which processes of `table` are outside every tree (`members` are inside one)."""
        self._outside = {pid: st for pid, st in table.items() if pid not in members}


def _scan_psutil() -> dict[int, ProcStat]:
    out: dict[int, ProcStat] = {}
    for p in psutil.process_iter(["ppid", "cpu_times", "create_time"]):
        ct = p.info["cpu_times"]
        if ct is None or p.info["ppid"] is None:
            continue
        kids = getattr(ct, "children_user", 0.0) + getattr(ct, "children_system", 0.0)
        out[p.pid] = ProcStat(p.info["ppid"], p.info["create_time"] or 0.0, ct.user + ct.system, kids)
    return out


def children_map(table: Mapping[int, ProcStat]) -> dict[int, list[int]]:
    kids: dict[int, list[int]] = {}
    for pid, st in table.items():
        kids.setdefault(st.ppid, []).append(pid)
    return kids


class TreeCpu:
    """CPU seconds used by one process tree between successive `advance` calls."""

    def __init__(self, root_pid: int, table: Mapping[int, ProcStat], kids: Mapping[int, list[int]] | None = None):
        self.root_pid = root_pid
        self._prev: dict[int, ProcStat] = {}
        # reaper pid -> (seconds of its vanished children counted but not yet seen in its children_s,
        # advances left to see them): /proc is not read atomically, so a child can vanish from one
        # scan while its reaper's children_s, read a moment earlier, does not hold it yet.
        self._owed: dict[int, tuple[float, int]] = {}
        self._prev = self._members(table, children_map(table) if kids is None else kids)

    def _members(self, table: Mapping[int, ProcStat], kids: Mapping[int, list[int]]) -> dict[int, ProcStat]:
        seeds = [self.root_pid] + [p for p, st in self._prev.items() if p in table and table[p].start == st.start]
        found: dict[int, ProcStat] = {}
        stack = [p for p in seeds if p in table]
        while stack:
            pid = stack.pop()
            if pid in found:
                continue
            found[pid] = table[pid]
            stack.extend(kids.get(pid, ()))
        return found

    def advance(self, table: Mapping[int, ProcStat], kids: Mapping[int, list[int]] | None = None) -> float:
        """CPU seconds since the previous call (or since construction). Never negative."""
        cur = self._members(table, children_map(table) if kids is None else kids)
        prev = self._prev
        delta = 0.0
        for pid, st in cur.items():
            old = prev.get(pid)
            if old is not None and old.start == st.start:
                delta += (st.self_s + st.children_s) - (old.self_s + old.children_s)
            else:
                delta += st.self_s + st.children_s  # born since the last call
        # A member that exited and was reaped by a live member moved its time into that member's
        # children_s, which was just counted in full: take back what had been counted before.
        owed = {r: v for r, v in self._owed.items() if r in cur and r in prev and cur[r].start == prev[r].start}
        for pid, old in prev.items():
            if pid in cur:
                continue
            reaper = old.ppid
            while reaper in prev and reaper not in cur:
                reaper = prev[reaper].ppid
            if reaper in cur and reaper in prev and cur[reaper].start == prev[reaper].start:
                owed[reaper] = (owed.get(reaper, (0.0, 0))[0] + old.self_s + old.children_s, _OWED_ROUNDS)
        self._owed = {}
        for reaper, (amount, rounds) in owed.items():
            grew = max(cur[reaper].children_s - prev[reaper].children_s, 0.0)
            take = min(amount, grew)  # a child auto-reaped (SIGCHLD ignored) never shows up: nothing to take
            delta -= take
            if amount - take > 1e-9 and rounds > 1:
                self._owed[reaper] = (amount - take, rounds - 1)
        self._prev = cur
        return max(delta, 0.0)

    @property
    def alive(self) -> bool:
        return bool(self._prev)

    @property
    def members(self) -> set[int]:
        return set(self._prev) | {self.root_pid}
