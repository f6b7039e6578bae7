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
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import torch
from torch import nn

from codesign.arch import Arch, load_arch
from codesign.cost import CostCache, get_engine
from codesign.cost.analytic import cost_under_mapping
from codesign.data import DATASETS, Dataset, load_dataset
from codesign.designs import Design, load_design, trial_design
from codesign.errors import CodesignError
from codesign.export import export as write_export
from codesign.network import CandidateSpec, SGDConfig
from codesign.options import apply, options, python_defaults, takes_settings, unknown
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
from codesign.search import DataSettings, ResourceSettings, SearchSettings, TuneSettings
from codesign.settings import ProfileSettings, TrainSettings
from codesign.status import Status
from codesign.storage import is_uri
from codesign.train import EpochMetrics, TrainResult, accuracy, build_model, check_recipe, resolve_device
from codesign.train import train as train_model
from codesign.workload import trace

# what `codesign train` defaults to where a setting's declared default is not it
TRAIN_DEFAULTS = {"epochs": "the spec's, else the rubric's maximum (29)"}
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
    baseline: Profile | None = None  # with compare=True: the analytic engine's profile of the same design

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

    def to_dict(self) -> dict[str, Any]:
        """What `codesign profile --json` prints: `layers` and `total`."""
        return self._net.to_dict(self.rubric, self._other)

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
        return format_table(self._net, self.rubric, show_mapping=show_mapping, other=self._other)

    def compare(self, other: Profile) -> str:
        """This profile beside another engine's, layer by layer, with the % difference."""
        return format_comparison(self._net, other._net)

    def comparison(self) -> str:
        """The analytic engine's profile beside this one, layer by layer (what `codesign profile --compare`
        prints); profile with compare=True."""
        if self.baseline is None:
            raise CodesignError("no comparison: profile with compare=True and another engine")
        return self.baseline.compare(self)

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


@takes_settings(ProfileSettings)
def profile(
    model: ModelLike,
    input_shape: Sequence[int] | None = None,
    *,
    settings: ProfileSettings | None = None,
    progress: bool = False,
    **overrides: Any,
) -> Profile:
    """Energy, cycles, peak activation and rubric points of `model` on an accelerator (the rubric's by default).

    With the analytic engine (milliseconds) the other mapper's totals are kept beside (`graded_*`, `best_*`);
    `compare=True` also profiles with the analytic engine, to put it beside another `engine` (`comparison()`).

    Args:
        model: a MODEL string (built-in, `file.py:Class`, spec JSON, run or export folder), a path, an
            nn.Module instance, a CandidateSpec or a Design.
        input_shape: batch first, e.g. (1, 3, 32, 32).
        settings: a ProfileSettings to start from; the keywords below override it.
        progress: a progress bar while a slow engine maps the layers.
        {settings}
    """
    chosen = apply(
        settings or ProfileSettings(),
        {"input_shape": input_shape, **overrides},
        what="profile",
        source="profile settings",
    )
    rules = _rubric(chosen.rubric)
    shape_given = chosen.input_shape
    design = design_of(model, chosen.trial, chosen.dataset, shape_given[1:] if shape_given else None)
    accelerator = _arch(chosen.arch if chosen.arch is not None else design.arch, rules)
    shape = shape_given or design.input_shape or (1, *(_image_shape(chosen.dataset) or (3, 32, 32)))
    workload = trace(design.module, shape)
    if chosen.timeloop_map is not None:
        if len(workload.layers) != 1:
            raise CodesignError(
                f"a Timeloop map.yaml evaluates one layer, but {design.label} has "
                f"{len(workload.layers)} distinct Conv2d/Linear layers"
            )
        cost = cost_under_mapping(workload.layers[0], accelerator, chosen.timeloop_map)
        return Profile(design.label, rules, NetworkCost(workload, accelerator, [cost], "timeloop-map"))
    store = None if chosen.cache is False else CostCache(None if chosen.cache is True else chosen.cache)
    engine = get_engine(chosen.engine, mapper=chosen.mapper, timeloop_lab=chosen.timeloop_lab)
    net = profile_workload(workload, accelerator, engine, store, progress=progress and engine.parallel)
    result = Profile(design.label, rules, net, other_mapper(net, store))
    if chosen.compare:
        analytic = profile_workload(workload, accelerator, get_engine("analytic", mapper=chosen.mapper), store)
        result.baseline = Profile(design.label, rules, analytic)
    return result


