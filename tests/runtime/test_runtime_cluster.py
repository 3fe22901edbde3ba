"""Trial actors spread over the nodes of a real multi-node cluster, each node with its energy actor."""

import collections

import pytest
from rb_helpers import events_of, experiment, run

pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
def three_nodes():
    import ray
    from ray.cluster_utils import Cluster

    if ray.is_initialized():
        ray.shutdown()
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
    for _ in range(2):
        cluster.add_node(num_cpus=1)
    cluster.wait_for_nodes()
    ray.init(address=cluster.address, logging_level="ERROR")
    yield cluster
    ray.shutdown()
    cluster.shutdown()


def test_trial_actors_spread_over_three_nodes(three_nodes, tmp_path):
    cfg = experiment(workers={"count": 3, "cpus": 1, "memory_mb": 1024},
                     task={"dataset": "synthetic", "epochs": 3, "options": {"epoch_time_s": 0.2}},
                     budget={"max_trials": 9}, pruner={"type": "none"})
    summary = run(cfg, tmp_path / "r")
    events = events_of(tmp_path / "r")
    assert summary["concurrency"] == {"requested": 3, "effective": 3}
    workers_by_node = collections.defaultdict(set)
    for e in events:
        if e["event"] == "trial_started":
            workers_by_node[e["node_id"]].add(e["worker"])
    assert len(workers_by_node) == 3, workers_by_node  # one worker slot on each node
    joined = {e["node_id"] for e in events if e["event"] == "node_joined"}
    sampled = {e["node_id"] for e in events if e["event"] == "energy_sample"}
    assert joined == set(workers_by_node) == sampled
    assert summary["trials"]["completed"] == 9
