"""One node's interval split into buckets: a pure function over an energy_sample payload.

Per domain, with E the measured energy, P the idle baseline power and dt = t1 - t0:

    idle    B = min(P * dt, E)       to each consumer: B * reserved * held / hardware (cpus, memory_mb);
                                     the unreserved rest is "unattributed" idle
    dynamic D = E - B                cpu and dram: D * consumer_cpu_s / node_cpu_s

GPUs are split per device when the sample carries `gpu_j` (per-device joules): device i's idle
min(P_i * dt, E_i) and the joules above it go to its holders, weighted by the share of the device each
holds (1 for a whole GPU, 1/n for one of n MIG slices) times the fraction of the interval it held it.
A device nobody holds is unattributed. A counter re-anchoring correction (`gpu_extra_j`) was already
spread by the monitor over the holders of the period it belongs to (`trial_gpu_extra_j`).

Consumers are trials (int ids) and the phases "startup" and "final_test", which get their own buckets.
`held_s` is how long within the interval a consumer was tracked; a consumer that held a slot for 40 % of
the interval gets 40 % of that slot's idle share, so a hand-over inside one interval counts idle once.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Union

from raybench.energy._types import DOMAINS, ESTIMATED

RESOURCE_OF_DOMAIN = {"cpu": "cpus", "dram": "memory_mb", "gpu": "gpus"}
TRIAL_KEYS = ("cpu_j", "dram_j", "gpu_j", "idle_reserved_j")
PHASES = ("startup", "final_test")

Consumer = Union[int, str]


def _shares(weights: Mapping[Consumer, float], whole: float) -> dict[Consumer, float]:
    """weight / max(whole, sum of weights): fractions that never add up to more than 1."""
    clean = {k: max(float(w), 0.0) for k, w in weights.items()}
    denom = max(whole, math.fsum(clean.values()))
    return {k: (w / denom if denom > 0 else 0.0) for k, w in clean.items()}


def int_keys(m: Mapping[Any, Any] | None) -> dict[int, Any]:
    # msgpack keeps int keys; JSON turns them into strings. Accept both.
    return {int(k): v for k, v in (m or {}).items()}


def _consumers(sample: Mapping[str, Any], key: str, phase_key: str) -> dict[Consumer, Any]:
    out: dict[Consumer, Any] = dict(int_keys(sample.get(key)))
    out.update({str(k): v for k, v in (sample.get(phase_key) or {}).items() if str(k) in PHASES})
    return out


@dataclass(frozen=True)
class IntervalAttribution:
    """One node's interval, split into buckets. All values in joules.

    `trials` and `phases` map a consumer to cpu_j, dram_j, gpu_j, idle_reserved_j. `estimated` maps a
    domain to whether its energy in this interval was estimated, and `range` to its (low, high) factors.
    """

    node_id: str
    t0: float
    t1: float
    total_j: dict[str, float]
    trials: dict[int, dict[str, float]]
    unattributed_j: dict[str, float]
    unattributed_idle_j: float
    provenance: dict[str, str] = field(default_factory=dict)
    phases: dict[str, dict[str, float]] = field(default_factory=dict)
    range: dict[str, tuple[float, float]] = field(default_factory=dict)
    idle_by_domain: dict[Consumer, dict[str, float]] = field(default_factory=dict)

    def buckets(self) -> dict[str, float]:
        active = ("cpu_j", "dram_j", "gpu_j")
        out = {
            "trials_j": math.fsum(t[k] for t in self.trials.values() for k in active),
            "idle_reserved_j": math.fsum(t["idle_reserved_j"] for t in self.trials.values()),
        }
        for p in PHASES:
            out[f"{p}_j"] = math.fsum(self.phases.get(p, {}).values())
        out["unattributed_j"] = math.fsum(self.unattributed_j.values())
        out["total_j"] = math.fsum(self.total_j.values())
        return out

    @property
    def error_j(self) -> float:
        """total - every bucket: zero up to rounding (an accounting check, not an accuracy)."""
        b = self.buckets()
        parts = [b["trials_j"], b["idle_reserved_j"], b["unattributed_j"], *(b[f"{p}_j"] for p in PHASES)]
        return b["total_j"] - math.fsum(parts)


def _held(sample: Mapping[str, Any], ids, dt: float) -> dict[Consumer, float]:
    held = _consumers(sample, "held_s", "phase_held_s")
    out = {}
    for c in ids:
        h = held.get(c)
        out[c] = 1.0 if h is None or dt <= 0 else min(max(float(h) / dt, 0.0), 1.0)
    return out


def _gpu_shares(res: Mapping[str, Any]) -> dict[int, float]:
    return {int(i): float(s) for i, s in (res.get("gpu_share") or {}).items()}


def attribute_interval(sample: Mapping[str, Any], baseline: Mapping[str, Any] | None = None) -> IntervalAttribution:
    """Split one energy_sample payload into buckets, given the node's baseline.

    `baseline` is a node_baseline payload (its `power_w` and, per GPU, `gpu_power_w`) or just the
    `power_w` mapping (domain -> watts), as older callers pass it.
    """
    baseline = baseline or {}
    if "power_w" in baseline:
        power_w, gpu_power_w = baseline.get("power_w") or {}, int_keys(baseline.get("gpu_power_w"))
    else:
        power_w, gpu_power_w = baseline, {}
    dt = max(float(sample["t1"]) - float(sample["t0"]), 0.0)
    reserved = _consumers(sample, "reserved", "phase_reserved")
    cpu_s = _consumers(sample, "trial_cpu_s", "phase_cpu_s")
    extras = _consumers(sample, "trial_gpu_extra_j", "phase_gpu_extra_j")
    ids = sorted(set(reserved) | set(cpu_s) | set(int_keys(sample.get("trial_gpu_j"))) | set(extras), key=str)
    held = _held(sample, ids, dt)
    acc: dict[Consumer, dict[str, float]] = {c: dict.fromkeys(TRIAL_KEYS, 0.0) for c in ids}
    idle_by = {c: dict.fromkeys(DOMAINS, 0.0) for c in ids}
    energy = sample.get("energy_j") or {}
    node_res = sample.get("node_resources") or {}
    total, unattributed, idle_rest = {}, {}, 0.0

    for d in ("cpu", "dram"):
        e = max(float(energy.get(d) or 0.0), 0.0)
        idle = min(max(float(power_w.get(d) or 0.0), 0.0) * dt, e)
        key = RESOURCE_OF_DOMAIN[d]
        i_share = _shares({c: float((reserved.get(c) or {}).get(key, 0.0) or 0.0) * held[c] for c in ids},
                          float(node_res.get(key, 0.0) or 0.0))
        d_share = _shares({c: float(cpu_s.get(c, 0.0) or 0.0) for c in ids}, float(sample.get("node_cpu_s", 0.0) or 0.0))
        given_idle = given_dyn = 0.0
        for c in ids:
            i, y = idle * i_share[c], (e - idle) * d_share[c]
            acc[c]["idle_reserved_j"] += i
            idle_by[c][d] += i
            acc[c][f"{d}_j"] += y
            given_idle += i
            given_dyn += y
        total[d] = e
        rest = max(idle - given_idle, 0.0)
        unattributed[d] = rest + max(e - idle - given_dyn, 0.0)
        idle_rest += rest

    before = {c: acc[c]["idle_reserved_j"] for c in ids}
    if sample.get("gpu_j") is not None:
        total["gpu"], unattributed["gpu"], rest = _gpu_per_device(sample, gpu_power_w, power_w, reserved, held, ids, acc, dt)
    else:
        total["gpu"], unattributed["gpu"], rest = _gpu_whole(sample, power_w, reserved, held, ids, acc, dt)
    idle_rest += rest
    for c in ids:
        idle_by[c]["gpu"] = acc[c]["idle_reserved_j"] - before[c]

    rng = {d: (float(v[0]), float(v[1])) for d, v in (sample.get("estimate_range") or {}).items()}
    prov = dict(sample.get("provenance") or {})
    for d in DOMAINS:
        if prov.get(d) == ESTIMATED:
            rng.setdefault(d, (1.0, 1.0))
    return IntervalAttribution(
        node_id=str(sample.get("node_id", "")), t0=float(sample["t0"]), t1=float(sample["t1"]),
        total_j=total, trials={c: v for c, v in acc.items() if isinstance(c, int)},
        unattributed_j=unattributed, unattributed_idle_j=idle_rest, provenance=prov,
        phases={c: v for c, v in acc.items() if isinstance(c, str)}, range=rng, idle_by_domain=idle_by,
    )


def _gpu_whole(sample, power_w, reserved, held, ids, acc, dt) -> tuple[float, float, float]:
    """Older samples without per-device joules: one GPU domain, split by the joules of each holder's GPUs."""
    e = max(float((sample.get("energy_j") or {}).get("gpu") or 0.0), 0.0)
    idle = min(max(float(power_w.get("gpu") or 0.0), 0.0) * dt, e)
    trial_gpu = int_keys(sample.get("trial_gpu_j"))
    i_share = _shares({c: float((reserved.get(c) or {}).get("gpus", 0.0) or 0.0) * held[c] for c in ids},
                      float((sample.get("node_resources") or {}).get("gpus", 0.0) or 0.0))
    d_share = _shares({c: float(trial_gpu.get(c, 0.0)) for c in ids}, e)
    given_idle = given_dyn = 0.0
    for c in ids:
        i, y = idle * i_share[c], (e - idle) * d_share[c]
        acc[c]["idle_reserved_j"] += i
        acc[c]["gpu_j"] += y
        given_idle += i
        given_dyn += y
    rest = max(idle - given_idle, 0.0)
    return e, rest + max(e - idle - given_dyn, 0.0), rest


