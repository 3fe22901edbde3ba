"""Requests no cluster can satisfy, and run directories that cannot be run or resumed: `raybench run` says so in
one line and exits 2, instead of hanging or printing a traceback."""

import fcntl
import os
import subprocess
import sys

import pytest

from raybench.events import EventLog, make_event

pytestmark = pytest.mark.timeout(120)

CONFIG = """
name: cli
seed: 0
task: {dataset: synthetic, epochs: 2}
search_space:
  x: {type: uniform, low: 0.0, high: 1.0}
sampler: {type: random}
pruner: {type: none}
budget: {max_trials: 2}
energy: {backend: estimate, gpu: none, baseline_s: 0, interval_s: 0.5}
"""


def raybench(*args):
    return subprocess.Popen([sys.executable, "-m", "raybench", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)


def one_line_error(proc, timeout=90):
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, 9)
        proc.wait()
        pytest.fail(f"`raybench {' '.join(proc.args[3:])}` hung instead of failing fast")
    assert proc.returncode == 2, (out[-2000:], err[-2000:])
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("raybench: error: ") and "Traceback" not in err, err
    return lines[0]


# Each case starts a Ray (about 9 s): `make test` runs one end to end; the messages themselves are all
# checked without Ray in tests/runtime/test_cluster_fit.py.
@pytest.mark.parametrize("workers, says", [
    ("{count: 2, cpus: 1, memory_mb: 256, accelerator: GPU, accelerators_per_worker: 1}",
     "workers ask for 1 GPU each but the largest node has 0"),
    pytest.param("{count: 2, cpus: 4, memory_mb: 256}", "workers.cpus = 4 but the largest node has 2 CPUs",
                 marks=pytest.mark.long),
    pytest.param("{count: 2, cpus: 1, memory_mb: 100000000}",
                 "workers.memory_mb = 100000000 but the largest node offers", marks=pytest.mark.long),
])
def test_resources_no_node_has_fail_fast(tmp_path, workers, says):
    cfg = tmp_path / "c.yaml"
    cfg.write_text(CONFIG + f"workers: {workers}\n")
    err = one_line_error(raybench("run", str(cfg), "--out", str(tmp_path / "r"), "--no-progress",
                                  "--num-cpus", "2"))
    assert says in err


def finished_run(d, *, ended):
    """A run directory whose log holds an experiment_start (and an experiment_end when ended)."""
    from raybench.config import load_config

    d.mkdir()
    (d.parent / "logged.yaml").write_text(CONFIG + "workers: {count: 1, cpus: 1, memory_mb: 256}\n")
    cfg = load_config(str(d.parent / "logged.yaml"))
    with EventLog.open(d / "events.msgpack") as log:
        log.append(make_event("experiment_start", run_id="x", name="cli", config=cfg.to_dict(), env={},
                              requested_concurrency=1, effective_concurrency=1, resumed=False))
        if ended:
            log.append(make_event("experiment_end", status="completed", reason=""))


@pytest.mark.parametrize("make, says", [
    (lambda d: None, "no such run directory"),
    (lambda d: d.write_text("x"), "not a directory"),
    (lambda d: d.mkdir(), "no events.msgpack here"),
    (lambda d: (d.mkdir(), (d / "events.msgpack").mkdir()), "no events.msgpack here"),
    (lambda d: (d.mkdir(), (d / "events.msgpack").write_bytes(b"")), "has no experiment_start"),
    (lambda d: (d.mkdir(), (d / "events.msgpack").write_bytes(b"not a raybench log at all")), "events.msgpack"),
    (lambda d: finished_run(d, ended=True), "already ended"),
])
def test_bad_resume_targets_are_one_line_errors(tmp_path, make, says):
    d = tmp_path / "run"
    make(d)
    err = one_line_error(raybench("run", "--resume", str(d), "--no-progress"))
    assert says in err


def test_a_run_directory_another_process_writes_is_refused(tmp_path):
    d = tmp_path / "run"
    finished_run(d, ended=False)
    with open(d / "events.msgpack", "rb") as held:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)  # as a live driver's scheduler holds it
        err = one_line_error(raybench("run", "--resume", str(d), "--no-progress"))
    assert "another process is writing" in err


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_an_unreadable_log_is_a_one_line_error(tmp_path):
    d = tmp_path / "run"
    finished_run(d, ended=False)
    os.chmod(d / "events.msgpack", 0)
    err = one_line_error(raybench("run", "--resume", str(d), "--no-progress"))
    assert "not readable" in err


def test_resume_with_another_config_or_force_is_refused(tmp_path):
    d = tmp_path / "run"
    finished_run(d, ended=False)
    other = tmp_path / "other.yaml"
    other.write_text(CONFIG.replace("max_trials: 2", "max_trials: 3") + "workers: {count: 1, cpus: 1, memory_mb: 256}\n")
    assert "different config" in one_line_error(raybench("run", str(other), "--resume", str(d), "--no-progress"))
    assert "contradict" in one_line_error(raybench("run", "--resume", str(d), "--force"))


def test_an_out_path_that_is_a_file_is_refused(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text(CONFIG)
    (tmp_path / "taken").write_text("x")
    assert "not a directory" in one_line_error(raybench("run", str(cfg), "--out", str(tmp_path / "taken")))
