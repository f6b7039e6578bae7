"""timeloop-mapper's mapspace (its `Uber` mapspace) for the weight-stationary template, as Timeloop indexes it.

A mapping ID has four coordinates, each an integer Timeloop decodes in a fixed way:

* IndexFactorization (IF): a mixed-radix number over the problem's dimensions (in the problem file's
  order: C M R S N P Q, or C R S N P Q for depthwise) whose digits pick, per dimension, one way to split
  its bound into one factor per tiling level. The ways are listed in Timeloop's own order (the outermost
  level's factor varies slowest, factors tried in the order 1, n, 2, n/2, ...), with constrained factors
  pinned. A mapper thread owns the IDs congruent to its number modulo the thread count.
* LoopPermutation (LP): per tiling level, innermost first, the dimensions whose factor is 1, then the
  constraint's permutation, then the remaining ones permuted by the level's factoradic digit; the
  levels' digits form a mixed-radix number, innermost level least significant.
* Spatial: where the array's loops switch from X (columns) to Y (rows).
* DatatypeBypass: which tensors each buffer keeps, as the constraints leave it open.

Tiling levels are the storage levels, innermost first, each preceded by a spatial level where the level
fans out to several children (here only the global buffer, to the PE array). Sizes come from the Arch;
the constraints are Timeloop's own YAML targets (codesign.cost.constraints). Everything
that is decoded for many IDs at once is vectorised over rows.
"""

from __future__ import annotations

import itertools
import math
import re
from dataclasses import dataclass
from functools import cache, lru_cache

import numpy as np

from codesign.arch import Arch
from codesign.cost.analytic import core
from codesign.cost.analytic.nest import (
    DIMS,
    DRAM,
    GLB,
    IREG,
    OREG,
    SPAD,
    SPATIAL,
    WREG,
    NestBatch,
)
from codesign.errors import CodesignError
from codesign.workload import Layer

# Storage levels innermost first, with the nest level each one's temporal loops map to.
STORAGE = ("output_activation_reg", "input_activation_reg", "weight_reg", "pe_spad", "shared_glb", "DRAM")
_NEST_LEVEL = {0: OREG, 1: IREG, 2: WREG, 3: SPAD, 4: GLB, 5: DRAM}
GLB_STORAGE = 4
DATASPACES = ("Weights", "Inputs", "Outputs")
_FACTOR = re.compile(r"([A-Za-z]+)\s*=*\s*([0-9]+)")
_MAX_FACTOR = re.compile(r"([A-Za-z]+)\s*<=\s*([0-9]+)")
# Where a dimension sits in a level's pattern (innermost first, in this order): canonical levels list
# every dimension in index order; other levels put unit-factor dimensions (where pruned), then the
# constraint's prefix, then the permuted (free) ones, then the constraint's suffix.
CANONICAL, UNIT, PREFIX, FREE, SUFFIX = range(5)


def problem_dims(layer: Layer) -> tuple[str, ...]:
    """The problem's dimensions in the order Timeloop numbers them (the lab's problem files)."""
    return ("C", "R", "S", "N", "P", "Q") if layer.depthwise else ("C", "M", "R", "S", "N", "P", "Q")


def problem_bounds(layer: Layer) -> dict[str, int]:
    """The loop bound of every problem dimension."""
    return {"C": layer.C, "M": layer.M, "R": layer.R, "S": layer.S, "N": layer.N, "P": layer.P, "Q": layer.Q}


