"""Suite files without Ray: every shipped suite expands into valid configs (full and quick), the merge
rules, bad files as one-line errors, and the stopping rule."""

import glob
import math
import os

import pytest

from raybench.config import ExperimentConfig
from raybench.errors import ConfigError
from raybench.suite import check, load_suite, relative_gain, run_suite
from raybench.suite._spec import merge, set_key

pytestmark = pytest.mark.timeout(60)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SUITES = sorted(glob.glob(os.path.join(ROOT, "configs", "experiments", "*.yaml")))
BASELINE = os.path.join(ROOT, "configs", "baseline.yaml")


def grid_size(cfg: ExperimentConfig) -> int:
    return math.prod(len(p.values) for p in cfg.search_space.values())


def test_the_seven_basht_experiments_ship_as_suites():
    names = {load_suite(p).name for p in SUITES}
    assert names == {"r-mem", "r-cpu", "r-acl", "r-node", "s-sam", "s-pru", "s-phi"}


@pytest.mark.parametrize("quick", [False, True], ids=["full", "quick"])
@pytest.mark.parametrize("path", SUITES, ids=[os.path.basename(p) for p in SUITES])
def test_every_shipped_suite_expands_into_valid_configs(path, quick):
    s = load_suite(path, quick=quick)
    assert s.question and len(s.labels) == len(s.values) >= 1
    assert len(s.variants) == len(s.values) * len(s.seeds)
    assert all(isinstance(v.config, ExperimentConfig) for v in s.variants)
    assert len({v.dir_name for v in s.variants}) == len(s.variants)
    assert len({v.config.name for v in s.variants}) == len(s.variants)
    assert {v.config.seed for v in s.variants} == set(s.seeds)
    cfg = s.variants[0].config
    assert (cfg.task.dataset, cfg.task.model, cfg.task.optimizer) == ("mnist-5k", "ff", "adam")  # the baseline
    if quick:
        full = load_suite(path)
        assert len(s.variants) < len(full.variants)
        assert cfg.task.epochs <= full.variants[0].config.task.epochs
        assert len(s.seeds) == 1


def test_shipped_suites_vary_what_basht_says():
    mem = load_suite(os.path.join(ROOT, "configs/experiments/r-mem.yaml"))
    steps = [v.config.workers.memory_mb for v in mem.variants[::len(mem.seeds)]]
    assert steps[0] == 128 and all(b - a == 128 for a, b in zip(steps, steps[1:]))
    assert mem.converge.metric == "jct_s" and mem.numeric
    assert all(v.config.workers.count == 4 for v in mem.variants)
    sam = {v.label: v.config for v in load_suite(os.path.join(ROOT, "configs/experiments/s-sam.yaml")).variants}
    assert grid_size(sam["grid-81"]) == 81 and sam["grid-81"].budget.max_trials is None
    assert sam["random-27"].sampler.type == "random" and sam["random-27"].budget.max_trials == 27
    assert sam["tpe-27"].sampler.type == "tpe" and sam["tpe-27"].budget.max_trials == 27
    pru = load_suite(os.path.join(ROOT, "configs/experiments/s-pru.yaml"))
    assert [v.config.pruner.type for v in pru.variants[::3]] == ["none", "median", "asha"]
    phi = load_suite(os.path.join(ROOT, "configs/experiments/s-phi.yaml"))
    sizes = [grid_size(v.config) for v in phi.variants[::3]]
    assert sizes[0] < 81 == sizes[1] < sizes[2]
    acl = load_suite(os.path.join(ROOT, "configs/experiments/r-acl.yaml"), quick=True)
    assert [(v.config.workers.accelerator, v.config.workers.accelerators_per_worker) for v in acl.variants] == [
        ("none", 0), ("GPU", 1), ("TPU", 1)]


