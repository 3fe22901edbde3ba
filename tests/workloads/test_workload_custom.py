import sys
import textwrap
from pathlib import Path

import pytest

from raybench.config import load_config
from raybench.errors import ConfigError
from raybench.workloads import build_workload, load_factory

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def modules(tmp_path, monkeypatch):
    """Writes modules into a fresh directory on sys.path."""
    monkeypatch.syspath_prepend(str(tmp_path))

    def write(name, body):
        (tmp_path / f"{name}.py").write_text(textwrap.dedent(body))
        sys.modules.pop(name, None)
    return write


def test_a_custom_factory_gets_params_task_and_seed(modules):
    modules("wl_ok", """
        class W:
            def __init__(self, params, task, seed): self.args = (params, task, seed)
            def train_epoch(self, epoch): return {}
            def evaluate(self): return {"val_accuracy": 1.0, "val_loss": 0.0}
            def test(self): return {"test_accuracy": 1.0}
            def state(self): return {}
            def load_state(self, state): pass
        def make(params, task, seed): return W(params, task, seed)
    """)
    task = {"workload": "wl_ok:make", "options": {"k": 1}}
    wl = build_workload(task, {"a": 1}, seed=5)
    assert wl.args == ({"a": 1}, task, 5)


@pytest.mark.parametrize("body,ref,match", [
    ("raise ImportError('needs xgboost')", "wl_bad:make", "does not import .*ImportError: needs xgboost"),
    ("x = 1", "wl_none:make", "has no attribute 'make'"),
    ("make = 42", "wl_int:make", "'make' is a int, not a function"),
    ("def make(p, t, s): return object()", "wl_obj:make", "without train_epoch, evaluate, test, state, load_state"),
])
def test_errors_say_what_is_wrong(modules, body, ref, match):
    modules(ref.split(":")[0], body)
    with pytest.raises(ConfigError, match=match):
        build_workload({"workload": ref}, {}, seed=0)


def test_a_module_that_does_not_exist():
    with pytest.raises(ConfigError, match="'no_such_mod_xyz' does not import"):
        load_factory("no_such_mod_xyz:make")
    with pytest.raises(ConfigError, match="module:function"):
        load_factory("no_colon")


def test_the_sklearn_example_trains_two_epochs_and_resumes(monkeypatch):
    pytest.importorskip("sklearn")
    monkeypatch.chdir(REPO)  # examples.sklearn_gbm is found from the working directory
    cfg = load_config(str(REPO / "examples" / "sklearn_gbm.yaml"))
    task = {**cfg.task.model_dump(), "options": {"iters_per_epoch": 2}}
    params = {"learning_rate": 0.3, "max_depth": 2}
    wl = build_workload(task, params, seed=0)
    wl.train_epoch(0)
    state = wl.state()
    second = wl.train_epoch(1), wl.evaluate()
    assert second[1]["val_accuracy"] > 0.5 and set(second[1]) == {"val_accuracy", "val_loss"}
    assert wl.test()["test_accuracy"] > 0.5
    resumed = build_workload(task, params, seed=0)
    resumed.load_state(state)
    assert (resumed.train_epoch(1), resumed.evaluate()) == second
