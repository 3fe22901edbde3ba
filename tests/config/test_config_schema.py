"""The config language: what validates, and the one-line errors for what does not."""

import textwrap

import pytest

from raybench.config import load_config
from raybench.errors import ConfigError
from raybench.search import space as sp

GOOD = """
name: t
search_space:
  lr: {type: loguniform, low: 0.0001, high: 0.1}
  layers: {type: int, low: 1, high: 4}
  act: {type: choice, values: [relu, tanh]}
sampler: {type: tpe, n_startup_trials: 5}
pruner: {type: asha, grace_period: 1, reduction_factor: 3, max_t: 9}
"""


def write(tmp_path, text):
    p = tmp_path / "c.yaml"
    p.write_text(textwrap.dedent(text))
    return str(p)


def error_of(tmp_path, text):
    with pytest.raises(ConfigError) as e:
        load_config(write(tmp_path, text))
    msg = str(e.value)
    assert "\n" not in msg
    return msg


def test_the_shipped_configs_validate():
    import glob

    paths = glob.glob("configs/*.yaml")
    assert "configs/baseline.yaml" in paths
    for p in paths:
        load_config(p)


def test_baseline_is_bashts_baseline():
    c = load_config("configs/baseline.yaml")
    assert c.sampler.type == "grid" and c.pruner.type == "none"
    assert (c.workers.count, c.workers.cpus, c.workers.memory_mb, c.workers.accelerator) == (4, 2, 2048, "none")
    assert set(c.search_space) == {"layer_size", "num_layers", "weight_decay", "lr"}
    assert c.task.dataset == "mnist-5k" and c.task.model == "ff" and c.task.optimizer == "adam"


def test_good_config_maps_to_algorithm_params(tmp_path):
    c = load_config(write(tmp_path, GOOD))
    s = c.space()
    assert s["lr"] == sp.LogUniform(0.0001, 0.1)
    assert s["layers"] == sp.IntRange(1, 4, False)
    assert s["act"] == sp.Choice(("relu", "tanh"))
    assert c.sampler.n_startup_trials == 5 and c.pruner.max_t == 9


@pytest.mark.parametrize("text, needles", [
    ("name: t\nsearch_space: {x: {type: choice, values: [1]}}\nbogus: 1\n", ["unknown key", "bogus", ":3"]),
    ("name: t\nsearch_space: {x: {type: uniform, low: 2, high: 1}}\nsampler: {type: random}\n",
     ["low must be < high", "search_space.x"]),
    ("name: t\nsearch_space: {x: {type: choice, values: [1]}}\nworkers: {cpus: -1}\n", ["workers.cpus", "-1"]),
    ("name: t\nsearch_space: {x: {type: choice, values: [1]}}\nsampler: {type: bayes}\n", ["sampler", "bayes"]),
    ("name: t\nsearch_space: {x: {type: choice, values: [1]}}\npruner: {type: bohb}\n", ["pruner", "hyperband"]),
    ("name: t\nsearch_space: {x: {type: uniform, low: 0, high: 1}}\n", ["grid", "search_space.x", "random or tpe"]),
    ("name: t\nsearch_space: {x: {type: choice, values: [1]}}\ntask: {epochs: many}\n", ["task.epochs", "many"]),
    ("name: t\nsearch_space:\n  x: {type: choice, values: [1]\n", ["bad YAML", "line"]),
    ("name: t\nsearch_space: {x: {type: choice, values: [1]}}\nworkers: {accelerator: GPU}\n",
     ["accelerators_per_worker"]),
    ("search_space: {x: {type: choice, values: [1]}}\n", ["'name' is required"]),
    ("- just\n- a list\n", ["mapping"]),
])
def test_bad_configs_get_one_actionable_line(tmp_path, text, needles):
    msg = error_of(tmp_path, text)
    for n in needles:
        assert n in msg, (n, msg)


def test_missing_file_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="no such file"):
        load_config(str(tmp_path / "nope.yaml"))
