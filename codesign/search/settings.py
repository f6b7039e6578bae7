"""What a search is told: the space, the data, how many trials and where they run (saved as search.json).

Grouped as Ray Tune groups its own (TuneConfig: how the search proceeds; resources and ray.init: where
trials run); every field is checked when the settings are made or read back.
"""

from __future__ import annotations

import dataclasses
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from codesign.arch import MAPPER_ALGORITHMS
from codesign.config import build, check, limits
from codesign.data import DATASETS
from codesign.errors import CodesignError, ConfigError
from codesign.pareto import COLUMNS
from codesign.registry import SAMPLERS
from codesign.storage import is_uri


@dataclass(frozen=True)
class DataSettings:
    """The data every trial trains on; the validation split is carved from the training set."""

    dataset: str = field(default="cifar10", metadata=limits(choices=tuple(DATASETS)))
    data_dir: str | None = None
    train_size: int | None = field(default=None, metadata=limits(min=1))  # the first N training images only
    val_size: int | None = field(default=None, metadata=limits(min=1))
    split_seed: int = field(default=0, metadata=limits(min=0))


@dataclass(frozen=True)
class TuneSettings:
    """How the search proceeds (Ray Tune's TuneConfig): how many trials, how long, which sampler."""

    trials: int | None = field(default=None, metadata=limits(min=1))
    budget_s: float | None = field(default=None, metadata=limits(above=0))
    sampler: str = field(default="ehvi", metadata=limits(choices=SAMPLERS.names()))
    seed: int = field(default=0, metadata=limits(min=0))
    asha: bool = False  # early-stop weak trials on validation accuracy
    multi_fidelity: bool = False  # early-stop trials by non-dominated sorting of all objectives (search/fidelity.py)
    concurrency: int = field(default=1, metadata=limits(min=1))
    seed_designs: tuple[str, ...] = ()  # trained first (search/seeds.py): built-in names, spec files, run folders

    def __post_init__(self) -> None:
        if self.asha and self.multi_fidelity:
            raise ConfigError("search settings", "tune.multi_fidelity", "cannot go with `asha`: pick one scheduler")


@dataclass(frozen=True)
class ResourceSettings:
    """Where trials run: the Ray cluster, what each trial asks of it, where its files go, how often it may fail."""

    address: str | None = None  # None: a local Ray started for this search
    cpus_per_trial: float | None = field(default=None, metadata=limits(above=0))  # None: CPUs / concurrency
    gpus_per_trial: float = field(default=0.0, metadata=limits(min=0))
    dashboard: bool = True
    verbose: bool = False  # Ray Tune's status table and Optuna's log beside codesign's lines (search -v)
    # Tune's storage_path: a path every node sees or a URI (s3://, gs://, file://); None: the runs folder
    storage: str | None = None
    max_failures: int = field(default=2, metadata=limits(min=0))  # retries of a trial whose process or node dies


@dataclass(frozen=True)
class SearchSettings:
    """Everything a search needs; saved as runs/<name>/search.json so that --resume and report reuse it."""

    name: str
    space: str
    runs_dir: str = "runs"
    arch: str | None = None  # None: the rubric's accelerator
    rubric: str | None = None  # None: the lab's rubric
    # the analytic engine's mapper for the energy and latency objectives; None: the arch's (random-pruned,
    # the numbers the lab grades); the other mapper's numbers are recorded beside
    mapper: str | None = field(default=None, metadata=limits(choices=MAPPER_ALGORITHMS))
    objectives: tuple[str, ...] = field(
        default=("accuracy", "energy", "latency"),
        metadata=limits(choices=tuple(COLUMNS), min_length=1, items="objective"),
    )
    data: DataSettings = DataSettings()
    tune: TuneSettings = TuneSettings()
    resources: ResourceSettings = ResourceSettings()

    def __post_init__(self) -> None:
        check(self, "search settings")

    @property
    def run_dir(self) -> Path:
        return Path(self.runs_dir).resolve() / self.name

    @property
    def storage_dir(self) -> str:
        """Where the run's trials keep their checkpoints (Tune's storage): STORAGE/NAME, else the run folder."""
        storage = self.resources.storage
        if storage is None:
            return str(self.run_dir)
        return f"{storage.rstrip('/')}/{self.name}" if is_uri(storage) else str(Path(storage).resolve() / self.name)

    def to_json(self) -> str:
        """search.json's text."""
        return json.dumps(dataclasses.asdict(self), indent=2)

    @classmethod
    def from_json(cls, text: str, source: str) -> SearchSettings:
        """Settings from search.json's text; a damaged file is one line naming it."""
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise CodesignError(f"{source}: not valid JSON (line {exc.lineno}: {exc.msg})") from None
        return build(cls, data, source)


def parse_budget(text: str | None) -> float | None:
    """'8h', '30m', '90s', '1h30m' or plain seconds → seconds."""
    if text is None:
        return None
    text = str(text).strip().lower()
    if re.fullmatch(r"\d+(\.\d+)?", text):
        seconds = float(text)
    else:
        parts = re.findall(r"(\d+(?:\.\d+)?)\s*([dhms])", text)
        if not parts or "".join(f"{n}{u}" for n, u in parts) != text.replace(" ", ""):
            raise CodesignError(f"budget {text!r}: write it like 8h, 30m, 90s or 1h30m")
        seconds = sum(float(n) * {"d": 86400, "h": 3600, "m": 60, "s": 1}[u] for n, u in parts)
    if seconds <= 0:
        raise CodesignError(f"budget {text!r}: must be more than 0 seconds")
    return seconds
