"""The data every trial trains on: loaded once by the driver, shared with the trials through the Ray object store.

No trial opens a data file or needs the network, so a node of a cluster needs no copy of the data set: the
driver reads the split (downloading CIFAR-10 if it must) and `ray.put`s its uint8 tensors once; each worker
process fetches them once and keeps them on its device for every trial it runs.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from codesign.data import Dataset, Split, check_classes, load_dataset
from codesign.search.settings import DataSettings


def load_split(data: DataSettings) -> Dataset:
    """The training and validation split a search's trials share, on the CPU (the driver's one read of the data)."""
    if data.dataset is None:
        raise ValueError("a search's data set is chosen when it is prepared (the space's by default)")
    loaded = load_dataset(data.dataset, data.data_dir, "cpu", split_seed=data.split_seed, val_size=data.val_size)
    if data.train_size:  # a copy: a slice would carry the whole training set into the object store
        n = data.train_size
        loaded.train = Split(loaded.train.images[:n].clone(), loaded.train.labels[:n].clone())
        check_classes(loaded.train, f"--train-size {n} of {loaded.source}")
    return loaded


@dataclass(frozen=True)
class SharedData:
    """A handle on the split in the object store: small, so that `tune.with_parameters` hands it to every trial."""

    ref: Any  # ray.ObjectRef of a Dataset on the CPU

    @classmethod
    def put(cls, dataset: Dataset) -> SharedData:
        """Put the split into the object store (once per search, by the driver)."""
        import ray

        return cls(ray.put(dataset))

    def on(self, device: str) -> Dataset:
        """The split on `device`: fetched from the object store and moved once per worker process."""
        return _fetch(self.ref, device)


@lru_cache(maxsize=2)  # one search's split on one device, per worker process (actors are reused across trials)
def _fetch(ref: Any, device: str) -> Dataset:
    import ray

    dataset: Dataset = ray.get(ref)
    if device == "cpu":
        return dataset
    return dataclasses.replace(dataset, train=dataset.train.to(device), val=dataset.val.to(device))
