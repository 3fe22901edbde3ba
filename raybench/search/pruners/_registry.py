"""Pruners by name, as the config and the CLI spell them."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Optional

from raybench.search import space as sp
from raybench.search._registry import keyword_options, resolve
from raybench.search.pruners._asha import ASHAPruner
from raybench.search.pruners._asha_promotion import PromotionASHAPruner
from raybench.search.pruners._base import Pruner
from raybench.search.pruners._guard import GuardedPruner
from raybench.search.pruners._hyperband import HyperbandPruner
from raybench.search.pruners._learning_curve import LearningCurvePruner
from raybench.search.pruners._median import MedianPruner
from raybench.search.pruners._none import NoPruner
from raybench.search.pruners._percentile import PercentilePruner

PRUNERS: dict[str, type[Pruner]] = {
    "none": NoPruner, "median": MedianPruner, "percentile": PercentilePruner, "asha": ASHAPruner,
    "hyperband": HyperbandPruner, "learning_curve": LearningCurvePruner,
}
ASHA_VARIANTS: dict[str, type[Pruner]] = {"stopping": ASHAPruner, "promotion": PromotionASHAPruner}
# Options whose default is the trial's length: filled from make_pruner's max_t with unit "epoch".
_HORIZONS = ("max_t", "max_resource")
_GUARD_OPTIONS = ("protected_trials", "min_value", "warmup", "patience")


def make_pruner(spec: Any, *, mode: str, seed: int = 0, max_t: Optional[float] = None,
                space: Optional[Mapping[str, sp.Param]] = None) -> Pruner:
    """A pruner from a spec: a dict with "type" and options, or a pydantic pruner spec.

    The spec's "progress" key is the pruner's unit. `seed` (the experiment's) reaches the pruners that take
    one (asha, hyperband) and the guard, unless the spec sets its own. `max_t` (task.epochs) is the default
    horizon of learning_curve (max_t) and hyperband (max_resource) with unit "epoch". `space` (name ->
    parameter) is needed by a guard with protected_trials. asha's `variant` picks stopping or promotion ASHA;
    a `guard` mapping wraps the pruner in a GuardedPruner.
    """
    name, cls, options = resolve("pruner", PRUNERS, spec)
    guard = options.pop("guard", None)
    if "progress" in options:
        options["unit"] = options.pop("progress")
    if name == "asha":
        cls = _asha_variant(options)
    allowed = keyword_options(cls, exclude={"mode"})
    if "seed" in allowed:
        options.setdefault("seed", seed)
    for key in _HORIZONS:
        if key in allowed and options.get(key) is None:
            options.pop(key, None)
            unit = options.get("unit", "epoch")
            if max_t is not None and unit == "epoch":
                options[key] = max_t
            elif cls is not ASHAPruner:
                raise ValueError(f"pruner {name!r} with progress {unit} needs {key}: the progress of a whole trial"
                                 f"{' (default task.epochs with progress epoch)' if unit == 'epoch' else ''}")
    unknown = sorted(set(options) - allowed)
    if unknown:
        raise ValueError(f"pruner {name!r} has no option {', '.join(map(repr, unknown))}; "
                         f"valid: {', '.join(sorted((allowed - {'unit'}) | {'progress', 'guard'}))}")
    pruner = cls(mode=mode, **options)
    if guard is None:
        return pruner
    if not isinstance(guard, Mapping):
        raise ValueError(f"pruner guard must be a mapping of {', '.join(_GUARD_OPTIONS)}, got {guard!r}")
    bad = sorted(set(guard) - set(_GUARD_OPTIONS))
    if bad:
        raise ValueError(f"pruner guard has no option {', '.join(map(repr, bad))}; valid: {', '.join(_GUARD_OPTIONS)}")
    return GuardedPruner(pruner, space=space, seed=seed, **guard)


def _asha_variant(options: dict[str, Any]) -> type[Pruner]:
    variant = options.pop("variant", "stopping")
    if variant not in ASHA_VARIANTS:
        raise ValueError(f"asha variant must be 'stopping' or 'promotion', got {variant!r}")
    if variant == "stopping":
        if options.get("order", "value") != "value":
            raise ValueError(f"asha order {options['order']!r} needs variant: promotion")
        options.pop("order", None)
    else:
        if options.get("brackets", 1) != 1:
            raise ValueError(f"asha variant promotion has one bracket, got brackets {options['brackets']!r}")
        options.pop("brackets", None)
    return ASHA_VARIANTS[variant]
