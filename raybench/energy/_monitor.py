"""NodeMonitor: one node's energy and CPU time, sampled by the caller, as event payloads.

The per-node Ray energy actor is a thin shell around this class: it calls `track`/`untrack` as trials
(and a worker's start-up, and the final test) start and end, `measure_baseline` once before the first
trial, and `sample` every energy.interval_s. Every method returns plain dicts (msgpack-ready, trial ids
as int keys). Nothing here decides who gets which joule: that is `raybench.energy.attribution`.

A read that fails never ends sampling: the interval's energy is estimated from the last good power
(labelled `estimated`, with a range, and the sample carries `gap`), and the backend is reopened.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any, Optional

from raybench.energy import _cputime
from raybench.energy._factory import open_cpu_backend, open_gpu_backend
from raybench.energy._hardware import hardware_resources
from raybench.energy._log import say_once
from raybench.energy._tracking import PHASES, GpuHistory, Registry, Tracked, consumer_payload
from raybench.energy._types import DOMAINS, ESTIMATED, NONE, CpuBackend, GpuBackend, resolve_gpu_shares

# A gap's power is taken as the previous interval's; the true power can be anywhere from idle to full
# load, so its range is half to twice that (docs/energy.md, "Read errors").
GAP_RANGE = (0.5, 2.0)


def normalize_reserved(reserved: Mapping[str, Any]) -> dict[str, Any]:
    """{"cpus", "memory_mb", "gpus", "gpu_ids"} with numbers as floats and ids as strings."""
    unknown = set(reserved) - {"cpus", "memory_mb", "gpus", "gpu_ids"}
    if unknown:
        raise ValueError(f"reserved has unknown keys {sorted(unknown)}; use cpus, memory_mb, gpus, gpu_ids")
    out: dict[str, Any] = {k: float(reserved.get(k) or 0.0) for k in ("cpus", "memory_mb", "gpus")}
    out["gpu_ids"] = [str(g) for g in reserved.get("gpu_ids") or ()]
    return out


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
        reopen_cpu: Optional[Callable[[], CpuBackend]] = None,
        reopen_gpu: Optional[Callable[[], GpuBackend]] = None,
    ) -> None:
        self.cpu, self.gpu, self.node_id = cpu, gpu, node_id
        self._wall = wall_clock
        self._reopen = {"cpu": reopen_cpu, "gpu": reopen_gpu}
        if node_resources is None:
            node_resources = hardware_resources(len(gpu.devices))
        self.node_resources = {k: float(node_resources.get(k, 0.0)) for k in ("cpus", "memory_mb", "gpus")}
        self.provenance = self._provenance()
        self._reg = Registry()
        self._procs = _cputime.ProcessTable()
        self._last_power_w: dict[str, float] = {}
        self._last_gpu_w: dict[int, float] = {}
        self._gpu_history = GpuHistory()
        self._restart_window()

    @classmethod
    def from_spec(cls, spec, *, node_id: str = "", node_resources: Mapping[str, float] | None = None) -> NodeMonitor:
        """A monitor with the backends an EnergySpec (raybench.config) asks for; it reopens them after a read error."""
        def cpu() -> CpuBackend:
            return open_cpu_backend(spec.backend, powercap_root=spec.powercap_root, cpu_tdp_w=spec.cpu_tdp_w,
                                    cpu_idle_fraction=spec.cpu_idle_fraction, ram_w_per_gb=spec.ram_w_per_gb,
                                    dram_w_per_dimm=spec.dram_w_per_dimm)

        def gpu() -> GpuBackend:
            return open_gpu_backend(spec.gpu)

        c = cpu()
        try:
            g = gpu()
        except BaseException:
            c.close()
            raise
        return cls(c, g, node_id=node_id, node_resources=node_resources, reopen_cpu=cpu, reopen_gpu=gpu)

    def _provenance(self) -> dict[str, str]:
        return {"cpu": self.cpu.provenance.get("cpu", NONE), "dram": self.cpu.provenance.get("dram", NONE),
                "gpu": self.gpu.provenance if self.gpu.devices else NONE}

    def close(self) -> None:
        for b in (self.cpu, self.gpu):
            try:
                b.close()
            except Exception:  # closing a broken backend must not hide the run's result
                pass

    # ---- trials ----
    def track(self, trial_id: int, pid: int, reserved: Mapping[str, Any], *, seq: Optional[int] = None,
              t: Optional[float] = None, phase: str = "trial") -> bool:
        """Follow the process tree rooted at `pid` as `phase` of trial `trial_id`, from time `t` (default now).

        Returns False, and ignores the call, when an untrack with a later `seq` already arrived. Tracking a
        trial's "trial" phase ends its "startup" phase (the worker's first imports and data loading).
        """
        if phase not in PHASES:
            raise ValueError(f"phase must be one of {', '.join(PHASES)}, got {phase!r}")
        key = (phase, int(trial_id))
        if self._reg.is_late(key, seq):
            self._reg.ignored += 1
            say_once("late-track", f"a track of {phase} {trial_id} arrived after its untrack and was ignored",
                     level=20)
            return False
        if key in self._reg.live:
            raise ValueError(f"{phase} {trial_id} is already tracked; untrack it first")
        res = normalize_reserved(reserved)
        table = self._table_of({int(pid)}, [("startup", int(trial_id))] if phase == "trial" else [])
        self._start(key, pid, res, self._wall() if t is None else float(t), seq, table)
        return True

    def _start(self, key: tuple[str, int], pid: int, res: dict[str, Any], t: float, seq: Optional[int],
               table: dict[int, _cputime.ProcStat]) -> None:
        phase, trial_id = key
        if phase == "trial":
            self._reg.end(("startup", trial_id), t, None, table)
        shares = resolve_gpu_shares(self.gpu.devices, res["gpu_ids"])
        self._reg.start(Tracked(key, _cputime.TreeCpu(int(pid), table), res, shares, t, seq=seq or 0))

    def untrack(self, trial_id: int, *, seq: Optional[int] = None, t: Optional[float] = None,
                phase: str = "trial") -> None:
        """Stop following it at time `t` (default now). Its CPU time up to now still appears in the next sample."""
        self._end(int(trial_id), phase, self._wall() if t is None else float(t), seq,
                  self._table_of(set(), self._ended_keys(int(trial_id), phase)))

    @staticmethod
    def _ended_keys(trial_id: int, phase: str) -> list[tuple[str, int]]:
        return [(phase, trial_id), *([("startup", trial_id)] if phase == "trial" else [])]

    def _end(self, trial_id: int, phase: str, t: float, seq: Optional[int], table) -> None:
        if phase == "trial":
            self._reg.end(("startup", trial_id), t, None, table)
        self._reg.end((phase, trial_id), t, seq, table)

    def retrack(self, ended: int, trial_id: int, pid: int, reserved: Mapping[str, Any], *,
                ended_seq: Optional[int] = None, ended_t: Optional[float] = None, seq: Optional[int] = None,
                t: Optional[float] = None, phase: str = "trial") -> bool:
        """`untrack(ended)` (phase "trial") and then `track(trial_id, pid, ...)`, as one process goes from one
        trial to the next: one read of the processes for both, so the CPU time between the two is neither lost
        nor counted twice, and half the reads of /proc. Returns what `track` returns. The ended trial ends even
        when the new one's arguments are refused (ValueError)."""
        keys = self._ended_keys(int(ended), "trial")
        table = self._table_of({int(pid)}, keys + [("startup", int(trial_id))])
        self._end(int(ended), "trial", self._wall() if ended_t is None else float(ended_t), ended_seq, table)
        if phase not in PHASES:
            raise ValueError(f"phase must be one of {', '.join(PHASES)}, got {phase!r}")
        key = (phase, int(trial_id))
        res = normalize_reserved(reserved)
        if self._reg.is_late(key, seq):
            self._reg.ignored += 1
            say_once("late-track", f"a track of {phase} {trial_id} arrived after its untrack and was ignored",
                     level=20)
            return False
        if key in self._reg.live:
            raise ValueError(f"{phase} {trial_id} is already tracked; untrack it first")
        self._start(key, pid, res, self._wall() if t is None else float(t), seq, table)
        return True

    def _table_of(self, roots: set[int], keys: list[tuple[str, int]]) -> dict[int, _cputime.ProcStat]:
        """The processes that a track or untrack reads: the trees below `roots` and below the members of the
        live consumers `keys` (nothing when there are none): not the whole node."""
        for key in keys:
            item = self._reg.live.get(key)
            if item is not None:
                roots |= item.tree.members
        return _cputime.tree_table(roots) if roots else {}

    def is_tracked(self, trial_id: int, phase: str = "trial") -> bool:
        return (phase, int(trial_id)) in self._reg.live

    @property
    def tracked(self) -> tuple[int, ...]:
        return tuple(tid for phase, tid in self._reg.live if phase == "trial")

    # ---- reading, with gaps ----
    def _restart_window(self) -> None:
        self._t0 = self._wall()
        self._cpu0 = self._try_read("cpu")
        self._gpu0 = self._try_read("gpu")
        self._busy0 = _cputime.node_cpu_s()[0]

    def _try_read(self, side: str):
        try:
            return (self.cpu if side == "cpu" else self.gpu).read()
        except Exception:
            return None

    def _reopen_side(self, side: str) -> None:
        opener = self._reopen[side]
        if opener is None:
            return
        try:
            fresh = opener()
        except Exception as e:
            say_once(f"reopen-{side}", f"reopening the {side} energy backend failed ({e}); trying again next sample")
            return
        old = self.cpu if side == "cpu" else self.gpu
        try:
            old.close()
        except Exception:
            pass
        if side == "cpu":
            self.cpu = fresh
        else:
            self.gpu = fresh
        self.provenance = self._provenance()

    def measure_baseline(self, duration_s: float, *, step_s: float = 0.5) -> dict[str, Any]:
        """Average power of each domain, and of each GPU, over `duration_s` of (hopefully) idle node.

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
        per_gpu = {i: (g1.energy_mj[i] - g0.energy_mj.get(i, 0.0)) / 1e3 for i in g1.energy_mj}
        power = {d: (c1.energy_uj.get(d, 0) - c0.energy_uj.get(d, 0)) / 1e6 / dt for d in ("cpu", "dram")}
        power["gpu"] = sum(per_gpu.values(), 0.0) / dt
        model_idle = getattr(self.cpu, "idle_power_w", None)
        if callable(model_idle):  # an estimated node: its idle is the model's, not what else runs right now
            self._last_power_w = dict(power)
            power.update(model_idle())
        else:
            self._last_power_w = dict(power)
        self._last_gpu_w = {i: j / dt for i, j in per_gpu.items()}
        self._restart_window()
        table = _cputime.scan() if self._reg.live else {}
        for item in self._reg.live.values():
            item.tree.advance(table)
        return {"node_id": self.node_id, "duration_s": dt, "power_w": power,
                "gpu_power_w": {i: j / dt for i, j in per_gpu.items()}, "provenance": dict(self.provenance)}

    def _cpu_energy(self, c1, dt: float, gap: dict[str, Any], prov: dict[str, str]) -> dict[str, float]:
        out = dict.fromkeys(("cpu", "dram"), 0.0)
        if self._cpu0 is not None and c1 is not None:
            for d in out:
                out[d] = (c1.energy_uj.get(d, 0) - self._cpu0.energy_uj.get(d, 0)) / 1e6
                if dt > 0:
                    self._last_power_w[d] = out[d] / dt
            return out
        for d in out:
            if prov[d] != NONE:
                out[d] = self._last_power_w.get(d, 0.0) * dt
                prov[d] = ESTIMATED
                gap.setdefault("domains", []).append(d)
        return out

    def _gpu_energy(self, g1, dt: float, gap: dict[str, Any], prov: dict[str, str]) -> tuple[dict[int, float], dict[int, float]]:
        if self._gpu0 is not None and g1 is not None:
            per = {i: (g1.energy_mj[i] - self._gpu0.energy_mj.get(i, 0.0)) / 1e3 for i in g1.energy_mj}
            corr = {i: (g1.correction_mj.get(i, 0.0) - self._gpu0.correction_mj.get(i, 0.0)) / 1e3 for i in per}
            if dt > 0:
                self._last_gpu_w.update({i: (j - corr[i]) / dt for i, j in per.items()})
            return per, {i: c for i, c in corr.items() if c}
        per = {d.index: self._last_gpu_w.get(d.index, 0.0) * dt for d in self.gpu.devices}
        if per:
            prov["gpu"] = ESTIMATED
            gap.setdefault("domains", []).append("gpu")
        return per, {}

    # ---- sampling ----
    def sample(self) -> dict[str, Any]:
        """An energy_sample payload for the interval since the previous sample (or baseline, or creation)."""
        t1 = self._wall()
        dt = max(t1 - self._t0, 0.0)
        errors = {}
        reads = {}
        for side in ("cpu", "gpu"):
            try:
                reads[side] = (self.cpu if side == "cpu" else self.gpu).read()
            except Exception as e:
                errors[side] = f"{type(e).__name__}: {e}"
                reads[side] = None
        busy1 = _cputime.node_cpu_s()[0]
        prov = dict(self.provenance)
        gap: dict[str, Any] = {}
        energy = self._cpu_energy(reads["cpu"], dt, gap, prov)
        per_gpu, corr = self._gpu_energy(reads["gpu"], dt, gap, prov)
        energy["gpu"] = sum(per_gpu.values(), 0.0)

        items = self._reg.all_in_window()
        if self._reg.live:
            inside = set().union(*(i.tree.members for i in self._reg.live.values()))
            table = self._procs.scan(inside)
            kids = _cputime.children_map(table)
            for item in self._reg.live.values():
                item.cpu_s += item.tree.advance(table, kids)
            self._procs.remember(table, set().union(*(i.tree.members for i in self._reg.live.values())))
        payload = consumer_payload(items, self._t0, t1, per_gpu, corr, self._gpu_history)
        payload.update({
            "node_id": self.node_id, "t0": self._t0, "t1": t1, "energy_j": energy, "provenance": prov,
            "node_cpu_s": max(busy1 - self._busy0, 0.0), "node_resources": dict(self.node_resources),
            "gpu_j": per_gpu,
        })
        ranges = {d: list(r) for d, r in (getattr(self.cpu, "estimate_range", None) or {}).items()
                  if prov.get(d) == ESTIMATED}
        if gap.get("domains"):
            gap["error"] = "; ".join(f"{k}: {v}" for k, v in errors.items())
            payload["gap"] = gap
            ranges.update({d: list(GAP_RANGE) for d in gap["domains"]})
        if ranges:
            payload["estimate_range"] = ranges
        for item in items:
            item.cpu_s = 0.0
        self._reg.ended.clear()
        for side in errors:
            self._reopen_side(side)
        self._t0, self._busy0 = t1, busy1
        self._cpu0 = reads["cpu"] if "cpu" not in errors else self._try_read("cpu")
        self._gpu0 = reads["gpu"] if "gpu" not in errors else self._try_read("gpu")
        return payload

__all__ = ["DOMAINS", "NodeMonitor", "normalize_reserved"]
