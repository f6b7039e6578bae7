"""Timeloop's access counting and energy for batches of mappings on the weight-stationary template.

A mapping is a loop nest: slots ordered outer to inner, each belonging to a level (DRAM, global buffer
temporal, the buffer's spatial fan-out to the PEs, PE scratchpad, the three PE registers) and holding a
dimension and a bound. A batch shares the slot layout (level and temporal/spatial kind of each slot);
each row has its own dimensions and bounds, so permutations vary per row. Every count follows
../shared/reference/README.md section 11 (dense tensors, first-read elision, axis-aligned tiles):

* fills of a level = its tile plus, for every temporal loop above it, (number of times that loop
  advances) x (elements of the new tile not in the previous one). Loops that do not move the tensor
  add nothing (reuse); sliding input windows add only the new rows or columns.
* the parent of a PE-level buffer serves each distinct child tile once per step (multicast; spatial
  reduction for outputs), so its accesses = child fills x distinct tiles over the PE array.
* outputs: updates = what children send up, reads = updates - partition size.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from codesign.arch import Arch
from codesign.workload import Layer

DIMS = "NCMRSPQ"
N, C, M, R, S, P, Q = range(7)

DRAM, GLB, SPATIAL, SPAD, WREG, IREG, OREG = range(7)
LEVEL_NAMES = {
    DRAM: "DRAM", GLB: "shared_glb", SPAD: "pe_spad", WREG: "weight_reg",
    IREG: "input_activation_reg", OREG: "output_activation_reg",
}
TENSORS = ("Weights", "Inputs", "Outputs")
WEIGHTS, INPUTS, OUTPUTS = range(3)
# Levels that hold each tensor, innermost first; the global buffer's keep/bypass is per mapping.
KEEPERS = {WEIGHTS: (WREG, SPAD, GLB, DRAM), INPUTS: (IREG, GLB, DRAM), OUTPUTS: (OREG, GLB, DRAM)}
LEVEL_ORDER = ("mac", "output_activation_reg", "input_activation_reg", "weight_reg", "pe_spad",
               "shared_glb", "DRAM")


def projections(layer: Layer) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For each tensor, a (coordinates x 7 dims) matrix: coordinate = A @ loop indices."""

    def rows(*coords: dict[int, int]) -> np.ndarray:
        a = np.zeros((len(coords), 7))
        for k, coord in enumerate(coords):
            for dim, coef in coord.items():
                a[k, dim] = coef
        return a

    window_w = {R: layer.Wdilation, P: layer.Wstride}
    window_h = {S: layer.Hdilation, Q: layer.Hstride}
    inputs = rows({N: 1}, {C: 1}, window_w, window_h)
    if layer.depthwise:
        return rows({C: 1}, {R: 1}, {S: 1}), inputs, rows({N: 1}, {C: 1}, {P: 1}, {Q: 1})
    return rows({C: 1}, {M: 1}, {R: 1}, {S: 1}), inputs, rows({N: 1}, {M: 1}, {P: 1}, {Q: 1})


@dataclass
class NestBatch:
    """Loop nests of one layer sharing a slot layout; rows are mappings."""

    level: np.ndarray     # (slots,) level of each slot, outer to inner (non-decreasing)
    spatial: np.ndarray   # (slots,) True for the global buffer's fan-out loops
    dims: np.ndarray      # (rows, slots) dimension index of each loop
    bounds: np.ndarray    # (rows, slots) loop bound (1 = no loop)
    glb_keep: np.ndarray  # (rows, 3) whether the global buffer keeps Weights, Inputs, Outputs

    def __len__(self) -> int:
        return self.dims.shape[0]

    def row(self, i: int) -> "NestBatch":
        """A batch holding only mapping `i`."""
        return NestBatch(self.level, self.spatial, self.dims[i:i + 1], self.bounds[i:i + 1],
                         self.glb_keep[i:i + 1])

    def loops(self, i: int = 0) -> list[tuple[int, int, int, bool]]:
        """Mapping `i` as (level, dim, bound, spatial) loops, outer to inner, bound-1 loops left out."""
        return [(int(lv), int(d), int(b), bool(sp))
                for lv, sp, d, b in zip(self.level, self.spatial, self.dims[i], self.bounds[i]) if b > 1]


@dataclass
class Evaluation:
    """Per-row results of `evaluate`; `counts` maps (level, tensor, action) to per-instance counts."""

    valid: np.ndarray
    cycles: np.ndarray
    compute_cycles: np.ndarray
    energy_pj: np.ndarray
    instances: np.ndarray
    level_energy: dict[str, np.ndarray]
    counts: dict[tuple[str, str, str], np.ndarray]


def _ceil_blocks(count: np.ndarray, block: int) -> np.ndarray:
    return np.ceil(np.maximum(count, 0) / block - 1e-9) if block > 1 else count


