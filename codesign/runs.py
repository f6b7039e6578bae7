"""A search's run folder: what a search leaves behind, where it lives, and how it is read back.

runs/<name>/
  search.json      the SearchSettings (what --resume and report reuse), its paths relative to the folder: a run
                   copied or moved elsewhere is that run where it now is (its runs folder and name are read from
                   where search.json lies)
  space.yaml       the search space, when it came from a file (a copy: the run needs nothing outside itself)
  .lock            held (flock) by the search running in the folder: one search per run at a time
  .owner           who started the run: an HMAC under this user's key (~/.config/codesign/trust.key), so that
                   --resume unpickles Ray Tune's state only of runs this user wrote (else only with --trust)
  arch.yaml        the accelerator the search costs designs on (a joint search's base)
  trials.csv       one TrialRecord per finished trial, rewritten as each trial ends
  pareto.csv       the front of complete trials;  report.html, pareto.png: the report
  sampler.csv      one row per suggestion: the sampler's own seconds and, for ehvi, its choice
  ray/             Ray Tune's experiment (what --resume restores), with each complete trial's checkpoint:
    <trial>/checkpoint_000000/  weights.pt (what export hands over), arch.yaml (a joint-search trial's
                                accelerator), summary.json (its config and final result)

The trials write their checkpoints to the run's storage (`--storage`, Tune's storage_path): by default the
run folder itself. With a storage elsewhere (a shared path, s3://, gs://, file://) the Tune experiment lives
at STORAGE/<name>/ray, every file above is also copied there as it is written (the storage alone is a
complete run: `codesign report|export|profile STORAGE/<name>`), and a checkpoint's files are fetched into the
same relative place in the local folder when first read. Runs of earlier versions kept weights/<id>.pt and
archs/<id>.yaml: still read.
"""

from __future__ import annotations

import dataclasses
import errno
import fcntl
import hashlib
import hmac
import json
import math
import os
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from codesign.arch import Arch, load_arch
from codesign.errors import CodesignError, ConfigError
from codesign.hardware import FIELDS as HARDWARE_FIELDS
from codesign.hardware import SIZES as HARDWARE_SIZES
from codesign.hardware import HardwareParams, derive_arch
from codesign.network import CandidateSpec
from codesign.pareto import OBJECTIVES, objective_columns
from codesign.paths import cache_home, config_home
from codesign.rubric import PJ_PER_MJ
from codesign.search.settings import SearchSettings
from codesign.status import Status
from codesign.storage import Storage, is_uri

