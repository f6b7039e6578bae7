"""The Python API: profile, train, search and export from a script or a notebook.

Every `codesign` command is one of these functions with its arguments spelled as keywords; the results are
objects that print as the CLI prints and show as tables and plots in Jupyter (`_repr_html_`).

    import codesign
    codesign.profile("lenet5")                                   # energy, cycles, rubric points per layer
    run = codesign.search(space="lenet", dataset="fashion-mnist", trials=12)
    run.front; run.plot(); run.export("best/")
"""

from __future__ import annotations

import dataclasses
import html
import json
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import torch
from torch import nn

from codesign.arch import Arch, load_arch
from codesign.cost import CostCache, get_engine
from codesign.cost.analytic import cost_under_mapping
from codesign.data import DATASETS, Dataset, Split, load_dataset
from codesign.designs import Design, load_design, trial_design
from codesign.errors import CodesignError
from codesign.export import export as write_export
from codesign.network import CandidateSpec, SGDConfig
from codesign.pareto import pareto_front
from codesign.profile import (
    MAPPER_NOTE,
    ROLES,
    NetworkCost,
    format_comparison,
    format_table,
    other_mapper,
    profile_workload,
)
from codesign.rubric import PJ_PER_MJ, Rubric, load_rubric
from codesign.runs import Run, TrialRecord
from codesign.search import DataSettings, ResourceSettings, SearchSettings, TuneSettings, parse_budget
from codesign.storage import is_uri
from codesign.train import EpochMetrics, TrainResult, accuracy, build_model, resolve_device
from codesign.train import train as train_model
from codesign.workload import trace

ModelLike = str | Path | nn.Module | CandidateSpec | Design
"""What names a design: a MODEL string (built-in, `file.py:Class`, spec JSON, run or export folder), a path, an
nn.Module instance, a CandidateSpec or a Design."""


def _rubric(rubric: str | Path | Rubric | None) -> Rubric:
    return rubric if isinstance(rubric, Rubric) else load_rubric(rubric)


def _arch(arch: str | Path | Arch | None, rubric: Rubric) -> Arch:
    return arch if isinstance(arch, Arch) else load_arch(arch or rubric.accelerator)


def _image_shape(dataset: str | None) -> tuple[int, int, int] | None:
    if dataset is None:
        return None
    if dataset not in DATASETS:
        raise CodesignError(f"unknown dataset {dataset!r} (available: {', '.join(DATASETS)})")
    return DATASETS[dataset].input_shape


def design_of(
    model: ModelLike,
    trial: str | None = None,
    dataset: str | None = None,
    image_shape: tuple[int, ...] | None = None,
) -> Design:
    """The Design any accepted form of `model` names (a `dataset` or `image_shape` shapes the built-ins)."""
    if isinstance(model, Design):
        return model
    if isinstance(model, CandidateSpec):
        torch.manual_seed(model.sgd.seed)
        return Design(model.build(), "spec", model)
    if isinstance(model, nn.Module):
        return Design(model, type(model).__name__)
    shape = image_shape if image_shape and len(image_shape) == 3 else _image_shape(dataset)
    return load_design(str(model), trial, image_shape=shape)


# ---------------------------------------------------------------------------------------------- profile


