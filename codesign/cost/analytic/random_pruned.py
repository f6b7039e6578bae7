"""timeloop-mapper's `random-pruned` search, reproduced mapping for mapping (the grader's mapper).

Each of `num_threads` threads owns a slice of the IndexFactorization (IF) space and two generators of
its own (timeloop_random). A thread visits a random IF, then up to `max_permutations_per_if_visit`
random loop permutations of it; for each, every spatial split, and for each split every keep/bypass
choice, in order. Each mapping ID ends in one of three ways:

* construction failure (the array's X or Y loops exceed its columns or rows): the remaining
  keep/bypass choices of this permutation and split are skipped;
* evaluation failure (a buffer overflows): when all keep/bypass choices of one permutation and split
  fail, the IF is bad and the thread moves to the next one;
* success: the mapping is costed and compared with the thread's best.

A thread stops after `timeout` consecutive invalid mappings or `victory_condition` consecutive valid
ones that do not beat its best; mappings that differ from the previous one only in keep/bypass do not
count towards either (Timeloop's default, penalize-consecutive-bypass-fails off), except construction
failures, which always count. "Better" compares the optimization metrics in order with a 0.1 %
tolerance, ties keeping the incumbent; the threads' bests are then reduced in thread order.

Which IDs a thread tries depends only on validity, never on costs, so each thread's walk is generated
ahead in chunks (walk), the valid mappings of all threads' chunks are costed in one vectorised
`evaluate` (each distinct loop nest once, every keep choice from the same evaluation), and the
counters are then replayed with array operations (scan), with a Python step only per update of a
thread's best.

This module is the reference: `search` runs the compiled core (native.py, csrc/random_pruned.hpp) where
it is built, which walks the same IDs one at a time and finds the same mappings, bit for bit.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import numpy as np

from codesign.arch import Arch, MapperSettings
from codesign.cost.analytic import core
from codesign.cost.analytic import native as native_core
from codesign.cost.analytic.nest import (
    TENSORS,
    NestBatch,
    Prepared,
    evaluate,
    stretched_cycles,
)
from codesign.cost.analytic.timeloop_mapspace import (
    FREE,
    GLB_STORAGE,
    Mapspace,
    permutations_list,
)
from codesign.cost.analytic.timeloop_random import RandomGenerator128
from codesign.cost.constraints import constraints
from codesign.errors import CodesignError
from codesign.workload import Layer

TOLERANCE = 0.001  # Timeloop's relative tolerance per optimization metric
_CHUNK_IDS = 4096  # mapping IDs each thread walks ahead before the chunk is costed and scanned
_IF_BLOCK = 128  # index factorizations decoded at once
CONSTRUCTION_FAILURE, EVALUATED = 0, 1


# ----- "is better" -----


def _metric(cycles: np.ndarray | float, energy: np.ndarray | float, metric: str) -> np.ndarray | float:
    if metric == "delay":
        return cycles
    if metric == "energy":
        return energy
    if metric == "edp":
        return cycles * energy
    raise CodesignError(f"optimization metric {metric!r} is not supported by the random-pruned mapper")


def _betterness(
    cycles: np.ndarray | float,
    energy: np.ndarray | float,
    incumbent: tuple[float, float],
    metrics: tuple[str, ...],
    i: int = 0,
) -> np.ndarray:
    """Timeloop's IsBetterRecursive_ on arrays of candidates: 2 better, 1 slightly better, -1 slightly
    worse, -2 worse."""
    c = np.asarray(_metric(cycles, energy, metrics[i]), dtype=np.float64)
    b = float(_metric(*incumbent, metrics[i]))
    gain = b - c
    if b == 0:
        relative = np.where(c == 0, 0.0, gain / np.where(c == 0, 1.0, c))
    else:
        relative = gain / b
    slight = np.where(relative > 0, 1, -1)  # equality counts as slightly worse: the incumbent stays
    if i + 1 < len(metrics):
        inner = _betterness(cycles, energy, incumbent, metrics, i + 1)
        slight = np.where(np.abs(inner) == 2, inner, slight)
    return np.where(np.abs(relative) > TOLERANCE, np.where(relative > 0, 2, -2), slight)


def is_better(candidate: tuple[float, float], incumbent: tuple[float, float], metrics: tuple[str, ...]) -> bool:
    """Whether (cycles, energy) `candidate` replaces `incumbent` under Timeloop's rule."""
    return _scalar_betterness(float(candidate[0]), float(candidate[1]), incumbent, metrics) > 0


