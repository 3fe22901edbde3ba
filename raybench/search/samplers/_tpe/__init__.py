"""TPE: sampler.py decides, parzen.py models, _gauss.py holds the normal-distribution numerics."""

from raybench.search.samplers._tpe.sampler import TPESampler

__all__ = ["TPESampler"]
