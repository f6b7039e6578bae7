"""Datasets in their real on-disk formats: CIFAR-10 pickles, idx files, and what a missing one says."""

from __future__ import annotations

import pickle

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
