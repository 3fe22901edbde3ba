"""The suite file: a base experiment, one factor and its values, seeds, a stopping rule and a quick variant.

`load_suite(path, quick=...)` validates the file and expands every (value, seed) into a validated
ExperimentConfig before anything runs, so a bad value fails in one line up front, never mid-suite.
"""

from __future__ import annotations

import copy
import math
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Optional, Union, get_args, get_origin

from pydantic import BaseModel, Field, ValidationError, field_validator, model_validator

from raybench.config import ExperimentConfig
from raybench.config._loader import format_error, read_yaml, validate
from raybench.config._schema import _Strict, check_name
from raybench.errors import ConfigError

# Blocks that are one typed unit: an override or a factor value replaces them whole instead of merging
# into them (a pruner {type: median} must not keep an ASHA's grace_period).
REPLACED = ("search_space", "sampler", "pruner")
# Suite-table columns the stopping rule can watch; lower is better for all of them.
CONVERGE_METRICS = ("jct_s", "energy_j", "cost", "waste_j", "avg_trial_power_w")
MAX_VALUES = 1000


class RangeSpec(_Strict):
    """start, start + step, ... up to and including max."""

    start: float
    step: float = Field(gt=0)
    max: float

    @model_validator(mode="after")
    def _bounds(self) -> RangeSpec:
        if self.start > self.max:
            raise ValueError(f"start must be <= max, got start={self.start:g} max={self.max:g}")
        if (self.max - self.start) / self.step + 1 > MAX_VALUES:
            raise ValueError(f"the range has more than {MAX_VALUES} values; raise step or lower max")
        return self

    def expand(self) -> list[Union[int, float]]:
        n = int(math.floor((self.max - self.start) / self.step + 1e-9)) + 1
        whole = all(float(x).is_integer() for x in (self.start, self.step))
        return [int(self.start + i * self.step) if whole else round(self.start + i * self.step, 10)
                for i in range(n)]


Values = Union[RangeSpec, list[Any]]


def values_of(v: Any) -> Any:
    """A list, or a mapping read as a RangeSpec; one clean error either way (a plain Union would report
    both branches under pydantic's internal names)."""
    if v is None or isinstance(v, list):
        return v
    if isinstance(v, dict):
        try:
            return RangeSpec.model_validate(v)
        except ValidationError as err:
            e = err.errors()[0]
            where = ".".join(str(p) for p in e["loc"])
            msg = e["msg"].removeprefix("Value error, ")
            if e["type"] == "extra_forbidden":
                msg = "unknown key; a range has start, step and max"
            raise ValueError(f"range {where + ': ' if where else ''}{msg}") from None
    raise ValueError(f"expected a list of values or a {{start, step, max}} range, got {type(v).__name__}")


class ConvergeSpec(_Strict):
    """Stop when the relative gain of `metric` (median over seeds) stays under threshold for k steps."""

    metric: Literal[CONVERGE_METRICS] = "jct_s"  # type: ignore[valid-type]
    threshold: float = Field(0.05, gt=0, lt=1)
    k: int = Field(2, ge=1)


class QuickSpec(_Strict):
    base: dict[str, Any] = Field(default_factory=dict, description="merged into the base config")
    values: Optional[Any] = None
    labels: Optional[list[str]] = None
    seeds: Optional[list[int]] = None
    converge: Optional[ConvergeSpec] = None  # given as null: no stopping rule in the quick variant

    @field_validator("values", mode="before")
    @classmethod
    def _values(cls, v: Any) -> Any:
        return values_of(v)


