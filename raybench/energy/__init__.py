"""The energy layer: backends, a per-node monitor, attribution of joules to trials, and metrics.

Pure Python, no Ray: the runtime's energy actor wraps `NodeMonitor`, and the report feeds
`EnergyLedger` and `raybench.energy.metrics`. See docs/energy.md and docs/metrics.md.
"""

from raybench.energy._factory import AUTO_ORDER, open_backends, open_cpu_backend, open_gpu_backend
from raybench.energy._monitor import NodeMonitor, normalize_reserved
from raybench.energy._probe import Probe, clear_probes, probe_nvml, probe_powercap, probe_pyrapl
from raybench.energy._types import (
    DOMAINS,
    ESTIMATED,
    MEASURED,
    NONE,
    CpuBackend,
    GpuBackend,
    GpuDevice,
    GpuReading,
    Reading,
    resolve_gpu_ids,
    resolve_gpu_shares,
)
from raybench.energy.attribution import EnergyLedger, IntervalAttribution, attribute_interval

__all__ = [
    "AUTO_ORDER",
    "DOMAINS",
    "ESTIMATED",
    "MEASURED",
    "NONE",
    "CpuBackend",
    "EnergyLedger",
    "GpuBackend",
    "GpuDevice",
    "GpuReading",
    "IntervalAttribution",
    "NodeMonitor",
    "Probe",
    "Reading",
    "attribute_interval",
    "clear_probes",
    "normalize_reserved",
    "open_backends",
    "open_cpu_backend",
    "open_gpu_backend",
    "probe_nvml",
    "probe_powercap",
    "probe_pyrapl",
    "resolve_gpu_ids",
    "resolve_gpu_shares",
]
