"""Costing ahead on the other nodes of a Ray cluster: batches of new layers costed as low-priority Ray tasks.

The driver's background thread (codesign/search/prefetch.py) finds, ahead of its own work, layers the layer
cache does not hold yet (a layer shape on an accelerator, under the search's mapper: one cache key each). On a
cluster of more than one node it hands batches of them to the other nodes here, one Ray task per batch, and takes
the results back into the driver's layer cache; each task also writes its node's own cache, where the trials
on that node look. A task's layer is costed by the same engine and arch the screen uses, so its cost and its
cache key are the ones a local costing gives; a node whose codesign computes another key (another version) has
its answer dropped.

A task reserves no CPU (`num_cpus=0`): a fraction would still stop a trial's whole-CPU bundle from fitting on
that node. Instead at most two tasks per node are in flight (one costs while the other's answer travels), each
costing its layers on as many threads as the node has CPUs, all at the lowest priority (nice 19, below the
trials' 15): they run on the cycles trials leave idle, in one worker process per task.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from codesign.arch import Arch
from codesign.cost.cache import CostCache
from codesign.cost.layer_cost import LayerCost
from codesign.hardware import HardwareParams, derive_arch
from codesign.workload import Layer

BATCH = 16  # layers per task and CPU of its node: tens of milliseconds of costing against a few of Ray's overhead
PER_NODE = 2  # tasks in flight on a node
REMOTE_NICE = 19  # a task's costing thread: below the trials (Ray runs its workers at nice 15)
_REFRESH_S = 30.0  # how often the list of nodes is read again (nodes join and leave)

Key = tuple[str, str, str]


@dataclass(frozen=True)
class LayerJob:
    """One layer to cost: its cache key as the driver computes it, the layer, and the accelerator's sizes."""

    key: Key
    layer: Layer
    hardware: HardwareParams | None


@dataclass
class BatchResult:
    """What a task hands back: the node it ran on, each layer's cost (by key) and how many it had to map."""

    node_id: str
    costs: list[tuple[Key, dict[str, Any]]] = field(default_factory=list)
    mapped: int = 0  # layers the node mapped (the others were in its own cache)
    skipped: int = 0  # layers whose key came out other than the driver's, or that could not be mapped
    seconds: float = 0.0


@dataclass(frozen=True)
class BatchRecord:
    """One finished batch, as the driver saw it come back."""

    node_id: str
    layers: int
    mapped: int
    seconds: float  # the task's own costing time


def batches(jobs: Iterable[LayerJob], size: int = BATCH) -> list[list[LayerJob]]:
    """Jobs in batches of at most `size`, in order, each key once."""
    if size < 1:
        raise ValueError(f"batch size must be at least 1, got {size}")
    seen: set[Key] = set()
    out: list[list[LayerJob]] = []
    for job in jobs:
        if job.key in seen:
            continue
        seen.add(job.key)
        if not out or len(out[-1]) >= size:
            out.append([])
        out[-1].append(job)
    return out


def cost_batch(
    base_arch: Arch, mapper: str | None, jobs: Sequence[LayerJob], node_id: str = "", threads: int = 1
) -> BatchResult:
    """Cost a batch of layers as the driver's screen would (the same engine, arch and key), through this node's
    layer cache, on `threads` threads of their own at the lowest priority (the calling thread keeps its own)."""
    result = BatchResult(node_id)
    failure: list[BaseException] = []

    def work() -> None:
        try:
            _lowest_priority()  # the pool's threads are created from this one: they inherit its priority
            _cost_into(result, base_arch, mapper, jobs, threads)
        except BaseException as exc:  # handed to the caller's thread
            failure.append(exc)

    start = time.perf_counter()
    thread = threading.Thread(target=work, name="codesign-remote-cost", daemon=True)
    thread.start()
    thread.join()
    result.seconds = time.perf_counter() - start
    if failure:
        raise failure[0]
    return result


