"""The experiment config: schema, loading and validation."""

from raybench.config._loader import load_config, read_yaml, validate
from raybench.config._schema import (
    ASHAPrunerSpec,
    BudgetSpec,
    CarbonSpec,
    CostSpec,
    EnergySpec,
    ExperimentConfig,
    MedianPrunerSpec,
    MetricSpec,
    PercentilePrunerSpec,
    TaskSpec,
    TPESamplerSpec,
    WorkersSpec,
)

__all__ = [
    "ASHAPrunerSpec",
    "BudgetSpec",
    "CarbonSpec",
    "CostSpec",
    "EnergySpec",
    "ExperimentConfig",
    "MedianPrunerSpec",
    "MetricSpec",
    "PercentilePrunerSpec",
    "TPESamplerSpec",
    "TaskSpec",
    "WorkersSpec",
    "load_config",
    "read_yaml",
    "validate",
]
