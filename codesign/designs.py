"""Where a design comes from: the one reader of every form a user names a network in.

MODEL is a built-in name (lenet5, lab2023), `path/to/file.py:ClassName` (built with no arguments), a spec
.json file, a search run folder or its storage URI (with a trial id, else its best trial), or an exported or
trained folder.
`.py` files and exported folders without spec.json run Python code when loaded.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import torch
from torch import nn

from codesign.arch import Arch, load_arch
from codesign.builtin_models import BUILTINS, CIFAR_SHAPE
from codesign.data import DATASETS
from codesign.errors import CodesignError
from codesign.network import CandidateSpec
from codesign.runs import Run
from codesign.storage import is_uri

# The buffers an exported model.py carries its input normalisation in (codesign/export.py): a state dict from an
# export holds them besides the network's own tensors.
NORMALIZATION_KEYS = ("input_mean", "input_std")


@dataclass(frozen=True)
class TrainedOn:
    """The data a design's weights were trained on, as `codesign train` flags reproduce it."""

    dataset: str
    split_seed: int = 0
    val_size: int | None = None  # None: the data set's default
    train_size: int | None = None  # the first N training images only (a search's --train-size)
    data_dir: bool = False  # read from a folder the user named (not recorded: the path may be private)

    @classmethod
    def of(cls, data: dict[str, Any] | None) -> TrainedOn | None:
        """From a summary.json or an export's `about` block (None when it names no known data set)."""
        if not isinstance(data, dict) or data.get("dataset") not in DATASETS:
            return None

        def count(key: str) -> int | None:
            value = data.get(key)
            return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None

        seed = data.get("split_seed", 0)
        return cls(
            data["dataset"],
            seed if isinstance(seed, int) and not isinstance(seed, bool) and seed >= 0 else 0,
            count("val_size"),
            count("train_size_limit"),
            data.get("data_dir_given") is True,
        )


@dataclass
class Design:
    """A network ready to profile, train or export, where it came from and what is known of it."""

    module: nn.Module
    label: str
    spec: CandidateSpec | None = None
    weights: Path | None = None  # a state dict to load (a trial's or a trained model's)
    facts: dict[str, Any] | None = None  # a trials.csv row or a training summary: scores, hyper-parameters
    arch: Arch | None = None  # the accelerator the design was searched for, when it has its own
    image_shape: tuple[int, ...] | None = None  # the images it takes, when known and there is no spec
    trained_on: TrainedOn | None = None  # the data its weights were trained on, when known

    @property
    def input_shape(self) -> tuple[int, ...] | None:
        """The model's natural input shape (batch 1), when its spec or its maker states it."""
        if self.spec is not None:
            return (1, *self.spec.input_shape)
        return (1, *self.image_shape) if self.image_shape else None


def _import_file(path: Path, prefix: str) -> ModuleType:
    """Import a Python file by path (a user's model or an exported model.py)."""
    name = f"{prefix}_{abs(hash(path.resolve()))}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise CodesignError(f"{path}: not a Python file")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as exc:  # the user's file: report its error, not ours
        raise CodesignError(f"{path}: importing it failed: {type(exc).__name__}: {exc}") from None
    return module


def load_class(path: Path, class_name: str) -> nn.Module:
    """`ClassName()` from a Python file."""
    if not path.is_file():
        raise CodesignError(f"{path}: model file not found")
    cls = getattr(_import_file(path, "codesign_user"), class_name, None)
    if cls is None:
        raise CodesignError(f"{path}: has no class `{class_name}`")
    try:
        model = cls()
    except Exception as exc:
        raise CodesignError(
            f"{path}:{class_name}() failed (it must build with no arguments): {type(exc).__name__}: {exc}"
        ) from None
    if not isinstance(model, nn.Module):
        raise CodesignError(f"{path}:{class_name} is not a torch.nn.Module")
    return model


def load_exported(folder: Path) -> nn.Module:
    """Import model.py from an export folder and build its Net (weights loaded when present)."""
    net = _import_file(folder / "model.py", "codesign_export").Net()
    if (folder / "weights.pt").is_file():
        load_weights(net, folder / "weights.pt")
    return net


def load_weights(model: nn.Module, path: Path) -> None:
    """Load a state dict file into `model`; a file that is not one, or not this model's, is one line naming it."""
    try:
        state = torch.load(path, weights_only=True, map_location="cpu")
    except Exception as exc:  # torch raises many kinds for a damaged or foreign file: name the file instead
        raise CodesignError(f"{path}: not a PyTorch state dict ({_first_line(exc)})") from None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise CodesignError(f"{path}: not a state dict (a dict of tensors, as `torch.save(model.state_dict())` writes)")
    own = model.state_dict()
    for key in NORMALIZATION_KEYS:  # an export's weights.pt: its input normalisation is not the network's
        if key in state and key not in own:
            del state[key]
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:
        raise CodesignError(f"{path}: the weights do not fit this model ({_first_line(exc)})") from None


