"""Random search: each trial draws from the prior with its own seeded stream."""

from __future__ import annotations

from raybench.search import space as sp
from raybench.search.samplers._base import Config, Sampler, clip_float, trial_rng


class RandomSampler(Sampler):
    """Draws every parameter from its prior, using a stream derived from (seed, trial_id).

    A trial's config depends only on the seed and its id, so it needs no state to resume.
    """

    def _propose(self, trial_id: int) -> Config:
        return draw_config(self._space, trial_rng(self._seed, trial_id))


def draw_config(space: dict[str, sp.Param], rng) -> Config:
    """One config from the prior, floats kept inside their bounds."""
    config = sp.sample_config(space, rng)
    for name, param in space.items():
        if isinstance(param, (sp.Uniform, sp.LogUniform)):
            config[name] = clip_float(param, config[name])
    return config
