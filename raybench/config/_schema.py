"""The experiment config, as a pydantic schema. `docs/config.md` documents every key."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal, Optional, Union

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from raybench.search import space as sp


def check_name(v):
    """A name that is safe as a directory name: letters, digits, '_', '-' and '.'."""
    if v is not None and not re.fullmatch(r"[\w.-]+", v):
        raise ValueError(f"name may hold letters, digits, '_', '-' and '.', got {v!r}")
    return v


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    @model_validator(mode="before")
    @classmethod
    def _no_bool_for_numbers(cls, data: Any) -> Any:
        # YAML's true/false would otherwise pass as 1/0 for a number field.
        if isinstance(data, dict):
            for name, v in data.items():
                field = cls.model_fields.get(name) if isinstance(name, str) else None
                if isinstance(v, bool) and field is not None:
                    ann = str(field.annotation)
                    if "bool" not in ann and ("int" in ann or "float" in ann):
                        raise ValueError(f"{name} expects a number, got {v!r}")
        return data


# ---- search space ---------------------------------------------------------------------------

_ScalarT = Union[bool, int, float, str, None]


class ChoiceSpec(_Strict):
    type: Literal["choice"]
    values: list[_ScalarT] = Field(min_length=1)

    @field_validator("values")
    @classmethod
    def _distinct(cls, v: list) -> list:
        seen = []
        for x in v:
            if any(x == y and type(x) is type(y) for y in seen):
                raise ValueError(f"value {x!r} is listed twice; list each value once")
            seen.append(x)
        return v

    def to_param(self) -> sp.Param:
        return sp.Choice(tuple(self.values))


class UniformSpec(_Strict):
    type: Literal["uniform", "loguniform"]
    low: float
    high: float

    @model_validator(mode="after")
    def _bounds(self) -> UniformSpec:
        if not self.low < self.high:
            raise ValueError(f"low must be < high, got low={self.low} high={self.high}; swap or widen them")
        if self.type == "loguniform" and self.low <= 0:
            raise ValueError(f"loguniform needs low > 0, got low={self.low}; use uniform or a positive low")
        return self

    def to_param(self) -> sp.Param:
        return sp.LogUniform(self.low, self.high) if self.type == "loguniform" else sp.Uniform(self.low, self.high)


class IntSpec(_Strict):
    type: Literal["int"]
    low: int
    high: int
    log: bool = False

    @model_validator(mode="after")
    def _bounds(self) -> IntSpec:
        if not self.low < self.high:
            raise ValueError(f"low must be < high, got low={self.low} high={self.high}; swap or widen them")
        if self.log and self.low < 1:
            raise ValueError(f"log: true needs low >= 1, got low={self.low}; raise low or set log: false")
        return self

    def to_param(self) -> sp.Param:
        return sp.IntRange(self.low, self.high, self.log)


ParamSpec = Annotated[Union[ChoiceSpec, UniformSpec, IntSpec], Field(discriminator="type")]


# ---- samplers ------------------------------------------------------------------------------

class GridSamplerSpec(_Strict):
    type: Literal["grid"]


class RandomSamplerSpec(_Strict):
    type: Literal["random"]


class TPESamplerSpec(_Strict):
    type: Literal["tpe"]
    n_startup_trials: int = Field(10, ge=0)
    gamma: float = Field(0.1, gt=0, lt=1)
    n_ei_candidates: int = Field(24, ge=1)
    constant_liar: bool = True
    multivariate: bool = Field(True, description="joint kernels over all parameters instead of one per parameter")
    warm_start: list[str] = Field(default_factory=list,
                                  description="directories of earlier runs whose finished trials seed the model")


SamplerSpec = Annotated[Union[GridSamplerSpec, RandomSamplerSpec, TPESamplerSpec], Field(discriminator="type")]


# ---- pruners -------------------------------------------------------------------------------

Progress = Literal["epoch", "time_s", "energy_j"]


class NoPrunerSpec(_Strict):
    type: Literal["none"]


class MedianPrunerSpec(_Strict):
    type: Literal["median"]
    progress: Progress = "epoch"
    warmup: float = Field(1, ge=0, description="no stop before this much progress")
    min_peers: int = Field(3, ge=1, description="peers needed at the same step before any stop")
    startup_trials: int = Field(0, ge=0, description="no stop before this many trials completed")


class PercentilePrunerSpec(MedianPrunerSpec):
    type: Literal["percentile"]  # type: ignore[assignment]
    percentile: float = Field(25.0, gt=0, lt=100)


class ASHAPrunerSpec(_Strict):
    type: Literal["asha"]
    progress: Progress = "epoch"
    grace_period: float = Field(1, gt=0)
    reduction_factor: float = Field(3, gt=1)
    max_t: float = Field(100, gt=0)
    brackets: int = Field(1, ge=1)

    @model_validator(mode="after")
    def _grace(self) -> ASHAPrunerSpec:
        if self.grace_period > self.max_t:
            raise ValueError(f"grace_period must be <= max_t, got {self.grace_period} > {self.max_t}")
        return self


PrunerSpec = Annotated[
    Union[NoPrunerSpec, MedianPrunerSpec, PercentilePrunerSpec, ASHAPrunerSpec], Field(discriminator="type")
]


# ---- the rest ------------------------------------------------------------------------------

class TaskSpec(_Strict):
    dataset: str = "mnist-5k"
    model: str = "ff"
    optimizer: Literal["adam", "sgd"] = "adam"
    epochs: int = Field(5, ge=1)
    batch_size: int = Field(64, ge=1)
    data_root: Optional[str] = None
    download: bool = False
    workload: Optional[str] = Field(None, description="module:function of a custom workload")
    options: dict[str, Any] = Field(default_factory=dict, description="passed to a custom workload")

    @field_validator("workload")
    @classmethod
    def _ref(cls, v: Optional[str]) -> Optional[str]:
        if v is not None and not re.fullmatch(r"[A-Za-z_][\w.]*:[A-Za-z_]\w*", v):
            raise ValueError(f"workload must be 'module:function', got {v!r}")
        return v

    @field_validator("dataset")
    @classmethod
    def _dataset(cls, v: str) -> str:
        known = ("mnist-5k", "mnist", "fashion-mnist", "synthetic")
        if v not in known:
            raise ValueError(f"unknown dataset {v!r}; use one of {', '.join(known)}")
        return v


class MetricSpec(_Strict):
    name: str = "val_accuracy"
    mode: Literal["max", "min"] = "max"


class WorkersSpec(_Strict):
    count: int = Field(4, ge=1)
    cpus: float = Field(2, gt=0)
    memory_mb: int = Field(2048, ge=64)
    accelerator: Literal["none", "GPU", "TPU"] = "none"
    accelerators_per_worker: float = Field(0, ge=0)
    enforce_memory: bool = True

    @model_validator(mode="after")
    def _acc(self) -> WorkersSpec:
        if self.accelerator == "none" and self.accelerators_per_worker > 0:
            raise ValueError("accelerators_per_worker > 0 needs accelerator: GPU or TPU")
        if self.accelerator != "none" and self.accelerators_per_worker <= 0:
            raise ValueError(f"accelerator: {self.accelerator} needs accelerators_per_worker > 0")
        return self


class BudgetSpec(_Strict):
    max_trials: Optional[int] = Field(None, ge=1)
    max_time_s: Optional[float] = Field(None, gt=0)
    max_energy_j: Optional[float] = Field(None, gt=0)


class EnergySpec(_Strict):
    backend: Literal["auto", "powercap", "pyrapl", "estimate", "none"] = "auto"
    gpu: Literal["auto", "nvml", "none"] = "auto"
    interval_s: float = Field(1.0, gt=0, le=60)
    baseline_s: float = Field(3.0, ge=0, le=600, description="idle baseline measured before the first trial")
    powercap_root: str = "/sys/class/powercap"
    cpu_tdp_w: Optional[float] = Field(None, gt=0, description="estimator: package TDP; default 10 W per core")
    cpu_idle_fraction: float = Field(0.3, ge=0, le=1, description="estimator: idle draw as a fraction of TDP")
    ram_w_per_gb: float = Field(0.375, ge=0, description="estimator: DRAM power per GB installed")


class CostSpec(_Strict):
    currency: str = "USD"
    cpu_hour: float = Field(0.0316, ge=0)
    gb_hour: float = Field(0.0042, ge=0)
    gpu_hour: float = Field(2.93, ge=0)
    tpu_hour: float = Field(1.35, ge=0)


class CarbonSpec(_Strict):
    g_per_kwh: float = Field(475.0, ge=0)
    pue: float = Field(1.58, ge=1)


class ExperimentConfig(_Strict):
    name: str = Field(min_length=1)
    seed: int = 0
    task: TaskSpec = Field(default_factory=TaskSpec)
    metric: MetricSpec = Field(default_factory=MetricSpec)
    search_space: dict[str, ParamSpec] = Field(min_length=1)
    sampler: SamplerSpec = Field(default_factory=lambda: GridSamplerSpec(type="grid"))
    pruner: PrunerSpec = Field(default_factory=lambda: NoPrunerSpec(type="none"))
    workers: WorkersSpec = Field(default_factory=WorkersSpec)
    budget: BudgetSpec = Field(default_factory=BudgetSpec)
    energy: EnergySpec = Field(default_factory=EnergySpec)
    cost: CostSpec = Field(default_factory=CostSpec)
    carbon: CarbonSpec = Field(default_factory=CarbonSpec)
    max_failures: int = Field(3, ge=0)

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        return check_name(v)

    @model_validator(mode="after")
    def _grid_needs_finite(self) -> ExperimentConfig:
        if self.sampler.type == "grid":
            for name, spec in self.search_space.items():
                if not sp.is_finite(spec.to_param()):
                    raise ValueError(
                        f"search_space.{name}: grid needs choice or int parameters, got {spec.type}; "
                        "use sampler random or tpe, or make it a choice"
                    )
        return self

    def space(self) -> dict[str, sp.Param]:
        """The search space as algorithm-level parameters."""
        return {name: spec.to_param() for name, spec in self.search_space.items()}

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")
