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
