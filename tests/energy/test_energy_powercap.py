"""The powercap backend on fake sysfs trees written to disk and read by the real code."""

import json
import logging
import os
import shutil
import tempfile

import pytest

from raybench.energy import MEASURED, open_cpu_backend, probe_powercap
from raybench.energy.backends import FakePowercap, PowercapBackend, PowercapUnreadable, discover_zones, select_zones
from raybench.energy.backends._fake import DEFAULT_RANGE_UJ
from raybench.errors import HardwareError


def _chosen(root):
    return {d: sorted(z.entry for z in zs) for d, zs in select_zones(discover_zones(root)).items()}


def test_intel_two_sockets_counts_packages_and_dram_never_core_or_uncore(tmp_path):
    fake = FakePowercap.intel(str(tmp_path), sockets=2, dram=True)
    assert _chosen(fake.root) == {"cpu": ["intel-rapl:0", "intel-rapl:1"], "dram": ["intel-rapl:0:2", "intel-rapl:1:2"]}
    backend = PowercapBackend(fake.root)
    assert backend.provenance == {"cpu": MEASURED, "dram": MEASURED}
    fake.add_energy("intel-rapl:0", 1_000_000)
    fake.add_energy("intel-rapl:1", 2_000_000)
    fake.add_energy("intel-rapl:0:0", 700_000)  # core: inside package-0 already
    fake.add_energy("intel-rapl:0:1", 100_000)  # uncore: inside package-0 already
    fake.add_energy("intel-rapl:0:2", 300_000)
    fake.add_energy("intel-rapl:1:2", 50_000)
    assert backend.read().energy_uj == {"cpu": 3_000_000, "dram": 350_000}


def test_amd_layout_has_package_only(tmp_path):
    fake = FakePowercap.amd(str(tmp_path), sockets=2)
    assert _chosen(fake.root) == {"cpu": ["intel-rapl:0", "intel-rapl:1"]}
    backend = PowercapBackend(fake.root)
    fake.add_energy("intel-rapl:1", 42)
    fake.add_energy("intel-rapl:1:0", 40)
    assert backend.read().energy_uj == {"cpu": 42}


def test_psys_is_excluded_when_packages_exist(tmp_path):
    fake = FakePowercap.intel(str(tmp_path), sockets=1, psys=True)
    assert _chosen(fake.root)["cpu"] == ["intel-rapl:0"]


def test_psys_alone_stands_in_for_the_packages(tmp_path):
    fake = FakePowercap(str(tmp_path))
    fake.add_zone("intel-rapl:0", "psys")
    backend = PowercapBackend(fake.root)
    fake.add_energy("intel-rapl:0", 5)
    assert backend.read().energy_uj == {"cpu": 5}


def test_mmio_duplicates_are_skipped(tmp_path):
    fake = FakePowercap.intel(str(tmp_path), sockets=1, mmio=True)
    assert _chosen(fake.root) == {"cpu": ["intel-rapl:0"], "dram": ["intel-rapl:0:2"]}
    backend = PowercapBackend(fake.root)
    fake.add_energy("intel-rapl-mmio:0", 10_000)
    fake.add_energy("intel-rapl:0", 10_000)
    assert backend.read().energy_uj["cpu"] == 10_000


def test_mmio_only_package_is_used(tmp_path):
    fake = FakePowercap(str(tmp_path))
    fake.add_zone("intel-rapl-mmio:0", "package-0")
    assert _chosen(fake.root) == {"cpu": ["intel-rapl-mmio:0"]}


def test_top_level_dram_zone_is_counted_once(tmp_path):
    fake = FakePowercap(str(tmp_path))
    fake.add_zone("intel-rapl:0", "package-0")
    fake.add_zone("intel-rapl:1", "dram")
    assert _chosen(fake.root) == {"cpu": ["intel-rapl:0"], "dram": ["intel-rapl:1"]}


