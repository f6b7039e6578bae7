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

import fcntl
import glob
import os
import shutil
import subprocess
import sys
from pathlib import Path

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


def _has_accelforge(python: Path) -> bool:
    if not python.is_file():
        return False
    return subprocess.run([str(python), "-c", "import accelforge"], capture_output=True, timeout=300).returncode == 0


def accelforge_python() -> tuple[str | None, str]:
    """An interpreter that imports accelforge (made if need be), or None and why there is none."""
    named = os.environ.get(ENV)
    if named:
        return named, f"{ENV}={named}"
    if shutil.which("dot") is None:
        return None, "AccelForge draws each mapping with Graphviz: apt-get install graphviz (.ci/run does)"
    python = VENV / "bin" / "python"
    lock_path = ROOT / ".venv-accelforge.lock"
    with lock_path.open("w") as lock:  # one set-up at a time (two test sessions at once wait for each other)
        fcntl.flock(lock, fcntl.LOCK_EX)
        if _has_accelforge(python):
            return str(python), f"{VENV}"
        base = _python_312()
        if base is None:
            return None, "AccelForge needs Python >= 3.12 and none is installed here (python3.12, pyenv)"
        made = subprocess.run([base, "-m", "venv", "--clear", str(VENV)], capture_output=True, text=True, timeout=300)
        if made.returncode != 0:
            return None, f"could not make {VENV.name} with {base}: {made.stderr.strip()[-200:]}"
        print(f"installing AccelForge into {VENV} (once; kept for later runs) ...", file=sys.stderr, flush=True)
        pip = subprocess.run(
            [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", "accelforge"],
            capture_output=True,
            text=True,
            timeout=1800,
        )
        if pip.returncode != 0 or not _has_accelforge(python):
            shutil.rmtree(VENV, ignore_errors=True)  # a half-made environment would be taken for a made one
            last = (pip.stderr.strip().splitlines() or ["no error output"])[-1][:200]
            return None, f"pip could not install accelforge from PyPI into {VENV.name} ({last})"
        return str(python), f"{VENV} (made now)"


if __name__ == "__main__":
    found, why = accelforge_python()
    print(found or f"none: {why}")
    sys.exit(0 if found else 1)
