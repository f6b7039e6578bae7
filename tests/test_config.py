"""The one validator every user file goes through: types, limits, field paths, re-rooting."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from codesign.config import build, check, limits
from codesign.errors import ConfigError


@dataclass(frozen=True)
class Inner:
    depth: int = field(default=1, metadata=limits(min=1))
    ratio: float = field(default=0.5, metadata=limits(min=0, below=1))


@dataclass(frozen=True)
class Outer:
    name: str
    kind: str = field(default="a", metadata=limits(choices=("a", "b")))
    flag: bool = False
    sizes: tuple[int, ...] = field(default=(), metadata=limits(min=1))
    inner: Inner = Inner()
    optional: int | None = None


def test_a_valid_mapping_builds_with_hyphens_read_as_underscores():
    built = build(Outer, {"name": "x", "sizes": [1, 2], "inner": {"depth": 3}, "optional": None}, "f.yaml")
    assert built == Outer(name="x", sizes=(1, 2), inner=Inner(depth=3))
    assert build(Inner, {"depth": 2}, "f.yaml").depth == 2


@pytest.mark.parametrize(
    "data, message",
    [
        (
            {"name": "x", "nmae": 1},
            "f.yaml: unknown field `nmae` (expected one of: flag, inner, kind, name, optional, sizes)",
        ),
        ({}, "f.yaml: missing field `name`"),
        ({"name": "x", "kind": "c"}, "f.yaml: `kind` must be one of a, b, got 'c'"),
        ({"name": "x", "flag": "false"}, "f.yaml: `flag` must be true or false, got 'false'"),
        ({"name": "x", "sizes": [1, 0]}, "f.yaml: `sizes[1]` must be a positive integer, got 0"),
        ({"name": "x", "inner": {"depth": 2.5}}, "f.yaml: `inner.depth` must be a positive integer, got 2.5"),
        ({"name": "x", "inner": {"ratio": 1.0}}, "f.yaml: `inner.ratio` must be a number in [0, 1), got 1.0"),
        ({"name": "x", "inner": {"ratio": float("nan")}}, "f.yaml: `inner.ratio` must be a number in [0, 1), got nan"),
        ({"name": "x", "optional": True}, "f.yaml: `optional` must be a whole number, got True"),
        ({"name": "x", "inner": [1]}, "f.yaml: `inner` must be a mapping, got list"),
        ({"name": "y" * 500, "kind": "z" * 500}, "got 'zzzz"),
    ],
)
def test_errors_name_the_file_and_the_field(data, message):
    with pytest.raises(ConfigError) as info:
        build(Outer, data, "f.yaml")
    assert message in str(info.value)
    assert len(str(info.value)) < 300  # a huge bad value is never echoed whole


def test_rerooting_and_checking_objects_built_in_code():
    with pytest.raises(ConfigError) as info:
        check(Outer(name="x", inner=Inner(depth=0)), "spec")
    assert str(info.value) == "spec: `inner.depth` must be a positive integer, got 0"
    moved = info.value.rerooted("runs/a/trials.csv", "stages[2]")
    assert str(moved) == "runs/a/trials.csv: `stages[2].inner.depth` must be a positive integer, got 0"
