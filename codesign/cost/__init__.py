"""Cost models: inference energy and cycles of each layer on an accelerator.

One interface for every engine: `cost_of(layers, arch, engine)` returns a LayerCost per layer, going
through the persistent cache so that no layer is ever mapped twice. Engines: `analytic` (our
Timeloop-exact model and exhaustive mapper, milliseconds), `timeloop` (the real timeloop-mapper,
about a minute per layer) and `accelforge` (AccelForge, Timeloop's successor); the two real engines
run in parallel over layers.
"""

from __future__ import annotations

import hashlib
import os
import time
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import Callable

from codesign.arch import Arch
from codesign.cost.accelforge import accelforge_cost, interpreter
from codesign.cost.analytic import analytic_cost
from codesign.cost.cache import CostCache
from codesign.cost.layer_cost import LayerCost
from codesign.cost.timeloop import mapper_binary, timeloop_cost
from codesign.errors import CodesignError
from codesign.workload import Layer

ENGINES: dict[str, Callable[..., LayerCost]] = {"analytic": analytic_cost, "timeloop": timeloop_cost,
                                                "accelforge": accelforge_cost}
_EXTERNAL = {"timeloop", "accelforge"}  # slow engines that run in separate processes: map their layers in parallel


def cost_of(layers: list[Layer] | tuple[Layer, ...], arch: Arch, engine: str = "analytic",
            cache: CostCache | None = None, timeloop_lab: Path | None = None, progress: bool = False,
            workers: int | None = None) -> list[LayerCost]:
    """The cost of one execution of each layer (use `layer.count` for network totals)."""
    if engine not in ENGINES:
        raise CodesignError(f"unknown cost engine {engine!r} (available: {', '.join(ENGINES)})")
    run = ENGINES[engine]
    key_name = engine
    if engine == "timeloop" and timeloop_lab is not None:
        run = partial(run, lab_dir=Path(timeloop_lab))
        key_name = f"timeloop-lab-{hashlib.sha256(str(Path(timeloop_lab).resolve()).encode()).hexdigest()[:8]}"
    keys = [CostCache.key(key_name, arch.digest, layer.key) for layer in layers]
    costs: list[LayerCost | None] = [cache.get(k) if cache is not None else None for k in keys]
    missing = [i for i, c in enumerate(costs) if c is None]
    if engine == "timeloop" and missing:
        mapper_binary()  # fail before any work when it is missing
    if engine == "accelforge" and missing:
        interpreter()
    run = partial(_timed, run)
    failures: list[CodesignError] = []
    if engine in _EXTERNAL and len(missing) > 1:
        from tqdm import tqdm

        with ThreadPoolExecutor(max_workers=workers or os.cpu_count() or 1) as pool:
            futures = {i: pool.submit(run, layers[i], arch) for i in missing}
            for i in tqdm(missing, desc=f"{engine} layers", unit="layer", disable=not progress):
                try:
                    costs[i] = futures[i].result()
                except CodesignError as exc:  # keep the other layers' hour of work: cache them, then report
                    failures.append(exc)
    else:
        for i in missing:
            costs[i] = run(layers[i], arch)
    if cache is not None:
        for i in missing:
            if costs[i] is not None:
                cache.put(keys[i], costs[i])
    if failures:
        more = f"; {len(failures) - 1} more layers failed" if len(failures) > 1 else ""
        kept = "; the finished layers are cached" if cache is not None and len(failures) < len(missing) else ""
        raise CodesignError(f"{failures[0]}{more}{kept}")
    return costs


def _timed(run: Callable[..., LayerCost], layer: Layer, arch: Arch) -> LayerCost:
    start = time.perf_counter()
    cost = run(layer, arch)
    if not cost.seconds:
        cost.seconds = time.perf_counter() - start
    return cost


__all__ = ["ENGINES", "CostCache", "LayerCost", "cost_of"]
