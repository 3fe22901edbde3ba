import struct

import numpy as np
import pytest
import torch

from raybench.errors import DatasetUnavailable
from raybench.workloads import load_splits, resolve_data_root
from raybench.workloads._data import RAW_FILES, _stratified


def test_embedded_split_is_70_15_15_stratified_and_normalised():
    s = load_splits("mnist-5k", split_seed=0)
    assert (len(s.train_y), len(s.val_y), len(s.test_y)) == (3500, 750, 750)
    assert s.train_x.dtype == torch.float32 and s.n_features == 784 and s.n_classes == 10
    assert torch.bincount(s.train_y).tolist() == [350] * 10
    assert torch.bincount(s.test_y).tolist() == [75] * 10
    assert abs(float(s.train_x.mean())) < 1e-3 and abs(float(s.train_x.std()) - 1) < 1e-3
    # shuffled: the embedded source is sorted by label
    assert len(set(s.train_y[:50].tolist())) > 5


def test_same_seed_same_cached_split_other_seed_other_split():
    a, b = load_splits("mnist-5k", split_seed=0), load_splits("mnist-5k", split_seed=0)
    assert a is b
    c = load_splits("mnist-5k", split_seed=1)
    assert not torch.equal(a.test_x, c.test_x)


@pytest.mark.parametrize("fractions", [(0.7, 0.15, 0.15), (5 / 6, 1 / 6)])
def test_stratified_parts_are_disjoint_and_cover_everything(fractions):
    y = np.repeat(np.arange(10), 37)
    parts = _stratified(y, fractions, np.random.default_rng(3))
    allidx = np.concatenate(parts)
    assert sorted(allidx.tolist()) == list(range(len(y)))


def test_bad_arguments():
    with pytest.raises(ValueError, match="unknown dataset 'cifar'"):
        load_splits("cifar")
    with pytest.raises(ValueError, match="split_seed"):
        load_splits("mnist-5k", split_seed=-1)


def test_data_root_order(monkeypatch, tmp_path):
    monkeypatch.setenv("RAYBENCH_DATA", str(tmp_path / "env"))
    assert resolve_data_root(str(tmp_path / "task")) == tmp_path / "task"
    assert resolve_data_root(None) == tmp_path / "env"
    monkeypatch.delenv("RAYBENCH_DATA")
    assert resolve_data_root(None).parts[-3:] == (".cache", "raybench", "data")


def _write_idx(raw, rng, n_train, n_test):
    """A tiny data set in torchvision's on-disk format: big-endian idx headers, then uint8 pixels."""
    raw.mkdir(parents=True)
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        labels = np.arange(n, dtype=np.uint8) % 10
        images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
        (raw / f"{prefix}-images-idx3-ubyte").write_bytes(struct.pack(">IIII", 0x803, n, 28, 28) + images.tobytes())
        (raw / f"{prefix}-labels-idx1-ubyte").write_bytes(struct.pack(">II", 0x801, n) + labels.tobytes())
    return images, labels  # the test split's


@pytest.mark.parametrize("dataset,folder", [("mnist", "MNIST"), ("fashion-mnist", "FashionMNIST")])
def test_local_root_goes_through_the_real_torchvision_loader(tmp_path, dataset, folder):
    test_images, test_labels = _write_idx(tmp_path / folder / "raw", np.random.default_rng(0), 120, 30)
    s = load_splits(dataset, data_root=str(tmp_path), split_seed=0)
    assert (len(s.train_y), len(s.val_y), len(s.test_y)) == (100, 20, 30)
    # the official test file is the test split, untouched by the train/validation split
    assert s.test_y.tolist() == test_labels.tolist()
    scaled = test_images.reshape(30, -1).astype(np.float32) / 255
    corr = np.corrcoef(scaled.ravel(), s.test_x.numpy().ravel())[0, 1]
    assert corr > 0.9999


def test_missing_data_says_where_it_looked_and_what_to_do(tmp_path):
    with pytest.raises(DatasetUnavailable) as e:
        load_splits("mnist", data_root=str(tmp_path))
    msg = str(e.value)
    assert "\n" not in msg
    assert str(tmp_path / "MNIST" / "raw") in msg
    assert "task.download: true" in msg and RAW_FILES[0] in msg


def test_corrupt_files_are_reported_as_unreadable(tmp_path):
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for f in RAW_FILES:
        (raw / f).write_bytes(b"not an idx file")
    with pytest.raises(DatasetUnavailable, match="could not be read from"):
        load_splits("mnist", data_root=str(tmp_path))


def test_failed_download_is_one_clear_line(tmp_path, monkeypatch):
    import urllib.error

    import torchvision.datasets.mnist as tv_mnist

    def offline(*args, **kwargs):
        raise urllib.error.URLError("no route to host")

    monkeypatch.setattr(tv_mnist, "download_and_extract_archive", offline)
    with pytest.raises(DatasetUnavailable) as e:
        load_splits("mnist", data_root=str(tmp_path), download=True)
    msg = str(e.value)
    assert "\n" not in msg and "could not be downloaded into" in msg and str(tmp_path / "MNIST" / "raw") in msg


def test_no_image_is_in_two_splits():
    s = load_splits("mnist-5k", split_seed=0)
    rows = [{bytes(r) for r in x.numpy()} for x in (s.train_x, s.val_x, s.test_x)]
    assert sum(map(len, rows)) == len(set().union(*rows)) == 5000
