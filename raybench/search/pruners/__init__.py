"""Pruners: whether a trial continues after each intermediate result. Pure Python; no Ray.

none: every trial runs to its end.
median: stop a trial whose best value so far is worse than the median of its peers at the same step.
percentile: the same, keeping the top `percentile` % instead of half.
asha: asynchronous successive halving over rungs grace_period * reduction_factor**k.

Every decision carries its reason (rule, progress, unit, value, cutoff, n_peers, rung, a sentence);
docs/pruners.md gives each rule's exact statistic.
"""

from raybench.search.pruners._asha import ASHAPruner
from raybench.search.pruners._base import Pruner
from raybench.search.pruners._median import MedianPruner
from raybench.search.pruners._none import NoPruner
from raybench.search.pruners._percentile import PercentilePruner
from raybench.search.pruners._registry import PRUNERS, make_pruner

__all__ = ["PRUNERS", "ASHAPruner", "MedianPruner", "NoPruner", "PercentilePruner", "Pruner", "make_pruner"]
