"""Every extension point of codesign and what is registered at each: one table per extension point.

A registry maps the name a user passes (`--engine accelforge`, `--sampler tpe`, an arch's `mapper.algorithm`)
to where its implementation lives, as `module:attribute`. The module is imported only when that name is first
used, as Ray Tune's `tune/search/__init__.py` imports its search algorithms: listing the choices (`codesign
--help`, checking a settings file) imports no engine, mapper or sampler and none of their libraries. Adding one
is one line in its table; an engine also passes the conformance checks of tests/test_engines.py.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from codesign.errors import CodesignError


@dataclass(frozen=True)
class Entry:
    """One registered implementation: its name, where it lives and what it does (one line, for help texts)."""

    name: str
    target: str  # "package.module:attribute", imported when first used
    help: str
    role: str = ""  # a mapper's: what its numbers mean beside the other mapper's (graded, best)


class Registry:
    """The implementations of one extension point, by name, in the order users see them (the default first)."""

    def __init__(self, kind: str, *entries: Entry):
        self.kind = kind  # what one of them is called in messages: "cost engine", "mapper", ...
        self._entries = {entry.name: entry for entry in entries}

    def names(self) -> tuple[str, ...]:
        """Every registered name, the default first."""
        return tuple(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def entries(self) -> tuple[Entry, ...]:
        """Every entry, the default first."""
        return tuple(self._entries.values())

    def __len__(self) -> int:
        return len(self._entries)

    def entry(self, name: str) -> Entry:
        """The entry called `name`; an unknown name is one line listing the known ones."""
        found = self._entries.get(name)
        if found is None:
            raise CodesignError(f"unknown {self.kind} {name!r} (available: {', '.join(self._entries)})")
        return found

    def describe(self) -> str:
        """Every name with its one line of help: `a (does this); b (does that)`."""
        return "; ".join(f"{e.name} ({e.help})" for e in self._entries.values())

    def load(self, name: str) -> Any:
        """The implementation called `name`, its module imported now if it was not yet."""
        module, _, attribute = self.entry(name).target.partition(":")
        return getattr(importlib.import_module(module), attribute)

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}: {', '.join(self._entries)})"


ENGINES = Registry(
    "cost engine",
    Entry(
        "analytic",
        "codesign.cost.analytic.engine:AnalyticEngine",
        "Timeloop's counting on our loop nests under the mapper's mapping, milliseconds per layer",
    ),
    Entry(
        "timeloop",
        "codesign.cost.external.timeloop:TimeloopEngine",
        "the real timeloop-mapper and Accelergy, about a minute per layer, the binary on PATH",
    ),
    Entry(
        "accelforge",
        "codesign.cost.external.accelforge:AccelForgeEngine",
        "AccelForge, the Timeloop project's successor, minutes per convolution, Python >= 3.12",
    ),
)
"""Cost engines (`codesign.cost.Engine`): each is a frozen dataclass whose fields are its options."""

MEASURED_ENGINES = Registry(
    "measured engine",
    Entry(
        "device",
        "codesign.device.profile:measure_design",
        "inference latency timed on this machine's CPU or GPU, whole network and per layer (no accelerator)",
    ),
)
"""Engines that time a whole network on a real device instead of costing its layers on an accelerator:
`(design, workload, timing settings, ...) -> codesign.device.profile.DeviceProfile`. Not `Engine`s: they have no
arch, no energy and no cycles; `codesign profile --engine NAME` takes either kind."""

SIMULATED_ENGINES = Registry(
    "simulated engine",
    Entry(
        "scalesim",
        "codesign.cost.external.scalesim:simulate",
        "SCALE-Sim v3: cycles, stalls, utilization and SRAM/DRAM accesses per layer on an os/ws/is systolic array "
        "(arch dataflow os_pq_m, ws_rsc_m or is_rsc_pq; no energy)",
    ),
)
"""Engines that simulate a network's layers on a systolic array for cycles and accesses but model no energy:
`(workload, arch, label) -> codesign.cost.external.scalesim.ScaleSimProfile`. Not `Engine`s (those give energy);
`codesign profile --engine NAME` runs the analytic engine beside and `--compare` prints its numbers per layer."""

RUNTIMES = Registry(
    "runtime",
    Entry("torch", "codesign.device.runtimes:torch_session", "PyTorch eager, the module as trained"),
    Entry(
        "onnxruntime",
        "codesign.device.runtimes:onnx_session",
        "ONNX Runtime on the model exported to ONNX (pip install 'codesign[device]')",
    ),
)
"""What runs a network on a device to time it: `(module, example input, timing settings) -> Session`."""

MAPPERS = Registry(
    "mapper",
    Entry(
        "random-pruned",
        "codesign.cost.analytic.random_pruned:random_pruned_mapping",
        "timeloop-mapper's own search, mapping for mapping: the numbers the lab grades",
        role="graded",
    ),
    Entry(
        "exhaustive",
        "codesign.cost.analytic.exhaustive:exhaustive_mapping",
        "the best mapping of the constrained mapspace, fewest cycles then least energy",
        role="best",
    ),
)
"""The analytic engine's mappers: `(layer, arch) -> NestBatch` of the one mapping chosen."""

SAMPLERS = Registry(
    "sampler",
    Entry(
        "ehvi",
        "codesign.search.samplers:ehvi",
        "cost many candidates per trial, predict their accuracy, train the one with the best expected "
        "hypervolume improvement",
    ),
    Entry("tpe", "codesign.search.samplers:tpe", "Optuna's multivariate TPE, grouped by conditional subspace"),
    Entry("nsga2", "codesign.search.samplers:nsga2", "Optuna's NSGA-II"),
    Entry("random", "codesign.search.samplers:random", "Optuna's random sampler"),
)
"""The search's Optuna samplers: `(objective, seed) -> optuna.samplers.BaseSampler`."""

SCHEDULERS = Registry(
    "scheduler",
    Entry("none", "codesign.search.fidelity:no_scheduler", "every trial trains for all its epochs"),
    Entry("asha", "codesign.search.fidelity:asha", "ASHA cuts weak trials on validation accuracy alone"),
    Entry(
        "multi-fidelity",
        "codesign.search.fidelity:pareto_halving",
        "train short first: at epochs 1, 3, 9, ... keep the best third by non-dominated sorting of all objectives",
    ),
)
"""How a search cuts weak trials early (Ray Tune trial schedulers): `(prepared search) -> TrialScheduler | None`."""
