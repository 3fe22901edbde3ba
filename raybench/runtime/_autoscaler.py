"""What an autoscaler says that the driver must act on: a worker shape that no node type can hold.

Ray's autoscaler cannot launch a node for a request no node type fits; it only says so, in an event that
reaches the driver's log stream: "No available node types can fulfill resource request {...}". Without this
watch the trial actors would wait for such a node forever.
"""

from __future__ import annotations

import ast
import json
import re
from typing import Any, Optional

from raybench.core.records import MB, WorkerShape

_INFEASIBLE = re.compile(r"No available node types can fulfill resource requests? (\{[^}]*\})")
_HANDLER = "raybench_infeasible"


def parse_infeasible(line: str) -> Optional[dict[str, float]]:
    """The request of an autoscaler's "No available node types can fulfill ..." line, or None."""
    m = _INFEASIBLE.search(line)
    if m is None:
        return None
    try:
        req = ast.literal_eval(m.group(1))
    except (ValueError, SyntaxError):
        return {}
    return {str(k): float(v) for k, v in req.items()} if isinstance(req, dict) else {}


def is_worker_request(req: dict[str, float], shape: WorkerShape) -> bool:
    """Whether an infeasible request is one of our trial actors' (an unparsable one is taken as ours)."""
    if not req:
        return True
    return (abs(req.get("CPU", 0.0) - shape.cpus) < 1e-6 and abs(req.get("GPU", 0.0) - shape.gpus) < 1e-6
            and abs(req.get("memory", 0.0) / MB - shape.memory_mb) < 1.0)


def node_types(status: dict[str, Any]) -> list[str]:
    """The node types an autoscaler's published status names (running, idle or being launched)."""
    rep = status.get("autoscaler_report") or {}
    names = {*(rep.get("active_nodes") or {}), *(rep.get("idle_nodes") or {}), *(rep.get("pending_launches") or {}),
             *(p[1] for p in rep.get("pending_nodes") or [] if len(p) > 1)}
    return sorted(str(n) for n in names)


class InfeasibleWatch:
    """Collects the infeasible requests the autoscaler reports to this driver."""

    def __init__(self) -> None:
        self.requests: list[dict[str, float]] = []

    def _on_batch(self, data: dict[str, Any]) -> None:
        if data.get("pid") != "autoscaler":
            return
        for line in data.get("lines") or []:
            req = parse_infeasible(str(line))
            if req is not None:
                self.requests.append(req)

    def install(self) -> InfeasibleWatch:
        from ray._private.ray_logging import global_worker_stdstream_dispatcher as d

        d.add_handler(_HANDLER, self._on_batch)
        return self

    def remove(self) -> None:
        from ray._private.ray_logging import global_worker_stdstream_dispatcher as d

        try:
            d.remove_handler(_HANDLER)
        except (KeyError, ValueError):
            pass

    def check(self, shape: WorkerShape) -> None:
        """Raise a one-line ResourceError once the autoscaler said that no node type holds a worker."""
        from raybench.errors import ResourceError

        req = next((r for r in self.requests if is_worker_request(r, shape)), None)
        if req is None:
            return
        types = current_node_types()
        raise ResourceError(
            f"no node type of the autoscaler can hold a worker ({shape.describe()}): it reports "
            f"\"No available node types can fulfill resource request {req}\"; node types: "
            f"{', '.join(types) or 'unknown'}; shrink workers.cpus/memory_mb or add a node type that fits")


def current_node_types() -> list[str]:
    try:
        from ray.experimental.internal_kv import _internal_kv_get

        raw = _internal_kv_get("__autoscaling_status")
        return node_types(json.loads(raw)) if raw else []
    except Exception:  # a Ray without this key: the message still names the shape
        return []
