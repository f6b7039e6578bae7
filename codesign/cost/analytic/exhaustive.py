"""The exhaustive mapper: the best mapping in the constrained mapspace, lexicographic [cycles, energy]."""

from __future__ import annotations

import itertools

import numpy as np

from codesign.arch import Arch
from codesign.cost.analytic.mapspace import candidates, concatenate, spatial_choices
from codesign.cost.analytic.nest import TENSORS, NestBatch, Prepared, evaluate, stretched_cycles
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


def best_mapping(layer: Layer, arch: Arch) -> tuple[NestBatch, float, float]:
    """The mapping with the fewest cycles, then the least energy: (one-row nest, cycles, energy)."""
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


def exhaustive_mapping(layer: Layer, arch: Arch) -> NestBatch:
    """The mapper seam: the best mapping of `layer` on `arch` as a one-row nest."""
    return best_mapping(layer, arch)[0]
