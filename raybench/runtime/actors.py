"""The Ray actors: thin shells around the scheduler core, TrialWorker and EnergyNode."""

from __future__ import annotations

import ray

from raybench.runtime._energy_node import EnergyNode
from raybench.runtime._names import energy_actor_name  # noqa: F401  (re-exported)
from raybench.runtime._scheduler import LiveScheduler
from raybench.runtime._trial_worker import TrialWorker

# One scheduler per experiment; it takes no CPU so that it never competes with trials for a slot.
SchedulerActor = ray.remote(num_cpus=0, max_restarts=0)(LiveScheduler)

# Resources of trial actors are set per experiment with .options(); actors are reused across trials.
TrialActor = ray.remote(max_restarts=0)(TrialWorker)

# One per node, pinned there; threaded so that track/untrack calls do not wait behind a sample.
EnergyActor = ray.remote(num_cpus=0, max_restarts=0, max_concurrency=4)(EnergyNode)