@dataclass
class Profile:
    """A design's inference cost on an accelerator: totals, rubric points and a row per distinct layer."""

    label: str
    rubric: Rubric
    _net: NetworkCost = field(repr=False)
    _other: NetworkCost | None = field(default=None, repr=False)  # the analytic engine's other mapper
    input_note: str = ""  # which input shape was profiled and why
    val_accuracy: float | None = None  # the design's validation accuracy, when its run or training recorded it

    @property
    def mapper(self) -> str:
        """The analytic mapper whose mappings these totals are ("" for the external engines)."""
        return self._net.mapper

    def _by_role(self, role: str) -> NetworkCost | None:
        return next((n for n in (self._net, self._other) if n is not None and ROLES.get(n.mapper) == role), None)

    @property
    def graded_energy_pj(self) -> float | None:
        """Energy under the mapping the lab's timeloop-mapper lands on (random-pruned): what the rubric awards."""
        net = self._by_role("graded")
        return None if net is None else net.energy_pj

    @property
    def graded_cycles(self) -> int | None:
        net = self._by_role("graded")
        return None if net is None else net.cycles

    @property
    def best_energy_pj(self) -> float | None:
        """Energy under the best mapping of the same mapspace (exhaustive): what a good compiler could reach."""
        net = self._by_role("best")
        return None if net is None else net.energy_pj

    @property
    def best_cycles(self) -> int | None:
        net = self._by_role("best")
        return None if net is None else net.cycles

    @property
    def energy_pj(self) -> float:
        return self._net.energy_pj

    @property
    def energy_mj(self) -> float:
        return self._net.energy_pj / PJ_PER_MJ

    @property
    def cycles(self) -> int:
        return self._net.cycles

    @property
    def peak_activation_bytes(self) -> int:
        return self._net.peak_activation_bytes

    @property
    def macs(self) -> int:
        return self._net.workload.macs

    @property
    def parameters(self) -> int:
        return self._net.workload.parameters

    @property
    def arch(self) -> Arch:
        return self._net.arch

    @property
    def energy_points(self) -> int:
        return self._net.score(self.rubric).energy_points

    @property
    def latency_points(self) -> int:
        return self._net.score(self.rubric).latency_points

    def points(self, accuracy: float) -> int:
        """Rubric points of this design at a given (test) accuracy; 0 when a hard constraint fails."""
        return self._net.score(self.rubric, error=1.0 - accuracy).total

    def rubric_line(self) -> str:
        """The rubric's total beside the per-objective points: what a profile gives, and what accuracy adds."""
        score = self._net.score(self.rubric)
        rules = self.rubric
        top_error = rules.error_points[0][1] if rules.error_points else 0
        if not score.feasible:
            return f"rubric      0 of {rules.max_points} points: the peak activation breaks the rubric's limit"
        if self.val_accuracy is not None:
            full = self._net.score(rules, error=1.0 - self.val_accuracy)
            return (
                f"rubric      {full.error_points} (validation accuracy {self.val_accuracy:.4f}) + "
                f"{score.energy_points} + {score.latency_points} = {full.total} of {rules.max_points} points, as "
                f"the search scored it (the final score takes the test error)"
            )
        return (
            f"rubric      {score.energy_points} + {score.latency_points} = {score.total} of {rules.max_points} "
            f"points; accuracy adds up to {top_error} once trained (`codesign train MODEL --final` scores the "
            f"test error)"
        )

    def to_dict(self) -> dict[str, Any]:
        """What `codesign profile --json` prints: `layers` and `total` (and why this input shape)."""
        result = self._net.to_dict(self.rubric, self._other)
        score = self._net.score(self.rubric, None if self.val_accuracy is None else 1.0 - self.val_accuracy)
        result["input_shape_reason"] = self.input_note
        result["total"].update(
            rubric_points=score.total,  # energy + latency, + accuracy when a validation accuracy is known
            accuracy_points=score.error_points,
            max_points=self.rubric.max_points,
            val_accuracy=self.val_accuracy,
        )
        return result

    def to_pandas(self) -> pd.DataFrame:
        """One row per distinct layer: shape, count, MACs, cycles, energy, utilization, mapping."""
        rows = self.to_dict()["layers"]
        table = pd.DataFrame(rows)
        table.insert(0, "layer", [", ".join(r["names"]) for r in rows])
        table["energy_uj"] = table["energy_pj"] / 1e6
        extra = []
        if self._other is not None:
            role = ROLES[self._other.mapper]
            table[f"{role}_cycles"] = [c.cycles for c in self._other.costs]
            table[f"{role}_energy_uj"] = [c.energy_pj / 1e6 for c in self._other.costs]
            extra = [f"{role}_cycles", f"{role}_energy_uj"]
        shape = ["layer", "kind", "count", "C", "M", "P", "Q", "R", "S", "Wstride", "macs"]
        keep = [*shape, "cycles", "energy_uj", *extra, "utilization", "mapping"]
        return table[[c for c in keep if c in table]]

    def table(self, show_mapping: bool = False) -> str:
        """The per-layer table and totals that `codesign profile` prints."""
        lines = format_table(self._net, self.rubric, show_mapping=show_mapping, other=self._other).split("\n")
        if self.input_note:  # the shape on a line of its own, with why
            lines[0] = lines[0].rsplit(", input ", 1)[0]
            lines.insert(1, f"input {tuple(self._net.workload.input_shape)}: {self.input_note}")
        at = next((i for i, line in enumerate(lines) if line.startswith("peak act.")), len(lines))
        lines.insert(at, self.rubric_line())
        return "\n".join(lines)

    def compare(self, other: Profile) -> str:
        """This profile beside another engine's, layer by layer, with the % difference."""
        return format_comparison(self._net, other._net)

    def __str__(self) -> str:
        return self.table()

    def _repr_html_(self) -> str:
        mapper = f", {self.mapper} mapper" if self.mapper else ""
        head = (
            f"<b>{html.escape(self.label)}</b> on {html.escape(self.arch.name)} ({self._net.engine} engine"
            f"{mapper}): {self.energy_mj:.4f} mJ ({self.energy_points} points), {self.cycles:,} cycles "
            f"({self.latency_points} points), peak activation {self.peak_activation_bytes:,} B "
            f"(limit {self.rubric.peak_activation_limit_bytes:,} B)"
        )
        if self._other is not None:
            role = ROLES[self._other.mapper]
            head += (
                f"; {role} mapping: {self._other.energy_pj / PJ_PER_MJ:.4f} mJ, {self._other.cycles:,} cycles"
                f"<br><small>{html.escape(MAPPER_NOTE)}</small>"
            )
        body = self.to_pandas().to_html(index=False, float_format=lambda v: f"{v:.4g}", border=0)
        return f"<div><p>{head}</p>{body}</div>"


