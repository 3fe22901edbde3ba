"""Whether a worker shape fits the cluster's nodes (runtime/_cluster.py): the counts and the one-line error
naming the fix, without Ray (tests/reliability/test_reliability_cli.py runs one case end to end)."""

import pytest
from rb_helpers import experiment

from raybench.core.records import WorkerShape
from raybench.errors import ResourceError
from raybench.runtime._cluster import NodeShape, check_feasible, effective_concurrency, slots_on


def node(cpus=2.0, memory_mb=8000.0, gpus=0.0, tpus=0.0):
    return NodeShape(node_id="n", host="h", cpus=cpus, memory_mb=memory_mb, gpus=gpus, tpus=tpus)


def shape(**workers):
    return WorkerShape.of(experiment(workers={"count": 4, **workers}).workers)


def test_slots_count_the_scarcest_resource_and_concurrency_is_capped_by_the_request():
    req = shape(cpus=1, memory_mb=3000)
    assert slots_on(node(cpus=4, memory_mb=8000), req) == 2  # memory allows 2 of the 4 CPUs' worth
    assert slots_on(node(cpus=0.5), req) == 0
    assert effective_concurrency([node(cpus=4, memory_mb=8000), node(cpus=1, memory_mb=8000)], req, 4) == 3
    assert effective_concurrency([node(cpus=64, memory_mb=1e6)], req, 4) == 4
    check_feasible([node(cpus=0.5), node(cpus=1)], req)  # one node fits: no error


@pytest.mark.parametrize("workers, says", [
    ({"cpus": 1, "memory_mb": 256, "accelerator": "GPU", "accelerators_per_worker": 1},
     "workers ask for 1 GPU each but the largest node has 0; set workers.accelerator: none"),
    ({"cpus": 1, "memory_mb": 256, "accelerator": "TPU", "accelerators_per_worker": 4},
     "workers ask for 4 TPU each but the largest node has 0"),
    ({"cpus": 4, "memory_mb": 256}, "workers.cpus = 4 but the largest node has 2 CPUs; set workers.cpus <= 2"),
    ({"cpus": 1, "memory_mb": 100000000},
     "workers.memory_mb = 100000000 but the largest node offers 8000 MB to Ray; set workers.memory_mb <= 8000"),
])
def test_a_shape_no_node_can_hold_is_one_line_naming_the_fix(workers, says):
    with pytest.raises(ResourceError) as e:
        check_feasible([node(), node(cpus=1, memory_mb=4000)], shape(**workers))
    assert str(e.value).startswith(says) and "\n" not in str(e.value)
