"""Accelerator descriptions: the weight-stationary template's sizes and per-action energies, from YAML."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, get_type_hints

from codesign.errors import CodesignError
from codesign.yamlfile import read_yaml, resolve_yaml

ARCH_DIR = Path(__file__).resolve().parent.parent / "arch"
DEFAULT_ARCH = "simple_weight_stationary"
TEMPLATES = ("weight_stationary",)


@dataclass(frozen=True)
class Mac:
    energy_pj: float


@dataclass(frozen=True)
class PEArray:
    x: int
    y: int


@dataclass(frozen=True)
class Dram:
    block_words: int
    read_pj: float
    fill_pj: float
    update_pj: float


@dataclass(frozen=True)
class GlobalBuffer:
    depth_words: int
    block_words: int
    read_bandwidth: float
    write_bandwidth: float
    read_pj: float
    fill_pj: float
    update_pj: float


@dataclass(frozen=True)
class WeightSpad:
    depth_words: int
    read_pj: float
    fill_pj: float


@dataclass(frozen=True)
class Registers:
    depth_words: int
    read_pj: float
    fill_pj: float
    update_pj: float


@dataclass(frozen=True)
class Area:
    """Silicon area per instance in µm² (Accelergy's ART for the lab's 45 nm design by default)."""

    global_buffer_um2: float = 1162549.0
    weight_spad_um2: float = 3634.68
    mac_um2: float = 1239.5
    register_um2: float = 5.98


@dataclass(frozen=True)
class Arch:
    """One accelerator of the weight-stationary template (DRAM → global buffer → PE array)."""

    name: str
    template: str
    word_bits: int
    mac: Mac
    pe_array: PEArray
    dram: Dram
    global_buffer: GlobalBuffer
    weight_spad: WeightSpad
    registers: Registers
    area: Area = Area()

    def to_dict(self) -> dict[str, Any]:
        """Plain nested dict, as written in the YAML file."""
        return dataclasses.asdict(self)

    @cached_property
    def digest(self) -> str:
        """Stable hash of every number that affects costs (the name and the area are left out)."""
        body = self.to_dict()
        body.pop("name")
        body.pop("area")
        return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:16]


def _build(cls: type, data: Any, path: str, source: str) -> Any:
    """Build dataclass `cls` from `data`, naming `source:path` in any error."""
    if not isinstance(data, dict):
        raise CodesignError(f"{source}: `{path or '<top>'}` must be a mapping, got {type(data).__name__}")
    hints = get_type_hints(cls)
    fields = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - fields)
    if unknown:
        where = f"{path}." if path else ""
        raise CodesignError(
            f"{source}: unknown field `{where}{unknown[0]}` (expected one of: {', '.join(sorted(fields))})"
        )
    required = {f.name for f in dataclasses.fields(cls)
                if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING}
    missing = sorted(required - set(data))
    if missing:
        where = f"{path}." if path else ""
        raise CodesignError(f"{source}: missing field `{where}{missing[0]}`")
    values = {}
    for name in fields & set(data):
        sub = f"{path}.{name}" if path else name
        kind = hints[name]
        value = data[name]
        if dataclasses.is_dataclass(kind):
            values[name] = _build(kind, value, sub, source)
        elif kind is int:
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise CodesignError(f"{source}: `{sub}` must be a positive integer, got {value!r}")
            values[name] = value
        elif kind is float:
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
                raise CodesignError(f"{source}: `{sub}` must be a non-negative number, got {value!r}")
            values[name] = float(value)
        else:
            if not isinstance(value, str):
                raise CodesignError(f"{source}: `{sub}` must be a string, got {value!r}")
            values[name] = value
    return cls(**values)


def arch_from_dict(data: Any, source: str = "<arch>") -> Arch:
    """Validate a parsed arch description and build an `Arch`."""
    arch = _build(Arch, data, "", source)
    if arch.template not in TEMPLATES:
        raise CodesignError(f"{source}: `template` must be one of {TEMPLATES}, got {arch.template!r}")
    return arch


def resolve_arch_path(name_or_path: str | Path | None) -> Path:
    """A built-in arch name (file stem under arch/) or a path to a YAML file."""
    return resolve_yaml(name_or_path or DEFAULT_ARCH, ARCH_DIR, "architecture")


def load_arch(name_or_path: str | Path | None = None) -> Arch:
    """Load and validate an architecture YAML (default: the lab's simple_weight_stationary)."""
    path = resolve_arch_path(name_or_path)
    return arch_from_dict(read_yaml(path, "architecture"), str(path))
