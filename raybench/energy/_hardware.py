"""What the node's hardware holds, which is what the idle baseline is divided by (not Ray's resources).

RAPL and /proc/stat see the whole host, even inside a container or with `--num-cpus 8`, so the idle
power of the host is split by its logical CPUs, its physical RAM and its GPUs; the part no trial
reserved stays unattributed. A cgroup CPU quota is recorded beside them (`cpu_quota`), as the share of
the host this container may use.
"""

from __future__ import annotations

import os
from typing import Optional

import psutil


def cgroup_cpu_quota(root: str = "/sys/fs/cgroup") -> Optional[float]:
    """CPUs allowed by the cgroup quota (v2 cpu.max, or v1 cfs_quota_us / cfs_period_us), None without one."""
    try:
        with open(os.path.join(root, "cpu.max")) as f:
            quota, period = f.read().split()[:2]
        return None if quota == "max" else float(quota) / float(period)
    except (OSError, ValueError):
        pass
    try:
        with open(os.path.join(root, "cpu", "cpu.cfs_quota_us")) as f:
            quota = float(f.read())
        with open(os.path.join(root, "cpu", "cpu.cfs_period_us")) as f:
            period = float(f.read())
    except (OSError, ValueError):
        return None
    return quota / period if quota > 0 and period > 0 else None


def hardware_resources(n_gpus: int, *, cgroup_root: str = "/sys/fs/cgroup") -> dict[str, float]:
    """{cpus: logical CPUs, memory_mb: physical RAM, gpus: devices, cpu_quota: CPUs the cgroup allows (0: none)}."""
    quota = cgroup_cpu_quota(cgroup_root)
    return {
        "cpus": float(psutil.cpu_count(logical=True) or 1),
        "memory_mb": psutil.virtual_memory().total / 2**20,
        "gpus": float(n_gpus),
        "cpu_quota": float(quota or 0.0),
    }
