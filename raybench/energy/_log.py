"""One logger for the energy layer, and the "say it once" rule for quiet fallbacks."""

from __future__ import annotations

import logging
import threading

logger = logging.getLogger("raybench.energy")

_said: set[str] = set()
_lock = threading.Lock()


def say_once(key: str, message: str, *, level: int = logging.WARNING) -> bool:
    """Log `message` the first time `key` is seen in this process. Returns whether it logged."""
    with _lock:
        if key in _said:
            return False
        _said.add(key)
    logger.log(level, message)
    return True


def forget_said() -> None:
    """Let every message be said again (tests)."""
    with _lock:
        _said.clear()
