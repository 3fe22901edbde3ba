"""Turning a spec ({"type": name, **options} or a pydantic spec) into a class and its checked options."""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import Any


def resolve(kind: str, registry: Mapping[str, type], spec: Any) -> tuple[str, type, dict[str, Any]]:
    """(name, class, options) of a spec; ValueError naming the valid names for an unknown type."""
    options = spec.model_dump() if hasattr(spec, "model_dump") else spec
    if not isinstance(options, Mapping) or "type" not in options:
        raise ValueError(f"{kind} spec needs a 'type' key, got {spec!r}")
    options = dict(options)
    name = options.pop("type")
    if name not in registry:
        raise ValueError(f"unknown {kind} {name!r}; valid: {', '.join(sorted(registry))}")
    return name, registry[name], options


def keyword_options(cls: type, *, exclude: set[str]) -> set[str]:
    """The keyword-only options of cls.__init__, less those the factory passes itself."""
    return {p.name for p in inspect.signature(cls.__init__).parameters.values()
            if p.kind is inspect.Parameter.KEYWORD_ONLY} - exclude