# what every reader of trials.csv relies on (the objectives are what the front and the report are made of)
_REQUIRED = ("trial_id", "status", "val_accuracy", "energy_pj", "cycles")
# the numeric columns of trials.csv, and what each one's missing value reads as
_NUMBERS = {
    "val_accuracy": math.nan,
    "energy_pj": math.nan,
    "cycles": math.nan,
    "graded_energy_pj": math.nan,
    "graded_cycles": math.nan,
    "best_energy_pj": math.nan,
    "best_cycles": math.nan,
    "peak_activation_bytes": math.nan,
    "parameters": math.nan,
    "macs": math.nan,
    "epochs_done": 0,
    "rubric_points": 0,
    "train_seconds": math.nan,
    "train_accuracy": math.nan,
    "trial_seconds": math.nan,
    "area_mm2": math.nan,
    "val_accuracy_float": math.nan,
    "device_latency_ms": math.nan,
    "score_per_ms": math.nan,
    "failures": 0,
}
# the text columns a reader must never take for numbers (a node id may look like 12e45...)
_TEXTS = ("trial_id", "node_ip", "node_id", "checkpoint", "device_node_id", "device_name")
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
    # the energy and cycles under each analytic mapper: graded (timeloop-mapper's search, what the lab awards)
    # and best (the best mapping); energy_pj and cycles are the searched mapper's
    graded_energy_pj: float = math.nan
    graded_cycles: float = math.nan
    best_energy_pj: float = math.nan
    best_cycles: float = math.nan
    peak_activation_bytes: float = math.nan
    parameters: float = math.nan
    macs: float = math.nan
    epochs_done: int = 0
    rubric_points: int = 0
    train_seconds: float = math.nan
    train_accuracy: float = math.nan  # the last epoch's, on the training split (runs before it have none)
    trial_seconds: float = math.nan
    spec: CandidateSpec | None = None
    hardware: HardwareParams | None = None  # a joint-search trial's accelerator sizes
    area_mm2: float = math.nan
    val_accuracy_float: float = math.nan  # before quantization to a narrow-word accelerator
    device_latency_ms: float = math.nan  # the device_latency objective: measured after training (ms)
    score_per_ms: float = math.nan  # validation accuracy / device latency
    device_node_id: str = ""  # the Ray node it was measured on (--latency-on: one holding the resource)
    device_name: str = ""  # the device's name there
    node_ip: str = ""  # the node the trial ran on (its last attempt)
    node_id: str = ""  # Ray's id of that node (several nodes may share an IP)
    failures: int = 0  # times its process or node died (each retried while --max-failures allows)
    checkpoint: str = ""  # its checkpoint folder, relative to the run's storage
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
            "graded_energy_pj": self.graded_energy_pj,
            "graded_cycles": self.graded_cycles,
            "best_energy_pj": self.best_energy_pj,
            "best_cycles": self.best_cycles,
            "peak_activation_bytes": self.peak_activation_bytes,
            "parameters": self.parameters,
            "macs": self.macs,
            "epochs_done": self.epochs_done,
            "rubric_points": self.rubric_points,
            "train_seconds": self.train_seconds,
            "train_accuracy": self.train_accuracy,
            "trial_seconds": self.trial_seconds,
        }
        if self.hardware is not None:
            row.update({name: getattr(self.hardware, name) for name in HARDWARE_FIELDS})
            row["area_mm2"] = self.area_mm2
            row["val_accuracy_float"] = self.val_accuracy_float
        if not math.isnan(self.device_latency_ms):  # a search with the device_latency objective
            row.update(device_latency_ms=self.device_latency_ms, score_per_ms=self.score_per_ms)
            row.update(device_node_id=self.device_node_id, device_name=self.device_name)
        row.update(spec_columns(self.spec))
        row.update(self.extra)
        row.update(node_ip=self.node_ip, node_id=self.node_id, failures=self.failures, checkpoint=self.checkpoint)
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
        if all(_present(row.get(name)) for name in HARDWARE_SIZES):
            drawn: dict[str, Any] = {name: int(row[name]) for name in HARDWARE_SIZES}
            if _present(row.get("dataflow")):  # a run from before the dataflow knob has none: ws
                drawn["dataflow"] = str(row["dataflow"])
            hardware = HardwareParams(**drawn)
        numbers: dict[str, Any] = {k: (row[k] if _present(row.get(k)) else d) for k, d in _NUMBERS.items()}
        for k in ("epochs_done", "rubric_points", "failures"):
            numbers[k] = int(numbers[k])
        texts = {
            k: str(row[k]) if _present(row.get(k)) else ""
            for k in ("node_ip", "node_id", "checkpoint", "reason", "device_node_id", "device_name")
        }
        known: set[Any] = {
            "trial_id",
            "status",
            "energy_mj",
            "spec",
            *texts,
            *_NUMBERS,
            *HARDWARE_FIELDS,
            *spec_columns(spec),
        }
        extra = {k: v for k, v in row.items() if k not in known and _present(v)}
        return cls(
            trial_id=trial_id,
            status=Status(row["status"]),
            spec=spec,
            hardware=hardware,
            extra=extra,
            node_ip=texts["node_ip"],
            node_id=texts["node_id"],
            checkpoint=texts["checkpoint"],
            reason=texts["reason"],
            device_node_id=texts["device_node_id"],
            device_name=texts["device_name"],
            **numbers,
        )


def _present(value: Any) -> bool:
    return value is not None and not (isinstance(value, float) and math.isnan(value)) and value != ""