def test_overrides_merge_settings_and_replace_typed_blocks():
    base = {"workers": {"count": 4, "cpus": 2}, "pruner": {"type": "asha", "grace_period": 2},
            "search_space": {"a": {"type": "choice", "values": [1]}, "b": {"type": "choice", "values": [2]}}}
    out = merge(base, {"workers": {"cpus": 1}, "pruner": {"type": "median"},
                       "search_space": {"a": {"type": "choice", "values": [3]}}})
    assert out["workers"] == {"count": 4, "cpus": 1}
    assert out["pruner"] == {"type": "median"}
    assert out["search_space"] == {"a": {"type": "choice", "values": [3]}}
    assert set_key(base, "workers.memory_mb", 256)["workers"] == {"count": 4, "cpus": 2, "memory_mb": 256}
    assert base["workers"] == {"count": 4, "cpus": 2}  # untouched


def write(tmp_path, text, name="s.yaml"):
    p = tmp_path / name
    p.write_text(text)
    return str(p)


def test_a_range_expands_to_ints_or_floats(tmp_path):
    p = write(tmp_path, f"base: {BASELINE}\nfactor: workers.cpus\nvalues: {{start: 0.5, step: 0.5, max: 2}}\n")
    assert load_suite(p).values == (0.5, 1.0, 1.5, 2.0)
    p = write(tmp_path, f"base: {BASELINE}\nfactor: workers.memory_mb\nvalues: {{start: 256, step: 256, max: 1000}}\n")
    s = load_suite(p)
    assert s.values == (256, 512, 768) and all(type(v) is int for v in s.values)
    assert s.name == "s" and s.seeds == (0,)


def test_an_inline_base_and_a_quick_block(tmp_path):
    p = write(tmp_path, """
name: inline
base:
  task: {dataset: synthetic, epochs: 5}
  search_space: {x: {type: choice, values: [1, 2]}}
factor: [sampler, budget.max_trials]
values: [[{type: grid}, null], [{type: random}, 1]]
labels: [grid, random-1]
seeds: [0, 1]
converge: {metric: energy_j, threshold: 0.1, k: 1}
quick:
  base: {task: {epochs: 2}}
  seeds: [7]
  converge: null
""")
    full, quick = load_suite(p), load_suite(p, quick=True)
    assert [v.dir_name for v in full.variants] == ["01-grid-s0", "01-grid-s1", "02-random-1-s0", "02-random-1-s1"]
    assert full.converge.metric == "energy_j" and quick.converge is None
    assert [v.config.task.epochs for v in quick.variants] == [2, 2] and quick.seeds == (7,)
    assert quick.variants[1].config.budget.max_trials == 1 and quick.variants[1].config.sampler.type == "random"
    assert not full.numeric


BAD = [
    ("syntax", "factor: [unclosed\n", "bad YAML at line"),
    ("toplist", "- a\n", "expected a YAML mapping"),
    ("unknown-key", "base: {}\nfactor: workers.cpus\nvalues: [1]\nsedes: [0]\n", "unknown key 'sedes'"),
    ("no-factor", "base: {}\nvalues: [1]\n", "'factor' is required"),
    ("factor-typo", "base: {}\nfactor: workers.memroy_mb\nvalues: [1]\n", "workers has no key 'memroy_mb'"),
    ("factor-seed", "base: {}\nfactor: seed\nvalues: [1]\n", "vary seeds with `seeds:`"),
    ("range-backwards", "base: {}\nfactor: workers.cpus\nvalues: {start: 4, step: 1, max: 2}\n", "start must be <= max"),
    ("range-step", "base: {}\nfactor: workers.cpus\nvalues: {start: 1, step: 0, max: 2}\n", "range step: Input should be greater than 0"),
    ("pair-shape", "base: BASE\nfactor: [workers.accelerator, workers.accelerators_per_worker]\nvalues: [GPU]\n",
     "each value must be a list of 2"),
    ("labels", "base: BASE\nfactor: workers.cpus\nvalues: [1, 2]\nlabels: [one]\n", "labels has 1 entries for 2"),
    ("same-label", "base: BASE\nfactor: sampler\nvalues: [{type: tpe}, {type: tpe, gamma: 0.2}]\n",
     "share the label 'tpe'"),
    ("bad-value", "base: BASE\nfactor: workers.memory_mb\nvalues: [1024, 32]\n",
     "value '32': workers.memory_mb = 32: Input should be greater than or equal to 64"),
    ("bad-quick", "base: BASE\nfactor: workers.cpus\nvalues: [1]\nquick: {values: [0]}\n", None),
    ("no-base-file", "base: nowhere.yaml\nfactor: workers.cpus\nvalues: [1]\n", "base 'nowhere.yaml'"),
    ("base-list", "base: list.yaml\nfactor: workers.cpus\nvalues: [1]\n", "is not a YAML mapping"),
    ("empty-seeds", "base: BASE\nfactor: workers.cpus\nvalues: [1]\nseeds: []\n", "seeds is empty"),
    ("threshold", "base: BASE\nfactor: workers.cpus\nvalues: [1]\nconverge: {threshold: 2}\n", "converge.threshold"),
    ("converge-metric", "base: BASE\nfactor: workers.cpus\nvalues: [1]\nconverge: {metric: accuracy}\n",
     "converge.metric"),
    ("empty-values", "base: BASE\nfactor: workers.cpus\nvalues: []\n", "values is empty"),
    ("null-values", "base: BASE\nfactor: workers.cpus\nvalues:\n", "values is empty"),
    ("values-scalar", "base: BASE\nfactor: workers.cpus\nvalues: 4\n", "expected a list of values"),
    ("base-invalid", "base: {name: x}\nfactor: workers.cpus\nvalues: [1]\n", "'search_space' is required"),
]


