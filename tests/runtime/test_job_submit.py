"""`ray job submit` end to end: a real head on loopback with token auth runs `raybench run` as a job."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid

import pytest

pytestmark = pytest.mark.timeout(420)

QUICK = """
name: job
seed: 0
task: {dataset: synthetic, epochs: 3}
search_space:
  x: {type: uniform, low: 0.0, high: 1.0}
sampler: {type: random}
pruner: {type: asha, grace_period: 1, reduction_factor: 2, max_t: 3}
workers: {count: 2, cpus: 1, memory_mb: 1024}
budget: {max_trials: 6}
energy: {baseline_s: 0.5, interval_s: 0.5}
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def head(tmp_path):
    """`ray start --head --block` in its own process group, killed as a group afterwards."""
    if any(os.environ.get(k) for k in ("RAY_ADDRESS", "RAY_JOB_ID")):
        pytest.skip("already inside a Ray job")
    ray_bin = os.path.join(os.path.dirname(sys.executable), "ray")
    env = {**os.environ, "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": uuid.uuid4().hex * 2,
           "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}
    gcs, dash = free_port(), free_port()
    proc = subprocess.Popen(
        [ray_bin, "start", "--head", "--block", "--node-ip-address", "127.0.0.1", "--port", str(gcs),
         "--dashboard-host", "127.0.0.1", "--dashboard-port", str(dash), "--num-cpus", "2",
         "--disable-usage-stats"],
        env=env, stdout=subprocess.DEVNULL, stderr=open(tmp_path / "head.log", "w"), start_new_session=True)
    address = f"http://127.0.0.1:{dash}"
    deadline = time.time() + 120
    while time.time() < deadline:
        r = subprocess.run([ray_bin, "job", "list", "--address", address], env=env, capture_output=True, text=True)
        if r.returncode == 0:
            break
        if proc.poll() is not None:
            pytest.fail(f"ray start exited: {(tmp_path / 'head.log').read_text()[-2000:]}")
        time.sleep(2)
    else:
        pytest.fail("the dashboard's job API did not come up in 120 s")
    yield ray_bin, address, env
    os.killpg(proc.pid, signal.SIGKILL)  # the head, its GCS, raylet and workers: the whole group
    proc.wait(timeout=30)


def test_ray_job_submit_runs_an_experiment(head, tmp_path):
    ray_bin, address, env = head
    work = tmp_path / "work"
    work.mkdir()
    (work / "job.yaml").write_text(QUICK)
    out = tmp_path / "run"
    deadline = time.time() + 90
    while True:  # the job API answers before the node's job agent is up; the head says "try again later"
        r = subprocess.run(
            [ray_bin, "job", "submit", "--address", address, "--working-dir", str(work), "--",
             sys.executable, "-m", "raybench", "run", "job.yaml", "--out", str(out), "--no-progress"],
            env=env, capture_output=True, text=True, timeout=360)
        if r.returncode == 0 or "No available agent" not in r.stderr + r.stdout or time.time() > deadline:
            break
        time.sleep(3)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert "succeeded" in (r.stdout + r.stderr).lower()
    summary = json.loads((out / "summary.json").read_text())
    assert summary["trials"]["total"] == 6 and summary["status"] == "completed"
    assert (out / "events.msgpack").stat().st_size > 0 and (out / "trials.csv").is_file()