def profile(
    model: ModelLike,
    input_shape: Sequence[int] | None = None,
    *,
    arch: str | Path | Arch | None = None,
    engine: str = "analytic",
    mapper: str | None = None,
    dataset: str | None = None,
    trial: str | None = None,
    rubric: str | Path | Rubric | None = None,
    timeloop_map: str | Path | None = None,
    timeloop_lab: str | Path | None = None,
    cache: bool | str | Path = True,
    progress: bool = False,
) -> Profile:
    """Energy, cycles, peak activation and rubric points of `model` on an accelerator (the rubric's by default).

    `input_shape` is batch first (default: the spec's, the dataset's images, else 1×3×32×32); `engine` is
    analytic (milliseconds), timeloop or accelforge; `mapper` the analytic engine's: random-pruned (the lab's
    timeloop-mapper search, the numbers the rubric awards; the arch's default) or exhaustive (the best mapping);
    the other one's totals are kept beside (`graded_*`, `best_*`); `cache` a cache file, True or False.
    """
    rules = _rubric(rubric)
    design = design_of(model, trial, dataset, tuple(input_shape)[1:] if input_shape else None)
    on = arch if arch is not None else design.arch
    accelerator = _arch(on, rules)
    shape, note = input_shape_of(design, input_shape, dataset)
    if len(shape) < 2 or any(not isinstance(v, int) or v < 1 for v in shape):
        raise CodesignError(f"input shape {shape} must be positive sizes, batch first (e.g. 1,3,32,32)")
    workload = trace(design.module, shape)
    if timeloop_map is not None:
        if len(workload.layers) != 1:
            raise CodesignError(
                f"a Timeloop map.yaml evaluates one layer, but {design.label} has "
                f"{len(workload.layers)} distinct Conv2d/Linear layers"
            )
        net = NetworkCost(
            workload, accelerator, [cost_under_mapping(workload.layers[0], accelerator, timeloop_map)], "timeloop-map"
        )
    else:
        store = None if cache is False else CostCache(None if cache is True else cache)
        chosen = get_engine(engine, mapper=mapper, timeloop_lab=Path(timeloop_lab) if timeloop_lab else None)
        net = profile_workload(workload, accelerator, chosen, store, progress=progress and chosen.parallel)
        return Profile(design.label, rules, net, other_mapper(net, store), note, _val_accuracy(design))
    return Profile(design.label, rules, net, None, note, _val_accuracy(design))