def all_factors(n: int) -> list[int]:
    """Divisors of n in Timeloop's order: 1, n, 2, n/2, ... (pairs up to the square root)."""
    out = []
    for i in range(1, math.isqrt(n) + 1):
        if n % i == 0:
            out.append(i)
            if i * i != n:
                out.append(n // i)
    return out


def _splits(n: int, order: int, factors: tuple[int, ...]) -> list[tuple[int, ...]]:
    """Every way to write n as `order` factors, in Timeloop's recursion order (the last varies slowest):
    for each factor f of the original bound dividing n, the splits of n / f over one level less, then f."""
    memo: dict[tuple[int, int], list[tuple[int, ...]]] = {}  # the recursion meets each (n, order) many times

    def splits(m: int, k: int) -> list[tuple[int, ...]]:
        found = memo.get((m, k))
        if found is None:
            if k <= 1:
                found = [(m,)] if k == 1 else [()]
            else:
                found = [(*rest, f) for f in factors if m % f == 0 for rest in splits(m // f, k - 1)]
            memo[(m, k)] = found
        return found

    return splits(n, order)


def cofactor_table(n: int, levels: int, fixed: dict[int, int], maxima: dict[int, int]) -> np.ndarray:
    """(options, levels): every split of n over the tiling levels, fixed factors pinned, in Timeloop's order."""
    return _cofactor_table(n, levels, tuple(sorted(fixed.items())), tuple(sorted(maxima.items())))


@lru_cache(maxsize=4096)
def _cofactor_table(n: int, levels: int, fixed_items: tuple, maxima_items: tuple) -> np.ndarray:
    fixed, maxima = dict(fixed_items), dict(maxima_items)
    given, partial = {}, 1
    for level in sorted(fixed):
        if n % (fixed[level] * partial) == 0:  # a factor that cannot divide is dropped (Timeloop warns)
            partial *= fixed[level]
            given[level] = fixed[level]
    free, factors = levels - len(given), tuple(all_factors(n))
    if core.enabled():
        table = core.splits(n // partial, free, factors)
    else:
        rows = _splits(n // partial, free, factors)
        table = np.array(rows, dtype=np.int64).reshape(len(rows), free)
    full = np.empty((len(table), levels), dtype=np.int64)  # the pinned factors in their columns
    full[:, [lv for lv in range(levels) if lv not in given]] = table
    for level, factor in given.items():
        full[:, level] = factor
    table = full
    for level, m in maxima.items():
        table = table[table[:, level] <= m]
    table = np.ascontiguousarray(table)
    table.flags.writeable = False  # shared by every mapspace with this bound
    return table


@cache
def permutation_table(k: int) -> np.ndarray:
    """(k!, k): row i is the i-th permutation of range(k) in factoradic (Lehmer) order, as Timeloop's
    Factoradic::Permute produces it (lexicographic)."""
    return np.array(list(itertools.permutations(range(k))), dtype=np.int64).reshape(math.factorial(k), k)


@cache
def permutations_list(k: int) -> list[tuple[int, ...]]:
    """permutation_table(k) as Python tuples (for per-mapping decoding in the walk)."""
    return [tuple(int(i) for i in row) for row in permutation_table(k)]


@cache
def rank_table(k: int) -> np.ndarray:
    """(k!, k): where each of the k items lands in the i-th permutation (the inverse permutations)."""
    return np.argsort(permutation_table(k), axis=1)


_BYPASS_TYPES = ("datatype", "bypass", "bypassing")


def keep_masks(targets: list[dict]) -> np.ndarray:
    """(choices, dataspaces, storage levels): which level keeps which tensor under each keep/bypass choice the
    constraint targets leave open, in the order Timeloop expands its per-tensor 'X' positions."""
    bypass = {t: ["X"] * (len(STORAGE) - 1) + ["1"] for t in range(len(DATASPACES))}
    for target in targets:
        name = target["target"]
        if target["type"] not in _BYPASS_TYPES:
            continue
        if name not in STORAGE:
            raise CodesignError(f"mapspace constraint on unknown level {name!r}")
        for key, char in (("keep", "1"), ("bypass", "0")):
            for tensor in target.get(key) or []:
                bypass[DATASPACES.index(tensor)][STORAGE.index(name)] = char
    masks = [np.ones((len(DATASPACES), len(STORAGE)), dtype=bool)]
    for t in range(len(DATASPACES)):
        for s, char in enumerate(bypass[t]):
            if char in "01":
                for m in masks:
                    m[t, s] = char == "1"
            else:
                kept = [m.copy() for m in masks]
                for m in masks:
                    m[t, s] = False
                for m in kept:
                    m[t, s] = True
                masks = masks + kept
    return np.array(masks)


@dataclass(frozen=True)
class TilingLevel:
    storage: int  # index into STORAGE
    spatial: bool


class Mapspace:
    """Timeloop's mapspace of one layer on one arch under the given constraint targets."""

    def __init__(self, layer: Layer, arch: Arch, targets: list[dict]):
        self.layer = layer
        self.arch = arch
        self.dims = problem_dims(layer)
        self.ndims = len(self.dims)
        bounds = problem_bounds(layer)
        self.bounds = np.array([bounds[d] for d in self.dims], dtype=np.int64)
        self.our_dims = np.array([DIMS.index(d) for d in self.dims])
        fan_x, fan_y = arch.pe_array.x, arch.pe_array.y
        self.fanout = (fan_x, fan_y)
        self.levels: list[TilingLevel] = []
        self.temporal_of: dict[int, int] = {}
        self.spatial_of: dict[int, int] = {}
        for s in range(len(STORAGE)):
            if s == GLB_STORAGE and fan_x * fan_y > 1:
                self.spatial_of[s] = len(self.levels)
                self.levels.append(TilingLevel(s, True))
            self.temporal_of[s] = len(self.levels)
            self.levels.append(TilingLevel(s, False))
        self.nlevels = len(self.levels)
        self.spatial_level = self.spatial_of.get(GLB_STORAGE)
        reg = arch.registers.depth_words
        self.capacity = [reg, reg, reg, arch.weight_spad.depth_words, arch.global_buffer.depth_words, None]
        self._parse(targets)
        self._build()

    # ----- constraints -----

    def _dim(self, name: str, source: str) -> int:
        if name not in self.dims:
            raise CodesignError(f"mapspace constraint {source!r}: dimension {name} is not in the problem")
        return self.dims.index(name)

    def _parse(self, targets: list[dict]) -> None:
        self.fixed: dict[int, dict[int, int]] = {}  # tiling level -> dim -> factor
        self.maxima: dict[int, dict[int, int]] = {}
        self.perms: dict[int, tuple[tuple[int, ...], tuple[int, ...]]] = {}
        self.splits: dict[int, int] = {}
        for target in targets:
            name, kind = target["target"], target["type"]
            if name not in STORAGE:
                raise CodesignError(f"mapspace constraint on unknown level {name!r}")
            storage = STORAGE.index(name)
            if kind in _BYPASS_TYPES:
                continue
            if kind == "temporal":
                level = self.temporal_of[storage]
            elif kind == "spatial":
                if storage not in self.spatial_of:
                    raise CodesignError(f"mapspace constraint: {name} has no spatial fan-out on this arch")
                level = self.spatial_of[storage]
            else:
                raise CodesignError(f"mapspace constraint type {kind!r} is not supported")
            text = str(target.get("factors", "")).split("#")[0]
            for dim_name, value in _FACTOR.findall(text):
                d = self._dim(dim_name, text)
                value = int(value) or int(self.bounds[d])  # 0 means the whole dimension
                if value <= self.bounds[d]:  # Timeloop ignores factors above the bound
                    self.fixed.setdefault(level, {})[d] = value
            for dim_name, value in _MAX_FACTOR.findall(text):
                self.maxima.setdefault(level, {})[self._dim(dim_name, text)] = int(value)
            perm = str(target.get("permutation", "")).split("#")[0].replace(" ", "")
            if perm:
                prefix, _, suffix = perm.partition("_")
                self.perms[level] = (
                    tuple(self._dim(c, perm) for c in prefix),
                    tuple(self._dim(c, perm) for c in suffix),
                )
            if kind == "spatial" and "split" in target:
                self.splits[level] = int(target["split"])
        self.keep_masks = keep_masks(targets)  # (choices, dataspaces, storage levels)
        varies = self.keep_masks.any(axis=0) & ~self.keep_masks.all(axis=0)
        if np.any(np.delete(varies, GLB_STORAGE, axis=1)):
            raise CodesignError("only the global buffer's keep/bypass may be left to the mapper on this template")
        self.n_keep = len(self.keep_masks)

    # ----- the subspaces -----

    def _build(self) -> None:
        self.tables = [
            cofactor_table(
                int(self.bounds[d]),
                self.nlevels,
                {lv: f[d] for lv, f in self.fixed.items() if d in f},
                {lv: m[d] for lv, m in self.maxima.items() if d in m},
            )
            for d in range(self.ndims)
        ]
        self.options = np.array([len(t) for t in self.tables], dtype=np.int64)
        self.if_size = math.prod(int(o) for o in self.options)
        if self.if_size >= 2**62:
            raise CodesignError(f"layer {self.layer.shape}: the IndexFactorization space is too large")
        # Per level: where each dimension goes in the pattern when its factor is not 1 (unit-factor
        # dimensions go first on levels that prune them), and its rank within that part.
        d = self.ndims
        self.canonical = np.zeros(self.nlevels, dtype=bool)
        self.prune = np.zeros(self.nlevels, dtype=bool)
        self.part = np.full((self.nlevels, d), FREE)
        self.rank = np.zeros((self.nlevels, d), dtype=np.int64)
        for lv, level in enumerate(self.levels):
            prefix, suffix = self.perms.get(lv, ((), ()))
            if level.spatial:
                canonical = not prefix and not suffix and not (self.fanout[0] > 1 and self.fanout[1] > 1)
            else:
                canonical = lv == 0
            self.canonical[lv] = canonical
            self.prune[lv] = not canonical and lv not in self.splits
            if canonical:
                self.part[lv] = CANONICAL
                self.rank[lv] = np.arange(d)
                continue
            for i, dim in enumerate(prefix):
                self.part[lv, dim], self.rank[lv, dim] = PREFIX, i
            for i, dim in enumerate(suffix):
                self.part[lv, dim], self.rank[lv, dim] = SUFFIX, i
        # The unpruned permutation space (sizes the permutation generator's range).
        free_full = np.sum(self.part == FREE, axis=1)
        self.lp_size_full = math.prod(math.factorial(int(k)) for k in free_full)

    # ----- decoding IDs -----

    def factors(self, if_ids: np.ndarray | list[int]) -> np.ndarray:
        """(n, levels, dims) loop bounds of global IndexFactorization IDs."""
        ids = np.asarray(if_ids, dtype=np.int64)
        out = np.empty((len(ids), self.nlevels, self.ndims), dtype=np.int64)
        for d in range(self.ndims):
            out[:, :, d] = self.tables[d][ids % self.options[d]]
            ids = ids // self.options[d]
        return out

    def parts(self, factors: np.ndarray) -> np.ndarray:
        """(n, levels, dims): which part of its level's pattern each dimension takes for these IFs."""
        unit = (factors == 1) & self.prune[None, :, None]
        return np.where(unit, UNIT, self.part[None])

    def radices(self, parts: np.ndarray) -> np.ndarray:
        """(n, levels): number of permutations of each level (the factorial of its free dimensions)."""
        free = np.sum(parts == FREE, axis=2)
        table = np.array([math.factorial(k) for k in range(self.ndims + 1)], dtype=np.int64)
        return table[free]

    def spatial_subspace(self, factors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(first split, number of splits) per IF: split IDs 0.. map to first + ID loops on X. Timeloop
        starts after the unit-factor dimensions even where the pattern does not put them first (a
        one-row or one-column array keeps the canonical order)."""
        n = len(factors)
        sl = self.spatial_level
        if sl is None:
            return np.zeros(n, dtype=np.int64), np.ones(n, dtype=np.int64)
        if sl in self.splits:
            return np.full(n, self.splits[sl], dtype=np.int64), np.ones(n, dtype=np.int64)
        units = np.sum(factors[:, sl] == 1, axis=1)
        return units, self.ndims + 1 - units

    def orders(
        self,
        factors: np.ndarray,
        parts: np.ndarray,
        radices: np.ndarray,
        lp_ids: np.ndarray | list[int],
        levels: list[int] | None = None,
    ) -> np.ndarray:
        """(n, levels, dims): each level's dimensions, innermost first, under the given permutation IDs
        (only the `levels` asked for are filled in)."""
        n = len(factors)
        lp = np.asarray(lp_ids, dtype=np.int64).copy()
        out = np.zeros((n, self.nlevels, self.ndims), dtype=np.int64)
        dims = np.arange(self.ndims)
        for lv in range(self.nlevels):
            p = parts[:, lv]
            free = p == FREE
            k = free.sum(axis=1)
            digit = lp % radices[:, lv]
            lp //= radices[:, lv]
            if levels is not None and lv not in levels:
                continue
            # Rank inside each part: unit dims by dimension index, constrained ones by the constraint,
            # free ones by the permutation (the j-th free dimension in index order moves to rank_table).
            within = np.where(p == UNIT, dims[None], self.rank[lv][None])
            order_in_free = np.cumsum(free, axis=1) - 1
            for size in np.unique(k):
                rows = np.flatnonzero(k == size)
                if size == 0:
                    continue
                ranks = rank_table(int(size))[digit[rows]]  # (rows, size)
                pick = np.clip(order_in_free[rows], 0, size - 1)
                within[rows] = np.where(free[rows], np.take_along_axis(ranks, pick, axis=1), within[rows])
            out[:, lv] = np.argsort(p * 64 + within, axis=1, kind="stable")
        return out

    def fanout_ok(self, factors: np.ndarray, orders: np.ndarray, splits: np.ndarray) -> np.ndarray:
        """(n,): the array's X and Y loops fit its columns and rows (else construction fails)."""
        sl = self.spatial_level
        if sl is None:
            return np.ones(len(factors), dtype=bool)
        f = np.take_along_axis(factors[:, sl], orders[:, sl], axis=1)
        on_x = np.arange(self.ndims)[None] < np.asarray(splits)[:, None]
        x = np.prod(np.where(on_x, f, 1), axis=1)
        y = np.prod(np.where(on_x, 1, f), axis=1)
        return (x <= self.fanout[0]) & (y <= self.fanout[1])

    def capacity_ok(self, factors: np.ndarray) -> np.ndarray:
        """(n, keep choices): every buffer holds the tiles it keeps (Timeloop's capacity checks)."""
        n = len(factors)
        ok = np.ones((n, self.n_keep), dtype=bool)
        running = np.ones((n, self.ndims), dtype=np.int64)
        lv = 0
        for s, cap in enumerate(self.capacity):
            while lv <= self.temporal_of[s]:
                running = running * factors[:, lv, :]
                lv += 1
            if cap is None:
                continue
            need = self.working_sets(running) @ self.keep_masks[:, :, s].T.astype(np.int64)  # (n, choices)
            ok &= need <= cap
        return ok

    def working_sets(self, totals: np.ndarray) -> np.ndarray:
        """(n, dataspaces) elements of each tensor that loops with these per-dim totals touch."""
        get = {d: totals[:, i] for i, d in enumerate(self.dims)}
        lay = self.layer
        width = (get["R"] - 1) * lay.Wdilation + (get["P"] - 1) * lay.Wstride + 1
        height = (get["S"] - 1) * lay.Hdilation + (get["Q"] - 1) * lay.Hstride + 1
        channels = get["C"] if lay.depthwise else get["M"]
        weights = get["C"] * get["R"] * get["S"] * (1 if lay.depthwise else get["M"])
        return np.stack(
            [weights, get["N"] * get["C"] * width * height, get["N"] * channels * get["P"] * get["Q"]], axis=1
        )

    def nest(
        self, factors: np.ndarray, orders: np.ndarray, splits: np.ndarray | list[int], keep: np.ndarray
    ) -> NestBatch:
        """Mappings as a NestBatch (slots outermost first); `keep` is (n, dataspaces, storage levels)."""
        n, d = len(factors), self.ndims
        slot_level, dims, bounds, on_x = [], [], [], []
        for tl in reversed(range(self.nlevels)):
            level = self.levels[tl]
            order = orders[:, tl, ::-1]  # outer to inner
            slot_level += [SPATIAL if level.spatial else _NEST_LEVEL[level.storage]] * d
            dims.append(self.our_dims[order])
            bounds.append(np.take_along_axis(factors[:, tl], order, axis=1))
            position = np.arange(d - 1, -1, -1)[None]  # index in the innermost-first pattern
            on_x.append((position < np.asarray(splits)[:, None]) if level.spatial else np.zeros((n, d), dtype=bool))
        slots = np.array(slot_level)
        return NestBatch(
            level=slots,
            spatial=slots == SPATIAL,
            dims=np.concatenate(dims, axis=1),
            bounds=np.concatenate(bounds, axis=1),
            glb_keep=keep[:, :, GLB_STORAGE].copy(),
            on_x=np.concatenate(on_x, axis=1),
        )


def compact(space: Mapspace, factors: np.ndarray, order: np.ndarray, split: int, keep: int) -> str:
    """One mapping in Timeloop's `PrintCompact` form (outermost level first, unit loops left out)."""
    mask = space.keep_masks[keep]
    parts = []
    for s in reversed(range(len(STORAGE))):
        text = [f"L{s}[" + "".join(DATASPACES[t][0] for t in range(len(DATASPACES)) if mask[t, s]) + "]"]
        for lv in reversed([lv for lv, level in enumerate(space.levels) if level.storage == s]):
            loops = [(int(d), i) for i, d in enumerate(order[lv]) if factors[lv, d] > 1]
            if space.levels[lv].spatial:
                text += [f"{space.dims[d]}{factors[lv, d]}{'X' if i < split else 'Y'}" for d, i in reversed(loops)]
            else:  # Timeloop puts a unit loop over its last dimension on a temporal level without loops
                text += [f"{space.dims[d]}{factors[lv, d]}" for d, _ in reversed(loops)] or [f"{space.dims[-1]}1"]
        parts.append(" ".join(text))
    return " - ".join(parts)
