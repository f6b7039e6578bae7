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

import os
import sys

from codesign.cost.external.scalesim import PYTHON_ENV, REQUIREMENTS, SIDE_VENV
from tests.side_env import side_environment

VENV = SIDE_VENV
CHECK = "import scalesim.scale_sim, numpy; assert tuple(map(int, numpy.__version__.split('.')[:2])) < (2, 4)"


def scalesim_python() -> tuple[str | None, str]:
    """An interpreter that runs SCALE-Sim (made if need be), or None and why there is none."""
    named = os.environ.get(PYTHON_ENV)
    if named:
        return named, f"{PYTHON_ENV}={named}"
    return side_environment(VENV, REQUIREMENTS, CHECK, "SCALE-Sim")


if __name__ == "__main__":
    found, why = scalesim_python()
    print(found or f"none: {why}")
    sys.exit(0 if found else 1)
