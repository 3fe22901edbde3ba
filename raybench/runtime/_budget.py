"""The experiment's budget: trials, wall time and joules."""

from __future__ import annotations

from typing import Optional


class Budget:
    def __init__(self, spec) -> None:
        self.spec = spec

    def exhausted(self, *, elapsed_s: float, energy_j: float, trials: int) -> Optional[tuple[str, float, float]]:
        """The first limit reached, as (kind, limit, value), or None."""
        s = self.spec
        if s.max_time_s is not None and elapsed_s >= s.max_time_s:
            return ("time_s", s.max_time_s, elapsed_s)
        if s.max_energy_j is not None and energy_j >= s.max_energy_j:
            return ("energy_j", s.max_energy_j, energy_j)
        if s.max_trials is not None and trials >= s.max_trials:
            return ("trials", s.max_trials, trials)
        return None
