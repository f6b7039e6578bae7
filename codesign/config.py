"""One validator for the user's files and settings: parsed YAML/JSON mappings into frozen dataclasses.

Every field is checked against its type hint (int, float, bool, str, tuples, nested dataclasses,
`X | None`) and the limits in its metadata (`min`, `max`, `choices`); the first problem becomes a
`ConfigError` naming the file and the field path (`stages[2].kernel`). Keys may be written with hyphens
(Timeloop's spelling, `num-threads`) or underscores.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import reprlib
import types
import typing
from typing import Any, TypeVar

from codesign.errors import ConfigError

T = TypeVar("T")
_ECHO = 60  # at most this many characters of a bad value are echoed back
# A repr that stops after a few items and levels: a value built from YAML aliases may be astronomically
# large once expanded, so even a repr that is cut afterwards must never be made whole.
_SHORT = reprlib.Repr()
_SHORT.maxlevel, _SHORT.maxdict = 3, 4
_SHORT.maxtuple = _SHORT.maxlist = _SHORT.maxarray = _SHORT.maxset = _SHORT.maxfrozenset = _SHORT.maxdeque = 6
_SHORT.maxstring = _SHORT.maxlong = _SHORT.maxother = _ECHO


def echo(value: Any) -> str:
    """A short repr of a user's value for an error message (never the whole of a huge one)."""
    text = _SHORT.repr(value)
    return text if len(text) <= _ECHO else text[: _ECHO - 3] + "..."


def child(path: str, key: str | int) -> str:
    """The path of `key` under `path` (`a.b`, `a[3]`)."""
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else key


def build(cls: type[T], data: Any, source: str, path: str = "") -> T:
    """Dataclass `cls` from a parsed mapping; unknown, missing or ill-typed fields raise ConfigError."""
    fields = {f.name: f for f in dataclasses.fields(typing.cast(Any, cls)) if f.init}
    hints = _hints(cls)
    check_keys(data, tuple(fields), source, path)
    given = {str(key).replace("-", "_"): (key, value) for key, value in data.items()}
    for name, f in fields.items():
        if name not in given and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise ConfigError(source, child(path, name), "missing field {field}")
    values = {
        name: convert(hints[name], value, source, child(path, name), fields[name].metadata)
        for name, (_, value) in given.items()
    }
    try:
        return cls(**values)
    except ConfigError as exc:  # a cross-field check in __post_init__: root it in this file
        raise exc.rerooted(source, path) from None


def check_keys(data: Any, allowed: tuple[str, ...], source: str, path: str = "") -> None:
    """`data` must be a mapping whose keys (hyphens read as underscores) are all in `allowed`."""
    if not isinstance(data, dict):
        raise ConfigError(source, path, f"must be a mapping, got {type(data).__name__}")
    for key in data:
        if str(key).replace("-", "_") not in allowed:
            raise ConfigError(
                source,
                child(path, str(key)),
                f"unknown field {{field}} (expected one of: {', '.join(sorted(allowed))})",
            )


_resolved_hints = functools.cache(typing.get_type_hints)


def _hints(cls: Any) -> dict[str, Any]:
    """A dataclass's resolved type hints, resolved once (resolving is most of the cost of checking one)."""
    return _resolved_hints(cls)


def check(instance: Any, source: str, path: str = "") -> None:
    """Check every field of a dataclass built in code (not read from a file) as `build` would."""
    hints = _hints(type(instance))
    for f in dataclasses.fields(instance):
        if f.init:
            convert(hints[f.name], getattr(instance, f.name), source, child(path, f.name), f.metadata)


