"""Pruners: whether a trial continues after each intermediate result. Pure Python; no Ray.

none: every trial runs to its end.
median: stop a trial whose best value so far is worse than the median of its peers at the same step.
percentile: the same, keeping the top `percentile` % instead of half.
asha: asynchronous successive halving over rungs grace_period * reduction_factor**k; variant promotion pauses
    trials at rungs and promotes the top 1/reduction_factor (PromotionASHAPruner.next_promotion).
hyperband: brackets of successive halving, a trial's bracket drawn from a seeded hash.
learning_curve: stop a trial whose extrapolated final value is unlikely to beat the best so far.
GuardedPruner: protected trials, a floor (min_value) and patience around any of them (`guard:` in a spec).

Every decision carries its reason (rule, progress, unit, value, cutoff, n_peers, rung, a sentence);
docs/pruners.md gives each rule's exact statistic.
"""

from raybench.search.pruners._asha import ASHAPruner
from raybench.search.pruners._asha_promotion import Promotion, PromotionASHAPruner
from raybench.search.pruners._base import Pruner
from raybench.search.pruners._guard import GuardedPruner
from raybench.search.pruners._hyperband import HyperbandPruner
from raybench.search.pruners._learning_curve import LearningCurvePruner
from raybench.search.pruners._median import MedianPruner
from raybench.search.pruners._none import NoPruner
from raybench.search.pruners._percentile import PercentilePruner
from raybench.search.pruners._registry import PRUNERS, make_pruner

__all__ = ["PRUNERS", "ASHAPruner", "GuardedPruner", "HyperbandPruner", "LearningCurvePruner", "MedianPruner", "NoPruner", "PercentilePruner", "Promotion",
           "PromotionASHAPruner", "Pruner",
           "make_pruner"]
