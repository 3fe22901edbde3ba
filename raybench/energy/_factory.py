"""Choosing backends. An explicit request fails loudly; `auto` degrades quietly and says so once.

CPU, energy.backend:
    auto      powercap -> pyrapl -> estimate (the first that opens)
    powercap  RAPL through sysfs (energy.powercap_root), else HardwareError
    pyrapl    RAPL through pyRAPL, else HardwareError
    estimate  the TDP x utilization and per-DIMM model, labelled "estimated", with a range
    none      no CPU-side energy (0 J, provenance "none")
A RAPL backend without a DRAM zone (most AMD parts) gets DRAM from the estimator, labelled so.

GPU, energy.gpu:
    auto      NVML when it opens and sees a GPU, else zero devices
    nvml      NVML, else HardwareError
    none      zero devices
"""

from __future__ import annotations

import logging
from typing import Optional

from raybench.energy._log import say_once
from raybench.energy._probe import probe_nvml, probe_powercap, probe_pyrapl
from raybench.energy._types import CpuBackend, GpuBackend, Reading
from raybench.energy.backends._estimate import DEFAULT_IDLE_FRACTION, DEFAULT_W_PER_DIMM, EstimateBackend
from raybench.energy.backends._null import NullCpu, NullGpus
from raybench.energy.backends._nvml import NvmlGpus
from raybench.energy.backends._powercap import DEFAULT_ROOT, PERMISSION_FIX, PowercapBackend
from raybench.energy.backends._pyrapl import PyRaplBackend

CPU_BACKENDS = ("auto", "powercap", "pyrapl", "estimate", "none")
GPU_BACKENDS = ("auto", "nvml", "none")
AUTO_ORDER = ("powercap", "pyrapl", "estimate")


class _WithEstimatedDram:
    """A RAPL backend's domains, plus modelled DRAM where it has no DRAM counter."""

    def __init__(self, measured: CpuBackend, dram: EstimateBackend) -> None:
        self._measured, self._dram = measured, dram
        self.name = f"{measured.name}+estimate"
        self.provenance = {**dram.provenance, **measured.provenance}
        self.estimate_range = {d: r for d, r in dram.estimate_range.items() if d not in measured.provenance}

    def read(self) -> Reading:
        m, d = self._measured.read(), self._dram.read()
        return Reading(m.time_s, {**d.energy_uj, **m.energy_uj})

    def close(self) -> None:
        self._measured.close()
        self._dram.close()


def open_cpu_backend(
    kind: str = "auto",
    *,
    powercap_root: str = DEFAULT_ROOT,
    cpu_tdp_w: float | None = None,
    cpu_idle_fraction: float = DEFAULT_IDLE_FRACTION,
    ram_w_per_gb: Optional[float] = None,
    dram_w_per_dimm: float = DEFAULT_W_PER_DIMM,
) -> CpuBackend:
    """The CPU-side backend for `kind` (see the module docstring). Raises HardwareError or ValueError."""
    if kind not in CPU_BACKENDS:
        raise ValueError(f"unknown energy backend {kind!r}; use one of {', '.join(CPU_BACKENDS)}")
    model = dict(cpu_tdp_w=cpu_tdp_w, cpu_idle_fraction=cpu_idle_fraction, ram_w_per_gb=ram_w_per_gb,
                 dram_w_per_dimm=dram_w_per_dimm, powercap_root=powercap_root)
    dram_model = dict(ram_w_per_gb=ram_w_per_gb, dram_w_per_dimm=dram_w_per_dimm)
    if kind == "none":
        return NullCpu()
    if kind == "estimate":
        return EstimateBackend(**model)
    if kind == "powercap":
        return _fill_dram(PowercapBackend(powercap_root), dram_model)
    if kind == "pyrapl":
        return _fill_dram(PyRaplBackend(), dram_model)

    pc = probe_powercap(powercap_root)
    if pc.available:
        return _fill_dram(PowercapBackend(powercap_root), dram_model)
    if pc.reason == "permission":
        say_once(
            "powercap-permission",
            f"RAPL counters under {powercap_root} are not readable by this user, so energy is estimated. "
            f"To measure it, run: {PERMISSION_FIX} (docs/energy.md shows how to make it permanent)",
        )
    if probe_pyrapl().available:
        return _fill_dram(PyRaplBackend(), dram_model)
    say_once(
        "energy-estimate",
        f"no readable RAPL counter under {powercap_root} ({pc.reason}); CPU and DRAM energy are estimated "
        "from utilization (docs/energy.md)",
        level=logging.INFO,
    )
    return EstimateBackend(**model)


def _fill_dram(backend: CpuBackend, dram_model: dict) -> CpuBackend:
    if "dram" in backend.provenance:
        return backend
    if getattr(backend, "dram_in_cpu", False):
        say_once(f"dram-in-psys-{backend.name}", "RAPL measures the platform (psys), which holds the memory: DRAM is "
                 "inside the cpu figure and not counted or estimated again", level=logging.INFO)
        return backend
    dram = EstimateBackend(domains=("dram",), **dram_model)
    say_once(
        f"no-dram-{backend.name}",
        f"{backend.name} has no DRAM counter (usual on AMD); DRAM energy is estimated: {dram.dram_basis}",
        level=logging.INFO,
    )
    return _WithEstimatedDram(backend, dram)


def open_gpu_backend(kind: str = "auto") -> GpuBackend:
    """The GPU backend for `kind` (see the module docstring). Raises HardwareError or ValueError."""
    if kind not in GPU_BACKENDS:
        raise ValueError(f"unknown energy gpu backend {kind!r}; use one of {', '.join(GPU_BACKENDS)}")
    if kind == "none":
        return NullGpus()
    if kind == "nvml":
        return NvmlGpus()
    probe = probe_nvml()
    if probe.available:
        return NvmlGpus()
    why = (probe.detail or "NVML reports no GPU").split("; check `nvidia")[0].split("; set energy.gpu")[0]
    say_once("no-gpu", f"no NVIDIA GPU measured ({why}); GPU energy reads 0 J", level=logging.INFO)
    return NullGpus()


def open_backends(spec) -> tuple[CpuBackend, GpuBackend]:
    """Both backends from an EnergySpec (raybench.config), the runtime's one call."""
    cpu = open_cpu_backend(
        spec.backend,
        powercap_root=spec.powercap_root,
        cpu_tdp_w=spec.cpu_tdp_w,
        cpu_idle_fraction=spec.cpu_idle_fraction,
        ram_w_per_gb=spec.ram_w_per_gb,
        dram_w_per_dimm=spec.dram_w_per_dimm,
    )
    try:
        gpu = open_gpu_backend(spec.gpu)
    except BaseException:
        cpu.close()
        raise
    return cpu, gpu
