"""TPE's good/bad split of one objective, kept up to date as trials arrive instead of recomputed per suggestion.

A suggestion needs, of each group in trial-id order, only its size and the rows at the few positions
group_kernels picks (at most MAX_KERNELS). Recomputing the split costs a partition of every finished
trial and, with pending trials in the bad group, a sort of all of them: about 5 ms a suggestion at
100,000 trials. Here:

- the good group is held in two heaps, its own (largest loss on top) and the other finished trials'
  (smallest on top), rebalanced when a trial finishes, fails or changes value: O(log n) per change;
- which rows are in each group is held in two Fenwick trees over the rows, so the row at a rank of a
  group is found in O(log n), for all the picks of a suggestion at once (numpy, one level at a time).

The groups are exactly `_split.split_good`'s: the n_good smallest (loss, row) pairs are good, so a tie
goes to the earlier row; the bad group is every other finished trial, and with the constant liar every
pending one too. Rows must be in trial-id order (TrialTable says when a replay broke that).
"""

from __future__ import annotations

import heapq
from array import array
from collections.abc import Callable

import numpy as np

NONE, GOOD, BAD = 0, 1, 2


class _Fenwick:
    """Counts of member rows, with prefix sums and select by rank in O(log n)."""

    def __init__(self, capacity: int) -> None:
        self.size = capacity
        self.tree = array("q", bytes(8 * (capacity + 1)))  # updated one element at a time: quicker than numpy's
        self._top = 1 << (capacity.bit_length() - 1) if capacity else 0

    def add(self, row: int, delta: int) -> None:
        i, tree, size = row + 1, self.tree, self.size
        while i <= size:
            tree[i] += delta
            i += i & -i

    def select(self, ranks: np.ndarray) -> np.ndarray:
        """The rows holding the given 0-based ranks among the members (every rank below the member count)."""
        tree = np.frombuffer(self.tree, dtype=np.int64)
        pos = np.zeros(len(ranks), dtype=np.int64)
        left = np.asarray(ranks, dtype=np.int64) + 1
        step = self._top
        while step:
            nxt = pos + step
            inside = nxt <= self.size
            count = tree[np.where(inside, nxt, 0)]
            take = inside & (count < left)
            pos = np.where(take, nxt, pos)
            left = left - np.where(take, count, 0)
            step >>= 1
        return pos  # the 1-based position before the member is its 0-based row

    @classmethod
    def of(cls, members: np.ndarray) -> _Fenwick:
        """A tree over len(members) rows holding the rows where members is true: O(n)."""
        f = cls(len(members))
        prefix = np.concatenate([[0], np.cumsum(members, dtype=np.int64)])
        i = np.arange(1, len(members) + 1)
        f.tree = array("q", np.concatenate([[0], prefix[i] - prefix[i - (i & -i)]]).astype(np.int64).tobytes())
        return f


