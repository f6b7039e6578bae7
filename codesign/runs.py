"""A search's run folder: what a search leaves behind, where it lives, and how it is read back.

runs/<name>/
  search.json      the SearchSettings (what --resume and report reuse)
  arch.yaml        the accelerator the search costs designs on (a joint search's base)
  trials.csv       one TrialRecord per finished trial, rewritten as each trial ends
  pareto.csv       the front of complete trials;  report.html, pareto.png: the report
  sampler.csv      one row per suggestion: the sampler's own seconds and, for ehvi, its choice
  weights/<id>.pt  a complete trial's trained weights (what export hands over)
  archs/<id>.yaml  a joint-search trial's own accelerator
  ray/             Ray Tune's experiment (what --resume restores)
"""

from __future__ import annotations

import enum
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from codesign.arch import Arch, load_arch
from codesign.errors import CodesignError, ConfigError
from codesign.hardware import FIELDS as HARDWARE_FIELDS
from codesign.hardware import HardwareParams, write_arch
from codesign.network import CandidateSpec
from codesign.pareto import OBJECTIVES, objective_columns
from codesign.rubric import PJ_PER_MJ
from codesign.search.settings import SearchSettings


class Status(enum.StrEnum):
    """How a trial ended (or that it is still running)."""

    OK = "ok"  # trained for all its epochs: the only status a front admits
    STOPPED = "stopped"  # cut early by ASHA or the budget: its accuracy is partial
    INFEASIBLE = "infeasible"  # broke a constraint before training
    DIVERGED = "diverged"  # the loss became NaN/inf
    ERROR = "error"  # the trial crashed; the search went on
    RUNNING = "running"

    def __str__(self) -> str:
        return self.value


# the numeric columns of trials.csv, and what each one's missing value reads as
_NUMBERS = {
    "val_accuracy": math.nan,
    "energy_pj": math.nan,
    "cycles": math.nan,
    "peak_activation_bytes": math.nan,
    "parameters": math.nan,
    "macs": math.nan,
    "epochs_done": 0,
    "rubric_points": 0,
    "train_seconds": math.nan,
    "trial_seconds": math.nan,
    "area_mm2": math.nan,
    "val_accuracy_float": math.nan,
}
_BEST = {
    "score": (["rubric_points", "val_accuracy"], False),
    "accuracy": (["val_accuracy"], False),
    "energy": (["energy_pj"], True),
    "latency": (["cycles"], True),
}


def spec_columns(spec: CandidateSpec | None) -> dict[str, Any]:
    """Readable columns of a spec for trials.csv (the spec itself goes in as JSON)."""
    if spec is None:
        return {}

    def join(key: str) -> str:
        return "-".join(str(getattr(s, key)) for s in spec.stages)

    sgd = spec.sgd
    return {
        "depth": len(spec.stages),
        "channels": join("channels"),
        "kernels": join("kernel"),
        "strides": join("stride"),
        "kinds": join("kind"),
        "pools": join("pool"),
        "head": "-".join(map(str, spec.head)) or "none",
        "global_pool": spec.global_pool,
        "lr": sgd.lr,
        "momentum": sgd.momentum,
        "nesterov": sgd.nesterov,
        "weight_decay": sgd.weight_decay,
        "batch_size": sgd.batch_size,
        "schedule": sgd.schedule,
        "epochs": sgd.epochs,
    }


