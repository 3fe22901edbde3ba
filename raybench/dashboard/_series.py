"""A time series with a fixed number of points however long the run: when it fills up, neighbouring
points are averaged in pairs and later points arrive in buckets twice as wide. Memory stays flat."""

from __future__ import annotations


class Downsampled:
    """(t, value) points, at most `capacity` of them; each point is the mean of `stride` samples."""

    def __init__(self, *, capacity: int = 600) -> None:
        if capacity < 2 or capacity % 2:
            raise ValueError(f"capacity must be an even number >= 2, got {capacity!r}")
        self.capacity = capacity
        self.stride = 1
        self.points: list[tuple[float, float]] = []
        self._n = 0
        self._sum_t = 0.0
        self._sum_v = 0.0

    def add(self, t: float, value: float) -> None:
        self._n += 1
        self._sum_t += t
        self._sum_v += value
        if self._n < self.stride:
            return
        self.points.append((self._sum_t / self._n, self._sum_v / self._n))
        self._n, self._sum_t, self._sum_v = 0, 0.0, 0.0
        if len(self.points) >= self.capacity:
            p = self.points
            self.points = [((p[i][0] + p[i + 1][0]) / 2, (p[i][1] + p[i + 1][1]) / 2) for i in range(0, len(p), 2)]
            self.stride *= 2

    def values(self) -> list[tuple[float, float]]:
        """The points, with the bucket still filling as a last point."""
        if self._n:
            return [*self.points, (self._sum_t / self._n, self._sum_v / self._n)]
        return list(self.points)
