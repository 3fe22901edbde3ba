"""The clean console and the writer rules, without a Ray cluster: Ray's worker-death paragraphs are dropped,
an autoscaler's infeasible request is read, node names are short, and the log's writer record tells an
orphaned writer from a live one."""

import os
import subprocess
import sys
import textwrap
import time

import pytest
from rb_helpers import experiment

from raybench.core.records import WorkerShape
from raybench.errors import ResourceError, RunDirError
from raybench.events import EventLog
from raybench.report.plots._figures import short_node_names
from raybench.runtime import _autoscaler, _console
from raybench.runtime._ownership import Writer, wait_for_lock

pytestmark = pytest.mark.timeout(120)

RAY_DEATH = ("A worker died or was killed while executing a task by an unexpected system error. To troubleshoot "
             "the problem, check the logs for the dead worker. Worker exit type: SYSTEM_ERROR Worker exit detail: "
             "Worker unexpectedly exits with a connection error code 2. End of file.")


def test_the_raylet_worker_death_paragraph_is_dropped_and_other_messages_kept(monkeypatch):
    import ray._private.worker as w

    printed = []
    monkeypatch.setattr(w, "print_to_stdstream", lambda data, ignore_prefix: printed.append(data["lines"]))
    _console.quiet_worker_deaths()
    _console.quiet_worker_deaths()  # twice is once
    w.print_to_stdstream({"lines": [RAY_DEATH], "pid": "raylet", "is_err": False}, ignore_prefix=False)
    w.print_to_stdstream({"lines": ["some other raylet warning"], "pid": "raylet", "is_err": False}, False)
    w.print_to_stdstream({"lines": ["a worker died or was killed: my own print"], "pid": 123, "is_err": False},
                         False)
    assert printed == [["some other raylet warning"], ["a worker died or was killed: my own print"]]


def test_an_infeasible_request_of_our_shape_is_a_one_line_error(monkeypatch):
    shape = WorkerShape(cpus=4, memory_mb=512)
    line = (":event_summary:Error: No available node types can fulfill resource request {'CPU': 4.0, 'memory': "
            "536870912.0}. Add suitable node types to this cluster to resolve this issue.")
    assert _autoscaler.parse_infeasible(line) == {"CPU": 4.0, "memory": 536870912.0}
    assert _autoscaler.parse_infeasible("Resized to 4 CPUs.") is None
    watch = _autoscaler.InfeasibleWatch()
    watch._on_batch({"pid": "autoscaler", "lines": ["{'CPU': 1.0} is not ours: No available node types can "
                                                    "fulfill resource request {'CPU': 1.0}"]})
    watch.check(shape)  # another request: nothing to say
    watch._on_batch({"pid": "autoscaler", "lines": [line]})
    status = {"autoscaler_report": {"active_nodes": {"ray.head.default": 1}, "pending_launches": {"worker": 1}}}
    monkeypatch.setattr(_autoscaler, "current_node_types", lambda: _autoscaler.node_types(status))
    with pytest.raises(ResourceError) as e:
        watch.check(shape)
    msg = str(e.value)
    assert "\n" not in msg and "4 CPUs, 512 MB" in msg and "node types: ray.head.default, worker" in msg


def test_node_names_are_short_and_stay_apart():
    a, b = "3f" + "0" * 54, "3f" + "1" * 54
    assert short_node_names([a, b]) == {a: "3f0000…", b: "3f1111…"}
    fake = ["f" * 50 + "000001", "f" * 50 + "000002"]
    assert sorted(short_node_names(fake).values()) == ["…000001", "…000002"]


HOLDER = textwrap.dedent("""
    import sys, time
    sys.path[:0] = [{root!r}, {tests!r}]
    from rb_helpers import experiment
    from raybench.runtime._scheduler import LiveScheduler
    from raybench.runtime._ownership import process_started
    driver = int(sys.argv[1])
    watch = sys.argv[2] == "watch"
    s = LiveScheduler(experiment(), sys.argv[3], resume=True, driver_pid=driver if watch else None,
                      driver_started=process_started(driver))
    if not watch:  # an orphan that does not notice: only its record names the driver
        from raybench.runtime._ownership import Writer
        Writer.here(driver, process_started(driver)).save(sys.argv[3])
    print("ready", flush=True)
    time.sleep(120)
""")


def hold_log(tmp_path, driver_pid, mode):
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    script = tmp_path / "holder.py"
    script.write_text(HOLDER.format(root=root, tests=os.path.join(root, "tests", "runtime")))
    p = subprocess.Popen([sys.executable, str(script), str(driver_pid), mode, str(tmp_path)],
                         stdout=subprocess.PIPE, text=True)
    assert p.stdout.readline().strip() == "ready"
    return p


def test_a_live_writer_is_refused_and_an_orphan_is_ended_or_stops_by_itself(tmp_path):
    experiment()  # the config the holders use is valid
    open_log = lambda: EventLog.open(tmp_path / "events.msgpack", resume=True).close()  # noqa: E731
    said = []
    driver = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    holder = hold_log(tmp_path, driver.pid, "watch")
    try:
        with pytest.raises(RunDirError, match="another process is writing"):
            wait_for_lock(open_log, str(tmp_path), say=said.append)  # its driver lives: a genuine second writer
        assert Writer.load(str(tmp_path)).scheduler_pid == holder.pid
        driver.kill()
        driver.wait()
        holder.wait(timeout=10)  # it noticed that its driver is gone, and stopped
        wait_for_lock(open_log, str(tmp_path), say=said.append)
        assert said == []  # nothing to end: the lock was free
    finally:
        for p in (driver, holder):
            p.kill()
            p.wait()

    driver = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    holder = hold_log(tmp_path, driver.pid, "blind")
    try:
        driver.kill()
        driver.wait()
        t0 = time.monotonic()
        wait_for_lock(open_log, str(tmp_path), say=said.append)  # it ends the orphan, then takes over
        assert time.monotonic() - t0 < 10 and holder.wait(timeout=10) != 0
        assert len(said) == 1 and f"ended its orphaned scheduler (pid {holder.pid})" in said[0]
    finally:
        for p in (driver, holder):
            p.kill()
            p.wait()


TINY = """
name: tiny
task: {dataset: synthetic, workload: "raybench.testing:flaky", epochs: 2}
search_space:
  x: {type: choice, values: [0.5, 0.9]}
sampler: {type: grid}
workers: {count: 1, cpus: 1, memory_mb: 64}
energy: {backend: none, gpu: none}
"""


def test_a_memory_limit_below_an_idle_worker_is_one_warning_then_one_line_per_failed_trial(tmp_path):
    cfg = tmp_path / "tiny.yaml"
    cfg.write_text(TINY)
    p = subprocess.run([sys.executable, "-m", "raybench", "run", str(cfg), "--out", str(tmp_path / "r"),
                        "--no-progress", "--num-cpus", "2"], capture_output=True, text=True, timeout=240,
                       start_new_session=True)
    out = p.stdout + p.stderr
    assert p.returncode == 0, out[-3000:]
    lines = out.splitlines()
    warn = [i for i, line in enumerate(lines) if "an idle trial actor already holds" in line]
    fails = [i for i, line in enumerate(lines) if "failed: it used" in line and "workers.memory_mb = 64" in line]
    assert len(warn) == 1 and len(fails) == 2 and warn[0] < fails[0], out[-3000:]
    assert "worker died or was killed" not in out.lower(), out[-3000:]