class Run:
    """The run folder of one search (local), and the storage its trials' checkpoints are written to.

    `storage` is where the run's checkpoints live (STORAGE/<name>); by default the one search.json names,
    else the folder itself.
    """

    def __init__(self, folder: str | Path, storage: str | None = None):
        self.folder = Path(folder)
        self._storage = None if storage is None else Storage.at(storage)

    @classmethod
    def open(cls, location: str | Path) -> Run:
        """The run at a local folder, or at a storage URI (its files are fetched into ~/.cache/codesign/runs/)."""
        if not is_uri(location):
            folder = Path(location)
            if not folder.is_dir():
                raise CodesignError(f"{folder}: no such run folder")
            return cls(folder)
        storage = Storage.at(location)
        where = hashlib.sha256(storage.location.encode()).hexdigest()[:16]
        run = cls(cache_home() / "runs" / where / storage.location.rsplit("/", 1)[-1], storage.location)
        if not storage.download("search.json", run.settings_file):
            raise CodesignError(f"{storage.location}: not a codesign search (no search.json there)")
        for path in (run.trials_file, run.search_arch_file):
            path.unlink(missing_ok=True)  # never mix in a stale copy
            storage.download(path.name, path)
        return run

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
    def storage(self) -> Storage:
        """Where the trials' checkpoints (and, when elsewhere, a copy of every run file) are kept."""
        if self._storage is None:
            if not self.has_settings():  # a bare folder (tests, old runs): its own storage, until search.json
                return Storage.at(self.folder)
            settings = self.settings()  # no --storage: the folder itself, wherever it has moved
            self._storage = Storage.at(self.folder if settings.resources.storage is None else settings.storage_dir)
        return self._storage

    @property
    def experiment(self) -> str:
        """Ray Tune's experiment folder (a path or URI): what --resume restores."""
        return self.storage.child("ray").location

    @property
    def mirrored(self) -> bool:
        """Whether the storage is elsewhere than the local folder (so run files are copied there)."""
        return self.storage.local_path != self.folder.resolve()

    def publish(self, *files: Path) -> None:
        """Copy run files (search.json, trials.csv, the report) to the storage when it is elsewhere."""
        if self.mirrored:
            for path in files:
                self.storage.upload(path, path.relative_to(self.folder).as_posix())

    @property
    def sampler_file(self) -> Path:
        """The sampler's log: one row per suggestion."""
        return self.folder / "sampler.csv"

    def weights_file(self, trial_id: str) -> Path:
        """Where runs of earlier versions kept a complete trial's weights."""
        return self.folder / "weights" / f"{trial_id}.pt"

    def arch_file(self, trial_id: str) -> Path:
        """Where runs of earlier versions kept a joint-search trial's accelerator."""
        return self.folder / "archs" / f"{trial_id}.yaml"

    @staticmethod
    def holds_run(folder: str | Path) -> bool:
        """Whether `folder` is a search run (it has a trials table)."""
        return (Path(folder) / "trials.csv").is_file()

    def has_settings(self) -> bool:
        """Whether search.json is there."""
        return self.settings_file.is_file()

    def save_settings(self, settings: SearchSettings) -> None:
        """Write search.json (whole or not at all), its file paths relative to the run folder and no runs folder
        of its own: the run is wherever the file lies."""
        self.folder.mkdir(parents=True, exist_ok=True)
        relative = dataclasses.replace(_with_paths(settings, self._relative), runs_dir="..")
        write_atomically(self.settings_file, relative.to_json())
        self.publish(self.settings_file)

    def settings(self) -> SearchSettings:
        """The run's SearchSettings, its file paths usable from here, its runs folder and name where it lies now."""
        if not self.settings_file.is_file():
            raise CodesignError(f"{self.folder}: not a codesign search folder (no search.json)")
        saved = SearchSettings.from_json(self.settings_file.read_text(), str(self.settings_file))
        here = self.folder.resolve()
        return dataclasses.replace(_with_paths(saved, self._anchored), runs_dir=str(here.parent), name=here.name)

    def lock(self) -> RunLock:
        """Hold the run folder for one search (created if need be): one line if another search holds it."""
        return RunLock(self.folder)

    def mark_owned(self) -> None:
        """Record that this user started (or vouched for) the run: what lets --resume unpickle its Tune state."""
        run_id = secrets.token_hex(16)
        write_atomically(self.owner_file, f"{run_id} {_owner_mac(run_id)}\n")

    def owned(self) -> bool:
        """Whether this user's key signed the run's owner file (a run this user started here or vouched for)."""
        try:
            run_id, mac = self.owner_file.read_text().split()
        except (OSError, ValueError):
            return False
        return hmac.compare_digest(mac, _owner_mac(run_id))

    @property
    def owner_file(self) -> Path:
        return self.folder / ".owner"

    def _relative(self, value: str) -> str:
        path = Path(value)
        if not path.exists():  # a built-in name (lenet, simple_weight_stationary) stays a name
            return value
        try:
            return os.path.relpath(path.resolve(), self.folder.resolve())
        except ValueError:  # another drive: nothing relative to say
            return str(path.resolve())

    def _anchored(self, value: str) -> str:
        path = Path(value)
        if path.is_absolute() or not (self.folder / path).exists():
            return value
        return str((self.folder / path).resolve())

    def objectives(self) -> tuple[tuple[str, str], ...]:
        """(column, direction) of the objectives the run searched (the three defaults without search.json)."""
        return objective_columns(self.settings().objectives) if self.has_settings() else OBJECTIVES

    def trials(self) -> pd.DataFrame:
        """The trials table, every number checked (a broken file is one line naming the row and column)."""
        path = self.trials_file
        if not path.is_file():
            raise CodesignError(f"{self.folder}: no trials.csv yet (has the search finished a trial?)")
        try:
            table = pd.read_csv(path, dtype=dict.fromkeys(_TEXTS, str), keep_default_na=False, na_values=[""])
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
        """Replace trials.csv atomically: a reader never sees half a file, and a failed write (a full disk) leaves
        the last whole table in place."""
        self.folder.mkdir(parents=True, exist_ok=True)
        write_atomically(self.trials_file, pd.DataFrame([r.to_row() for r in records]).to_csv(index=False))
        self.publish(self.trials_file)

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

    def checkpoint_file(self, record: TrialRecord, name: str) -> Path | None:
        """A file of a trial's checkpoint (weights.pt, arch.yaml, summary.json) as a local file, fetched once."""
        if not record.checkpoint:
            return None
        relative = f"{record.checkpoint}/{name}"
        local = self.folder / relative
        if self.mirrored and not local.is_file():
            self.storage.download(relative, local)
        return local if local.is_file() else None

    def arch_of(self, record: TrialRecord) -> Arch | None:
        """The accelerator a trial was costed on (None for a run that did not record it)."""
        base = load_arch(self.search_arch_file) if self.search_arch_file.is_file() else None
        if record.hardware is None:
            return base
        path = self.checkpoint_file(record, "arch.yaml") or self.arch_file(record.trial_id)
        if path.is_file():
            return load_arch(path)
        if base is None:
            raise CodesignError(f"{path}: trial {record.trial_id}'s accelerator is missing from the run folder")
        return derive_arch(base, record.hardware)  # a trial without a checkpoint (e.g. infeasible): re-derived

    def weights_of(self, record: TrialRecord) -> Path | None:
        """A trial's saved weights (from its checkpoint), if the search kept them."""
        path = self.checkpoint_file(record, "weights.pt") or self.weights_file(record.trial_id)
        return path if path.is_file() else None


