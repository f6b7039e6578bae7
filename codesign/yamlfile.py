"""Reading the user's YAML files: built-in names or paths, and one-line errors with the line number.

A file is refused before it is parsed into Python objects when it is not UTF-8 text, larger than
`MAX_BYTES`, nested deeper than `MAX_DEPTH` or holds more than `MAX_VALUES` values once its aliases are
expanded: the event pass that checks this keeps no recursion and no copies, so a 200k-deep list or an
alias bomb costs milliseconds, not a RecursionError or gigabytes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from codesign.errors import CodesignError

# Far above any arch, space, rubric or Timeloop mapping (tens of kB, depth under 10, hundreds of values).
MAX_BYTES = 1_000_000
MAX_DEPTH = 64
MAX_VALUES = 100_000


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
    """Parse a YAML file; a missing, binary, oversized or syntactically bad file is one line naming it."""
    kind = f"{what} YAML" if what else "YAML"
    if not path.is_file():
        raise CodesignError(f"{path}: {what or 'YAML'} file not found")
    try:
        with path.open("rb") as f:
            raw = f.read(MAX_BYTES + 1)
    except OSError as exc:
        raise CodesignError(f"{path}: cannot read it ({exc.strerror or exc})") from None
    if len(raw) > MAX_BYTES:
        raise CodesignError(f"{path}: larger than {MAX_BYTES:,} bytes; codesign's YAML files are a few kB")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CodesignError(f"{path}: not a text file (byte {exc.start} is not UTF-8); give a {kind} file") from None
    if "\x00" in text:
        raise CodesignError(f"{path}: not a text file (it holds NUL bytes); give a {kind} file")
    try:
        _check_shape(text, path)
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f" line {mark.line + 1}:" if mark else ""
        raise CodesignError(f"{path}:{line} not valid YAML ({getattr(exc, 'problem', None) or exc})") from None


def _check_shape(text: str, path: Path) -> None:
    """Refuse a document nested deeper than MAX_DEPTH or holding over MAX_VALUES values with aliases expanded.

    Walks the parser's events (PyYAML's parser keeps an explicit stack; its composer recurses), counting
    each collection's expanded size so that an alias adds the size of what it names.
    """
    sizes: dict[str, int] = {}  # anchor -> values under it, aliases expanded
    open_: list[tuple[str | None, int]] = []  # the collections being read: their anchor and size so far
    total = 0
    for event in yaml.parse(text, Loader=yaml.SafeLoader):
        if isinstance(event, (yaml.SequenceStartEvent, yaml.MappingStartEvent)):
            open_.append((event.anchor, 1))
            if len(open_) > MAX_DEPTH:
                raise CodesignError(
                    f"{path}: {_line(event)}nested more than {MAX_DEPTH} levels deep; "
                    f"a codesign YAML file is a few levels of mappings and lists"
                )
            continue
        if isinstance(event, (yaml.SequenceEndEvent, yaml.MappingEndEvent)):
            anchor, size = open_.pop()
        elif isinstance(event, yaml.ScalarEvent):
            anchor, size = event.anchor, 1
        elif isinstance(event, yaml.AliasEvent):
            anchor, size = None, sizes.get(event.anchor or "", 1)
        else:
            continue
        if anchor:
            sizes[anchor] = size
        if open_:
            parent_anchor, parent_size = open_[-1]
            open_[-1] = (parent_anchor, parent_size + size)
        else:
            total += size
        if size > MAX_VALUES or total > MAX_VALUES:
            raise CodesignError(
                f"{path}: {_line(event)}holds more than {MAX_VALUES:,} values once its "
                f"aliases (*name) are expanded; write the values out or use fewer aliases"
            )


def _line(event: yaml.Event) -> str:
    mark = event.start_mark
    return f"line {mark.line + 1}: " if mark is not None else ""
