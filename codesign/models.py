"""Built-in reference networks and how a MODEL argument (file.py:Class, spec JSON, name) is resolved."""

from __future__ import annotations

import importlib.util
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from torch import nn

from codesign.arch import Arch, load_arch
from codesign.errors import CodesignError
from codesign.network import CandidateSpec


class LeNet5(nn.Module):
    """The lab's LeNet-5 for 32x32x3 inputs (2 conv + 3 FC layers)."""

    def __init__(self, num_classes: int = 10):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 6, 5), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2),
        )
        self.classifier = nn.Sequential(
            nn.Flatten(), nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(),
            nn.Linear(84, num_classes),
        )

    def forward(self, x):
        return self.classifier(self.features(x))


def _separable(cin: int, cout: int) -> list[nn.Module]:
    return [nn.Conv2d(cin, cin, 3, 2, 1, groups=cin, bias=False), nn.BatchNorm2d(cin), nn.ReLU(),
            nn.Conv2d(cin, cout, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU()]


class Lab2023Mobile(nn.Module):
    """The lab's 2023 example network (profiled as network-Feb-28-2023 layers 1-12): a conv, five
    stride-2 depthwise-separable blocks and two FC layers."""

    def __init__(self, num_classes: int = 10):
        super().__init__()
        blocks: list[nn.Module] = [nn.Conv2d(3, 16, 3, 1, 1, bias=False), nn.BatchNorm2d(16), nn.ReLU()]
        for cin, cout in ((16, 32), (32, 64), (64, 128), (128, 256)):
            blocks += _separable(cin, cout)
        blocks += [nn.Conv2d(256, 256, 3, 2, 1, groups=256, bias=False), nn.BatchNorm2d(256), nn.ReLU()]
        self.features = nn.Sequential(*blocks)
        self.classifier = nn.Sequential(nn.Flatten(), nn.Linear(256, 512), nn.ReLU(),
                                        nn.Linear(512, num_classes))

    def forward(self, x):
        return self.classifier(self.features(x))


BUILTINS: dict[str, Callable[[], nn.Module]] = {"lenet5": LeNet5, "lab2023": Lab2023Mobile}


@dataclass
class ResolvedModel:
    """A model ready to profile, with where it came from and its spec when it has one."""

    module: nn.Module
    label: str
    spec: CandidateSpec | None = None
    arch: Arch | None = None  # the accelerator the design was searched for, when it has its own

    @property
    def input_shape(self) -> tuple[int, ...] | None:
        """The model's natural input shape (batch 1), when the spec states it."""
        return (1, *self.spec.input_shape) if self.spec else None


def _load_class(path: Path, class_name: str) -> nn.Module:
    if not path.is_file():
        raise CodesignError(f"{path}: model file not found")
    module_name = f"codesign_user_{abs(hash(path.resolve()))}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as exc:  # the user's file: report its error, not ours
        raise CodesignError(f"{path}: importing it failed: {type(exc).__name__}: {exc}") from None
    cls = getattr(module, class_name, None)
    if cls is None:
        raise CodesignError(f"{path}: has no class `{class_name}`")
    try:
        model = cls()
    except Exception as exc:
        raise CodesignError(f"{path}:{class_name}() failed (it must build with no arguments): "
                            f"{type(exc).__name__}: {exc}") from None
    if not isinstance(model, nn.Module):
        raise CodesignError(f"{path}:{class_name} is not a torch.nn.Module")
    return model


def _from_folder(folder: Path, trial: str | None) -> ResolvedModel:
    from codesign.export import design_from_trial, load_exported

    if (folder / "trials.csv").is_file():  # a search run: one of its trials
        design = design_from_trial(folder, trial)
        return ResolvedModel(design.model, design.label, design.spec, design.arch)
    if trial is not None:
        raise CodesignError(f"{folder}: --trial needs a search run folder (one with trials.csv)")
    arch = load_arch(folder / "arch.yaml") if (folder / "arch.yaml").is_file() else None
    if (folder / "spec.json").is_file():  # an export or a `codesign train --out` folder
        spec = CandidateSpec.load(folder / "spec.json")
        return ResolvedModel(spec.build(), str(folder), spec, arch)
    if (folder / "summary.json").is_file():
        spec_data = json.loads((folder / "summary.json").read_text()).get("spec")
        if spec_data:
            spec = CandidateSpec.from_dict(spec_data, str(folder / "summary.json"))
            return ResolvedModel(spec.build(), str(folder), spec)
    if (folder / "model.py").is_file():
        return ResolvedModel(load_exported(folder), str(folder), arch=arch)
    raise CodesignError(f"{folder}: not a search run, export or training folder (no trials.csv, spec.json or model.py)")


def resolve_model(text: str, trial: str | None = None) -> ResolvedModel:
    """MODEL as `path/to/file.py:ClassName`, a spec JSON file, a built-in name, a search run folder
    (`--trial ID`, else its best trial by rubric score), or an exported / trained folder."""
    if Path(text).is_dir():
        return _from_folder(Path(text), trial)
    if trial is not None:
        raise CodesignError(f"{text}: --trial needs a search run folder (one with trials.csv)")
    if text in BUILTINS:
        return ResolvedModel(BUILTINS[text](), text)
    if ":" in text and text.rsplit(":", 1)[0].endswith(".py"):
        file, class_name = text.rsplit(":", 1)
        return ResolvedModel(_load_class(Path(file), class_name), text)
    path = Path(text)
    if path.suffix == ".json" or path.is_file():
        spec = CandidateSpec.load(path)
        return ResolvedModel(spec.build(), text, spec)
    if path.suffix == ".py":
        raise CodesignError(f"{text}: name the class too, as `{text}:ClassName`")
    raise CodesignError(f"unknown model {text!r}: give `file.py:ClassName`, a spec .json file, or one of "
                        f"{', '.join(BUILTINS)}")