# ------------------------------------------------------------------------------------------------ train


@dataclass
class Training:
    """A trained model and how training went; with `final=True` also its test accuracy and rubric score."""

    model: nn.Module
    label: str
    status: Status  # ok, diverged or stopped
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


@takes_settings(TrainSettings, SGDConfig, notes=TRAIN_DEFAULTS)
def train(
    model: ModelLike,
    dataset: str | None = None,
    *,
    settings: TrainSettings | None = None,
    progress: bool = False,
    on_epoch: Callable[[EpochMetrics], bool | None] | None = None,
    **overrides: Any,
) -> Training:
    """Train `model` with SGD (the rubric's rules) on `dataset`'s training split; report validation accuracy.

    A spec brings its own SGD recipe (another model: SGDConfig's, for the rubric's most epochs); the SGD keywords
    override it. `final=True` evaluates the test set once and scores the design with the rubric.

    Args:
        model: a MODEL string (built-in, `file.py:Class`, spec JSON, run or export folder), a path, an
            nn.Module instance (trained in place), a CandidateSpec or a Design.
        dataset: the data set (TrainSettings.dataset).
        settings: a TrainSettings to start from; the keywords below override it.
        progress: a progress bar and a line saying what is trained on what.
        on_epoch: called with each epoch's EpochMetrics; returning True stops training.
        {settings}
    """
    sgd_names = {o.name for o in options(SGDConfig)}
    train_names = {o.name for o in options(TrainSettings)}
    for key in overrides:
        if key not in sgd_names | train_names:
            raise unknown(key, [*sgd_names, *train_names], "SGD")
    ours = {k: v for k, v in overrides.items() if k in train_names}
    chosen = apply(settings or TrainSettings(), {"dataset": dataset, **ours}, what="train", source="train settings")
    rules = _rubric(chosen.rubric)
    design = design_of(model, dataset=chosen.dataset)
    recipe = apply(
        design.spec.sgd if design.spec else SGDConfig(epochs=rules.max_epochs),
        {k: v for k, v in overrides.items() if k in sgd_names},
        what="SGD",
        source="SGD settings",
    )
    check_recipe(recipe, rules)  # before any data is read
    where = resolve_device(chosen.device)
    data = load_dataset(chosen.dataset, chosen.data_dir, where, split_seed=chosen.split_seed, val_size=chosen.val_size)
    net = _fresh_model(model, design, recipe, data.info.input_shape)
    if progress:
        print(
            f"training {design.label} on {data.info.name} ({len(data.train):,} train / {len(data.val):,} "
            f"validation, split seed {chosen.split_seed}) on {where}: SGD lr {recipe.lr} momentum {recipe.momentum} "
            f"{'nesterov ' if recipe.nesterov else ''}wd {recipe.weight_decay} batch {recipe.batch_size} "
            f"{recipe.epochs} epochs {recipe.schedule}, seed {recipe.seed}"
        )
    result = train_model(net, data, recipe, rules, on_epoch=on_epoch, progress=progress)
    done = _training(net, design, data, recipe, result, chosen.split_seed, str(where))
    if chosen.final:
        done.test_accuracy = accuracy(net, data, data.load_test())
        done.profile = profile(net.cpu(), (1, *data.info.input_shape), arch=chosen.arch, rubric=rules)
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
        """A Plotly figure of the trials, front highlighted: `3d`, a pair like `energy-accuracy`, or `points`."""
        from codesign.report import figures

        shown = figures(self.trials, self.front, self._run.objectives())
        if not shown:
            raise CodesignError(f"{self.path}: no complete trial to plot yet")
        names = ["3d", "energy-accuracy", "latency-accuracy", "energy-latency"]
        if len(shown) > 5:
            names += ["area-accuracy", "area-energy", "area-latency"]
        names.append("points")
        if kind not in names:
            raise CodesignError(f"plot kind {kind!r}: one of {', '.join(names)}")
        return shown[names.index(kind)]

    def export(
        self,
        out: str | Path,
        trial: str | None = None,
        by: str = "score",
        onnx: bool = False,
        mapper: str | None = None,
    ) -> list[Path]:
        """Export a trial (the best by `by` if no id) as a standalone model.py with weights and README."""
        return write_export(self.design(trial, by), Path(out), onnx=onnx, mapper=mapper)

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


