import msgpack
import pytest
import torch
from torch import nn

from raybench.workloads import FeedForwardWorkload, FFParams, build_workload, load_splits
from raybench.workloads._ff import build_model

TASK = {"dataset": "mnist-5k", "model": "ff", "optimizer": "adam", "epochs": 5, "batch_size": 64,
        "data_root": None, "download": False, "workload": None, "options": {}}


def _small_splits(n=600):
    """The mnist-5k split cut down, so that an epoch takes a few milliseconds."""
    s = load_splits("mnist-5k")
    return type(s)(s.train_x[:n], s.train_y[:n], s.val_x[:200], s.val_y[:200], s.test_x[:200], s.test_y[:200],
                   s.n_classes)


def test_defaults_and_unknown_names():
    assert FFParams.from_dict({}) == FFParams(64, 1, 0.0, 1e-3)
    assert FFParams.from_dict({"layer_size": 128.0, "lr": 1}) == FFParams(128, 1, 0.0, 1.0)
    with pytest.raises(ValueError, match="'dropout'.*layer_size, num_layers, weight_decay, lr"):
        FFParams.from_dict({"dropout": 0.5})


@pytest.mark.parametrize("params,match", [({"layer_size": 0}, "layer_size"), ({"num_layers": 1.5}, "whole"),
                                          ({"lr": 0.0}, "lr"), ({"weight_decay": -1e-3}, "weight_decay"),
                                          ({"lr": "fast"}, "number"), ({"layer_size": float("nan")}, "whole")])
def test_bad_values_name_the_parameter(params, match):
    with pytest.raises(ValueError, match=match):
        FFParams.from_dict(params)


def test_unknown_params_fail_through_build_workload_before_loading_data():
    with pytest.raises(ValueError, match="unknown hyperparameter"):
        build_workload({**TASK, "dataset": "mnist", "data_root": "/nonexistent"}, {"ls": 32}, seed=0)


def test_model_has_relu_between_every_linear_layer():
    m = build_model(784, 10, FFParams(layer_size=16, num_layers=3))
    kinds = [type(x) for x in m]
    assert kinds == [nn.Linear, nn.ReLU] * 3 + [nn.Linear]
    assert m[-1].out_features == 10


def _run(wl, epochs):
    return [(wl.train_epoch(e), wl.evaluate()) for e in range(epochs)]


def test_same_seed_same_run_other_seed_other_run_global_rng_untouched():
    splits = _small_splits()
    before = torch.random.get_rng_state()
    a = _run(FeedForwardWorkload(splits, FFParams(), seed=7), 2)
    b = _run(FeedForwardWorkload(splits, FFParams(), seed=7), 2)
    c = _run(FeedForwardWorkload(splits, FFParams(), seed=8), 2)
    assert a == b and a != c
    assert torch.equal(torch.random.get_rng_state(), before)


@pytest.mark.parametrize("optimizer", ["adam", "sgd"])
def test_checkpoint_through_msgpack_resumes_exactly(optimizer):
    splits = _small_splits()
    p = FFParams(layer_size=32, num_layers=2, weight_decay=1e-4)
    a = FeedForwardWorkload(splits, p, optimizer=optimizer, seed=1)
    a.train_epoch(0)
    blob = msgpack.packb(a.state())  # plain msgpack: no pickle, no custom hooks
    expected = _run(a, 2)
    b = FeedForwardWorkload(splits, p, optimizer=optimizer, seed=999)  # another seed: the state must win
    b.load_state(msgpack.unpackb(blob))
    assert _run(b, 2) == expected
    assert b.state()["epochs_done"] == a.state()["epochs_done"] == 3
    for x, y in zip(a._model.parameters(), b._model.parameters()):
        assert torch.equal(x, y)


def test_checkpoint_of_another_format_is_refused():
    wl = FeedForwardWorkload(_small_splits(), FFParams(), seed=0)
    with pytest.raises(ValueError, match="format"):
        wl.load_state({"format": 99})


def test_bad_optimizer_and_batch_size():
    with pytest.raises(ValueError, match="'rmsprop'"):
        FeedForwardWorkload(_small_splits(), FFParams(), optimizer="rmsprop")
    with pytest.raises(ValueError, match="batch_size"):
        FeedForwardWorkload(_small_splits(), FFParams(), batch_size=0)


def test_a_good_config_reaches_088_test_accuracy_in_5_epochs():
    wl = build_workload(TASK, {"layer_size": 128, "num_layers": 2, "lr": 1e-3}, seed=0, threads=1)
    first = wl.train_epoch(0)
    for e in range(1, 5):
        last = wl.train_epoch(e)
    assert last["train_loss"] < first["train_loss"]
    val, test = wl.evaluate(), wl.test()
    assert set(val) == {"val_loss", "val_accuracy"} and set(test) == {"test_loss", "test_accuracy"}
    assert test["test_accuracy"] >= 0.88 and val["val_accuracy"] >= 0.88
    assert torch.get_num_threads() == 1