def test_wraparound_is_handled_on_every_read(tmp_path):
    fake = FakePowercap.intel(str(tmp_path), sockets=1, max_energy_range_uj=1_000)
    fake.set_energy("intel-rapl:0", 900)
    backend = PowercapBackend(fake.root)
    fake.add_energy("intel-rapl:0", 250)  # 900 -> 1150 wraps to 150
    assert fake.energy_uj("intel-rapl:0") == 150
    assert backend.read().energy_uj["cpu"] == 250
    fake.add_energy("intel-rapl:0", 800)
    fake.add_energy("intel-rapl:0", 0)
    assert backend.read().energy_uj["cpu"] == 1_050
    fake.add_energy("intel-rapl:0", 900)  # wraps again
    assert backend.read().energy_uj["cpu"] == 1_950


def test_readings_are_cumulative_and_monotonic(tmp_path):
    fake = FakePowercap.intel(str(tmp_path))
    backend = PowercapBackend(fake.root)
    a = backend.read()
    fake.add_energy("intel-rapl:0", 7)
    b = backend.read()
    assert b.time_s >= a.time_s
    assert b.energy_uj["cpu"] - a.energy_uj["cpu"] == 7


def test_absent_tree_is_a_hardware_error_with_an_action(tmp_path):
    with pytest.raises(HardwareError, match="energy.backend: estimate") as err:
        PowercapBackend(str(tmp_path / "nope"))
    assert err.value.reason == "absent"
    assert "\n" not in str(err.value)


def test_tree_without_package_zone(tmp_path):
    fake = FakePowercap(str(tmp_path))
    fake.add_zone("intel-rapl:0", "something-else")
    with pytest.raises(PowercapUnreadable) as err:
        PowercapBackend(fake.root)
    assert err.value.reason == "no-zones"


# ---- permission denied ------------------------------------------------------------------------
#
# Since the 2020 RAPL side-channel fix (PLATYPUS) energy_uj is mode 0400 root. Root reads any file
# whatever its mode (CAP_DAC_OVERRIDE), so chmod alone cannot make a test running as root fail.
# These tests therefore make the denial real: the tree's counters are made root-only (0400), and the
# read happens in a forked child that has dropped to uid/gid "nobody". The kernel then returns
# EACCES to the same open() in read_counter() that production uses; nothing is mocked. When the
# tests do not run as root, chmod 000 gives the same EACCES in-process.

NOBODY = 65534


def _run_unprivileged(fn):
    if os.geteuid() != 0:
        return fn()
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: must leave through os._exit whatever happens
        try:
            os.close(r)
            os.setgroups([])
            os.setgid(NOBODY)
            os.setuid(NOBODY)
            out = json.dumps(fn())
        except BaseException as e:  # noqa: BLE001 - reported to the parent
            out = json.dumps({"crash": repr(e)})
        os.write(w, out.encode())
        os._exit(0)
    os.close(w)
    chunks = []
    while chunk := os.read(r, 65536):
        chunks.append(chunk)
    os.close(r)
    os.waitpid(pid, 0)
    result = json.loads(b"".join(chunks))
    assert "crash" not in result, result
    return result


@pytest.fixture
def restricted_tree():
    root = tempfile.mkdtemp(prefix="raybench-powercap-")  # not under pytest's 0700 tmp dir
    fake = FakePowercap.intel(root, sockets=1)
    if os.geteuid() == 0:
        fake.restrict("intel-rapl:0")
        fake.restrict("intel-rapl:0:2")
        fake.open_up()
        os.chmod(root, 0o755)
    else:
        for entry in ("intel-rapl:0", "intel-rapl:0:2"):
            os.chmod(os.path.join(fake.root, entry, "energy_uj"), 0o000)
    yield fake
    shutil.rmtree(root)


def test_permission_denied_is_reported_with_the_fix(restricted_tree):
    root = restricted_tree.root

    def attempt():
        try:
            PowercapBackend(root)
        except PowercapUnreadable as e:
            return {"reason": e.reason, "message": str(e), "uid": os.geteuid()}
        return {"reason": None, "uid": os.geteuid()}

    got = _run_unprivileged(attempt)
    assert got["uid"] != 0
    assert got["reason"] == "permission"
    assert "chmod a+r /sys/class/powercap/intel-rapl:*/energy_uj" in got["message"]
    assert "energy.backend: estimate" in got["message"]


