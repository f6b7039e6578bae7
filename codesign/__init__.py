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
"""

__version__ = "0.2.0"

from codesign.api import (
    Profile,
    SearchRun,
    Training,
    derive,
    export,
    load_run,
    profile,
    search,
    search_settings,
    train,
)
from codesign.arch import Arch, load_arch
from codesign.designs import Design, TrainedOn
from codesign.errors import CodesignError, SearchInterrupted
from codesign.hardware import HardwareParams
from codesign.network import CandidateSpec, ConvStage, SGDConfig
from codesign.rubric import Band, Rubric, Score, load_rubric
from codesign.runs import Status, TrialRecord
from codesign.search.settings import DataSettings, ResourceSettings, SearchSettings, TuneSettings

__all__ = [
    "Arch",
    "Band",
    "CandidateSpec",
    "CodesignError",
    "ConvStage",
    "DataSettings",
    "Design",
    "HardwareParams",
    "Profile",
    "ResourceSettings",
    "Rubric",
    "SGDConfig",
    "Score",
    "SearchInterrupted",
    "SearchRun",
    "SearchSettings",
    "Status",
    "TrainedOn",
    "Training",
    "TrialRecord",
    "TuneSettings",
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
]
