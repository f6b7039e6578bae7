"""Reading the user's YAML files: built-in names or paths, and one-line errors with the line number."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from codesign.errors import CodesignError


def resolve_yaml(name_or_path: str | Path, folder: Path, what: str) -> Path:
    """A YAML path, or the stem of a built-in file in `folder`; `what` names the kind in errors."""
    path = Path(name_or_path)
    builtin = folder / f"{name_or_path}.yaml"
    if path.suffix in (".yaml", ".yml") or path.is_file() or (path.exists() and not builtin.is_file()):
        if not path.is_file():
            raise CodesignError(f"{path}: {what} file not found (give a YAML path or a name in {folder})")
        return path
    if not builtin.is_file():
        names = ", ".join(sorted(p.stem for p in folder.glob("*.yaml")))
        raise CodesignError(f"unknown {what} {str(name_or_path)!r} (built-in: {names}; or give a YAML path)")
    return builtin


def read_yaml(path: Path, what: str = "") -> Any:
    """Parse a YAML file; a missing file or a syntax error is one line naming the file (and line)."""
    if not path.is_file():
        raise CodesignError(f"{path}: {what or 'YAML'} file not found")
    try:
        return yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f" line {mark.line + 1}:" if mark else ""
        raise CodesignError(f"{path}:{line} not valid YAML ({getattr(exc, 'problem', exc)})") from None
