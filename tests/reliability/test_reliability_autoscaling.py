"""Autoscaling with Ray's fake multi-node provider: the autoscaler adds worker nodes for the trial actors,
trials run there, and each new node gets its energy actor.

`ray.cluster_utils.AutoscalingCluster` cannot be used here: its start() and shutdown() run `ray stop --force`,
which kills every Ray process of the machine (other people's too), and Ray 2.60's wheel lacks the
fake_multi_node/example.yaml it reads. This fixture starts the same thing by hand: `ray start --head` with a
fake_multinode autoscaling config, in a session of its own that the test kills as a group.
"""

import json
import os
import signal
import socket
import subprocess
import sys
import time

import pytest
from rb_helpers import events_of, experiment, run
from rel_helpers import ended_once, wait_for

from raybench.runtime import _cluster as cl

pytestmark = pytest.mark.timeout(180)

MB = 1024 * 1024


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def fake_autoscaler_config(gcs_port):
    """A head with no CPUs, and up to two 2-CPU workers that the autoscaler launches on demand."""
    return {
        "cluster_name": "raybench-fake", "max_workers": 2, "upscaling_speed": 1.0, "idle_timeout_minutes": 5,
        "provider": {"type": "fake_multinode", "use_node_id_as_ip": True, "disable_node_updaters": True,
                     "disable_launch_config_check": True, "gcs_address": f"127.0.0.1:{gcs_port}"},
        "available_node_types": {
            "ray.head.default": {"resources": {"CPU": 0}, "node_config": {}, "max_workers": 0},
            "worker": {"resources": {"CPU": 2, "memory": 1024 * MB}, "node_config": {}, "min_workers": 0,
                       "max_workers": 2}},
        "head_node_type": "ray.head.default", "auth": {}, "docker": {}, "file_mounts": {},
        "cluster_synced_files": [], "file_mounts_sync_continuously": False, "rsync_exclude": [],
        "rsync_filter": [], "initialization_commands": [], "setup_commands": [], "head_setup_commands": [],
        "worker_setup_commands": [], "head_start_ray_commands": [], "worker_start_ray_commands": [],
    }


@pytest.fixture
def autoscaling_cluster(tmp_path):
    import ray

    if ray.is_initialized():
        ray.shutdown()
    ray_bin = os.path.join(os.path.dirname(sys.executable), "ray")
    shim = os.path.join(os.path.dirname(__file__), "fake_autoscaler")  # sitecustomize: node types with memory
    env = {**os.environ, "RAY_FAKE_CLUSTER": "1", "AUTOSCALER_UPDATE_INTERVAL_S": "1", "RAY_AUTH_MODE": "token",
           "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",
           "PYTHONPATH": os.pathsep.join(p for p in (shim, os.environ.get("PYTHONPATH")) if p)}
    if "RAY_AUTH_TOKEN" not in env and not os.path.exists(os.path.expanduser("~/.ray/auth_token")):
        # The head and this process must hold one token; this is where a local ray.init() keeps it too.
        subprocess.run([ray_bin, "get-auth-token", "--generate"], env=env, capture_output=True, check=True)
    port = free_port()
    config = tmp_path / "autoscaler.json"
    config.write_text(json.dumps(fake_autoscaler_config(port)))
    head = subprocess.Popen(
        [ray_bin, "start", "--head", "--block", f"--autoscaling-config={config}", f"--port={port}", "--num-cpus=0",
         "--node-ip-address=127.0.0.1", "--dashboard-host=127.0.0.1", f"--dashboard-port={free_port()}",
         f"--ray-client-server-port={free_port()}", "--disable-usage-stats"],
        env=env, stdout=open(tmp_path / "head.log", "w"), stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.time() + 60
        while True:
            try:
                ray.init(address=f"127.0.0.1:{port}", logging_level="ERROR")
                break
            except ConnectionError:
                if time.time() > deadline or head.poll() is not None:
                    pytest.fail(f"the fake autoscaling head did not start: {(tmp_path / 'head.log').read_text()[-2000:]}")
                time.sleep(1)
        # The autoscaler publishes its first status a few seconds after the head starts.
        wait_for(cl._has_autoscaler, 30, "the autoscaler's status report", interval=0.5)
        yield ray
    finally:
        ray.shutdown()
        os.killpg(head.pid, signal.SIGKILL)  # the head, its autoscaler, and the nodes the autoscaler started
        head.wait(timeout=30)


def test_worker_nodes_are_added_and_get_trials_and_energy_actors(autoscaling_cluster, tmp_path):
    ray = autoscaling_cluster
    head_id = ray.get_runtime_context().get_node_id()
    assert [n.cpus for n in cl.alive_nodes()] == [0.0]  # nothing fits yet: only the autoscaler can help
    d = tmp_path / "r"
    # Trials of 2 s, three per node: the driver looks for new nodes every 2 s, so their energy actors start
    # while trials still run there.
    cfg = experiment(task={"dataset": "synthetic", "workload": "raybench.testing:sleepy", "epochs": 4,
                           "options": {"epoch_time_s": 0.5}},
                     workers={"count": 2, "cpus": 2, "memory_mb": 256}, budget={"max_trials": 6},
                     pruner={"type": "none"})
    summary = run(cfg, d)

    events = events_of(d)
    assert summary["status"] == "completed" and summary["trials"]["completed"] == 6 and ended_once(events)
    assert summary["concurrency"] == {"requested": 2, "effective": 2}
    trial_nodes = {e["node_id"] for e in events if e["event"] == "trial_started"}
    assert trial_nodes and head_id not in trial_nodes
    joined = {e["node_id"] for e in events if e["event"] == "node_joined"}
    assert trial_nodes <= joined and head_id in joined  # each new node got its energy actor
    sampled = {e["node_id"] for e in events if e["event"] == "energy_sample"}
    assert trial_nodes <= sampled
    tracked = [e for e in events if e["event"] == "energy_sample" and e["node_id"] in trial_nodes and e["trial_cpu_s"]]
    assert tracked, "no trial was tracked by the energy actor of its node"


def test_the_autoscaler_guess_reads_the_monitor_report():
    fixed = {"active_nodes": {"node_bc20": 1, "node_8e8a": 1}, "pending_nodes": [], "pending_launches": {},
             "legacy": True}
    scaling = {"active_nodes": {"ray.head.default": 1}, "pending_nodes": [], "pending_launches": {"worker": 1},
               "legacy": True}
    assert not cl.autoscaling_in_report(fixed)
    assert cl.autoscaling_in_report(scaling)
    assert cl.autoscaling_in_report({"active_nodes": {}, "legacy": False})  # autoscaler v2
    assert not cl.autoscaling_in_report({})
