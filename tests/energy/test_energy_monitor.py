"""NodeMonitor on fake hardware (a powercap tree on disk, pynvml functions patched) and real processes."""

import os
import subprocess
import sys
import threading
import time

import msgpack
import pynvml
import pytest

from raybench.config._schema import EnergySpec
from raybench.energy import EnergyLedger, NodeMonitor
from raybench.energy._cputime import node_cpu_s
from raybench.energy.backends import FakeGpu, FakeNvml, FakePowercap, NullGpus, NvmlGpus, PowercapBackend

BURN = os.path.join(os.path.dirname(__file__), "burn.py")
NODE = {"cpus": 2, "memory_mb": 4096, "gpus": 2}


def _start(*args):
    p = subprocess.Popen([sys.executable, BURN, *map(str, args)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert p.stdout.readline().strip() == "ready"
    return p


def _go(*procs):
    for p in procs:
        p.stdin.write("go\n")
        p.stdin.flush()


def _stop(*procs):
    for p in procs:
        p.kill()
        p.wait()


@pytest.fixture
def gpus(monkeypatch):
    fake = FakeNvml([FakeGpu("GPU-aaaa-1111", energy_mj=0), FakeGpu("GPU-bbbb-2222", energy_mj=0)])
    for name, fn in fake.functions().items():
        monkeypatch.setattr(pynvml, name, fn)
    return fake


def test_sample_payload_shape_and_msgpack_round_trip(tmp_path, gpus):
    tree = FakePowercap.intel(str(tmp_path))
    mon = NodeMonitor(PowercapBackend(tree.root), NvmlGpus(counter_period_s=0), node_id="node-1", node_resources=NODE)
    mon.track(7, os.getpid(), {"cpus": 1, "memory_mb": 1024, "gpus": 1, "gpu_ids": ["GPU-bbbb-2222"]}, t=0.0)
    tree.add_energy("intel-rapl:0", 3_000_000)
    tree.add_energy("intel-rapl:0:2", 500_000)
    gpus.gpus[1].energy_mj += 4_000
    gpus.gpus[0].energy_mj += 1_000
    s = mon.sample()
    assert set(s) == {"node_id", "t0", "t1", "energy_j", "provenance", "node_cpu_s", "trial_cpu_s", "trial_gpu_j",
                      "reserved", "node_resources", "held_s", "gpu_j", "gpu_extra_j", "trial_gpu_extra_j"}
    assert s["gpu_j"] == {0: 1.0, 1: 4.0}
    assert s["energy_j"] == {"cpu": 3.0, "dram": 0.5, "gpu": 5.0}
    assert s["provenance"] == {"cpu": "measured", "dram": "measured", "gpu": "measured"}
    assert s["trial_gpu_j"] == {7: 4.0}
    assert s["reserved"] == {7: {"cpus": 1.0, "memory_mb": 1024.0, "gpus": 1.0, "gpu_share": {1: 1.0}}}
    assert s["t1"] >= s["t0"] and s["node_cpu_s"] >= 0 and s["trial_cpu_s"][7] >= 0
    back = msgpack.unpackb(msgpack.packb(s), strict_map_key=False)
    assert back == s and list(back["trial_cpu_s"]) == [7]


def test_gpu_shared_by_index_and_uuid_is_split(tmp_path, gpus):
    mon = NodeMonitor(PowercapBackend(FakePowercap.amd(str(tmp_path)).root), NvmlGpus(counter_period_s=0), node_resources=NODE)
    mon.track(1, os.getpid(), {"gpus": 0.5, "gpu_ids": ["0"]}, t=0.0)  # tracked since before the window
    mon.track(2, os.getpid(), {"gpus": 0.5, "gpu_ids": ["GPU-aaaa"]}, t=0.0)
    gpus.gpus[0].energy_mj += 6_000
    gpus.gpus[1].energy_mj += 1_000  # held by nobody: stays unattributed later
    s = mon.sample()
    assert s["trial_gpu_j"] == {1: 3.0, 2: 3.0}  # both held GPU 0 for the whole interval: half each
    assert s["energy_j"]["gpu"] == 7.0


def test_baseline_payload_and_window_restart(tmp_path):
    tree = FakePowercap.intel(str(tmp_path))
    mon = NodeMonitor(PowercapBackend(tree.root), NullGpus(), node_id="n", node_resources=NODE)
    stop = threading.Event()

    def drive():  # 20 W package, 2 W dram
        t0 = time.monotonic()
        while not stop.is_set():
            dt = time.monotonic() - t0
            tree.set_energy("intel-rapl:0", int(20e6 * dt))
            tree.set_energy("intel-rapl:0:2", int(2e6 * dt))
            time.sleep(0.005)

    th = threading.Thread(target=drive)
    th.start()
    try:
        b = mon.measure_baseline(0.4, step_s=0.1)
    finally:
        stop.set()
        th.join()
    assert b["node_id"] == "n" and b["duration_s"] == pytest.approx(0.4, abs=0.1)
    assert b["power_w"]["cpu"] == pytest.approx(20.0, rel=0.1)
    assert b["power_w"]["dram"] == pytest.approx(2.0, rel=0.1)
    assert b["power_w"]["gpu"] == 0.0 and b["provenance"]["gpu"] == "none"
    s = mon.sample()
    assert s["energy_j"]["cpu"] < 1.0  # the baseline's joules are not in the next sample


def test_processes_that_exit_mid_interval_do_not_crash_it(tmp_path):
    mon = NodeMonitor(PowercapBackend(FakePowercap.intel(str(tmp_path)).root), NullGpus(), node_resources=NODE)
    proc = _start(0.05, 1.0)
    mon.track(1, proc.pid, {"cpus": 1})
    mon.track(2, 2**22 + 4321, {"cpus": 1})  # never existed
    _go(proc)
    proc.stdout.readline()
    _stop(proc)
    s = mon.sample()
    assert set(s["trial_cpu_s"]) == {1, 2} and s["trial_cpu_s"][2] == 0.0


def test_untracked_trial_reports_its_last_cpu_once(tmp_path):
    mon = NodeMonitor(PowercapBackend(FakePowercap.intel(str(tmp_path)).root), NullGpus(), node_resources=NODE)
    proc = _start(0.2, 1.0)
    try:
        mon.track(3, proc.pid, {"cpus": 1})
        _go(proc)
        assert proc.stdout.readline().strip() == "done"
        mon.untrack(3)
        mon.untrack(3)  # twice is harmless
    finally:
        _stop(proc)
    first, second = mon.sample(), mon.sample()
    assert first["trial_cpu_s"][3] == pytest.approx(0.2, abs=0.05)
    assert 3 in first["reserved"] and 3 not in second["reserved"] and 3 not in second["trial_cpu_s"]


def test_retracked_trial_keeps_the_cpu_of_its_first_attempt(tmp_path):
    mon = NodeMonitor(PowercapBackend(FakePowercap.intel(str(tmp_path)).root), NullGpus(), node_resources=NODE)
    first = _start(0.2, 1.0)
    try:
        mon.track(4, first.pid, {"cpus": 1})
        _go(first)
        assert first.stdout.readline().strip() == "done"
        mon.untrack(4)
        mon.track(4, os.getpid(), {"cpus": 2})  # the retry, on the same node, before the next sample
    finally:
        _stop(first)
    s = mon.sample()
    # its reservation is the time-weighted mean of the two attempts' (1 and 2 CPUs)
    assert s["trial_cpu_s"][4] >= 0.17 and 1.0 < s["reserved"][4]["cpus"] < 2.0
    assert mon.sample()["trial_cpu_s"][4] < 0.15


def _burn_own(cpu_s: float) -> None:
    end = time.process_time() + cpu_s
    while time.process_time() < end:
        pass


def test_a_process_going_straight_to_its_next_trial_is_retracked_in_one_call(tmp_path):
    """retrack ends one trial and starts the next on the same process: each keeps its own CPU time, stamped with
    its own times; a retry of the same trial id works; a track that comes after its untrack is refused, while
    the trial it ends still ends."""
    mon = NodeMonitor(PowercapBackend(FakePowercap.intel(str(tmp_path)).root), NullGpus(), node_resources=NODE)
    pid = os.getpid()
    mon.track(5, pid, {"cpus": 1}, seq=1)
    _burn_own(0.2)
    t_end = time.time()
    assert mon.retrack(5, 6, pid, {"cpus": 2}, ended_seq=2, ended_t=t_end, seq=3, t=t_end + 0.001) is True
    assert mon.tracked == (6,)
    _burn_own(0.3)
    assert mon.retrack(6, 6, pid, {"cpus": 2}, ended_seq=4, seq=5) is True  # the same trial again
    mon.untrack(6, seq=6)
    s = mon.sample()
    assert s["trial_cpu_s"][5] == pytest.approx(0.2, abs=0.06)
    assert s["trial_cpu_s"][6] == pytest.approx(0.3, abs=0.06)
    assert s["reserved"][5]["cpus"] == 1 and s["reserved"][6]["cpus"] == 2
    mon.track(7, pid, {"cpus": 1}, seq=7)
    mon.untrack(8, seq=9)  # trial 8's untrack overtook its track
    assert mon.retrack(7, 8, pid, {"cpus": 1}, ended_seq=8, seq=9) is False
    assert mon.tracked == ()
    mon.track(10, pid, {"cpus": 1}, seq=10)
    with pytest.raises(ValueError, match="unknown keys"):
        mon.retrack(10, 11, pid, {"cpu": 1})
    assert mon.tracked == ()  # the ended trial ended all the same


def test_track_checks_its_input(tmp_path):
    mon = NodeMonitor(PowercapBackend(FakePowercap.intel(str(tmp_path)).root), NullGpus(), node_resources=NODE)
    with pytest.raises(ValueError, match="unknown keys"):
        mon.track(1, os.getpid(), {"cpu": 1})
    mon.track(1, os.getpid(), {})
    with pytest.raises(ValueError, match="already tracked"):
        mon.track(1, os.getpid(), {})


def test_from_spec_on_this_machine():
    mon = NodeMonitor.from_spec(EnergySpec(backend="estimate", gpu="none"), node_id="here")
    assert mon.provenance == {"cpu": "estimated", "dram": "estimated", "gpu": "none"}
    assert mon.node_resources["cpus"] >= 1 and mon.node_resources["gpus"] == 0
    s = mon.sample()
    assert s["energy_j"]["cpu"] >= 0 and s["trial_cpu_s"] == {}
    mon.close()


def test_two_real_processes_burning_one_to_three_get_energy_one_to_three(tmp_path):
    """Two real processes on this node use CPU in a 1:3 ratio; their attributed energy must be 1:3 within 5%.

    The counter is fake but read by the real powercap code: a thread writes package energy as
    5 W idle plus 20 J per CPU-second the whole node has been busy (this includes the two processes,
    and like real RAPL also whatever else runs here). Trial A burns 0.5 s of CPU at 25% duty; trial B
    is a process tree, a parent and a child burning 0.75 s each at 75% duty, the child reaped mid-run.
    Budgets are CPU seconds, so other load on this shared machine stretches the run but not the ratio.
    """
    tree = FakePowercap.intel(str(tmp_path), dram=False)
    mon = NodeMonitor(PowercapBackend(tree.root), NullGpus(), node_id="n", node_resources={"cpus": 2, "memory_mb": 4096})
    ledger = EnergyLedger()
    dynamic = threading.Event()
    stop = threading.Event()

    def drive():
        t0, busy0 = time.monotonic(), node_cpu_s()[0]
        while not stop.is_set():
            busy = node_cpu_s()[0] - busy0 if dynamic.is_set() else 0.0
            if not dynamic.is_set():
                busy0 = node_cpu_s()[0]
            tree.set_energy("intel-rapl:0", int(5e6 * (time.monotonic() - t0) + 20e6 * busy))
            time.sleep(0.005)

    th = threading.Thread(target=drive, daemon=True)
    th.start()
    a, b = _start(0.5, 0.25), _start(0.75, 0.75, 0.75)
    try:
        ledger.add_baseline(mon.measure_baseline(0.3, step_s=0.1))
        dynamic.set()
        mon.track(1, a.pid, {"cpus": 1, "memory_mb": 1024})
        mon.track(2, b.pid, {"cpus": 1, "memory_mb": 1024})
        _go(a, b)
        pending = {a.stdout: 1, b.stdout: 2}
        deadline = time.monotonic() + 60
        while pending and time.monotonic() < deadline:
            time.sleep(0.4)
            ledger.add_sample(mon.sample())
            for f in [f for f in pending if f.readable() and _has_line(f)]:
                assert f.readline().strip() == "done"
                del pending[f]
        assert not pending, "burners did not finish in 60 s"
        ledger.add_sample(mon.sample())
    finally:
        stop.set()
        th.join()
        _stop(a, b)
    ea, eb = ledger.trial(1)["cpu_j"], ledger.trial(2)["cpu_j"]
    print(f"attributed A={ea:.3f} J B={eb:.3f} J ratio={eb / ea:.4f}")
    assert eb / ea == pytest.approx(3.0, rel=0.05)
    # And each near 20 J per CPU-second: the dynamic energy follows CPU time, not wall time.
    assert ea == pytest.approx(20 * 0.5, rel=0.15) and eb == pytest.approx(20 * 1.5, rel=0.15)
    assert ledger.accounting_check()["rel_error"] < 1e-9


def _has_line(f):
    import select

    return bool(select.select([f], [], [], 0)[0])
