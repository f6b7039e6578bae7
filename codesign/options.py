"""Settings declared once, and everything a user sees of them derived from that one declaration.

A setting is a field of a settings dataclass made with `codesign.config.setting(default, help=..., min=...,
choices=...)`: its name, type, default, limits and one line of help, in one place (nanoGPT's configurator reads
its overrides off one block of defaults; AccelForge documents every field of its spec). From the declarations:

* `options(cls)`: every setting of a settings class, nested groups flattened (`tune.trials` is `trials`);
* `apply(settings, overrides)`: a copy with keyword overrides, each checked against the settings' names (a
  misspelled one is one line naming it and the closest name) and against its type and limits;
* `add_flags(parser, cls)`: one command-line flag per setting, with its check, choices, default and help;
* `keywords_doc(cls)` and `keyword_parameters(cls)`: the `Args:` lines and the signature of an API function
  that takes the settings as keywords.

Metadata a setting may carry besides its limits: `name` (the keyword and flag, when not the field's name),
`parse` (text to value, for the command line and for keywords given as text), `aliases` (other keywords and
flags that set the field to a value: `{"asha": "asha"}`), `internal` (set by codesign, not by users),
`short` (a one-letter flag), `metavar`, `flag_help` (the flag's own help, e.g. for `--no-dashboard`),
`negatable` (a `--x/--no-x` pair) and `shown_default` (the default in words).
"""

from __future__ import annotations

import argparse
import dataclasses
import difflib
import functools
import os
import textwrap
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from codesign.config import convert
from codesign.errors import CodesignError, ConfigError

T = TypeVar("T")


@dataclass(frozen=True)
class Option:
    """One declared setting, as users meet it: its keyword, flag, type, default, limits and help."""

    path: tuple[str, ...]  # the field inside the settings object: ("tune", "trials")
    kind: Any  # its resolved type hint
    default: Any  # dataclasses.MISSING when a factory makes it
    meta: Mapping[str, Any]

    @property
    def name(self) -> str:
        """The API keyword (and, with hyphens, the flag)."""
        return str(self.meta.get("name") or self.path[-1])

    @property
    def flag(self) -> str:
        """The command-line flag."""
        return "--" + self.name.replace("_", "-")

    @property
    def help(self) -> str:
        """One line saying what it does."""
        return str(self.meta["help"])

    @property
    def internal(self) -> bool:
        """Set by codesign itself (no flag, no keyword)."""
        return bool(self.meta.get("internal"))

    @property
    def aliases(self) -> Mapping[str, Any]:
        """Other keywords (and flags) that set this field to a value."""
        return typing.cast(Mapping[str, Any], self.meta.get("aliases", {}))

    @property
    def shown_default(self) -> str | None:
        """The default in words, or None when there is nothing worth saying."""
        if "shown_default" in self.meta:
            return typing.cast(str | None, self.meta["shown_default"])
        if self.default is dataclasses.MISSING or self.default is None or self.default is False:
            return None
        if isinstance(self.default, tuple):
            return " ".join(map(str, self.default)) or None
        return str(self.default)

    @property
    def python_default(self) -> Any:
        """The default of the Python API, where it is not the command line's (a notebook starts no dashboard)."""
        return self.meta.get("python_default", self.default)

    @property
    def type_name(self) -> str:
        """The type in words, for the API's docs (`int | None`); text is read where the setting parses it."""
        name = _type_name(self.kind)
        return f"str | {name}" if "parse" in self.meta and not name.startswith("str") else name

    def value(self, given: Any, source: str) -> Any:
        """`given` (a keyword's value or a flag's text) as this setting holds it, checked: paths become text,
        lists tuples, text is parsed where the setting parses text; a bad one is a ConfigError."""
        parse = self.meta.get("parse")
        if parse is not None and isinstance(given, str):
            given = parse(given)
        return convert(self.kind, _plain(given), source, ".".join(self.path), self.meta)