class _Nest:
    """Derived per-slot quantities of a batch, shared by all tensors and levels."""

    def __init__(self, nest: NestBatch):
        self.nest = nest
        dims = nest.dims.astype(np.int64)
        self.bounds = nest.bounds.astype(np.float64)
        rows, slots = dims.shape
        b7 = np.where(dims[..., None] == np.arange(7), self.bounds[..., None], 1.0)
        suffix = np.cumprod(b7[:, ::-1], axis=1)[:, ::-1]
        self.suffix = np.concatenate([suffix, np.ones((rows, 1, 7))], axis=1)  # prod over slots >= i
        inner = self.suffix[:, 1:, :]  # prod over slots > i
        self.step = np.take_along_axis(inner, dims[..., None], axis=2)[..., 0]
        self.dims = dims
        self.temporal = ~nest.spatial
        self.totals_temporal = np.prod(np.where(self.temporal[None, :, None], b7, 1.0), axis=1)
        self.totals = self.suffix[:, 0, :]

    def start(self, level: int) -> int:
        return int(np.searchsorted(self.nest.level, level))

    def unit_disp(self, a: np.ndarray) -> np.ndarray:
        """(rows, slots, coords): how far one step of each loop moves the tile."""
        return a.T[self.dims] * self.step[..., None]

    @staticmethod
    def extent(totals: np.ndarray, a: np.ndarray) -> np.ndarray:
        """Axis-aligned footprint per coordinate of loops whose bounds multiply to `totals`."""
        return 1.0 + (totals - 1.0) @ a.T

    def tile(self, level: int, a: np.ndarray) -> np.ndarray:
        return np.prod(self.extent(self.suffix[:, self.start(level), :], a), axis=1)

    def fills(self, level: int, a: np.ndarray, disp: np.ndarray) -> np.ndarray:
        """Words delivered to one instance of `level` over the layer (first tile included)."""
        st = self.start(level)
        ext = self.extent(self.suffix[:, st, :], a)
        tile = np.prod(ext, axis=1)
        above = self.temporal & (np.arange(len(self.temporal)) < st)
        if not above.any():
            return tile
        bounds = np.where(above, self.bounds, 1.0)
        wrap = (bounds - 1.0)[..., None] * disp
        wrap_inner = np.cumsum(wrap[:, ::-1], axis=1)[:, ::-1] - wrap
        moved = disp - wrap_inner  # displacement when loop j advances and the loops inside it wrap
        overlap = np.prod(np.maximum(0.0, ext[:, None, :] - np.abs(moved)), axis=2)
        outer = np.cumprod(bounds, axis=1) / bounds
        events = (bounds - 1.0) * outer
        return tile + np.sum(events * (tile[:, None] - overlap), axis=1)

    def distinct_children(self, disp: np.ndarray) -> np.ndarray:
        """Distinct child tiles over the PE array (multicast / reduction groups) per row."""
        sp = self.nest.spatial
        if not sp.any():
            return np.ones(len(self.bounds))
        bounds = self.bounds[:, sp]
        sdisp = disp[:, sp, :]
        moving = (bounds > 1) & np.any(sdisp != 0, axis=2)
        per_coord = np.sum(moving[..., None] & (sdisp != 0), axis=1)
        simple = np.all(per_coord <= 1, axis=1)
        result = np.prod(np.where(moving, bounds, 1.0), axis=1)
        if not simple.all():
            idx = np.flatnonzero(~simple)
            keys = np.concatenate([bounds[idx], sdisp[idx].reshape(len(idx), -1)], axis=1)
            uniq, inverse = np.unique(keys, axis=0, return_inverse=True)
            counts = np.array([_count_offsets(k[:bounds.shape[1]], k[bounds.shape[1]:].reshape(
                bounds.shape[1], -1)) for k in uniq])
            result[idx] = counts[inverse.ravel()]
        return result


def _count_offsets(bounds: np.ndarray, disp: np.ndarray) -> int:
    grid = np.array(list(itertools.product(*(range(int(b)) for b in bounds))), dtype=np.float64)
    return len(np.unique(grid @ disp, axis=0))


