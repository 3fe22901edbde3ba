"""Samplers by name, as the config and the CLI spell them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Optional

from raybench.search import space as sp
from raybench.search._registry import keyword_options, resolve
from raybench.search.samplers._base import Sampler
from raybench.search.samplers._grid import GridSampler
from raybench.search.samplers._optuna import OptunaSampler
from raybench.search.samplers._random import RandomSampler
from raybench.search.samplers._tpe import TPESampler

# "optuna" drives any Optuna sampler; optuna itself is imported only when one is built (an optional extra).
SAMPLERS: dict[str, type[Sampler]] = {"grid": GridSampler, "optuna": OptunaSampler, "random": RandomSampler,
                                      "tpe": TPESampler}


def make_sampler(spec: Any, space: Mapping[str, sp.Param], *, seed: int, mode: str,
                 objectives: Optional[Sequence[tuple[str, str]]] = None) -> Sampler:
    """A sampler from a spec: a dict with "type" and options, or a pydantic sampler spec. With
    `objectives` ((name, mode) pairs) it observes a tuple of values per trial."""
    name, cls, options = resolve("sampler", SAMPLERS, spec)
    allowed = keyword_options(cls, exclude={"seed", "mode"})
    unknown = sorted(set(options) - allowed)
    if unknown:
        raise ValueError(f"sampler {name!r} has no option {', '.join(map(repr, unknown))}; "
                         f"valid: {', '.join(sorted(allowed)) or 'none'}")
    if objectives:
        if "objectives" not in allowed:
            raise ValueError(f"sampler {name!r} optimises one objective; use random or tpe for several")
        options["objectives"] = list(objectives)
    return cls(space, seed=seed, mode=mode, **options)
