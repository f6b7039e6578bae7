"""The Python that runs the real SCALE-Sim for the tests (and for users of a checkout), set up by the tests.

SCALE-Sim 3.0.0 fails on NumPy >= 2.4 and codesign runs NumPy 2.4, so its engine runs SCALE-Sim in another
interpreter (`CODESIGN_SCALESIM_PYTHON`, else this checkout's `.venv-scalesim/`). So that `python -m pytest`
runs the same tests on a fresh machine as `.ci/run` does, the real-engine test makes that environment itself:
`.venv-scalesim/` at the repository's root (git-ignored, kept between runs), made with this Python's venv module
and filled with `pip install scalesim==3.0.0 'numpy<2.4'` from PyPI. Without PyPI the test is skipped with the
reason, on every machine the same way.

    python -m tests.scalesim_env        # set it up now (what the test would do) and print the interpreter
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import sys
from pathlib import Path

from codesign.cost.external.scalesim import PYTHON_ENV, REQUIREMENTS, SIDE_VENV

ROOT = Path(__file__).resolve().parent.parent
VENV = SIDE_VENV
CHECK = "import scalesim.scale_sim, numpy; assert tuple(map(int, numpy.__version__.split('.')[:2])) < (2, 4)"


def _has_scalesim(python: Path) -> bool:
    if not python.is_file():
        return False
    return subprocess.run([str(python), "-c", CHECK], capture_output=True, timeout=300).returncode == 0


def scalesim_python() -> tuple[str | None, str]:
    """An interpreter that runs SCALE-Sim (made if need be), or None and why there is none."""
    named = os.environ.get(PYTHON_ENV)
    if named:
        return named, f"{PYTHON_ENV}={named}"
    python = VENV / "bin" / "python"
    lock_path = ROOT / ".venv-scalesim.lock"
    with lock_path.open("w") as lock:  # one set-up at a time (two test sessions at once wait for each other)
        fcntl.flock(lock, fcntl.LOCK_EX)
        if _has_scalesim(python):
            return str(python), f"{VENV}"
        made = subprocess.run(
            [sys.executable, "-m", "venv", "--clear", str(VENV)], capture_output=True, text=True, timeout=300
        )
        if made.returncode != 0:
            return None, f"could not make {VENV.name} with {sys.executable}: {made.stderr.strip()[-200:]}"
        print(f"installing SCALE-Sim into {VENV} (once; kept for later runs) ...", file=sys.stderr, flush=True)
        pip = subprocess.run(
            [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", *REQUIREMENTS],
            capture_output=True,
            text=True,
            timeout=1800,
        )
        if pip.returncode != 0 or not _has_scalesim(python):
            shutil.rmtree(VENV, ignore_errors=True)  # a half-made environment would be taken for a made one
            last = (pip.stderr.strip().splitlines() or ["no error output"])[-1][:200]
            return None, f"pip could not install {' '.join(REQUIREMENTS)} from PyPI into {VENV.name} ({last})"
        return str(python), f"{VENV} (made now)"


if __name__ == "__main__":
    found, why = scalesim_python()
    print(found or f"none: {why}")
    sys.exit(0 if found else 1)
