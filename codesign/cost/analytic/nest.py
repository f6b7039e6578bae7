"""Timeloop's access counting and energy for batches of mappings on the template, under any dataflow.

A mapping is a loop nest: slots ordered outer to inner, each belonging to a level (DRAM, global buffer
temporal, the buffer's spatial fan-out to the PEs, PE scratchpad, the three PE registers) and holding a
dimension and a bound. A batch shares the slot layout (level and temporal/spatial kind of each slot);
each row has its own dimensions and bounds, so permutations vary per row. Every count follows
../shared/reference/README.md section 11 (dense tensors, first-read elision, axis-aligned tiles):

* fills of a level = its tile plus, for every temporal loop above it, (number of times that loop
  advances) x (elements of the new tile not in the previous one). Loops that do not move the tensor
  add nothing (reuse). Sliding input windows follow Timeloop's extrapolation (`_sliding_fills`): a
  step brings only the new rows or columns when it moves the tile like the innermost loop does.
* the parent of a PE-level buffer serves each distinct child tile once per step (multicast; spatial
  reduction for outputs), so its accesses = child fills x distinct tiles over the PE array. The PE-level
  buffer's own fills are Timeloop's share of those accesses (`multicast_share`): summed per multicast
  factor in floating point and truncated to an integer, which can land one below the exact count.
* outputs: updates = what children send up, reads = updates - partition size.

This is the reference of the counting; the compiled core (native.py, csrc/nest.hpp) repeats it one
mapping at a time, in the same floating-point operation order, for the mappers and the final costing.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from codesign.arch import Arch
from codesign.dataflow import load_dataflow
from codesign.workload import Layer

DIMS = "NCMRSPQ"
N, C, M, R, S, P, Q = range(7)

DRAM, GLB, SPATIAL, SPAD, WREG, IREG, OREG = range(7)
LEVEL_NAMES = {
    DRAM: "DRAM",
    GLB: "shared_glb",
    SPAD: "pe_spad",
    WREG: "weight_reg",
    IREG: "input_activation_reg",
    OREG: "output_activation_reg",
}
TENSORS = ("Weights", "Inputs", "Outputs")
WEIGHTS, INPUTS, OUTPUTS = range(3)
LEVEL_ORDER = ("mac", "output_activation_reg", "input_activation_reg", "weight_reg", "pe_spad", "shared_glb", "DRAM")


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

    level: np.ndarray  # (slots,) level of each slot, outer to inner (non-decreasing)
    spatial: np.ndarray  # (slots,) True for the global buffer's fan-out loops
    dims: np.ndarray  # (rows, slots) dimension index of each loop
    bounds: np.ndarray  # (rows, slots) loop bound (1 = no loop)
    glb_keep: np.ndarray  # (rows, 3) whether the global buffer keeps Weights, Inputs, Outputs
    on_x: np.ndarray | None = None  # (rows, slots) spatial loops on the array's X axis (else Y)

    def __len__(self) -> int:
        return self.dims.shape[0]

    def rows(self, index: slice | np.ndarray) -> NestBatch:
        """The mappings selected by a slice or index array."""
        return NestBatch(
            self.level,
            self.spatial,
            self.dims[index],
            self.bounds[index],
            self.glb_keep[index],
            None if self.on_x is None else self.on_x[index],
        )

    def row(self, i: int) -> NestBatch:
        """A batch holding only mapping `i`."""
        return self.rows(slice(i, i + 1))

    def loops(self, i: int = 0) -> list[tuple[int, int, int, str]]:
        """Mapping `i` as (level, dim, bound, kind) loops, outer to inner; kind is '', 'X' or 'Y'."""
        out = []
        for s, (lv, sp, d, b) in enumerate(zip(self.level, self.spatial, self.dims[i], self.bounds[i])):
            if b > 1:
                kind = ("X" if self.on_x is None or self.on_x[i, s] else "Y") if sp else ""
                out.append((int(lv), int(d), int(b), kind))
        return out

    def describe(self, i: int = 0) -> str:
        """Mapping `i` as one line, outer to inner, e.g. `DRAM: Q8 | shared_glb[I]: P2 | spatial: M6Y ...`."""
        keep = "".join(t[0] for t, k in zip(TENSORS, self.glb_keep[i]) if k)
        parts: dict[str, list[str]] = {}
        for level, dim, bound, kind in self.loops(i):
            name = "spatial" if level == SPATIAL else LEVEL_NAMES[level]
            parts.setdefault(name, []).append(f"{DIMS[dim]}{bound}{kind}")
        text = []
        for name in (
            "DRAM",
            "shared_glb",
            "spatial",
            "pe_spad",
            "weight_reg",
            "input_activation_reg",
            "output_activation_reg",
        ):
            label = f"shared_glb[{keep or '-'}]" if name == "shared_glb" else name
            if name in parts or name == "shared_glb":
                text.append(f"{label}: {' '.join(parts.get(name, [])) or '-'}")
        return " | ".join(text)


@dataclass
class Evaluation:
    """Per-row results of `evaluate`; `counts` maps (level, tensor, action) to per-instance counts."""

    valid: np.ndarray
    cycles: np.ndarray
    compute_cycles: np.ndarray
    energy_pj: np.ndarray
    level_energy: dict[str, np.ndarray]
    counts: dict[tuple[str, str, str], np.ndarray]
    # What the mapper needs to re-decide the global buffer's keep/bypass without re-evaluating:
    valid_pe: np.ndarray  # every constraint but the global buffer's capacity
    tensor_energy: dict[str, np.ndarray]  # energy of each tensor's accesses (MACs excluded)
    glb_tile: dict[str, np.ndarray]  # the tensor's tile in the global buffer, were it kept
    glb_reads: dict[str, np.ndarray]
    glb_writes: dict[str, np.ndarray]


def _ceil_blocks(count: np.ndarray, block: int) -> np.ndarray:
    return np.ceil(np.maximum(count, 0) / block - 1e-9) if block > 1 else count


class Prepared:
    """Derived per-slot quantities of a batch, shared by all tensors, levels and keep/bypass choices."""

    def __init__(self, layer: Layer, nest: NestBatch):
        self.nest = nest
        self.projections = projections(layer)
        self._memo: dict[tuple, np.ndarray] = {}
        self._offset_memo: dict[int, tuple[np.ndarray, np.ndarray | None, np.ndarray]] = {}
        self.dims = nest.dims.astype(np.int64)
        self.bounds = nest.bounds.astype(np.float64)
        rows, slots = self.dims.shape
        self.temporal = ~nest.spatial
        self.live = np.flatnonzero(np.any(self.bounds > 1, axis=0))  # slots with a loop in some row
        # Walk inner to outer: the step of a loop is the product of the inner loops over its dimension;
        # suffix[i] holds, per dimension, the product of the loops at slots >= i.
        running = np.ones((rows, 7))
        self.step = np.ones((rows, slots))
        boundaries = {self.start(level) for level in LEVEL_NAMES}
        self.suffix = {slots: running.copy()}  # only level boundaries are ever asked for
        temporal_totals = np.ones((rows, 7))
        live = set(self.live.tolist())
        arange = np.arange(rows)
        for slot in range(slots - 1, -1, -1):
            if slot in live:
                dim = self.dims[:, slot]
                self.step[:, slot] = running[arange, dim]
                running = running.copy()
                running[arange, dim] *= self.bounds[:, slot]
                if self.temporal[slot]:
                    temporal_totals[arange, dim] *= self.bounds[:, slot]
            if slot in boundaries:
                self.suffix[slot] = running
        self.suffix.setdefault(0, running)
        self.totals = running
        self.totals_temporal = temporal_totals

    def start(self, level: int) -> int:
        """The first slot of `level` in the nest."""
        return int(np.searchsorted(self.nest.level, level))

    def memo(self, key: tuple, compute: Callable[[], np.ndarray]) -> np.ndarray:
        """`compute()` once per key: tiles and fills are shared by tensors, levels and keep choices."""
        if key not in self._memo:
            self._memo[key] = compute()
        return self._memo[key]

    def unit_disp(self, tensor: int) -> np.ndarray:
        """(slots, coords, rows): how far one step of each loop moves the tensor's tile."""
        return self.memo(
            ("disp", tensor),
            lambda: np.ascontiguousarray(
                (self.projections[tensor].T[self.dims] * self.step[..., None]).transpose(1, 2, 0)
            ),
        )

    @staticmethod
    def extent(totals: np.ndarray, a: np.ndarray) -> np.ndarray:
        """Axis-aligned footprint per coordinate of loops whose bounds multiply to `totals`."""
        return 1.0 + (totals - 1.0) @ a.T

    def tile(self, level: int, tensor: int) -> np.ndarray:
        """Elements of the tensor one instance of `level` holds (its tile)."""
        a = self.projections[tensor]
        return self.memo(
            ("tile", level, tensor), lambda: np.prod(self.extent(self.suffix[self.start(level)], a), axis=1)
        )

    def fills(self, level: int, tensor: int) -> np.ndarray:
        """Words delivered to one instance of `level` over the layer (first tile included)."""
        return self.memo(("fills", level, tensor), lambda: self._fills(level, tensor))

    def _fills(self, level: int, tensor: int) -> np.ndarray:
        a = self.projections[tensor]
        if np.all(np.count_nonzero(a, axis=1) <= 1):
            return self._run_fills(level, tensor)
        return self._sliding_fills(level, tensor)

    def _run_fills(self, level: int, tensor: int) -> np.ndarray:
        """Fills of a tensor whose coordinates each follow one dimension (Weights, Outputs).

        Every loop above a level steps such a tile by a multiple of its own size, so consecutive tiles
        are equal or disjoint: fills = tile x (loops above) / (innermost run of loops not moving it).
        """
        st = self.start(level)
        tile = self.tile(level, tensor)
        indexing = np.flatnonzero(np.any(self.projections[tensor] != 0, axis=0))
        total, run = np.ones_like(tile), np.ones_like(tile)
        in_run = np.ones(len(tile), dtype=bool)
        for j in reversed([j for j in self.live if j < st and self.temporal[j]]):
            bound = self.bounds[:, j]
            total = total * bound
            in_run &= ~(np.isin(self.dims[:, j], indexing) & (bound > 1))
            run = np.where(in_run, run * bound, run)
        return tile * (total / run)

    def _sliding_fills(self, level: int, tensor: int) -> np.ndarray:
        """Fills of a tensor whose tiles can partially overlap (sliding input windows), as Timeloop counts them.

        Timeloop's nest analysis runs only iterations 0 and 1 of every loop and extrapolates the others,
        and it drops its sliding-window state whenever a tile moves by a different step than the one
        before. Over the binary sequence of sampled iterations, the innermost (non-unit) loop above the
        level, K, always steps by its own displacement t_K; any outer loop j steps by
        tau_j = t_j - (sum of the displacements of the non-unit loops inside it), coming from their
        iteration 1, not their last. Such a step brings only the new part of the tile when tau_j equals
        t_K and the whole tile otherwise. Loop j's steps happen (n_j - 1) x (loops outside j) times.
        """
        a, disp = self.projections[tensor], self.unit_disp(tensor)
        st = self.start(level)
        ext = self.extent(self.suffix[st], a).T.copy()  # (coords, rows)
        tile = np.prod(ext, axis=0)
        above = [j for j in self.live if j < st and self.temporal[j]]
        if not above:
            return tile

        def new_part(step: np.ndarray) -> np.ndarray:
            return tile - np.prod(np.maximum(0.0, ext - np.abs(step)), axis=0)

        outers, outer = [], np.ones_like(tile)  # product of the loops enclosing each j
        for j in above:
            outers.append(outer)
            outer = outer * self.bounds[:, j]
        fills = tile.copy()
        inner_sum = np.zeros_like(ext)  # displacements of the non-unit loops inside j
        step_k = np.zeros_like(ext)  # displacement of the innermost non-unit loop
        seen = np.zeros(len(tile), dtype=bool)
        for n in range(len(above) - 1, -1, -1):
            j = above[n]
            real = self.bounds[:, j] > 1
            t = disp[j]
            tau = t - inner_sum
            same = np.all(tau == step_k, axis=0)
            brought = np.where(seen, np.where(same, new_part(tau), tile), new_part(t))
            fills += np.where(real, (self.bounds[:, j] - 1.0) * outers[n] * brought, 0.0)
            step_k = np.where(real & ~seen, t, step_k)
            seen |= real
            inner_sum = inner_sum + np.where(real, t, 0.0)
        return fills

    def distinct_children(self, tensor: int) -> np.ndarray:
        """Distinct child tiles over the PE array (multicast / reduction groups) per row."""
        return self._offsets(tensor)[0]

    def multicast_share(self, tensor: int, fills: np.ndarray) -> np.ndarray:
        """What Timeloop counts as the fills of the PE-level buffer just below the fan-out, given its `fills`.

        Timeloop's parent access share: per multicast factor m (ascending), (parent accesses at m) x m /
        fan-out, summed in floating point, then truncated to an integer. Where every PE's offset is distinct
        up to the loops that do not move the tensor (one term) this is `fills` exactly; where input windows
        overlap across the array (several factors) the rounded sum can fall just short, e.g. 127 for 128.
        """
        _, groups, pes = self._offsets(tensor)
        if groups is None:
            return fills
        share = np.zeros_like(fills)
        for k in range(groups.shape[1]):
            multicast, count = groups[:, k, 0], groups[:, k, 1]
            share = share + (count * fills * multicast) / pes
        return np.where(np.isnan(groups[:, 0, 0]), fills, np.floor(share))

    def _offsets(self, tensor: int) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
        """(distinct child tiles, (rows, k, [multicast, groups]) per multicast factor or None, PEs) per row."""
        if tensor not in self._offset_memo:
            self._offset_memo[tensor] = self._distinct_children(tensor)
        return self._offset_memo[tensor]

    def _distinct_children(self, tensor: int) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
        sp = self.nest.spatial
        rows = len(self.bounds)
        if not sp.any():
            return np.ones(rows), None, np.ones(rows)
        bounds = self.bounds[:, sp]
        pes = np.prod(bounds, axis=1)
        # (rows, spatial slots, coords): where each spatial index puts the child's tile
        sdisp = self.projections[tensor].T[self.dims[:, sp]] * self.step[:, sp, None]
        moving = (bounds > 1) & np.any(sdisp != 0, axis=2)
        per_coord = np.sum(moving[..., None] & (sdisp != 0), axis=1)
        simple = np.all(per_coord <= 1, axis=1)
        result = np.prod(np.where(moving, bounds, 1.0), axis=1)
        if simple.all():
            return result, None, pes
        idx = np.flatnonzero(~simple)
        keys = np.concatenate([bounds[idx], sdisp[idx].reshape(len(idx), -1)], axis=1)
        uniq, inverse = np.unique(keys, axis=0, return_inverse=True)
        found = [_count_offsets(k[: bounds.shape[1]], k[bounds.shape[1] :].reshape(bounds.shape[1], -1)) for k in uniq]
        result[idx] = np.array([count for count, _ in found])[inverse.ravel()]
        # Rows with one multicast factor keep their fills (NaN marks them); the others list theirs, padded
        # with zero groups (adding 0.0 changes no sum).
        width = max(len(hist) for _, hist in found)
        table = np.zeros((len(uniq), width, 2))
        for u, (_, hist) in enumerate(found):
            table[u, : len(hist)] = hist
        groups = np.full((rows, width, 2), np.nan)
        groups[idx] = table[inverse.ravel()]
        return result, groups, pes