class RunLock:
    """An exclusive flock on RUN/.lock for as long as a search runs in the folder.

    The kernel releases it when the holder ends, however it ends (a SIGKILL, a crash): a lock never outlives
    its search. A second search of the same run is refused with one line instead of mixing its trials in.
    """

    def __init__(self, folder: Path):
        self.path = folder / ".lock"
        self.fd: int | None = None

    def __enter__(self) -> RunLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            holder = os.pread(fd, 64, 0).decode(errors="replace").strip()
            os.close(fd)
            if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise
            who = f" (process {holder})" if holder.isdigit() else ""
            raise CodesignError(
                f"{self.path.parent}: another search is running in this run folder{who}: wait for it to end, "
                f"or give another --name"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        self.fd = fd
        return self

    def __exit__(self, *exc: object) -> None:
        if self.fd is not None:
            os.close(self.fd)  # closing the descriptor releases the lock
            self.fd = None


def write_atomically(path: Path, text: str) -> None:
    """Write a text file whole or not at all: a temporary file beside it, then a rename (the old one stays until
    then; a failed write, a full disk say, removes the temporary file and leaves the old file as it was)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with tmp.open("w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        tmp.replace(path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _owner_mac(run_id: str) -> str:
    """The HMAC of a run id under this user's key (made once, readable by the user only)."""
    path = config_home() / "trust.key"
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process made it first
            pass
        else:
            with os.fdopen(fd, "w") as f:
                f.write(secrets.token_hex(32))
    key = path.read_text().strip().encode()
    return hmac.new(key, f"codesign-run:{run_id}".encode(), hashlib.sha256).hexdigest()


def _check_table(table: pd.DataFrame, source: str) -> None:
    """Every column a reader relies on is there and holds what it should."""
    for column in _REQUIRED:
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
    complete = table["status"] == Status.OK.value
    for column in _REQUIRED[2:]:  # a complete trial always has its objectives: an empty cell is a cut-off row
        empty = complete & table[column].isna()
        if empty.any():
            i = int(empty.to_numpy().nonzero()[0][0])
            raise CodesignError(
                f"{source}: row {i + 2}: column `{column}` is empty in a complete trial (a cut-off row?); "
                f"rebuild the table or start a new run"
            )
    for i, value in enumerate(table.get("spec", ())):  # a table cut inside a spec still parses as CSV
        if isinstance(value, str) and value.strip():
            try:
                json.loads(value)
            except ValueError:
                raise CodesignError(
                    f"{source}: row {i + 2}: column `spec` is not valid JSON (a cut-off row?); "
                    f"rebuild the table or start a new run"
                ) from None
    for mj, pj in (
        ("energy_mj", "energy_pj"),
        ("graded_energy_mj", "graded_energy_pj"),
        ("best_energy_mj", "best_energy_pj"),
    ):
        if pj in table:  # derived columns: recomputed, so a table trimmed by hand or a tool still reads
            table[mj] = table[pj] / PJ_PER_MJ


def _with_paths(settings: SearchSettings, move: Callable[[str], str]) -> SearchSettings:
    """`settings` with every file path (space, arch, rubric, data folder) passed through `move`."""

    def moved(value: str | None) -> str | None:
        return None if value is None else move(value)

    data = dataclasses.replace(settings.data, data_dir=moved(settings.data.data_dir))
    return dataclasses.replace(
        settings, space=move(settings.space), arch=moved(settings.arch), rubric=moved(settings.rubric), data=data
    )
