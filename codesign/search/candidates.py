"""Candidate designs for the guided sampler: drawn from the space without Optuna, known before training.

A candidate is a set of parameter values (the names the space's define-by-run code asks for), the design
they draw (through the search's own DesignObjective.draw, so exactly what the trial would train), and every
number that needs no training: its workload (from the spec's shapes), the hard constraints, and energy,
cycles and area from the cost model (`profile_workload` with the persistent layer cache, so a layer shape
is mapped once per machine). Workloads and network costs are also kept in memory for the search's life.

The screen is shared by the sampler's screening and its background costing (codesign/search/prefetch.py): each
thread has its own connection to the layer cache, and the memory caches only ever gain entries that both compute
the same way. A caller in a hurry passes `defer`: a design whose layers are not all costed yet is then handed to
it (to be costed later) instead of being mapped now.
"""

from __future__ import annotations

import dataclasses
import math
import sys
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from codesign.arch import Arch
from codesign.cost import CostCache
from codesign.cost.analytic import AnalyticEngine
from codesign.cost.bounds import network_bound
from codesign.cost.engine import Engine
from codesign.errors import ConfigError
from codesign.hardware import HardwareParams, area_mm2, derive_arch
from codesign.network import CandidateSpec
from codesign.objectives import DEVICE_LATENCY
from codesign.profiling import profile_workload
from codesign.search.constraints import check_constraints
from codesign.search.objective import DesignObjective
from codesign.spec_workload import spec_workload
from codesign.workload import Workload

_NUDGE = 0.15  # a mutated number moves by about this share of its range (in log space for log ranges)
_REMEMBERED = 200_000  # workloads and network costs kept in memory at most (an 8-hour search draws millions)


class ParamDraw:
    """An Optuna-trial stand-in: draws each parameter at random, or (with a parent) keeps the parent's value
    except with probability `change`, when a number moves near it and a choice is redrawn. Records the values."""

    def __init__(self, rng: np.random.Generator, parent: Mapping[str, Any] | None = None, change: float = 0.25):
        self.rng, self.parent, self.change = rng, parent or {}, change
        self.params: dict[str, Any] = {}
        self.user_attrs: dict[str, Any] = {}

    def replay(self) -> ParamDraw:
        """A draw that takes exactly the values this one took."""
        return ParamDraw(np.random.default_rng(0), self.params, change=0.0)

    def _inherit(self, name: str) -> bool:
        return name in self.parent and self.rng.random() >= self.change

    def suggest_categorical(self, name: str, choices: Sequence[Any]) -> Any:
        """A choice: the parent's, or any."""
        if self._inherit(name) and self.parent[name] in choices:
            value = self.parent[name]
        else:
            value = choices[int(self.rng.integers(len(choices)))]
        self.params[name] = value
        return value

    def _number(self, name: str, low: float, high: float, log: bool) -> float:
        """A number in [low, high]: the parent's, one near it, or uniform (log-uniform with `log`)."""
        to = (lambda v: math.log(v)) if log else (lambda v: v)
        lo, hi = to(low), to(high)
        parent = self.parent.get(name)
        if isinstance(parent, int | float) and low <= parent <= high:
            if self._inherit(name):
                return float(parent)
            x = to(parent) + self.rng.normal(0.0, _NUDGE * (hi - lo))
        else:
            x = self.rng.uniform(lo, hi)
        value = math.exp(x) if log else x
        return min(max(value, low), high)  # exp(log(high)) may land a rounding error past high

    def suggest_int(self, name: str, low: int, high: int, *, step: int = 1, log: bool = False) -> int:
        """An int on the range's grid."""
        x = self._number(name, low, high, log)
        value = int(min(max(low + round((x - low) / step) * step, low), high - (high - low) % step))
        self.params[name] = value
        return value

    def suggest_float(
        self, name: str, low: float, high: float, *, step: float | None = None, log: bool = False
    ) -> float:
        """A float, on the range's grid when it has a step."""
        value = self._number(name, low, high, log)
        if step:
            value = min(low + round((value - low) / step) * step, high)
        self.params[name] = value
        return value


