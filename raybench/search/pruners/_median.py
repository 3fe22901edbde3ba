"""Median stopping: the percentile rule at its 50th percentile."""

from __future__ import annotations

from raybench.search.pruners._percentile import PercentilePruner


class MedianPruner(PercentilePruner):
    """Stops a trial whose best value so far is worse than the median of its peers at the same step.

    warmup: no stop while progress < warmup.
    min_peers: no stop while fewer than this many other trials have a value at the step.
    startup_trials: no stop until this many trials have completed.
    """

    name = "median"

    def __init__(self, *, mode: str = "max", unit: str = "epoch", warmup: float = 1.0, min_peers: int = 3,
                 startup_trials: int = 0) -> None:
        super().__init__(mode=mode, unit=unit, percentile=50.0, warmup=warmup, min_peers=min_peers,
                         startup_trials=startup_trials)
