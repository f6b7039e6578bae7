"""The Python API: profile, train, search and export from a script or a notebook.

Every `codesign` command is one of these functions; its flags are the function's keywords, declared once with
the command's settings (codesign/settings.py, codesign/search/settings.py, codesign.network.SGDConfig) and
checked the same way. The results are their domain's types (Profile, Training, SearchRun), which print as the
CLI prints and show as tables and plots in Jupyter (`_repr_html_`).

    import codesign
    codesign.profile("lenet5")                                   # energy, cycles, rubric points per layer
    run = codesign.search(space="lenet", dataset="fashion-mnist", trials=12)
    run.front; run.plot(); run.export("best/")
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from codesign.arch import Arch, load_arch
from codesign.cost import CostCache, get_engine
from codesign.cost.analytic import cost_under_mapping
from codesign.data import DATASETS, Dataset, Split, load_dataset
from codesign.designs import Design, load_design
from codesign.device.table import LATENCY_FILE, LatencyCache, LatencyTable
from codesign.errors import CodesignError
from codesign.export import export as write_export
from codesign.network import CandidateSpec, SGDConfig
from codesign.options import apply, options, python_defaults, takes_settings, unknown
from codesign.profiling import Profile, other_mapper, profile_workload
from codesign.registry import MEASURED_ENGINES, SIMULATED_ENGINES
from codesign.rubric import Rubric, load_rubric
from codesign.runs import Run
from codesign.search import DataSettings, ResourceSettings, SearchSettings, TuneSettings
from codesign.search.results import SearchRun
from codesign.settings import TRAIN_DEFAULTS, ProfileSettings, TrainSettings
from codesign.storage import is_uri
from codesign.train import EpochMetrics, Training, accuracy, build_model, check_recipe, resolve_device
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
    `engine="device"` times the model on this machine instead (`device`, `runtime`, `threads`, ...: the
    Profile's `device` holds the latencies and the per-layer table; compare=True prints the cycles beside).
    `engine="scalesim"` simulates the layers with SCALE-Sim on the arch's os/ws/is array (the Profile's
    `simulated`: cycles, stalls, utilization, accesses; no energy); compare=True prints the analytic's beside.

    Args:
        model: a MODEL string (built-in, `file.py:Class`, spec JSON, run or export folder), a path, an
            nn.Module instance, a CandidateSpec or a Design.
        input_shape: batch first, e.g. (1, 3, 32, 32) (ProfileSettings.input_shape).
        settings: a ProfileSettings to start from; the keywords below override it.
        progress: a progress bar while a slow engine maps the layers.
        {settings}

    Returns:
        The design's Profile: `energy_mj`, `cycles`, `peak_activation_bytes`, `energy_points`, ...; `table()`
        and `to_pandas()` per layer.

    Example:
        >>> import codesign
        >>> lenet = codesign.profile("lenet5")
        >>> lenet.cycles, lenet.peak_activation_bytes
        (22467, 31104)
        >>> codesign.profile("lenet5", mapper="exhaustive").cycles
        22354
    """
    chosen = apply(
        settings or ProfileSettings(),
        {"input_shape": input_shape, **overrides},
        what="profile",
        source="profile settings",
    )
    return _profile(model, chosen, progress)