def _plain(value: Any) -> Any:
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, list | tuple):
        return tuple(_plain(v) for v in value)
    return value


def _type_name(kind: Any) -> str:
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if origin in (typing.Union, types.UnionType):
        return " | ".join(_type_name(a) for a in args)
    if origin is tuple:
        return f"tuple[{_type_name(args[0])}, ...]" if len(args) == 2 and args[1] is Ellipsis else "tuple"
    return "None" if kind is type(None) else getattr(kind, "__name__", str(kind))


def _is_group(kind: Any) -> bool:
    return isinstance(kind, type) and dataclasses.is_dataclass(kind)


@functools.cache
def options(cls: type) -> tuple[Option, ...]:
    """Every setting of settings class `cls`, in declaration order, the fields of nested groups in their place."""
    found: list[Option] = []

    def walk(kind: type, path: tuple[str, ...]) -> None:
        hints = typing.get_type_hints(kind)
        for f in dataclasses.fields(typing.cast(Any, kind)):
            if not f.init:
                continue
            if _is_group(hints[f.name]) and "help" not in f.metadata:
                walk(hints[f.name], (*path, f.name))
                continue
            if "help" not in f.metadata:
                raise TypeError(f"{kind.__name__}.{f.name} is declared without help: use codesign.config.setting")
            found.append(Option((*path, f.name), hints[f.name], f.default, f.metadata))

    walk(cls, ())
    names = [o.name for o in found] + [a for o in found for a in o.aliases]
    if len(names) != len(set(names)):
        raise TypeError(
            f"{cls.__name__}: two settings share a keyword ({sorted(n for n in names if names.count(n) > 1)})"
        )
    return tuple(found)


def groups(cls: type) -> dict[str, str]:
    """Each nested group of `cls` (by field name, "" for the top level) and the first line of its docstring."""
    hints = typing.get_type_hints(cls)
    found = {"": _first_line(cls)}
    for f in dataclasses.fields(typing.cast(Any, cls)):
        if _is_group(hints[f.name]) and "help" not in f.metadata:
            found[f.name] = _first_line(hints[f.name])
    return found


def _first_line(cls: type) -> str:
    return (cls.__doc__ or "").strip().splitlines()[0] if cls.__doc__ else ""


def unknown(name: str, known: Sequence[str], what: str) -> CodesignError:
    """The one-line error for a keyword that names no setting: the closest name, or every name."""
    close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
    hint = f"did you mean `{close[0]}`?" if close else f"{what} settings: {', '.join(known)}"
    return CodesignError(f"unknown {what} setting `{name}` ({hint})")


def apply(settings: T, overrides: Mapping[str, Any], *, what: str, source: str) -> T:
    """A copy of `settings` with `overrides` (keyword -> value; None leaves a setting as it is), every keyword
    checked against the settings' names and every value against its setting's type and limits; the settings'
    own checks (`__post_init__`) then run as they do for any settings built."""
    kind: type = type(settings)
    table = {o.name: o for o in options(kind) if not o.internal}
    alias = {a: (o, v) for o in table.values() for a, v in o.aliases.items()}
    changes: dict[tuple[str, ...], Any] = {}
    set_by: dict[tuple[str, ...], str] = {}
    for key, given in overrides.items():
        if given is None:
            continue
        if key in alias:
            option, value = alias[key]
            if not isinstance(given, bool):
                raise ConfigError(source, key, f"must be true or false, got {given!r}")
            if not given:
                continue
        elif key in table:
            option = table[key]
            value = option.value(given, source)
        else:
            raise unknown(key, [*table, *alias], what)
        if option.path in set_by and changes[option.path] != value:
            raise CodesignError(f"{source}: `{key}` and `{set_by[option.path]}` both set `{option.name}`: give one")
        changes[option.path], set_by[option.path] = value, key
    return replace(settings, changes)


