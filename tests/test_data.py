"""Datasets in their real on-disk formats: CIFAR-10 pickles, idx files, and what a missing one says."""

from __future__ import annotations

import os
import pickle
import re

import numpy as np
import pytest
import torch

from codesign.data import load_dataset
from codesign.errors import CodesignError
from tests.helpers import write_fake_cifar10, write_idx


def test_fake_cifar10_loads_through_the_real_reader(tmp_path):
    folder = write_fake_cifar10(tmp_path)
    data = load_dataset("cifar10", data_dir=tmp_path, val_size=10, split_seed=3)
    assert data.train.images.shape == (90, 3, 32, 32) and data.val.images.dtype == torch.uint8
    assert len(data.val) == 10
    # the split is seeded: the same seed gives the same validation images
    again = load_dataset("cifar10", data_dir=tmp_path, val_size=10, split_seed=3)
    assert torch.equal(data.val.images, again.val.images)
    # pixels are the archive's, channel-first as CIFAR-10 stores them
    with (folder / "data_batch_1").open("rb") as f:
        first = pickle.load(f)["data"][0].reshape(3, 32, 32)
    everything = torch.cat([data.train.images, data.val.images])
    assert any(torch.equal(img, torch.from_numpy(first)) for img in everything)
    test = data.load_test()
    assert test.images.shape == (10, 3, 32, 32)
    # the folder holding cifar-10-batches-py or the batches folder itself both work
    assert len(load_dataset("cifar10", data_dir=folder, val_size=5).train) == 95


@pytest.mark.parametrize("gz", [True, False])
def test_idx_files_gzipped_or_not(tmp_path, gz):
    rng = np.random.default_rng(1)
    suffix = ".gz" if gz else ""
    write_idx(tmp_path / f"train-images-idx3-ubyte{suffix}", rng.integers(0, 256, (50, 28, 28)), gz)
    write_idx(tmp_path / f"train-labels-idx1-ubyte{suffix}", rng.integers(0, 10, 50), gz)
    write_idx(tmp_path / f"t10k-images-idx3-ubyte{suffix}", rng.integers(0, 256, (7, 28, 28)), gz)
    write_idx(tmp_path / f"t10k-labels-idx1-ubyte{suffix}", rng.integers(0, 10, 7), gz)
    data = load_dataset("mnist", data_dir=tmp_path, val_size=5)
    assert data.train.images.shape == (45, 1, 28, 28) and data.load_test().labels.shape == (7,)


def test_missing_dataset_says_what_to_do(tmp_path):
    with pytest.raises(CodesignError, match="pass --data-dir pointing at the folder holding cifar-10-batches-py"):
        load_dataset("cifar10", data_dir=tmp_path)
    with pytest.raises(CodesignError, match="unknown dataset 'imagenet'"):
        load_dataset("imagenet")


# --- files that are not what their format says: one line naming the file, never a traceback or silence


def _mnist(folder, train=(50, 50), gz=True, labels_high=10):
    rng = np.random.default_rng(2)
    suffix = ".gz" if gz else ""
    write_idx(folder / f"train-images-idx3-ubyte{suffix}", rng.integers(0, 256, (train[0], 28, 28)), gz)
    write_idx(folder / f"train-labels-idx1-ubyte{suffix}", rng.integers(0, labels_high, train[1]), gz)
    write_idx(folder / f"t10k-images-idx3-ubyte{suffix}", rng.integers(0, 256, (7, 28, 28)), gz)
    write_idx(folder / f"t10k-labels-idx1-ubyte{suffix}", rng.integers(0, 10, 7), gz)
    return folder


def test_idx_images_and_labels_of_different_lengths_are_refused(tmp_path):
    _mnist(tmp_path, train=(60, 10))
    with pytest.raises(
        CodesignError,
        match=re.escape(
            f"{tmp_path}: train-images-idx3-ubyte.gz holds 60 images but train-labels-idx1-ubyte.gz holds 10 labels"
        ),
    ):
        load_dataset("mnist", data_dir=tmp_path, val_size=5)


def test_labels_outside_the_classes_are_refused(tmp_path):
    _mnist(tmp_path, labels_high=200)
    with pytest.raises(
        CodesignError, match=r"train-labels-idx1-ubyte.gz holds label 1\d\d; this data set has 10 classes"
    ):
        load_dataset("mnist", data_dir=tmp_path, val_size=5)