def _profile(model: ModelLike, chosen: ProfileSettings, progress: bool) -> Profile:
    """The profile `chosen` asks for: the design traced on its input, costed by the chosen engine."""
    rules = _rubric(chosen.rubric)
    given = chosen.input_shape
    design = design_of(model, chosen.trial, chosen.dataset, given[1:] if given else None)
    accelerator = _arch(chosen.arch if chosen.arch is not None else design.arch, rules)
    shape, note = input_shape_of(design, given, chosen.dataset)
    workload = trace(design.module, shape)
    if chosen.timeloop_map is not None:
        if len(workload.layers) != 1:
            raise CodesignError(
                f"a Timeloop map.yaml evaluates one layer, but {design.label} has "
                f"{len(workload.layers)} distinct Conv2d/Linear layers"
            )
        cost = cost_under_mapping(workload.layers[0], accelerator, chosen.timeloop_map)
        return Profile(workload, accelerator, [cost], "timeloop-map", design.label, rules, input_note=note)
    store = None if chosen.cache is False else CostCache(None if chosen.cache is True else chosen.cache)
    measured = chosen.engine in MEASURED_ENGINES  # timed on a device; the accelerator's costs kept beside
    simulated = chosen.engine in SIMULATED_ENGINES  # cycles and accesses, no energy: the analytic costs kept beside
    name = "analytic" if measured or simulated else chosen.engine
    engine = get_engine(name, mapper=chosen.mapper, timeloop_lab=chosen.timeloop_lab)
    result = profile_workload(workload, accelerator, engine, store, progress and engine.parallel, design.label, rules)
    result.other = other_mapper(result, store)
    result.input_note, result.val_accuracy = note, _val_accuracy(design)
    if measured:
        beside = Path(chosen.cache).with_name(LATENCY_FILE) if isinstance(chosen.cache, str) else None
        table = LatencyTable(chosen.timing, cache=chosen.cache is not False and LatencyCache(beside))
        result.device = MEASURED_ENGINES.load(chosen.engine)(
            design.module, workload, chosen.timing, design.label, table
        )
        if chosen.compare:
            result.device.accelerator = result
    elif simulated:
        result.simulated = SIMULATED_ENGINES.load(chosen.engine)(workload, accelerator, design.label)
        if chosen.compare:
            result.simulated.accelerator = result
    elif chosen.compare:
        analytic = get_engine("analytic", mapper=chosen.mapper)
        result.baseline = profile_workload(workload, accelerator, analytic, store, False, design.label, rules)
    return result


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
    override it. Every argument is checked before any data is read. `final=True` then evaluates the test set
    once and scores the design with the rubric.

    Args:
        model: a MODEL string (built-in, `file.py:Class`, spec JSON, run or export folder), a path, an
            nn.Module instance (trained in place), a CandidateSpec or a Design.
        dataset: the data set (TrainSettings.dataset).
        settings: a TrainSettings to start from; the keywords below override it.
        progress: a progress bar and a line saying what is trained on what.
        on_epoch: called with each epoch's EpochMetrics; returning True stops training.
        {settings}

    Returns:
        The Training: the trained `model`, `status`, `val_accuracy`, `history` (a DataFrame, one row per epoch),
        `save(folder)`; with `final=True` also `test_accuracy`, `profile` and `points`.

    Example:
        >>> import codesign
        >>> done = codesign.train("lenet5", "fashion-mnist", epochs=1, batch_size=256)  # doctest: +SKIP
        >>> done.val_accuracy > 0.75, done.history["epoch"].tolist()  # doctest: +SKIP
        (True, [1])
    """
    chosen, recipe, rules, design = _training_inputs(model, dataset, settings, overrides)
    where = resolve_device(chosen.device)
    data = load_dataset(chosen.dataset, chosen.data_dir, where, split_seed=chosen.split_seed, val_size=chosen.val_size)
    data = _first_images(data, chosen.train_size)
    net = _fresh_model(model, design, recipe, data.info.input_shape)
    if progress:
        print(_what_trains(design, data, recipe, chosen.split_seed, str(where)))
    result = train_model(net, data, recipe, rules, on_epoch=on_epoch, progress=progress)
    summary = _summary(design, data, recipe, result, chosen.split_seed, str(where))
    # what `codesign train` flags reproduce it (an export's README): --train-size, and whether --data-dir was given
    summary.update(train_size_limit=chosen.train_size, data_dir_given=chosen.data_dir is not None)
    done = dataclasses.replace(result, label=design.label, spec=design.spec, summary=summary)
    if chosen.final:
        _final_test(done, data, chosen.arch, rules)
    return done


def _first_images(data: Dataset, train_size: int | None) -> Dataset:
    """The data with its training split cut to the first `train_size` images (a search's --train-size)."""
    if train_size is None:
        return data
    split = Split(data.train.images[:train_size], data.train.labels[:train_size])
    return dataclasses.replace(data, train=split)


def _what_trains(design: Design, data: Dataset, recipe: SGDConfig, split_seed: int, where: str) -> str:
    """The line `codesign train` starts with: the design, the data, the device and the recipe."""
    return (
        f"training {design.label} on {data.info.name} ({len(data.train):,} train / {len(data.val):,} "
        f"validation, split seed {split_seed}) on {where}: SGD lr {recipe.lr} momentum {recipe.momentum} "
        f"{'nesterov ' if recipe.nesterov else ''}wd {recipe.weight_decay} batch {recipe.batch_size} "
        f"{recipe.epochs} epochs {recipe.schedule}, seed {recipe.seed}"
    )


def _training_inputs(
    model: ModelLike, dataset: str | None, settings: TrainSettings | None, overrides: dict[str, Any]
) -> tuple[TrainSettings, SGDConfig, Rubric, Design]:
    """The train settings, the SGD recipe (the design's own with the SGD keywords), the rubric and the design,
    every keyword checked before any data is read."""
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
    check_recipe(recipe, rules)
    return chosen, recipe, rules, design


def _final_test(done: Training, data: Dataset, arch: str | Arch | None, rules: Rubric) -> None:
    """The test set read once, the design profiled on the rubric's accelerator (or `arch`) and scored."""
    done.test_accuracy = accuracy(done.model, data, data.load_test())
    done.profile = profile(done.model.cpu(), (1, *data.info.input_shape), arch=arch, rubric=rules)
    score = done.profile.score(error=1.0 - done.test_accuracy)
    done.summary.update(
        test_accuracy=done.test_accuracy,
        energy_pj=done.profile.energy_pj,
        cycles=done.profile.cycles,
        peak_activation_bytes=done.profile.peak_activation_bytes,
        rubric=score.to_dict(),
        arch=done.profile.arch.name,
    )


def _summary(
    design: Design, data: Dataset, recipe: SGDConfig, result: Training, split_seed: int, device: str
) -> dict[str, Any]:
    """What `codesign train` writes as summary.json."""
    return {
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
        "history": [dataclasses.asdict(m) for m in result.metrics],
    }


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


# ----------------------------------------------------------------------------------------------- search


def load_run(path: str | Path) -> SearchRun:
    """An existing search run (finished, interrupted or still running), from any machine that can read it.

    Args:
        path: its run folder, or its storage URI (s3://bucket/runs/NAME: the run's files are fetched into
            ~/.cache/codesign/runs/).

    Returns:
        The SearchRun: `trials`, `front`, `best()`, `plot()`, `export()`.

    Example:
        >>> import codesign
        >>> run = codesign.load_run("runs/quickstart")  # doctest: +SKIP
        >>> run.best().val_accuracy  # doctest: +SKIP
    """
    if is_uri(path):
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
        space: the search space: a YAML file or a built-in name (SearchSettings.space).
        dataset: the data set (DataSettings.dataset; default: the space's).
        settings: a SearchSettings to start from (e.g. a run's, `codesign.load_run(path).settings`).
        data: DataSettings replacing `settings.data`.
        tune: TuneSettings replacing `settings.tune`.
        resources: ResourceSettings replacing `settings.resources`.
        {settings}

    Returns:
        The SearchSettings, checked: `SearchSettings.to_json()` is what search.json will hold.

    Example:
        >>> import codesign
        >>> settings = codesign.search_settings("lenet", trials=12, budget="30m", max_failures=3)
        >>> settings.tune.trials, settings.tune.budget_s, settings.resources.max_failures
        (12, 1800.0, 3)
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

    Returns:
        The SearchRun: `trials` and `front` as DataFrames, `best()`, `plot()`, `export()`.

    Example:
        >>> import codesign
        >>> run = codesign.search("lenet", "fashion-mnist", trials=12, name="quickstart")  # doctest: +SKIP
        >>> run.front[["trial_id", "val_accuracy", "energy_mj", "cycles"]]  # doctest: +SKIP
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
    force: bool = False,
    dataset: str | None = None,
) -> list[Path]:
    """Write a design as a standalone model.py (+ spec.json, weights.pt, model.onnx, README.md) into `out`.

    Args:
        source: a SearchRun, a run folder or its storage URI (its `trial`, else its best by `best`), or any
            model `profile` accepts.
        out: the folder to write (written whole or not at all).
        trial: with a run: the trial to export.
        best: with a run and no `trial`: score, accuracy, energy or latency.
        weights: with a model: a state dict to include (e.g. from `codesign.train(...).save(folder)`).
        onnx: also write model.onnx (needs codesign[onnx]).
        mapper: the analytic mapper of the README's inference cost (default: the arch's).
        force: write into a folder that is not empty (files of the export's names are replaced, every other file
            is kept); without it `out` must be new or empty.
        dataset: the data set the weights were trained on, when the source does not record it (a run or a
            `codesign train` folder does): its normalisation goes inside the model, which then takes images in
            [0, 1] (or uint8).

    Returns:
        The files written.

    Example:
        >>> import codesign
        >>> files = codesign.export("runs/quickstart", "best/")  # doctest: +SKIP
        >>> sorted(f.name for f in files)  # doctest: +SKIP
        ['README.md', 'model.py', 'spec.json', 'weights.pt']
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


def derive(
    base: str | Path | Arch | None = None, *, name: str | None = None, dataflow: str | None = None, **sizes: int
) -> Arch:
    """An accelerator of other sizes derived from `base`, its energies and area scaled (codesign.hardware).

    Args:
        base: the arch to resize: an Arch, a YAML file or a built-in name (default: the lab's,
            simple_weight_stationary).
        name: the new arch's name (default: the base's name, the dataflow and the sizes).
        dataflow: a dataflow of arch/dataflows/ (ws, os, is, os_pq_m, ws_rsc_m, is_rsc_pq; default: the
            base's).
        **sizes: any of pe_x, pe_y, weight_spad_depth, glb_depth, glb_bandwidth, word_bits.

    Returns:
        The derived Arch (`codesign.profile(model, arch=...)` costs on it).

    Example:
        >>> import codesign
        >>> small = codesign.derive(pe_x=8, word_bits=8)
        >>> small.pe_array.x, small.word_bits, small.name
        (8, 8, 'simple_weight_stationary-ws8x16-s192-g64k-b16-w8')
    """
    from codesign.dataflow import load_dataflow
    from codesign.hardware import SIZES, HardwareParams, derive_arch

    start = base if isinstance(base, Arch) else load_arch(base)
    unknown_sizes = sorted(set(sizes) - set(SIZES))
    if unknown_sizes:
        raise CodesignError(f"unknown accelerator size `{unknown_sizes[0]}` (sizes: {', '.join(SIZES)})")
    if dataflow is not None:
        load_dataflow(dataflow)  # an unknown name is one line listing the known ones
    resized: dict[str, Any] = dict(sizes)
    return derive_arch(start, dataclasses.replace(HardwareParams.of(start), **resized), name, dataflow)


def dse(model: ModelLike, *, out: str | Path, progress: bool = True, **overrides: Any) -> list[dict]:
    """Brute-force design-space exploration of `model` over PE-array shape x dataflow (codesign.dse): every
    point's layers costed by the analytic engine, points.csv, layers.csv, pareto.csv and dse.html in `out`.

    Args:
        model: a MODEL as in `profile`.
        out: the output folder (points already in its points.csv are kept, not recomputed).
        progress: show a progress bar.
        **overrides: codesign.dse.DseSettings: arch, dataflows, shapes, mapper, workers.

    Returns:
        One dict per point (network energy in pJ, cycles, area in mm², utilization), as in points.csv.

    Example:
        >>> import codesign, tempfile
        >>> from codesign import api
        >>> rows = api.dse("lenet5", out=tempfile.mkdtemp(), dataflows=["ws", "os_pq_m"], shapes=[(16, 16)],
        ...                workers=1, progress=False)
        >>> sorted((r["dataflow"], int(r["cycles"])) for r in rows)
        [('os_pq_m', 11204), ('ws', 22467)]
    """
    from codesign import dse as dse_module

    chosen = apply(dse_module.DseSettings(), overrides, what="dse", source="codesign.api.dse")
    design = design_of(model)
    workload = trace(design.module, design.input_shape or (1, 3, 32, 32))
    base = chosen.arch if isinstance(chosen.arch, Arch) else load_arch(chosen.arch)
    return dse_module.run_dse(
        workload.layers,
        base,
        Path(out),
        chosen.dataflows,
        chosen.shapes,
        chosen.mapper,
        chosen.workers,
        progress,
        design.label,
    )
