"""Where codesign keeps files of its own (downloaded data sets, the layer-cost cache; its key to sign runs)."""

from __future__ import annotations

import os
from pathlib import Path


def cache_home() -> Path:
    """$XDG_CACHE_HOME/codesign, else ~/.cache/codesign."""
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "codesign"


def config_home() -> Path:
    """$XDG_CONFIG_HOME/codesign, else ~/.config/codesign (this user's own: the key runs are signed with)."""
    return Path(os.environ.get("XDG_CONFIG_HOME", Path.home() / ".config")) / "codesign"
