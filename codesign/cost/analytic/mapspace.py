"""The constrained mapspace of the weight-stationary template, enumerated as NestBatch arrays.

Constraints (the lab's, ../shared/reference/README.md section 4): R and S loops live only in the PE
scratchpad (or, for depthwise layers, also on the PE array); the scratchpad iterates P innermost, then
Q, R, S, then the rest; the registers hold one word; dense layers spread C over the array's columns and
M over its rows with exact divisors; depthwise layers may spread C, P, Q, R, S over either axis.

Choices that cannot change any count are enumerated once: P/Q loops in weight_reg count exactly like
the scratchpad's innermost P/Q loops, so they stay in the scratchpad; and within a level only the
order of the loops whose bound exceeds 1 matters, so one permutation per distinct order is generated.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from functools import cache

import numpy as np

from codesign.arch import Arch
from codesign.cost.analytic.nest import DRAM, GLB, SPAD, SPATIAL, C, M, N, NestBatch, P, Q, R, S
from codesign.workload import Layer


def divisors(n: int) -> list[int]:
    """Divisors of n in increasing order."""
    return [d for d in range(1, n + 1) if n % d == 0]


@cache
def ordered_splits(n: int, parts: int) -> np.ndarray:
    """All (parts,)-tuples of positive integers whose product is n, as a (k, parts) array."""
    if parts == 1:
        return np.array([[n]])
    rows = [
        np.concatenate([np.full((len(rest), 1), d), rest], axis=1)
        for d in divisors(n)
        for rest in [ordered_splits(n // d, parts - 1)]
    ]
    return np.concatenate(rows, axis=0)


def _indexing(depthwise: bool) -> tuple[frozenset, ...]:
    """Dimensions that index Weights, Inputs, Outputs (R and S never sit at DRAM or the buffer)."""
    if depthwise:
        return frozenset({C}), frozenset({N, C, P, Q}), frozenset({N, C, P, Q})
    return frozenset({C, M}), frozenset({N, C, P, Q}), frozenset({N, M, P, Q})


def _reuse_signature(order: list[int], indexing: tuple[frozenset, ...]) -> tuple:
    """For each tensor, the innermost run of loops that do not move it (the only reuse an order gives)."""
    signature = []
    for index in indexing:
        run = []
        for dim in reversed(order):
            if dim in index:
                break
            run.append(dim)
        signature.append(frozenset(run))
    return tuple(signature)


@cache
def _orders(dims: tuple[int, ...], nontrivial: tuple[bool, ...], depthwise: bool, every: bool) -> np.ndarray:
    """Loop orders (outer to inner, as positions into `dims`) worth evaluating for one level.

    Only loops with a bound above 1 are permuted. Unless `every`, orders with the same reuse signature
    are evaluated once: where no tile partially overlaps the previous one, that signature fixes every
    count. Sliding input windows at the global buffer need `every` for the DRAM level.
    """
    k = len(nontrivial)
    active = [i for i in range(k) if nontrivial[i]]
    idle = [i for i in range(k) if not nontrivial[i]]
    orders, seen = [], set()
    indexing = _indexing(depthwise)
    for order in itertools.permutations(active):
        if not every:
            signature = _reuse_signature([dims[i] for i in order], indexing)
            if signature in seen:
                continue
            seen.add(signature)
        orders.append(idle + list(order))
    return np.array(orders)


@dataclass(frozen=True)
class SpatialChoice:
    """Factors spread over the PE array: dim -> (factor, axis 'x' or 'y')."""

    factors: tuple[tuple[int, int, str], ...]

    @property
    def product(self) -> int:
        return math.prod(f for _, f, _ in self.factors)

    def factor(self, dim: int) -> int:
        """The factor of `dim` spread over the array (1 when it is not)."""
        return math.prod(f for d, f, _ in self.factors if d == dim)


def spatial_choices(layer: Layer, arch: Arch) -> list[SpatialChoice]:
    """Every legal PE-array assignment, largest parallelism first."""
    x, y = arch.pe_array.x, arch.pe_array.y
    out: list[SpatialChoice] = []
    if not layer.depthwise:
        for cx in divisors(layer.C):
            for my in divisors(layer.M):
                if cx <= x and my <= y:
                    out.append(SpatialChoice(((C, cx, "x"), (M, my, "y"))))
    else:
        sizes = {C: layer.C, P: layer.P, Q: layer.Q, R: layer.R, S: layer.S}
        options = []
        for dim, size in sizes.items():
            options.append([(dim, 1, "x")] + [(dim, f, ax) for f in divisors(size)[1:] for ax in "xy"])
        for combo in itertools.product(*options):
            px = math.prod(f for _, f, ax in combo if ax == "x")
            py = math.prod(f for _, f, ax in combo if ax == "y")
            if px <= x and py <= y:
                out.append(SpatialChoice(tuple(c for c in combo if c[1] > 1)))
    out.sort(key=lambda s: -s.product)
    return out


def spatial_table(layer: Layer, arch: Arch) -> tuple[np.ndarray, np.ndarray]:
    """spatial_choices as arrays, in the same order: (choices, 7) factors per dimension (DIMS order) and
    whether each dimension's factor goes on the array's X axis (a thousand depthwise choices in a millisecond)."""
    x, y = arch.pe_array.x, arch.pe_array.y
    if layer.depthwise:
        sizes = {C: layer.C, P: layer.P, Q: layer.Q, R: layer.R, S: layer.S}
    else:
        sizes = {C: layer.C, M: layer.M}
    dims, factors, on_x = [], [], []
    for dim, size in sizes.items():
        if layer.depthwise:  # a factor of 1, then every other divisor on X and on Y
            options = [(1, True)] + [(f, ax) for f in divisors(size)[1:] for ax in (True, False)]
        else:  # dense layers: C over the columns, M over the rows
            options = [(f, dim == C) for f in divisors(size)]
        dims.append(dim)
        factors.append(np.array([f for f, _ in options], dtype=np.int64))
        on_x.append(np.array([ax for _, ax in options], dtype=bool))
    grids = [g.ravel() for g in np.meshgrid(*[np.arange(len(f)) for f in factors], indexing="ij")]
    table = np.ones((len(grids[0]), 7), dtype=np.int64)
    x_axis = np.ones((len(grids[0]), 7), dtype=bool)
    for dim, f, ax, g in zip(dims, factors, on_x, grids):
        table[:, dim], x_axis[:, dim] = f[g], ax[g]
    px = np.prod(np.where(x_axis, table, 1), axis=1)
    py = np.prod(np.where(x_axis, 1, table), axis=1)
    keep = np.flatnonzero((px <= x) & (py <= y))
    keep = keep[np.argsort(-(px * py)[keep], kind="stable")]  # largest parallelism first, as spatial_choices
    return table[keep], x_axis[keep]


def _expand(parts: list[np.ndarray]) -> np.ndarray:
    """Cartesian product of row sets: (a, ka) x (b, kb) ... -> (a*b*..., ka+kb+...)."""
    grids = np.meshgrid(*[np.arange(len(p)) for p in parts], indexing="ij")
    return np.concatenate([p[g.ravel()] for p, g in zip(parts, grids)], axis=1)


def _permuted(
    levels_dims: list[int], block: np.ndarray, depthwise: bool, every: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For rows of per-dim bounds `block` (rows, k), the loop orders worth evaluating.

    Returns the dims and bounds of each expanded row and the index of its source row.
    """
    k = len(levels_dims)
    dims_out, bounds_out, index_out = [], [], []
    masks = block > 1
    keys = masks @ (1 << np.arange(k))
    for key in np.unique(keys):
        rows = np.flatnonzero(keys == key)
        orders = _orders(tuple(levels_dims), tuple(bool(key >> i & 1) for i in range(k)), depthwise, every)
        for order in orders:
            dims_out.append(np.broadcast_to(np.array(levels_dims)[order], (len(rows), k)))
            bounds_out.append(block[rows][:, order])
            index_out.append(rows)
    return np.concatenate(dims_out), np.concatenate(bounds_out), np.concatenate(index_out)


