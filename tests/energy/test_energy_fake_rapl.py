"""End to end: a real `raybench run` (CLI, real Ray, synthetic task) reads a fake RAPL device at the sysfs level.

raybench.testing.fake_rapl runs as its own process and keeps a powercap tree's counters moving at 25 W
(package) and 5 W (dram), wrapping every 3.2 s of package energy (80 J); the run's energy section must report
those powers within 1 %. A real counter is advanced by the hardware and never waits for a CPU; the fake one
is a process, so its value is only as fresh as its last round of writes. Seen on loaded 2-core CI machines:
a 2.6 s run read dram 1.5 % off, and a 5 s run read the package 1.6 % off, as a writer stalled for about
80 ms at one end of the run would make it. So the writer runs at a raised priority where the test may raise
it (root), its tree lives on a tmpfs where there is one (replacing a file on ext4 can wait for writeback
while Ray starts), and it reports its longest gap between rounds: a stale value at either end of the run
can move the average by at most twice that gap over the run's length, and that is added to the 1 %.
The wrap period is 3.2 s, not shorter: under an artificial load (two busy loops and a disk writer beside
Ray on 2 cores) the energy actor's reads came up to 1.7 s apart, and a counter that wraps twice between two
reads cannot be told from one that wraps once (the hardware's counters take hours to wrap).
"""

import json
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile
import time

import pytest
import yaml

from raybench.events import read_events

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
pytestmark = pytest.mark.timeout(120)


def _raise_priority() -> None:
    try:
        os.nice(-10)
    except OSError:
        pass  # not permitted (not root): the longer run alone keeps the error small


def _tree_dir(tmp_path) -> str:
    shm = "/dev/shm"
    if os.path.isdir(shm) and os.access(shm, os.W_OK):
        return tempfile.mkdtemp(prefix="raybench-fake-rapl-", dir=shm)
    return str(tmp_path)


@pytest.fixture
def fake_rapl(tmp_path):
    base = _tree_dir(tmp_path)
    root = pathlib.Path(base) / "powercap"
    env = {**os.environ, "PYTHONPATH": ROOT + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.Popen([sys.executable, "-m", "raybench.testing.fake_rapl", str(root), "--package-w", "25",
                             "--dram-w", "5", "--range-uj", "80000000"], env=env, preexec_fn=_raise_priority)
    deadline = time.monotonic() + 30
    while not (root / "ready").exists():
        assert proc.poll() is None and time.monotonic() < deadline, "the fake RAPL device did not start"
        time.sleep(0.05)
    yield root
    proc.terminate()
    proc.wait(timeout=10)
    if base != str(tmp_path):
        shutil.rmtree(base, ignore_errors=True)


def test_a_real_run_reports_the_fake_devices_power_within_one_percent(tmp_path, fake_rapl):
    cfg = {
        "name": "fake-rapl", "seed": 0,
        "task": {"dataset": "synthetic", "epochs": 2, "options": {"epoch_time_s": 1.0}},
        "search_space": {"x": {"type": "choice", "values": [0.2, 0.8]}},
        "workers": {"count": 1, "cpus": 1, "memory_mb": 1024},
        "energy": {"backend": "powercap", "gpu": "none", "powercap_root": str(fake_rapl), "baseline_s": 0.3,
                   "interval_s": 0.25},
    }
    path = tmp_path / "exp.yaml"
    path.write_text(yaml.safe_dump(cfg))
    out = tmp_path / "run"
    env = {**os.environ, "PYTHONPATH": ROOT + os.pathsep + os.environ.get("PYTHONPATH", "")}
    done = subprocess.run([sys.executable, "-m", "raybench", "run", str(path), "--out", str(out), "--no-progress",
                           "--num-cpus", "2"], env=env, capture_output=True, text=True, timeout=110)
    assert done.returncode == 0, done.stderr[-2000:]
    e = json.loads((out / "summary.json").read_text())["energy"]
    assert e["provenance"]["cpu"] == "measured" and e["provenance"]["dram"] == "measured"
    samples = [ev for ev in read_events(str(out / "events.msgpack")).events if ev["event"] == "energy_sample"]
    assert len(samples) >= 6
    assert e["sampled_s"] * 25.0 > 80.0  # the package counter wrapped at least once during the run
    max_gap_s = float((fake_rapl / "max_gap_s").read_text())
    rel = 0.01 + 2 * max_gap_s / e["sampled_s"]
    assert max_gap_s < 0.25 * e["sampled_s"], f"the fake device stalled for {max_gap_s:.3f} s: nothing was measured"
    assert e["avg_node_power_w"]["cpu"] == pytest.approx(25.0, rel=rel), f"writer's longest gap {max_gap_s:.4f} s"
    assert e["avg_node_power_w"]["dram"] == pytest.approx(5.0, rel=rel), f"writer's longest gap {max_gap_s:.4f} s"
    assert e["accounting_check"]["rel_error"] < 1e-9
