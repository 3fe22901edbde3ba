"""The limits that end a whole experiment: wall time and joules. (The trial budget only stops new trials.)"""

from __future__ import annotations

from typing import Optional


class Budget:
    def __init__(self, spec) -> None:
        self.spec = spec

    def exhausted(self, *, elapsed_s: float, energy_j: float) -> Optional[tuple[str, float, float]]:
        """The first limit reached, as (kind, limit, value), or None."""
        s = self.spec
        if s.max_time_s is not None and elapsed_s >= s.max_time_s:
            return ("time_s", s.max_time_s, elapsed_s)
        if s.max_energy_j is not None and energy_j >= s.max_energy_j:
            return ("energy_j", s.max_energy_j, energy_j)
        return None
