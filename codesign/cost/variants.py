"""One layer's cost on several accelerators at once: archs that share a mapspace share one walk of it.

Accelerators of the joint search with the same PE array, buffer depths and mapper settings walk the same
mapping IDs with the same validity; only the per-action energies (word bits) and the buffer's bandwidth differ.
`cost_variants` costs a layer on all of them together (the compiled core counts each loop nest's accesses once
and prices them per arch, each arch keeping its own "is better" decisions and stop counters) and gives exactly
what `AnalyticEngine(mapper).cost` gives on each arch alone.
"""

from __future__ import annotations

from collections.abc import Sequence

from codesign.arch import Arch
from codesign.cost.analytic import AnalyticEngine
from codesign.cost.analytic.engine import cost_of_mapping
from codesign.cost.analytic.exhaustive import exhaustive_mappings
from codesign.cost.analytic.random_pruned import random_pruned_mappings, same_mapspace
from codesign.cost.cache import CostCache
from codesign.cost.layer_cost import LayerCost
from codesign.workload import Layer


def cost_variants(
    layer: Layer, archs: Sequence[Arch], mapper: str | None = None, cache: CostCache | None = None
) -> list[LayerCost]:
    """The analytic cost of `layer` on each of `archs` (`mapper`: None for each arch's own), through `cache`."""
    engine = AnalyticEngine(mapper)
    keys = [CostCache.key(engine.cache_key(arch), arch.digest, layer.key) for arch in archs]
    costs: list[LayerCost | None] = [cache.get(k) if cache is not None else None for k in keys]
    groups: list[list[int]] = []  # indices of the missing archs that share a mapspace and a mapper
    for i, cost in enumerate(costs):
        if cost is not None:
            continue
        for group in groups:
            first = archs[group[0]]
            if engine.mapper_for(first) == engine.mapper_for(archs[i]) and same_mapspace(first, archs[i]):
                group.append(i)
                break
        else:
            groups.append([i])
    for group in groups:
        members = [archs[i] for i in group]
        chosen = engine.mapper_for(members[0])
        find = random_pruned_mappings if chosen == "random-pruned" else exhaustive_mappings
        for i, arch, nest in zip(group, members, find(layer, members)):
            cost = cost_of_mapping(layer, arch, nest, chosen)
            costs[i] = cost
            if cache is not None:
                cache.put(keys[i], cost)
    return [c for c in costs if c is not None]
