"""What a SIGKILLed local driver leaves behind, and how the next local run ends it.

A local run starts its own Ray (GCS, raylet, monitors, and the raylet's two agents, which stay in the
driver's process group). A driver killed alone, as the OOM killer kills, takes none of them along: they go on
for a minute or more, and the agents for good. Each local driver therefore records its Ray processes in
`$TMPDIR/raybench-<uid>/local-ray/<driver pid>.json`; the next local run reads these records and ends the
processes of every driver that is gone (each checked by its pid and start time, never by name alone).
"""

from __future__ import annotations

import atexit
import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil

from raybench.runtime._ownership import process_started, same_process


def registry_dir() -> Path:
    uid = os.getuid() if hasattr(os, "getuid") else 0
    return Path(tempfile.gettempdir()) / f"raybench-{uid}" / "local-ray"


def _stamp(p: psutil.Process) -> list[Any]:
    try:
        return [p.pid, p.create_time()]
    except psutil.Error:
        return [p.pid, None]


def register() -> None:
    """Record this driver's local Ray processes (call right after ray.init started them)."""
    import ray

    node = ray._private.worker._global_node
    if node is None:
        return
    procs = []
    for infos in node.all_processes.values():
        for info in infos:
            try:
                p = psutil.Process(info.process.pid)
                procs += [p, *p.children(recursive=True)]  # the raylet's agents start with it
            except psutil.Error:
                continue
    me = os.getpid()
    record = {"driver_pid": me, "driver_started": process_started(me), "pgid": os.getpgid(0),
              "session_dir": node.get_session_dir_path(), "processes": [_stamp(p) for p in procs]}
    d = registry_dir()
    d.mkdir(parents=True, exist_ok=True)
    path = d / f"{me}.json"
    path.write_text(json.dumps(record))
    atexit.register(_forget, path)


def _forget(path: Path) -> None:
    try:
        path.unlink()
    except OSError:
        pass


def _leftovers(rec: dict[str, Any]) -> list[psutil.Process]:
    """The live processes of a dead driver's local Ray: recorded ones (and their children), its session's,
    and the `ray::` agents left in its process group."""
    found: dict[int, psutil.Process] = {}
    since = float(rec.get("driver_started") or 0.0)
    for pid, started in rec.get("processes") or []:
        if same_process(pid, started):
            p = psutil.Process(pid)
            found[pid] = p
            try:
                found.update({c.pid: c for c in p.children(recursive=True)})
            except psutil.Error:
                pass
    session = os.path.basename(str(rec.get("session_dir") or "")) or None
    me = os.getpid()
    for p in psutil.process_iter(["pid", "cmdline", "create_time"]):
        if p.pid == me or p.pid in found:
            continue
        try:
            if p.info["create_time"] < since - 1:
                continue
            cmd = " ".join(p.info["cmdline"] or [])
            if (session and session in cmd) or (cmd.startswith("ray::") and os.getpgid(p.pid) == rec.get("pgid")
                                                 and not _under_live_raylet(p, found)):
                found[p.pid] = p
        except (psutil.Error, OSError, TypeError):
            continue
    return list(found.values())


def _under_live_raylet(p: psutil.Process, found: dict[int, psutil.Process]) -> bool:
    """An agent whose raylet still runs belongs to a live Ray (another run in the same process group)."""
    try:
        parent = p.parent()
        return parent is not None and parent.pid not in found and "raylet" in " ".join(parent.cmdline())
    except psutil.Error:
        return False


def clean_up_dead_drivers(say: Callable[[str], None]) -> int:
    """End the local Ray processes of every recorded driver that is gone; returns how many were ended."""
    d = registry_dir()
    if not d.is_dir():
        return 0
    ended = 0
    for path in sorted(d.glob("*.json")):
        try:
            rec = json.loads(path.read_text())
        except (OSError, ValueError):
            _forget(path)
            continue
        if same_process(rec.get("driver_pid"), rec.get("driver_started")):
            continue  # a live local run: not ours to touch
        procs = _leftovers(rec)
        for p in procs:
            try:
                p.kill()
            except psutil.Error:
                pass
        psutil.wait_procs(procs, timeout=5)
        if procs:
            say(f"ended {len(procs)} Ray processes left by a killed raybench run (driver pid {rec.get('driver_pid')})")
        ended += len(procs)
        _forget(path)
    return ended
