"""The driver's energy actors, one per node: started as nodes join, watched, replaced when one dies.

A replaced actor's node keeps the baseline the run logged for it (no second idle measurement while trials
run), and the seconds between the dead actor's last sample and the new actor's first are estimated by the
scheduler (LiveScheduler.energy_gap): an `estimated` energy_sample with a `gap`, and an `energy_gap` warning.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any, Optional

from raybench.config import ExperimentConfig
from raybench.errors import HardwareError
from raybench.runtime._cluster import NodeShape


def short(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return f"{type(e).__name__}: {text[0] if text else ''}"[:300]


class EnergyFleet:
    def __init__(self, cfg: ExperimentConfig, run_id: str, scheduler: Any, say: Callable[[str], None], *,
                 measured: Iterable[str] = (), gaps: bool = False) -> None:
        self.cfg, self.run_id, self.scheduler, self.say = cfg, run_id, scheduler, say
        self.on = cfg.energy.backend != "none" or cfg.energy.gpu != "none"
        self.actors: dict[str, Any] = {}      # node id -> energy actor
        self._pings: dict[Any, str] = {}      # ping ref -> node id
        self._pending: dict[str, tuple[Any, float]] = {}  # node id -> (its baseline ref, when it was started)
        self._generation: dict[str, int] = {}  # node id -> how many energy actors it had before this one
        self._shapes: dict[str, NodeShape] = {}
        self.measured = set(measured)         # nodes whose baseline is in the log already
        self._gaps = gaps                     # whether a known node's first sample follows a gap to estimate
        self.replaced = 0

    def _warn(self, code: str, message: str) -> None:
        self.scheduler.emit_event.remote({"event": "warning", "t": time.time(), "code": code, "message": message})

    def start(self, nodes: list[NodeShape], *, wait: bool = True) -> None:
        """Start an energy actor on each node that has none; baselines are measured in parallel.

        wait=False (nodes joining, replacements while trials run) returns at once: the actors' first answers are
        taken up by later check() calls, so a replacement on a node that is dying cannot stall the driver.
        """
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        from raybench.runtime.actors import EnergyActor, energy_actor_name

        new = [n for n in nodes if n.node_id not in self.actors]
        if not self.on:
            return
        spec = self.cfg.energy.model_dump()
        for n in new:
            self._shapes[n.node_id] = n
            known = n.node_id in self.measured
            t = time.time()
            # Ray keeps a dead actor's name taken: a replacement gets the next generation's name, and trial
            # actors look for the newest (actors.TrialWorker._energy_actor).
            gen = self._generation.get(n.node_id, -1) + 1
            self._generation[n.node_id] = gen
            try:
                actor = EnergyActor.options(
                    name=generation_name(energy_actor_name(self.run_id, n.node_id), gen), lifetime=None,
                    scheduling_strategy=NodeAffinitySchedulingStrategy(n.node_id, soft=False),
                ).remote(n.node_id, n.host, {**spec, "baseline_s": 0.0} if known else spec, n.to_dict())
            except ValueError:  # the dead actor's name is not free yet: try again at the next check
                continue
            self.actors[n.node_id] = actor
            self._pending[n.node_id] = (actor.baseline.remote(), t)
        self._settle(timeout=None if wait else 0.0)

    def _settle(self, *, timeout: Optional[float]) -> None:
        """Log the baselines that have arrived, and start those actors' sampling."""
        import ray

        if not self._pending:
            return
        refs = [ref for ref, _ in self._pending.values()]
        ready = set(refs if timeout is None else ray.wait(refs, num_returns=len(refs), timeout=timeout)[0])
        started = []
        for node, (ref, t_start) in list(self._pending.items()):
            if ref not in ready:
                continue
            del self._pending[node]
            n = self._shapes[node]
            try:
                evs = ray.get(ref)
            except ray.exceptions.RayError as e:  # the node left (or was gone already) while its baseline was measured
                self.actors.pop(node, None)
                self._warn("energy_lost", f"node {n.host} ({node[:8]}): no energy measured, its energy actor "
                                          f"died: {short(e)}")
                continue
            if evs and "error" in evs[0]:
                raise HardwareError(evs[0]["error"])
            known = node in self.measured
            for ev in evs:
                if known and (ev.get("event") == "node_joined" or ev.get("code") == "energy"):
                    continue  # a replacement on a node the log knows: its join and one-time notices are logged
                if ev.get("event") == "warning" and not known:
                    self.say(f"[yellow]energy:[/] {ev['message']}")
                self.scheduler.emit_event.remote(ev)
            if known and self._gaps:
                self.scheduler.energy_gap.remote(node, t_start, "its energy actor was replaced")
            self.measured.add(node)
            started.append(self.actors[node].start.remote(self.scheduler))
            self._pings[self.actors[node].ping.remote()] = node
        # Waited for: the energy actor is threaded, so a stop() sent later could otherwise overtake its start().
        for ref in started:
            try:
                ray.get(ref, timeout=30)
            except (ray.exceptions.RayActorError, ray.exceptions.GetTimeoutError):
                pass  # its node left already: check() or stop() says so
        self._gaps = True  # from now on, any known node's new actor replaces a dead one

    def check(self, alive: list[NodeShape]) -> None:
        """Replace the energy actors that died on nodes that are still alive; start those of new nodes."""
        import ray

        self._settle(timeout=0.0)
        alive_ids = {n.node_id for n in alive}
        if self._pings:
            ready, _ = ray.wait(list(self._pings), num_returns=len(self._pings), timeout=0)
            for ref in ready:
                node = self._pings.pop(ref)
                try:
                    ray.get(ref)
                    self._pings[self.actors[node].ping.remote()] = node
                except ray.exceptions.RayError as e:
                    ray.kill(self.actors.pop(node))
                    if node in alive_ids:
                        self.replaced += 1
                        self.say(f"[yellow]energy:[/] the energy actor of node {node[:8]} died ({short(e)}); "
                                 "starting a new one")
                    else:
                        self._warn("energy_lost", f"node {node[:8]}: its node left; its last energy interval "
                                                  f"is lost: {short(e)}")
        self.start([n for n in alive if n.node_id not in self.actors], wait=False)

    def stop(self) -> None:
        """Stop every energy actor and wait for its last sample; a node that died took its actor along."""
        import ray

        self._settle(timeout=10.0)  # a replacement that is starting still delivers its gap and first interval
        refs = {node: a.stop.remote() for node, a in self.actors.items()}
        deadline = time.time() + 30
        for node, ref in refs.items():
            try:
                ray.get(ref, timeout=max(0.1, deadline - time.time()))
            except (ray.exceptions.RayActorError, ray.exceptions.GetTimeoutError) as e:
                self._warn("energy_lost", f"node {node[:8]}: its last energy interval is lost: {short(e)}")

    def kill(self) -> None:
        import ray

        for a in self.actors.values():
            ray.kill(a)
        self.actors.clear()
        self._pings.clear()
        self._pending.clear()

    def handles(self) -> list[Any]:
        return list(self.actors.values())


def generation_name(base: str, generation: int) -> str:
    """The name of a node's n-th energy actor: the base name first, then `<base>.<n>`."""
    return base if generation == 0 else f"{base}.{generation}"


def newest_generation(base: str, names: Iterable[str]) -> Optional[str]:
    """Of the named actors, the newest energy actor of `base`, or None."""
    gens = {0 if n == base else int(n[len(base) + 1:]): n for n in names
            if n == base or (n.startswith(base + ".") and n[len(base) + 1:].isdigit())}
    return gens[max(gens)] if gens else None


def energy_run_id(cfg: ExperimentConfig, run_id: str) -> Optional[str]:
    """The run id by which trial actors find their node's energy actor, or None when nothing is measured."""
    on = cfg.energy.backend != "none" or cfg.energy.gpu != "none"
    return run_id if on else None
