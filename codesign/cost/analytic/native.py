"""The analytic engine's compiled core (csrc/): the same model as the NumPy modules, milliseconds per layer.

The NumPy modules are the reference of *what* Timeloop does: nest.py counts accesses and energy,
timeloop_mapspace.py and random_pruned.py are timeloop-mapper's random-pruned search, mapspace.py and
exhaustive.py codesign's exhaustive one. csrc/ repeats them in C++ (how is said at the top of each header),
one mapping at a time in the reference's floating-point operation order, so that every cycle count, energy
and chosen mapping is the same bit for bit (tests/test_native.py compares them). This module packs a Layer,
an Arch and a Mapspace into the plain tuples the core takes and turns its answers back into the reference's
types.

Each tensor's chain of buffers comes from the keep masks of Timeloop's constraints (which storage level keeps
which tensor), not from code per tensor, so other dataflows of the template are other constraint sets.

The core is a C++17 extension built by `pip install` (setup.py); core.py loads it, and callers ask
`enabled()` before using this module (where it is missing, they run the NumPy reference).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from codesign.arch import Arch, MapperSettings
from codesign.cost.analytic.core import module
from codesign.cost.analytic.nest import (
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
    projections,
)
from codesign.cost.analytic.timeloop_mapspace import GLB_STORAGE, STORAGE, Mapspace, keep_masks
from codesign.cost.constraints import constraints
from codesign.dataflow import DEFAULT_DATAFLOW
from codesign.errors import CodesignError
from codesign.workload import Layer

# Where each storage level's loops sit in a nest (timeloop_mapspace's tiling levels, innermost first).
NEST_LEVEL = (OREG, IREG, WREG, SPAD, GLB, DRAM)
_METRICS = {"delay": 0, "energy": 1, "edp": 2}
_STOPS = ("", "timeout", "victory", "exhausted")
EVENT = np.dtype(
    [
        ("thread", "<i4"),
        ("kind", "<i4"),
        ("total", "<i8"),
        ("valid", "<i8"),
        ("count", "<i8"),
        ("if_id", "<i8"),
        ("lp_low", "<u8"),
        ("lp_high", "<u8"),
        ("split", "<i4"),
        ("keep", "<i4"),
        ("cycles", "<f8"),
        ("energy", "<f8"),
    ]
)


# ----- packing the model's inputs -----


@functools.cache
def template_keeps(depthwise: bool, dataflow: str = DEFAULT_DATAFLOW) -> np.ndarray:
    """(choices, tensors, storage levels): the dataflow's keep/bypass choices (the mapper's order)."""
    return keep_masks(constraints(depthwise, dataflow)["architecture_constraints"]["targets"])


def _problem(layer: Layer) -> tuple:
    return (tuple(tuple(tuple(float(v) for v in row) for row in a) for a in projections(layer)), (0, 0, 1))


def _template(arch: Arch, keeps: np.ndarray) -> tuple:
    """Storage levels innermost first: nest level, inside the PE array's fan-out, capacity; and the order of
    nest.evaluate's per-level energies (levels as each tensor's chain first meets them)."""
    reg = arch.registers.depth_words
    capacity = (reg, reg, reg, arch.weight_spad.depth_words, arch.global_buffer.depth_words, -1)
    per_pe = tuple(int(s < GLB_STORAGE) for s in range(len(STORAGE)))
    order: list[int] = []
    union = np.asarray(keeps.any(axis=0))
    for t in range(len(TENSORS)):
        order += [s for s in range(len(STORAGE)) if union[t, s] and s not in order]
    return NEST_LEVEL, per_pe, capacity, SPATIAL, arch.pe_array.count, GLB_STORAGE, tuple(order)


def _prices(arch: Arch) -> tuple:
    """What `arch` charges per action and level (nest._energies), and the buffer's bandwidth."""
    reg, spad, glb, dram = arch.registers, arch.weight_spad, arch.global_buffer, arch.dram
    block = (1.0, 1.0, 1.0, 1.0, float(glb.block_words), float(dram.block_words))
    read = (reg.read_pj, reg.read_pj, reg.read_pj, spad.read_pj, glb.read_pj, dram.read_pj)
    fill = (reg.fill_pj, reg.fill_pj, reg.fill_pj, spad.fill_pj, glb.fill_pj, dram.fill_pj)
    update = (reg.update_pj, reg.update_pj, reg.update_pj, spad.fill_pj, glb.update_pj, dram.update_pj)
    return (
        block,
        tuple(map(float, read)),
        tuple(map(float, fill)),
        tuple(map(float, update)),
        float(arch.mac.energy_pj),
        float(glb.read_bandwidth),
        float(glb.write_bandwidth),
    )


