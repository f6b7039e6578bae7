"""The analytic engine: Timeloop's counting on our loop nests, with a choice of mapper.

A mapper picks one mapping of a layer (a one-row NestBatch); the engine evaluates it. `exhaustive` is
codesign's own search for the best mapping ([cycles, energy] lexicographic); `random-pruned` is
timeloop-mapper's own search, reproduced mapping for mapping (the mapping the lab's grader gets). Both,
and the costing, run in the compiled core (native.py) where it is built, else in their NumPy reference.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from codesign.arch import Arch
from codesign.cost.analytic import core
from codesign.cost.analytic import native as native_core
from codesign.cost.analytic.nest import LEVEL_ORDER, NestBatch, evaluate
from codesign.cost.analytic.timeloop_map import load_timeloop_map, timeloop_mapping
from codesign.cost.layer_cost import LayerCost
from codesign.errors import CodesignError
from codesign.registry import MAPPERS
from codesign.workload import Layer

Mapper = Callable[[Layer, Arch], NestBatch]  # what codesign.registry.MAPPERS names
ENGINE = "analytic"


def cost_of_mapping(
    layer: Layer, arch: Arch, nest: NestBatch, mapper: str, source: str = "", native: bool | None = None
) -> LayerCost:
    """The LayerCost of the one mapping in `nest`; a mapping that overflows a buffer is an error. `native`
    picks the compiled core or nest.evaluate (the same numbers, bit for bit)."""
    if core.enabled(native):
        one = native_core.evaluate(layer, arch, nest)
        valid, cycles_f, energy, level_energy = one.valid, one.cycles, one.energy_pj, one.level_energy
    else:
        ev = evaluate(layer, arch, nest)
        valid, cycles_f, energy = bool(ev.valid[0]), float(ev.cycles[0]), float(ev.energy_pj[0])
        level_energy = {name: float(values[0]) for name, values in ev.level_energy.items()}
    if not valid:
        where = source or f"layer {layer.shape}"
        raise CodesignError(f"{where}: the mapping overflows a buffer of {arch.name}")
    cycles = int(cycles_f)
    return LayerCost(
        engine=ENGINE,
        energy_pj=energy,
        cycles=cycles,
        utilization=layer.macs / (cycles * arch.pe_array.count),
        level_energy_pj={name: level_energy[name] for name in LEVEL_ORDER if name in level_energy},
        mapping=nest.describe(),
        timeloop_mapping=timeloop_mapping(nest, 0, arch.dataflow, layer.depthwise),
        mapper=mapper,
    )


def cost_under_mapping(layer: Layer, arch: Arch, map_yaml: str | Path) -> LayerCost:
    """The cost of `layer` under the mapping in a Timeloop `map.yaml` file."""
    nest = load_timeloop_map(map_yaml, layer, arch.dataflow)
    return cost_of_mapping(layer, arch, nest, "timeloop-map", str(map_yaml))


@dataclass(frozen=True)
class AnalyticEngine:
    """Timeloop-exact counting (milliseconds per layer) under the mapping `mapper` picks.

    `mapper` None: the arch's mapper section says (random-pruned, the lab's timeloop-mapper search, for the
    lab's accelerator).
    """

    mapper: str | None = None
    name: str = ENGINE
    parallel: bool = False

    def __post_init__(self) -> None:
        if self.mapper is not None:
            MAPPERS.entry(self.mapper)  # an unknown name is one line listing the known ones

    def mapper_for(self, arch: Arch) -> str:
        """The mapper this engine runs on `arch`."""
        return self.mapper or arch.mapper.algorithm

    def unavailable(self) -> str | None:
        """Always available: the compiled core, or its NumPy reference where it is not built."""
        return None

    @property
    def threads(self) -> int:
        """Layers worth costing at once: the compiled core runs without the GIL, one layer per usable core."""
        if not core.enabled():
            return 1
        return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1

    def cache_key(self, arch: Arch) -> str:
        """The mapper, and for Timeloop's search its settings."""
        mapper = self.mapper_for(arch)
        return ENGINE if mapper == "exhaustive" else f"{ENGINE}-{mapper}-{arch.mapper.digest}"

    def cost(self, layer: Layer, arch: Arch) -> LayerCost:
        """Map `layer` with the chosen mapper and cost that mapping."""
        mapper = self.mapper_for(arch)
        chosen: Mapper = MAPPERS.load(mapper)
        return cost_of_mapping(layer, arch, chosen(layer, arch), mapper)
