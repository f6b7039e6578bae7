"""A side virtual environment for a real engine's test: made once at the repository's root, kept between runs.

An engine that cannot share codesign's interpreter (AccelForge needs Python >= 3.12, SCALE-Sim NumPy < 2.4) runs
in another one; its real-engine test makes that environment itself (tests/accelforge_env.py,
tests/scalesim_env.py), so that `python -m pytest` runs the same tests on a fresh machine as `.ci/run` does.
"""

from __future__ import annotations

import fcntl
import shutil
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path


def passes(python: Path, check: str) -> bool:
    """Whether `python` exists and runs the Python statement `check` without error."""
    if not python.is_file():
        return False
    return subprocess.run([str(python), "-c", check], capture_output=True, timeout=300).returncode == 0


def side_environment(
    venv: Path,
    requirements: Sequence[str],
    check: str,
    label: str,
    base: Callable[[], tuple[str | None, str]] = lambda: (sys.executable, ""),
) -> tuple[str | None, str]:
    """The interpreter of `venv` once `check` passes there, made from `base()`'s Python with `pip install
    requirements` if need be; or None and why there is none. One set-up at a time (a lock beside the folder)."""
    python = venv / "bin" / "python"
    with (venv.parent / f"{venv.name}.lock").open("w") as lock:  # two test sessions at once wait for each other
        fcntl.flock(lock, fcntl.LOCK_EX)
        if passes(python, check):
            return str(python), f"{venv}"
        interpreter, why = base()
        if interpreter is None:
            return None, why
        made = subprocess.run(
            [interpreter, "-m", "venv", "--clear", str(venv)], capture_output=True, text=True, timeout=300
        )
        if made.returncode != 0:
            return None, f"could not make {venv.name} with {interpreter}: {made.stderr.strip()[-200:]}"
        print(f"installing {label} into {venv} (once; kept for later runs) ...", file=sys.stderr, flush=True)
        pip = subprocess.run(
            [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", *requirements],
            capture_output=True,
            text=True,
            timeout=1800,
        )
        if pip.returncode != 0 or not passes(python, check):
            shutil.rmtree(venv, ignore_errors=True)  # a half-made environment would be taken for a made one
            last = (pip.stderr.strip().splitlines() or ["no error output"])[-1][:200]
            return None, f"pip could not install {' '.join(requirements)} from PyPI into {venv.name} ({last})"
        return str(python), f"{venv} (made now)"
