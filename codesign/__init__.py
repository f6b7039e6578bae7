"""codesign: find small CNNs that are accurate and cheap to run on an inference accelerator.

Hardware-software co-design for small CNNs: Ray Tune and Optuna search architectures and SGD recipes inside a
rubric's rules, a Timeloop-exact model of the accelerator gives each design's energy and cycles, and the result
is the Pareto front over accuracy, energy and latency.

    import codesign
    codesign.profile("lenet5")                   # energy, cycles, peak activation, rubric points
    codesign.train("lenet5", "fashion-mnist", epochs=2)
    run = codesign.search(space="lenet", dataset="fashion-mnist", trials=12)
    run.front, run.best(), run.plot(), run.export("best/")
    codesign.load_run("runs/quickstart")

`import codesign` imports none of PyTorch, pandas, Ray or Optuna: each public name is imported from the module
that owns it when it is first used.
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import TYPE_CHECKING, Any

__version__ = "0.2.0"

# every public name -> the module that owns it (imported when the name is first used)
_OWNERS = {
    "derive": "codesign.api",
    "export": "codesign.api",
    "load_run": "codesign.api",
    "profile": "codesign.api",
    "search": "codesign.api",
    "search_settings": "codesign.api",
    "train": "codesign.api",
    "Arch": "codesign.arch",
    "load_arch": "codesign.arch",
    "LayerCost": "codesign.cost.layer_cost",
    "ScaleSimLayer": "codesign.cost.external.scalesim_files",
    "ScaleSimProfile": "codesign.cost.external.scalesim",
    "Design": "codesign.designs",
    "AcceleratorCosts": "codesign.device.profile",
    "Calibration": "codesign.device.calibration",
    "DeviceProfile": "codesign.device.profile",
    "TimingSettings": "codesign.device.settings",
    "LatencyTable": "codesign.device.table",
    "Prediction": "codesign.device.table",
    "Segment": "codesign.device.table",
    "SegmentRow": "codesign.device.table",
    "Latency": "codesign.device.timing",
    "TrainedOn": "codesign.designs",
    "CodesignError": "codesign.errors",
    "SearchInterrupted": "codesign.errors",
    "HardwareParams": "codesign.hardware",
    "CandidateSpec": "codesign.network",
    "ConvStage": "codesign.network",
    "SGDConfig": "codesign.sgd",
    "Profile": "codesign.profiling",
    "Band": "codesign.rubric",
    "Rubric": "codesign.rubric",
    "Score": "codesign.rubric",
    "load_rubric": "codesign.rubric",
    "TrialRecord": "codesign.runs",
    "Status": "codesign.status",
    "SearchRun": "codesign.search.results",
    "DataSettings": "codesign.search.settings",
    "ResourceSettings": "codesign.search.settings",
    "SearchSettings": "codesign.search.settings",
    "TuneSettings": "codesign.search.settings",
    "ProfileSettings": "codesign.settings",
    "TrainSettings": "codesign.settings",
    "EpochMetrics": "codesign.train",
    "Training": "codesign.train",
    "Layer": "codesign.workload",
    "Workload": "codesign.workload",
}
__all__ = [
    "AcceleratorCosts",
    "Arch",
    "Band",
    "Calibration",
    "CandidateSpec",
    "CodesignError",
    "ConvStage",
    "DataSettings",
    "Design",
    "DeviceProfile",
    "EpochMetrics",
    "HardwareParams",
    "Latency",
    "LatencyTable",
    "Layer",
    "LayerCost",
    "Prediction",
    "Profile",
    "ProfileSettings",
    "ResourceSettings",
    "Rubric",
    "SGDConfig",
    "ScaleSimLayer",
    "ScaleSimProfile",
    "Score",
    "SearchInterrupted",
    "SearchRun",
    "SearchSettings",
    "Segment",
    "SegmentRow",
    "Status",
    "TimingSettings",
    "TrainSettings",
    "TrainedOn",
    "Training",
    "TrialRecord",
    "TuneSettings",
    "Workload",
    "__version__",
    "derive",
    "export",
    "load_arch",
    "load_rubric",
    "load_run",
    "profile",
    "search",
    "search_settings",
    "train",
]  # every name of _OWNERS, and the version

if TYPE_CHECKING:
    from codesign.api import derive, export, load_run, profile, search, search_settings, train
    from codesign.arch import Arch, load_arch
    from codesign.cost.external.scalesim import ScaleSimProfile
    from codesign.cost.external.scalesim_files import ScaleSimLayer
    from codesign.cost.layer_cost import LayerCost
    from codesign.designs import Design, TrainedOn
    from codesign.device.calibration import Calibration
    from codesign.device.profile import AcceleratorCosts, DeviceProfile
    from codesign.device.settings import TimingSettings
    from codesign.device.table import LatencyTable, Prediction, Segment, SegmentRow
    from codesign.device.timing import Latency
    from codesign.errors import CodesignError, SearchInterrupted
    from codesign.hardware import HardwareParams
    from codesign.network import CandidateSpec, ConvStage
    from codesign.profiling import Profile
    from codesign.rubric import Band, Rubric, Score, load_rubric
    from codesign.runs import TrialRecord
    from codesign.search.results import SearchRun
    from codesign.search.settings import DataSettings, ResourceSettings, SearchSettings, TuneSettings
    from codesign.settings import ProfileSettings, TrainSettings
    from codesign.sgd import SGDConfig
    from codesign.status import Status
    from codesign.train import EpochMetrics, Training
    from codesign.workload import Layer, Workload


def __getattr__(name: str) -> Any:
    """A public name, imported from its owner the first time it is used (module `__getattr__`, PEP 562)."""
    owner = _OWNERS.get(name)
    if owner is None:
        raise AttributeError(f"module 'codesign' has no attribute {name!r}")
    value = getattr(importlib.import_module(owner), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


class _Package(types.ModuleType):
    """The package, whose API functions keep their names: importing its submodules `codesign.train`,
    `codesign.export` and `codesign.search` would otherwise bind those names to the modules."""

    def __setattr__(self, name: str, value: Any) -> None:
        if isinstance(value, types.ModuleType) and _OWNERS.get(name) == "codesign.api":
            return  # the submodule stays reachable as sys.modules[f"codesign.{name}"] and by `from ... import`
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