@dataclass
class ScreenedDesign:
    """A candidate design the sampler may train, with everything known about it before training."""

    params: dict[str, Any]
    spec: CandidateSpec
    hardware: HardwareParams | None
    workload: Workload
    energy_pj: float
    cycles: float
    area_mm2: float
    device_latency_ms: float = math.nan  # the device_latency objective: from the latency table (codesign/device)
    exact: bool = True  # False: energy_pj and cycles are lower bounds (codesign/cost/bounds.py), not mapped yet


class CandidateScreen:
    """Turns parameter draws into feasible, costed candidates (None for the ones that cannot train)."""

    def __init__(self, objective: DesignObjective):
        self.objective = objective
        self._workloads: dict[tuple, Workload] = {}
        self._costs: dict[tuple, tuple[float, float]] = {}
        self._bounds: dict[tuple, tuple[float, float]] = {}
        self._archs: dict[HardwareParams | None, tuple[Arch, float]] = {}
        self._local = threading.local()  # per thread: a connection to the layer cache and an engine
        self._warned = False  # one warning line per screen for designs the cost model cannot map
        self._latencies: dict[tuple, float] = {}

    def __getstate__(self) -> dict[str, Any]:
        # Tune pickles the searcher (and so this) with its state: no SQLite handle, no memory caches
        return {"objective": self.objective}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state.get("objective") or state["design"])  # type: ignore[misc]  # "design": codesign 0.2

    def workload(self, spec: CandidateSpec) -> Workload:
        """The spec's workload (its SGD settings do not change it), remembered."""
        key = (spec.stages, spec.input_shape, spec.num_classes, spec.head, spec.global_pool, spec.dropout)
        found = self._workloads.get(key)
        if found is None:
            _bounded(self._workloads)
            found = self._workloads[key] = spec_workload(spec)
        return found

    def device_latency(self, spec: CandidateSpec) -> float:
        """The spec's latency on the search's device from the latency table (ms; NaN when the search does not
        have the device_latency objective), remembered."""
        if DEVICE_LATENCY not in self.objective.space.objectives:
            return math.nan
        key = (spec.stages, spec.input_shape, spec.num_classes, spec.head, spec.global_pool, spec.dropout)
        found = self._latencies.get(key)
        if found is None:
            from codesign.device.remote import on_device, predicted_ms

            where = getattr(self.objective, "latency_on", None)  # the device's nodes (--latency-on), else here
            found = self._latencies[key] = on_device(where, predicted_ms, spec, self.objective.timing)[0]
        return found

    def arch(self, hardware: HardwareParams | None) -> tuple[Arch, float]:
        """The accelerator a design runs on and its area (the search's arch when the hardware is fixed)."""
        found = self._archs.get(hardware)
        if found is None:
            base = self.objective.base_arch
            arch = base if hardware is None else derive_arch(base, hardware)
            found = self._archs[hardware] = (arch, area_mm2(arch))
        return found

    def _tools(self) -> tuple[CostCache, Engine]:
        """This thread's layer cache connection and engine (SQLite connections are not shared between threads)."""
        local = self._local
        if getattr(local, "cache", None) is None:
            local.cache = CostCache()
        if getattr(local, "engine", None) is None:
            # the mapper the trials report their objectives under, so predictions and results agree
            local.engine = AnalyticEngine(self.objective.mapper)
        return local.cache, local.engine

    def use_engine(self, engine: Engine) -> None:
        """Cost on the calling thread with `engine` (one with the search's mapper: the same numbers)."""
        self._local.engine = engine

    def cost(self, workload: Workload, hardware: HardwareParams | None) -> tuple[float, float]:
        """Energy (pJ) and cycles of a workload on its accelerator, through the layer cache."""
        key = (workload.layers, hardware)
        found = self._costs.get(key)
        if found is None:
            cache, engine = self._tools()
            net = profile_workload(workload, self.arch(hardware)[0], engine, cache=cache)
            _bounded(self._costs)
            found = self._costs[key] = (float(net.energy_pj), float(net.cycles))
        return found

    def bound(self, workload: Workload, hardware: HardwareParams | None) -> tuple[float, float]:
        """Lower bounds on the energy (pJ) and cycles of a workload on its accelerator, in microseconds, remembered."""
        key = (workload.layers, hardware)
        found = self._bounds.get(key)
        if found is None:
            _bounded(self._bounds)
            found = self._bounds[key] = network_bound(workload.layers, self.arch(hardware)[0])
        return found

    def exactly(self, candidate: ScreenedDesign) -> ScreenedDesign | None:
        """The candidate with its exact energy and cycles (mapped now if need be); None when it cannot be mapped."""
        if candidate.exact:
            return candidate
        try:
            energy, cycles = self.cost(candidate.workload, candidate.hardware)
        except Exception as exc:  # one design the cost model cannot map must not end an 8-hour search
            self._warn(exc)
            return None
        return dataclasses.replace(candidate, energy_pj=energy, cycles=cycles, exact=True)

    def costed(self, workload: Workload, hardware: HardwareParams | None) -> bool:
        """Whether the workload's cost needs no mapping: known in memory, or every layer in the layer cache."""
        if (workload.layers, hardware) in self._costs:
            return True
        cache, engine = self._tools()
        arch = self.arch(hardware)[0]
        prefix = engine.cache_key(arch)
        return all(cache.get(CostCache.key(prefix, arch.digest, layer.key)) is not None for layer in workload.layers)

    def candidate(
        self,
        draw: ParamDraw,
        defer: Callable[[Workload, HardwareParams | None], None] | None = None,
        bound: bool = False,
    ) -> ScreenedDesign | None:
        """The feasible, costed design a draw stands for; None when it cannot be built or breaks a constraint, or
        (with `defer`) when its layers are not all costed yet: it is then handed to `defer` instead. With `bound`,
        a design whose layers are not all costed comes back at its lower bounds (`exact` False), not mapped."""
        try:
            spec, hardware = self.objective.draw(draw)
        except ConfigError:  # unbuildable, or values that make no valid spec together
            return None
        workload = self.workload(spec)
        arch_area = self.arch(hardware)[1] if hardware is not None else None
        checks = check_constraints(
            spec, workload, self.objective.rubric, self.objective.space.constraints, hardware, arch_area
        )
        if any(c.broken for c in checks):
            return None
        area = arch_area if arch_area is not None else self.arch(None)[1]
        if (defer is not None or bound) and not self.costed(workload, hardware):
            if defer is not None:
                defer(workload, hardware)
                return None
            energy, cycles = self.bound(workload, hardware)
            latency = self.device_latency(spec)
            return ScreenedDesign(dict(draw.params), spec, hardware, workload, energy, cycles, area, latency, False)
        try:
            energy, cycles = self.cost(workload, hardware)
        except Exception as exc:  # one design the cost model cannot map must not end an 8-hour search
            self._warn(exc)
            return None
        latency = self.device_latency(spec)
        return ScreenedDesign(dict(draw.params), spec, hardware, workload, energy, cycles, area, latency)

    def _warn(self, exc: Exception) -> None:
        """One warning line per screen for designs the cost model cannot map."""
        if not self._warned:
            self._warned = True
            first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            print(f"codesign: warning: a candidate could not be costed and is skipped ({first})", file=sys.stderr)


def _bounded(memory: dict) -> None:
    """Empty a memory cache that is full (the layer cache still holds every layer's cost)."""
    if len(memory) >= _REMEMBERED:
        memory.clear()