@dataclass
class TrialRecord:
    """One row of trials.csv: a finished trial's design, objectives, rubric points and how it ended."""

    trial_id: str
    status: Status
    val_accuracy: float = math.nan
    energy_pj: float = math.nan
    cycles: float = math.nan
    peak_activation_bytes: float = math.nan
    parameters: float = math.nan
    macs: float = math.nan
    epochs_done: int = 0
    rubric_points: int = 0
    train_seconds: float = math.nan
    trial_seconds: float = math.nan
    spec: CandidateSpec | None = None
    hardware: HardwareParams | None = None  # a joint-search trial's accelerator sizes
    area_mm2: float = math.nan
    val_accuracy_float: float = math.nan  # before quantization to a narrow-word accelerator
    reason: str = ""
    extra: dict[str, Any] = field(default_factory=dict)  # columns a later codesign may add

    @property
    def energy_mj(self) -> float:
        return self.energy_pj / PJ_PER_MJ

    def to_row(self) -> dict[str, Any]:
        """The trials.csv row, columns in their usual order."""
        row: dict[str, Any] = {
            "trial_id": self.trial_id,
            "status": self.status.value,
            "val_accuracy": self.val_accuracy,
            "energy_pj": self.energy_pj,
            "energy_mj": self.energy_mj,
            "cycles": self.cycles,
            "peak_activation_bytes": self.peak_activation_bytes,
            "parameters": self.parameters,
            "macs": self.macs,
            "epochs_done": self.epochs_done,
            "rubric_points": self.rubric_points,
            "train_seconds": self.train_seconds,
            "trial_seconds": self.trial_seconds,
        }
        if self.hardware is not None:
            row.update({name: getattr(self.hardware, name) for name in HARDWARE_FIELDS})
            row["area_mm2"] = self.area_mm2
            row["val_accuracy_float"] = self.val_accuracy_float
        row.update(spec_columns(self.spec))
        row.update(self.extra)
        row["reason"] = self.reason
        row["spec"] = self.spec.to_json(indent=None) if self.spec is not None else ""
        return row

    @classmethod
    def from_row(cls, row: Mapping[Any, Any], source: str) -> TrialRecord:
        """A record from a trials.csv row (as `Run.trials` reads it); `source` names the row in errors."""
        trial_id = str(row["trial_id"])
        text = row.get("spec")
        spec = None
        if isinstance(text, str) and text:
            spec = CandidateSpec.from_json(text, f"{source} trial {trial_id} spec")
        hardware = None
        if all(_present(row.get(name)) for name in HARDWARE_FIELDS):
            hardware = HardwareParams(**{name: int(row[name]) for name in HARDWARE_FIELDS})
        numbers: dict[str, Any] = {k: (row[k] if _present(row.get(k)) else d) for k, d in _NUMBERS.items()}
        for k in ("epochs_done", "rubric_points"):
            numbers[k] = int(numbers[k])
        known: set[Any] = {
            "trial_id",
            "status",
            "energy_mj",
            "spec",
            "reason",
            *_NUMBERS,
            *HARDWARE_FIELDS,
            *spec_columns(spec),
        }
        extra = {k: v for k, v in row.items() if k not in known and _present(v)}
        reason = row.get("reason")
        return cls(
            trial_id=trial_id,
            status=Status(row["status"]),
            spec=spec,
            hardware=hardware,
            reason=reason if isinstance(reason, str) else "",
            extra=extra,
            **numbers,
        )


def _present(value: Any) -> bool:
    return value is not None and not (isinstance(value, float) and math.isnan(value)) and value != ""


