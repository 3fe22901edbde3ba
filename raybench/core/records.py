"""What crosses between actors: a trial's assignment, a finished trial, and the shape of one worker."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

MB = 1024 * 1024


@dataclass(frozen=True)
class WorkerShape:
    """What one trial actor reserves. The one place that turns the config's `workers` into Ray options,
    used by the trial actors, the final test, the feasibility checks and the energy actors."""

    cpus: float
    memory_mb: float
    gpus: float = 0.0
    tpus: float = 0.0
    enforce_memory: bool = True

    @classmethod
    def of(cls, workers: Any) -> WorkerShape:
        acc = float(workers.accelerators_per_worker)
        return cls(cpus=float(workers.cpus), memory_mb=float(workers.memory_mb),
                   gpus=acc if workers.accelerator == "GPU" else 0.0,
                   tpus=acc if workers.accelerator == "TPU" else 0.0,
                   enforce_memory=bool(workers.enforce_memory))

    @property
    def threads(self) -> int:
        return max(1, int(self.cpus))

    @property
    def device(self) -> str:
        return "cuda" if self.gpus else "cpu"

    @property
    def memory_limit_mb(self) -> Optional[float]:
        return self.memory_mb if self.enforce_memory else None

    def resources(self) -> dict[str, float]:
        """The reservation as the event log and the energy actors spell it."""
        return {"cpus": self.cpus, "memory_mb": self.memory_mb, "gpus": self.gpus, "tpus": self.tpus}

    def ray_options(self) -> dict[str, Any]:
        opts: dict[str, Any] = {"num_cpus": self.cpus, "memory": int(self.memory_mb * MB)}
        if self.gpus:
            opts["num_gpus"] = self.gpus
        if self.tpus:
            opts["resources"] = {"TPU": self.tpus}
        return opts

    def describe(self) -> str:
        text = f"{self.cpus:g} CPUs, {self.memory_mb:.0f} MB"
        if self.gpus:
            text += f", {self.gpus:g} GPUs"
        if self.tpus:
            text += f", {self.tpus:g} TPUs"
        return text


@dataclass(frozen=True)
class Assignment:
    """A trial handed to a worker: what to train, from which step, and with which seed."""

    trial_id: int
    config: dict[str, Any]
    attempt: int
    seed: int
    experiment_seed: int
    task: dict[str, Any]
    space: dict[str, Any]
    metric: str
    epochs: int
    from_step: int = 0
    checkpoint: Optional[dict] = None
    send_checkpoints: bool = True


@dataclass(frozen=True)
class Wait:
    """No trial to hand out now, but the run is not over (paused trials may be promoted): ask again later."""

    seconds: float = 0.2


@dataclass(frozen=True)
class Finished:
    """A worker's word that its trial ended its turn: ran all its epochs ("completed"), obeyed a stop
    ("pruned"), or paused at a rung of promotion ASHA ("paused")."""

    trial_id: int
    status: str
    peak_rss_mb: Optional[float] = None


@dataclass(frozen=True)
class BestTrial:
    """The trial whose model the final test evaluates."""

    trial_id: int
    config: dict[str, Any]
    val_metric: float
    seed: int
    experiment_seed: int
    task: dict[str, Any]
    space: dict[str, Any] = field(default_factory=dict)
    checkpoint: Optional[dict] = None
