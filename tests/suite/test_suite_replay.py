"""`raybench suite --replay GRID_RUN`: S-Pru and S-Sam as replays of one full grid run, in seconds and
without Ray (the grid run itself is a replay of a table of synthetic curves here)."""

import csv
import itertools
import json
import os

import pytest

from raybench.cli._main import main
from raybench.search.space import Choice
from raybench.search.synthetic import SyntheticObjective

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SPACE = {"layer_size": [32, 64, 128], "num_layers": [1, 2, 3], "weight_decay": [0.0, 0.0001, 0.001],
         "lr": [0.0001, 0.001, 0.01]}


@pytest.fixture(scope="module")
def grid_run(tmp_path_factory):
    d = tmp_path_factory.mktemp("grid")
    obj = SyntheticObjective({k: Choice(tuple(v)) for k, v in SPACE.items()}, seed=0)
    with open(d / "curves.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["epoch", "value", "seconds", "joules", *(f"param.{k}" for k in SPACE)])
        for values in itertools.product(*SPACE.values()):
            for epoch in range(1, 6):
                w.writerow([epoch, obj.curve(dict(zip(SPACE, values)), epoch), 0.5, 2.0, *values])
    assert main(["replay", "--curves", str(d / "curves.csv"), "--out", str(d / "run"), "--workers", "1"]) == 0
    return d / "run"


@pytest.mark.parametrize("suite, labels", [("s-pru", ["none", "median", "asha"]),
                                           ("s-sam", ["grid-81", "random-27", "tpe-27"])])
def test_a_pruner_or_sampler_suite_replays_every_variant(grid_run, tmp_path, suite, labels):
    out = tmp_path / suite
    path = os.path.join(ROOT, "configs", "experiments", f"{suite}.yaml")
    assert main(["suite", path, "--replay", str(grid_run), "--out", str(out)]) == 0
    doc = json.loads((out / "suite.json").read_text())
    rows = doc["runs"] if "runs" in doc else doc["rows"]
    assert [r["label"] for r in rows][::3] == labels and all(r["status"] == "completed" for r in rows)
    from raybench.events import read_events

    for r in rows:  # each row's run directory (relative to the suite's) holds a replayed run
        events = read_events(out / r["run_dir"] / "events.msgpack").events
        assert events[0]["replay_of"]["path"] == str(grid_run)
        assert {e["provenance"]["cpu"] for e in events if e["event"] == "energy_sample"} == {"replayed"}
    by = {r["label"]: r for r in rows if r["seed"] == 0}
    if suite == "s-pru":  # pruning runs fewer epochs for fewer joules than the grid it replays
        assert by["asha"]["energy_j"] < by["none"]["energy_j"] and by["asha"]["pruned"] > 0
    else:  # random and TPE draw 27 of the 81 recorded configs
        assert by["grid-81"]["trials"] == 81 and by["random-27"]["trials"] == by["tpe-27"]["trials"] == 27


def test_a_resource_suite_cannot_be_replayed(grid_run, tmp_path, capsys):
    path = os.path.join(ROOT, "configs", "experiments", "r-cpu.yaml")
    assert main(["suite", path, "--replay", str(grid_run), "--out", str(tmp_path / "x")]) == 2
    assert "a replay can vary only" in capsys.readouterr().err
