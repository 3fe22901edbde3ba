"""The estimator's model, driven by scripted CPU times (the boundary it reads) and a scripted clock."""

import pytest

from raybench.energy import ESTIMATED
from raybench.energy.backends import EstimateBackend
from raybench.energy.backends._estimate import DEFAULT_W_PER_CPU


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
    return EstimateBackend(logical_cpus=node.cpus, memory_bytes=16 * 2**30, cpu_times=node.times, clock=node.clock, **kw)


def test_tdp_defaults_to_ten_watts_per_logical_cpu():
    node = Node(cpus=4)
    est = make(node)
    assert est.cpu_tdp_w == 4 * DEFAULT_W_PER_CPU
    assert est.provenance == {"cpu": ESTIMATED, "dram": ESTIMATED}


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
