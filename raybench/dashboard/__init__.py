"""`raybench dashboard`: a live, read-only web view of runs as their event logs grow (docs/dashboard.md).

A follower reads each RUN_DIR/events.msgpack from where it last stopped; a fold keeps bounded per-run
aggregates; an aiohttp app serves them to a page that updates by server-sent events.
"""

from raybench.dashboard._follow import Batch, LogFollower
from raybench.dashboard._runs import Registry, Run, find_runs, inside
from raybench.dashboard._series import Downsampled
from raybench.dashboard._serve import TOKEN_ENV, check_options, serve
from raybench.dashboard._state import RunState

__all__ = [
    "TOKEN_ENV",
    "Batch",
    "Downsampled",
    "LogFollower",
    "Registry",
    "Run",
    "RunState",
    "check_options",
    "find_runs",
    "inside",
    "serve",
]
