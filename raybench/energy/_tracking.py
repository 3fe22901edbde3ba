"""Who is tracked on a node, since when, and in which order the track/untrack calls were made.

Calls from trial actors reach the energy actor through Ray, which does not order calls from one caller
to a threaded actor. So each call carries a sequence number, increasing within its caller process, and
the caller's wall-clock time. A `track` whose sequence number is not above the last `untrack` of the
same consumer is late (it was overtaken) and is ignored; an `untrack` that comes first is remembered.

A consumer is a trial (its id and phase "trial") or a phase of a worker's life that gets its own bucket:
"startup" (its first imports and data loading) and "final_test". Times are wall-clock seconds, so that
each consumer's overlap with a sampling interval can weight its share of the interval (`held_s`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Optional

from raybench.energy import _cputime

PHASES = ("trial", "startup", "final_test")

Key = tuple[str, int]  # (phase, trial id)


@dataclass
class Tracked:
    """One consumer's tracking: its process tree, what it reserved, and when it was held."""

    key: Key
    tree: _cputime.TreeCpu
    reserved: dict[str, Any]
    gpu_share: dict[int, float]
    start_t: float
    end_t: Optional[float] = None
    cpu_s: float = 0.0  # CPU seconds not yet reported (set when it ended)
    seq: int = 0

    def held_s(self, t0: float, t1: float) -> float:
        """Seconds of [t0, t1] during which it was tracked."""
        end = t1 if self.end_t is None else min(self.end_t, t1)
        return max(end - max(self.start_t, t0), 0.0)


@dataclass
class Registry:
    """Live and ended consumers, with the last untrack sequence number of each."""

    live: dict[Key, Tracked] = field(default_factory=dict)
    ended: list[Tracked] = field(default_factory=list)
    untrack_seq: dict[Key, int] = field(default_factory=dict)
    ignored: int = 0  # tracks that came after their untrack

    def is_late(self, key: Key, seq: Optional[int]) -> bool:
        return seq is not None and seq <= self.untrack_seq.get(key, -1)

    def start(self, item: Tracked) -> None:
        if item.key in self.live:
            raise ValueError(f"{item.key[0]} {item.key[1]} is already tracked; untrack it first")
        self.live[item.key] = item

    def end(self, key: Key, t: float, seq: Optional[int], table) -> Optional[Tracked]:
        if seq is not None:
            self.untrack_seq[key] = max(seq, self.untrack_seq.get(key, -1))
        item = self.live.pop(key, None)
        if item is None:
            return None
        item.cpu_s += item.tree.advance(table)
        item.end_t = max(t, item.start_t)
        self.ended.append(item)
        return item

    def all_in_window(self) -> list[Tracked]:
        return [*self.ended, *self.live.values()]


class GpuHistory:
    """Who held each GPU, for how long, since its last counter re-anchoring.

    A re-anchoring correction belongs to the whole period since the previous one: the share of the
    period that is the current interval stays in the interval's energy (for its holders); the rest is
    handed to those who held the GPU before, by their holding time. What nobody held stays unattributed.
    """

    def __init__(self) -> None:
        self._hist: dict[int, tuple[float, dict[Any, float]]] = {}  # device -> (seconds, consumer share-seconds)

    def spread(self, gpu_s: Mapping[Any, Mapping[int, float]], dt: float,
               corr: Mapping[int, float]) -> tuple[dict[Any, float], dict[int, float]]:
        """(joules per consumer, joules per device handed to earlier holders) for this interval's corrections."""
        for dev in set(self._hist) | {d for g in gpu_s.values() for d in g} | set(corr):
            secs, ws = self._hist.get(dev, (0.0, {}))
            ws = dict(ws)
            for c, g in gpu_s.items():
                if g.get(dev):
                    ws[c] = ws.get(c, 0.0) + g[dev]
            self._hist[dev] = (secs + dt, ws)
        extra: dict[Any, float] = {}
        past_j: dict[int, float] = {}
        for dev, joules in corr.items():
            secs, ws = self._hist.pop(dev, (0.0, {}))
            past_s = max(secs - dt, 0.0)
            if secs <= 0 or past_s <= 0:
                continue
            past_j[dev] = joules * past_s / secs
            for c, g in gpu_s.items():
                ws[c] = ws.get(c, 0.0) - g.get(dev, 0.0)
            denom = max(past_s, sum(w for w in ws.values() if w > 0))
            for c, w in ws.items():
                if w > 1e-12:
                    extra[c] = extra.get(c, 0.0) + past_j[dev] * w / denom
        return extra, past_j


def consumer_payload(items: list[Tracked], t0: float, t1: float, per_gpu: Mapping[int, float],
                     corr: Mapping[int, float], history: GpuHistory) -> dict[str, Any]:
    """The per-consumer part of an energy_sample: CPU seconds, seconds held, and what each reserved,
    weighted by how long it held it (a trial tracked twice in one interval, a retry, is one consumer)."""
    dt = max(t1 - t0, 0.0)
    cpu: dict[Any, float] = {}
    held: dict[Any, float] = {}
    res_s: dict[Any, dict[str, float]] = {}  # resource-seconds
    gpu_s: dict[Any, dict[int, float]] = {}  # share-seconds per device
    for item in items:
        c = item.key[1] if item.key[0] == "trial" else item.key[0]
        h = item.held_s(t0, t1) if dt > 0 else 1.0
        cpu[c] = cpu.get(c, 0.0) + item.cpu_s
        held[c] = held.get(c, 0.0) + h
        r = res_s.setdefault(c, dict.fromkeys(("cpus", "memory_mb", "gpus"), 0.0))
        for k in r:
            r[k] += item.reserved[k] * h
        g = gpu_s.setdefault(c, {})
        for dev, share in item.gpu_share.items():
            g[dev] = g.get(dev, 0.0) + share * h
    reserved, shares = {}, {}
    for c, h in held.items():
        hh = h if h > 0 else 1.0
        reserved[c] = {k: v / hh for k, v in res_s[c].items()}
        shares[c] = {dev: min(v / hh, 1.0) for dev, v in gpu_s[c].items()}
        reserved[c]["gpu_share"] = shares[c]
        held[c] = min(h, dt) if dt > 0 else h
    extra, past = history.spread(gpu_s, dt, corr)
    # Each device's joules by holders' share x time held, as attribution does without a baseline.
    trial_gpu: dict[int, float] = {c: 0.0 for c, sh in shares.items() if isinstance(c, int) and sh}
    for dev, joules in per_gpu.items():
        w = {c: v.get(dev, 0.0) / dt if dt > 0 else shares[c].get(dev, 0.0) for c, v in gpu_s.items()}
        denom = max(1.0, sum(w.values()))
        for c in trial_gpu:
            trial_gpu[c] += joules * w.get(c, 0.0) / denom

    def split(m: Mapping[Any, Any], ints: bool) -> dict[Any, Any]:
        return {c: v for c, v in m.items() if isinstance(c, int) == ints}

    out = {"trial_cpu_s": split(cpu, True), "trial_gpu_j": trial_gpu, "reserved": split(reserved, True),
           "held_s": split(held, True), "trial_gpu_extra_j": split(extra, True), "gpu_extra_j": past}
    if any(isinstance(c, str) for c in held):
        out.update({"phase_cpu_s": split(cpu, False), "phase_reserved": split(reserved, False),
                    "phase_held_s": split(held, False), "phase_gpu_extra_j": split(extra, False)})
    return out
