"""The Ray actors: thin shells around the scheduler core, TrialWorker and EnergyNode.

The two subclasses below add one read-only call each for the driver (they keep their base class's name, which
Ray shows as `ray::EnergyNode`, `ray::TrialWorker`): the energy actor answers a ping, so that the driver sees
it die and replaces it; the trial actor says how much memory it holds before its first trial, and finds its
node's energy actor anew for each trial.
"""

from __future__ import annotations

import ray

from raybench.runtime import _energy_node, _trial_worker
from raybench.runtime._names import energy_actor_name  # noqa: F401  (re-exported)
from raybench.runtime._scheduler import LiveScheduler


class EnergyNode(_energy_node.EnergyNode):
    def ping(self) -> str:
        return self.node_id


class TrialWorker(_trial_worker.TrialWorker):
    def _energy_actor(self):
        # Kept while its calls succeed, looked up again after one failed: the driver replaces a dead energy
        # actor by one of the next generation's name (Ray keeps a dead actor's name taken), so a handle kept
        # after a failure would point at the dead one for the rest of the run. The look-up lists every named
        # actor of the cluster (a GCS call): at every trial it was most of a zero-cost trial's cost.
        from raybench.runtime._energy_fleet import newest_generation

        if not self.energy_actor_name:
            return None
        if self._energy is not None and not self._energy_failed:
            return self._energy
        if self._energy is not None:
            self._energy.close()
        self._energy, self._energy_failed = None, False
        try:
            name = newest_generation(self.energy_actor_name, ray.util.list_named_actors())
            self._energy = _energy_node.EnergyLink(ray.get_actor(name)) if name else None
        except (ValueError, ray.exceptions.RayError):
            self._energy = None  # not started yet on this node (a node that just joined): look at the next trial
        return self._energy

    def idle_rss_mb(self) -> float:
        """Resident memory of this idle actor's process tree (Ray's worker, its imports), in MB."""
        import psutil

        from raybench.runtime._watchdog import tree_rss_mb

        return tree_rss_mb(psutil.Process())


# Ray records an event for every actor call, for its dashboard's task list, and sends them to the GCS each
# second. Reports, hand-offs and track/untrack are thousands of calls a second at scale, and the event log says
# more of each; the records cost CPU in the caller, the actor and the GCS (BENCHMARKS.md, Scale). Off for these.
QUIET = {"enable_task_events": False}

# One scheduler per experiment; it takes no CPU so that it never competes with trials for a slot.
SchedulerActor = ray.remote(num_cpus=0, max_restarts=0, **QUIET)(LiveScheduler)

# Resources of trial actors are set per experiment with .options(); actors are reused across trials.
TrialActor = ray.remote(max_restarts=0, **QUIET)(TrialWorker)

# One per node, pinned there; threaded so that track/untrack calls do not wait behind a sample.
EnergyActor = ray.remote(num_cpus=0, max_restarts=0, max_concurrency=4, **QUIET)(EnergyNode)
