"""Pruners by name, as the config and the CLI spell them."""

from __future__ import annotations

from typing import Any

from raybench.search._registry import keyword_options, resolve
from raybench.search.pruners._asha import ASHAPruner
from raybench.search.pruners._base import Pruner
from raybench.search.pruners._median import MedianPruner
from raybench.search.pruners._none import NoPruner
from raybench.search.pruners._percentile import PercentilePruner

PRUNERS: dict[str, type[Pruner]] = {
    "none": NoPruner, "median": MedianPruner, "percentile": PercentilePruner, "asha": ASHAPruner,
}


def make_pruner(spec: Any, *, mode: str, seed: int = 0) -> Pruner:
    """A pruner from a spec: a dict with "type" and options, or a pydantic pruner spec.

    The spec's "progress" key is the pruner's unit. `seed` (the experiment's) reaches the pruners that take
    one (asha) unless the spec sets its own.
    """
    name, cls, options = resolve("pruner", PRUNERS, spec)
    if "progress" in options:
        options["unit"] = options.pop("progress")
    allowed = keyword_options(cls, exclude={"mode"})
    if "seed" in allowed:
        options.setdefault("seed", seed)
    unknown = sorted(set(options) - allowed)
    if unknown:
        raise ValueError(f"pruner {name!r} has no option {', '.join(map(repr, unknown))}; "
                         f"valid: {', '.join(sorted((allowed - {'unit'}) | {'progress'}))}")
    return cls(mode=mode, **options)
