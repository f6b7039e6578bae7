"""Shared fixtures: the lab's accelerator and a private layer-cost cache for every test."""

from __future__ import annotations

import os

import pytest

# One Ray auth mode for the whole test process: Ray reads it once per process, so a test that starts a
# cluster with token auth off (tests/test_search_cluster.py) after one that started Ray with the default
# (token auth on) would hand its nodes a mode the driver no longer speaks. Every Ray here is private to a test.
os.environ.setdefault("RAY_AUTH_MODE", "disabled")

from codesign.arch import load_arch


@pytest.fixture(scope="session")
def arch():
    return load_arch()


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path, monkeypatch):
    """Never touch the user's cache (nor their key that signs runs) from tests."""
    monkeypatch.setenv("CODESIGN_CACHE", str(tmp_path / "cache.sqlite"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