def _keeps(masks: np.ndarray) -> tuple:
    return tuple(tuple(tuple(int(v) for v in row) for row in mask) for mask in masks)


def _space(space: Mapspace) -> tuple:
    sl = space.spatial_level
    level_nest = tuple(SPATIAL if lv.spatial else NEST_LEVEL[lv.storage] for lv in space.levels)
    return (
        space.ndims,
        space.nlevels,
        tuple(np.ascontiguousarray(table, dtype=np.int64) for table in space.tables),
        tuple(int(o) for o in space.options),
        tuple(int(p) for p in space.prune),
        tuple(int(p) for p in space.part.ravel()),
        tuple(int(r) for r in space.rank.ravel()),
        -1 if sl is None else sl,
        space.splits.get(sl, -1) if sl is not None else -1,
        space.fanout[0],
        space.fanout[1],
        tuple(space.temporal_of[s] for s in range(len(STORAGE))),
        tuple(-1 if c is None else int(c) for c in space.capacity),
        tuple(int(d) for d in space.our_dims),
        level_nest,
        tuple(int(lv.spatial) for lv in space.levels),
        space.if_size,
        space.lp_size_full,
    )


def _settings(settings: MapperSettings) -> tuple:
    unknown = [m for m in settings.optimization_metrics if m not in _METRICS]
    if unknown:
        raise CodesignError(f"optimization metric {unknown[0]!r} is not supported by the random-pruned mapper")
    return (
        settings.num_threads,
        settings.timeout,
        settings.victory_condition,
        settings.max_permutations_per_if_visit,
        tuple(_METRICS[m] for m in settings.optimization_metrics),
    )


# ----- one loop nest -----


@dataclass
class NestCost:
    """nest.evaluate's answer for one mapping: validity, cycles, energy, per-level energy and access counts."""

    valid: bool
    cycles: float
    compute_cycles: float
    energy_pj: float
    level_energy: dict[str, float]  # "mac" first, then in nest.evaluate's order
    counts: dict[tuple[str, str, str], float]  # (level, tensor, action) along each tensor's chain


def evaluate(layer: Layer, arch: Arch, nest: NestBatch, i: int = 0) -> NestCost:
    """Mapping `i` of `nest` costed by the compiled core (nest.evaluate, one row)."""
    core = module()
    masks = template_keeps(layer.depthwise, arch.dataflow)
    glb = np.asarray(nest.glb_keep[i], dtype=bool)
    match = np.flatnonzero(np.all(masks[:, :, GLB_STORAGE] == glb, axis=1))
    if len(match) == 0:
        raise CodesignError(f"layer {layer.shape}: the global buffer cannot keep {glb.tolist()} on this template")
    mask = masks[int(match[0])]
    tmpl = _template(arch, masks)
    loops = tuple((lv, d, float(b), int(kind != "")) for lv, d, b, kind in nest.loops(i))
    valid, cycles, cc, energy, mac, _, levels, counts = core.evaluate(
        _problem(layer), tmpl, _keeps(mask[None])[0], (_prices(arch),), loops
    )
    level_energy = {"mac": mac}
    level_energy.update({LEVEL_NAMES[NEST_LEVEL[s]]: pj for s, pj in zip(tmpl[-1], levels)})
    out: dict[tuple[str, str, str], float] = {}
    for s, t, reads, fills, updates in counts:
        name = LEVEL_NAMES[NEST_LEVEL[s]]
        out[(name, TENSORS[t], "reads")] = reads
        out[(name, TENSORS[t], "fills")] = fills
        out[(name, TENSORS[t], "updates")] = updates
    return NestCost(bool(valid), cycles, cc, energy, level_energy, out)


# ----- the mappers -----


@dataclass
class ThreadBest:
    """How one random-pruned thread ended: its best mapping (IF ID, permutation, split, keep) and counters."""

    cost: tuple[float, float] | None
    if_id: int
    lp: int
    split: int
    keep: int
    total: int
    valid: int
    stop: str
    loops: tuple | None  # the best's loop nest: (nest level, dim, bound, axis 0/1 X/2 Y), outer to inner


