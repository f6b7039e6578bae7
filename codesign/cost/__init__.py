"""Cost models: inference energy and cycles of each layer on an accelerator.

One interface for every engine (`Engine`): `cost_of(layers, arch, engine)` returns a LayerCost per layer,
going through the persistent cache so that no layer is ever mapped twice. Engines are registered by name in
`codesign.registry.ENGINES` (imported when first used): `analytic` (our Timeloop-exact model with a choice of
mapper, milliseconds), `timeloop` (the real timeloop-mapper, about a minute per layer) and `accelforge`
(AccelForge, Timeloop's successor); the slow engines run in parallel over layers. `cost_variants(layer,
archs)` costs one layer on many accelerators of one mapspace (the joint search's word bits and bandwidths) in
one walk.
"""

from __future__ import annotations

import dataclasses
import os
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

from codesign.arch import Arch
from codesign.cost.cache import CostCache
from codesign.cost.engine import Engine
from codesign.cost.layer_cost import LayerCost
from codesign.cost.variants import cost_variants
from codesign.errors import CodesignError
from codesign.registry import ENGINES

if TYPE_CHECKING:
    from codesign.workload import Layer


def get_engine(name: str = "analytic", mapper: str | None = None, timeloop_lab: str | Path | None = None) -> Engine:
    """The engine called `name` (codesign.registry.ENGINES), given the options it takes: `mapper` the analytic
    engine's mapper, `timeloop_lab` the timeloop engine's folder of the lab's files."""
    engine = ENGINES.load(name)
    options: dict[str, Any] = {"mapper": mapper, "lab_dir": Path(timeloop_lab) if timeloop_lab else None}
    accepted = {f.name for f in dataclasses.fields(engine) if f.init}
    return engine(**{k: v for k, v in options.items() if k in accepted and v is not None})


def cost_of(
    layers: list[Layer] | tuple[Layer, ...],
    arch: Arch,
    engine: Engine | str = "analytic",
    cache: CostCache | None = None,
    progress: bool = False,
    workers: int | None = None,
) -> list[LayerCost]:
    """The cost of one execution of each layer (use `layer.count` for network totals)."""
    engine = get_engine(engine) if isinstance(engine, str) else engine
    prefix = engine.cache_key(arch)
    keys = [CostCache.key(prefix, arch.digest, layer.key) for layer in layers]
    costs: list[LayerCost | None] = [cache.get(k) if cache is not None else None for k in keys]
    missing = [i for i, c in enumerate(costs) if c is None]
    if missing and (why := engine.unavailable()):
        raise CodesignError(why)  # before any work
    failures: list[CodesignError] = []
    if engine.parallel and len(missing) > 1:
        from tqdm import tqdm

        with ThreadPoolExecutor(max_workers=workers or os.cpu_count() or 1) as pool:
            futures = {i: pool.submit(_timed, engine, layers[i], arch) for i in missing}
            for i in tqdm(missing, desc=f"{engine.name} layers", unit="layer", disable=not progress):
                try:
                    costs[i] = futures[i].result()
                except CodesignError as exc:  # keep the other layers' hour of work: cache them, then report
                    failures.append(exc)
    elif len(missing) > 1 and (threads := min(getattr(engine, "threads", 1), len(missing))) > 1:
        # the analytic engine's compiled core releases the GIL: new layers are costed on every core at once
        with ThreadPoolExecutor(max_workers=threads) as pool:
            for i, done in zip(missing, pool.map(lambda i: _timed(engine, layers[i], arch), missing)):
                costs[i] = done
    else:
        for i in missing:
            costs[i] = _timed(engine, layers[i], arch)
    if cache is not None:
        for i in missing:
            cost = costs[i]
            if cost is not None:
                cache.put(keys[i], cost)
    if failures:
        more = f"; {len(failures) - 1} more layers failed" if len(failures) > 1 else ""
        kept = "; the finished layers are cached" if cache is not None and len(failures) < len(missing) else ""
        raise CodesignError(f"{failures[0]}{more}{kept}")
    return [c for c in costs if c is not None]


def _timed(engine: Engine, layer: Layer, arch: Arch) -> LayerCost:
    start = time.perf_counter()
    cost = engine.cost(layer, arch)
    if not cost.seconds:
        cost.seconds = time.perf_counter() - start
    return cost


__all__ = ["ENGINES", "CostCache", "Engine", "LayerCost", "cost_of", "cost_variants", "get_engine"]