def evaluate(layer: Layer, arch: Arch, nest: NestBatch) -> Evaluation:
    """Cycles, energy and per-level access counts of every mapping in `nest`."""
    n = _Nest(nest)
    a_w, a_i, a_o = projections(layer)
    rows = len(nest)
    zeros = np.zeros(rows)
    cyc = n.totals_temporal.prod(axis=1)
    inst = np.prod(np.where(nest.spatial, n.bounds, 1.0), axis=1)
    keep = nest.glb_keep.astype(bool)
    glb = arch.global_buffer
    counts: dict[tuple[str, str, str], np.ndarray] = {}
    glb_tiles = zeros.copy()
    valid = np.ones(rows, dtype=bool)
    reg_depth = arch.registers.depth_words

    def put(level: int, tensor: int, reads, fills, updates) -> None:
        name, t = LEVEL_NAMES[level], TENSORS[tensor]
        counts[(name, t, "reads")] = reads
        counts[(name, t, "fills")] = fills
        counts[(name, t, "updates")] = updates

    def through_glb(tensor: int, a: np.ndarray, disp: np.ndarray, served: np.ndarray):
        """What the global buffer serves to the PEs and is filled with, where it keeps `tensor`."""
        nonlocal glb_tiles
        k = keep[:, tensor]
        glb_fills = n.fills(GLB, a, disp)
        glb_tiles = glb_tiles + np.where(k, n.tile(GLB, a), 0.0)
        return np.where(k, served, 0.0), np.where(k, glb_fills, 0.0)

    # Weights: weight_reg <- pe_spad <- (glb) <- DRAM
    disp = n.unit_disp(a_w)
    f_wreg, f_spad = n.fills(WREG, a_w, disp), n.fills(SPAD, a_w, disp)
    valid &= n.tile(WREG, a_w) <= reg_depth
    valid &= n.tile(SPAD, a_w) <= arch.weight_spad.depth_words
    put(WREG, WEIGHTS, cyc, f_wreg, zeros)
    put(SPAD, WEIGHTS, f_wreg, f_spad, zeros)
    served = f_spad * n.distinct_children(disp)
    g_reads, g_fills = through_glb(WEIGHTS, a_w, disp, served)
    put(GLB, WEIGHTS, g_reads, g_fills, zeros)
    put(DRAM, WEIGHTS, np.where(keep[:, WEIGHTS], g_fills, served), zeros, zeros)

    # Inputs: input_activation_reg <- (glb) <- DRAM
    disp = n.unit_disp(a_i)
    f_ireg = n.fills(IREG, a_i, disp)
    valid &= n.tile(IREG, a_i) <= reg_depth
    put(IREG, INPUTS, cyc, f_ireg, zeros)
    served = f_ireg * n.distinct_children(disp)
    g_reads, g_fills = through_glb(INPUTS, a_i, disp, served)
    put(GLB, INPUTS, g_reads, g_fills, zeros)
    put(DRAM, INPUTS, np.where(keep[:, INPUTS], g_fills, served), zeros, zeros)

    # Outputs: output_activation_reg -> (glb) -> DRAM, read-modify-write with first-read elision
    disp = n.unit_disp(a_o)
    f_oreg = n.fills(OREG, a_o, disp)
    valid &= n.tile(OREG, a_o) <= reg_depth
    own = np.prod(n.extent(n.totals_temporal, a_o), axis=1)
    whole = np.prod(n.extent(n.totals, a_o), axis=1)
    put(OREG, OUTPUTS, cyc - own, f_oreg, cyc)
    served = f_oreg * n.distinct_children(disp)
    g_updates, g_fills = through_glb(OUTPUTS, a_o, disp, served)
    k = keep[:, OUTPUTS]
    put(GLB, OUTPUTS, np.where(k, g_updates - whole, 0.0), g_fills, g_updates)
    d_updates = np.where(k, g_fills, served)
    put(DRAM, OUTPUTS, d_updates - whole, zeros, d_updates)

    valid &= glb_tiles <= glb.depth_words
    valid &= inst <= arch.pe_array.x * arch.pe_array.y

    # Energy: ceil(count / block) vector accesses per instance, per tensor and action.
    prices = {
        "DRAM": (arch.dram.block_words, arch.dram.read_pj, arch.dram.fill_pj, arch.dram.update_pj),
        "shared_glb": (glb.block_words, glb.read_pj, glb.fill_pj, glb.update_pj),
        "pe_spad": (1, arch.weight_spad.read_pj, arch.weight_spad.fill_pj, arch.weight_spad.fill_pj),
    }
    reg = (1, arch.registers.read_pj, arch.registers.fill_pj, arch.registers.update_pj)
    level_energy = {"mac": cyc * inst * arch.mac.energy_pj}
    for (level, tensor, action), count in counts.items():
        block, e_read, e_fill, e_update = prices.get(level, reg)
        price = {"reads": e_read, "fills": e_fill, "updates": e_update}[action]
        copies = 1.0 if level in ("DRAM", "shared_glb") else inst
        level_energy[level] = level_energy.get(level, 0.0) + _ceil_blocks(count, block) * price * copies
    energy = sum(level_energy.values())

    glb_reads = sum(counts[("shared_glb", t, "reads")] for t in TENSORS)
    glb_writes = sum(counts[("shared_glb", t, a)] for t in TENSORS for a in ("fills", "updates"))
    stretch = np.maximum(1.0, np.maximum(glb_reads / (glb.read_bandwidth * cyc),
                                         glb_writes / (glb.write_bandwidth * cyc)))
    cycles = np.ceil(cyc * stretch - 1e-9)
    return Evaluation(valid=valid, cycles=cycles, compute_cycles=cyc, energy_pj=energy, instances=inst,
                      level_energy=level_energy, counts=counts)
