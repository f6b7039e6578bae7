"""Accelerator descriptions: the template's sizes, per-action energies and dataflow, from YAML."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from codesign.config import build, limits
from codesign.dataflow import DEFAULT_DATAFLOW, dataflow_names
from codesign.registry import MAPPERS
from codesign.yamlfile import read_yaml, resolve_yaml

ARCH_DIR = Path(__file__).resolve().parent.parent / "arch"
DEFAULT_ARCH = "simple_weight_stationary"
TEMPLATES = ("weight_stationary",)
MAPPER_ALGORITHMS = MAPPERS.names()  # the analytic engine's mappers (codesign/registry.py)
MAPPER_METRICS = ("delay", "energy")
DATAFLOWS = dataflow_names()  # arch/dataflows/*.yaml

_SIZE = limits(min=1)  # a count of words, PEs or bits
_PJ = limits(min=0)  # energy of one action


@dataclass(frozen=True)
class Mac:
    energy_pj: float = field(metadata=_PJ)


@dataclass(frozen=True)
class PEArray:
    x: int = field(metadata=_SIZE)
    y: int = field(metadata=_SIZE)

    @property
    def count(self) -> int:
        """Number of PEs."""
        return self.x * self.y


@dataclass(frozen=True)
class Dram:
    block_words: int = field(metadata=_SIZE)
    read_pj: float = field(metadata=_PJ)
    fill_pj: float = field(metadata=_PJ)
    update_pj: float = field(metadata=_PJ)


@dataclass(frozen=True)
class GlobalBuffer:
    depth_words: int = field(metadata=_SIZE)
    block_words: int = field(metadata=_SIZE)
    read_bandwidth: float = field(metadata=limits(above=0))
    write_bandwidth: float = field(metadata=limits(above=0))
    read_pj: float = field(metadata=_PJ)
    fill_pj: float = field(metadata=_PJ)
    update_pj: float = field(metadata=_PJ)


@dataclass(frozen=True)
class WeightSpad:
    depth_words: int = field(metadata=_SIZE)
    read_pj: float = field(metadata=_PJ)
    fill_pj: float = field(metadata=_PJ)


@dataclass(frozen=True)
class Registers:
    depth_words: int = field(metadata=_SIZE)
    read_pj: float = field(metadata=_PJ)
    fill_pj: float = field(metadata=_PJ)
    update_pj: float = field(metadata=_PJ)


@dataclass(frozen=True)
class Area:
    """Silicon area per instance in µm² (Accelergy's ART for the lab's 45 nm design by default)."""

    global_buffer_um2: float = field(default=1162549.0, metadata=_PJ)
    weight_spad_um2: float = field(default=3634.68, metadata=_PJ)
    mac_um2: float = field(default=1239.5, metadata=_PJ)
    register_um2: float = field(default=5.98, metadata=_PJ)


@dataclass(frozen=True)
class MapperSettings:
    """How the analytic engine picks a mapping: Timeloop's mapper settings (the lab's 2023 values).

    `random-pruned` is timeloop-mapper's own search (what the lab's grader runs); `exhaustive` is codesign's
    search for the best mapping. The other fields configure random-pruned, as in Timeloop's mapper.yaml.
    """

    algorithm: str = field(default="random-pruned", metadata=limits(choices=MAPPER_ALGORITHMS))
    num_threads: int = field(default=8, metadata=_SIZE)
    timeout: int = field(default=400, metadata=_SIZE)
    victory_condition: int = field(default=400, metadata=_SIZE)
    max_permutations_per_if_visit: int = field(default=8, metadata=_SIZE)
    optimization_metrics: tuple[str, ...] = field(
        default=("delay", "energy"), metadata=limits(choices=MAPPER_METRICS, min_length=1)
    )

    @property
    def digest(self) -> str:
        """Stable hash of the settings (part of a random-pruned cost's cache key)."""
        return hashlib.sha256(json.dumps(dataclasses.asdict(self), sort_keys=True).encode()).hexdigest()[:12]


@dataclass(frozen=True)
class Arch:
    """One accelerator of the template (DRAM → global buffer → PE array) under one dataflow.

    `dataflow` names a constraint set in arch/dataflows/ (which tensor the PE scratchpad keeps, its loop
    order, which dimensions the array spreads); the lab's `ws` by default. `weight_spad` is the PE
    scratchpad (`pe_spad`) whatever it keeps.
    """

    name: str
    template: str = field(metadata=limits(choices=TEMPLATES))
    word_bits: int = field(metadata=_SIZE)
    mac: Mac
    pe_array: PEArray
    dram: Dram
    global_buffer: GlobalBuffer
    weight_spad: WeightSpad
    registers: Registers
    dataflow: str = field(default=DEFAULT_DATAFLOW, metadata=limits(choices=DATAFLOWS))
    area: Area = Area()
    mapper: MapperSettings = MapperSettings()

    def to_dict(self) -> dict[str, Any]:
        """Plain nested dict, as written in the YAML file."""
        return dataclasses.asdict(self)

    @cached_property
    def digest(self) -> str:
        """Stable hash of the hardware's numbers that affect costs (name, area and mapper are left out)."""
        body = self.to_dict()
        for key in ("name", "area", "mapper"):
            body.pop(key)
        if body["dataflow"] == DEFAULT_DATAFLOW:  # the lab's dataflow keeps the digests (and caches) it had
            body.pop("dataflow")
        return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:16]


def arch_from_dict(data: Any, source: str = "<arch>") -> Arch:
    """Validate a parsed arch description and build an `Arch`."""
    return build(Arch, data, source)


def resolve_arch_path(name_or_path: str | Path | None) -> Path:
    """A built-in arch name (file stem under arch/) or a path to a YAML file."""
    return resolve_yaml(name_or_path or DEFAULT_ARCH, ARCH_DIR, "architecture")


def load_arch(name_or_path: str | Path | None = None) -> Arch:
    """Load and validate an architecture YAML (default: the lab's simple_weight_stationary)."""
    path = resolve_arch_path(name_or_path)
    return arch_from_dict(read_yaml(path, "architecture"), str(path))
