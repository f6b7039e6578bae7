"""The analytic engine's compiled core (csrc/, built by `pip install`): loading it, asking for it or for the
NumPy reference, and saying once when it is missing.

Every caller asks `enabled(native)` before running the core: `native` None means the core where it is built,
unless CODESIGN_NATIVE=0 asks for the reference. Without a C++ compiler when codesign was installed the core
is missing: codesign then warns once per process and runs the reference, which gives the same numbers.
"""

from __future__ import annotations

import functools
import importlib
import os
import sys
from types import ModuleType

import numpy as np

from codesign.errors import CodesignError

_core: ModuleType | None
try:
    _core = importlib.import_module("codesign.cost.analytic._native")
except ImportError as exc:  # not built: no C++ compiler or Python headers when codesign was installed
    _core, _MISSING = None, str(exc)
else:
    _MISSING = ""


@functools.cache
def _say_missing() -> None:
    print(
        "codesign: warning: the analytic engine's compiled core is not built "
        f"({_MISSING}); running its NumPy reference, about 50x slower. Reinstall codesign with a C++17 "
        "compiler and Python's headers (e.g. apt-get install g++ python3-dev; pip install -e .)",
        file=sys.stderr,
        flush=True,
    )


def enabled(native: bool | None = None) -> bool:
    """Whether to run the compiled core: `native` when given, else unless CODESIGN_NATIVE=0 (warns once when
    it is wanted but not built)."""
    if native is None:
        native = os.environ.get("CODESIGN_NATIVE", "1").strip().lower() not in ("0", "false", "no", "off")
    if native and _core is None:
        _say_missing()
        return False
    return native


def built() -> bool:
    """Whether the compiled core is installed."""
    return _core is not None


def module() -> ModuleType:
    """The compiled extension module (an error naming the reason where it is not built)."""
    if _core is None:
        raise CodesignError(f"the analytic engine's compiled core is not built ({_MISSING}); reinstall codesign")
    return _core


def splits(n: int, order: int, factors: tuple[int, ...]) -> np.ndarray:
    """timeloop_mapspace._splits as a (rows, order) array, by the compiled core."""
    data, rows = module().splits(n, order, factors)
    return np.frombuffer(data, dtype=np.int64).reshape(rows, order)
