"""Fake hardware, shipped for tests: a powercap tree on disk and a stand-in for pynvml's functions.

Both fake only the hardware boundary, so the real backends run on them unchanged: PowercapBackend
reads the fake tree's files, and NvmlGpus calls the fake functions once they are patched onto the
real pynvml module (`for n, f in fake.functions().items(): monkeypatch.setattr(pynvml, n, f)`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Optional

DEFAULT_RANGE_UJ = 262_143_328_850  # a common Intel package range (about 262 kJ)


class FakePowercap:
    """A powercap tree under `root`, laid out like /sys/class/powercap (flat symlinks to zone dirs)."""

    def __init__(self, root: str) -> None:
        self.root = root
        self._dirs: dict[str, str] = {}
        self._ranges: dict[str, int] = {}
        os.makedirs(os.path.join(root, "devices"), exist_ok=True)

    # ---- building ----
    def add_zone(self, entry: str, name: str, *, energy_uj: int = 0, max_energy_range_uj: int = DEFAULT_RANGE_UJ,
                 power_limit_uw: Optional[int] = None) -> str:
        """One zone; `power_limit_uw` writes constraint_0_power_limit_uw (PL1), as most packages publish it."""
        parent = entry.rsplit(":", 1)[0]
        base = self._dirs[parent] if parent in self._dirs else os.path.join(self.root, "devices")
        path = os.path.join(base, entry)
        os.makedirs(path, exist_ok=True)
        self._write(os.path.join(path, "name"), name)
        self._write(os.path.join(path, "max_energy_range_uj"), str(max_energy_range_uj))
        self._write(os.path.join(path, "energy_uj"), str(energy_uj))
        if power_limit_uw is not None:
            self._write(os.path.join(path, "constraint_0_power_limit_uw"), str(int(power_limit_uw)))
            self._write(os.path.join(path, "constraint_0_name"), "long_term")
        link = os.path.join(self.root, entry)
        if not os.path.lexists(link):
            os.symlink(os.path.relpath(path, self.root), link)
        self._dirs[entry] = path
        self._ranges[entry] = max_energy_range_uj
        return path

    @classmethod
    def intel(cls, root: str, *, sockets: int = 1, dram: bool = True, psys: bool = False, mmio: bool = False,
              max_energy_range_uj: int = DEFAULT_RANGE_UJ) -> FakePowercap:
        """An Intel layout: package-N with core, uncore and (optionally) dram subzones."""
        fake = cls(root)
        for s in range(sockets):
            fake.add_zone(f"intel-rapl:{s}", f"package-{s}", max_energy_range_uj=max_energy_range_uj)
            fake.add_zone(f"intel-rapl:{s}:0", "core", max_energy_range_uj=max_energy_range_uj)
            fake.add_zone(f"intel-rapl:{s}:1", "uncore", max_energy_range_uj=max_energy_range_uj)
            if dram:
                fake.add_zone(f"intel-rapl:{s}:2", "dram", max_energy_range_uj=max_energy_range_uj)
        if psys:
            fake.add_zone(f"intel-rapl:{sockets}", "psys", max_energy_range_uj=max_energy_range_uj)
        if mmio:
            fake.add_zone("intel-rapl-mmio:0", "package-0", max_energy_range_uj=max_energy_range_uj)
            fake.add_zone("intel-rapl-mmio:0:0", "core", max_energy_range_uj=max_energy_range_uj)
        return fake

    @classmethod
    def amd(cls, root: str, *, sockets: int = 1, max_energy_range_uj: int = DEFAULT_RANGE_UJ) -> FakePowercap:
        """An AMD Zen layout: package-N with a core subzone, and no dram zone."""
        fake = cls(root)
        for s in range(sockets):
            fake.add_zone(f"intel-rapl:{s}", f"package-{s}", max_energy_range_uj=max_energy_range_uj)
            fake.add_zone(f"intel-rapl:{s}:0", "core", max_energy_range_uj=max_energy_range_uj)
        return fake

    # ---- driving ----
    def energy_uj(self, entry: str) -> int:
        with open(os.path.join(self._dirs[entry], "energy_uj")) as f:
            return int(f.read())

    def set_energy(self, entry: str, energy_uj: int) -> None:
        """Set a counter, wrapping at max_energy_range_uj as the hardware does."""
        self._write(os.path.join(self._dirs[entry], "energy_uj"), str(int(energy_uj) % self._ranges[entry]))

    def add_energy(self, entry: str, energy_uj: int) -> None:
        self.set_energy(entry, self.energy_uj(entry) + int(energy_uj))

    def restrict(self, entry: str) -> str:
        """Make a counter root-only (mode 0400, as kernels do since 2020). Root still reads it."""
        path = os.path.join(self._dirs[entry], "energy_uj")
        os.chmod(path, 0o400)
        return path

    def open_up(self) -> None:
        """Let any user traverse the tree and read the name files (as in real sysfs)."""
        for dirpath, _dirs, files in os.walk(self.root):
            os.chmod(dirpath, 0o755)
            for f in files:
                p = os.path.join(dirpath, f)
                if f != "energy_uj" or os.stat(p).st_mode & 0o777 != 0o400:
                    os.chmod(p, 0o444)

    @staticmethod
    def _write(path: str, text: str) -> None:
        # Atomic replace: a reader sees the old or the new value, never a torn one.
        tmp = f"{path}.tmp{os.getpid()}"
        with open(tmp, "w") as f:
            f.write(text + "\n")
        mode = os.stat(path).st_mode & 0o777 if os.path.exists(path) else 0o444
        os.chmod(tmp, mode)
        os.replace(tmp, path)


@dataclass
class FakeGpu:
    uuid: str
    name: str = "Fake GPU"
    energy_mj: Optional[float] = 0.0  # None: no energy counter (pre-Volta)
    power_mw: Optional[float] = 50_000.0  # None: no power reading (the device cannot be read)
    mig: tuple[str, ...] = ()  # MIG slice UUIDs ("MIG-..."), when MIG mode is on
    broken: bool = False  # every call on it fails (a device that fell off the bus)


class FakeNvml:
    """The pynvml functions NvmlGpus calls, over a list of FakeGpu. Errors are real pynvml.NVMLError."""

    def __init__(self, gpus: list[FakeGpu], *, init_error: Optional[int] = None) -> None:
        import pynvml

        self._nv = pynvml
        self.gpus = gpus
        self.init_error = init_error
        self.initialized = False

    def _err(self, code: int) -> Exception:
        return self._nv.NVMLError(code)

    def _gpu(self, handle: Any) -> FakeGpu:
        if not self.initialized:
            raise self._err(self._nv.NVML_ERROR_UNINITIALIZED)
        g = self.gpus[handle[0] if isinstance(handle, tuple) else handle]
        if g.broken:
            raise self._err(self._nv.NVML_ERROR_GPU_IS_LOST)
        return g

    def nvmlInit(self) -> None:
        if self.init_error is not None:
            raise self._err(self.init_error)
        self.initialized = True

    def nvmlShutdown(self) -> None:
        if not self.initialized:
            raise self._err(self._nv.NVML_ERROR_UNINITIALIZED)
        self.initialized = False

    def nvmlDeviceGetCount(self) -> int:
        if not self.initialized:
            raise self._err(self._nv.NVML_ERROR_UNINITIALIZED)
        return len(self.gpus)

    def nvmlDeviceGetHandleByIndex(self, i: int) -> int:
        if not 0 <= i < self.nvmlDeviceGetCount():
            raise self._err(self._nv.NVML_ERROR_INVALID_ARGUMENT)
        return i

    def nvmlDeviceGetUUID(self, handle: Any) -> str:
        g = self._gpu(handle)
        return g.mig[handle[1]] if isinstance(handle, tuple) else g.uuid

    def nvmlDeviceGetMaxMigDeviceCount(self, handle: int) -> int:
        return len(self._gpu(handle).mig)

    def nvmlDeviceGetMigDeviceHandleByIndex(self, handle: int, j: int) -> tuple[int, int]:
        if not 0 <= j < len(self._gpu(handle).mig):
            raise self._err(self._nv.NVML_ERROR_NOT_FOUND)
        return (handle, j)

    def nvmlDeviceGetName(self, handle: int) -> str:
        return self._gpu(handle).name

    def nvmlDeviceGetTotalEnergyConsumption(self, handle: int) -> int:
        g = self._gpu(handle)
        if g.energy_mj is None:
            raise self._err(self._nv.NVML_ERROR_NOT_SUPPORTED)
        return int(g.energy_mj)

    def nvmlDeviceGetPowerUsage(self, handle: int) -> int:
        g = self._gpu(handle)
        if g.power_mw is None:
            raise self._err(self._nv.NVML_ERROR_NOT_SUPPORTED)
        return int(g.power_mw)

    def functions(self) -> dict[str, Any]:
        names = [n for n in dir(self) if n.startswith("nvml")]
        return {n: getattr(self, n) for n in names}
