"""Costing ahead: the ehvi sampler's screen never waits on a cold layer cache.

A new layer costs milliseconds, but a trial's pool of 600 candidates holds about a thousand distinct layers on a
new machine (and every new accelerator of a joint search makes every layer new): seconds, more than the
screen's time share. Training takes far longer, and meanwhile the driver's CPU is idle. So a background thread
in the driver (where the sampler runs) costs, in this order:

1. the pools of the next trials, drawn with the sampler's own random streams, so the screen finds each
   candidate drawn, checked and costed (a mutation is reused only if its parent is the one the screen picks:
   the front is guessed as it will be if the trial now starting joins it);
2. designs the screen deferred (drawn, feasible, not costed in time: the screen skipped them and went on);
   they are not drawn again, but their layers are those of designs near the front;
3. further random designs of the space, until a stretch of draws brings no new layer or a cap is reached.

Everything lands in the screen's memory and in the persistent layer cache (SQLite, one connection per thread,
shared with the trials on this machine). The thread runs at a trial's low priority (nice 15, Linux), pauses
while the sampler screens, costs on the cores the trials leave (one at least), stops when it runs out of work
(a new trial's plan starts it again) or when its sampler is gone, and prints a progress line now and then.

On a Ray cluster of more than one node it also looks ahead of its own work (past the next draws it will make
itself, then the deferred designs, then random designs of its own) and hands the layers it finds missing to the
other nodes in batches (codesign/search/remote_cost.py); what comes back lands in the layer cache, so the thread
finds those designs costed when it gets to them. On one node nothing changes.
"""

from __future__ import annotations

import contextlib
import math
import os
import sys
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

import numpy as np

from codesign.cost import CostCache, LayerCost
from codesign.cost.analytic import AnalyticEngine
from codesign.hardware import HardwareParams
from codesign.search.candidates import CandidateScreen, ParamDraw, ScreenedDesign
from codesign.search.objective import DesignObjective
from codesign.search.remote_cost import Key, LayerJob, RemoteCosting
from codesign.workload import Workload


class Screening(Protocol):
    """What costing ahead needs of its sampler (codesign/search/ehvi.py's EHVISampler)."""

    seed: int
    pool_size: int
    screen: CandidateScreen
    objective: DesignObjective

    def draw_at(
        self, number: int, index: int, parents: list[dict[str, Any]], front: bool | None = None
    ) -> tuple[dict[str, Any] | None, np.random.Generator]:
        """Draw `index` of trial `number`'s pool: the parent it mutates and its random stream."""
        ...


T = TypeVar("T")
UNKNOWN: dict[str, Any] = {}  # the parent of a mutation drawn ahead before the front had a design (not drawn)

_EXPLORE_CAP = 1000  # random designs explored after each plan, at most (the thread then rests)
_SATURATED = 400  # explored feasible designs in a row that needed no mapping: the space's layers are known
_PROGRESS_S = 300.0  # at most one progress line per this many seconds (and one when the first pool is ready)
_FIRST_SHARE = 0.55  # of a pool's needed draws: drawn for every planned trial before the rest of any
# The thread's scheduling priority: that of Ray's workers (its default worker niceness), as a trial's. A program
# that trains in its own process (benchmarks/bench_search.py) sets it to its own.
THREAD_NICE = 15
# Costing on other nodes: the draws of a pool this thread leaves to itself before those it hands out, at first
# (doubled each time the thread reaches a layer still in flight: the nodes then work further ahead), and the
# draws it looks ahead per step at most (it stays quick to pause).
_GAP = 8
_LOOK_DRAWS = 64
_FARM_EVERY_S = 0.05  # how often it looks at the other nodes' batches (each look asks Ray: about a millisecond)


def stream_state(front: bool, parents: int, parent: dict[str, Any] | None) -> tuple[bool, int]:
    """What decides the state of a pool draw's random stream once its parent is chosen: whether a front was
    there to mutate (a draw from it took one number), and for a mutation how many parents it was chosen among
    (numpy's bounded integers take as many numbers as the bound makes them)."""
    return front, parents if parent is not None else 0


def _lower_priority() -> None:
    """Give the calling thread no more than a trial's priority (Linux: a thread's nice value is its own). At the
    driver's default priority it would take CPU from trials that Ray runs at nice 15."""
    with contextlib.suppress(AttributeError, OSError):
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), THREAD_NICE)