def input_shape_of(
    design: Design, input_shape: Sequence[int] | None = None, dataset: str | None = None
) -> tuple[tuple[int, ...], str]:
    """The input shape a profile uses (batch first) and why: given, the design's own, the data set's, or
    CIFAR-10's (the default, said so with how to choose another)."""
    if input_shape:
        return tuple(input_shape), "as given (--input-shape)"
    known = design.trained_on.dataset if design.trained_on is not None else None
    if design.spec is not None:
        trained = f"; trained on {DATASETS[known].label}" if known else ""
        return (1, *design.spec.input_shape), f"the spec's own{trained}"
    if design.input_shape is not None and dataset is not None:
        return design.input_shape, f"the {DATASETS[dataset].label} shape (--dataset {dataset})"
    if design.input_shape is not None and tuple(design.input_shape[1:]) != (3, 32, 32):
        return design.input_shape, "the shape the model was built for"
    if dataset is not None:
        return (1, *DATASETS[dataset].input_shape), f"the {DATASETS[dataset].label} shape (--dataset {dataset})"
    others = " or ".join(f"--dataset {name}" for name in DATASETS if name != "cifar10")
    whose = "the built-in's default" if design.input_shape is not None else "codesign's default for a model"
    return (1, 3, 32, 32), f"the CIFAR-10 shape, {whose}; pass {others}, or --input-shape, for another"


def _val_accuracy(design: Design) -> float | None:
    """The validation accuracy a design's run row or training summary records (a number in [0, 1]), if any."""
    value = (design.facts or {}).get("val_accuracy")
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
        return None
    return float(value)


# ------------------------------------------------------------------------------------------------ train


@dataclass
class Training:
    """A trained model and how training went; with `final=True` also its test accuracy and rubric score."""

    model: nn.Module
    label: str
    status: str  # ok, diverged or stopped
    val_accuracy: float
    best_val_accuracy: float
    epochs: int
    seconds: float
    images_per_second: float
    history: pd.DataFrame
    summary: dict[str, Any]  # what `codesign train` writes as summary.json
    spec: CandidateSpec | None = None
    test_accuracy: float | None = None
    profile: Profile | None = None  # the trained design on the rubric's accelerator (final only)

    @property
    def points(self) -> int | None:
        """Rubric points with the test accuracy (final only)."""
        if self.test_accuracy is None or self.profile is None:
            return None
        return self.profile.points(self.test_accuracy)

    def save(self, out: str | Path) -> Path:
        """Write weights.pt, summary.json and (for a spec) spec.json into `out`; returns the folder."""
        folder = Path(out)
        folder.mkdir(parents=True, exist_ok=True)
        torch.save(self.model.state_dict(), folder / "weights.pt")
        (folder / "summary.json").write_text(json.dumps(self.summary, indent=2, allow_nan=False))
        if self.spec is not None:
            (folder / "spec.json").write_text(self.spec.to_json())
        return folder

    def _repr_html_(self) -> str:
        final = "" if self.test_accuracy is None else f", test accuracy {self.test_accuracy:.4f}, {self.points} points"
        head = (
            f"<b>{html.escape(self.label)}</b>: {self.status}, validation accuracy {self.val_accuracy:.4f} after "
            f"{self.epochs} epochs ({self.seconds:.1f} s){final}"
        )
        return f"<div><p>{head}</p>{self.history.to_html(index=False, border=0)}</div>"