class RankedSplit:
    """The split of finished trials into good and bad, updated per event.

    n_good(n): how many of n finished trials are good. liar: pending trials join the bad group.
    Rows are table rows (0, 1, 2, ... in the order trials became known, which is trial-id order).
    """

    def __init__(self, n_good: Callable[[int], int], liar: bool, capacity: int = 256) -> None:
        capacity = max(int(capacity), 1)
        self._n_good = n_good
        self._liar = liar
        self._side = np.zeros(capacity, dtype=np.int8)       # NONE, GOOD or BAD (finished and bad)
        self._pending = np.zeros(capacity, dtype=bool)
        self._key: list[float] = [0.0] * capacity
        self._version = [0] * capacity
        self._good_heap: list[tuple[float, int, int, int]] = []  # (-loss, -row, row, version): worst good on top
        self._bad_heap: list[tuple[float, int, int]] = []        # (loss, row, version): best bad on top
        self._counts = [0, 0, 0]  # live members per side (NONE unused)
        self._n_pending = 0
        self._trees = (_Fenwick(capacity), _Fenwick(capacity))  # good rows; bad rows (+ pending with the liar)

    # ---- what a suggestion reads -------------------------------------------------------------------------

    @property
    def n_done(self) -> int:
        return self._counts[GOOD] + self._counts[BAD]

    def sizes(self) -> tuple[int, int]:
        """(good, bad) group sizes; the bad one counts pending trials with the liar."""
        return self._counts[GOOD], self._counts[BAD] + (self._n_pending if self._liar else 0)

    def rows(self, group: int, positions: np.ndarray) -> np.ndarray:
        """The rows at these 0-based positions of a group (0 good, 1 bad) in trial-id order."""
        return self._trees[group].select(positions)

    # ---- events ------------------------------------------------------------------------------------------

    def pending(self, row: int) -> None:
        """A new row, pending (no value yet)."""
        self._fit(row)
        self._pending[row] = True
        self._n_pending += 1
        if self._liar:
            self._trees[1].add(row, 1)

    def finished(self, row: int, loss: float) -> None:
        """The row's trial finished with this loss (replacing any earlier value)."""
        self._leave(row)
        self._key[row] = loss
        self._version[row] += 1
        if self._counts[GOOD] and (loss, row) < self._worst_good():
            self._join(row, GOOD)
        else:
            self._join(row, BAD)
        self._rebalance()

    def failed(self, row: int) -> None:
        """The row's trial failed: in neither group."""
        self._leave(row)
        self._rebalance()

    # ---- the two heaps -----------------------------------------------------------------------------------

    def _leave(self, row: int) -> None:
        if self._pending[row]:
            self._pending[row] = False
            self._n_pending -= 1
            if self._liar:
                self._trees[1].add(row, -1)
        side = int(self._side[row])
        if side != NONE:
            self._set_side(row, side, NONE)
            self._version[row] += 1  # its heap entry goes stale

    def _join(self, row: int, side: int) -> None:
        self._set_side(row, NONE, side)
        if side == GOOD:
            heapq.heappush(self._good_heap, (-self._key[row], -row, row, self._version[row]))
        else:
            heapq.heappush(self._bad_heap, (self._key[row], row, self._version[row]))

    def _set_side(self, row: int, old: int, new: int) -> None:
        self._side[row] = new
        for side, delta in ((old, -1), (new, 1)):
            if side != NONE:
                self._counts[side] += delta
                self._trees[side - 1].add(row, delta)

    def _top(self, side: int) -> int:
        """The row on top of a side's heap, stale entries dropped on the way."""
        heap = self._good_heap if side == GOOD else self._bad_heap
        while True:
            entry = heap[0]
            row, version = entry[-2], entry[-1]
            if self._version[row] == version and self._side[row] == side:
                return row
            heapq.heappop(heap)

    def _worst_good(self) -> tuple[float, int]:
        row = self._top(GOOD)
        return self._key[row], row

    def _move(self, side: int) -> None:
        """Move the top of a side's heap to the other side."""
        row = self._top(side)
        heapq.heappop(self._good_heap if side == GOOD else self._bad_heap)
        self._set_side(row, side, NONE)
        self._join(row, BAD if side == GOOD else GOOD)

    def _rebalance(self) -> None:
        n = self.n_done
        target = self._n_good(n) if n else 0
        while self._counts[GOOD] > target:
            self._move(GOOD)
        while self._counts[GOOD] < target and self._counts[BAD]:
            self._move(BAD)

    def _fit(self, row: int) -> None:
        """Room for `row`: the arrays double, and the trees are rebuilt from the sides (O(n), amortised O(1))."""
        cap = len(self._side)
        if row < cap:
            return
        while cap <= row:
            cap *= 2
        grow = cap - len(self._side)
        self._side = np.concatenate([self._side, np.zeros(grow, dtype=np.int8)])
        self._pending = np.concatenate([self._pending, np.zeros(grow, dtype=bool)])
        self._key += [0.0] * grow
        self._version += [0] * grow
        bad = self._side == BAD
        self._trees = (_Fenwick.of(self._side == GOOD), _Fenwick.of(bad | self._pending if self._liar else bad))