_OFFSET_COUNTS: dict[bytes, tuple[int, list[tuple[int, int]]]] = {}  # spatial layouts recur across batches


def _count_offsets(bounds: np.ndarray, disp: np.ndarray) -> tuple[int, list[tuple[int, int]]]:
    """Distinct offsets of a spatial layout, and (multicast factor, offsets with it) by ascending factor."""
    key = bounds.tobytes() + disp.tobytes()
    found = _OFFSET_COUNTS.get(key)
    if found is None:
        grid = np.array(list(itertools.product(*(range(int(b)) for b in bounds))), dtype=np.float64)
        _, per_offset = np.unique(grid @ disp, axis=0, return_counts=True)
        factors, groups = np.unique(per_offset, return_counts=True)
        found = _OFFSET_COUNTS[key] = (len(per_offset), [(int(m), int(g)) for m, g in zip(factors, groups)])
    return found


PE_STORAGE = (OREG, IREG, WREG, SPAD)  # the buffers inside each PE, innermost first


@functools.cache
def pe_chains(dataflow: str, depthwise: bool) -> tuple[tuple[int, ...], ...]:
    """Per tensor, the PE-level buffers that keep it, innermost first, as the dataflow's keep/bypass targets
    say (the lab's ws: Weights in weight_reg and pe_spad, Inputs and Outputs in their registers only)."""
    df = load_dataflow(dataflow)
    kept = {level: df.keeps(LEVEL_NAMES[level], depthwise) for level in PE_STORAGE}
    return tuple(tuple(level for level in PE_STORAGE if name in kept[level]) for name in TENSORS)