def random_pruned(
    space: Mapspace, archs: Sequence[Arch], log: bool = False
) -> tuple[list[list[ThreadBest]], np.ndarray | None, dict[str, int]]:
    """Every thread of the random-pruned search on `space`, once per arch (archs share the mapspace: only
    their prices and bandwidth differ). Returns per arch the threads' results, the log's records (EVENT
    dtype, the first arch's, when `log`) and what the walk did (IFs decoded, permutations drawn, groups,
    distinct loop nests evaluated)."""
    core = module()
    settings = archs[0].mapper
    per_arch, events, work = core.random_pruned(
        _problem(space.layer),
        _template(archs[0], space.keep_masks),
        _keeps(space.keep_masks),
        tuple(_prices(a) for a in archs),
        _space(space),
        _settings(settings),
        log,
    )
    results = [
        [
            ThreadBest((cycles, energy) if has else None, if_id, lp, split, keep, total, valid, stop, loops)
            for has, cycles, energy, if_id, lp, split, keep, total, valid, stop, loops in threads
        ]
        for threads in per_arch
    ]
    records = None if events is None else np.frombuffer(events, dtype=EVENT)
    return results, records, dict(zip(("ifs", "permutations", "groups", "nests"), work))


@dataclass
class ExhaustiveBest:
    """The exhaustive mapper's choice for one arch: cost, product group, spatial choice, keep, loops."""

    cycles: float
    energy: float
    group: int
    choice: int
    keep: int
    loops: tuple[tuple[int, int, float, int], ...]  # (nest level, dim, bound, axis), outer to inner


def exhaustive(
    layer: Layer,
    archs: Sequence[Arch],
    groups: Sequence[tuple[int, Sequence[Sequence[int]]]],
    keep_choices: np.ndarray,
) -> tuple[list[ExhaustiveBest | None], tuple[int, int]]:
    """The exhaustive mapper over product groups [(product, [per-dim factors of each spatial choice])] for each
    arch (same sizes, other prices); `keep_choices` are the global buffer's (W, I, O) keeps in tie-break order.
    Also returns how many mappings were evaluated and how many bounds were computed."""
    core = module()
    base = template_keeps(layer.depthwise, archs[0].dataflow)[0].copy()
    masks = np.repeat(base[None], len(keep_choices), axis=0)
    masks[:, :, GLB_STORAGE] = keep_choices
    sizes = (layer.N, layer.C, 1 if layer.depthwise else layer.M, layer.R, layer.S, layer.P, layer.Q)
    sliding = layer.Wstride < layer.R or layer.Hstride < layer.S
    arch = archs[0]
    found, evaluated, bounded = core.exhaustive(
        _problem(layer),
        _template(arch, masks),
        _keeps(masks),
        tuple(_prices(a) for a in archs),
        (sizes, int(layer.depthwise), int(sliding), arch.weight_spad.depth_words, float(layer.macs)),
        tuple((int(p), tuple(tuple(int(f) for f in c) for c in choices)) for p, choices in groups),
    )
    return [None if f is None else ExhaustiveBest(*f) for f in found], (evaluated, bounded)


def nest_of_loops(
    loops: Sequence[tuple[int, int, float, int]], glb_keep: np.ndarray, axes: dict[int, str] | None = None
) -> NestBatch:
    """A one-row NestBatch of (nest level, dim, bound, axis) loops, axis 0 temporal, 1 the array's X, 2 its Y;
    `axes` (dim -> 'x' or 'y') overrides the spatial loops' axes."""
    n = len(loops)

    def on_x(d: int, axis: int) -> bool:
        if axes is not None:
            return axes.get(d, "x") == "x"
        return axis == 1

    level = np.array([lv for lv, _, _, _ in loops], dtype=np.int64).reshape(n)
    return NestBatch(
        level=level,
        spatial=level == SPATIAL,
        dims=np.array([[d for _, d, _, _ in loops]], dtype=np.int64).reshape(1, n),
        bounds=np.array([[int(b) for _, _, b, _ in loops]], dtype=np.int64).reshape(1, n),
        glb_keep=np.asarray(glb_keep, dtype=bool).reshape(1, 3),
        on_x=np.array([[lv == SPATIAL and on_x(d, axis) for lv, d, _, axis in loops]], dtype=bool).reshape(1, n),
    )
