"""Backend choice: the documented auto order, explicit requests that fail loudly, and the null object."""

import subprocess
import sys
import types

import pytest

from raybench.config._schema import EnergySpec
from raybench.energy import AUTO_ORDER, open_backends, open_cpu_backend, probe_powercap
from raybench.energy.backends import FakePowercap, NullCpu, PyRaplBackend
from raybench.energy.backends import _pyrapl as pyrapl_module
from raybench.errors import HardwareError


class FakePyRAPL(types.ModuleType):
    """A stand-in for the pyRAPL module: Sensor().energy() is [pkg0, dram0, pkg1, dram1, ...] in uJ."""

    class PyRAPLException(Exception):
        pass

    def __init__(self, values):
        super().__init__("pyRAPL")
        self.values = list(values)
        fake = self

        class Sensor:
            def __init__(self):
                if fake.values is None:
                    raise fake.PyRAPLException("no device")

            def energy(self):
                return list(fake.values)

        self.Sensor = Sensor


@pytest.fixture
def no_pyrapl(monkeypatch):
    fake = FakePyRAPL([])
    fake.values = None
    monkeypatch.setitem(sys.modules, "pyRAPL", fake)
    return fake


def test_auto_order_is_documented():
    assert AUTO_ORDER == ("powercap", "pyrapl", "estimate")


def test_auto_prefers_a_readable_powercap_tree(tmp_path, no_pyrapl):
    fake = FakePowercap.intel(str(tmp_path))
    backend = open_cpu_backend("auto", powercap_root=fake.root)
    assert backend.name == "powercap"
    assert backend.provenance == {"cpu": "measured", "dram": "measured"}


def test_auto_falls_to_pyrapl_then_estimate(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "pyRAPL", FakePyRAPL([10, 20]))
    assert open_cpu_backend("auto", powercap_root=str(tmp_path / "absent")).name == "pyrapl"


def test_auto_ends_at_the_estimator_and_says_so_once(tmp_path, no_pyrapl, energy_log):
    root = str(tmp_path / "absent")
    assert open_cpu_backend("auto", powercap_root=root).name == "estimate"
    assert open_cpu_backend("auto", powercap_root=root).name == "estimate"
    said = [r.getMessage() for r in energy_log.records if "estimated" in r.getMessage()]
    assert len(said) == 1 and "absent" in said[0]


def test_amd_gets_estimated_dram_labelled_as_such(tmp_path, energy_log):
    fake = FakePowercap.amd(str(tmp_path))
    backend = open_cpu_backend("powercap", powercap_root=fake.root)
    assert backend.provenance == {"cpu": "measured", "dram": "estimated"}
    fake.add_energy("intel-rapl:0", 1234)
    reading = backend.read()
    assert reading.energy_uj["cpu"] == 1234 and reading.energy_uj["dram"] >= 0
    assert any("no DRAM counter" in r.getMessage() for r in energy_log.records)


@pytest.mark.parametrize("kind", ["powercap", "pyrapl"])
def test_explicit_requests_fail_loudly_in_one_line(tmp_path, no_pyrapl, kind):
    with pytest.raises(HardwareError) as err:
        open_cpu_backend(kind, powercap_root=str(tmp_path / "absent"))
    msg = str(err.value)
    assert "\n" not in msg and "energy.backend: estimate" in msg


def test_none_is_the_null_object():
    backend = open_cpu_backend("none")
    assert isinstance(backend, NullCpu) and backend.provenance == {} and backend.read().energy_uj == {}


def test_unknown_backend_names_the_valid_ones():
    with pytest.raises(ValueError, match="auto, powercap, pyrapl, estimate, none"):
        open_cpu_backend("rapl")


def test_probe_is_cached(tmp_path):
    fake = FakePowercap.intel(str(tmp_path))
    assert probe_powercap(fake.root).available
    import shutil

    shutil.rmtree(tmp_path / "devices")
    assert probe_powercap(fake.root).available  # cached: the tree is not looked at again


def test_open_backends_from_the_config_schema(tmp_path):
    fake = FakePowercap.intel(str(tmp_path))
    cpu, gpu = open_backends(EnergySpec(backend="powercap", gpu="none", powercap_root=fake.root))
    assert cpu.name == "powercap" and gpu.devices == ()


# ---- pyRAPL ---------------------------------------------------------------------------------------

def test_pyrapl_sums_sockets_and_handles_wrap_with_sysfs_ranges(tmp_path, monkeypatch):
    fake_mod = FakePyRAPL([900, 10, 100, 20])
    monkeypatch.setitem(sys.modules, "pyRAPL", fake_mod)
    tree = FakePowercap.intel(str(tmp_path), sockets=2, max_energy_range_uj=1000)
    monkeypatch.setattr(pyrapl_module, "_SYSFS", tree.root)
    backend = PyRaplBackend()
    assert backend.provenance == {"cpu": "measured", "dram": "measured"}
    fake_mod.values = [50, 15, 150, 30]  # package-0 wrapped: 900 -> 50 is 150 uJ
    assert backend.read().energy_uj == {"cpu": 150 + 50, "dram": 5 + 10}


def test_pyrapl_without_dram_and_without_ranges(monkeypatch, energy_log):
    fake_mod = FakePyRAPL([900, -1])
    monkeypatch.setitem(sys.modules, "pyRAPL", fake_mod)
    monkeypatch.setattr(pyrapl_module, "_SYSFS", "/nonexistent")
    backend = PyRaplBackend()
    assert backend.provenance == {"cpu": "measured"}
    fake_mod.values = [100, -1]
    assert backend.read().energy_uj == {"cpu": 0}  # a wrap it cannot size is dropped, and said
    assert any("wrapped" in r.getMessage() for r in energy_log.records)


def test_real_pyrapl_import_is_silent_and_leaves_logging_alone():
    code = (
        "import logging\n"
        "from raybench.energy.backends._pyrapl import import_pyrapl\n"
        "m = import_pyrapl()\n"
        "print('handlers', logging.getLogger().handlers, logging.root.manager.disable, m.__name__)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stderr == ""
    assert out.stdout.strip() == "handlers [] 0 pyRAPL"