def replace(settings: T, changes: Mapping[tuple[str, ...], Any]) -> T:
    """A copy of `settings` with fields (by path, nested groups included) changed."""
    top: dict[str, Any] = {}
    nested: dict[str, dict[tuple[str, ...], Any]] = {}
    for path, value in changes.items():
        if len(path) == 1:
            top[path[0]] = value
        else:
            nested.setdefault(path[0], {})[path[1:]] = value
    for name, inner in nested.items():
        top[name] = replace(getattr(settings, name), inner)
    return dataclasses.replace(typing.cast(Any, settings), **top) if top else settings


def python_defaults(settings: T) -> T:
    """`settings` with the Python API's defaults where they differ from the command line's."""
    kind: type = type(settings)
    return replace(settings, {o.path: o.python_default for o in options(kind) if "python_default" in o.meta})


# ------------------------------------------------------------------------------------------------ documentation


def keywords_doc(
    cls: type, indent: int = 8, width: int = 116, skip: Sequence[str] = (), notes: Mapping[str, str] | None = None
) -> str:
    """The `Args:` entries of every setting of `cls`, one per keyword: `name (type): help. Default: ...`; `notes`
    says what a setting's default is where it is not the declared one."""
    lines = []
    for option in options(cls):
        if option.internal or option.name in skip:
            continue
        default = (notes or {}).get(option.name, option.shown_default)
        text = f"{option.name} ({option.type_name}): {option.help}."
        if "python_default" in option.meta:
            command = cls.__name__.removesuffix("Settings").lower()
            text += f" Default: {option.python_default} (`codesign {command}`: {default})."
        elif default is not None:
            text += f" Default: {default}."
        texts = [text] + [f"{a} (bool): the same as {option.name}={v!r}." for a, v in option.aliases.items()]
        for text in texts:
            lines.append(textwrap.fill(text, width, initial_indent=" " * indent, subsequent_indent=" " * (indent + 4)))
    return "\n".join(lines)


def keyword_parameters(cls: type, skip: Sequence[str] = ()) -> list[Any]:
    """inspect.Parameter objects (keyword-only, default None) of every setting of `cls` and of its aliases."""
    import inspect

    found = []
    for option in options(cls):
        if option.internal or option.name in skip:
            continue
        names = [option.name, *option.aliases]
        for name in names:
            kind = option.type_name if name == option.name else "bool"
            annotation = kind if "None" in kind else f"{kind} | None"
            found.append(inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=None, annotation=annotation))
    return found


# ------------------------------------------------------------------------------------------------ command line


def _flag_type(option: Option, kind: Any) -> Callable[[str], Any]:
    """The argparse `type` of a flag: the text parsed and checked as the setting checks a value."""
    parse = option.meta.get("parse") or kind

    def flag_value(text: str) -> Any:
        try:
            value = parse(text)
        except (TypeError, ValueError):
            raise argparse.ArgumentTypeError(f"{text!r} is not {_article(kind)}") from None
        except CodesignError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
        try:
            return convert(option.kind, value, "", "", option.meta)
        except ConfigError as exc:
            raise argparse.ArgumentTypeError(exc.message) from None

    flag_value.__name__ = _type_name(kind)
    return flag_value


def _article(kind: Any) -> str:
    return {int: "an integer", float: "a number"}.get(kind, f"a {_type_name(kind)}")


def _describe(option: Option, note: str | None) -> str:
    text = option.help
    default = note if note is not None else option.shown_default
    if default is not None:
        text += f" (default: {default})"
    return text.replace("%", "%%")


def add_flags(
    parser: Any,
    cls: type,
    *,
    skip: Sequence[str] = (),
    titled: bool = True,
    notes: Mapping[str, str] | None = None,
) -> None:
    """One flag per setting of `cls` (grouped as its nested groups are, with their docstrings as titles). Flags
    the user does not give are absent from the parsed namespace, so the settings' own defaults apply; `notes`
    says what a setting's default is where it is not the declared one."""
    titles = groups(cls)
    sections: dict[str, Any] = {}
    for option in options(cls):
        if option.internal or option.name in skip:
            continue
        head = option.path[0] if len(option.path) > 1 else ""
        if head not in sections:
            sections[head] = parser.add_argument_group(head, titles[head]) if titled and head else parser
        _add_flag(sections[head], option, (notes or {}).get(option.name))


