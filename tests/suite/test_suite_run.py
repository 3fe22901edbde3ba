"""Suites on a real local Ray instance (CPU only): a tiny 2 x 2 suite end to end, resuming a suite that was
cut off, and R-ACL's accelerator variants skipped with the reason on a cluster without accelerators."""

import io
import json
import os
import statistics

import pytest
import yaml
from rich.console import Console

from raybench.suite import load_suite, run_suite

pytestmark = pytest.mark.timeout(240)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

TINY = {
    "name": "tiny",
    "question": "Does a second worker shorten a three-trial job?",
    "base": {
        "task": {"dataset": "synthetic", "epochs": 3, "options": {"epoch_time_s": 0.1}},
        "search_space": {"x": {"type": "choice", "values": [0.1, 0.5, 0.9]}},
        "workers": {"count": 1, "cpus": 1, "memory_mb": 1024},
        "energy": {"backend": "estimate", "gpu": "none", "baseline_s": 0.5, "interval_s": 0.5},
    },
    "factor": "workers.count",
    "values": [1, 2, 3],
    "seeds": [0, 1],
    # Any gain under 99 % counts as none: the rule stops after the second value, and 3 never runs.
    "converge": {"metric": "jct_s", "threshold": 0.99, "k": 1},
}


def suite_file(tmp_path, spec, name="suite.yaml"):
    p = tmp_path / name
    p.write_text(yaml.safe_dump(spec, sort_keys=False))
    return str(p)


def run(path, out, **kw):
    buf = io.StringIO()
    code = run_suite(path, out=str(out), address=None, quick=kw.pop("quick", False),
                     console=Console(file=buf, width=200), progress=False)
    return code, buf.getvalue()


def test_a_tiny_suite_runs_every_variant_and_summarises_them(local_ray, tmp_path):
    out = tmp_path / "out"
    code, text = run(suite_file(tmp_path, TINY), out)
    assert code == 0, text
    dirs = ["01-1-s0", "01-1-s1", "02-2-s0", "02-2-s1"]
    for d in dirs:
        with open(out / d / "summary.json") as f:
            assert json.load(f)["status"] == "completed"
    with open(out / "suite.json") as f:
        doc = json.load(f)
    assert doc["status"] == "completed" and doc["factor"] == "workers.count" and doc["values"] == ["1", "2", "3"]
    assert [r["run_dir"] for r in doc["runs"]] == dirs and not (out / "03-3-s0").exists()
    assert doc["converge"]["converged"] and doc["converge"]["at"] == "2" and doc["not_run"] == ["3"]
    assert doc["by_value"][2]["status"] == "not run" and doc["by_value"][2]["jct_s"] is None
    for r in doc["runs"]:
        assert r["status"] == "completed" and r["jct_s"] > 0 and r["energy_j"] > 0
        assert r["provenance"] == "estimated" and r["trials"] == 3 and r["failed"] == 0
        assert r["test_accuracy"] is not None and r["cost"] > 0 and r["waste_fraction"] is not None
    for agg in doc["by_value"][:2]:
        mine = [r for r in doc["runs"] if r["index"] == agg["index"]]
        jcts = [r["jct_s"] for r in mine]
        assert agg["finished"] == 2
        assert agg["jct_s"] == {"median": statistics.median(jcts), "min": min(jcts), "max": max(jcts), "n": 2}
        assert agg["energy_j"]["median"] == statistics.median(r["energy_j"] for r in mine)
    concurrency = [json.load(open(out / d / "summary.json"))["concurrency"]["effective"] for d in dirs]
    assert concurrency == [1, 1, 2, 2]
    md = (out / "suite.md").read_text()
    assert "| value | runs | JCT s | energy J |" in md and "| 2 | 1 | 02-2-s1 | completed |" in md
    from matplotlib.image import imread

    for name in ("jct", "energy", "wattage", "waste", "cost"):
        img = imread(out / "plots" / f"{name}.png")
        assert img.ndim == 3 and img.shape[0] > 100 and img.shape[1] > 100
    assert "[4/6] workers.count = 2, seed 1" in text and "suite tiny (full)" in text and "converged" in text
    # `raybench compare` over the suite's runs shows the same measures side by side.
    from raybench.report import compare_runs

    buf = io.StringIO()
    compare_runs([str(out / d) for d in dirs], console=Console(file=buf, width=100))
    shown = buf.getvalue()
    for head in ("JCT s", "energy J", "provenance", "waste J", "cost", "best val", "test acc", "02-2-s1"):
        assert head in shown
    assert "estimated" in shown and "USD" in shown


def test_a_suite_that_was_cut_off_goes_on_where_it_stopped(local_ray, tmp_path):
    from raybench.runtime import run_experiment

    spec = {**TINY, "values": [1, 2], "seeds": [0]}
    del spec["converge"]
    path = suite_file(tmp_path, spec)
    out = tmp_path / "out"
    first, second = load_suite(path).variants
    # The first variant finished before the cut; the second was cut off (a log, no summary).
    run_experiment(first.config, str(out / first.dir_name), progress=False, console=Console(quiet=True))
    log = out / first.dir_name / "events.msgpack"
    before = os.stat(log).st_mtime_ns
    (out / second.dir_name).mkdir()
    (out / second.dir_name / "events.msgpack").write_bytes(b"cut off")
    code, text = run(path, out)
    assert code == 0, text
    assert os.stat(log).st_mtime_ns == before  # not run again
    assert "finished earlier, kept" in text and "moved an unfinished run aside" in text
    assert (out / f"{second.dir_name}.incomplete-1" / "events.msgpack").read_bytes() == b"cut off"
    with open(out / second.dir_name / "summary.json") as f:
        assert json.load(f)["status"] == "completed"
    with open(out / "suite.json") as f:
        doc = json.load(f)
    assert [r["status"] for r in doc["runs"]] == ["completed", "completed"]
    # A third time: everything is kept, nothing runs.
    code, text = run(path, out)
    assert code == 0 and text.count("finished earlier, kept") == 2
    assert os.stat(log).st_mtime_ns == before


def test_r_acl_skips_accelerators_the_cluster_does_not_have(local_ray, tmp_path):
    with open(os.path.join(ROOT, "configs", "experiments", "r-acl.yaml")) as f:
        spec = yaml.safe_load(f)
    # The shipped quick variant without its CPU-only value (that one would train MNIST for a while here).
    spec["base"] = os.path.join(ROOT, "configs", "baseline.yaml")
    keep = [i for i, v in enumerate(spec["quick"]["values"]) if v[0] != "none"]
    spec["quick"]["values"] = [spec["quick"]["values"][i] for i in keep]
    spec["quick"]["labels"] = [spec["quick"]["labels"][i] for i in keep]
    out = tmp_path / "out"
    code, text = run(suite_file(tmp_path, spec, "r-acl.yaml"), out, quick=True)
    assert code == 0, text
    with open(out / "suite.json") as f:
        doc = json.load(f)
    assert [(r["label"], r["status"]) for r in doc["runs"]] == [("gpu-1", "skipped"), ("tpu-1", "skipped")]
    gpu, tpu = doc["runs"]
    assert "the cluster has GPU 0, TPU 0" in gpu["note"] and "ask for 1 GPU each" in gpu["note"]
    assert "ask for 1 TPU each" in tpu["note"]
    assert gpu["run_dir"] is None and not any(p.name.startswith("0") for p in out.iterdir())
    assert "skipped" in text and "gpu-1" in text
    assert all((out / "plots" / f"{n}.png").is_file() for n in ("jct", "energy", "wattage", "waste", "cost"))
