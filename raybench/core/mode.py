"""The metric's direction, owned in one place: its sign, "better", and the best of several values."""

from __future__ import annotations

import enum
import math
from collections.abc import Iterable
from typing import Optional, Union


class Mode(enum.Enum):
    """Whether larger (MAX) or smaller (MIN) values of the metric are better."""

    MAX = "max"
    MIN = "min"

    @classmethod
    def of(cls, mode: Union[str, Mode]) -> Mode:
        if isinstance(mode, Mode):
            return mode
        try:
            return cls(mode)
        except ValueError:
            raise ValueError(f"mode must be 'max' or 'min', got {mode!r}") from None

    @property
    def sign(self) -> float:
        """Multiply a value by this and larger is better, in either mode."""
        return 1.0 if self is Mode.MAX else -1.0

    def better(self, a: float, b: Optional[float]) -> bool:
        """Whether a is strictly better than b; anything beats None, and a non-finite a beats nothing."""
        if not math.isfinite(a):
            return False
        return b is None or (a > b if self is Mode.MAX else a < b)

    def best(self, values: Iterable[Optional[float]]) -> Optional[float]:
        """The best finite value, or None."""
        out: Optional[float] = None
        for v in values:
            if v is not None and self.better(v, out):
                out = v
        return out