def test_permission_denied_under_auto_falls_back_and_says_the_fix_once(restricted_tree):
    root = restricted_tree.root

    def attempt():
        records = []
        handler = logging.Handler()
        handler.emit = records.append
        log = logging.getLogger("raybench.energy")
        log.addHandler(handler)
        log.setLevel(logging.INFO)
        first = open_cpu_backend("auto", powercap_root=root)
        second = open_cpu_backend("auto", powercap_root=root)
        log.removeHandler(handler)
        return {
            "names": [first.name, second.name],
            "provenance": first.provenance,
            "warnings": [r.getMessage() for r in records if r.levelno == logging.WARNING],
            "probe": probe_powercap(root).reason,
        }

    got = _run_unprivileged(attempt)
    assert got["names"] == ["estimate", "estimate"]
    assert got["provenance"] == {"cpu": "estimated", "dram": "estimated"}
    assert got["probe"] == "permission"
    assert len(got["warnings"]) == 1
    assert "sudo chmod a+r" in got["warnings"][0]


def test_permission_denied_under_explicit_powercap_raises(restricted_tree):
    root = restricted_tree.root

    def attempt():
        try:
            open_cpu_backend("powercap", powercap_root=root)
        except HardwareError as e:
            return {"error": str(e)}
        return {"error": None}

    assert "permission denied" in _run_unprivileged(attempt)["error"]


# ---- issue 10: psys + dram, counter resets, one unreadable zone, TPMI zones --------------------------


def test_psys_with_a_dram_zone_counts_memory_once(tmp_path):
    fake = FakePowercap(str(tmp_path))
    fake.add_zone("intel-rapl:0", "psys")
    fake.add_zone("intel-rapl:0:0", "dram")
    b = PowercapBackend(fake.root)
    assert set(b.zones) == {"cpu"} and b.dram_in_cpu
    fake.add_energy("intel-rapl:0", 30_000_000)  # the platform, memory included
    fake.add_energy("intel-rapl:0:0", 4_000_000)
    assert b.read().energy_uj == {"cpu": 30_000_000}
    # and no DRAM estimate is added on top of it
    cpu = open_cpu_backend("powercap", powercap_root=fake.root)
    assert "dram" not in cpu.provenance


def test_a_counter_reset_is_not_read_as_a_wrap(tmp_path, energy_log):
    clock = [0.0]
    fake = FakePowercap(str(tmp_path))
    fake.add_zone("intel-rapl:0", "package-0", energy_uj=200_000_000_000, power_limit_uw=100_000_000)  # PL1 100 W
    b = PowercapBackend(fake.root, clock=lambda: clock[0])
    clock[0] = 1.0
    fake.set_energy("intel-rapl:0", 3_000_000)  # went back: as a wrap that would be ~62 kJ in 1 s
    assert b.read().energy_uj["cpu"] == 3_000_000  # counted from zero
    assert "counter reset" in energy_log.text and b.resets == 1
    # A real wrap, plausible at <= 200 W (twice PL1), is still a wrap.
    fake.set_energy("intel-rapl:0", DEFAULT_RANGE_UJ - 50_000_000)
    clock[0] = 1000.0
    b.read()
    fake.set_energy("intel-rapl:0", 40_000_000)
    clock[0] = 1001.0
    before = b.read().energy_uj["cpu"]
    assert b.resets == 1 and before > 3_000_000


def test_one_unreadable_zone_leaves_the_others_measured(tmp_path, energy_log):
    fake = FakePowercap.intel(str(tmp_path), sockets=2)
    os.remove(os.path.join(fake.root, "intel-rapl:1", "energy_uj"))
    b = PowercapBackend(fake.root)
    assert [z.name for z in b.zones["cpu"]] == ["package-0"] and "dram" in b.zones
    assert "intel-rapl:1 (package-1)" in energy_log.text


def test_tpmi_zones_count_unless_an_msr_zone_reads_the_same_package(tmp_path):
    fake = FakePowercap(str(tmp_path))
    fake.add_zone("intel-rapl-tpmi:0", "package-0")
    fake.add_zone("intel-rapl-tpmi:1", "package-1")
    assert [z.entry for z in PowercapBackend(fake.root).zones["cpu"]] == ["intel-rapl-tpmi:0", "intel-rapl-tpmi:1"]
    fake.add_zone("intel-rapl:0", "package-0")
    assert [z.entry for z in PowercapBackend(fake.root).zones["cpu"]] == ["intel-rapl-tpmi:1", "intel-rapl:0"]