def convert(kind: Any, value: Any, source: str, path: str, limits: typing.Mapping[str, Any] | None = None) -> Any:
    """`value` checked against type hint `kind` and `limits` (min, max, choices)."""
    limits = limits or {}
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if origin in (typing.Union, types.UnionType):
        return _convert_union(args, value, source, path, limits)
    if isinstance(kind, type) and dataclasses.is_dataclass(kind):
        if isinstance(value, kind):
            check(value, source, path)
            return value
        return build(kind, value, source, path)
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(source, path, f"must be a list, got {echo(value)}")
        if len(args) == 2 and args[1] is Ellipsis:
            items = [convert(args[0], v, source, child(path, i), limits) for i, v in enumerate(value)]
        else:
            if len(value) != len(args):
                raise ConfigError(source, path, f"must be a list of {len(args)} values, got {echo(value)}")
            items = [convert(a, v, source, child(path, i), limits) for i, (a, v) in enumerate(zip(args, value))]
        least = limits.get("min_length", 0)
        if len(items) < least:
            noun = limits.get("items", "value")
            raise ConfigError(source, path, f"must hold at least {'one' if least == 1 else least} {noun}")
        return tuple(items)
    if kind is bool:
        if not isinstance(value, bool):
            raise ConfigError(source, path, f"must be true or false, got {echo(value)}")
        return value
    if kind is int:
        ok = not isinstance(value, bool) and isinstance(value, int)
    elif kind is float:
        ok = not isinstance(value, bool) and isinstance(value, (int, float)) and math.isfinite(value)
        value = float(value) if ok else value
    elif kind is str:
        ok = isinstance(value, str)
    elif kind is Any:
        ok = True
    else:
        raise TypeError(f"codesign.config cannot check fields of type {kind!r}")
    if not ok or not _within(value, limits):
        raise ConfigError(source, path, f"must be {_expectation(kind, limits)}, got {echo(value)}")
    return value


def _convert_union(
    members: tuple[Any, ...], value: Any, source: str, path: str, limits: typing.Mapping[str, Any]
) -> Any:
    """`value` as the first member of a union that takes it (None where the union has None)."""
    if value is None and type(None) in members:
        return None
    first: ConfigError | None = None
    for member in (m for m in members if m is not type(None)):
        try:
            return convert(member, value, source, path, limits)
        except ConfigError as exc:
            first = first or exc
    assert first is not None
    raise first


def _within(value: Any, limits: typing.Mapping[str, Any]) -> bool:
    if "choices" in limits:
        return value in limits["choices"]
    return (
        ("min" not in limits or value >= limits["min"])
        and ("max" not in limits or value <= limits["max"])
        and ("above" not in limits or value > limits["above"])
        and ("below" not in limits or value < limits["below"])
    )


def _expectation(kind: Any, limits: typing.Mapping[str, Any]) -> str:
    """What a field takes, in words: `a positive integer`, `one of a, b`, `a number in [0, 1)`."""
    if "choices" in limits:
        return f"one of {', '.join(map(str, limits['choices']))}"
    noun = {int: "integer", float: "number", str: "string"}.get(kind, "value")
    low, high, above, below = (limits.get(k) for k in ("min", "max", "above", "below"))
    if high is None and below is None and ((low == 1 and kind is int) or above == 0):
        return f"a positive {noun}"
    if high is None and below is None and low == 0:
        return f"a non-negative {noun}"
    if low is None and high is None and above is None and below is None:
        return {int: "a whole number", float: "a finite number"}.get(kind, f"a {noun}")
    left = f"[{low}" if low is not None else (f"({above}" if above is not None else "(-inf")
    right = f"{high}]" if high is not None else (f"{below})" if below is not None else "inf)")
    return f"a{'n' if noun == 'integer' else ''} {noun} in {left}, {right}"


def limits(**kwargs: Any) -> dict[str, Any]:
    """Field metadata for `build`: `min`, `max`, `above`, `below`, `choices`, `min_length` (of `items`)."""
    return kwargs


def setting(default: Any = dataclasses.MISSING, *, help: str, factory: Any = dataclasses.MISSING, **meta: Any) -> Any:
    """A dataclass field that users set: its default (or `factory`), its `help` (one line) and its limits (as
    `limits` takes them), plus how codesign.options presents it (`name`, `parse`, `aliases`, `internal`, ...)."""
    return dataclasses.field(default=default, default_factory=factory, metadata={**meta, "help": help})