def train(
    model: ModelLike,
    dataset: str = "cifar10",
    *,
    data_dir: str | Path | None = None,
    device: str = "auto",
    split_seed: int = 0,
    val_size: int | None = None,
    train_size: int | None = None,
    final: bool = False,
    arch: str | Path | Arch | None = None,
    rubric: str | Path | Rubric | None = None,
    progress: bool = False,
    on_epoch: Any = None,
    **sgd: Any,
) -> Training:
    """Train `model` with SGD (the rubric's rules) on `dataset`'s training split; report validation accuracy.

    `**sgd` overrides SGDConfig fields (lr, momentum, nesterov, weight_decay, batch_size, epochs, schedule,
    warmup_epochs, seed); a spec brings its own recipe. `train_size` trains on the first N images of the training
    split only (as a search's `train_size` does). `final=True` evaluates the test set once and scores the design
    with the rubric.
    """
    rules = _rubric(rubric)
    design = design_of(model, dataset=dataset)
    recipe = _recipe(design, rules, sgd)
    where = resolve_device(device)
    data = load_dataset(dataset, data_dir, where, split_seed=split_seed, val_size=val_size)
    data = _first_images(data, train_size)
    net = _fresh_model(model, design, recipe, data.info.input_shape)
    if progress:
        print(
            f"training {design.label} on {data.info.name} ({len(data.train):,} train / {len(data.val):,} "
            f"validation, split seed {split_seed}) on {where}: SGD lr {recipe.lr} momentum {recipe.momentum} "
            f"{'nesterov ' if recipe.nesterov else ''}wd {recipe.weight_decay} batch {recipe.batch_size} "
            f"{recipe.epochs} epochs {recipe.schedule}, seed {recipe.seed}"
        )
    result = train_model(net, data, recipe, rules, on_epoch=on_epoch, progress=progress)
    done = _training(net, design, data, recipe, result, split_seed, str(where))
    # what `codesign train` flags reproduce it (an export's README): --train-size, and whether --data-dir was given
    done.summary.update(train_size_limit=train_size, data_dir_given=data_dir is not None)
    if final:
        done.test_accuracy = accuracy(net, data, data.load_test())
        done.profile = profile(net.cpu(), (1, *data.info.input_shape), arch=arch, rubric=rules)
        score = done.profile._net.score(rules, error=1.0 - done.test_accuracy)
        done.summary.update(
            test_accuracy=done.test_accuracy,
            energy_pj=done.profile.energy_pj,
            cycles=done.profile.cycles,
            peak_activation_bytes=done.profile.peak_activation_bytes,
            rubric=score.to_dict(),
            arch=done.profile.arch.name,
        )
    return done


def _first_images(data: Dataset, train_size: int | None) -> Dataset:
    """The data with its training split cut to the first `train_size` images (a search's --train-size)."""
    if train_size is None:
        return data
    if isinstance(train_size, bool) or not isinstance(train_size, int) or train_size < 1:
        raise CodesignError(f"train_size must be a whole number of images above 0, got {train_size!r}")
    split = Split(data.train.images[:train_size], data.train.labels[:train_size])
    return dataclasses.replace(data, train=split)


def _recipe(design: Design, rules: Rubric, sgd: dict[str, Any]) -> SGDConfig:
    """The design's SGD recipe (a spec's own, else the rubric's epochs) with `sgd`'s overrides."""
    unknown = sorted(set(sgd) - {f.name for f in dataclasses.fields(SGDConfig)})
    if unknown:
        raise CodesignError(
            f"unknown SGD setting `{unknown[0]}` (SGDConfig has: "
            f"{', '.join(f.name for f in dataclasses.fields(SGDConfig))})"
        )
    return dataclasses.replace(
        design.spec.sgd if design.spec else SGDConfig(epochs=rules.max_epochs),
        **{k: v for k, v in sgd.items() if v is not None},
    )


def _training(
    net: nn.Module, design: Design, data: Dataset, recipe: SGDConfig, result: TrainResult, split_seed: int, device: str
) -> Training:
    """The Training result of a finished run, with the summary `codesign train` writes."""
    summary: dict[str, Any] = {
        "model": design.label,
        "spec": design.spec.to_dict() if design.spec else None,
        "dataset": data.info.name,
        "data_dir": str(data.source),
        "split_seed": split_seed,
        "train_size": len(data.train),
        "val_size": len(data.val),
        "device": device,
        "sgd": dataclasses.asdict(recipe),
        "seed": recipe.seed,
        "status": result.status,
        "val_accuracy": result.val_accuracy,
        "best_val_accuracy": result.best_val_accuracy,
        "epochs": result.epochs,
        "seconds": result.seconds,
        "images_per_second": result.images_per_second,
        "history": [dataclasses.asdict(h) for h in result.history],
    }
    return Training(
        net,
        design.label,
        result.status,
        result.val_accuracy,
        result.best_val_accuracy,
        result.epochs,
        result.seconds,
        result.images_per_second,
        _history(result.history),
        summary,
        design.spec,
    )


