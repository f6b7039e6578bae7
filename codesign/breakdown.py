"""Where a design's inference energy goes: per layer and per storage level (DRAM, global buffer, PE scratchpad and
registers, MACs), recomputed from its spec through the layer cache.

trials.csv keeps each trial's totals only; the per-level energies come from the cost model (`LayerCost.
level_energy_pj`). A report recomputes them for the designs it shows rather than widening trials.csv: the layers
of every trained design are already in the layer cache (milliseconds per network), older runs gain the breakdown
without a new column, and the numbers are the cost model's own, summing to the trial's energy.
"""

from __future__ import annotations

from dataclasses import dataclass

from codesign.arch import Arch
from codesign.cost import CostCache
from codesign.cost.analytic import AnalyticEngine
from codesign.errors import CodesignError
from codesign.network import CandidateSpec
from codesign.profiling import profile_workload
from codesign.workload import trace

# Storage levels from DRAM inwards, then the MACs, with the names people use for them.
LEVELS = {
    "DRAM": "DRAM",
    "shared_glb": "global buffer",
    "pe_spad": "PE weight scratchpad",
    "weight_reg": "PE weight register",
    "input_activation_reg": "PE input register",
    "output_activation_reg": "PE output register",
    "mac": "MACs",
}


@dataclass(frozen=True)
class Breakdown:
    """A design's energy (pJ) per layer (each distinct layer times its count) and per level."""

    layers: tuple[str, ...]  # a name per distinct layer (its first module, + how many more share its shape)
    levels: tuple[str, ...]  # LEVELS' keys present, DRAM first, then any other level the arch has
    energy_pj: tuple[tuple[float, ...], ...]  # [layer][level]
    cycles: tuple[int, ...]  # per layer, times its count

    @property
    def total_pj(self) -> float:
        return sum(sum(row) for row in self.energy_pj)

    def by_level(self) -> dict[str, float]:
        """Energy per level over the whole network (pJ)."""
        return {level: sum(row[i] for row in self.energy_pj) for i, level in enumerate(self.levels)}

    def to_dict(self) -> dict:
        """JSON-friendly form, energies in µJ, levels with their readable names (what the report's page draws)."""
        return {
            "layers": list(self.layers),
            "levels": [LEVELS.get(level, level) for level in self.levels],
            "energy_uj": [[round(v / 1e6, 6) for v in row] for row in self.energy_pj],
            "cycles": list(self.cycles),
        }


def breakdown(spec: CandidateSpec, arch: Arch, mapper: str | None = None, cache: CostCache | None = None) -> Breakdown:
    """The energy of `spec`'s network on `arch` per layer and per level, under the analytic `mapper` (the arch's
    when None: the mapper a search with the same settings used)."""
    net = profile_workload(trace(spec.build(), (1, *spec.input_shape)), arch, AnalyticEngine(mapper), cache)
    seen = {level for cost in net.costs for level in cost.level_energy_pj}
    levels = tuple([level for level in LEVELS if level in seen] + sorted(seen - set(LEVELS)))
    names, rows, cycles = [], [], []
    for layer, cost in zip(net.workload.layers, net.costs):
        name = layer.names[0] if layer.names else layer.kind
        names.append(name if len(layer.names) <= 1 else f"{name} (+{len(layer.names) - 1})")
        rows.append(tuple(cost.level_energy_pj.get(level, 0.0) * layer.count for level in levels))
        cycles.append(cost.cycles * layer.count)
    if not rows:
        raise CodesignError("the design has no Conv2d or Linear layer to break down")
    return Breakdown(tuple(names), levels, tuple(rows), tuple(cycles))
