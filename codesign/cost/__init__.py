"""Cost models: inference energy and cycles of each layer on an accelerator.

One interface for every engine: `cost_of(layers, arch, engine)` returns a LayerCost per layer, going
through the persistent cache so that no layer is ever mapped twice.
"""

from __future__ import annotations

from typing import Callable

from codesign.arch import Arch
from codesign.cost.analytic import analytic_cost
from codesign.cost.cache import CostCache
from codesign.cost.layer_cost import LayerCost
from codesign.errors import CodesignError
from codesign.workload import Layer

ENGINES: dict[str, Callable[[Layer, Arch], LayerCost]] = {"analytic": analytic_cost}


def cost_of(layers: list[Layer] | tuple[Layer, ...], arch: Arch, engine: str = "analytic",
            cache: CostCache | None = None) -> list[LayerCost]:
    """The cost of one execution of each layer (use `layer.count` for network totals)."""
    if engine not in ENGINES:
        raise CodesignError(f"unknown cost engine {engine!r} (available: {', '.join(ENGINES)})")
    run = ENGINES[engine]
    out = []
    for layer in layers:
        key = CostCache.key(engine, arch.digest, layer.key) if cache is not None else None
        cost = cache.get(key) if cache is not None else None
        if cost is None:
            cost = run(layer, arch)
            if cache is not None:
                cache.put(key, cost)
        out.append(cost)
    return out


__all__ = ["ENGINES", "CostCache", "LayerCost", "cost_of"]