def _pe_valid(n: Prepared, arch: Arch, instances: np.ndarray, chains: tuple[tuple[int, ...], ...]) -> np.ndarray:
    """Every capacity constraint but the global buffer's: registers, scratchpad, PE count."""
    capacity = {level: arch.registers.depth_words for level in PE_STORAGE}
    capacity[SPAD] = arch.weight_spad.depth_words
    valid = instances <= arch.pe_array.count
    for level in PE_STORAGE:
        kept = [t for t in range(len(TENSORS)) if level in chains[t]]
        if kept:
            valid &= sum((n.tile(level, t) for t in kept), np.zeros(len(instances))) <= capacity[level]
    return valid


def access_counts(
    n: Prepared, keep: np.ndarray, cycles: np.ndarray, chains: tuple[tuple[int, ...], ...]
) -> dict[tuple[str, str, str], np.ndarray]:
    """Per-instance reads, fills and updates of every (level, tensor), as Timeloop counts them.

    Each tensor runs up its chain: the PE-level buffers `chains` names (innermost first), then the global
    buffer where `keep` says, then DRAM. A parent serves each fill of its child; across the array's fan-out,
    once per distinct child tile. Outputs are read-modify-write with first-read elision.
    """
    counts: dict[tuple[str, str, str], np.ndarray] = {}
    zeros = np.zeros(len(cycles))

    def put(level: int, tensor: int, reads: np.ndarray, fills: np.ndarray, updates: np.ndarray) -> None:
        name, t = LEVEL_NAMES[level], TENSORS[tensor]
        counts[(name, t, "reads")] = reads
        counts[(name, t, "fills")] = fills
        counts[(name, t, "updates")] = updates

    a_o = n.projections[OUTPUTS]
    own = np.prod(n.extent(n.totals_temporal, a_o), axis=1)  # outputs one PE touches (its partition)
    whole = np.prod(n.extent(n.totals, a_o), axis=1)
    for t in range(len(TENSORS)):
        served = cycles  # the MAC reads (and for Outputs updates) its innermost buffer once per cycle
        for i, level in enumerate(chains[t]):
            fills = n.fills(level, t)
            # The outermost PE-level buffer is filled across the fan-out: Timeloop's share, truncated.
            counted = n.multicast_share(t, fills) if i == len(chains[t]) - 1 else fills
            if t == OUTPUTS:
                put(level, t, served - own, counted, served)
            else:
                put(level, t, served, counted, zeros)
            served = fills
        served = served * n.distinct_children(t)
        k = keep[:, t]
        g_served, g_fills = np.where(k, served, 0.0), np.where(k, n.fills(GLB, t), 0.0)
        if t == OUTPUTS:
            put(GLB, t, np.where(k, g_served - whole, 0.0), g_fills, g_served)
            d_updates = np.where(k, g_fills, served)
            put(DRAM, t, d_updates - whole, zeros, d_updates)
        else:
            put(GLB, t, g_served, g_fills, zeros)
            put(DRAM, t, np.where(k, g_fills, served), zeros, zeros)
    return counts