@pytest.mark.parametrize("gz", [True, False])
@pytest.mark.parametrize("keep", [0.5, 0.999, 6 / 8000])
def test_a_truncated_idx_file_is_named(tmp_path, gz, keep):
    _mnist(tmp_path, gz=gz)
    name = "train-images-idx3-ubyte" + (".gz" if gz else "")
    raw = (tmp_path / name).read_bytes()
    (tmp_path / name).write_bytes(raw[: int(len(raw) * keep)])
    with pytest.raises(CodesignError, match=re.escape(f"{tmp_path / name}: ")) as error:
        load_dataset("mnist", data_dir=tmp_path, val_size=5)
    assert "truncated" in str(error.value) or "not an idx file" in str(error.value)


def test_a_damaged_test_split_is_named_too(tmp_path):
    _mnist(tmp_path)
    data = load_dataset("mnist", data_dir=tmp_path, val_size=5)
    (tmp_path / "t10k-images-idx3-ubyte.gz").write_bytes(b"\x1f\x8b\x08garbage")
    with pytest.raises(CodesignError, match=re.escape("t10k-images-idx3-ubyte.gz: a damaged or truncated gzip file")):
        data.load_test()


class _RunsCode:
    """What a crafted batch holds: unpickling it calls os.mkdir."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.mkdir, (str(self.marker),)


def test_a_crafted_cifar_batch_is_refused_without_running_its_code(tmp_path):
    folder = write_fake_cifar10(tmp_path)
    marker = tmp_path / "ran"
    with (folder / "data_batch_2").open("wb") as f:
        pickle.dump({"data": np.zeros((2, 3072), np.uint8), "labels": [0, 1], "x": _RunsCode(marker)}, f)
    with pytest.raises(
        CodesignError,
        match=re.escape(
            f"{folder / 'data_batch_2'}: refusing to load it: it names `posix.mkdir`, which a CIFAR-10 batch never does"
        ),
    ):
        load_dataset("cifar10", data_dir=tmp_path, val_size=5)
    assert not marker.exists()


@pytest.mark.parametrize(
    "content, message",
    [
        (b"\x80\x04garbage", "not a CIFAR-10 batch (UnpicklingError"),
        (b"", "not a CIFAR-10 batch (EOFError"),
        (pickle.dumps([1, 2, 3]), "not a CIFAR-10 batch (expected a dict with `data` and `labels`)"),
        (pickle.dumps({"data": np.zeros((2, 100), np.uint8), "labels": [0, 1]}), "CIFAR-10's is uint8 (N, 3072)"),
        (
            pickle.dumps({"data": np.zeros((2, 3072), np.uint8), "labels": [0]}),
            "data_batch_1's data holds 2 images but",
        ),
        (
            pickle.dumps({"data": np.zeros((2, 3072), np.uint8), "labels": ["a", "b"]}),
            "`labels` is not a list of whole",
        ),
    ],
)
def test_a_damaged_cifar_batch_is_named(tmp_path, content, message):
    folder = write_fake_cifar10(tmp_path)
    (folder / "data_batch_1").write_bytes(content)
    with pytest.raises(CodesignError, match=re.escape(message)):
        load_dataset("cifar10", data_dir=tmp_path, val_size=5)


def test_batches_as_python_2_and_old_numpy_wrote_them_load(tmp_path):
    # the real archive: protocol 2, from numpy 1 (numpy.core.multiarray), as Python 3 writes protocol 2 (_codecs)
    folder = write_fake_cifar10(tmp_path)
    for i in range(1, 6):
        with (folder / f"data_batch_{i}").open("rb") as f:
            entry = pickle.load(f)
        raw = pickle.dumps(entry, protocol=2).replace(b"numpy._core.multiarray", b"numpy.core.multiarray")
        (folder / f"data_batch_{i}").write_bytes(raw)
    assert b"cnumpy.core.multiarray\n_reconstruct" in raw and b"_codecs" in raw
    data = load_dataset("cifar10", data_dir=tmp_path, val_size=5)
    assert len(data.train) == 95
