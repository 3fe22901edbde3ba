import pytest
import torch

import raybench.workloads as wl
from raybench.workloads import Workload, build_workload


def test_public_api_is_exactly_this():
    assert sorted(wl.__all__) == sorted([
        "FFParams", "FeedForwardWorkload", "Splits", "SyntheticWorkload", "Workload", "build_workload",
        "load_factory", "load_splits", "resolve_data_root",
    ])


def test_build_workload_sets_threads_and_returns_a_workload():
    w = build_workload({"dataset": "mnist-5k"}, {}, seed=0, threads=2)
    assert torch.get_num_threads() == 2
    assert isinstance(w, Workload)


@pytest.mark.parametrize("kwargs,match", [({"threads": 0}, "threads"), ({"seed": "a"}, "seed")])
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        build_workload({"dataset": "mnist-5k"}, {}, **{"seed": 0, **kwargs})


def test_unknown_model():
    with pytest.raises(ValueError, match="unknown model 'cnn'"):
        build_workload({"dataset": "mnist-5k", "model": "cnn"}, {}, seed=0)
