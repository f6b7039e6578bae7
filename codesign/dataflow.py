"""Dataflows of the accelerator as data: Timeloop constraint sets read from `arch/dataflows/<name>.yaml`.

A dataflow says which tensor the PE scratchpad keeps, its loop order, and which problem dimensions the
global buffer's fan-out spreads over the array's X and Y (format: arch/dataflows/README.md). Every engine
reads the same file: the timeloop engine writes its section as `constraints.yaml`, the analytic engine
derives its mapspace and each tensor's chain of buffers from the section's keep/bypass targets. Nothing in
the cost code branches on a dataflow's name.
"""

from __future__ import annotations

import copy
import functools
from dataclasses import dataclass
from pathlib import Path

from codesign.errors import CodesignError
from codesign.yamlfile import read_yaml

DATAFLOW_DIR = Path(__file__).resolve().parent.parent / "arch" / "dataflows"
DEFAULT_DATAFLOW = "ws"  # the lab's weight-stationary constraints, byte for byte
TENSORS = ("Weights", "Inputs", "Outputs")
_SECTIONS = ("dense", "depthwise")


def dataflow_names() -> tuple[str, ...]:
    """The dataflows shipped under arch/dataflows/ (file stems), the lab's `ws` first."""
    names = sorted(p.stem for p in DATAFLOW_DIR.glob("*.yaml"))
    return tuple(sorted(names, key=lambda n: (n != DEFAULT_DATAFLOW, n)))


@dataclass(frozen=True)
class Dataflow:
    """One dataflow: its name, a one-paragraph description and the two constraint sections."""

    name: str
    description: str
    sections: dict[str, dict]  # "dense" / "depthwise" -> Timeloop's constraints.yaml content

    def constraints(self, depthwise: bool) -> dict:
        """The constraints.yaml content (v0.3 format) for a dense or depthwise problem (a fresh copy)."""
        return copy.deepcopy(self.sections["depthwise" if depthwise else "dense"])

    def targets(self, depthwise: bool) -> list[dict]:
        """The section's `architecture_constraints.targets` list (shared: do not modify)."""
        return self.sections["depthwise" if depthwise else "dense"]["architecture_constraints"]["targets"]

    def keeps(self, level: str, depthwise: bool = False) -> tuple[str, ...]:
        """The tensors the constraints make `level` keep (empty where the mapper decides)."""
        kept: tuple[str, ...] = ()
        for target in self.targets(depthwise):
            if target.get("target") == level and target.get("type") in ("bypass", "datatype"):
                kept = tuple(t for t in TENSORS if t in (target.get("keep") or []))
        return kept

    def array(self, depthwise: bool = False) -> tuple[str, str]:
        """The dimensions on the array's X and Y (`C`, `M`; `PQ`, ...), '*' where the mapper chooses."""
        for target in self.targets(depthwise):
            if target.get("target") == "shared_glb" and target.get("type") == "spatial":
                order = str(target.get("permutation", ""))
                split = int(target.get("split", len(order)))
                return order[:split] or "-", order[split:] or "-"
        return "*", "*"


@functools.cache
def load_dataflow(name: str) -> Dataflow:
    """The dataflow `name` (a file stem under arch/dataflows/); a clear error listing the known ones."""
    path = DATAFLOW_DIR / f"{name}.yaml"
    if not path.is_file():
        known = ", ".join(dataflow_names())
        raise CodesignError(f"unknown dataflow {name!r}: known ones are {known} (files in {DATAFLOW_DIR})")
    data = read_yaml(path, "dataflow")
    source = str(path)
    if not isinstance(data, dict) or data.get("name") != name:
        raise CodesignError(f"{source}: `name:` must be {name!r}, the file's stem")
    sections: dict[str, dict] = {}
    for key in _SECTIONS:
        section = data.get(key)
        if not isinstance(section, dict):
            section = {}
        targets = (section.get("architecture_constraints") or {}).get("targets")
        if not isinstance(targets, list) or not all(isinstance(t, dict) and "target" in t for t in targets):
            raise CodesignError(
                f"{source}: `{key}.architecture_constraints.targets` must be a list of Timeloop targets "
                "(see arch/dataflows/README.md)"
            )
        sections[key] = dict(section)
    return Dataflow(name, str(data.get("description", "")).strip(), sections)
