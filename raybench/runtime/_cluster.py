"""Connecting to Ray, and what the cluster can hold: feasibility and effective concurrency.

`ray` is imported lazily: a local head must be told to bind to loopback before Ray is imported.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Optional

from raybench.core.records import WorkerShape
from raybench.errors import ResourceError, UserError

MB = 1024 * 1024


@dataclass(frozen=True)
class NodeShape:
    node_id: str
    host: str
    cpus: float
    memory_mb: float
    gpus: float
    tpus: float

    def to_dict(self) -> dict[str, Any]:
        return {"cpus": self.cpus, "memory_mb": self.memory_mb, "gpus": self.gpus, "tpus": self.tpus}


@dataclass(frozen=True)
class Connection:
    mode: str  # "local" (raybench started the head), "job" (inside `ray job submit`), "cluster" (--address)
    address: Optional[str]
    autoscaling: bool


def starts_local(address: Optional[str]) -> bool:
    """Whether connect(address) would start a local head (no address, not inside a Ray job)."""
    import sys

    in_job = bool(os.environ.get("RAY_JOB_ID") or os.environ.get("RAY_ADDRESS"))
    ray = sys.modules.get("ray")
    return address is None and not in_job and not (ray is not None and ray.is_initialized())


def connect(address: Optional[str], *, num_cpus: Optional[int] = None,
            say: Callable[[str], None] = lambda _: None) -> Connection:
    """Join the Ray cluster the user means, or start a local head bound to loopback with token auth.

    A local head first ends what a killed local run left behind (runtime/_local_ray.py), then records its own
    processes for the next run to do the same."""
    in_job = bool(os.environ.get("RAY_JOB_ID") or os.environ.get("RAY_ADDRESS"))
    if address is None and not in_job:
        # Loopback only, and token auth; both must be set before Ray is imported.
        os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
        os.environ.setdefault("RAY_AUTH_MODE", "token")
    import ray

    if ray.is_initialized():
        return Connection("existing", address, _has_autoscaler())
    kwargs: dict[str, Any] = {"logging_level": "ERROR", "log_to_driver": True, "configure_logging": True}
    if address is None and not in_job:
        from raybench.runtime import _local_ray

        _local_ray.clean_up_dead_drivers(say)
        ray.init(address="local", num_cpus=num_cpus or os.cpu_count(), include_dashboard=False, **kwargs)
        _local_ray.register()
        return Connection("local", None, False)
    target = address or os.environ.get("RAY_ADDRESS") or "auto"
    try:
        ray.init(address=target, **kwargs)
    except ConnectionError as e:
        raise UserError(f"cannot reach a Ray cluster at {target!r} ({e}); start one with `ray start --head` "
                        "or drop --address to run locally") from None
    return Connection("job" if address is None else "cluster", target, _has_autoscaler())


def _has_autoscaler() -> bool:
    """True where an autoscaler runs and may add nodes: it publishes its status in the GCS key-value store."""
    try:
        return _autoscaler_configured()
    except Exception:  # an older or newer Ray without these keys: assume a fixed cluster
        return False


def _autoscaler_configured() -> bool:
    """Whether the cluster's autoscaler may add nodes, from the status it publishes in the GCS.

    No status yet (a head started seconds ago) counts as a fixed cluster. RAYBENCH_AUTOSCALING=1 or 0
    overrides the guess.
    """
    forced = os.environ.get("RAYBENCH_AUTOSCALING")
    if forced in ("0", "1"):
        return forced == "1"
    import json

    from ray.experimental.internal_kv import _internal_kv_get, _internal_kv_initialized

    if not _internal_kv_initialized():
        return False
    raw = _internal_kv_get("__autoscaling_status")
    return bool(raw) and autoscaling_in_report(json.loads(raw).get("autoscaler_report") or {})


def autoscaling_in_report(report: dict[str, Any]) -> bool:
    """True when an autoscaler's report shows node types it launches.

    A fixed cluster's monitor runs a read-only provider that types every node `node_<node id>`; an autoscaler
    types nodes by its config (`ray.head.default`, `worker`, ...), and autoscaler v2 marks its report
    non-legacy. (The v1 autoscaler marks every report legacy, autoscaling or not.)
    """
    if not report:
        return False
    if not report.get("legacy", True):
        return True
    types = {*(report.get("active_nodes") or {}), *(report.get("pending_launches") or {}),
             *(p[1] for p in report.get("pending_nodes") or [] if len(p) > 1)}
    return any(not str(t).startswith("node_") for t in types)


def alive_nodes() -> list[NodeShape]:
    import ray

    shapes = []
    for n in ray.nodes():
        if not n.get("Alive"):
            continue
        r = n.get("Resources", {})
        shapes.append(NodeShape(
            node_id=n["NodeID"], host=n.get("NodeManagerHostname") or n.get("NodeManagerAddress", "?"),
            cpus=float(r.get("CPU", 0)), memory_mb=float(r.get("memory", 0)) / MB,
            gpus=float(r.get("GPU", 0)), tpus=float(r.get("TPU", 0)),
        ))
    return shapes


def slots_on(node: NodeShape, req: WorkerShape) -> int:
    """How many workers of this shape fit on one node."""
    fits = []
    for have, need in ((node.cpus, req.cpus), (node.memory_mb, req.memory_mb),
                       (node.gpus, req.gpus), (node.tpus, req.tpus)):
        if need > 0:
            fits.append(math.floor(have / need + 1e-9))
    return max(0, min(fits)) if fits else 0


def check_feasible(nodes: list[NodeShape], req: WorkerShape) -> None:
    """Fail fast, with the fix, when no node can ever hold one worker."""
    if any(slots_on(n, req) >= 1 for n in nodes):
        return
    biggest = {k: max((getattr(n, k) for n in nodes), default=0.0) for k in ("cpus", "memory_mb", "gpus", "tpus")}
    if req.gpus > biggest["gpus"]:
        msg = (f"workers ask for {req.gpus:g} GPU each but the largest node has {biggest['gpus']:g}; "
               "set workers.accelerator: none or run on a cluster with GPUs")
    elif req.tpus > biggest["tpus"]:
        msg = (f"workers ask for {req.tpus:g} TPU each but the largest node has {biggest['tpus']:g}; "
               "set workers.accelerator: none or start nodes with a TPU resource")
    elif req.cpus > biggest["cpus"]:
        msg = (f"workers.cpus = {req.cpus:g} but the largest node has {biggest['cpus']:g} CPUs; "
               f"set workers.cpus <= {biggest['cpus']:g}")
    elif req.memory_mb > biggest["memory_mb"]:
        msg = (f"workers.memory_mb = {req.memory_mb:.0f} but the largest node offers {biggest['memory_mb']:.0f} MB "
               f"to Ray; set workers.memory_mb <= {int(biggest['memory_mb'])}")
    else:
        msg = f"no node can hold a worker of {req.describe()}; shrink workers.cpus/memory_mb"
    raise ResourceError(msg)


def effective_concurrency(nodes: list[NodeShape], req: WorkerShape, requested: int) -> int:
    """The number of workers the present nodes can run at once, at most the requested count."""
    return max(0, min(requested, sum(slots_on(n, req) for n in nodes)))
