"""What a search is told: the space, the data, how many trials and where they run (saved as search.json).

Grouped as Ray Tune groups its own (TuneConfig: how the search proceeds; resources and ray.init: where
trials run). Each setting is declared once, here, with its default, limits and help: `codesign search`'s flags,
`codesign.search`'s keywords and their docs are derived from these declarations (codesign/options.py), and
every field is checked when the settings are made (however they are made) or read back.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from codesign.config import build, check, setting
from codesign.data import DATASETS
from codesign.device.settings import TimingSettings
from codesign.errors import CodesignError, ConfigError
from codesign.objectives import COLUMNS
from codesign.registry import MAPPERS, SAMPLERS, SCHEDULERS
from codesign.storage import is_uri

_RUN_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")


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


def parse_objectives(text: str) -> tuple[str, ...]:
    """'accuracy,device_latency' (or space-separated) → ('accuracy', 'device_latency')."""
    return tuple(name for name in text.replace(",", " ").split() if name)


def _new_run_name() -> str:
    return f"search-{time.strftime('%Y%m%d-%H%M%S')}"


@dataclass(frozen=True)
class DataSettings:
    """The data every trial trains on; the validation split is carved from the training set."""

    dataset: str | None = setting(None, choices=tuple(DATASETS), help="data set", shown_default="the space's")
    data_dir: str | None = setting(None, help="folder holding the data set", shown_default="the download cache")
    train_size: int | None = setting(None, min=1, help="train each trial on the first N training images only")
    val_size: int | None = setting(None, min=1, help="validation images carved from the training set")
    split_seed: int = setting(0, min=0, help="seed of the train/validation split")


@dataclass(frozen=True)
class TuneSettings:
    """How the search proceeds (Ray Tune's TuneConfig): how many trials, how long, which sampler."""

    trials: int | None = setting(None, min=1, help="number of trials (with or without a budget)")
    budget_s: float | None = setting(
        None, above=0, name="budget", parse=parse_budget, help="time budget, e.g. 8h, 30m, 90s (or seconds)"
    )
    sampler: str = setting(
        "ehvi",
        choices=SAMPLERS.names(),
        help="ehvi: cost many candidates per trial, predict their accuracy, train the one with the best expected "
        "hypervolume improvement; or one of Optuna's samplers",
    )
    seed: int = setting(0, min=0, help="sampler and training seed")
    scheduler: str = setting(
        "none",
        choices=SCHEDULERS.names(),
        aliases={"asha": "asha", "multi_fidelity": "multi-fidelity"},
        help="cut weak trials early: " + SCHEDULERS.describe(),
    )
    concurrency: int = setting(1, min=1, help="trials running at once")
    seed_designs: tuple[str, ...] = setting(
        (),
        metavar="DESIGN",
        help="designs to train first: lenet5, spec .json files, export folders, or past runs (their front)",
    )


@dataclass(frozen=True)
class ResourceSettings:
    """Where trials run: the Ray cluster, what each trial asks of it, where its files go, how often it may fail."""

    address: str | None = setting(
        None, help="join an existing Ray cluster (e.g. auto or ray://host:10001)", shown_default="a private local Ray"
    )
    cpus_per_trial: float | None = setting(None, above=0, help="CPUs per trial", shown_default="CPUs / concurrency")
    gpus_per_trial: float | None = setting(
        None, min=0, help="GPU fraction per trial", shown_default="1/concurrency with CUDA, else 0"
    )
    dashboard: bool = setting(
        True,
        python_default=False,  # a notebook's search starts no dashboard unless asked
        help="start Ray with its dashboard",
        flag_help="start Ray without its dashboard",
    )
    verbose: bool = setting(False, short="-v", help="also print Ray Tune's status table and Optuna's log")
    log_to_driver: bool = setting(False, help="also print what the trials print (Ray's log_to_driver: a crash's cause)")
    storage: str | None = setting(
        None,
        help="where trials write their checkpoints (Tune's storage_path): a path every node sees, or s3://, gs://, "
        "file://; run files are copied there too",
        shown_default="the runs folder",
    )
    max_failures: int = setting(2, min=0, help="retries of a trial whose process or node dies")
    trust: bool = setting(
        False,
        help="with --resume: load the run's pickled Ray Tune state even if this user did not start it here "
        "(unpickling runs any code those files hold)",
    )
    latency_on: str | None = setting(
        None,
        metavar="RESOURCE",
        help="time the device_latency objective on the Ray nodes holding this custom resource (started with "
        "--resources '{\"RESOURCE\": 1}'): one timing at a time per node",
        shown_default="where each trial runs",
    )


@dataclass(frozen=True)
class SearchSettings:
    """Everything a search needs; saved as runs/<name>/search.json so that --resume and report reuse it."""

    name: str = setting(
        factory=_new_run_name,
        help="run name: outputs go to RUNS_DIR/NAME",
        shown_default="search-<date>-<time>",
    )
    space: str = setting("rubric_cnn", help="search-space YAML or built-in name (rubric_cnn, lenet, codesign)")
    runs_dir: str = setting("runs", help="folder that holds the run folders")
    arch: str | None = setting(None, help="architecture YAML or built-in name", shown_default="the rubric's")
    rubric: str | None = setting(None, help="rubric YAML overriding the lab's default")
    mapper: str | None = setting(
        None,
        choices=MAPPERS.names(),
        help="the analytic engine's mapper for the energy and latency objectives (the other one's numbers are "
        "recorded beside): " + MAPPERS.describe(),
        shown_default="the arch's, random-pruned",
    )
    objectives: tuple[str, ...] = setting(
        (),
        choices=tuple(COLUMNS),
        items="objective",
        parse=parse_objectives,
        metavar="A,B,...",
        help="what the front is made of, e.g. accuracy,device_latency (of: " + ", ".join(COLUMNS) + ")",
        shown_default="the space's `objectives`, else accuracy,energy,latency",
    )
    data: DataSettings = DataSettings()
    tune: TuneSettings = TuneSettings()
    resources: ResourceSettings = ResourceSettings()
    timing: TimingSettings = dataclasses.field(default_factory=TimingSettings)  # the device_latency objective's

    def __post_init__(self) -> None:
        check(self, "search settings")
        if len(set(self.objectives)) != len(self.objectives):
            raise CodesignError(f"objectives {', '.join(self.objectives)}: name each once")
        if not _RUN_NAME.fullmatch(self.name) or self.name in (".", ".."):
            raise CodesignError(
                f"run name {self.name!r}: use letters, digits, '.', '_' and '-' (it names a folder in "
                f"{self.runs_dir}; choose where runs go with runs_dir / --runs-dir)"
            )

    def resolved(self) -> SearchSettings:
        """These settings with what they leave to the machine filled in: CPUs per trial (this machine's CPUs /
        concurrency) and GPUs per trial (1 / concurrency of the GPU with CUDA, else none)."""
        resources = self.resources
        if resources.cpus_per_trial is None:
            cpus = max(1.0, (os.cpu_count() or 1) // self.tune.concurrency)
            resources = dataclasses.replace(resources, cpus_per_trial=cpus)
        if resources.gpus_per_trial is None:  # a GPU notebook shares its one GPU between the trials running at once
            import torch

            gpus = 1.0 / self.tune.concurrency if torch.cuda.is_available() else 0.0
            resources = dataclasses.replace(resources, gpus_per_trial=gpus)
        return self if resources is self.resources else dataclasses.replace(self, resources=resources)

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
        return build(cls, _migrated(data, source), source)


def _migrated(data: Any, source: str) -> Any:
    """search.json of an earlier codesign, as this one reads it: `tune.asha` and `tune.multi_fidelity` (two
    exclusive switches) are `tune.scheduler` now."""
    tune = data.get("tune") if isinstance(data, dict) else None
    if not isinstance(tune, dict) or not {"asha", "multi_fidelity"} & set(tune):
        return data
    tune = dict(tune)
    asha, fidelity = tune.pop("asha", False) is True, tune.pop("multi_fidelity", False) is True
    if asha and fidelity:
        raise ConfigError(source, "tune.multi_fidelity", "cannot go with `asha`: pick one scheduler")
    tune.setdefault("scheduler", "asha" if asha else "multi-fidelity" if fidelity else "none")
    return {**data, "tune": tune}
