"""Shared fixtures: the lab's accelerator and a private layer-cost cache for every test."""

from __future__ import annotations

import pytest

from codesign.arch import load_arch


@pytest.fixture(scope="session")
def arch():
    return load_arch()


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path, monkeypatch):
    """Never touch the user's cache from tests."""
    monkeypatch.setenv("CODESIGN_CACHE", str(tmp_path / "cache.sqlite"))
