"""What `codesign profile` and `codesign train` are told, each setting declared once with its default, limits and
help (the search's are in codesign/search/settings.py, the SGD recipe's in codesign.network.SGDConfig).

The commands' flags, the API's keywords (`codesign.profile`, `codesign.train`) and their docs are derived from
these declarations (codesign/options.py); the checks run however the settings are made.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from codesign.arch import Arch
from codesign.config import check, setting
from codesign.data import DATASETS
from codesign.device.settings import DEVICE_ENGINE, TimingSettings
from codesign.errors import CodesignError
from codesign.registry import ENGINES, MAPPERS, MEASURED_ENGINES, SIMULATED_ENGINES
from codesign.rubric import Rubric


def parse_shape(text: str) -> tuple[int, ...]:
    """'1,3,32,32' (or 1x3x32x32) → (1, 3, 32, 32)."""
    try:
        shape = tuple(int(v) for v in text.replace("x", ",").split(","))
    except ValueError:
        raise CodesignError(f"{text!r} is not a shape like 1,3,32,32") from None
    if not shape or any(v <= 0 for v in shape):
        raise CodesignError(f"{text!r}: every size must be positive")
    return shape


_MAPPER_HELP = "the analytic engine's mapper (the other one's numbers are shown beside): " + MAPPERS.describe()


@dataclass(frozen=True)
class ProfileSettings:
    """How a model is profiled: its input, the accelerator, the cost engine and its cache."""

    input_shape: tuple[int, ...] | None = setting(
        None,
        min=1,
        parse=parse_shape,
        metavar="SHAPE",
        help="input tensor shape, batch first (e.g. 1,3,32,32)",
        shown_default="the spec's, else the data set's images, else 1,3,32,32",
    )
    dataset: str | None = setting(
        None, choices=tuple(DATASETS), help="shape a built-in model for this data set's images"
    )
    trial: str | None = setting(None, help="with a search run folder: the trial to profile", shown_default="its best")
    arch: str | Arch | None = setting(
        None,
        help="architecture YAML or built-in name",
        shown_default="the design's own, else the rubric's (simple_weight_stationary)",
    )
    engine: str = setting(
        "analytic",
        choices=(*ENGINES.names(), *MEASURED_ENGINES.names(), *SIMULATED_ENGINES.names()),
        help="cost engine: "
        + ENGINES.describe()
        + "; or "
        + MEASURED_ENGINES.describe()
        + "; or "
        + SIMULATED_ENGINES.describe(),
    )
    mapper: str | None = setting(None, choices=MAPPERS.names(), help=_MAPPER_HELP, shown_default="the arch's")
    rubric: str | Rubric | None = setting(None, help="rubric YAML overriding the lab's default")
    timeloop_map: str | None = setting(None, help="evaluate a one-layer model under this Timeloop map.yaml")
    timeloop_lab: str | None = setting(
        None,
        help="with engine timeloop: the lab's folder (arch/, constraints/, constraints_dw/, mapper/) to use instead "
        "of files written from the arch",
    )
    compare: bool = setting(
        False,
        help="print the analytic model beside the chosen engine, per layer (device: the accelerator's cycles; "
        "scalesim: the analytic cycles, utilization and energy)",
    )
    cache: bool | str = setting(
        True,
        help="layer-cost cache file, or True (the default file) or False (none)",
        shown_default="$CODESIGN_CACHE or ~/.cache/codesign",
        flag_help="neither read nor write the layer-cost cache",
    )
    timing: TimingSettings = field(default_factory=TimingSettings)  # --engine device: how latency is timed

    def __post_init__(self) -> None:
        check(self, "profile settings")
        if self.engine != DEVICE_ENGINE and self.timing != TimingSettings():
            raise CodesignError(
                "--device, --runtime, --threads and the timing flags time the model: add --engine device"
            )
        if self.engine == DEVICE_ENGINE and self.timeloop_map is not None:
            raise CodesignError("--timeloop-map evaluates a layer on the accelerator; drop --engine device")
        if self.engine in SIMULATED_ENGINES and (self.timeloop_map is not None or self.timeloop_lab is not None):
            raise CodesignError(
                f"--timeloop-map and --timeloop-lab are the timeloop engine's; drop --engine {self.engine}"
            )
        if self.input_shape is not None and len(self.input_shape) < 2:
            raise CodesignError(f"input shape {self.input_shape} must be positive sizes, batch first (e.g. 1,3,32,32)")
        if self.compare and (self.engine == "analytic" or self.timeloop_map is not None):
            raise CodesignError(
                "--compare puts the analytic model beside another engine: "
                "add --engine accelforge, timeloop, device or scalesim"
            )


# what training defaults to where an SGD setting's declared default is not it (a model without a spec)
TRAIN_DEFAULTS = {"epochs": "the spec's, else the rubric's maximum (29)"}


@dataclass(frozen=True)
class TrainSettings:
    """How a model is trained, besides its SGD recipe: the data, the device and the final test."""

    dataset: str = setting("cifar10", choices=tuple(DATASETS), help="data set to train on")
    data_dir: str | None = setting(None, help="folder holding the data set", shown_default="the download cache")
    device: str = setting("auto", help="auto, cpu, cuda or cuda:N")
    split_seed: int = setting(0, min=0, help="seed of the train/validation split")
    val_size: int | None = setting(
        None, min=1, help="validation images carved from the training set", shown_default="5000 CIFAR-10, 6000 MNISTs"
    )
    train_size: int | None = setting(
        None, min=1, help="train on the first N training images only (as a search's train_size)", shown_default="all"
    )
    final: bool = setting(False, help="after training, evaluate the test set once and print the rubric score")
    arch: str | Arch | None = setting(None, help="architecture for the final energy and latency")
    rubric: str | Rubric | None = setting(None, help="rubric YAML overriding the lab's default")

    def __post_init__(self) -> None:
        check(self, "train settings")
