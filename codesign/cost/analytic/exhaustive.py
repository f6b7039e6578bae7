"""The exhaustive mapper: the best mapping in the constrained mapspace, lexicographic [cycles, energy].

This module and mapspace.py are the reference; `best_mapping` runs the compiled core (native.py,
csrc/exhaustive.hpp) where it is built, which finds the same mapping by branch and bound, ties included.
"""

from __future__ import annotations

import itertools

import numpy as np

from codesign.arch import Arch
from codesign.cost.analytic import core
from codesign.cost.analytic import native as native_core
from codesign.cost.analytic.mapspace import candidates, concatenate, spatial_choices, spatial_table
from codesign.cost.analytic.nest import DIMS, TENSORS, NestBatch, Prepared, evaluate, stretched_cycles
from codesign.dataflow import DEFAULT_DATAFLOW, load_dataflow
from codesign.errors import CodesignError
from codesign.workload import Layer

_KEEP_CHOICES = np.array(list(itertools.product([True, False], repeat=3)))  # (8, 3)
_CHUNK_ROWS = 20000


def _best_in_batch(layer: Layer, arch: Arch, batch: NestBatch) -> tuple[float, float, int, np.ndarray] | None:
    """(cycles, energy, row, keep) of the best mapping in `batch` over all 8 keep/bypass choices."""
    prepared = Prepared(layer, batch)
    kept = evaluate(layer, arch, batch, glb_keep=np.ones(3, dtype=bool), prepared=prepared)
    bypassed = evaluate(layer, arch, batch, glb_keep=np.zeros(3, dtype=bool), prepared=prepared)
    mac = kept.level_energy["mac"]
    best = None
    for keep in _KEEP_CHOICES:
        energy = mac.copy()
        tiles = np.zeros(len(batch))
        reads, writes = [], []
        for t, name in enumerate(TENSORS):
            source = kept if keep[t] else bypassed
            energy += source.tensor_energy[name]
            if keep[t]:
                tiles += kept.glb_tile[name]
                reads.append(kept.glb_reads[name])
                writes.append(kept.glb_writes[name])
        ok = kept.valid_pe & (tiles <= arch.global_buffer.depth_words)
        if not ok.any():
            continue
        cycles = stretched_cycles(kept.compute_cycles, reads, writes, arch)
        cycles = np.where(ok, cycles, np.inf)
        order = np.lexsort((energy, cycles))
        i = int(order[0])
        if best is None or (cycles[i], energy[i]) < (best[0], best[1]):
            best = (float(cycles[i]), float(energy[i]), i, keep)
    return best


def best_mapping(layer: Layer, arch: Arch, native: bool | None = None) -> tuple[NestBatch, float, float]:
    """The mapping with the fewest cycles, then the least energy: (one-row nest, cycles, energy).

    `native` picks the compiled core (native.py, the default where it is built) or this module's NumPy
    reference; both choose the same mapping, ties included.
    """
    if core.enabled(native):
        return _native_best(layer, arch)
    best: tuple[float, float, NestBatch] | None = None
    for product, group in itertools.groupby(spatial_choices(layer, arch), key=lambda s: s.product):
        if best is not None and layer.macs / product > best[0]:
            break  # choices come in decreasing parallelism: no later one can be faster
        batch = concatenate([candidates(layer, arch, spatial) for spatial in group])
        for start in range(0, len(batch), _CHUNK_ROWS):
            chunk = batch.rows(slice(start, start + _CHUNK_ROWS))
            found = _best_in_batch(layer, arch, chunk)
            if found is None:
                continue
            cycles, energy, row, keep = found
            if best is None or (cycles, energy) < (best[0], best[1]):
                one = chunk.row(row)
                one.glb_keep = keep[None, :].copy()
                best = (cycles, energy, one)
    if best is None:
        raise CodesignError(f"layer {layer.shape}: no valid mapping on {arch.name} (is a buffer too small?)")
    return best[2], best[0], best[1]


def _native_best(layer: Layer, arch: Arch) -> tuple[NestBatch, float, float]:
    return _native_bests(layer, [arch])[0]


def _native_bests(layer: Layer, archs: list[Arch]) -> list[tuple[NestBatch, float, float]]:
    """The compiled core's best mapping for each of `archs` (same sizes, other prices), in one enumeration."""
    factors, on_x = spatial_table(layer, archs[0])
    products = np.prod(factors, axis=1)
    starts = np.flatnonzero(np.r_[True, products[1:] != products[:-1]])  # groups of equal parallelism
    bounds = np.r_[starts, len(products)]
    packed = [(int(products[a]), factors[a:b].tolist()) for a, b in itertools.pairwise(bounds)]
    found, _ = native_core.exhaustive(layer, archs, packed, _KEEP_CHOICES)
    out = []
    for arch, best in zip(archs, found):
        if best is None:
            raise CodesignError(f"layer {layer.shape}: no valid mapping on {arch.name} (is a buffer too small?)")
        choice = int(bounds[best.group]) + best.choice
        axes = {d: "x" if on_x[choice, d] else "y" for d in range(len(DIMS))}  # the mapspace's axes
        out.append((native_core.nest_of_loops(best.loops, _KEEP_CHOICES[best.keep], axes), best.cycles, best.energy))
    return out


def supports(arch: Arch) -> bool:
    """Whether this mapper's mapspace (mapspace.py: the lab's constraints, enumerated) is `arch`'s dataflow."""
    return load_dataflow(arch.dataflow).sections == load_dataflow(DEFAULT_DATAFLOW).sections


def _check(arch: Arch) -> None:
    if not supports(arch):
        raise CodesignError(
            f"{arch.name}: the exhaustive mapper enumerates the lab's ws mapspace only, not dataflow "
            f"{arch.dataflow!r}; use the random-pruned mapper (--mapper random-pruned)"
        )


def exhaustive_mappings(layer: Layer, archs: list[Arch], native: bool | None = None) -> list[NestBatch]:
    """exhaustive_mapping on each of `archs`, which share their sizes (the same mapspace): one enumeration, each
    mapping's accesses counted once and priced per arch (the compiled core; the reference maps arch by arch)."""
    for arch in archs:
        _check(arch)
    sizes = {
        (a.pe_array, a.registers.depth_words, a.weight_spad.depth_words, a.global_buffer.depth_words) for a in archs
    }
    if len(sizes) > 1:
        raise CodesignError("exhaustive_mappings: the archs differ in sizes")
    if not core.enabled(native):
        return [best_mapping(layer, arch, native=False)[0] for arch in archs]
    return [nest for nest, _, _ in _native_bests(layer, archs)]


def exhaustive_mapping(layer: Layer, arch: Arch) -> NestBatch:
    """The mapper seam: the best mapping of `layer` on `arch` as a one-row nest."""
    _check(arch)
    return best_mapping(layer, arch)[0]
