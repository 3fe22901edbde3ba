"""A driver killed with SIGKILL, then `raybench run --resume`: no completed trial runs again, every trial
ends once, and a seeded grid ends with the configs an uninterrupted run has."""

import os
import signal
import subprocess
import sys

import pytest
from rb_helpers import events_of
from rel_helpers import ended_once, read_log, wait_for

from raybench.config import load_config
from raybench.search.samplers import make_sampler

pytestmark = pytest.mark.timeout(180)

GRID = """
name: crash
seed: 3
task: {dataset: synthetic, workload: "raybench.testing:sleepy", epochs: 3, options: {epoch_time_s: 0.4}}
search_space:
  x: {type: choice, values: [0.5, 0.6, 0.7, 0.8, 0.9, 1.0]}
  lr: {type: choice, values: [0.1, 0.01]}
sampler: {type: grid}
pruner: {type: asha, grace_period: 1, reduction_factor: 2, max_t: 3}
workers: {count: 2, cpus: 1, memory_mb: 256}
budget: {max_trials: 9}
energy: {backend: estimate, gpu: none, baseline_s: 0.2, interval_s: 0.5}
"""


def raybench(*args):
    """`python -m raybench ARGS` in a session of its own, so its local Ray can be killed with it."""
    return subprocess.Popen([sys.executable, "-m", "raybench", *args, "--no-progress", "--num-cpus", "2"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)


def kill_session(proc):
    """SIGKILL the process group: the driver and the local Ray it started (raylet, GCS, workers)."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait(timeout=30)


def session_gone(sid):
    import psutil

    def gone():
        for p in psutil.process_iter():
            try:
                if os.getsid(p.pid) == sid:
                    return False
            except (ProcessLookupError, PermissionError):
                continue
        return True
    return gone


def test_a_killed_driver_resumes_from_its_log(tmp_path):
    cfg_path = tmp_path / "grid.yaml"
    cfg_path.write_text(GRID)
    d = tmp_path / "run"
    first = raybench("run", str(cfg_path), "--out", str(d))
    try:
        wait_for(lambda: sum(e["event"] == "trial_completed" for e in read_log(d)) >= 2, 90,
                 "two trials to end before the kill")
    finally:
        kill_session(first)
    wait_for(session_gone(first.pid), 30, "the killed run's Ray processes to exit")
    before = events_of(d)
    assert before[-1]["event"] != "experiment_end"
    done_before = {e["trial_id"] for e in before if e["event"] == "trial_completed"}
    # A torn record at the end, as a kill in the middle of a write leaves it: resume moves it aside.
    with open(d / "events.msgpack", "ab") as f:
        f.write(b"\x89RB\x01\xff\x00\x00\x00torn")

    second = raybench("run", "--resume", str(d))
    try:
        out, _ = second.communicate(timeout=120)
    finally:
        kill_session(second)
    assert second.returncode == 0, out[-3000:]

    events = events_of(d)
    assert list((d).glob("events.msgpack.torn-*")), "the torn tail was not moved aside"
    starts = [i for i, e in enumerate(events) if e["event"] == "experiment_start"]
    assert len(starts) == 2 and events[starts[1]]["resumed"] and events[-1]["event"] == "experiment_end"
    after = events[starts[1]:]
    rerun = {e["trial_id"] for e in after if e["event"] == "trial_started"}
    assert not rerun & done_before, "a completed trial ran again"
    assert ended_once(events)
    lost = [e for e in events if e["event"] == "trial_failed" and e["cause"] == "driver_lost"]
    assert all(e in after for e in lost)  # logged after the resumed start
    assert {e["trial_id"] for e in lost} == {e["trial_id"] for e in before if e["event"] == "trial_started"} - \
        done_before - {e["trial_id"] for e in before if e["event"] == "trial_failed" and e["final"]}
    # The seeded grid hands out the configs of an uninterrupted run: the sampler's first 9 of its 12 points.
    uninterrupted = raybench("run", str(cfg_path), "--out", str(tmp_path / "ref"))
    try:
        out, _ = uninterrupted.communicate(timeout=120)
    finally:
        kill_session(uninterrupted)
    assert uninterrupted.returncode == 0, out[-3000:]
    created = {e["trial_id"]: e["config"] for e in events if e["event"] == "trial_created"}
    reference = {e["trial_id"]: e["config"] for e in events_of(tmp_path / "ref") if e["event"] == "trial_created"}
    assert created == reference and len(created) == 9
    cfg = load_config(str(cfg_path))
    sampler = make_sampler(cfg.sampler, cfg.space(), seed=cfg.seed, mode=cfg.metric.mode)
    assert [created[i] for i in range(9)] == [sampler.suggest(i) for i in range(9)]
    # ASHA's rungs came back: the first judged report after the resume has the old trials as its peers.
    judged = [e for e in after if e["event"] == "decision" and e["reason"].get("rung") is not None]
    assert judged, "no ASHA decision after the resume"
    rung = judged[0]["reason"]["rung"]
    peers_before = {e["trial_id"] for e in before if e["event"] == "decision" and e["reason"].get("rung") == rung}
    assert judged[0]["reason"]["n_peers"] >= len(peers_before - {judged[0]["trial_id"]}) >= 1
    summary = (d / "summary.json").read_text()
    assert '"status": "completed"' in summary


SLOW = """
name: alone
seed: 5
task: {dataset: synthetic, workload: "raybench.testing:sleepy", epochs: 6, options: {epoch_time_s: 0.5}}
search_space:
  x: {type: choice, values: [0.5, 0.6, 0.7, 0.8]}
sampler: {type: grid}
workers: {count: 2, cpus: 1, memory_mb: 512}
energy: {backend: estimate, gpu: none, baseline_s: 0.2, interval_s: 0.5}
"""


def ray_processes_of(session_dir):
    """The live processes of one local Ray session (by the session name in their command line, or the
    `ray::` agents of the driver's record)."""
    import psutil

    name = os.path.basename(session_dir)
    out = []
    for p in psutil.process_iter(["cmdline"]):
        try:
            if name in " ".join(p.info["cmdline"] or []):
                out.append(p.pid)
        except psutil.Error:
            continue
    return out


def test_a_driver_killed_alone_resumes_at_once_and_its_ray_is_ended(tmp_path):
    """SIGKILL of the driver process only, as the OOM killer does: its Ray, scheduler and trial actors live on.
    A resume started at once takes over, running trials continue from their checkpoint files, and the dead
    driver's Ray processes (agents included) are ended."""
    import json

    from raybench.runtime._local_ray import registry_dir

    cfg_path = tmp_path / "slow.yaml"
    cfg_path.write_text(SLOW)
    d = tmp_path / "run"
    first = raybench("run", str(cfg_path), "--out", str(d))
    try:
        wait_for(lambda: [e for e in read_log(d) if e["event"] == "report" and e["step"] >= 2], 120,
                 "a trial past its second epoch")
        record = json.loads((registry_dir() / f"{first.pid}.json").read_text())
        os.kill(first.pid, signal.SIGKILL)  # the driver alone, not its process group
        first.wait(timeout=30)
        assert ray_processes_of(record["session_dir"]), "nothing of the dead driver's Ray was left to end"
        second = raybench("run", "--resume", str(d))  # at once
        try:
            out, _ = second.communicate(timeout=180)
        finally:
            kill_session(second)
    finally:
        kill_session(first)
    assert second.returncode == 0, out[-3000:]
    assert "Ray processes left by a killed raybench run" in out
    assert "another process is writing" not in out
    assert ray_processes_of(record["session_dir"]) == []
    events = events_of(d)
    assert ended_once(events) and events[-1]["event"] == "experiment_end"
    start = [i for i, e in enumerate(events) if e["event"] == "experiment_start"][1]
    continued = [e for e in events[start:] if e["event"] == "trial_started" and e["from_step"] > 0]
    assert continued, "no running trial continued from its checkpoint"
    for e in continued:  # each continued trial reports every epoch once over the whole log
        steps = [r["step"] for r in events if r["event"] == "report" and r["trial_id"] == e["trial_id"]]
        assert sorted(set(steps)) == list(range(1, 7))
        assert len(steps) - len(set(steps)) <= 1  # at most the epoch that ran when the driver died
    assert not list((d / "checkpoints").glob("*.msgpack"))