def _cost_into(
    result: BatchResult, base_arch: Arch, mapper: str | None, jobs: Sequence[LayerJob], threads: int
) -> None:
    from concurrent.futures import ThreadPoolExecutor

    from codesign.cost import cost_of
    from codesign.cost.analytic import AnalyticEngine
    from codesign.errors import CodesignError

    engine = AnalyticEngine(mapper)
    cache = CostCache()  # this node's: where its trials look
    archs: dict[HardwareParams | None, Arch] = {}
    known: dict[Key, LayerCost] = {}
    new: list[tuple[LayerJob, Arch]] = []
    try:
        for job in jobs:
            try:
                arch = archs.get(job.hardware)
                if arch is None:
                    arch = archs[job.hardware] = (
                        base_arch if job.hardware is None else derive_arch(base_arch, job.hardware)
                    )
            except CodesignError:
                result.skipped += 1
                continue
            if CostCache.key(engine.cache_key(arch), arch.digest, job.layer.key) != job.key:
                result.skipped += 1  # another codesign on this node: its numbers may not be the driver's
                continue
            found = cache.get(job.key)
            if found is not None:
                known[job.key] = found
            else:
                new.append((job, arch))

        def one(item: tuple[LayerJob, Arch]) -> LayerCost | None:
            try:
                return cost_of([item[0].layer], item[1], engine)[0]  # the compiled core releases the GIL
            except CodesignError:  # the driver's own costing meets it and reports it
                return None

        with ThreadPoolExecutor(max_workers=max(1, min(threads, len(new)))) as pool:
            for (job, _), cost in zip(new, pool.map(one, new)):
                if cost is None:
                    result.skipped += 1
                    continue
                cache.put(job.key, cost)
                known[job.key] = cost
                result.mapped += 1
        result.costs = [(job.key, known[job.key].to_dict()) for job in jobs if job.key in known]
    finally:
        cache.close()


def _lowest_priority() -> None:
    """The calling thread at nice 19 (Linux: a thread's nice value is its own; raising it needs no privilege)."""
    with contextlib.suppress(AttributeError, OSError):
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), REMOTE_NICE)


def _remote_batch(base_arch: Arch, mapper: str | None, jobs: Sequence[LayerJob], threads: int) -> BatchResult:
    """The Ray task: cost_batch on whichever node it was placed on, naming that node."""
    import ray

    return cost_batch(base_arch, mapper, jobs, ray.get_runtime_context().get_node_id(), threads)


def other_nodes() -> dict[str, int]:
    """The alive nodes of the connected Ray cluster other than the driver's, with their CPUs ({} when Ray is
    not connected: a search driven by Optuna alone, or before Ray starts)."""
    ray = sys.modules.get("ray")  # never imported here: a search without Ray has nothing to farm out
    if ray is None or not ray.is_initialized():
        return {}
    here = ray.get_runtime_context().get_node_id()
    out = {}
    for node in ray.nodes():
        cpus = int(node.get("Resources", {}).get("CPU", 0))
        if node.get("Alive") and node.get("NodeID") != here and cpus >= 1:
            out[node["NodeID"]] = cpus
    return out


