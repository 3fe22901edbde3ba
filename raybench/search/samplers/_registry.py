"""Samplers by name, as the config and the CLI spell them."""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import Any

from raybench.search import space as sp
from raybench.search.samplers._base import Sampler
from raybench.search.samplers._grid import GridSampler
from raybench.search.samplers._random import RandomSampler
from raybench.search.samplers._tpe import TPESampler

SAMPLERS: dict[str, type[Sampler]] = {"grid": GridSampler, "random": RandomSampler, "tpe": TPESampler}


def make_sampler(spec: Any, space: Mapping[str, sp.Param], *, seed: int, mode: str) -> Sampler:
    """A sampler from a spec: a dict with "type" and options, or a pydantic sampler spec."""
    options = dict(spec.model_dump()) if hasattr(spec, "model_dump") else spec
    if not isinstance(options, Mapping) or "type" not in options:
        raise ValueError(f"sampler spec needs a 'type' key, got {spec!r}")
    options = dict(options)
    name = options.pop("type")
    if name not in SAMPLERS:
        raise ValueError(f"unknown sampler {name!r}; valid: {', '.join(sorted(SAMPLERS))}")
    cls = SAMPLERS[name]
    allowed = {p.name for p in inspect.signature(cls.__init__).parameters.values()
               if p.kind is inspect.Parameter.KEYWORD_ONLY} - {"seed", "mode"}
    unknown = sorted(set(options) - allowed)
    if unknown:
        raise ValueError(f"sampler {name!r} has no option {', '.join(map(repr, unknown))}; "
                         f"valid: {', '.join(sorted(allowed)) or 'none'}")
    return cls(space, seed=seed, mode=mode, **options)