def _scalar_betterness(cycles: float, energy: float, incumbent: tuple[float, float], metrics: tuple[str, ...]) -> int:
    """_betterness for one candidate, in Python floats (the same double arithmetic, without NumPy's overhead)."""
    verdict = 0
    for i in reversed(range(len(metrics))):
        c = float(_metric(cycles, energy, metrics[i]))
        b = float(_metric(*incumbent, metrics[i]))
        gain = b - c
        if b == 0:
            relative = 0.0 if c == 0 else gain / c
        else:
            relative = gain / b
        slight = 1 if relative > 0 else -1
        if i + 1 < len(metrics) and abs(verdict) == 2:
            slight = verdict
        verdict = (2 if relative > 0 else -2) if abs(relative) > TOLERANCE else slight
    return verdict


# ----- one thread's walk through the mapspace -----


class IfTable:
    """The index factorizations a thread has drawn, decoded in blocks (rows in draw order)."""

    def __init__(self, space: Mapspace):
        self.space = space
        self.local: list[int] = []
        self.factors = np.zeros((0, space.nlevels, space.ndims), dtype=np.int64)
        self.parts = np.zeros((0, space.nlevels, space.ndims), dtype=np.int64)
        self.radices = np.zeros((0, space.nlevels), dtype=np.int64)
        self.ok = np.zeros((0, space.n_keep), dtype=bool)
        self.split_base = np.zeros(0, dtype=np.int64)
        # per row, for the walk: permutations, splits, hopeless, construction result per split (or -1
        # where it depends on the permutation)
        self.lp_size: list[int] = []
        self.n_splits: list[int] = []
        self.hopeless: list[bool] = []
        self.fan_fixed: list[list[int]] = []
        self.fan_data: dict[int, tuple] = {}

    def add(self, local: list[int], global_ids: list[int]) -> None:
        """Decode a block of drawn IFs (thread-local and global IDs) and append them."""
        space = self.space
        factors = space.factors(np.array(global_ids))
        parts = space.parts(factors)
        radices = space.radices(parts)
        ok = space.capacity_ok(factors)
        base, count = space.spatial_subspace(factors)
        max_splits = int(count.max())
        fixed = np.ones((len(local), max_splits), dtype=np.int64)
        sl = space.spatial_level
        if sl is not None:
            # Decoded with permutation 0: right for every permutation unless the split falls inside the
            # level's permuted part; those rows get what the walk needs to decide per permutation.
            orders = space.orders(factors, parts, radices, np.zeros(len(local), dtype=np.int64), levels=[sl])
            sp = parts[:, sl]
            lead = np.sum(sp < FREE, axis=1)  # canonical, unit or constrained dimensions come first
            free = np.sum(sp == FREE, axis=1)
            offsets = np.cumprod(np.concatenate([np.ones((len(local), 1), dtype=np.int64), radices], axis=1), axis=1)[
                :, sl
            ]
            sp_factors = np.take_along_axis(factors[:, sl], orders[:, sl], axis=1)
            for s in range(max_splits):
                cut = base + s
                result = space.fanout_ok(factors, orders, cut).astype(np.int64)
                depends = (cut > lead) & (cut < lead + free)
                fixed[:, s] = np.where(depends, -1, result)
            first_row = len(self.local)
            for i in np.flatnonzero((fixed < 0).any(axis=1)):
                a, k = int(lead[i]), int(free[i])
                f = sp_factors[i].tolist()
                free_sorted = sorted(int(d) for d in orders[i, sl, a : a + k])
                by_dim = factors[i, sl]
                self.fan_data[first_row + int(i)] = (
                    int(offsets[i]),
                    int(radices[i, sl]),
                    a,
                    k,
                    int(np.prod(f[:a], dtype=np.int64)),
                    int(np.prod(f, dtype=np.int64)),
                    [int(by_dim[d]) for d in free_sorted],
                    int(base[i]),
                )
        self.local += local
        self.factors = np.concatenate([self.factors, factors])
        self.parts = np.concatenate([self.parts, parts])
        self.radices = np.concatenate([self.radices, radices])
        self.ok = np.concatenate([self.ok, ok])
        self.split_base = np.concatenate([self.split_base, base])
        self.lp_size += [math.prod(r) for r in radices.tolist()]
        self.n_splits += count.tolist()
        self.hopeless += [bool(h) for h in np.atleast_1d(~ok.any(axis=1))]
        self.fan_fixed += fixed.tolist()

    def fanout_ok(self, row: int, lp: int, s: int) -> bool:
        """Whether mapping (IF row, permutation, split) passes construction."""
        fixed = self.fan_fixed[row][s]
        if fixed >= 0:
            return bool(fixed)
        offset, radix, lead, k, lead_product, total, free_factors, base = self.fan_data[row]
        order = permutations_list(k)[lp // offset % radix]
        x = lead_product
        for i in range(base + s - lead):
            x *= free_factors[order[i]]
        return x <= self.space.fanout[0] and total // x <= self.space.fanout[1]


class Walk:
    """The IDs one thread tries, in order, as groups (Timeloop's RandomPrunedSearch and its Report):
    one group per (IF, permutation, split); a construction failure is one ID, else one per keep choice."""

    def __init__(self, space: Mapspace, thread: int, threads: int, max_permutations: int):
        self.space = space
        self.thread = thread
        self.threads = threads
        per_split = -(-space.if_size // threads)
        residue = per_split * threads - space.if_size
        self.size = per_split if thread < threads - residue else per_split - 1
        self.max_permutations = max_permutations
        self.if_gen = RandomGenerator128(max(self.size, 1))
        self.lp_gen = RandomGenerator128(space.lp_size_full)
        self.table = IfTable(space)

    def groups(self) -> Iterator[tuple[int, int, int, int]]:
        """(IF row, permutation ID, split ID, status) in the order the thread tries them."""
        if self.size == 0:
            return
        table = self.table
        row = 0
        while True:
            if row == len(table.local):
                block = min(_IF_BLOCK * (1 << (len(table.local) // _IF_BLOCK).bit_length()), 8 * _IF_BLOCK)
                local = [self.if_gen.next() for _ in range(block)]
                table.add(local, [i * self.threads + self.thread for i in local])
            lp_size = table.lp_size[row]
            splits = table.n_splits[row]
            hopeless = table.hopeless[row]
            for _ in range(min(self.max_permutations, lp_size)):
                lp = self.lp_gen.next() % lp_size
                done = False
                for s in range(splits):
                    if not table.fanout_ok(row, lp, s):
                        yield row, lp, s, CONSTRUCTION_FAILURE
                        continue
                    yield row, lp, s, EVALUATED
                    if hopeless:  # every keep choice failed: this IF is bad, skip to the next one
                        done = True
                        break
                if done:
                    break
            row += 1


# ----- costing -----


def cost_per_keep(space: Mapspace, arch: Arch, nest: NestBatch) -> np.ndarray:
    """(rows, keep choices, 2): cycles and energy of every row under every keep/bypass choice."""
    layer = space.layer
    prepared = Prepared(layer, nest)
    kept = evaluate(layer, arch, nest, glb_keep=np.ones(3, dtype=bool), prepared=prepared)
    bypassed = evaluate(layer, arch, nest, glb_keep=np.zeros(3, dtype=bool), prepared=prepared)
    keeps = space.keep_masks[:, :, GLB_STORAGE]
    out = np.empty((len(nest), len(keeps), 2))
    for c, keep in enumerate(keeps):
        energy = kept.level_energy["mac"].copy()
        reads, writes = [], []
        for t, name in enumerate(TENSORS):
            source = kept if keep[t] else bypassed
            energy = energy + source.tensor_energy[name]
            if keep[t]:
                reads.append(kept.glb_reads[name])
                writes.append(kept.glb_writes[name])
        out[:, c, 0] = stretched_cycles(kept.compute_cycles, reads, writes, arch)
        out[:, c, 1] = energy
    return out


def _nest_keys(factors: np.ndarray, orders: np.ndarray) -> list[bytes]:
    """Per row, what decides its costs: the factors and, per level, the order of the non-unit loops."""
    n = len(factors)
    ordered = np.take_along_axis(factors, orders, axis=2)
    real = ordered > 1
    pack = np.argsort(~real, axis=2, kind="stable")  # real loops first, in pattern order
    key = np.where(np.take_along_axis(real, pack, axis=2), np.take_along_axis(orders, pack, axis=2), -1)
    key = np.ascontiguousarray(np.concatenate([key.reshape(n, -1), factors.reshape(n, -1)], axis=1), dtype=np.int32)
    width = key.shape[1] * 4
    raw = key.tobytes()
    return [raw[i * width : (i + 1) * width] for i in range(n)]


def cost_groups(
    space: Mapspace,
    arch: Arch,
    factors: np.ndarray,
    parts: np.ndarray,
    radices: np.ndarray,
    lps: np.ndarray,
    cache: dict[bytes, np.ndarray],
) -> np.ndarray:
    """(groups, keep choices, 2) cycles and energy of each (IF, permutation); each distinct loop nest is
    evaluated once (`cache` keeps them across chunks)."""
    if len(factors) == 0:
        return np.zeros((0, space.n_keep, 2))
    orders = space.orders(factors, parts, radices, lps)
    keys = _nest_keys(factors, orders)
    todo: dict[bytes, int] = {}
    for i, k in enumerate(keys):
        if k not in cache and k not in todo:
            todo[k] = i
    if todo:
        first = np.fromiter(todo.values(), dtype=np.int64, count=len(todo))
        keep = np.ones((len(first), *space.keep_masks.shape[1:]), dtype=bool)
        nest = space.nest(factors[first], orders[first], np.zeros(len(first), dtype=np.int64), keep)
        for k, cost in zip(todo, cost_per_keep(space, arch, nest)):
            cache[k] = cost
    return np.stack([cache[k] for k in keys])


# ----- replaying a thread's counters -----


@dataclass
class Best:
    """A thread's best mapping: its cost and where it is in the thread's walk."""

    cost: tuple[float, float]
    row: int  # IF row in the thread's table
    lp: int
    split: int
    keep: int


@dataclass
class ThreadState:
    """Timeloop's MapperThread counters, carried from one chunk to the next."""

    total: int = 0  # mapping IDs tried
    valid: int = 0
    invalid_run: int = 0  # invalid since the last valid (as counted towards the timeout)
    since_update: int = 0  # valid, not better, since the best last changed (towards victory)
    prev_key: tuple = ()
    best: Best | None = None
    stop: str = ""


Logger = Callable[[int, tuple], None]


@dataclass
class Chunk:
    """One thread's next groups, as arrays."""

    rows: np.ndarray
    lps: np.ndarray
    splits: np.ndarray
    status: np.ndarray
    costs: np.ndarray = field(default_factory=lambda: np.zeros((0, 0, 2)))  # (hopeful groups, keep choices, 2)
    costed: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))  # group -> row in costs, or -1


def take_chunk(groups: Iterator, n_keep: int) -> Chunk | None:
    """The next groups of a walk, about _CHUNK_IDS mapping IDs' worth."""
    rows, lps, splits, status = [], [], [], []
    ids = 0
    for r, lp, s, st in groups:
        rows.append(r)
        lps.append(lp)
        splits.append(s)
        status.append(st)
        ids += n_keep if st == EVALUATED else 1
        if ids >= _CHUNK_IDS:
            break
    if not rows:
        return None
    return Chunk(
        np.array(rows, dtype=np.int64),
        np.array(lps, dtype=np.int64),
        np.array(splits, dtype=np.int64),
        np.array(status, dtype=np.int64),
    )


@dataclass
class ChunkIds:
    """A chunk expanded to one entry per mapping ID (an evaluated group holds one ID per keep choice)."""

    group: np.ndarray  # the ID's group in the chunk
    keep: np.ndarray  # its keep/bypass choice
    key: np.ndarray  # per group: (thread-local IF, permutation, split), to spot bypass-only steps
    valid: np.ndarray
    invalid_counted: np.ndarray  # invalid IDs that count towards the timeout
    candidate: np.ndarray  # valid IDs that count towards victory
    cycles: np.ndarray
    energy: np.ndarray


def expand_chunk(space: Mapspace, table: IfTable, chunk: Chunk, state: ThreadState) -> ChunkIds:
    """Per mapping ID of a chunk: validity, what Timeloop's counters count, and its cost."""
    n_keep = space.n_keep
    g = len(chunk.rows)
    evaluated = chunk.status == EVALUATED
    per_group = np.where(evaluated, n_keep, 1)
    group = np.repeat(np.arange(g), per_group)
    keep = np.arange(len(group)) - np.repeat(np.cumsum(per_group) - per_group, per_group)
    n = len(group)
    # Mapping IDs that differ from the previous one only in keep/bypass.
    local = np.array(table.local, dtype=np.int64)[chunk.rows]
    key = np.stack([local, chunk.lps, chunk.splits], axis=1)
    same_group = np.zeros(g, dtype=bool)
    same_group[1:] = np.all(key[1:] == key[:-1], axis=1)
    same_group[0] = tuple(key[0].tolist()) == state.prev_key
    before = state.total + np.arange(n)
    bypass_only = (before > 1) & ((keep > 0) | same_group[group])
    valid = evaluated[group] & table.ok[chunk.rows[group], keep]
    cycles = np.full(n, np.nan)
    energy = np.full(n, np.nan)
    costed = chunk.costed[group]
    has = valid & (costed >= 0)
    cycles[has] = chunk.costs[costed[has], keep[has], 0]
    energy[has] = chunk.costs[costed[has], keep[has], 1]
    return ChunkIds(
        group=group,
        keep=keep,
        key=key,
        valid=valid,
        invalid_counted=~valid & (~evaluated[group] | ~bypass_only),
        candidate=valid & ~bypass_only,
        cycles=cycles,
        energy=energy,
    )


def invalid_runs(ids: ChunkIds, state: ThreadState) -> np.ndarray:
    """Invalid mappings counted since the last valid one, before each ID (the timeout's counter)."""
    n = len(ids.group)
    idx = np.arange(n)
    counted = np.cumsum(ids.invalid_counted)
    counted_before = counted - ids.invalid_counted
    last_valid = np.maximum.accumulate(np.where(ids.valid, idx, -1))
    last_valid_before = np.concatenate([[-1], last_valid[:-1]])
    return np.where(
        last_valid_before >= 0,
        counted_before - counted[np.maximum(last_valid_before, 0)],
        state.invalid_run + counted_before,
    )


def walk_updates(
    ids: ChunkIds, chunk: Chunk, state: ThreadState, invalid_before: np.ndarray, settings: MapperSettings
) -> tuple[list[tuple[int, int]], int, int]:
    """Where the best changes and where the thread stops (-1: not in this chunk); updates `state.best` and
    `state.stop`. Returns the updates (ID, victory count before it), the stop and the victory count after."""
    metrics = tuple(settings.optimization_metrics)
    timeout_at = np.flatnonzero(invalid_before == settings.timeout) if settings.timeout > 0 else np.zeros(0, int)
    valid_idx = np.flatnonzero(ids.valid)
    candidates_before = np.cumsum(ids.candidate) - ids.candidate
    pos, since = 0, state.since_update
    updates: list[tuple[int, int]] = []
    while True:
        if pos == len(ids.group):  # the best changed on the chunk's last ID: nothing left to check here
            return updates, -1, since
        later = valid_idx[valid_idx >= pos]
        if state.best is None:
            j = int(later[0]) if len(later) else -1
        else:
            better = _betterness(ids.cycles[later], ids.energy[later], state.best.cost, metrics) > 0
            hit = np.flatnonzero(better)
            j = int(later[hit[0]]) if len(hit) else -1
        # Termination is checked before each ID: victory once `since` reaches the condition.
        stops = []
        if settings.victory_condition > 0:
            reach = np.flatnonzero(
                since + candidates_before[pos:] - candidates_before[pos] == settings.victory_condition
            )
            if len(reach):
                stops.append(pos + int(reach[0]))
        after = timeout_at[timeout_at >= pos]
        if len(after):
            stops.append(int(after[0]))
        first_stop = min(stops) if stops else -1
        if first_stop >= 0 and (j < 0 or first_stop <= j):
            state.stop = "timeout" if len(after) and first_stop == int(after[0]) else "victory"
            return updates, first_stop, since
        if j < 0:
            since += int(candidates_before[-1] + ids.candidate[-1] - candidates_before[pos])
            return updates, -1, since
        updates.append((j, since + int(candidates_before[j] - candidates_before[pos])))
        group = ids.group[j]
        state.best = Best(
            (float(ids.cycles[j]), float(ids.energy[j])),
            int(chunk.rows[group]),
            int(chunk.lps[group]),
            int(chunk.splits[group]),
            int(ids.keep[j]),
        )
        since, pos = 0, j + 1


def scan(
    space: Mapspace,
    arch: Arch,
    table: IfTable,
    chunk: Chunk,
    state: ThreadState,
    thread: int,
    log: Logger | None = None,
) -> None:
    """Replay Timeloop's per-ID bookkeeping over one chunk; sets `state.stop` when the thread ends."""
    ids = expand_chunk(space, table, chunk, state)
    invalid_before = invalid_runs(ids, state)
    updates, stop, since = walk_updates(ids, chunk, state, invalid_before, arch.mapper)
    end = stop if stop >= 0 else len(ids.group)
    if log is not None:
        _log_chunk(
            space,
            table,
            chunk,
            state,
            thread,
            log,
            ids.group,
            ids.keep,
            ids.valid,
            invalid_before,
            ids.cycles,
            ids.energy,
            updates,
            end,
        )
    state.total += end
    state.valid += int(ids.valid[:end].sum())
    if stop < 0:
        state.since_update = since
        state.invalid_run = 0 if ids.valid[-1] else int(invalid_before[-1] + ids.invalid_counted[-1])
        state.prev_key = tuple(ids.key[-1].tolist())


def _log_chunk(
    space: Mapspace,
    table: IfTable,
    chunk: Chunk,
    state: ThreadState,
    thread: int,
    log: Logger,
    group: np.ndarray,
    keep: np.ndarray,
    valid: np.ndarray,
    invalid_before: np.ndarray,
    cycles: np.ndarray,
    energy: np.ndarray,
    updates: list[tuple[int, int]],
    end: int,
) -> None:
    """Timeloop's log-stats/log-suboptimal lines for one chunk, as events (the trace tool's view)."""
    update_at = dict(updates)
    ids = np.flatnonzero(valid[:end])
    rows, lps, splits = chunk.rows[group[ids]], chunk.lps[group[ids]], chunk.splits[group[ids]]
    orders = space.orders(table.factors[rows], table.parts[rows], table.radices[rows], lps)
    count = state.valid
    global_ids = np.array(table.local, dtype=np.int64)[rows] * space.arch.mapper.num_threads + thread
    for n, i in enumerate(ids.tolist()):
        count += 1
        mapping = Candidate(space, int(global_ids[n]), int(lps[n]), int(splits[n]), int(keep[i]))
        mapping.cached = (table.factors[rows[n]], orders[n], int(table.split_base[rows[n]] + splits[n]))
        log(
            thread,
            (
                "valid",
                state.total + i + 1,
                count,
                int(invalid_before[i]),
                mapping,
                int(keep[i]),
                (float(cycles[i]), float(energy[i])),
            ),
        )
        if i in update_at:
            log(thread, ("update", state.total + i + 1, count, update_at[i]))


@dataclass
class Candidate:
    """One mapping of a thread's walk (global IndexFactorization ID, permutation, split, keep), decoded on demand."""

    space: Mapspace
    if_id: int
    lp: int
    split: int  # the split ID: the number of loops on X is the IF's first split plus this
    keep: int

    cached: tuple | None = field(default=None, repr=False)
    loops: tuple | None = field(default=None, repr=False)  # its loop nest, where the compiled core gave it

    def decoded(self) -> tuple[np.ndarray, np.ndarray, int]:
        """(factors (levels, dims), orders (levels, dims), number of loops on X)."""
        if self.cached is not None:
            return self.cached
        space = self.space
        factors = space.factors(np.array([self.if_id]))
        parts = space.parts(factors)
        orders = space.orders(factors, parts, space.radices(parts), np.array([self.lp]))
        base, _ = space.spatial_subspace(factors)
        self.cached = (factors[0], orders[0], int(base[0] + self.split))
        return self.cached

    def nest(self) -> NestBatch:
        """This mapping as a one-row NestBatch."""
        if self.loops is not None:  # the same loops (those above 1), without decoding the IDs again
            return native_core.nest_of_loops(self.loops, self.space.keep_masks[self.keep][:, GLB_STORAGE])
        factors, orders, split = self.decoded()
        return self.space.nest(factors[None], orders[None], np.array([split]), self.space.keep_masks[self.keep][None])


# ----- the mapper -----


@dataclass
class ThreadResult:
    """How one thread's search ended."""

    best: Candidate | None
    cost: tuple[float, float] | None
    total: int
    valid: int
    stop: str


def mapspace_of(layer: Layer, arch: Arch) -> Mapspace:
    """Timeloop's mapspace of `layer` on `arch` under the arch's dataflow (dense or depthwise section)."""
    return Mapspace(layer, arch, constraints(layer.depthwise, arch.dataflow)["architecture_constraints"]["targets"])


def search(
    layer: Layer, arch: Arch, log: Logger | None = None, native: bool | None = None
) -> tuple[Mapspace, list[ThreadResult], int]:
    """Run every thread; returns the mapspace, each thread's result and the winning thread (-1: none).

    `native` picks the compiled core (native.py, the default where it is built) or this module's NumPy
    reference; both walk the same IDs and find the same mappings, bit for bit.
    """
    space = mapspace_of(layer, arch)
    if core.enabled(native):
        results = _native_search(space, arch, log)
    else:
        results = _reference_search(space, arch, log)
    return space, results, winning_thread(results, arch.mapper)


def winning_thread(results: list[ThreadResult], settings: MapperSettings) -> int:
    """The thread whose best wins, the threads' bests reduced in thread order (-1: none found any)."""
    metrics = tuple(settings.optimization_metrics)
    winner, winning = -1, None
    for t, r in enumerate(results):
        if r.cost is not None and (winning is None or is_better(r.cost, winning, metrics)):
            winner, winning = t, r.cost
    return winner


def native_results(space: Mapspace, threads: list[native_core.ThreadBest]) -> list[ThreadResult]:
    """The compiled core's per-thread answers as ThreadResults."""
    return [
        ThreadResult(
            None if r.cost is None else Candidate(space, r.if_id, r.lp, r.split, r.keep, loops=r.loops),
            r.cost,
            r.total,
            r.valid,
            r.stop,
        )
        for r in threads
    ]


def _native_search(space: Mapspace, arch: Arch, log: Logger | None) -> list[ThreadResult]:
    per_arch, records, _ = native_core.random_pruned(space, [arch], log=log is not None)
    if log is not None and records is not None:
        _replay_log(space, records, log)
    return native_results(space, per_arch[0])


def _replay_log(space: Mapspace, records: np.ndarray, log: Logger) -> None:
    """The compiled core's log records as the reference's log events, the mappings decoded in one batch."""
    valid = records[records["kind"] == 0]
    if np.any(valid["lp_high"]):
        raise CodesignError("a permutation ID of this mapspace does not fit 64 bits; log it with native=False")
    factors = space.factors(valid["if_id"])
    parts = space.parts(factors)
    orders = space.orders(factors, parts, space.radices(parts), valid["lp_low"].astype(np.int64))
    base, _ = space.spatial_subspace(factors)
    n = 0
    for r in records.tolist():
        thread, kind, total, count_valid, count, if_id, lp, _, split, keep, cycles, energy = r
        if kind == 1:
            log(thread, ("update", total, count_valid, count))
            continue
        mapping = Candidate(space, if_id, lp, split, keep, cached=(factors[n], orders[n], int(base[n] + split)))
        log(thread, ("valid", total, count_valid, count, mapping, keep, (cycles, energy)))
        n += 1


def _reference_search(space: Mapspace, arch: Arch, log: Logger | None) -> list[ThreadResult]:
    settings = arch.mapper
    threads = settings.num_threads
    walks = [Walk(space, t, threads, settings.max_permutations_per_if_visit) for t in range(threads)]
    iters = [w.groups() for w in walks]
    states = [ThreadState() for _ in range(threads)]
    active = list(range(threads))
    cache: dict[bytes, np.ndarray] = {}
    while active:
        chunks = {t: take_chunk(iters[t], space.n_keep) for t in active}
        # Cost the valid groups of every thread's chunk in one batch.
        picked, counts = [], []
        for t, chunk in chunks.items():
            if chunk is None:
                states[t].stop = "exhausted"
                continue
            table = walks[t].table
            hopeful = (chunk.status == EVALUATED) & ~np.array(table.hopeless, dtype=bool)[chunk.rows]
            chunk.costed = np.where(hopeful, np.cumsum(hopeful) - 1, -1)
            rows = chunk.rows[hopeful]
            picked.append((table.factors[rows], table.parts[rows], table.radices[rows], chunk.lps[hopeful]))
            counts.append(len(rows))
        if picked:
            factors, parts, radices, lps = (np.concatenate(p) for p in zip(*picked))
            costs = cost_groups(space, arch, factors, parts, radices, lps, cache)
            bounds = np.cumsum([0, *counts])
            live = [(t, c) for t, c in chunks.items() if c is not None]
            for i, (t, live_chunk) in enumerate(live):
                live_chunk.costs = costs[bounds[i] : bounds[i + 1]]
                scan(space, arch, walks[t].table, live_chunk, states[t], t, log)
        active = [t for t in active if not states[t].stop]
    results = []
    for t, st in enumerate(states):
        best = None
        if st.best is not None:
            if_id = walks[t].table.local[st.best.row] * threads + t
            best = Candidate(space, if_id, st.best.lp, st.best.split, st.best.keep)
        results.append(ThreadResult(best, None if st.best is None else st.best.cost, st.total, st.valid, st.stop))
    return results


def random_pruned_mapping(layer: Layer, arch: Arch) -> NestBatch:
    """The mapper seam: the mapping timeloop-mapper's random-pruned search picks, as a one-row nest."""
    _, results, winner = search(layer, arch)
    return _winning_nest(layer, arch, results, winner)


def _winning_nest(layer: Layer, arch: Arch, results: list[ThreadResult], winner: int) -> NestBatch:
    if winner < 0:
        raise CodesignError(f"layer {layer.shape}: the random-pruned search found no valid mapping on {arch.name}")
    best = results[winner].best
    assert best is not None  # a winning thread has a best mapping
    return best.nest()


def same_mapspace(a: Arch, b: Arch) -> bool:
    """Whether two archs give every layer the same mapspace and walk (they may differ in energies and bandwidth)."""
    return (
        a.template == b.template
        and a.dataflow == b.dataflow
        and a.pe_array == b.pe_array
        and a.registers.depth_words == b.registers.depth_words
        and a.weight_spad.depth_words == b.weight_spad.depth_words
        and a.global_buffer.depth_words == b.global_buffer.depth_words
        and a.mapper == b.mapper
    )


def random_pruned_mappings(layer: Layer, archs: list[Arch], native: bool | None = None) -> list[NestBatch]:
    """random_pruned_mapping on each of `archs`, which share a mapspace (same_mapspace): one walk of the IDs,
    each distinct loop nest's accesses counted once and priced per arch, each arch with its own bests and
    stop counters (the compiled core; the reference searches arch by arch)."""
    if any(not same_mapspace(archs[0], a) for a in archs[1:]):
        raise CodesignError("random_pruned_mappings: the archs differ in sizes or mapper settings")
    if not core.enabled(native):
        return [random_pruned_mapping(layer, arch) for arch in archs]
    space = mapspace_of(layer, archs[0])
    per_arch, _, _ = native_core.random_pruned(space, archs)
    out = []
    for arch, threads in zip(archs, per_arch):
        results = native_results(space, threads)
        out.append(_winning_nest(layer, arch, results, winning_thread(results, arch.mapper)))
    return out
