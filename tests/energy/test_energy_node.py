"""The energy actor's body without Ray: acknowledged, ordered track/untrack, and gaps that become warning events."""

import os

from raybench.energy.backends import FakePowercap
from raybench.runtime._energy_node import EnergyNode

SPEC = {"backend": "powercap", "gpu": "none", "baseline_s": 0, "interval_s": 1.0}
RAY_RESOURCES = {"cpus": 8, "memory_mb": 1024, "gpus": 0, "tpus": 0}


def test_track_untrack_are_acknowledged_and_a_late_track_is_refused(tmp_path):
    tree = FakePowercap.intel(str(tmp_path))
    node = EnergyNode("n", "host", {**SPEC, "powercap_root": tree.root}, RAY_RESOURCES)
    assert node.error is None
    assert node.untrack(3, seq=2, t=100.0) is True
    assert node.track(3, os.getpid(), {"cpus": 1}, seq=1, t=99.0) is False  # overtaken by its untrack
    assert node.track(4, os.getpid(), {"cpus": 1}, seq=3) is True
    assert node.track(4, os.getpid(), {"cpus": 2}, seq=4) is True  # a retry on the same node replaces it
    events = node._sample()
    s = events[0]
    assert s["event"] == "energy_sample" and set(s["reserved"]) == {4} and 3 not in s["trial_cpu_s"]
    # Idle is split by the hardware, not by the 8 CPUs Ray was told about
    assert s["node_resources"]["cpus"] == os.cpu_count()


def test_a_gap_becomes_a_warning_event_and_sampling_goes_on(tmp_path):
    tree = FakePowercap.intel(str(tmp_path), dram=False)
    node = EnergyNode("n", "host", {**SPEC, "powercap_root": tree.root}, RAY_RESOURCES)
    counter = os.path.join(tree.root, "intel-rapl:0", "energy_uj")
    os.replace(counter, counter + ".away")
    events = node._sample()
    # the CPU side failed: its cpu and (estimated) dram domains are estimated from the last power
    assert events[0]["event"] == "energy_sample" and events[0]["gap"]["domains"] == ["cpu", "dram"]
    gap = next(e for e in events if e["event"] == "warning" and e["code"] == "energy_gap")
    assert gap["node_id"] == "n" and gap["t1"] >= gap["t0"] and "estimated" in gap["message"]
    os.replace(counter + ".away", counter)
    node._sample()  # the backend is reopened by now, or at this sample
    assert "gap" not in node._sample()[0]


def test_a_failing_sample_is_a_warning_not_a_dead_thread(tmp_path):
    tree = FakePowercap.intel(str(tmp_path))
    node = EnergyNode("n", "host", {**SPEC, "powercap_root": tree.root}, RAY_RESOURCES)

    def boom():
        raise RuntimeError("scan failed")

    node.monitor.sample = boom
    events = node._sample()
    assert [e["event"] for e in events] == ["warning"] and "scan failed" in events[0]["message"]


def test_a_baseline_that_cannot_be_read_is_a_warning(tmp_path):
    tree = FakePowercap.intel(str(tmp_path))
    node = EnergyNode("n", "host", {**SPEC, "powercap_root": tree.root, "baseline_s": 0.2}, RAY_RESOURCES)
    counter = os.path.join(tree.root, "intel-rapl:0", "energy_uj")
    os.replace(counter, counter + ".away")
    events = node.baseline()
    assert [e["event"] for e in events][:2] == ["node_joined", "warning"]
    assert "baseline could not be measured" in events[1]["message"]


def test_the_estimators_notes_reach_the_log_as_events(tmp_path):
    node = EnergyNode("n", "host", {**SPEC, "backend": "estimate", "powercap_root": str(tmp_path)}, RAY_RESOURCES)
    messages = [e["message"] for e in node.baseline() if e["event"] == "warning"]
    assert any("estimator: CPU TDP" in m for m in messages) and any("estimator: DRAM" in m for m in messages)
