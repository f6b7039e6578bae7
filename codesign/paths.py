"""Where codesign keeps files of its own (downloaded data sets, the layer-cost cache)."""

from __future__ import annotations

import os
from pathlib import Path


def cache_home() -> Path:
    """$XDG_CACHE_HOME/codesign, else ~/.cache/codesign."""
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "codesign"
