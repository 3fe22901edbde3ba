"""The estimator's model, driven by scripted CPU times (the boundary it reads) and a scripted clock."""

import pytest

from raybench.energy import ESTIMATED
from raybench.energy._tdp import cpu_table, resolve_tdp, watts_per_core
from raybench.energy.backends import EstimateBackend, FakePowercap
from raybench.energy.backends._estimate import CPU_RANGE, DRAM_RANGE, dimm_count


class Node:
    """Cumulative (busy, total) CPU seconds and a clock, advanced by the test."""

    def __init__(self, cpus=4):
        self.cpus, self.t, self.busy, self.total = cpus, 0.0, 0.0, 0.0

    def run(self, seconds, utilization):
        self.t += seconds
        self.busy += seconds * self.cpus * utilization
        self.total += seconds * self.cpus

    def times(self):
        return self.busy, self.total

    def clock(self):
        return self.t


def make(node, **kw):
    kw.setdefault("powercap_root", "/nonexistent")
    return EstimateBackend(logical_cpus=node.cpus, memory_bytes=16 * 2**30, cpu_times=node.times, clock=node.clock, **kw)


def test_estimates_carry_their_documented_range():
    est = make(Node(cpus=4), cpu_tdp_w=100.0)
    assert est.provenance == {"cpu": ESTIMATED, "dram": ESTIMATED}
    # -60 %..+190 % deviation of TDP estimates: truth in [est / 2.9, est / 0.4]; DIMMs 1.5..5 W around 3 W
    assert est.estimate_range["cpu"] == pytest.approx((1 / 2.9, 2.5)) and est.estimate_range == {"cpu": CPU_RANGE, "dram": DRAM_RANGE}


def _cpuinfo(tmp_path, model, sockets=1):
    p = tmp_path / "cpuinfo"
    p.write_text("".join(f"processor\t: {i}\nmodel name\t: {model}\nphysical id\t: {i % sockets}\n\n" for i in range(4)))
    return str(p)


def test_tdp_from_rapl_pl1_first(tmp_path, energy_log):
    fake = FakePowercap(str(tmp_path / "pc"))
    fake.add_zone("intel-rapl:0", "package-0", power_limit_uw=125_000_000)
    fake.add_zone("intel-rapl:1", "package-1", power_limit_uw=125_000_000)
    fake.restrict("intel-rapl:0")  # energy_uj root-only: PL1 still readable
    t = resolve_tdp(powercap_root=fake.root, cpuinfo=_cpuinfo(tmp_path, "AMD EPYC 9654 96-Core Processor"))
    assert (t.tdp_w, t.source) == (250.0, "rapl-pl1")
    est = EstimateBackend(powercap_root=fake.root, memory_bytes=2**30)
    assert est.cpu_tdp_w == 250.0 and "CPU TDP 250.0 W from rapl-pl1" in energy_log.text


def test_tdp_from_the_cpu_table_then_per_core(tmp_path):
    two_sockets = _cpuinfo(tmp_path, "AMD EPYC 9654 96-Core Processor", sockets=2)
    t = resolve_tdp(powercap_root="/nonexistent", cpuinfo=two_sockets, physical_cores=192)
    assert (t.tdp_w, t.source) == (720.0, "cpu-table")  # 2 x 360 W, not 384 threads x 10 W
    vm = resolve_tdp(powercap_root="/nonexistent", cpuinfo=two_sockets, physical_cores=4)
    assert vm.tdp_w == pytest.approx(360 * 4 / 96)  # a VM that sees 4 of its cores
    other = resolve_tdp(powercap_root="/nonexistent", cpuinfo=_cpuinfo(tmp_path, "Some Future CPU"), physical_cores=8)
    assert other.source == "per-core" and other.tdp_w == pytest.approx(8 * watts_per_core())
    assert 3.0 < watts_per_core() < 8.0 and len(cpu_table()) >= 10


def test_dimm_model(tmp_path):
    assert dimm_count(16 * 2**30, edac=str(tmp_path))[0] == 2
    assert dimm_count(24 * 2**30, edac=str(tmp_path))[0] == 2
    assert dimm_count(1024 * 2**30, edac=str(tmp_path))[0] == 16
    for i, size in enumerate([32768, 32768, 0, 32768]):
        d = tmp_path / "mc0" / f"dimm{i}"
        d.mkdir(parents=True)
        (d / "size").write_text(str(size))
    assert dimm_count(96 * 2**30, edac=str(tmp_path)) == (3, "EDAC")
    est = make(Node(), dimms=4)
    assert est.dram_w == 12.0


@pytest.mark.parametrize("u", [0.0, 0.25, 1.0])
def test_cpu_power_is_idle_plus_dynamic(u):
    node = Node(cpus=4)
    est = make(node, cpu_tdp_w=100.0, cpu_idle_fraction=0.3)
    node.run(10.0, u)
    got = est.read().energy_uj["cpu"] / 1e6
    assert got == pytest.approx(100.0 * (0.3 + 0.7 * u) * 10.0, rel=1e-6)


def test_dram_is_watts_per_gb_of_installed_memory():
    node = Node()
    est = make(node, ram_w_per_gb=0.375)
    node.run(4.0, 0.9)
    assert est.read().energy_uj["dram"] / 1e6 == pytest.approx(16 * 0.375 * 4.0)


def test_energy_follows_load_between_reads():
    node = Node(cpus=2)
    est = make(node, cpu_tdp_w=10.0, cpu_idle_fraction=0.0)
    node.run(1.0, 1.0)
    a = est.read().energy_uj["cpu"]
    node.run(1.0, 0.0)
    b = est.read().energy_uj["cpu"]
    assert a == pytest.approx(10e6) and b == a


def test_dram_only_mode_for_filling_in_a_rapl_backend():
    node = Node()
    est = make(node, domains=("dram",))
    node.run(1.0, 1.0)
    assert set(est.read().energy_uj) == {"dram"}


@pytest.mark.parametrize(
    "kw, match",
    [({"cpu_tdp_w": 0}, "cpu_tdp_w"), ({"cpu_idle_fraction": 1.5}, "cpu_idle_fraction"),
     ({"ram_w_per_gb": -1}, "ram_w_per_gb"), ({"domains": ("gpu",)}, "'gpu'")],
)
def test_bad_parameters_name_the_value(kw, match):
    with pytest.raises(ValueError, match=match):
        make(Node(), **kw)


def test_reads_this_machine():
    est = EstimateBackend()
    a, b = est.read(), est.read()
    assert b.energy_uj["cpu"] >= a.energy_uj["cpu"] >= 0


def test_an_estimated_nodes_baseline_is_the_models_idle_not_what_else_runs_then():
    # On a shared machine the CPU is busy with other work while the baseline is taken; measuring it would make
    # that work "idle" and leave the trials no dynamic energy at all.
    from raybench.energy import NodeMonitor
    from raybench.energy.backends import NullGpus

    node = Node(cpus=4)
    est = make(node, cpu_tdp_w=100.0, cpu_idle_fraction=0.3, dimms=2, dram_w_per_dimm=3.0)
    mon = NodeMonitor(est, NullGpus(), node_id="n")
    real_read = est.read

    def busy_read():
        node.run(0.1, 0.9)  # 90% busy with someone else's work during the baseline
        return real_read()

    est.read = busy_read
    base = mon.measure_baseline(0.05, step_s=0.01)
    assert base["power_w"]["cpu"] == pytest.approx(30.0)  # TDP x idle fraction, not 93 W
    assert base["power_w"]["dram"] == pytest.approx(6.0)
