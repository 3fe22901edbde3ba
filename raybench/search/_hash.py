"""Seeded hashing of integer keys: values that depend on the keys alone, the same in every process and Python
version (Python's own hash() is salted per process). Built on splitmix64 (Steele, Lea and Flood, 2014)."""

from __future__ import annotations

MASK64 = (1 << 64) - 1
GOLDEN = 0x9E3779B97F4A7C15  # splitmix64's increment


def mix64(z: int) -> int:
    """splitmix64's finaliser: a bijection of 64-bit integers in which each input bit flips about half of the
    output bits."""
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
    return z ^ (z >> 31)


def to_unit(z: int) -> float:
    """The top 53 bits of a 64-bit hash as a float in [0, 1)."""
    return (z >> 11) * 2.0**-53
