"""timeloop-mapper's mapspace (its `Uber` mapspace) for the weight-stationary template, as Timeloop indexes it.

A mapping ID has four coordinates, each an integer Timeloop decodes in a fixed way:

* IndexFactorization (IF): a mixed-radix number over the problem's dimensions (in the problem file's
  order: C M R S N P Q, or C R S N P Q for depthwise) whose digits pick, per dimension, one way to split
  its bound into one factor per tiling level. The ways are listed in Timeloop's own order (the outermost
  level's factor varies slowest, factors tried in the order 1, n, 2, n/2, ...), with constrained factors
  pinned. A mapper thread owns the IDs congruent to its number modulo the thread count.
* LoopPermutation (LP): per tiling level, innermost first, the dimensions whose factor is 1, then the
  constraint's permutation, then the remaining ones permuted by the level's factoradic digit.
* Spatial: where the array's loops switch from X (columns) to Y (rows).
* DatatypeBypass: which tensors each buffer keeps, as the constraints leave it open.

Tiling levels are the storage levels, innermost first, each preceded by a spatial level where the level
fans out to several children (here only the global buffer, to the PE array). Sizes come from the Arch;
the constraints are Timeloop's own YAML targets (codesign.cost.external.timeloop.constraints).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from codesign.arch import Arch
from codesign.cost.analytic.nest import DIMS, DRAM, GLB, IREG, OREG, SPAD, SPATIAL, WREG, NestBatch
from codesign.errors import CodesignError
from codesign.workload import Layer

# Storage levels innermost first, with the nest level each one's temporal loops map to.
STORAGE = ("output_activation_reg", "input_activation_reg", "weight_reg", "pe_spad", "shared_glb", "DRAM")
_NEST_LEVEL = {0: OREG, 1: IREG, 2: WREG, 3: SPAD, 4: GLB, 5: DRAM}
_GLB = 4
DATASPACES = ("Weights", "Inputs", "Outputs")
_FACTOR = re.compile(r"([A-Za-z]+)\s*=*\s*([0-9]+)")
_MAX_FACTOR = re.compile(r"([A-Za-z]+)\s*<=\s*([0-9]+)")


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


def _splits(n: int, order: int, factors: tuple[int, ...]) -> list[list[int]]:
    """Every way to write n as `order` factors, in Timeloop's recursion order (the last varies slowest)."""
    if order == 0:
        return [[]]
    if order == 1:
        return [[n]]
    out = []
    for f in factors:
        if n % f == 0:
            out.extend(rest + [f] for rest in _splits(n // f, order - 1, factors))
    return out


def cofactor_table(n: int, levels: int, fixed: dict[int, int], maxima: dict[int, int]) -> np.ndarray:
    """(options, levels): every split of n over the tiling levels, fixed factors pinned, in Timeloop's order."""
    given, partial = {}, 1
    for level in sorted(fixed):
        if n % (fixed[level] * partial) == 0:  # a factor that cannot divide is dropped (Timeloop warns)
            partial *= fixed[level]
            given[level] = fixed[level]
    rows = _splits(n // partial, levels - len(given), tuple(all_factors(n)))
    for row in rows:
        for level in sorted(given):
            row.insert(level, given[level])
    rows = [r for r in rows if all(r[level] <= m for level, m in maxima.items())]
    return np.array(rows, dtype=np.int64).reshape(len(rows), levels)


@lru_cache(maxsize=None)
def _factorial(n: int) -> int:
    return math.factorial(n)


@dataclass(frozen=True)
class TilingLevel:
    storage: int   # index into STORAGE
    spatial: bool


@dataclass
class LevelPattern:
    """One tiling level's permutation template (dimension indices, innermost first)."""

    canonical: bool
    prefix: tuple[int, ...]   # the constraint's permutation before `_`
    suffix: tuple[int, ...]   # ... and after it
    prune: bool               # unit-factor dimensions go first (not for levels with a fixed spatial split)


class Mapspace:
    """Timeloop's mapspace of one layer on one arch under the lab's constraints."""

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
            if s == _GLB and fan_x * fan_y > 1:
                self.spatial_of[s] = len(self.levels)
                self.levels.append(TilingLevel(s, True))
            self.temporal_of[s] = len(self.levels)
            self.levels.append(TilingLevel(s, False))
        self.nlevels = len(self.levels)
        self.spatial_level = self.spatial_of.get(_GLB)
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
        self.fixed: dict[int, dict[int, int]] = {}     # tiling level -> dim -> factor
        self.maxima: dict[int, dict[int, int]] = {}
        self.perms: dict[int, tuple[tuple[int, ...], tuple[int, ...]]] = {}
        self.splits: dict[int, int] = {}
        bypass = {t: ["X"] * (len(STORAGE) - 1) + ["1"] for t in range(len(DATASPACES))}
        for target in targets:
            name, kind = target["target"], target["type"]
            if name not in STORAGE:
                raise CodesignError(f"mapspace constraint on unknown level {name!r}")
            storage = STORAGE.index(name)
            if kind in ("datatype", "bypass", "bypassing"):
                for key, char in (("keep", "1"), ("bypass", "0")):
                    for tensor in target.get(key) or []:
                        bypass[DATASPACES.index(tensor)][storage] = char
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
                if value <= self.bounds[d]:                # Timeloop ignores factors above the bound
                    self.fixed.setdefault(level, {})[d] = value
            for dim_name, value in _MAX_FACTOR.findall(text):
                self.maxima.setdefault(level, {})[self._dim(dim_name, text)] = int(value)
            perm = str(target.get("permutation", "")).split("#")[0].replace(" ", "")
            if perm:
                prefix, _, suffix = perm.partition("_")
                self.perms[level] = (tuple(self._dim(c, perm) for c in prefix),
                                     tuple(self._dim(c, perm) for c in suffix))
            if kind == "spatial" and "split" in target:
                self.splits[level] = int(target["split"])
        # Keep/bypass choices, in the order Timeloop expands its per-tensor 'X' positions.
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
        self.keep_masks = np.array(masks)  # (choices, dataspaces, storage levels)
        free = self.keep_masks.any(axis=0) & ~self.keep_masks.all(axis=0)
        if free.any() and not np.all(np.flatnonzero(free.any(axis=0)) == _GLB):
            raise CodesignError("only the global buffer's keep/bypass may be left to the mapper on this template")

    # ----- the subspaces -----

    def _build(self) -> None:
        self.tables = [cofactor_table(int(self.bounds[d]), self.nlevels,
                                      {lv: f[d] for lv, f in self.fixed.items() if d in f},
                                      {lv: m[d] for lv, m in self.maxima.items() if d in m})
                       for d in range(self.ndims)]
        self.options = np.array([len(t) for t in self.tables], dtype=np.int64)
        self.if_size = int(np.prod([int(o) for o in self.options], dtype=object))
        self.patterns: list[LevelPattern] = []
        for lv, level in enumerate(self.levels):
            prefix, suffix = self.perms.get(lv, ((), ()))
            if level.spatial:
                canonical = not prefix and not suffix and not (self.fanout[0] > 1 and self.fanout[1] > 1)
            else:
                canonical = lv == 0
            if canonical:
                prefix, suffix = tuple(range(self.ndims)), ()
            self.patterns.append(LevelPattern(canonical, prefix, suffix, lv not in self.splits))
        # The unpruned permutation space (sizes the permutation generator's range).
        self.lp_size_full = 1
        for pat in self.patterns:
            self.lp_size_full *= _factorial(self.ndims - len(set(pat.prefix) | set(pat.suffix)))
        self.spatial_size_full = 1
        if self.spatial_level is not None and self.spatial_level not in self.splits:
            self.spatial_size_full = self.ndims + 1
        self.n_keep = len(self.keep_masks)

    # ----- decoding IDs -----

    def factors(self, if_ids: np.ndarray) -> np.ndarray:
        """(n, levels, dims) loop bounds of global IndexFactorization IDs."""
        ids = np.asarray(if_ids, dtype=np.int64)
        out = np.empty((len(ids), self.nlevels, self.ndims), dtype=np.int64)
        for d in range(self.ndims):
            out[:, :, d] = self.tables[d][ids % self.options[d]]
            ids = ids // self.options[d]
        return out

    def level_template(self, factors: np.ndarray, lv: int) -> tuple[list[int], list[int], list[int]]:
        """(fixed inner part, permutable part, fixed outer part) of level `lv` for one IF's factors."""
        pat = self.patterns[lv]
        if pat.canonical:
            return list(pat.prefix), [], []
        units = [d for d in range(self.ndims) if factors[lv, d] == 1] if pat.prune else []
        prefix = units + [d for d in pat.prefix if d not in units]
        suffix = [d for d in pat.suffix if d not in units]
        taken = set(prefix) | set(suffix)
        return prefix, [d for d in range(self.ndims) if d not in taken], suffix

    def pruned(self, factors: np.ndarray) -> "Pruned":
        """The permutation and spatial-split subspaces Timeloop re-initialises for one IF."""
        return Pruned(self, factors)

    def capacity_ok(self, factors: np.ndarray) -> np.ndarray:
        """(n, keep choices): every buffer holds the tiles it keeps (Timeloop's capacity checks)."""
        n = len(factors)
        sizes = np.ones((n, len(STORAGE), len(DATASPACES)), dtype=np.int64)
        running = np.ones((n, self.ndims), dtype=np.int64)
        lv = 0
        for s in range(len(STORAGE)):
            while lv <= self.temporal_of[s]:
                running = running * factors[:, lv, :]
                lv += 1
            sizes[:, s, :] = self.working_sets(running)
        ok = np.ones((n, self.n_keep), dtype=bool)
        for s, cap in enumerate(self.capacity):
            if cap is None:
                continue
            need = sizes[:, s, :] @ self.keep_masks[:, :, s].T.astype(np.int64)  # (n, choices)
            ok &= need <= cap
        return ok

    def working_sets(self, totals: np.ndarray) -> np.ndarray:
        """(n, dataspaces) elements of each tensor that loops with these per-dim totals touch."""
        get = {d: totals[:, i] for i, d in enumerate(self.dims)}
        one = np.ones(len(totals), dtype=np.int64)
        lay = self.layer
        width = (get["R"] - 1) * lay.Wdilation + (get["P"] - 1) * lay.Wstride + 1
        height = (get["S"] - 1) * lay.Hdilation + (get["Q"] - 1) * lay.Hstride + 1
        channels_out = get["C"] if lay.depthwise else get.get("M", one)
        weights = get["C"] * get["R"] * get["S"] * (one if lay.depthwise else get["M"])
        inputs = get["N"] * get["C"] * width * height
        outputs = get["N"] * channels_out * get["P"] * get["Q"]
        return np.stack([weights, inputs, outputs], axis=1)


class Pruned:
    """The permutation and spatial subspaces of one index factorization (Timeloop's `InitPruned`)."""

    def __init__(self, space: Mapspace, factors: np.ndarray):
        self.space = space
        self.factors = factors
        self.templates = [space.level_template(factors, lv) for lv in range(space.nlevels)]
        self.radix = [_factorial(len(t[1])) for t in self.templates]
        self.lp_size = math.prod(self.radix)
        sl = space.spatial_level
        if sl is None:
            self.spatial_size, self.unit_spatial = 1, 0
        elif sl in space.splits:
            self.spatial_size, self.unit_spatial = 1, None
        else:
            units = int(np.sum(factors[sl] == 1))
            self.spatial_size, self.unit_spatial = space.ndims + 1 - units, units

    def level_order(self, lp_id: int, lv: int) -> list[int]:
        """Level `lv`'s dimensions, innermost first, under permutation ID `lp_id`."""
        for k in range(lv):
            lp_id //= self.radix[k]
        prefix, free, suffix = self.templates[lv]
        return prefix + permute(free, lp_id % self.radix[lv]) + suffix

    def orders(self, lp_id: int) -> list[list[int]]:
        """Every level's dimensions, innermost first."""
        out = []
        for lv, (prefix, free, suffix) in enumerate(self.templates):
            out.append(prefix + permute(free, lp_id % self.radix[lv]) + suffix)
            lp_id //= self.radix[lv]
        return out

    def split(self, s: int) -> int:
        """How many of the spatial level's loops (innermost first) go to X for spatial ID `s`."""
        if self.unit_spatial is None:
            return self.space.splits[self.space.spatial_level]
        return self.unit_spatial + s

    def fanout_ok(self, lp_id: int, s: int) -> bool:
        """Whether the array's X and Y loops fit its columns and rows (else construction fails)."""
        sl = self.space.spatial_level
        if sl is None:
            return True
        order = self.level_order(lp_id, sl)
        cut = self.split(s)
        f = self.factors[sl]
        x = math.prod(int(f[d]) for d in order[:cut])
        y = math.prod(int(f[d]) for d in order[cut:])
        return x <= self.space.fanout[0] and y <= self.space.fanout[1]


def permute(items: list[int], index: int) -> list[int]:
    """The `index`-th permutation of `items` in factoradic (Lehmer) order."""
    items = list(items)
    out = []
    for k in range(len(items), 0, -1):
        digit, index = divmod(index, _factorial(k - 1))
        out.append(items.pop(digit))
    return out


def to_nest(space: Mapspace, factors: np.ndarray, orders: list[list[list[int]]], splits: list[int],
            keep: np.ndarray) -> NestBatch:
    """Mappings as a NestBatch: per row its factors (levels, dims), per-level orders and spatial split."""
    rows = len(orders)
    slot_level, slot_spatial = [], []
    for tl in reversed(range(space.nlevels)):  # outermost first
        level = space.levels[tl]
        nest_level = SPATIAL if level.spatial else _NEST_LEVEL[level.storage]
        slot_level += [nest_level] * space.ndims
        slot_spatial += [level.spatial] * space.ndims
    dims = np.empty((rows, len(slot_level)), dtype=np.int64)
    bounds = np.empty((rows, len(slot_level)), dtype=np.int64)
    on_x = np.zeros((rows, len(slot_level)), dtype=bool)
    for r in range(rows):
        col = 0
        for tl in reversed(range(space.nlevels)):
            order = orders[r][tl][::-1]
            dims[r, col:col + space.ndims] = space.our_dims[order]
            bounds[r, col:col + space.ndims] = factors[r, tl, order]
            if space.levels[tl].spatial:
                x = set(orders[r][tl][:splits[r]])
                on_x[r, col:col + space.ndims] = [d in x for d in order]
            col += space.ndims
    glb_keep = keep[:, :, _GLB]
    return NestBatch(level=np.array(slot_level), spatial=np.array(slot_spatial), dims=dims, bounds=bounds,
                     glb_keep=glb_keep.copy(), on_x=on_x)
