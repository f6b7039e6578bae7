"""The Python that runs the real AccelForge for the tests, set up by the tests themselves.

AccelForge needs Python >= 3.12 and codesign runs on 3.11, so its engine runs AccelForge in another interpreter
(`CODESIGN_ACCELFORGE_PYTHON`). So that `python -m pytest` runs the same tests on a fresh machine as `.ci/run`
does, the real-engine test makes that interpreter itself: a virtual environment in `.venv-accelforge/` at the
repository's root (git-ignored, kept between runs), made from the first Python >= 3.12 found and filled with
`pip install accelforge` from PyPI. Without such a Python, PyPI or Graphviz's `dot` the test is skipped with the
reason, on every machine the same way.

    python -m tests.accelforge_env        # set it up now (what the test would do) and print the interpreter
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import sys
from pathlib import Path

from tests.side_env import side_environment

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / ".venv-accelforge"
ENV = "CODESIGN_ACCELFORGE_PYTHON"


def _python_312() -> str | None:
    """The first interpreter of Python >= 3.12 on this machine (PATH, then pyenv's versions)."""
    pyenv = os.environ.get("PYENV_ROOT", str(Path.home() / ".pyenv"))
    candidates = [
        "python3.12",
        "python3.13",
        "python3.14",
        *sorted(glob.glob(f"{pyenv}/versions/3.1[2-9]*/bin/python3")),
    ]
    for candidate in candidates:
        path = shutil.which(candidate) or (candidate if Path(candidate).is_file() else None)
        if path is None:
            continue
        check = subprocess.run(
            [path, "-c", "import sys; assert sys.version_info >= (3, 12)"], capture_output=True, timeout=60
        )
        if check.returncode == 0:
            return path
    return None


def _base() -> tuple[str | None, str]:
    found = _python_312()
    return found, "" if found else "AccelForge needs Python >= 3.12 and none is installed here (python3.12, pyenv)"


def accelforge_python() -> tuple[str | None, str]:
    """An interpreter that imports accelforge (made if need be), or None and why there is none."""
    named = os.environ.get(ENV)
    if named:
        return named, f"{ENV}={named}"
    if shutil.which("dot") is None:
        return None, "AccelForge draws each mapping with Graphviz: apt-get install graphviz (.ci/run does)"
    return side_environment(VENV, ["accelforge"], "import accelforge", "AccelForge", _base)


if __name__ == "__main__":
    found, why = accelforge_python()
    print(found or f"none: {why}")
    sys.exit(0 if found else 1)
