"""A node of a real three-node cluster removed mid-run: its trials go on elsewhere, its energy log is kept."""

import time

import pytest
from rb_helpers import events_of, experiment, run
from rel_helpers import Injector, ended_once, read_log, wait_for

pytestmark = pytest.mark.timeout(180)


@pytest.fixture
def cluster():
    """A head that runs no trials (0 CPUs) and two workers of 2 CPUs."""
    import ray
    from ray.cluster_utils import Cluster

    if ray.is_initialized():
        ray.shutdown()
    c = Cluster(initialize_head=True, head_node_args={"num_cpus": 0})
    workers = [c.add_node(num_cpus=2) for _ in range(2)]
    c.wait_for_nodes()
    ray.init(address=c.address, logging_level="ERROR")
    yield c, workers
    ray.shutdown()
    c.shutdown()


def remove_busy_node(c, workers, run_dir, stop):
    """Remove the worker node whose trials have reported at least once; returns (node id, removal time)."""
    def busy():
        reported = {e["trial_id"] for e in read_log(run_dir) if e["event"] == "report"}
        return [e["node_id"] for e in read_log(run_dir) if e["event"] == "trial_started"
                and e["trial_id"] in reported]
    node_ids = wait_for(busy, 90, "a trial to report", stop)
    node = next(w for w in workers if w.node_id == node_ids[0])
    wait_for(lambda: [e for e in read_log(run_dir) if e["event"] == "energy_sample"
                      and e["node_id"] == node.node_id], 30, "an energy sample of the node", stop)
    t = time.time()
    c.remove_node(node, allow_graceful=False)
    return node.node_id, t


def test_trials_of_a_removed_node_continue_on_the_others(cluster, tmp_path):
    c, workers = cluster
    from ray.experimental.internal_kv import _internal_kv_get

    from raybench.runtime import _cluster as cl

    wait_for(lambda: b"autoscaler_report" in (_internal_kv_get("__autoscaling_status") or b""), 30,
             "the monitor's status report")
    assert not cl._has_autoscaler()  # a fixed cluster: feasibility is checked against these nodes
    d = tmp_path / "r"
    cfg = experiment(task={"dataset": "synthetic", "workload": "raybench.testing:sleepy", "epochs": 5,
                           "options": {"epoch_time_s": 0.4}},
                     workers={"count": 4, "cpus": 1, "memory_mb": 256}, budget={"max_trials": 6},
                     pruner={"type": "none"}, max_failures=3)
    remover = Injector(lambda stop: remove_busy_node(c, workers, d, stop))
    summary = run(cfg, d)
    lost_node, t_removed = remover.value()

    events = events_of(d)
    assert events[-1]["event"] == "experiment_end" and summary["status"] == "completed"
    assert ended_once(events) and summary["trials"]["completed"] == 6
    done_before = {e["trial_id"] for e in events if e["event"] == "trial_completed" and e["t"] < t_removed}
    on_lost = {e["trial_id"] for e in events if e["event"] == "trial_started" and e["node_id"] == lost_node
               and e["t"] < t_removed} - done_before
    fails = [e for e in events if e["event"] == "trial_failed"]
    failed = {e["trial_id"] for e in fails}
    assert failed and failed <= on_lost  # (one that had just reported its last epoch may end without a retry)
    assert all(not e["final"] and e["cause"] in ("node_lost", "actor_died") for e in fails)
    # Each failed trial ran again on the surviving node; the one that had reported, from its checkpoint.
    survivor = next(w.node_id for w in workers if w.node_id != lost_node)
    retries = [[e for e in events if e["event"] == "trial_started" and e["trial_id"] == tid][-1] for tid in failed]
    assert all(r["node_id"] == survivor and r["attempt"] == 2 for r in retries)
    assert any(r["from_step"] >= 1 for r in retries)
    # The lost node's energy samples up to its removal stay in the log; none comes after it.
    samples = [e for e in events if e["event"] == "energy_sample" and e["node_id"] == lost_node]
    assert samples and all(s["t1"] <= t_removed + 1.0 for s in samples)
    assert summary["energy"]["buckets"]["total_j"] > 0


def test_losing_every_node_that_fits_a_worker_stops_with_a_clear_error_and_resumes(cluster, tmp_path):
    from raybench.errors import ResourceError

    c, workers = cluster
    d = tmp_path / "r"
    cfg = experiment(task={"dataset": "synthetic", "workload": "raybench.testing:sleepy", "epochs": 4,
                           "options": {"epoch_time_s": 0.4}},
                     workers={"count": 2, "cpus": 2, "memory_mb": 256}, budget={"max_trials": 4},
                     pruner={"type": "none"})

    def remove_all(stop):
        wait_for(lambda: [e for e in read_log(d) if e["event"] == "report"], 90, "a report", stop)
        for w in workers:
            c.remove_node(w)

    remover = Injector(remove_all)
    t0 = time.time()
    with pytest.raises(ResourceError, match="no node left in the cluster can hold a worker"):
        run(cfg, d)
    remover.value()
    assert time.time() - t0 < 60  # it stops instead of waiting for a node forever
    assert events_of(d)[-1]["event"] != "experiment_end"

    c.add_node(num_cpus=2)
    c.wait_for_nodes()
    summary = run(None, d, resume=True)
    events = events_of(d)
    assert summary["status"] == "completed" and summary["trials"]["completed"] == 4 and ended_once(events)
