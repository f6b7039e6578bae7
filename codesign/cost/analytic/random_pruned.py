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
count towards either (Timeloop's default, penalize-consecutive-bypass-fails off). "Better" compares
the optimization metrics in order with a 0.1 % tolerance, ties keeping the incumbent; the threads'
bests are then reduced in thread order with the same test.

Which IDs a thread tries depends only on validity, never on costs, so the walk is generated ahead in
chunks, the valid mappings of a chunk are costed in one vectorised `evaluate`, and the counters are
then replayed in order.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Iterator

import numpy as np

from codesign.arch import Arch
from codesign.cost.analytic.nest import TENSORS, NestBatch, Prepared, evaluate, stretched_cycles
from codesign.cost.analytic.timeloop_mapspace import DATASPACES, STORAGE, Mapspace, Pruned, to_nest
from codesign.cost.analytic.timeloop_random import RandomGenerator128
from codesign.cost.external.timeloop import constraints
from codesign.errors import CodesignError
from codesign.workload import Layer

TOLERANCE = 0.001      # Timeloop's relative tolerance per optimization metric
_CHUNK_IDS = 4096      # mapping IDs a thread walks ahead before its chunk is costed
CONSTRUCTION_FAILURE, EVALUATED = 0, 1


# ----- "is better" -----

def _metric(cost: tuple[float, float], metric: str) -> float:
    if metric == "delay":
        return cost[0]
    if metric == "energy":
        return cost[1]
    if metric == "edp":
        return cost[0] * cost[1]
    raise CodesignError(f"optimization metric {metric!r} is not supported by the random-pruned mapper")


def _betterness(candidate, incumbent, metrics: tuple[str, ...], i: int = 0) -> int:
    """Timeloop's IsBetterRecursive_: 2 better, 1 slightly better, -1 slightly worse, -2 worse."""
    c, b = _metric(candidate, metrics[i]), _metric(incumbent, metrics[i])
    gain = b - c
    relative = (0.0 if c == 0 else gain / c) if b == 0 else gain / b
    if abs(relative) > TOLERANCE:
        return 2 if relative > 0 else -2
    if i + 1 < len(metrics):
        inner = _betterness(candidate, incumbent, metrics, i + 1)
        if inner in (2, -2):
            return inner
    return 1 if relative > 0 else -1  # equality counts as slightly worse: the incumbent stays


def is_better(candidate: tuple[float, float], incumbent: tuple[float, float], metrics: tuple[str, ...]) -> bool:
    """Whether (cycles, energy) `candidate` replaces `incumbent` under Timeloop's rule."""
    return _betterness(candidate, incumbent, metrics) > 0


# ----- one thread's walk through the mapspace -----

@dataclass
class Group:
    """The mapping IDs of one (IF, permutation, spatial split): one ID if construction fails, else one
    per keep/bypass choice."""

    local_if: int
    global_if: int
    lp: int
    split: int
    status: int
    info: "IfInfo"


@dataclass
class IfInfo:
    """What a thread needs about one index factorization."""

    factors: np.ndarray      # (levels, dims)
    ok: np.ndarray           # (keep choices,) the buffers hold what each choice keeps
    pruned: Pruned
    costs: dict = field(default_factory=dict)  # lp id -> (cycles, energy) per keep choice


class Walk:
    """The IDs one thread tries, in order, as groups (Timeloop's RandomPrunedSearch + its Report)."""

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
        self._cache: dict[int, IfInfo] = {}

    def info(self, global_if: int) -> IfInfo:
        found = self._cache.get(global_if)
        if found is None:
            factors = self.space.factors(np.array([global_if]))
            ok = self.space.capacity_ok(factors)[0]
            found = IfInfo(factors[0], ok, self.space.pruned(factors[0]))
            self._cache[global_if] = found
        return found

    def groups(self) -> Iterator[Group]:
        if self.size == 0:
            return
        while True:
            local = self.if_gen.next()
            global_if = local * self.threads + self.thread
            info = self.info(global_if)
            pruned = info.pruned
            to_visit = min(self.max_permutations, pruned.lp_size)
            hopeless = not info.ok.any()
            for _ in range(to_visit):
                lp = self.lp_gen.next() % pruned.lp_size
                done = False
                for s in range(pruned.spatial_size):
                    if not pruned.fanout_ok(lp, s):
                        yield Group(local, global_if, lp, s, CONSTRUCTION_FAILURE, info)
                        continue
                    yield Group(local, global_if, lp, s, EVALUATED, info)
                    if hopeless:  # every keep choice failed: this IF is bad, skip to the next one
                        done = True
                        break
                if done:
                    break


# ----- costing -----

def _cost_groups(space: Mapspace, arch: Arch, groups: list[Group]) -> None:
    """Fill in (cycles, energy) per keep choice for every evaluated group not yet costed."""
    todo: dict[tuple, list[Group]] = {}
    for g in groups:
        if g.status != EVALUATED or not g.info.ok.any() or g.lp in g.info.costs:
            continue
        orders = g.info.pruned.orders(g.lp)
        f = g.info.factors
        key = (g.global_if, tuple(tuple(d for d in order if f[lv, d] > 1) for lv, order in enumerate(orders)))
        todo.setdefault(key, []).append(g)
    if not todo:
        return
    keys = list(todo)
    firsts = [todo[k][0] for k in keys]
    factors = np.stack([g.info.factors for g in firsts])
    orders = [g.info.pruned.orders(g.lp) for g in firsts]
    splits = [g.info.pruned.split(g.split) for g in firsts]
    keep_all = np.ones((len(firsts), len(DATASPACES), len(STORAGE)), dtype=bool)
    nest = to_nest(space, factors, orders, splits, keep_all)
    costs = cost_per_keep(space, arch, nest)
    for k, key in enumerate(keys):
        for g in todo[key]:
            g.info.costs[g.lp] = costs[k]


def cost_per_keep(space: Mapspace, arch: Arch, nest: NestBatch) -> np.ndarray:
    """(rows, keep choices, 2): cycles and energy of every row under every keep/bypass choice."""
    layer = space.layer
    prepared = Prepared(layer, nest)
    kept = evaluate(layer, arch, nest, glb_keep=np.ones(3, dtype=bool), prepared=prepared)
    bypassed = evaluate(layer, arch, nest, glb_keep=np.zeros(3, dtype=bool), prepared=prepared)
    keeps = space.keep_masks[:, :, 4]  # (choices, tensors) at the global buffer
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


# ----- one thread's search -----

@dataclass
class ThreadResult:
    """A thread's best mapping and how its search went."""

    best: tuple[float, float] | None = None
    best_group: Group | None = None
    best_keep: int = -1
    total: int = 0
    valid: int = 0
    stop: str = ""


Logger = Callable[[int, tuple], None]


def run_thread(space: Mapspace, arch: Arch, thread: int, log: Logger | None = None) -> ThreadResult:
    """Timeloop's MapperThread::Run for one thread: walk, cost and keep the best."""
    settings = arch.mapper
    metrics = tuple(settings.optimization_metrics)
    walk = Walk(space, thread, settings.num_threads, settings.max_permutations_per_if_visit)
    result = ThreadResult()
    n_keep = space.n_keep
    total = valid = invalid_construct = invalid_eval = since_update = 0
    prev_key = None
    groups = walk.groups()
    exhausted = False
    while not exhausted:
        chunk: list[Group] = []
        ids = 0
        for g in groups:
            chunk.append(g)
            ids += 1 if g.status == CONSTRUCTION_FAILURE else n_keep
            if ids >= _CHUNK_IDS:
                break
        else:
            exhausted = True
        _cost_groups(space, arch, chunk)
        for g in chunk:
            key = (g.local_if, g.lp, g.split)
            choices = 1 if g.status == CONSTRUCTION_FAILURE else n_keep
            for c in range(choices):
                if settings.victory_condition > 0 and since_update == settings.victory_condition:
                    result.stop = "victory"
                if invalid_construct + invalid_eval > 0 and invalid_construct + invalid_eval == settings.timeout:
                    result.stop = "timeout"
                if result.stop:
                    result.total, result.valid = total, valid
                    return result
                only_bypass_changed = total > 1 and key == prev_key
                prev_key = key
                total += 1
                if g.status == CONSTRUCTION_FAILURE:
                    invalid_construct += 1
                    continue
                if not g.info.ok[c]:
                    if not only_bypass_changed:
                        invalid_eval += 1
                    continue
                valid += 1
                cost = g.info.costs[g.lp][c]
                cost = (float(cost[0]), float(cost[1]))
                if log is not None:
                    log(thread, ("valid", total, valid, invalid_construct + invalid_eval, g, c, cost))
                invalid_construct = invalid_eval = 0
                if result.best is None or is_better(cost, result.best, metrics):
                    if log is not None:
                        log(thread, ("update", total, valid, since_update))
                    result.best, result.best_group, result.best_keep = cost, g, c
                    since_update = 0
                elif not only_bypass_changed:
                    since_update += 1
    result.stop = "exhausted"
    result.total, result.valid = total, valid
    return result


# ----- the mapper -----

def mapspace_of(layer: Layer, arch: Arch) -> Mapspace:
    """Timeloop's mapspace of `layer` on `arch` under the lab's constraints (dense or depthwise)."""
    return Mapspace(layer, arch, constraints(layer.depthwise)["architecture_constraints"]["targets"])


def search(layer: Layer, arch: Arch, log: Logger | None = None) -> tuple[Mapspace, list[ThreadResult], int]:
    """Run every thread; returns the mapspace, the thread results and the winning thread."""
    space = mapspace_of(layer, arch)
    results = [run_thread(space, arch, t, log) for t in range(arch.mapper.num_threads)]
    metrics = tuple(arch.mapper.optimization_metrics)
    winner = -1
    for t, r in enumerate(results):
        if r.best is not None and (winner < 0 or is_better(r.best, results[winner].best, metrics)):
            winner = t
    return space, results, winner


def group_nest(space: Mapspace, group: Group, keep: int) -> NestBatch:
    """The one-row NestBatch of a group's mapping under keep choice `keep`."""
    pruned = group.info.pruned
    return to_nest(space, group.info.factors[None], [pruned.orders(group.lp)], [pruned.split(group.split)],
                   space.keep_masks[keep][None])


def random_pruned_mapping(layer: Layer, arch: Arch) -> NestBatch:
    """The mapper seam: the mapping timeloop-mapper's random-pruned search picks, as a one-row nest."""
    space, results, winner = search(layer, arch)
    if winner < 0:
        raise CodesignError(f"layer {layer.shape}: the random-pruned search found no valid mapping on {arch.name}")
    best = results[winner]
    return group_nest(space, best.best_group, best.best_keep)
