"""The one YAML reader: hostile files (binary, huge, deep, alias bombs) are one line naming the file."""

from __future__ import annotations

import re

import pytest

from codesign.config import echo
from codesign.errors import CodesignError
from codesign.rubric import load_rubric
from codesign.yamlfile import MAX_VALUES, read_yaml


def _field_bomb(levels: int, width: int = 10) -> str:
    """`max_epochs` (a valid field) holding anchors that each name the previous one `width` times."""
    lines = ["max_epochs:", "  - &a0 [" + ", ".join(["lol"] * width) + "]"]
    lines += [f"  - &a{i} [" + ", ".join([f"*a{i - 1}"] * width) + "]" for i in range(1, levels)]
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize(
    "content, message",
    [
        (bytes(range(256)) * 8, "not a text file (byte 128 is not UTF-8); give a rubric YAML file"),
        (b"max_epochs: 3\x00\n", "not a text file (it holds NUL bytes)"),
        (b"x: " + b"[" * 200_000 + b"]" * 200_000, "line 1: nested more than 64 levels deep"),
        (b"- " * 100 + b"x\n", "nested more than 64 levels deep"),
        (_field_bomb(9).encode(), "line 6: holds more than 100,000 values once its aliases (*name) are expanded"),
        (b"x: '" + b"y" * 1_000_001 + b"'\n", "larger than 1,000,000 bytes"),
        (b"max_epochs: [1, 2\n", "not valid YAML"),
    ],
)
def test_a_hostile_file_is_one_line_naming_it(tmp_path, content, message):
    path = tmp_path / "rubric.yaml"
    path.write_bytes(content)
    with pytest.raises(CodesignError, match=re.escape(message)) as error:
        load_rubric(path)
    assert str(error.value).startswith(f"{path}: ") and "\n" not in str(error.value)


def test_aliases_under_the_limit_are_read_and_echoed_short(tmp_path):
    path = tmp_path / "rubric.yaml"
    path.write_text(_field_bomb(4, width=17))
    assert MAX_VALUES > 17**4
    with pytest.raises(CodesignError, match=re.escape("`max_epochs` must be a positive integer, got [[")) as error:
        load_rubric(path)
    assert len(str(error.value)) < len(str(path)) + 120


class _Counted:
    seen = 0

    def __repr__(self):
        type(self).seen += 1
        return "x"


def test_echo_never_makes_the_whole_repr_of_a_large_value():
    item = _Counted()
    value = [[item] * 1000] * 1000  # a million items, as YAML aliases make them: shared, not copied
    assert len(echo(value)) <= 60
    assert _Counted.seen <= 36


def test_anchors_and_merge_keys_still_work(tmp_path):
    path = tmp_path / "x.yaml"
    path.write_text("base: &b {x: 1, y: 2}\nother: {<<: *b, z: 3}\nboth: [*b, *b]\n")
    assert read_yaml(path) == {
        "base": {"x": 1, "y": 2},
        "other": {"x": 1, "y": 2, "z": 3},
        "both": [{"x": 1, "y": 2}, {"x": 1, "y": 2}],
    }
