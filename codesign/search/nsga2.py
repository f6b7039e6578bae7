"""Optuna's NSGA-II sampler in a form Ray Tune can save with the search's state.

Optuna 5.1's genetic-algorithm samplers hold a `threading.Lock`, which does not pickle, and Tune pickles the
searcher (and its sampler) when the experiment starts and at every snapshot: `--sampler nsga2` failed before
its first trial. The lock only guards a cache within one process, so a copy gets a fresh one.
"""

from __future__ import annotations

import threading
from typing import Any

from optuna.samplers import NSGAIISampler


class PicklableNSGAIISampler(NSGAIISampler):
    """NSGAIISampler that pickles (without its thread lock) and reads and writes a study as NSGAIISampler does."""

    def __getstate__(self) -> dict[str, Any]:
        """Everything but the lock."""
        state = self.__dict__.copy()
        state.pop("_thread_lock", None)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        """The state, with a lock of its own."""
        self.__dict__.update(state)
        self._thread_lock = threading.Lock()


# Optuna keys a study's generation records by the sampler's class name (set when a subclass is created):
# keep NSGA-II's own, so a study stays readable by it and a resumed search finds its generations.
for _key in ("_GENERATION_KEY", "_PARENT_CACHE_KEY_PREFIX"):
    if hasattr(NSGAIISampler, _key):
        setattr(PicklableNSGAIISampler, _key, getattr(NSGAIISampler, _key))
