"""Read Timeloop's mapping format (`map.yaml`, as timeloop-mapper writes it) into a loop nest."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from codesign.cost.analytic.nest import (
    DIMS,
    DRAM,
    GLB,
    IREG,
    LEVEL_NAMES,
    OREG,
    SPAD,
    SPATIAL,
    TENSORS,
    WREG,
    NestBatch,
)
from codesign.dataflow import DEFAULT_DATAFLOW, load_dataflow
from codesign.errors import CodesignError
from codesign.workload import Layer
from codesign.yamlfile import read_yaml

_TARGETS = {name: level for level, name in LEVEL_NAMES.items()}


def fixed_keeps(dataflow: str, depthwise: bool) -> dict[int, set[str]]:
    """What the dataflow makes each PE-level buffer keep (and DRAM: everything); only the global buffer's
    choice is free."""
    df = load_dataflow(dataflow)
    keeps = {level: set(df.keeps(LEVEL_NAMES[level], depthwise)) for level in (SPAD, WREG, IREG, OREG)}
    return {**keeps, DRAM: set(TENSORS)}


def _factors(text: str, source: str) -> dict[str, int]:
    out = {}
    for token in str(text).split():
        dim, value = token[0], token[1:]
        if dim not in DIMS or not value.isdigit():
            raise CodesignError(f"{source}: bad factor {token!r} (expected e.g. `C3 M6 R1`)")
        out[dim] = int(value)
    return out


def layer_sizes(layer: Layer) -> dict[str, int]:
    """The loop bound of each dimension of `layer` (M is 1 for depthwise layers)."""
    return {
        "N": layer.N,
        "C": layer.C,
        "M": 1 if layer.depthwise else layer.M,
        "R": layer.R,
        "S": layer.S,
        "P": layer.P,
        "Q": layer.Q,
    }


def _loops(entry: dict, level: int, where: str) -> list[tuple[int, int, bool]]:
    """The loops of one temporal or spatial directive, outer to inner: (dim, bound, on the X axis)."""
    factors = _factors(entry.get("factors", ""), f"{where}.factors")
    order = str(entry.get("permutation", "")).strip() or DIMS
    order = order + "".join(d for d in DIMS if d not in order)
    kind = entry.get("type")
    if kind == "temporal":  # Timeloop lists permutations innermost first
        return [(DIMS.index(d), factors.get(d, 1), False) for d in reversed(order)]
    if kind != "spatial":
        raise CodesignError(f"{where}.type {kind!r} is not temporal, spatial or datatype")
    if level != GLB:
        raise CodesignError(f"{where}: spatial loops exist only at shared_glb")
    split = int(entry.get("split", len(order)))
    x_dims, y_dims = order[:split], order[split:]
    return [(DIMS.index(d), factors.get(d, 1), False) for d in reversed(y_dims)] + [
        (DIMS.index(d), factors.get(d, 1), True) for d in reversed(x_dims)
    ]


def _nest(loops: dict[int, list[tuple[int, int, bool]]], glb_keep: np.ndarray, layer: Layer, source: str) -> NestBatch:
    """The one-row nest of per-level loops; every dimension's factors must multiply to the layer's size."""
    slots = [(level, loop) for level in (DRAM, GLB, SPATIAL, SPAD, WREG, IREG, OREG) for loop in loops.get(level, [])]
    dims = [dim for _, (dim, _, _) in slots]
    bounds = [bound for _, (_, bound, _) in slots]
    sizes = layer_sizes(layer)
    for d, name in enumerate(DIMS):
        product = int(np.prod([b for dim, b in zip(dims, bounds) if dim == d] or [1]))
        if product != sizes[name]:
            raise CodesignError(
                f"{source}: the factors of {name} multiply to {product}, but the layer's "
                f"{name} is {sizes[name]} (is this the mapping of layer {layer.shape}?)"
            )
    return NestBatch(
        level=np.array([level for level, _ in slots]),
        spatial=np.array([level == SPATIAL for level, _ in slots]),
        dims=np.array([dims]),
        bounds=np.array([bounds]),
        glb_keep=glb_keep[None, :],
        on_x=np.array([[x for _, (_, _, x) in slots]]),
    )


def nest_from_timeloop_map(
    mapping: dict | list, layer: Layer, source: str = "map.yaml", dataflow: str = DEFAULT_DATAFLOW
) -> NestBatch:
    """A one-row NestBatch from a parsed Timeloop mapping for `layer`; checks it fits the dataflow."""
    fixed = fixed_keeps(dataflow, layer.depthwise)
    entries = mapping.get("mapping") if isinstance(mapping, dict) else mapping
    if not isinstance(entries, list):
        raise CodesignError(f"{source}: expected a top-level `mapping:` list of Timeloop directives")
    loops: dict[int, list[tuple[int, int, bool]]] = {}
    glb_keep = np.zeros(3, dtype=bool)
    for i, entry in enumerate(entries):
        target, kind = entry.get("target"), entry.get("type")
        if target not in _TARGETS:
            raise CodesignError(
                f"{source}: mapping[{i}].target {target!r} is not a level of this architecture ({', '.join(_TARGETS)})"
            )
        level = _TARGETS[target]
        if kind not in ("datatype", "bypass"):
            loops[SPATIAL if kind == "spatial" else level] = _loops(entry, level, f"{source}: mapping[{i}]")
            continue
        keep = set(entry.get("keep") or [])
        if level == GLB:
            glb_keep[:] = [t in keep for t in TENSORS]
        elif keep != fixed[level]:
            raise CodesignError(
                f"{source}: mapping[{i}] makes {target} keep {sorted(keep)}; under dataflow "
                f"{dataflow!r} {target} keeps {sorted(fixed[level])}"
            )
    return _nest(loops, glb_keep, layer, source)


def timeloop_mapping(nest: NestBatch, i: int = 0, dataflow: str = DEFAULT_DATAFLOW, depthwise: bool = False) -> dict:
    """Mapping `i` of `nest` in Timeloop's map.yaml format (permutations innermost first), under `dataflow`."""
    entries: list[dict] = []
    fixed = fixed_keeps(dataflow, depthwise)
    keeps = {DRAM: list(TENSORS), GLB: [t for t, k in zip(TENSORS, nest.glb_keep[i]) if k]}
    keeps.update({level: sorted(fixed[level]) for level in (SPAD, WREG, IREG, OREG)})
    for level in (OREG, IREG, WREG, SPAD, GLB, DRAM):
        entries.append(
            {
                "target": LEVEL_NAMES[level],
                "type": "datatype",
                "keep": keeps[level],
                "bypass": [t for t in TENSORS if t not in keeps[level]],
            }
        )
    by_level: dict[tuple[int, str], list[tuple[int, int]]] = {}
    for level, dim, bound, kind in nest.loops(i):
        by_level.setdefault((level, kind), []).append((dim, bound))

    def directive(level: int, kind: str, loops: list[tuple[int, int]]) -> dict:
        factors = {d: 1 for d in DIMS}
        for dim, bound in loops:
            factors[DIMS[dim]] *= bound
        inner_first = [DIMS[d] for d, _ in reversed(loops)]
        order = "".join(dict.fromkeys(inner_first + list(DIMS)))
        return {
            "target": LEVEL_NAMES[level],
            "type": kind,
            "factors": " ".join(f"{d}{factors[d]}" for d in DIMS),
            "permutation": order,
        }

    for level in (OREG, IREG, WREG, SPAD):
        entries.append(directive(level, "temporal", by_level.get((level, ""), [])))
    x_loops, y_loops = by_level.get((SPATIAL, "X"), []), by_level.get((SPATIAL, "Y"), [])
    spatial = directive(GLB, "spatial", y_loops + x_loops)
    x_dims = [DIMS[d] for d, _ in reversed(x_loops)]
    y_dims = [DIMS[d] for d, _ in reversed(y_loops)]
    spatial["permutation"] = "".join(dict.fromkeys(x_dims + y_dims + list(DIMS)))
    spatial["split"] = len(x_dims)
    entries.append(spatial)
    entries.append(directive(GLB, "temporal", by_level.get((GLB, ""), [])))
    entries.append(directive(DRAM, "temporal", by_level.get((DRAM, ""), [])))
    return {"mapping": entries}


def load_timeloop_map(path: str | Path, layer: Layer, dataflow: str = DEFAULT_DATAFLOW) -> NestBatch:
    """Parse a Timeloop `map.yaml` file for `layer` under `dataflow`."""
    path = Path(path)
    return nest_from_timeloop_map(read_yaml(path, "Timeloop mapping"), layer, str(path), dataflow)
