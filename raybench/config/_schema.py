"""The experiment config, as a pydantic schema. `docs/config.md` documents every key."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal, Optional, Union

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

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


class OptunaSamplerSpec(_Strict):
    """Any Optuna sampler, by its name in optuna.samplers or as 'module:Class' (needs raybench[optuna])."""

    type: Literal["optuna"]
    name: str = Field("TPESampler", validate_default=True)
    options: dict[str, Any] = Field(default_factory=dict, validate_default=True,
                                    description="keyword arguments of the sampler class")

    @field_validator("name")
    @classmethod
    def _known(cls, v: str) -> str:
        from raybench.search.samplers._optuna import sampler_class

        sampler_class(v)  # optuna installed, and the name is a sampler class
        return v

    @field_validator("options")
    @classmethod
    def _accepted(cls, v: dict[str, Any], info: ValidationInfo) -> dict[str, Any]:
        from raybench.search.samplers._optuna import check_sampler

        if "name" in info.data:  # else the name's own error is reported
            check_sampler(info.data["name"], v)
        return v


SamplerSpec = Annotated[Union[GridSamplerSpec, RandomSamplerSpec, TPESamplerSpec, OptunaSamplerSpec],
                        Field(discriminator="type")]


# ---- pruners -------------------------------------------------------------------------------

Progress = Literal["epoch", "time_s", "energy_j"]


class GuardSpec(_Strict):
    protected_trials: int = Field(0, ge=0, description="trials spread over the space that are never stopped")
    min_value: Optional[float] = Field(None, description="stop a trial whose value is worse than this after warmup")
    warmup: float = Field(0, ge=0, description="min_value applies from this progress on")
    patience: int = Field(1, ge=1, description="stop only at the P-th consecutive report that would stop")


class _PrunerSpec(_Strict):
    guard: Optional[GuardSpec] = None


class NoPrunerSpec(_PrunerSpec):
    type: Literal["none"]


class MedianPrunerSpec(_PrunerSpec):
    type: Literal["median"]
    progress: Progress = "epoch"
    warmup: float = Field(1, ge=0, description="no stop before this much progress")
    min_peers: int = Field(3, ge=1, description="peers needed at the same step before any stop")
    startup_trials: int = Field(0, ge=0, description="no stop before this many trials completed")


class PercentilePrunerSpec(MedianPrunerSpec):
    type: Literal["percentile"]  # type: ignore[assignment]
    percentile: float = Field(25.0, gt=0, lt=100)


class ASHAPrunerSpec(_PrunerSpec):
    type: Literal["asha"]
    progress: Progress = "epoch"
    grace_period: float = Field(1, gt=0)
    reduction_factor: float = Field(3, gt=1)
    max_t: float = Field(100, gt=0)
    brackets: int = Field(1, ge=1)
    variant: Literal["stopping", "promotion"] = "stopping"
    order: Literal["value", "value_per_joule"] = Field("value", description="promotion order (variant promotion)")

    @model_validator(mode="after")
    def _grace(self) -> ASHAPrunerSpec:
        if self.grace_period > self.max_t:
            raise ValueError(f"grace_period must be <= max_t, got {self.grace_period} > {self.max_t}")
        if self.variant == "stopping" and self.order != "value":
            raise ValueError(f"order {self.order} needs variant: promotion (stopping ASHA promotes nothing)")
        if self.variant == "promotion" and self.brackets != 1:
            raise ValueError(f"variant promotion has one bracket, got brackets {self.brackets}; drop brackets")
        return self


class HyperbandPrunerSpec(_PrunerSpec):
    type: Literal["hyperband"]
    progress: Progress = "epoch"
    min_resource: float = Field(1, gt=0)
    max_resource: Optional[float] = Field(None, gt=0, description="default task.epochs with progress epoch")
    reduction_factor: float = Field(3, gt=1)

    @model_validator(mode="after")
    def _resources(self) -> HyperbandPrunerSpec:
        if self.max_resource is not None and self.min_resource > self.max_resource:
            raise ValueError(f"min_resource must be <= max_resource, got {self.min_resource} > {self.max_resource}")
        return self


CurveFamily = Literal["pow3", "exp3", "log_power", "janoschek"]


class LearningCurvePrunerSpec(_PrunerSpec):
    type: Literal["learning_curve"]
    progress: Progress = "epoch"
    max_t: Optional[float] = Field(None, gt=0, description="default task.epochs with progress epoch")
    min_probability: float = Field(0.05, gt=0, lt=1)
    margin: float = Field(0, ge=0)
    families: list[CurveFamily] = Field(default_factory=lambda: ["pow3", "exp3", "log_power", "janoschek"],
                                        min_length=1)


PrunerSpec = Annotated[
    Union[NoPrunerSpec, MedianPrunerSpec, PercentilePrunerSpec, ASHAPrunerSpec, HyperbandPrunerSpec,
          LearningCurvePrunerSpec],
    Field(discriminator="type"),
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


# Objectives the runtime measures for every trial; a workload never reports them (docs/config.md).
MEASURED_OBJECTIVES = ("energy_j", "energy_with_idle_j", "time_s", "cost", "co2e_g")


class WorkersSpec(_Strict):
    count: int = Field(4, ge=1)
    cpus: float = Field(2, gt=0)
    memory_mb: int = Field(2048, ge=64)
    accelerator: Literal["none", "GPU", "TPU"] = "none"
    accelerators_per_worker: float = Field(0, ge=0)
    enforce_memory: bool = True
    report_channel: Literal["socket", "ray"] = Field(
        "socket", description="how trial actors send reports: a TCP connection to the scheduler, or Ray calls")

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
    cpu_tdp_w: Optional[float] = Field(
        None, gt=0, description="estimator: TDP of all sockets; default RAPL PL1, the CPU table, or W per physical core")
    cpu_idle_fraction: float = Field(0.3, ge=0, le=1, description="estimator: idle draw as a fraction of TDP")
    dram_w_per_dimm: float = Field(3.0, ge=0, description="estimator: DRAM power per memory module")
    ram_w_per_gb: Optional[float] = Field(
        None, ge=0, description="estimator: DRAM power per GB installed, instead of the per-DIMM model")


class CostSpec(_Strict):
    """Defaults and their sources: docs/metrics.md ("Defaults")."""

    currency: str = "USD"
    cpu_hour: float = Field(0.0316, ge=0)
    gb_hour: float = Field(0.0042, ge=0)
    gpu_hour: float = Field(2.93, ge=0)
    tpu_hour: float = Field(1.20, ge=0)


class CarbonSpec(_Strict):
    """Defaults and their sources: docs/metrics.md ("Defaults")."""

    g_per_kwh: float = Field(475.0, ge=0, description="grid intensity, grams per kWh of `gas`")
    gas: Literal["CO2", "CO2e"] = Field("CO2", description="what g_per_kwh counts: the IEA default is CO2 only")
    pue: float = Field(1.58, ge=1, description="multiplies the measured component energy (CPU, DRAM, GPU)")


class CheckpointSpec(_Strict):
    persist: bool = Field(True, description="keep each running trial's latest epoch checkpoint in RUN_DIR/checkpoints")
    fsync: bool = Field(True, description="fsync each checkpoint before it replaces the previous one")


class ExperimentConfig(_Strict):
    name: str = Field(min_length=1)
    seed: int = 0
    task: TaskSpec = Field(default_factory=TaskSpec)
    metric: MetricSpec = Field(default_factory=MetricSpec, description="the reported metric pruners judge")
    objectives: list[MetricSpec] = Field(default_factory=list, description="several objectives; [] for one")
    search_space: dict[str, ParamSpec] = Field(min_length=1)
    sampler: SamplerSpec = Field(default_factory=lambda: GridSamplerSpec(type="grid"))
    pruner: PrunerSpec = Field(default_factory=lambda: NoPrunerSpec(type="none"))
    workers: WorkersSpec = Field(default_factory=WorkersSpec)
    budget: BudgetSpec = Field(default_factory=BudgetSpec)
    energy: EnergySpec = Field(default_factory=EnergySpec)
    cost: CostSpec = Field(default_factory=CostSpec)
    carbon: CarbonSpec = Field(default_factory=CarbonSpec)
    max_failures: int = Field(3, ge=0)
    checkpoints: CheckpointSpec = Field(default_factory=CheckpointSpec)

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        return check_name(v)

    @model_validator(mode="before")
    @classmethod
    def _metric_list(cls, data: Any) -> Any:
        """`metric: [{name, mode}, ...]` means several objectives: `metric` becomes the one pruners judge
        (pruner.objective, else the first objective a workload reports) and `objectives` keeps the list."""
        if not isinstance(data, dict) or not isinstance(data.get("metric"), list):
            return data
        if "objectives" in data:
            raise ValueError("give the objectives once: as a list under metric, or as objectives")
        objectives = data["metric"]
        if not objectives or not all(isinstance(o, dict) for o in objectives):
            raise ValueError("metric as a list needs at least one {name: ..., mode: max|min} entry")
        pruner = dict(data.get("pruner") or {}) if isinstance(data.get("pruner"), dict) else data.get("pruner")
        judged = pruner.pop("objective", None) if isinstance(pruner, dict) else None
        reported = [o for o in objectives if o.get("name") not in MEASURED_OBJECTIVES]
        if judged is not None:
            match = [o for o in objectives if o.get("name") == judged]
            if not match:
                raise ValueError(f"pruner.objective {judged!r} is not one of the metric list's names")
            metric = match[0]
        elif reported:
            metric = reported[0]
        else:
            raise ValueError("the metric list needs one metric the workload reports (e.g. val_accuracy), "
                             f"besides the measured {', '.join(MEASURED_OBJECTIVES)}")
        out = {**data, "metric": metric, "objectives": objectives}
        if isinstance(pruner, dict):
            out["pruner"] = pruner
        return out

    @model_validator(mode="after")
    def _objectives(self) -> ExperimentConfig:
        names = [o.name for o in self.objectives]
        if len(set(names)) != len(names):
            raise ValueError(f"metric names must differ, got {names}")
        if self.objectives and self.metric not in self.objectives:
            raise ValueError(f"metric {self.metric.name!r} must be one of the objectives {names}")
        if self.metric.name in MEASURED_OBJECTIVES:
            raise ValueError(f"pruners judge a reported metric, not the measured {self.metric.name!r}; "
                             "set pruner.objective to one the workload reports")
        measured = [n for n in names if n in MEASURED_OBJECTIVES and n != "time_s"]
        if measured and self.energy.backend == "none" and self.energy.gpu == "none":
            raise ValueError(f"objective {measured[0]} needs energy measured; set energy.backend to auto or estimate")
        return self

    def objective_specs(self) -> list[MetricSpec]:
        """The objectives in order: the metric list, or the one metric."""
        return list(self.objectives) or [self.metric]

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