class Run:
    """The run folder of one search (local)."""

    def __init__(self, folder: str | Path):
        self.folder = Path(folder)

    @property
    def name(self) -> str:
        return self.folder.name

    @property
    def settings_file(self) -> Path:
        return self.folder / "search.json"

    @property
    def trials_file(self) -> Path:
        return self.folder / "trials.csv"

    @property
    def front_file(self) -> Path:
        return self.folder / "pareto.csv"

    @property
    def report_file(self) -> Path:
        return self.folder / "report.html"

    @property
    def plot_file(self) -> Path:
        return self.folder / "pareto.png"

    @property
    def search_arch_file(self) -> Path:
        return self.folder / "arch.yaml"

    @property
    def sampler_file(self) -> Path:
        return self.folder / "sampler.csv"

    @property
    def ray_dir(self) -> Path:
        return self.folder / "ray"

    def weights_file(self, trial_id: str) -> Path:
        """Where a complete trial's weights are kept."""
        return self.folder / "weights" / f"{trial_id}.pt"

    def arch_file(self, trial_id: str) -> Path:
        """Where a joint-search trial's accelerator is kept."""
        return self.folder / "archs" / f"{trial_id}.yaml"

    @staticmethod
    def holds_run(folder: str | Path) -> bool:
        """Whether `folder` is a search run (it has a trials table)."""
        return (Path(folder) / "trials.csv").is_file()

    def has_settings(self) -> bool:
        """Whether search.json is there."""
        return self.settings_file.is_file()

    def save_settings(self, settings: SearchSettings) -> None:
        """Write search.json."""
        self.folder.mkdir(parents=True, exist_ok=True)
        self.settings_file.write_text(settings.to_json())

    def settings(self) -> SearchSettings:
        """The run's SearchSettings."""
        if not self.settings_file.is_file():
            raise CodesignError(f"{self.folder}: not a codesign search folder (no search.json)")
        return SearchSettings.from_json(self.settings_file.read_text(), str(self.settings_file))

    def objectives(self) -> tuple[tuple[str, str], ...]:
        """(column, direction) of the objectives the run searched (the three defaults without search.json)."""
        return objective_columns(self.settings().objectives) if self.has_settings() else OBJECTIVES

    def trials(self) -> pd.DataFrame:
        """The trials table, every number checked (a broken file is one line naming the row and column)."""
        path = self.trials_file
        if not path.is_file():
            raise CodesignError(f"{self.folder}: no trials.csv yet (has the search finished a trial?)")
        try:
            table = pd.read_csv(path, dtype={"trial_id": str}, keep_default_na=False, na_values=[""])
        except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, ValueError) as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise CodesignError(
                f"{path}: not a readable trials table ({first}); rebuild it or start a new run"
            ) from None
        _check_table(table, str(path))
        return table

    def records(self) -> list[TrialRecord]:
        """Every trial as a TrialRecord."""
        return [TrialRecord.from_row(row, str(self.trials_file)) for row in self.trials().to_dict("records")]

    def write_trials(self, records: list[TrialRecord]) -> None:
        """Replace trials.csv atomically (a reader never sees half a file)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        tmp = self.trials_file.with_suffix(".csv.tmp")
        pd.DataFrame([r.to_row() for r in records]).to_csv(tmp, index=False)
        tmp.replace(self.trials_file)

    def pick(self, trial: str | None = None, best: str = "score") -> TrialRecord:
        """A trial by id, or the best complete one by rubric score, accuracy, energy or latency."""
        trials = self.trials()
        if trial is not None:
            rows = trials[trials["trial_id"] == str(trial)]
            if rows.empty:
                raise CodesignError(f"{self.folder}: no trial {trial!r} (see {self.trials_file})")
            return TrialRecord.from_row(rows.iloc[0].to_dict(), str(self.trials_file))
        if best not in _BEST:
            raise CodesignError(f"--best must be one of {', '.join(_BEST)}")
        done = trials[trials["status"] == Status.OK.value]
        if done.empty:
            raise CodesignError(f"{self.folder}: no complete trial yet")
        columns, ascending = _BEST[best]
        return TrialRecord.from_row(
            done.sort_values(columns, ascending=ascending).iloc[0].to_dict(), str(self.trials_file)
        )

    def save_arch(self, trial_id: str, arch: Arch) -> None:
        """Keep a joint-search trial's accelerator beside its record."""
        write_arch(arch, self.arch_file(trial_id))

    def arch_of(self, record: TrialRecord) -> Arch | None:
        """The accelerator a trial was costed on (None for a run that did not record it)."""
        if record.hardware is None:
            return load_arch(self.search_arch_file) if self.search_arch_file.is_file() else None
        path = self.arch_file(record.trial_id)
        if not path.is_file():
            raise CodesignError(f"{path}: trial {record.trial_id}'s accelerator is missing from the run folder")
        return load_arch(path)

    def weights_of(self, record: TrialRecord) -> Path | None:
        """A trial's saved weights, if the search kept them."""
        path = self.weights_file(record.trial_id)
        return path if path.is_file() else None


def _check_table(table: pd.DataFrame, source: str) -> None:
    """Every column a reader relies on is there and holds what it should."""
    for column in ("trial_id", "status"):
        if column not in table:
            raise ConfigError(source, column, "missing column {field}: not a trials table written by codesign")
    statuses = {s.value for s in Status}
    for i, value in enumerate(table["status"]):
        if value not in statuses:
            raise CodesignError(
                f"{source}: row {i + 2}: status {str(value)[:40]!r} is not one of {', '.join(sorted(statuses))}"
            )
    for column in _NUMBERS:
        if column not in table:
            continue
        numbers = pd.to_numeric(table[column], errors="coerce")
        bad = numbers.isna() & table[column].notna()
        if bad.any():
            i = int(bad.to_numpy().nonzero()[0][0])
            raise CodesignError(
                f"{source}: row {i + 2}: column `{column}` holds {str(table[column].iloc[i])[:40]!r}, not a number"
            )
        table[column] = numbers