def _gpu_per_device(sample, gpu_power_w, power_w, reserved, held, ids, acc, dt) -> tuple[float, float, float]:
    per_dev = {int(i): float(j) for i, j in (sample.get("gpu_j") or {}).items()}
    extra = {int(i): float(j) for i, j in (sample.get("gpu_extra_j") or {}).items()}
    n = max(len(per_dev), 1)
    total = math.fsum(per_dev.values())
    given = idle_given = idle_all = 0.0
    for dev, e in per_dev.items():
        e_int = e - extra.get(dev, 0.0)  # the interval's own joules; the correction is handed out below
        p = gpu_power_w.get(dev, float(power_w.get("gpu") or 0.0) / n)
        idle = min(max(p, 0.0) * dt, max(e_int, 0.0))
        dynamic = max(e_int - idle, 0.0)
        weights = {c: _gpu_shares(reserved.get(c) or {}).get(dev, 0.0) * held[c] for c in ids}
        share = _shares(weights, 1.0)
        for c in ids:
            i, y = idle * share[c], dynamic * share[c]
            acc[c]["idle_reserved_j"] += i
            acc[c]["gpu_j"] += y
            idle_given += i
            given += i + y
        idle_all += idle
    extras = _consumers(sample, "trial_gpu_extra_j", "phase_gpu_extra_j")
    for c, j in extras.items():
        if c in acc:
            acc[c]["gpu_j"] += float(j)
            given += float(j)
    return total, total - given, max(idle_all - idle_given, 0.0)
