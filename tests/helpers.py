"""Helpers the tests share: the lab's reference Timeloop runs, one-layer models, samplers of a space."""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path
from typing import Any

import pytest

from codesign.arch import load_arch
from codesign.rubric import load_rubric
from codesign.search.sampler import SpaceSampler
from codesign.search.settings import DataSettings, SearchSettings
from codesign.space import load_space
from codesign.workload import Layer

ROOT = Path(__file__).resolve().parent.parent
# Real Timeloop runs of the lab's setup (a copy of ../shared/reference, kept in the project so that every
# clone checks the cost model's claims); CODESIGN_REFERENCE points elsewhere.
REFERENCE = Path(os.environ.get("CODESIGN_REFERENCE", ROOT / "tests" / "data" / "timeloop"))
KINDS = {"conv": "conv", "dwconv": "depthwise", "fc": "linear"}


def reference_rows() -> list[dict]:
    """dev.csv rows (real Timeloop runs on the lab's setup)."""
    path = REFERENCE / "dev.csv"
    if not path.is_file():
        pytest.fail(f"reference measurements not found at {REFERENCE} (unset CODESIGN_REFERENCE)", pytrace=False)
    with path.open() as f:
        rows = list(csv.DictReader(f))
    for row in rows:
        row["level_energy"] = json.loads(row["level_energy_pJ"])
    return rows


def layer_of(row: dict) -> Layer:
    """The Layer a dev.csv row describes."""
    sizes = {k: int(row[k]) for k in ("N", "C", "M", "P", "Q", "R", "S", "Wstride", "Hstride")}
    return Layer(kind=KINDS[row["kind"]], names=(row["name"],), **sizes)


def module_source(row: dict) -> tuple[str, str]:
    """Python source of a one-layer nn.Module reproducing the row, and its input shape."""
    c, m, h, r = int(row["C"]), int(row["M"]), int(row["H"]), int(row["R"])
    stride, pad, groups = int(row["stride"]), int(row["pad"]), int(row["groups"])
    if row["kind"] == "fc":
        body, shape = f"nn.Linear({c}, {m})", f"1,{c}"
    else:
        body, shape = f"nn.Conv2d({c}, {m}, {r}, stride={stride}, padding={pad}, groups={groups})", f"1,{c},{h},{h}"
    source = (
        "from torch import nn\n\n\n"
        "class Layer(nn.Module):\n"
        "    def __init__(self):\n"
        "        super().__init__()\n"
        f"        self.op = {body}\n\n"
        "    def forward(self, x):\n"
        "        return self.op(x)\n"
    )
    return source, shape


def sampler_for(space_path: Path, dataset: str = "fashion-mnist", **settings: Any) -> SpaceSampler:
    """The search's define-by-run sampler for a space file, as `codesign search` builds it."""
    space = load_space(space_path)
    search = SearchSettings(name="t", space=str(space_path), data=DataSettings(dataset=dataset), **settings)
    rubric = load_rubric(search.rubric)
    return SpaceSampler(search, space, rubric, load_arch(space.hardware_base or search.arch or rubric.accelerator))