def concatenate(batches: list[NestBatch]) -> NestBatch:
    """Rows of several batches with the same slot layout, as one batch."""
    first = batches[0]
    return NestBatch(
        first.level,
        first.spatial,
        np.concatenate([b.dims for b in batches]),
        np.concatenate([b.bounds for b in batches]),
        np.concatenate([b.glb_keep for b in batches]),
        np.concatenate([b.on_x for b in batches]),
    )


def _tilings(layer: Layer, arch: Arch, spatial: SpatialChoice) -> tuple[dict[int, np.ndarray], dict[int, int]]:
    """Every (DRAM, buffer, scratchpad) split of each outer dimension whose weights fit the scratchpad."""
    sizes = {
        N: layer.N,
        C: layer.C,
        M: 1 if layer.depthwise else layer.M,
        P: layer.P,
        Q: layer.Q,
        R: layer.R,
        S: layer.S,
    }
    outer_dims = [C, P, Q] if layer.depthwise else [C, M, P, Q]
    rest = {d: sizes[d] // spatial.factor(d) for d in sizes}
    # R and S remainders stay in the scratchpad.
    split = _expand([ordered_splits(rest[d], 3) for d in outer_dims])
    per_dim = {d: split[:, 3 * i : 3 * i + 3] for i, d in enumerate(outer_dims)}
    spad_weights = rest[R] * rest[S] * per_dim[C][:, 2] * (1 if layer.depthwise else per_dim[M][:, 2])
    keep = spad_weights <= arch.weight_spad.depth_words
    return {d: v[keep] for d, v in per_dim.items()}, rest


def candidates(layer: Layer, arch: Arch, spatial: SpatialChoice) -> NestBatch:
    """Every mapping of `layer` with the given PE-array assignment (global buffer keeps everything)."""
    per_dim, rest = _tilings(layer, arch, spatial)
    outer_dims = list(per_dim)
    dram = np.stack([per_dim[d][:, 0] for d in outer_dims], axis=1)
    glb = np.stack([per_dim[d][:, 1] for d in outer_dims], axis=1)
    spad_cm = np.stack([per_dim[C][:, 2]] + ([] if layer.depthwise else [per_dim[M][:, 2]]), axis=1)
    spad_pq = np.stack(
        [np.full(len(dram), rest[S]), np.full(len(dram), rest[R]), per_dim[Q][:, 2], per_dim[P][:, 2]], axis=1
    )

    # Permute DRAM loops, then global-buffer loops, then the scratchpad's outer (C, M) loops.
    sliding = layer.Wstride < layer.R or layer.Hstride < layer.S
    d_dims, d_bounds, idx = _permuted(outer_dims, dram, layer.depthwise, every=sliding)
    g_dims, g_bounds, idx2 = _permuted(outer_dims, glb[idx], layer.depthwise, every=False)
    idx = idx[idx2]
    d_dims, d_bounds = d_dims[idx2], d_bounds[idx2]
    cm_dims_order = [C] if layer.depthwise else [C, M]
    s_dims, s_bounds, idx3 = _permuted(cm_dims_order, spad_cm[idx], layer.depthwise, every=False)
    idx = idx[idx3]
    d_dims, d_bounds, g_dims, g_bounds = d_dims[idx3], d_bounds[idx3], g_dims[idx3], g_bounds[idx3]
    temporal = {DRAM: (d_dims, d_bounds), GLB: (g_dims, g_bounds), SPAD: (s_dims, s_bounds)}
    return _assemble(layer, spatial, temporal, spad_pq[idx])


def _assemble(
    layer: Layer, spatial: SpatialChoice, temporal: dict[int, tuple[np.ndarray, np.ndarray]], spad_pq: np.ndarray
) -> NestBatch:
    """The batch: N at DRAM, the permuted DRAM and buffer loops, the array, the scratchpad's loops."""
    (d_dims, d_bounds), (g_dims, g_bounds), (s_dims, s_bounds) = temporal[DRAM], temporal[GLB], temporal[SPAD]
    rows, k = d_dims.shape
    # One slot per dimension that may be spread over the array, so that every choice shares a layout.
    sp_order = [C, P, Q, R, S] if layer.depthwise else [M, C]
    sp_dims = np.broadcast_to(np.array(sp_order), (rows, len(sp_order)))
    sp_bounds = np.broadcast_to(np.array([spatial.factor(d) for d in sp_order]), (rows, len(sp_order)))
    axes = {d: ax for d, _, ax in spatial.factors}
    inner_dims = np.broadcast_to(np.array([S, R, Q, P]), (rows, 4))
    dims = np.concatenate([np.full((rows, 1), N), d_dims, g_dims, sp_dims, s_dims, inner_dims], axis=1)
    bounds = np.concatenate([np.full((rows, 1), layer.N), d_bounds, g_bounds, sp_bounds, s_bounds, spad_pq], axis=1)
    level = np.array([DRAM] * (1 + k) + [GLB] * k + [SPATIAL] * len(sp_order) + [SPAD] * (s_dims.shape[1] + 4))
    on_x = np.zeros(dims.shape, dtype=bool)
    first_sp = 1 + 2 * k
    on_x[:, first_sp : first_sp + len(sp_order)] = [axes.get(d, "x") == "x" for d in sp_order]
    return NestBatch(
        level=level,
        spatial=level == SPATIAL,
        dims=dims,
        bounds=bounds,
        glb_keep=np.ones((rows, 3), dtype=bool),
        on_x=on_x,
    )