class RemoteCosting:
    """Layer batches in flight on the other nodes of a Ray cluster, at most PER_NODE on each, of `batch` layers
    per CPU of the node."""

    def __init__(self, base_arch: Arch, mapper: str | None, nodes: dict[str, int], batch: int = BATCH):
        import ray

        self.nodes, self.batch = dict(nodes), batch
        self._arch = ray.put(base_arch)
        self._mapper = mapper
        self._task = ray.remote(_remote_batch)
        self._flight: dict[Any, tuple[str, list[LayerJob]]] = {}  # task -> (node, its jobs)
        self.pending: set[Key] = set()  # keys in flight
        self.records: list[BatchRecord] = []
        self.landed = 0  # layer costs taken back
        self.started = time.monotonic()
        self._refreshed = time.monotonic()

    @classmethod
    def for_cluster(cls, base_arch: Arch, mapper: str | None) -> RemoteCosting | None:
        """Costing on the other nodes of the cluster the driver is connected to; None on a single node."""
        nodes = other_nodes()
        return cls(base_arch, mapper, nodes) if nodes else None

    def _in_flight_on(self, node: str) -> int:
        return sum(where == node for where, _ in self._flight.values())

    def free(self) -> int:
        """How many more layers the nodes can take now."""
        if time.monotonic() - self._refreshed > _REFRESH_S:
            self._refreshed = time.monotonic()
            self.nodes = other_nodes() or self.nodes
        return self.batch * sum(cpus * max(0, PER_NODE - self._in_flight_on(node)) for node, cpus in self.nodes.items())

    def connected(self) -> bool:
        """Whether this process is still connected to Ray (a search that ended has disconnected)."""
        ray = sys.modules.get("ray")
        return ray is not None and ray.is_initialized()

    def _check(self) -> None:
        if not self.connected():
            raise RuntimeError("Ray is not connected any more")

    def busy(self) -> bool:
        """Whether batches are in flight."""
        return bool(self._flight)

    def submit(self, jobs: Iterable[LayerJob]) -> int:
        """Send new jobs (keys not in flight) in batches to nodes with a free slot; how many went (the first ones)."""
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        self._check()
        fresh = list({job.key: job for job in jobs if job.key not in self.pending}.values())
        sent = 0
        while sent < len(fresh):
            node = next((n for n in self.nodes if self._in_flight_on(n) < PER_NODE), None)
            if node is None:
                break
            cpus = self.nodes[node]
            (group, *_) = batches(fresh[sent:], self.batch * cpus)
            ref = self._task.options(
                num_cpus=0,  # a fraction would still keep a trial's whole-CPU bundle off this node
                scheduling_strategy=NodeAffinitySchedulingStrategy(node, soft=False),
                max_retries=0,  # a lost node's layers are costed again by whoever needs them
            ).remote(self._arch, self._mapper, group, cpus)
            self._flight[ref] = (node, group)
            self.pending.update(job.key for job in group)
            sent += len(group)
        return sent

    def collect(self, timeout: float = 0.0) -> list[tuple[Key, LayerCost]]:
        """The layer costs of the batches that came back (waiting up to `timeout` seconds for the first)."""
        import ray

        if not self._flight:
            return []
        self._check()
        wait, get = _unstarting(ray.wait), _unstarting(ray.get)
        if timeout > 0:
            wait(list(self._flight), num_returns=1, timeout=timeout)
        ready, _ = wait(list(self._flight), num_returns=len(self._flight), timeout=0)
        out: list[tuple[Key, LayerCost]] = []
        for ref in ready:
            node, group = self._flight.pop(ref)
            self.pending.difference_update(job.key for job in group)
            try:
                result: BatchResult = get(ref)
            except Exception:  # a lost node or worker: its layers are costed by whoever needs them next
                self.nodes.pop(node, None)
                continue
            self.records.append(BatchRecord(result.node_id, len(result.costs), result.mapped, result.seconds))
            out.extend((tuple(key), LayerCost.from_dict(cost)) for key, cost in result.costs)  # type: ignore[misc]
        self.landed += len(out)
        return out

    def stop(self) -> None:
        """Cancel the batches in flight."""
        if self.connected():
            import ray

            for ref in self._flight:
                with contextlib.suppress(Exception):
                    _unstarting(ray.cancel)(ref)
        self._flight.clear()
        self.pending.clear()

    def summary(self) -> str:
        """A progress line's part: layers costed on the other nodes, and how fast."""
        nodes = len({r.node_id for r in self.records}) or len(self.nodes)
        rate = self.landed / max(time.monotonic() - self.started, 1e-9)
        return f"{self.landed} layers costed on {nodes} other node{'s' * (nodes != 1)} ({rate:.0f} layers/s)"


def _unstarting(api: Any) -> Any:
    """A Ray API function without Ray's automatic start: called from this background thread while the search
    shuts Ray down, `ray.wait` and the like would start a new local Ray in the driver."""
    return getattr(api, "__wrapped__", api)
