"""Checkpoints as msgpack-able trees: tensors become raw bytes + dtype + shape, never pickle.

Encoded forms: a tensor is {"__tensor__": {"dtype", "shape", "data"}}, a tuple is {"__tuple__": [...]},
and a dict whose keys are not all plain strings is {"__items__": [[key, value], ...]} (msgpack readers
reject int keys by default, and optimizer state is keyed by int).
"""

from __future__ import annotations

from typing import Any

import torch

_MARKERS = ("__tensor__", "__tuple__", "__items__")


def tensor_to_bytes(t: torch.Tensor) -> dict[str, Any]:
    """A tensor as its dtype name, shape and raw bytes (little-endian, C order)."""
    flat = t.detach().to("cpu").contiguous().reshape(-1)
    # A uint8 view works for every dtype, bfloat16 included, where .numpy() does not.
    data = flat.view(torch.uint8).numpy().tobytes() if flat.numel() else b""
    return {"dtype": str(t.dtype).removeprefix("torch."), "shape": list(t.shape), "data": data}


def tensor_from_bytes(d: dict[str, Any]) -> torch.Tensor:
    """The tensor that tensor_to_bytes encoded, on the CPU."""
    dtype = getattr(torch, d["dtype"], None)
    if not isinstance(dtype, torch.dtype):
        raise ValueError(f"unknown tensor dtype {d['dtype']!r} in a checkpoint")
    shape = tuple(d["shape"])
    if not d["data"]:
        return torch.empty(shape, dtype=dtype)
    raw = torch.frombuffer(bytearray(d["data"]), dtype=torch.uint8)
    return raw.view(dtype).reshape(shape).clone()


def encode(obj: Any) -> Any:
    """A msgpack-able copy of a tree of dicts, lists, tuples, tensors and scalars."""
    if obj is None or isinstance(obj, (bool, int, float, str, bytes)):
        return obj
    if isinstance(obj, torch.Tensor):
        return {"__tensor__": tensor_to_bytes(obj)}
    if isinstance(obj, tuple):
        return {"__tuple__": [encode(v) for v in obj]}
    if isinstance(obj, list):
        return [encode(v) for v in obj]
    if isinstance(obj, dict):
        if all(isinstance(k, str) and k not in _MARKERS for k in obj):
            return {k: encode(v) for k, v in obj.items()}
        return {"__items__": [[encode(k), encode(v)] for k, v in obj.items()]}
    raise TypeError(f"cannot checkpoint a {type(obj).__name__} without pickle; convert it to tensors or scalars")


def decode(obj: Any) -> Any:
    """The tree that encode() was given (tensors come back on the CPU)."""
    if isinstance(obj, list):
        return [decode(v) for v in obj]
    if not isinstance(obj, dict):
        return obj
    if len(obj) == 1:
        (key, value), = obj.items()
        if key == "__tensor__":
            return tensor_from_bytes(value)
        if key == "__tuple__":
            return tuple(decode(v) for v in value)
        if key == "__items__":
            return {decode(k): decode(v) for k, v in value}
    return {k: decode(v) for k, v in obj.items()}