def _add_flag(parser: Any, option: Option, note: str | None) -> None:
    kind = option.kind
    args = typing.get_args(kind) if typing.get_origin(kind) in (typing.Union, types.UnionType) else (kind,)
    members = [a for a in args if a is not type(None)]
    names = [option.meta["short"], option.flag] if "short" in option.meta else [option.flag]
    common: dict[str, Any] = {"dest": option.name, "default": argparse.SUPPRESS}
    if members == [bool]:
        if option.meta.get("negatable"):
            parser.add_argument(*names, action=argparse.BooleanOptionalAction, help=_describe(option, note), **common)
        elif option.default is True:
            flag = "--no-" + option.name.replace("_", "-")
            parser.add_argument(flag, action="store_false", help=option.meta.get("flag_help", option.help), **common)
        else:
            parser.add_argument(*names, action="store_true", help=option.help, **common)
        return
    if bool in members:  # a value or off: `--cache FILE`, `--no-cache`
        value = next(m for m in members if m is not bool)
        parser.add_argument(*names, type=_flag_type(option, value), help=_describe(option, note), **common)
        flag = "--no-" + option.name.replace("_", "-")
        parser.add_argument(flag, action="store_const", const=False, help=option.meta.get("flag_help"), **common)
        return
    first = members[0]
    extra: dict[str, Any] = {}
    if "metavar" in option.meta:
        extra["metavar"] = option.meta["metavar"]
    if typing.get_origin(first) is tuple and "parse" not in option.meta:
        item = typing.get_args(first)[0]
        extra.update(nargs="+", type=_flag_type(dataclasses.replace(option, kind=item), item))
    else:
        extra["type"] = _flag_type(option, first)
        if "choices" in option.meta and typing.get_origin(first) is not tuple:  # a list's items are checked by type
            extra["choices"] = option.meta["choices"]
    if option.aliases:
        exclusive = parser.add_mutually_exclusive_group()
        exclusive.add_argument(*names, help=_describe(option, note), **common, **extra)
        for alias, value in option.aliases.items():
            exclusive.add_argument(
                "--" + alias.replace("_", "-"),
                action="store_const",
                const=value,
                help=f"the same as {option.flag} {value}",
                **common,
            )
        return
    parser.add_argument(*names, help=_describe(option, note), **common, **extra)


def given(namespace: argparse.Namespace, cls: type) -> dict[str, Any]:
    """The settings of `cls` that a parsed command line gave (by keyword)."""
    known = {o.name for o in options(cls)}
    return {k: v for k, v in vars(namespace).items() if k in known}


# ------------------------------------------------------------------------------------------------ the Python API

F = TypeVar("F", bound=Callable[..., Any])


def takes_settings(
    *classes: type, skip: Sequence[str] = (), notes: Mapping[str, str] | None = None
) -> Callable[[F], F]:
    """Decorates an API function whose `**overrides` are the settings of `classes`: its docstring's `{settings}`
    becomes their `Args:` entries and its signature (help(), IDEs) lists them as keyword-only parameters."""
    import inspect

    def decorate(fn: F) -> F:
        explicit = inspect.signature(fn)
        named = set(explicit.parameters)
        shown = [*skip, *named]
        entries = "\n".join(keywords_doc(cls, skip=shown, notes=notes) for cls in classes)
        fn.__doc__ = (fn.__doc__ or "").replace("{settings}", entries.strip("\n").lstrip())
        extra = [p for cls in classes for p in keyword_parameters(cls, skip=shown)]
        kept = [p for p in explicit.parameters.values() if p.kind is not inspect.Parameter.VAR_KEYWORD]
        typing.cast(Any, fn).__signature__ = explicit.replace(parameters=[*kept, *extra])
        return fn

    return decorate