def _first_line(exc: BaseException) -> str:
    """The first informative line of an exception (torch's start with a heading line)."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    if len(lines) > 1 and lines[0].endswith(":"):
        return f"{lines[0]} {lines[1]}"[:300]
    return (lines[0] if lines else type(exc).__name__)[:300]


def _label(path: Path) -> str:
    """How an export or a message names a file the user gave: its name, not the path as typed (which may
    hold a home folder)."""
    return path.name or path.resolve().name


def trial_design(run: Run, trial: str | None = None, best: str = "score") -> Design:
    """A searched trial (by id, or the run's best) with its saved weights and its accelerator."""
    record = run.pick(trial, best)
    if record.spec is None:
        raise CodesignError(f"{run.folder}: trial {record.trial_id} has no spec ({record.status}: {record.reason})")
    torch.manual_seed(record.spec.sgd.seed)
    trained_on = None
    if run.has_settings():
        data = run.settings().data
        trained_on = (
            None
            if data.dataset is None
            else TrainedOn(
                data.dataset, data.split_seed, data.val_size, data.train_size, data_dir=data.data_dir is not None
            )
        )
    return Design(
        record.spec.build(),
        f"{run.name} trial {record.trial_id}",
        record.spec,
        run.weights_of(record),
        record.to_row(),
        run.arch_of(record),
        trained_on=trained_on,
    )


def _folder_design(folder: Path, trial: str | None, best: str) -> Design:
    if Run.holds_run(folder):  # a search run: one of its trials
        return trial_design(Run(folder), trial, best)
    if trial is not None:
        raise CodesignError(f"{folder}: --trial needs a search run folder (one with trials.csv)")
    arch = load_arch(folder / "arch.yaml") if (folder / "arch.yaml").is_file() else None
    weights = folder / "weights.pt" if (folder / "weights.pt").is_file() else None
    summary = _summary(folder / "summary.json")
    trained_on = TrainedOn.of(summary)
    if (folder / "spec.json").is_file():  # an export or a `codesign train --out` folder
        spec = CandidateSpec.load(folder / "spec.json")
        about = spec_about(folder / "spec.json")  # an export's notes: what it was trained on, its scores
        scores = about.get("scores")
        facts = summary or (scores if isinstance(scores, dict) else None)
        return Design(
            spec.build(), _label(folder), spec, weights, facts, arch, trained_on=trained_on or TrainedOn.of(about)
        )
    if summary and summary.get("spec"):
        spec = CandidateSpec.from_dict(summary["spec"], str(folder / "summary.json"))
        return Design(spec.build(), _label(folder), spec, weights, summary, arch, trained_on=trained_on)
    if (folder / "model.py").is_file():
        return Design(load_exported(folder), _label(folder), arch=arch)
    raise CodesignError(f"{folder}: not a search run, export or training folder (no trials.csv, spec.json or model.py)")


def spec_about(path: Path) -> dict[str, Any]:
    """The `about` block of a spec JSON file (what an export notes beside the spec), or {}."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError, RecursionError):
        return {}  # CandidateSpec.load has said what is wrong with the file
    about = data.get("about") if isinstance(data, dict) else None
    return about if isinstance(about, dict) else {}


def _summary(path: Path) -> dict[str, Any] | None:
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise CodesignError(f"{path}: not valid JSON (line {exc.lineno}: {exc.msg})") from None
    return data if isinstance(data, dict) else None


def load_design(
    text: str,
    trial: str | None = None,
    best: str = "score",
    weights: Path | None = None,
    image_shape: tuple[int, int, int] | None = None,
    num_classes: int = 10,
) -> Design:
    """The design a MODEL argument names; `trial`/`best` pick a search run's trial, `weights` a state dict.

    `image_shape` and `num_classes` shape the built-ins for a data set (CIFAR-10's 3×32×32 by default).
    """
    path = Path(text)
    if is_uri(text):  # a search run in its storage (s3://bucket/runs/<name>, file://...)
        design = trial_design(Run.open(text), trial, best)
    elif path.is_dir():
        design = _folder_design(path, trial, best)
    elif trial is not None:
        raise CodesignError(f"{text}: --trial needs a search run folder (one with trials.csv)")
    elif text in BUILTINS:
        shape = image_shape or CIFAR_SHAPE
        design = Design(BUILTINS[text](num_classes, shape), text, image_shape=shape)
    elif ":" in text and text.rsplit(":", 1)[0].endswith(".py"):
        file, class_name = text.rsplit(":", 1)
        design = Design(load_class(Path(file), class_name), f"{_label(Path(file))}:{class_name}")
    elif path.suffix == ".py":
        raise CodesignError(f"{text}: name the class too, as `{text}:ClassName`")
    elif path.suffix == ".json" or path.is_file():
        spec = CandidateSpec.load(path)
        summary = _summary(path.parent / "summary.json")
        design = Design(
            spec.build(), _label(path), spec, facts=summary, trained_on=TrainedOn.of(summary or spec_about(path))
        )
    else:
        raise CodesignError(
            f"unknown model {text!r}: give `file.py:ClassName`, a spec .json file, or one of {', '.join(BUILTINS)}"
        )
    if weights is not None:
        if not weights.is_file():
            raise CodesignError(f"{weights}: weights file not found")
        design.weights = weights
    return design
