"""The trials a TPE sampler knows, as growing numpy columns, so a suggestion slices instead of looping."""

from __future__ import annotations

from typing import Optional

import numpy as np

from raybench.search.samplers._tpe._ranked import RankedSplit

PENDING, DONE, FAILED = 0, 1, 2


class TrialTable:
    """One row per known trial: its id, its config in internal form, its losses (one per objective) and status.

    Rows are appended in the order trials become known; `order_by_id` sorts only when a
    replay arrived out of order, which keeps the common path free of a sort.

    split: a RankedSplit kept up to date with every change, while rows stay in trial-id order
    (a replay out of order drops it; the caller then splits the rows itself).
    """

    def __init__(self, n_params: int, *, n_objectives: int = 1, capacity: int = 256,
                 split: Optional[RankedSplit] = None) -> None:
        self._ids = np.empty(capacity, dtype=np.int64)
        self._x = np.empty((capacity, n_params), dtype=float)
        self._loss = np.empty((capacity, n_objectives), dtype=float)
        self._status = np.empty(capacity, dtype=np.int8)
        self._row_of: dict[int, int] = {}
        self._n = 0
        self._n_done = 0
        self._ids_sorted = True
        self.split = split

    def __len__(self) -> int:
        return self._n

    @property
    def n_done(self) -> int:
        """How many rows have a value."""
        return self._n_done

    def add(self, trial_id: int, row: np.ndarray) -> None:
        if self._n == len(self._ids):
            self._grow()
        i = self._n
        if i and trial_id < self._ids[i - 1]:
            self._ids_sorted = False
            self.split = None
        self._ids[i], self._x[i], self._loss[i], self._status[i] = trial_id, row, np.nan, PENDING
        self._row_of[trial_id] = i
        self._n += 1
        if self.split is not None:
            self.split.pending(i)

    def set_loss(self, trial_id: int, loss: Optional[np.ndarray]) -> None:
        """The trial's losses (a float, or one per objective); None marks it failed."""
        i = self._row_of[trial_id]
        self._n_done += int(loss is not None) - int(self._status[i] == DONE)
        self._loss[i] = np.nan if loss is None else loss
        self._status[i] = FAILED if loss is None else DONE
        if self.split is not None:
            if loss is None:
                self.split.failed(i)
            else:
                self.split.finished(i, float(self._loss[i, 0]))

    def rows(self, status: int) -> np.ndarray:
        """Row indices with this status, in trial-id order."""
        rows = np.flatnonzero(self._status[: self._n] == status)
        return rows if self._ids_sorted else rows[np.argsort(self._ids[rows], kind="stable")]

    def in_id_order(self, rows: np.ndarray) -> np.ndarray:
        if self._ids_sorted:
            return np.sort(rows)
        return rows[np.argsort(self._ids[rows], kind="stable")]

    def ids(self, rows: np.ndarray) -> np.ndarray:
        return self._ids[rows]

    def losses(self, rows: np.ndarray) -> np.ndarray:
        """(rows, objectives) losses."""
        return self._loss[rows]

    def configs(self, rows: np.ndarray) -> np.ndarray:
        """(rows, parameters) configs in internal form."""
        return self._x[rows]

    def _grow(self) -> None:
        cap = 2 * len(self._ids)
        self._ids = np.resize(self._ids, cap)
        self._x = np.resize(self._x, (cap, self._x.shape[1]))
        self._loss = np.resize(self._loss, (cap, self._loss.shape[1]))
        self._status = np.resize(self._status, cap)