@pytest.mark.parametrize("text,expected", [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_bad_suite_files_are_one_line_errors(tmp_path, text, expected):
    (tmp_path / "list.yaml").write_text("- 1\n")
    p = write(tmp_path, text.replace("BASE", BASELINE))
    with pytest.raises(ConfigError) as e:
        load_suite(p, quick="quick" in text)
    msg = str(e.value)
    assert "\n" not in msg and msg.startswith(p)
    if expected:
        assert expected in msg, msg


def test_a_missing_suite_file_is_refused_before_anything_is_written(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match="no such file"):
        run_suite("nope.yaml", out=None, address=None, quick=False, console=None)
    assert os.listdir(tmp_path) == []


# ---- the stopping rule -------------------------------------------------------------------------

def test_converges_once_the_gain_stays_under_the_threshold_k_times():
    c = check([100.0, 60.0, 58.0, 57.5, 57.0], threshold=0.05, k=2)
    assert c.converged and c.at == 3
    assert c.gains[0] is None and c.gains[1] == pytest.approx(0.4) and c.gains[2] == pytest.approx(2 / 60)
    assert check([100.0, 60.0, 58.0], threshold=0.05, k=2).converged is False
    assert check([100.0, 99.0], threshold=0.05, k=1).at == 1


def test_a_big_gain_resets_the_count_and_getting_worse_counts_as_no_gain():
    assert not check([100.0, 99.0, 50.0, 49.0], threshold=0.05, k=2).converged
    c = check([100.0, 110.0, 109.0], threshold=0.05, k=2)
    assert c.converged and c.gains[1] == pytest.approx(-0.1)


def test_values_that_do_not_count_are_left_out_of_the_comparison():
    # e.g. R-MEM: the lowest memory sizes fail their trials, so their fast JCT must not end the sweep.
    c = check([None, None, 100.0, 50.0, 49.0, 48.5], threshold=0.05, k=2)
    assert c.converged and c.at == 5 and c.gains[:3] == (None, None, None)
    assert check([100.0, None, 99.0, None, 98.5], threshold=0.05, k=2).at == 4
    assert not check([None, None], threshold=0.05, k=1).converged


def test_relative_gain_and_argument_checks():
    assert relative_gain(10.0, 8.0) == pytest.approx(0.2)
    assert relative_gain(0.0, 0.0) == 0.0
    with pytest.raises(ValueError, match="k must be"):
        check([1.0], threshold=0.05, k=0)
    with pytest.raises(ValueError, match="threshold"):
        check([1.0], threshold=0.0, k=1)