@takes_settings(SearchSettings)
def search_settings(
    space: str | Path | None = None,
    dataset: str | None = None,
    *,
    settings: SearchSettings | None = None,
    data: DataSettings | None = None,
    tune: TuneSettings | None = None,
    resources: ResourceSettings | None = None,
    **overrides: Any,
) -> SearchSettings:
    """The SearchSettings `search` runs with (what `codesign search`'s flags make), resolved for this machine.

    Takes what `search` takes, as Ray Tune's Tuner does: whole groups of settings (`settings`, or its parts
    `data`, `tune`, `resources`), and flat keywords that override single settings, each checked against the
    settings' names (a misspelled one is one line naming the closest) and against its type and limits.

    Args:
        space: the search space (SearchSettings.space).
        dataset: the data set (DataSettings.dataset).
        settings: a SearchSettings to start from (e.g. a run's, `codesign.load_run(path).settings`).
        data: DataSettings replacing `settings.data`.
        tune: TuneSettings replacing `settings.tune`.
        resources: ResourceSettings replacing `settings.resources`.
        {settings}

    Example:
        >>> import codesign
        >>> codesign.search_settings("lenet", trials=12, budget="30m", sampler="tpe").tune.budget_s
        1800.0
    """
    base = settings or python_defaults(SearchSettings())
    base = dataclasses.replace(
        base, data=data or base.data, tune=tune or base.tune, resources=resources or base.resources
    )
    chosen = apply(base, {"space": space, "dataset": dataset, **overrides}, what="search", source="search settings")
    return chosen.resolved()


@takes_settings(SearchSettings)
def search(
    space: str | Path | None = None,
    dataset: str | None = None,
    *,
    settings: SearchSettings | None = None,
    data: DataSettings | None = None,
    tune: TuneSettings | None = None,
    resources: ResourceSettings | None = None,
    resume: bool = False,
    **overrides: Any,
) -> SearchRun:
    """Run (or with `resume=True` continue) a co-design search; returns its SearchRun.

    Give a `budget` and/or a number of `trials`. Ray starts in-process unless `address` names a cluster; on a
    cluster, `storage` is a path every node sees or a URI (s3://...). It prints a line per finished trial and
    a progress line; `verbose=True` adds Ray Tune's status table and Optuna's log. Ctrl-C writes the outputs,
    then raises `codesign.SearchInterrupted` (a KeyboardInterrupt holding the trials table).

    Args:
        space: the search space: a YAML file or a built-in name (SearchSettings.space).
        dataset: the data set (DataSettings.dataset; default: the space's).
        settings: a SearchSettings to start from; the keywords below override it.
        data: DataSettings replacing `settings.data`.
        tune: TuneSettings replacing `settings.tune`.
        resources: ResourceSettings replacing `settings.resources`.
        resume: continue the run `name` (its saved settings; `budget`, `trials` and where it runs may change),
            keeping every finished trial.
        {settings}

    Example:
        >>> import codesign
        >>> run = codesign.search("lenet", "fashion-mnist", trials=12, name="quickstart")  # doctest: +SKIP
        >>> run.front  # doctest: +SKIP
    """
    from codesign.search.driver import run_search

    chosen = search_settings(space, dataset, settings=settings, data=data, tune=tune, resources=resources, **overrides)
    run_search(chosen, resume=resume)
    return SearchRun(chosen.run_dir)


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
) -> list[Path]:
    """Write a design as a standalone model.py (+ spec.json, weights.pt, model.onnx, README.md) into `out`.

    `source` is a SearchRun or a run folder (its `trial`, else its best by `best`), or any model `profile`
    accepts; `weights` a state dict to include.
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
    return write_export(design, Path(out), onnx=onnx, mapper=mapper)


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
