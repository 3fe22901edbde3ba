"""Records and interfaces shared by every energy backend.

A backend is read, never asked for power: each `read()` returns cumulative energy since the backend
was opened, so a measurement window is two readings and a subtraction (as in Zeus). Counter
wraparound and power integration both happen inside the backend, where the raw value is read.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

# The three energy domains, in the order they appear in every payload.
DOMAINS = ("cpu", "dram", "gpu")

# Provenance of one domain's energy. "none" means nothing measured or estimated it (it reads 0 J).
MEASURED = "measured"
ESTIMATED = "estimated"
NONE = "none"


@dataclass(frozen=True)
class Reading:
    """Cumulative energy per domain ("cpu", "dram") since the backend was opened."""

    time_s: float  # time.monotonic() when read
    energy_uj: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class GpuDevice:
    """One GPU as NVML numbers it. `energy_source` is "counter" or "power" (integrated samples)."""

    index: int
    uuid: str
    name: str = ""
    energy_source: str = "counter"
    mig_uuids: tuple[str, ...] = ()  # its MIG slices ("MIG-..."), when MIG mode is on


@dataclass(frozen=True)
class GpuReading:
    """Cumulative energy per GPU index since the backend was opened."""

    time_s: float
    energy_mj: Mapping[int, float] = field(default_factory=dict)
    # Cumulative counter re-anchoring corrections per GPU (part of energy_mj): the difference between the
    # exact counter and the integrated power, which belongs to the whole period since the previous anchor.
    correction_mj: Mapping[int, float] = field(default_factory=dict)


class CpuBackend(Protocol):
    """CPU-side energy: some of the domains "cpu" and "dram"."""

    name: str
    provenance: Mapping[str, str]  # domain -> MEASURED or ESTIMATED, only for domains it reads

    def read(self) -> Reading: ...

    def close(self) -> None: ...


class GpuBackend(Protocol):
    """Per-device GPU energy. Zero devices is a valid backend (the null object)."""

    name: str
    provenance: str
    devices: tuple[GpuDevice, ...]

    def read(self) -> GpuReading: ...

    def close(self) -> None: ...


def resolve_gpu_ids(devices: Iterable[GpuDevice], ids: Iterable[object]) -> tuple[int, ...]:
    """Map CUDA_VISIBLE_DEVICES-style ids (indices or UUIDs, as Ray sets them) to NVML indices.

    A UUID may come with or without its "GPU-" prefix and may be abbreviated, as CUDA accepts.
    Ids that match no device are dropped: their energy then stays unattributed, which is visible.
    """
    devices = tuple(devices)
    by_index = {d.index: d.index for d in devices}
    out: list[int] = []
    for raw in ids:
        token = str(raw).strip()
        if not token:
            continue
        if token.lstrip("-").isdigit():
            idx = by_index.get(int(token))
        else:
            idx = _match_uuid(devices, token)
        if idx is not None and idx not in out:
            out.append(idx)
    return tuple(out)


def resolve_gpu_shares(devices: Iterable[GpuDevice], ids: Iterable[object]) -> dict[int, float]:
    """NVML index -> the share of that GPU the ids hold: 1 for a whole GPU, 1/n for one of its n MIG slices.

    MIG slices are not metered on their own (NVML reads the parent GPU), so a slice is charged an equal
    share of its parent's energy, and this is said once. Ids that match no device are left out, said once.
    """
    from raybench.energy._log import say_once

    devices = tuple(devices)
    out: dict[int, float] = {}
    for raw in ids:
        token = str(raw).strip()
        if not token:
            continue
        if token.lower().startswith("mig-"):
            parent = next((d for d in devices if token.lower() in (u.lower() for u in d.mig_uuids)), None)
            if parent is not None:
                say_once("mig-split", f"GPU {parent.index} is split into {len(parent.mig_uuids)} MIG slices, which "
                         "NVML cannot meter separately: each slice is charged an equal share of the GPU's energy")
                out[parent.index] = min(out.get(parent.index, 0.0) + 1.0 / len(parent.mig_uuids), 1.0)
                continue
        else:
            idx = resolve_gpu_ids(devices, [token])
            if idx:
                out[idx[0]] = 1.0
                continue
        say_once(f"gpu-unmatched-{token}", f"GPU id {token!r} (CUDA_VISIBLE_DEVICES) matches no GPU NVML reports; "
                 "its energy stays unattributed")
    return out


def _match_uuid(devices: tuple[GpuDevice, ...], token: str) -> int | None:
    want = token.lower().removeprefix("gpu-")
    hits = [d.index for d in devices if d.uuid.lower().removeprefix("gpu-").startswith(want)]
    return hits[0] if len(hits) == 1 else None