def _fresh_model(model: ModelLike, design: Design, sgd: SGDConfig, image_shape: tuple[int, ...]) -> nn.Module:
    """The model to train, its initial weights drawn from the recipe's seed."""
    if design.spec is not None:
        if tuple(design.spec.input_shape) != tuple(image_shape):
            raise CodesignError(
                f"{design.label}: input_shape {tuple(design.spec.input_shape)} does not match "
                f"the data set's images {tuple(image_shape)}"
            )
        return build_model(design.spec, sgd.seed)
    if isinstance(model, (nn.Module, Design)):
        return design.module  # the caller's own instance: trained in place
    torch.manual_seed(sgd.seed)  # rebuild so that the weights' initialisation follows the seed
    return design_of(model, dataset=_dataset_of(image_shape)).module


def _dataset_of(image_shape: tuple[int, ...]) -> str | None:
    return next((name for name, info in DATASETS.items() if info.input_shape == tuple(image_shape)), None)


def _history(history: list[EpochMetrics]) -> pd.DataFrame:
    return pd.DataFrame([dataclasses.asdict(h) for h in history])


# ----------------------------------------------------------------------------------------------- search


class SearchRun:
    """A search's results (running or finished): trials and front as DataFrames, best designs, figures."""

    def __init__(self, path: str | Path | Run):
        self._run = path if isinstance(path, Run) else Run(path)
        if not self._run.folder.is_dir():
            raise CodesignError(f"{self._run.folder}: no such run folder")

    @property
    def path(self) -> Path:
        return self._run.folder

    @property
    def name(self) -> str:
        return self._run.name

    @property
    def settings(self) -> SearchSettings:
        return self._run.settings()

    @property
    def trials(self) -> pd.DataFrame:
        """Every trial: design, hyper-parameters, objectives, rubric points, status."""
        return self._run.trials()

    @property
    def front(self) -> pd.DataFrame:
        """The Pareto front of complete, feasible trials, best accuracy first."""
        return pareto_front(self.trials, self._run.objectives())

    def best(self, by: str = "score") -> TrialRecord:
        """The best complete trial by rubric `score`, `accuracy`, `energy` or `latency`."""
        return self._run.pick(best=by)

    def trial(self, trial_id: str) -> TrialRecord:
        """One trial by id."""
        return self._run.pick(trial_id)

    def design(self, trial: str | None = None, by: str = "score") -> Design:
        """A trial's design (its trained weights and accelerator attached), the best by `by` if no id."""
        return trial_design(self._run, trial, by)

    def plot(self, kind: str = "3d") -> Any:
        """A Plotly figure of the trials, front highlighted: `3d`, a pair like `energy-accuracy` (the rubric's
        bands drawn), `points`, `progress` (hypervolume and best accuracy over the trials) or `parallel`
        (hyper-parameters against the objectives)."""
        from codesign.plots import figures, parallel_figure, progress_figure

        shown = figures(self.trials, self.front, self._run.objectives())
        if not shown:
            raise CodesignError(f"{self.path}: no complete trial to plot yet")
        names = ["3d", "energy-accuracy", "latency-accuracy", "energy-latency"]
        if len(shown) > 5:
            names += ["area-accuracy", "area-energy", "area-latency"]
        names.append("points")
        if kind == "progress":
            return progress_figure(self.trials, self._run.objectives())
        if kind == "parallel" and (figure := parallel_figure(self.trials, self._run.objectives())) is not None:
            return figure
        if kind not in names:
            raise CodesignError(f"plot kind {kind!r}: one of {', '.join([*names, 'progress', 'parallel'])}")
        return shown[names.index(kind)]

    def export(
        self,
        out: str | Path,
        trial: str | None = None,
        by: str = "score",
        onnx: bool = False,
        mapper: str | None = None,
        force: bool = False,
    ) -> list[Path]:
        """Export a trial (the best by `by` if no id) as a standalone model.py with weights and README.

        `out` must be new or empty unless `force` (then the export's files are replaced, others kept)."""
        return write_export(self.design(trial, by), Path(out), onnx=onnx, mapper=mapper, force=force)

    def __repr__(self) -> str:
        return f"SearchRun({str(self.path)!r})"

    def _repr_html_(self) -> str:
        trials, front = self.trials, self.front
        counts = ", ".join(f"{n} {s}" for s, n in sorted(trials["status"].value_counts().items()))
        shown = [
            c
            for c in (
                "trial_id",
                "rubric_points",
                "val_accuracy",
                "energy_mj",
                "cycles",
                "area_mm2",
                "peak_activation_bytes",
                "channels",
                "epochs",
            )
            if c in front
        ]
        table = front[shown].to_html(index=False, float_format=lambda v: f"{v:.4g}", border=0)
        return (
            f"<div><p><b>{html.escape(self.name)}</b>: {len(trials)} trials ({html.escape(counts)}); "
            f"Pareto front: {len(front)} designs</p>{table}</div>"
        )