@dataclass(frozen=True)
class SpareCoresEngine(AnalyticEngine):
    """The analytic engine on the cores the trials leave (at least one): the same numbers and cache entries."""

    trial_cpus: int = 1

    @property
    def threads(self) -> int:
        """New layers of a design costed at once."""
        return max(1, super().threads - self.trial_cpus)


@dataclass
class _Target:
    """A trial whose pool is drawn ahead: how many feasible draws it needs, and how far drawing got."""

    number: int
    needed: int
    drawn: int = 0
    feasible: int = 0


class CostAhead:
    """The background thread that draws and costs the designs an EHVISampler is about to screen."""

    def __init__(self, sampler: Screening, progress: bool = True):
        self._sampler = weakref.ref(sampler)  # the thread never keeps its sampler alive
        self.progress = progress
        self._lock = threading.Lock()
        # trial number -> draw index -> (the stream's state: stream_state, the parent mutated or None, the
        # candidate or None)
        self._pools: dict[int, dict[int, tuple[tuple[bool, int], dict[str, Any] | None, ScreenedDesign | None]]] = {}
        self._targets: list[_Target] = []
        self._parents: list[dict[str, Any]] = []
        self._deferred: deque[tuple[Workload, HardwareParams | None]] = deque()
        self._explore_rng = np.random.default_rng([sampler.seed, 0x5EED])
        self._explored = 0  # since the last plan
        self._warm_run = 0  # explored feasible designs in a row that were costed already
        self._free = threading.Event()  # clear while the sampler screens
        self._free.set()
        self._thread: threading.Thread | None = None
        self._stopped = False
        self.mapped = 0  # designs this thread had to map (some layer was new)
        self.mapping_s = 0.0
        self._last_line = time.monotonic()
        self._told = False  # whether the first guided pool's line was printed
        # costing on the cluster's other nodes (None: one node, or Ray not connected)
        self._remote: RemoteCosting | None = None
        self._ray = threading.Lock()  # held while this thread uses Ray: stop() takes it, then Ray is left alone
        self._remote_checked = False
        self._engine = AnalyticEngine(sampler.objective.mapper)  # how the screen keys its layers
        self._cache: CostCache | None = None  # where what comes back lands (this machine's layer cache)
        self._spill: list[LayerJob] = []  # found missing, not handed out yet (the nodes were busy)
        self._plans = 0  # plans made: a lookahead begun under an older plan stops
        self._look: dict[int, tuple[int, int]] = {}  # trial number -> (next draw it looks at, feasible draws seen)
        self._look_rng = np.random.default_rng([sampler.seed, 0x5EED, 1])  # the other nodes' own random designs
        self._look_explored = 0  # since the last plan
        self._look_warm = 0  # of those, feasible designs in a row with no missing layer
        self._gap = _GAP
        self._farmed = (-math.inf, False)  # when it last looked at the other nodes, and whether they had work
        self.caught_up = 0  # designs this thread reached while their layers were still in flight elsewhere

    # -- what the sampler tells it ---------------------------------------------------------------------------
    def plan(self, targets: list[tuple[int, int]], parents: list[dict[str, Any]]) -> None:
        """Draw ahead the pools of these trials ((number, feasible draws needed), most urgent first), mutating
        `parents` (the front as the sampler last saw it); forget pools of other trials."""
        with self._lock:
            keep = {number for number, _ in targets}
            self._pools = {n: p for n, p in self._pools.items() if n in keep}
            old = {t.number: t for t in self._targets}
            self._targets = []
            moved = parents != self._parents
            for number, needed in targets:
                target = old.get(number) or _Target(number, needed)
                pool = self._pools.get(number)
                front = bool(parents) or needed > 1  # as _step draws
                stale = [i for i, e in (pool or {}).items() if e[0][0] != front or (moved and e[1] is not None)]
                if pool and stale:
                    # a pool begun under another front keeps its random draws (the same whatever the front, once
                    # there is one) and draws its mutations again
                    for index in stale:
                        del pool[index]
                    target.drawn, target.feasible = 0, sum(entry[2] is not None for entry in pool.values())
                target.needed = needed
                self._targets.append(target)
            self._parents = [dict(p) for p in parents]
            self._explored = 0
            self._plans += 1
            self._look, self._look_explored, self._look_warm = {}, 0, 0
        self._start()

    def defer(self, workload: Workload, hardware: HardwareParams | None) -> None:
        """A design the screen skipped because its layers were not costed: cost it soon."""
        with self._lock:
            self._deferred.append((workload, hardware))
        self._start()

    def pool(self, number: int) -> dict[int, tuple[tuple[bool, int], dict[str, Any] | None, ScreenedDesign | None]]:
        """What was drawn ahead for trial `number`: draw index -> (the state of its random stream once the parent
        was chosen, the parent it mutated or None, the candidate or None)."""
        with self._lock:
            return dict(self._pools.get(number, {}))

    @contextlib.contextmanager
    def paused(self) -> Iterator[None]:
        """Hold the thread between two of its steps (the screen's own work comes first)."""
        self._free.clear()
        try:
            yield
        finally:
            self._free.set()

    def stop(self) -> None:
        """End the thread after its current step; from now on it makes no call to Ray (so Ray may shut down)."""
        self._stopped = True
        self._free.set()
        self._leave_cluster()

    def idle(self) -> bool:
        """Whether the thread has nothing left to do (or is not running)."""
        thread = self._thread
        return thread is None or not thread.is_alive()

    def wait(self, timeout: float | None = None) -> bool:
        """Wait until the thread has run out of work; whether it has."""
        thread = self._thread
        if thread is not None:
            thread.join(timeout)
        return self.idle()

    # -- the thread ------------------------------------------------------------------------------------------
    def _start(self) -> None:
        with self._lock:
            if self._stopped or (self._thread is not None and self._thread.is_alive()):
                return
            self._thread = threading.Thread(target=self._run, name="codesign-cost-ahead", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        started = False
        while not self._stopped:
            self._free.wait()
            sampler = self._sampler()
            if sampler is None or self._stopped:
                self._leave_cluster()
                return
            if not started:
                _lower_priority()
                spare = SpareCoresEngine(
                    sampler.objective.mapper, trial_cpus=getattr(sampler.objective, "trial_cpus", 1)
                )
                sampler.screen.use_engine(spare)
                # the surrogate's library, imported here rather than in the first guided trial's screen (seconds)
                import sklearn.gaussian_process  # noqa: F401

                self._join_cluster(sampler)
                started = True
            try:
                worked = self._step(sampler)
            except Exception as exc:  # costing ahead is a help, never a reason to stop a search
                print(f"[codesign] costing ahead stopped: {exc}", file=sys.stderr, flush=True)
                self._leave_cluster()
                return
            finally:
                del sampler
            if not worked:
                with self._lock:  # work given between the last step and now restarts the thread in _start
                    if not self._deferred and self._next() is None and self._explore_done():
                        self._thread = None
                        return

    def _step(self, sampler: Screening) -> bool:
        """One unit of work (a design drawn and costed); False when there is none."""
        farming = self._farmed[1]
        if time.monotonic() - self._farmed[0] >= _FARM_EVERY_S:
            farming = self._remotely(lambda remote: self._farm(sampler, remote), False)
            self._farmed = (time.monotonic(), farming)
        with self._lock:
            target = self._next()
            if target is not None:
                pool = self._pools.setdefault(target.number, {})
                while target.drawn in pool:  # drawn at random under an earlier plan
                    target.drawn += 1
                index, parents = target.drawn, self._parents
            deferred = self._deferred.popleft() if target is None and self._deferred else None
        if deferred is not None:
            self._cost(sampler, *deferred)
            return True
        if target is not None:
            # a guided trial's pool will mutate a front: before there is one, only its random half is drawn
            front = bool(parents) or target.needed > 1
            parent, rng = sampler.draw_at(target.number, index, parents, front)
            known = parent is not UNKNOWN
            candidate = self._timed(sampler, ParamDraw(rng, parent)) if known else None
            with self._lock:
                if parents is not self._parents or target.drawn != index:
                    return True  # planned again meanwhile: this draw may not be the screen's
                if known:
                    pool[index] = (stream_state(front, len(parents), parent), parent, candidate)
                target.drawn += 1
                target.feasible += candidate is not None
                ready = target.needed > 1 and target.feasible == target.needed and not self._told
                self._told |= ready
            if ready:
                self._say(f"trial {target.number}'s pool drawn and costed ahead ({target.feasible} designs)", True)
            return True
        if self._explore_done():
            if farming:  # the other nodes still have work: take it back as it comes
                self._remotely(lambda remote: self._land(remote.collect(timeout=0.5)), None)
                return True
            return False
        self._explored += 1
        draw = ParamDraw(self._explore_rng)
        before = self.mapped
        if self._timed(sampler, draw) is not None:
            self._warm_run = 0 if self.mapped > before else self._warm_run + 1
        return True

    def _next(self) -> _Target | None:
        """The pool to draw on: every planned pool to about one pool's worth first, then each to what it needs."""
        sampler = self._sampler()
        size = sampler.pool_size if sampler is not None else 600
        for share in (_FIRST_SHARE, 1.0):
            for t in self._targets:
                if t.feasible < min(t.needed, max(1, int(share * t.needed))) and t.drawn < 20 * size:
                    return t
        return None

    def _explore_done(self) -> bool:
        return self._explored >= _EXPLORE_CAP or self._warm_run >= _SATURATED

    def _timed(self, sampler: Screening, draw: ParamDraw) -> ScreenedDesign | None:
        """The candidate a draw stands for, fully costed; counts the designs that needed mapping."""
        missed: list[tuple[Workload, HardwareParams | None]] = []
        candidate = sampler.screen.candidate(draw, defer=lambda w, h: missed.append((w, h)))
        if missed:  # feasible but not costed yet: map it now, then take the same values again
            self._cost(sampler, *missed[0])
            candidate = sampler.screen.candidate(draw.replay())
        return candidate

    def _cost(self, sampler: Screening, workload: Workload, hardware: HardwareParams | None) -> None:
        if sampler.screen.costed(workload, hardware):
            return
        if self._remotely(lambda remote: self._caught_up(sampler, remote, workload, hardware), False):
            return
        start = time.perf_counter()
        try:
            sampler.screen.cost(workload, hardware)
        except Exception:  # the screen reports designs the cost model cannot map (once) when it meets them
            return
        self.mapped += 1
        self.mapping_s += time.perf_counter() - start
        self._say("")

    def _say(self, news: str, now: bool = False) -> None:
        if not self.progress or (not now and time.monotonic() - self._last_line < _PROGRESS_S):
            return
        self._last_line = time.monotonic()
        what = f"{news}; " if news else ""
        remote = self._remote  # read once: stop() may end the other nodes' part meanwhile
        elsewhere = f"; {remote.summary()}" if remote is not None else ""
        print(
            f"[codesign] costing ahead on an idle core: {what}{self.mapped} designs with new layers mapped "
            f"in {self.mapping_s:.1f} s{elsewhere}",
            flush=True,
        )

    # -- the cluster's other nodes ---------------------------------------------------------------------------
    def _join_cluster(self, sampler: Screening) -> None:
        """Start costing on the other nodes when the search runs on a Ray cluster of more than one (once)."""
        with self._ray:
            if self._remote_checked or self._stopped:
                return
            self._remote_checked = True
            objective = sampler.objective
            try:
                remote = RemoteCosting.for_cluster(objective.base_arch, objective.mapper)
            except Exception as exc:  # this thread costs alone, as on one node
                print(f"[codesign] costing ahead on other nodes did not start: {exc}", file=sys.stderr, flush=True)
                return
            if remote is None:
                return
            self._cache = CostCache()
            self._remote = remote
        if self.progress:
            nodes, cpus = len(remote.nodes), sum(remote.nodes.values())
            print(
                f"[codesign] costing ahead also on the cluster's {nodes} other node{'s' * (nodes != 1)} ({cpus} "
                f"CPUs, at low priority, reserving none)",
                flush=True,
            )

    def _leave_cluster(self) -> None:
        """Cancel the batches in flight and make no more calls to Ray (the search ended, or costing ahead
        stopped)."""
        with self._ray:
            remote, self._remote = self._remote, None
            if remote is not None:
                remote.stop()

    def _remotely(self, use: Callable[[RemoteCosting], T], otherwise: T) -> T:
        """`use` the other nodes, if costing ahead still uses them; a failure (Ray gone) ends their part, and
        this thread goes on alone."""
        with self._ray:
            remote = self._remote
            if remote is None:
                return otherwise
            try:
                return use(remote)
            except Exception as exc:
                self._remote = None
                if remote.connected():  # a search that ended has disconnected: nothing to say
                    with contextlib.suppress(Exception):
                        remote.stop()
                    print(f"[codesign] costing ahead on other nodes stopped: {exc}", file=sys.stderr, flush=True)
                return otherwise

    def _farm(self, sampler: Screening, remote: RemoteCosting) -> bool:
        """Take back what the other nodes costed and hand them the layers found missing ahead of this thread's
        own work; whether they have work (in flight, or more to look for)."""
        cache = self._cache
        assert cache is not None
        self._land(remote.collect())
        want = remote.free()
        if want > 0:
            jobs = [job for job in self._spill if job.key not in remote.pending and cache.get(job.key) is None]
            looked = {job.key for job in jobs}
            if len(jobs) < want:
                for workload, hardware in self._ahead(sampler):
                    for job in self._missing(sampler, workload, hardware):
                        if job.key not in remote.pending and job.key not in looked:
                            looked.add(job.key)
                            jobs.append(job)
                    if len(jobs) >= want:
                        break
            sent = remote.submit(jobs)
            self._spill = jobs[sent:]
        return remote.busy() or bool(self._spill) or not self._look_done()

    def _land(self, costs: list[tuple[Key, LayerCost]]) -> None:
        """Costs that came back, into this machine's layer cache (the screen reads them there)."""
        if self._cache is not None:
            for key, cost in costs:
                self._cache.put(key, cost)

    def _missing(self, sampler: Screening, workload: Workload, hardware: HardwareParams | None) -> list[LayerJob]:
        """The workload's layers the layer cache lacks, keyed as the screen keys them."""
        assert self._cache is not None
        try:
            arch = sampler.screen.arch(hardware)[0]
        except Exception:  # the screen reports an accelerator it cannot build when it meets it
            return []
        prefix = self._engine.cache_key(arch)
        jobs = [LayerJob(CostCache.key(prefix, arch.digest, layer.key), layer, hardware) for layer in workload.layers]
        return [job for job in jobs if self._cache.get(job.key) is None]

    def _caught_up(
        self, sampler: Screening, remote: RemoteCosting, workload: Workload, hardware: HardwareParams | None
    ) -> bool:
        """Take back what came; whether the design is costed now. A design whose layers are still in flight is
        costed here all the same (this thread never waits on a slower node), and the nodes are sent further
        ahead."""
        self._land(remote.collect())
        if sampler.screen.costed(workload, hardware):
            return True
        if any(job.key in remote.pending for job in self._missing(sampler, workload, hardware)):
            self.caught_up += 1
            self._gap = min(2 * self._gap, 20 * sampler.pool_size)
        return False

    def _look_done(self) -> bool:
        return self._look_explored >= _EXPLORE_CAP or self._look_warm >= _SATURATED

    def _ahead(self, sampler: Screening) -> Iterator[tuple[Workload, HardwareParams | None]]:
        """Designs further along this thread's work, whose missing layers other nodes can cost before the thread
        gets there: those the screen deferred, the planned pools' draws past the next few, then random designs
        of a stream of their own. At most _LOOK_DRAWS draws per call (the thread stays quick to pause)."""
        with self._lock:
            plan = self._plans
            targets = [(t.number, t.drawn, t.needed, t.feasible) for t in self._targets]
            parents = self._parents
            deferred = list(self._deferred)
        yield from deferred
        draws = 0
        size = sampler.pool_size
        for number, drawn, needed, feasible in targets:
            front = bool(parents) or needed > 1  # as _step draws
            index, found = self._look.get(number, (0, 0))
            index = max(index, drawn + self._gap)
            while feasible + found < needed and index < 20 * size:
                if draws >= _LOOK_DRAWS or plan != self._plans:
                    return
                draws += 1
                parent, rng = sampler.draw_at(number, index, parents, front)
                index += 1
                missed: list[tuple[Workload, HardwareParams | None]] = []
                if parent is not UNKNOWN:
                    candidate, missed = _look_at(sampler, ParamDraw(rng, parent))
                    found += candidate is not None or bool(missed)
                self._look[number] = (index, found)
                yield from missed
        while not self._look_done() and draws < _LOOK_DRAWS and plan == self._plans:
            draws += 1
            self._look_explored += 1
            candidate, missed = _look_at(sampler, ParamDraw(self._look_rng))
            if missed:
                self._look_warm = 0
            elif candidate is not None:
                self._look_warm += 1
            yield from missed


def _look_at(
    sampler: Screening, draw: ParamDraw
) -> tuple[ScreenedDesign | None, list[tuple[Workload, HardwareParams | None]]]:
    """A draw's candidate if it is costed already, and the design if it is feasible but not costed yet."""
    missed: list[tuple[Workload, HardwareParams | None]] = []
    candidate = sampler.screen.candidate(draw, defer=lambda w, h: missed.append((w, h)))
    return candidate, missed