def _energies(
    counts: dict[tuple[str, str, str], np.ndarray], arch: Arch, macs: np.ndarray, instances: np.ndarray
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Energy per level and per tensor: ceil(count / block) vector accesses per instance, tensor and action."""
    glb = arch.global_buffer
    prices = {
        "DRAM": (arch.dram.block_words, arch.dram.read_pj, arch.dram.fill_pj, arch.dram.update_pj),
        "shared_glb": (glb.block_words, glb.read_pj, glb.fill_pj, glb.update_pj),
        "pe_spad": (1, arch.weight_spad.read_pj, arch.weight_spad.fill_pj, arch.weight_spad.fill_pj),
    }
    reg = (1, arch.registers.read_pj, arch.registers.fill_pj, arch.registers.update_pj)
    level_energy = {"mac": macs * arch.mac.energy_pj}
    tensor_energy = {t: np.zeros(len(macs)) for t in TENSORS}
    for (level, tensor, action), count in counts.items():
        block, e_read, e_fill, e_update = prices.get(level, reg)
        price = {"reads": e_read, "fills": e_fill, "updates": e_update}[action]
        copies = 1.0 if level in ("DRAM", "shared_glb") else instances
        pj = _ceil_blocks(count, block) * price * copies
        level_energy[level] = level_energy.get(level, 0.0) + pj
        tensor_energy[tensor] = tensor_energy[tensor] + pj
    return level_energy, tensor_energy


def evaluate(
    layer: Layer, arch: Arch, nest: NestBatch, glb_keep: np.ndarray | None = None, prepared: Prepared | None = None
) -> Evaluation:
    """Cycles, energy and per-level access counts of every mapping in `nest`.

    `glb_keep` overrides the batch's keep/bypass choice; `prepared` reuses the loop-nest analysis of
    an earlier call on the same batch (the mapper evaluates each nest with several keep choices).
    """
    n = prepared or Prepared(layer, nest)
    cyc = n.totals_temporal.prod(axis=1)
    inst = np.prod(np.where(nest.spatial, n.bounds, 1.0), axis=1)
    keep = np.broadcast_to(nest.glb_keep if glb_keep is None else glb_keep, (len(nest), 3)).astype(bool)
    chains = pe_chains(arch.dataflow, layer.depthwise)
    valid = _pe_valid(n, arch, inst, chains)
    counts = access_counts(n, keep, cyc, chains)
    glb_tile = {name: n.tile(GLB, t) for t, name in enumerate(TENSORS)}
    kept_tiles = sum(np.where(keep[:, t], glb_tile[name], 0.0) for t, name in enumerate(TENSORS))
    level_energy, tensor_energy = _energies(counts, arch, cyc * inst, inst)
    glb_reads = {t: counts[("shared_glb", t, "reads")] for t in TENSORS}
    glb_writes = {t: counts[("shared_glb", t, "fills")] + counts[("shared_glb", t, "updates")] for t in TENSORS}
    return Evaluation(
        valid=valid & (kept_tiles <= arch.global_buffer.depth_words),
        cycles=stretched_cycles(cyc, [glb_reads[t] for t in TENSORS], [glb_writes[t] for t in TENSORS], arch),
        compute_cycles=cyc,
        energy_pj=sum(level_energy.values(), np.zeros(len(cyc))),
        level_energy=level_energy,
        counts=counts,
        valid_pe=valid,
        tensor_energy=tensor_energy,
        glb_tile=glb_tile,
        glb_reads=glb_reads,
        glb_writes=glb_writes,
    )


def stretched_cycles(
    compute_cycles: np.ndarray, glb_reads: Sequence[np.ndarray], glb_writes: Sequence[np.ndarray], arch: Arch
) -> np.ndarray:
    """Cycles once the global buffer's read/write bandwidth (words per cycle) is respected.

    `glb_reads` and `glb_writes` are per-tensor sequences (Weights, Inputs, Outputs). The arithmetic is
    Timeloop's, operation for operation (per-tensor words per cycle summed in tensor order, a slowdown
    factor, then ceil(cycles / slowdown)), so cycles that land on an integer round the same way.
    """
    glb = arch.global_buffer
    compute_cycles = np.asarray(compute_cycles, dtype=np.float64)
    slowdown = np.ones_like(compute_cycles)
    for words, bandwidth in ((glb_reads, glb.read_bandwidth), (glb_writes, glb.write_bandwidth)):
        demand = np.zeros_like(compute_cycles)
        for tensor_words in words:
            demand = demand + np.asarray(tensor_words, dtype=np.float64) / compute_cycles
        with np.errstate(divide="ignore"):
            slowdown = np.where(bandwidth < demand, np.minimum(slowdown, bandwidth / demand), slowdown)
    return np.ceil(compute_cycles / slowdown)