class SuiteSpec(_Strict):
    name: Optional[str] = None
    question: str = ""
    base: Union[str, dict[str, Any]]
    factor: Union[str, list[str]]
    values: Any
    labels: Optional[list[str]] = None
    seeds: list[int] = Field(default_factory=lambda: [0])
    converge: Optional[ConvergeSpec] = None
    quick: QuickSpec = Field(default_factory=QuickSpec)

    @field_validator("values", mode="before")
    @classmethod
    def _values(cls, v: Any) -> Any:
        if v is None:
            raise ValueError("values is empty; give a list or a {start, step, max} range")
        return values_of(v)

    @field_validator("name")
    @classmethod
    def _name(cls, v: Optional[str]) -> Optional[str]:
        return check_name(v)

    @field_validator("factor")
    @classmethod
    def _factor(cls, v: Union[str, list[str]]) -> Union[str, list[str]]:
        keys = [v] if isinstance(v, str) else v
        if not keys:
            raise ValueError("factor needs at least one config key, e.g. workers.memory_mb")
        if len(set(keys)) != len(keys):
            raise ValueError(f"factor lists a key twice: {keys}")
        for key in keys:
            check_key(key)
        return v


def check_key(key: str) -> None:
    """A dotted key that names a field of ExperimentConfig; the error lists the keys that exist there."""
    if key in ("name", "seed"):
        raise ValueError(f"{key} is set by the suite itself; vary seeds with `seeds:`")
    parts = key.split(".")
    models: list[Any] = [ExperimentConfig]
    for i, part in enumerate(parts):
        if any(get_origin(m) is dict for m in models):  # search_space.NAME, task.options.KEY: any key below
            return
        fields = {name: f for m in models for name, f in getattr(m, "model_fields", {}).items()}
        where = ".".join(parts[:i]) or "the config"
        if not fields:
            raise ValueError(f"{where} has no sub-keys")
        if part not in fields:
            raise ValueError(f"{where} has no key {part!r}; one of {', '.join(fields)}")
        models = _models_of(fields[part].annotation)


