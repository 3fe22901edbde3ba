"""Energy backends: one module per way of reading (or modelling) energy, plus the null objects and fakes."""

from raybench.energy.backends._estimate import EstimateBackend
from raybench.energy.backends._fake import FakeGpu, FakeNvml, FakePowercap
from raybench.energy.backends._null import NullCpu, NullGpus
from raybench.energy.backends._nvml import NvmlGpus
from raybench.energy.backends._powercap import PowercapBackend, PowercapUnreadable, discover_zones, select_zones
from raybench.energy.backends._pyrapl import PyRaplBackend

__all__ = [
    "EstimateBackend",
    "FakeGpu",
    "FakeNvml",
    "FakePowercap",
    "NullCpu",
    "NullGpus",
    "NvmlGpus",
    "PowercapBackend",
    "PowercapUnreadable",
    "PyRaplBackend",
    "discover_zones",
    "select_zones",
]