def load_run(path: str | Path) -> SearchRun:
    """An existing search run (finished, interrupted or still running): its folder, or its storage URI."""
    if is_uri(path):  # e.g. s3://bucket/runs/NAME: its files are fetched into ~/.cache/codesign/runs/
        return SearchRun(Run.open(path))
    if not Run.holds_run(path) and not Run(path).has_settings():
        raise CodesignError(f"{path}: not a codesign search folder (no trials.csv or search.json)")
    return SearchRun(path)


_RUN_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")


def search_settings(
    space: str | Path = "rubric_cnn",
    dataset: str | None = None,
    *,
    budget: str | float | None = None,
    trials: int | None = None,
    name: str | None = None,
    runs_dir: str | Path = "runs",
    sampler: str = "ehvi",
    seed: int = 0,
    concurrency: int = 1,
    cpus_per_trial: float | None = None,
    gpus_per_trial: float | None = None,
    asha: bool = False,
    multi_fidelity: bool = False,
    seed_designs: tuple[str | Path, ...] = (),
    address: str | None = None,
    dashboard: bool = False,
    verbose: bool = False,
    data_dir: str | Path | None = None,
    train_size: int | None = None,
    val_size: int | None = None,
    split_seed: int = 0,
    arch: str | Path | None = None,
    rubric: str | Path | None = None,
    mapper: str | None = None,
    resume: bool = False,
    storage: str | Path | None = None,
    max_failures: int = 2,
) -> SearchSettings:
    """The SearchSettings `search` runs with (what `codesign search`'s flags make)."""
    from codesign.space import load_space

    name = name or f"search-{time.strftime('%Y%m%d-%H%M%S')}"
    if not _RUN_NAME.fullmatch(name) or name in (".", ".."):
        raise CodesignError(
            f"run name {name!r}: use letters, digits, '.', '_' and '-' (it names a folder in "
            f"{runs_dir}; choose where runs go with runs_dir / --runs-dir)"
        )
    dataset = dataset or (None if resume else load_space(space).dataset)
    if gpus_per_trial is None:  # a GPU notebook shares its one GPU between the trials running at once
        gpus_per_trial = 1.0 / concurrency if torch.cuda.is_available() else 0.0
    seconds = parse_budget(budget) if budget is None or isinstance(budget, str) else float(budget)
    return SearchSettings(
        name=name,
        space=str(space),
        runs_dir=str(runs_dir),
        arch=None if arch is None else str(arch),
        rubric=None if rubric is None else str(rubric),
        mapper=mapper,
        data=DataSettings(
            dataset=dataset or "cifar10",
            data_dir=None if data_dir is None else str(data_dir),
            train_size=train_size,
            val_size=val_size,
            split_seed=split_seed,
        ),
        tune=TuneSettings(
            trials=trials,
            budget_s=None if seconds is None else float(seconds),
            sampler=sampler,
            seed=seed,
            asha=asha,
            multi_fidelity=multi_fidelity,
            concurrency=concurrency,
            seed_designs=tuple(str(d) for d in seed_designs),
        ),
        resources=ResourceSettings(
            address=address,
            cpus_per_trial=cpus_per_trial,
            gpus_per_trial=gpus_per_trial,
            dashboard=dashboard,
            verbose=verbose,
            storage=None if storage is None else str(storage),
            max_failures=max_failures,
        ),
    )