def _models_of(annotation: Any) -> list[Any]:
    """The pydantic models (or dict types) an annotation can hold, through Optional, Union and Annotated."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    if get_origin(annotation) is dict:
        return [annotation]
    return [m for arg in get_args(annotation) for m in _models_of(arg)]


# ---- applying overrides ----------------------------------------------------------------------

def merge(base: Mapping[str, Any], over: Mapping[str, Any], *, _path: tuple[str, ...] = ()) -> dict[str, Any]:
    """base with over laid on it: mappings merge key by key, except the REPLACED blocks and any non-mapping."""
    out = copy.deepcopy(dict(base))
    for k, v in over.items():
        path = (*_path, k)
        if isinstance(v, Mapping) and isinstance(out.get(k), Mapping) and path[0] not in REPLACED:
            out[k] = merge(out[k], v, _path=path)
        else:
            out[k] = copy.deepcopy(v)
    return out


def set_key(cfg: Mapping[str, Any], key: str, value: Any) -> dict[str, Any]:
    """cfg with the dotted key set to value, by the same rules as merge."""
    parts = key.split(".")
    over: Any = value
    for part in reversed(parts):
        over = {part: over}
    return merge(cfg, over)


# ---- the expanded suite ----------------------------------------------------------------------

@dataclass(frozen=True)
class Variant:
    """One run of the suite: a factor value (index 1.., label) with one seed."""

    index: int
    label: str
    value: Any
    seed: int
    config: ExperimentConfig
    dir_name: str


@dataclass(frozen=True)
class Suite:
    name: str
    question: str
    path: str
    quick: bool
    factor: tuple[str, ...]
    values: tuple[Any, ...]
    labels: tuple[str, ...]
    seeds: tuple[int, ...]
    converge: Optional[ConvergeSpec]
    variants: tuple[Variant, ...]

    @property
    def factor_name(self) -> str:
        return " + ".join(self.factor)

    @property
    def numeric(self) -> bool:
        """A single numeric factor: plotted on a numeric axis."""
        return len(self.factor) == 1 and all(_is_num(v) for v in self.values)

    def runs_of(self, index: int) -> list[Variant]:
        return [v for v in self.variants if v.index == index]


def _is_num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def default_label(value: Any) -> str:
    if isinstance(value, Mapping):
        return str(value.get("type", "")) or "custom"
    if isinstance(value, (list, tuple)):
        return " ".join(default_label(v) for v in value)
    if value is None:
        return "-"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def slug(label: str) -> str:
    return re.sub(r"[^\w.-]+", "_", label).strip("_")[:40] or "v"


def load_suite(path: Union[str, os.PathLike], *, quick: bool = False) -> Suite:
    """Validate a suite file and expand it (the quick variant when quick) into configs. Raises ConfigError."""
    path = os.fspath(path)
    data, node = read_yaml(path)
    spec = validate(SuiteSpec, data, path, node)
    name = spec.name or slug(os.path.splitext(os.path.basename(path))[0])
    base = _base_of(spec, path)
    values: Values = spec.values
    labels = spec.labels
    seeds = spec.seeds
    converge = spec.converge
    if quick:
        q = spec.quick
        base = merge(base, q.base)
        if q.values is not None:
            values, labels = q.values, q.labels
        elif q.labels is not None:
            labels = q.labels
        seeds = q.seeds if q.seeds is not None else seeds
        converge = q.converge if "converge" in q.model_fields_set else converge
    where = f"{path}: quick" if quick else path
    factor = (spec.factor,) if isinstance(spec.factor, str) else tuple(spec.factor)
    vals = values.expand() if isinstance(values, RangeSpec) else list(values)
    _check_values(where, factor, values, vals, labels, seeds)
    labels = list(labels) if labels is not None else [default_label(v) for v in vals]
    variants = []
    for i, (value, label) in enumerate(zip(vals, labels), start=1):
        parts = [value] if len(factor) == 1 else list(value)
        cfg = copy.deepcopy(base)
        for key, part in zip(factor, parts):
            cfg = set_key(cfg, key, part)
        for seed in seeds:
            run_name = f"{name}-{slug(label)}-s{seed}"
            try:
                config = ExperimentConfig.model_validate({**cfg, "name": run_name, "seed": seed})
            except ValidationError as err:
                raise ConfigError(format_error(f"{where}: value {label!r}", err, None)) from None
            variants.append(Variant(i, label, value, seed, config, f"{i:02d}-{slug(label)}-s{seed}"))
    return Suite(name, spec.question.strip(), path, quick, factor, tuple(vals), tuple(labels), tuple(seeds),
                 converge, tuple(variants))


def _base_of(spec: SuiteSpec, path: str) -> dict[str, Any]:
    if isinstance(spec.base, dict):
        return dict(spec.base)
    base_path = os.path.join(os.path.dirname(os.path.abspath(path)), spec.base)
    try:
        data, _ = read_yaml(base_path)
    except ConfigError as e:
        raise ConfigError(f"{path}: base {spec.base!r}: {e}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: base {spec.base!r} is not a YAML mapping; point it at an experiment config")
    return data


def _check_values(where: str, factor: Sequence[str], values: Values, vals: list[Any],
                  labels: Optional[Sequence[str]], seeds: Sequence[int]) -> None:
    if not vals:
        raise ConfigError(f"{where}: values is empty; list at least one value of {' + '.join(factor)}")
    if isinstance(values, RangeSpec) and len(factor) > 1:
        raise ConfigError(f"{where}: a {{start, step, max}} range needs a single factor key; list the values")
    if len(factor) > 1:
        for i, v in enumerate(vals):
            if not isinstance(v, list) or len(v) != len(factor):
                raise ConfigError(f"{where}: values[{i}] = {v!r}: factor has {len(factor)} keys, so each value "
                                  f"must be a list of {len(factor)} ({', '.join(factor)})")
    if labels is not None:
        if len(labels) != len(vals):
            raise ConfigError(f"{where}: labels has {len(labels)} entries for {len(vals)} values; give one per value")
        if len(set(labels)) != len(labels):
            raise ConfigError(f"{where}: labels repeat; give each value its own label")
    else:
        shown = [default_label(v) for v in vals]
        if len(set(shown)) != len(shown):
            raise ConfigError(f"{where}: two values share the label {next(s for s in shown if shown.count(s) > 1)!r};"
                              " add `labels:` with one distinct label per value")
    if not seeds:
        raise ConfigError(f"{where}: seeds is empty; give at least one, e.g. [0]")
    if len(set(seeds)) != len(seeds):
        raise ConfigError(f"{where}: seeds repeat; list each seed once")
