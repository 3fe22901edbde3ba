"""NodeMonitor: one node's energy and CPU time, sampled by the caller, as event payloads.

The per-node Ray energy actor is a thin shell around this class: it calls `track`/`untrack` as
trials start and end, `measure_baseline` once before the first trial, and `sample` every
energy.interval_s. Every method returns plain dicts (msgpack-ready, trial ids as int keys).
Nothing here decides who gets which joule: that is `raybench.energy.attribution`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import psutil

from raybench.energy import _cputime
from raybench.energy._factory import open_backends
from raybench.energy._types import DOMAINS, NONE, CpuBackend, GpuBackend, GpuReading, Reading, resolve_gpu_ids


def normalize_reserved(reserved: Mapping[str, Any]) -> dict[str, Any]:
    """{"cpus", "memory_mb", "gpus", "gpu_ids"} with numbers as floats and ids as strings."""
    unknown = set(reserved) - {"cpus", "memory_mb", "gpus", "gpu_ids"}
    if unknown:
        raise ValueError(f"reserved has unknown keys {sorted(unknown)}; use cpus, memory_mb, gpus, gpu_ids")
    out = {k: float(reserved.get(k) or 0.0) for k in ("cpus", "memory_mb", "gpus")}
    out["gpu_ids"] = [str(g) for g in reserved.get("gpu_ids") or ()]
    return out


@dataclass
class _Trial:
    tree: _cputime.TreeCpu
    reserved: dict[str, Any]
    gpus: tuple[int, ...]
    cpu_s: float = 0.0  # CPU seconds not yet reported: set when untracked, or carried over a re-track


class NodeMonitor:
    """Samples one node. Not thread-safe: one caller (the actor) at a time."""

    def __init__(
        self,
        cpu: CpuBackend,
        gpu: GpuBackend,
        *,
        node_id: str = "",
        node_resources: Mapping[str, float] | None = None,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.cpu, self.gpu, self.node_id = cpu, gpu, node_id
        self._wall = wall_clock
        if node_resources is None:
            node_resources = {
                "cpus": float(psutil.cpu_count(logical=True) or 1),
                "memory_mb": psutil.virtual_memory().total / 2**20,
                "gpus": float(len(gpu.devices)),
            }
        self.node_resources = {k: float(node_resources.get(k, 0.0)) for k in ("cpus", "memory_mb", "gpus")}
        self.provenance = {
            "cpu": cpu.provenance.get("cpu", NONE),
            "dram": cpu.provenance.get("dram", NONE),
            "gpu": gpu.provenance if gpu.devices else NONE,
        }
        self._trials: dict[int, _Trial] = {}
        self._ended: dict[int, _Trial] = {}
        self._procs = _cputime.ProcessTable()
        self._restart_window()

    @classmethod
    def from_spec(cls, spec, *, node_id: str = "", node_resources: Mapping[str, float] | None = None) -> NodeMonitor:
        """A monitor with the backends an EnergySpec (raybench.config) asks for."""
        cpu, gpu = open_backends(spec)
        return cls(cpu, gpu, node_id=node_id, node_resources=node_resources)

    def close(self) -> None:
        self.cpu.close()
        self.gpu.close()

    # ---- trials ----
    def track(self, trial_id: int, pid: int, reserved: Mapping[str, Any]) -> None:
        """Follow the process tree rooted at `pid` as trial `trial_id`, from now on."""
        trial_id = int(trial_id)
        if trial_id in self._trials:
            raise ValueError(f"trial {trial_id} is already tracked; untrack it first")
        res = normalize_reserved(reserved)
        gpus = resolve_gpu_ids(self.gpu.devices, res["gpu_ids"])
        ended = self._ended.pop(trial_id, None)  # re-tracked before the next sample: keep what it used
        self._trials[trial_id] = _Trial(_cputime.TreeCpu(int(pid), _cputime.scan()), res, gpus,
                                        ended.cpu_s if ended else 0.0)

    def untrack(self, trial_id: int) -> None:
        """Stop following a trial. Its CPU time up to now still appears in the next sample."""
        trial = self._trials.pop(int(trial_id), None)
        if trial is None:
            return
        trial.cpu_s = trial.tree.advance(_cputime.scan())
        self._ended[int(trial_id)] = trial

    @property
    def tracked(self) -> tuple[int, ...]:
        return tuple(self._trials)

    # ---- measuring ----
    def _restart_window(self) -> None:
        self._t0 = self._wall()
        self._cpu0: Reading = self.cpu.read()
        self._gpu0: GpuReading = self.gpu.read()
        self._busy0 = _cputime.node_cpu_s()[0]

    def _energy_j(self, c0: Reading, c1: Reading, g0: GpuReading, g1: GpuReading) -> tuple[dict[str, float], dict[int, float]]:
        out = {d: (c1.energy_uj.get(d, 0) - c0.energy_uj.get(d, 0)) / 1e6 for d in ("cpu", "dram")}
        per_gpu = {i: (g1.energy_mj[i] - g0.energy_mj.get(i, 0.0)) / 1e3 for i in g1.energy_mj}
        out["gpu"] = sum(per_gpu.values(), 0.0)
        return out, per_gpu

    def measure_baseline(self, duration_s: float, *, step_s: float = 0.5) -> dict[str, Any]:
        """Average power of each domain over `duration_s` of (hopefully) idle node: a node_baseline payload.

        Reads every `step_s` so that power integration and counter wraparound stay accurate.
        The sampling window restarts afterwards: the baseline is not part of any energy_sample.
        """
        if duration_s <= 0:
            raise ValueError(f"duration_s must be > 0, got {duration_s}")
        c0, g0 = self.cpu.read(), self.gpu.read()
        end = c0.time_s + duration_s
        c1, g1 = c0, g0
        while (left := end - time.monotonic()) > 0:
            time.sleep(min(step_s, left))
            c1, g1 = self.cpu.read(), self.gpu.read()
        dt = max(c1.time_s - c0.time_s, 1e-9)
        energy, _ = self._energy_j(c0, c1, g0, g1)
        self._restart_window()
        table = _cputime.scan() if self._trials else {}
        for trial in self._trials.values():
            trial.tree.advance(table)
        return {
            "node_id": self.node_id,
            "duration_s": dt,
            "power_w": {d: energy[d] / dt for d in DOMAINS},
            "provenance": dict(self.provenance),
        }

    def sample(self) -> dict[str, Any]:
        """An energy_sample payload for the interval since the previous sample (or baseline, or creation)."""
        t1 = self._wall()
        c1, g1 = self.cpu.read(), self.gpu.read()
        busy1 = _cputime.node_cpu_s()[0]
        energy, per_gpu = self._energy_j(self._cpu0, c1, self._gpu0, g1)

        trial_cpu: dict[int, float] = {tid: t.cpu_s for tid, t in self._ended.items()}
        if self._trials:
            inside = set().union(*(t.tree.members for t in self._trials.values()))
            table = self._procs.scan(inside)
            kids = _cputime.children_map(table)
            for tid, t in self._trials.items():
                trial_cpu[tid] = t.tree.advance(table, kids) + t.cpu_s
                t.cpu_s = 0.0
            self._procs.remember(table, set().union(*(t.tree.members for t in self._trials.values())))
        holders = {**self._ended, **self._trials}
        trial_gpu = dict.fromkeys(holders, 0.0)
        for idx, joules in per_gpu.items():
            holding = [tid for tid, t in holders.items() if idx in t.gpus]
            for tid in holding:
                trial_gpu[tid] += joules / len(holding)

        payload = {
            "node_id": self.node_id,
            "t0": self._t0,
            "t1": t1,
            "energy_j": energy,
            "provenance": dict(self.provenance),
            "node_cpu_s": max(busy1 - self._busy0, 0.0),
            "trial_cpu_s": trial_cpu,
            "trial_gpu_j": {tid: j for tid, j in trial_gpu.items() if holders[tid].gpus},
            "reserved": {tid: dict(t.reserved) for tid, t in holders.items()},
            "node_resources": dict(self.node_resources),
        }
        self._t0, self._cpu0, self._gpu0, self._busy0 = t1, c1, g1, busy1
        self._ended.clear()
        return payload