def search(space: str | Path = "rubric_cnn", dataset: str | None = None, **options: Any) -> SearchRun:
    """Run (or with `resume=True` continue) a co-design search; returns its SearchRun.

    Give a `budget` ("30m", "8h" or seconds) and/or a number of `trials`; every other keyword is one of
    `search_settings`'s (name, runs_dir, sampler, seed, concurrency, cpus_per_trial, gpus_per_trial, asha,
    multi_fidelity, seed_designs, address, dashboard, verbose, data_dir, train_size, val_size, split_seed, arch,
    rubric, mapper, storage, max_failures). Ray starts in-process unless `address` names a cluster; on a
    cluster, `storage` is a path every node sees or a URI (s3://...). It prints a line per finished trial and
    a progress line; `verbose=True` adds Ray Tune's status table and Optuna's log. Ctrl-C writes the outputs,
    then raises `codesign.SearchInterrupted` (a KeyboardInterrupt holding the trials table).
    """
    from codesign.search.driver import run_search

    resume = bool(options.get("resume", False))
    settings = search_settings(space, dataset, **options)
    run_search(settings, resume=resume)
    return SearchRun(settings.run_dir)


# ----------------------------------------------------------------------------------------------- export


def export(
    source: ModelLike | SearchRun,
    out: str | Path,
    *,
    trial: str | None = None,
    best: str = "score",
    weights: str | Path | None = None,
    onnx: bool = False,
    mapper: str | None = None,
    force: bool = False,
    dataset: str | None = None,
) -> list[Path]:
    """Write a design as a standalone model.py (+ spec.json, weights.pt, model.onnx, README.md) into `out`.

    `source` is a SearchRun or a run folder (its `trial`, else its best by `best`), or any model `profile`
    accepts; `weights` a state dict to include. The model takes images in [0, 1] (or uint8) and normalises them
    itself as its data set's were in training: the one its run or training recorded, else `dataset`. `out` must
    be new or empty unless `force` (then files of the export's names are replaced and every other file is kept).
    """
    if isinstance(source, SearchRun) or (isinstance(source, (str, Path)) and is_uri(source)):
        source = source if isinstance(source, SearchRun) else load_run(source)
        if weights is not None:
            raise CodesignError("weights= is for a MODEL; a search run exports its trial's own weights")
        design = source.design(trial, best)
    elif isinstance(source, (str, Path)) and Run.holds_run(source):
        if weights is not None:
            raise CodesignError("weights= is for a MODEL; a search run exports its trial's own weights")
        design = load_design(str(source), trial, best)
    else:
        if trial is not None:
            raise CodesignError(f"{source}: trial= needs a search run folder (one with trials.csv)")
        design = design_of(source)
        if weights is not None:
            if not Path(weights).is_file():
                raise CodesignError(f"{weights}: weights file not found")
            design = dataclasses.replace(design, weights=Path(weights))
    return write_export(design, Path(out), onnx=onnx, mapper=mapper, force=force, dataset=dataset)


# ------------------------------------------------------------------------------------------------- arch


def derive(base: str | Path | Arch | None = None, name: str | None = None, **sizes: int) -> Arch:
    """An accelerator of other sizes derived from `base` (the lab's by default), energies and area scaled.

    `sizes`: any of pe_x, pe_y, weight_spad_depth, glb_depth, glb_bandwidth, word_bits (codesign.hardware).
    """
    from codesign.hardware import FIELDS, HardwareParams, derive_arch

    start = base if isinstance(base, Arch) else load_arch(base)
    unknown = sorted(set(sizes) - set(FIELDS))
    if unknown:
        raise CodesignError(f"unknown accelerator size `{unknown[0]}` (sizes: {', '.join(FIELDS)})")
    return derive_arch(start, dataclasses.replace(HardwareParams.of(start), **sizes), name)
