"""CPU time of real process trees: children, reaping, orphans, and processes that vanish."""

import contextlib
import os
import select
import subprocess
import sys
import time

import pytest

from raybench.energy import _cputime
from raybench.energy._cputime import ProcStat, TreeCpu, node_cpu_s, scan

BURN = os.path.join(os.path.dirname(__file__), "burn.py")


def _start(*args):
    p = subprocess.Popen([sys.executable, BURN, *map(str, args)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert p.stdout.readline().strip() == "ready"
    return p


def _own_total(pid):
    st = scan()[pid]
    return st.self_s + st.children_s  # once the child is reaped, this holds its whole life


def test_scan_sees_this_process_and_its_parent():
    table = scan()
    assert table[os.getpid()].ppid == os.getppid()
    assert table[os.getpid()].self_s > 0


def test_node_cpu_is_busy_within_total():
    busy, total = node_cpu_s()
    assert 0 < busy <= total


def test_tree_counts_a_reaped_child_exactly_once():
    proc = _start(0.2, 0.5, 0.3)  # itself 0.2 s, its child 0.3 s, reaped before "done"
    try:
        table0 = scan()
        # The child already exists (it printed "ready" to the root): its CPU so far is not the tree's.
        before = sum(st.self_s + st.children_s for pid, st in table0.items() if pid == proc.pid or st.ppid == proc.pid)
        tree = TreeCpu(proc.pid, table0)
        proc.stdin.write("go\n")
        proc.stdin.flush()
        counted = 0.0
        seen_child = False
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            table = scan()
            seen_child |= any(st.ppid == proc.pid for st in table.values())
            counted += tree.advance(table)
            if select.select([proc.stdout], [], [], 0.03)[0]:
                assert proc.stdout.readline().strip() == "done"
                break
        counted += tree.advance(scan())
        after = _own_total(proc.pid)
    finally:
        proc.kill()
        proc.wait()
    assert seen_child
    # The tree's sum equals the root's own + reaped-children time: the child counted live, then not again.
    assert counted == pytest.approx(after - before, abs=0.011)
    assert 0.47 <= counted < 0.7  # 0.5 s burnt; /proc floors each process to 10 ms ticks


@contextlib.contextmanager
def _orphan(burn_s, table):
    """sh starts a burner in the background and exits 0.2 s later: the burner, seen while it was sh's child, is
    then reparented outside the tree and burns most of its `burn_s` there. The tree is read with
    `table(roots)` (its members as roots) until it has counted burn_s or 20 s passed; yields (sh, the burner's
    pid, the tree, the CPU seconds it counted) while the burner still lives."""
    burner = f"import time; e=time.process_time()+{burn_s}\nwhile time.process_time()<e: pass\ntime.sleep(5)"
    script = f"read go; {sys.executable} -c '{burner}' & echo $!; sleep 0.2"
    sh = subprocess.Popen(["sh", "-c", script], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    tree = TreeCpu(sh.pid, table([sh.pid]))
    sh.stdin.write("go\n")
    sh.stdin.flush()
    grandchild = int(sh.stdout.readline())
    try:
        total = 0.0
        deadline = time.monotonic() + 20
        while total < burn_s and time.monotonic() < deadline:
            total += tree.advance(table(tree.members))
            time.sleep(0.02)
        yield sh, grandchild, tree, total
    finally:
        os.kill(grandchild, 9)
        sh.wait()


def test_orphaned_descendants_stay_in_the_tree():
    with _orphan(0.6, lambda roots: scan()) as (sh, grandchild, _, total):
        assert scan()[grandchild].ppid != sh.pid
        assert total >= 0.6


def test_vanished_processes_do_not_crash_and_do_not_go_negative():
    proc = _start(0.05, 1.0)
    tree = TreeCpu(proc.pid, scan())
    proc.kill()
    proc.wait()  # reaped by us, outside the tree: its last moments are lost, never negative
    assert tree.advance(scan()) == 0.0
    assert not tree.alive
    assert TreeCpu(2**22 + 12345, scan()).advance(scan()) == 0.0


def test_reused_pid_is_a_new_process():
    tree = TreeCpu(10, {10: ProcStat(1, 100.0, 5.0, 0.0)})
    # Same pid, different start time: a new process born into the tree, counted from zero.
    assert tree.advance({10: ProcStat(1, 200.0, 0.5, 0.0)}) == 0.5


def test_child_auto_reaped_without_cutime_is_not_subtracted():
    t0 = {10: ProcStat(1, 1.0, 1.0, 0.0), 11: ProcStat(10, 2.0, 2.0, 0.0)}
    tree = TreeCpu(10, t0)
    # The child vanished but the parent's cutime did not grow (SIGCHLD ignored): nothing to take back.
    assert tree.advance({10: ProcStat(1, 1.0, 1.5, 0.0)}) == pytest.approx(0.5)


def test_child_gone_before_its_reaper_shows_it_is_taken_back_at_the_next_scan():
    # /proc is read one process at a time: the scan read the parent, then the child was reaped.
    tree = TreeCpu(10, {10: ProcStat(1, 1.0, 1.0, 0.0), 11: ProcStat(10, 2.0, 2.0, 0.0)})
    assert tree.advance({10: ProcStat(1, 1.0, 1.0, 0.0)}) == 0.0
    assert tree.advance({10: ProcStat(1, 1.0, 1.0, 2.5)}) == pytest.approx(0.5)  # only the unseen 0.5 s
    assert tree.advance({10: ProcStat(1, 1.0, 1.0, 3.5)}) == pytest.approx(1.0)  # a later child: all new


def test_grandchild_reaped_through_a_vanished_child():
    t0 = {10: ProcStat(1, 1.0, 1.0, 0.0), 11: ProcStat(10, 2.0, 2.0, 0.0), 12: ProcStat(11, 3.0, 3.0, 0.0)}
    tree = TreeCpu(10, t0)
    # 12 reaped by 11 and 11 by 10: 10's cutime holds both lives (2.5 + 3.5 s).
    assert tree.advance({10: ProcStat(1, 1.0, 1.0, 6.0)}) == pytest.approx(0.5 + 0.5)


def test_psutil_fallback_scan_agrees(monkeypatch):
    monkeypatch.setattr(_cputime, "_PROC", "/nonexistent")
    table = scan()
    assert table[os.getpid()].ppid == os.getppid()


def test_process_table_rereads_only_what_can_matter():
    table = _cputime.ProcessTable(full_every=1000)
    first = table.scan()
    me = os.getpid()
    other = next(pid for pid in first if pid != me)
    table.remember(first, {me})
    second = table.scan({me})
    assert second[other] is first[other]  # known to be outside every tree: not read again
    assert second[me] is not first[me]  # inside: read every time
    proc = _start(0.01, 1.0)  # a newborn pid is always read, so a tree's new child is seen at once
    try:
        assert table.scan({me})[proc.pid].ppid == me
    finally:
        _stop(proc)


def _stop(proc):
    proc.kill()
    proc.wait()


@pytest.mark.skipif(not _cputime.has_children_files(), reason="needs /proc/PID/task/TID/children (Linux)")
def test_tree_table_holds_the_trees_processes_as_a_full_scan_does_and_no_others():
    # sh -> python child -> sleeping grandchild: the walk down the children files finds all three.
    grand = "import subprocess, sys, time; subprocess.Popen(['sleep', '30']); print('ready', flush=True); time.sleep(30)"
    sh = subprocess.Popen(["sh", "-c", f"{sys.executable} -c \"{grand}\""], stdout=subprocess.PIPE, text=True)
    try:
        assert sh.stdout.readline().strip() == "ready"
        full = scan()
        kids = _cputime.children_map(full)
        below, todo = set(), [sh.pid]
        while todo:
            p = todo.pop()
            below.add(p)
            todo.extend(kids.get(p, ()))
        assert len(below) == 3
        table = _cputime.tree_table([sh.pid])
        assert set(table) == below
        assert all(table[p].ppid == full[p].ppid and table[p].start == full[p].start for p in below)
        tree_full, tree_walk = TreeCpu(sh.pid, full), TreeCpu(sh.pid, table)
        assert tree_walk.members == tree_full.members == below
        assert set(_cputime.tree_table([])) == set()
    finally:
        for p in psutil_children(sh.pid):
            os.kill(p, 9)
        sh.kill()
        sh.wait()


def test_tree_table_keeps_an_orphan_given_as_a_root_and_falls_back_to_a_scan(monkeypatch):
    # The orphan test above, read through tree_table with the tree's members as roots, as the monitor does.
    with _orphan(0.4, _cputime.tree_table) as (_, grandchild, tree, total):
        assert grandchild in tree.members and total >= 0.4
    monkeypatch.setattr(_cputime, "_PROC", "/nonexistent")  # no /proc: the whole node, through psutil
    assert len(_cputime.tree_table([os.getpid()])) > 1


def psutil_children(pid):
    import psutil

    try:
        return [c.pid for c in psutil.Process(pid).children(recursive=True)]
    except psutil.Error:
        return []
