"""Samplers: which config each trial tries. Pure Python and numpy; no Ray.

grid: every point of a finite space once, in a seeded order.
random: each trial drawn from the prior with its own seeded stream.
tpe: Tree-structured Parzen Estimator with random start-up and a constant liar, independent or
    multivariate, for one objective or several (MOTPE), optionally warm-started from earlier runs.
"""

from raybench.search.samplers._base import Sampler
from raybench.search.samplers._grid import GridSampler
from raybench.search.samplers._random import RandomSampler
from raybench.search.samplers._registry import SAMPLERS, make_sampler
from raybench.search.samplers._tpe import TPESampler
from raybench.search.samplers._warm import WarmRun, WarmStartReport, WarmTrial, load_warm_start

__all__ = ["SAMPLERS", "GridSampler", "RandomSampler", "Sampler", "TPESampler", "WarmRun", "WarmStartReport",
           "WarmTrial", "load_warm_start", "make_sampler"]
