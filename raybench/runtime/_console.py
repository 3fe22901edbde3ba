"""Keeping Ray's multi-line worker-death warnings off the user's console.

raybench already says, in one line and in the log, why a trial actor died (a memory-limit kill, a lost
node, a retry). Ray's raylet also pushes a paragraph for every such death ("A worker died or was killed while
executing a task by an unexpected system error ..."), printed by the driver's error-listener thread through
`ray._private.worker.print_to_stdstream`; that one function is wrapped to drop those paragraphs only.
"""

from __future__ import annotations

from typing import Any

_DEATH_MARKS = ("worker died or was killed", "worker unexpectedly exits")


def is_worker_death(line: str) -> bool:
    low = line.lower()
    return any(m in low for m in _DEATH_MARKS)


def quiet_worker_deaths() -> None:
    """Drop the raylet's worker-death paragraphs from this driver's console (idempotent)."""
    try:
        import ray._private.worker as w
    except ImportError:  # pragma: no cover - Ray without this module: its warnings stay
        return
    original = w.print_to_stdstream
    if getattr(original, "_raybench_quiet", False):
        return

    def filtered(data: dict[str, Any], ignore_prefix: bool) -> None:
        if data.get("pid") == "raylet":
            lines = [line for line in data.get("lines") or [] if not is_worker_death(str(line))]
            if not lines:
                return
            data = {**data, "lines": lines}
        original(data, ignore_prefix)

    filtered._raybench_quiet = True  # type: ignore[attr-defined]
    w.print_to_stdstream = filtered
