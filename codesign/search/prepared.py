"""A search prepared once, before Ray starts: its settings checked, and everything they name loaded.

`prepare` checks every input (one-line errors) and returns the PreparedSearch that the rest of the search
reads: the settings as they will be saved, the run folder, the space, the rubric, the accelerator, the data
set's description and the seed designs. Nothing is loaded twice, and nothing is written: `save_new` writes
search.json, the run's arch and a copy of its space once the search really starts (a failed start leaves
nothing that blocks the name). A resumed search is checked against what the run searched.
"""

from __future__ import annotations

import dataclasses
import shutil
from dataclasses import dataclass
from pathlib import Path

from codesign.arch import Arch, load_arch
from codesign.cost import CostCache
from codesign.data import DATASETS, DatasetInfo, locate_dataset
from codesign.device.settings import TimingSettings
from codesign.errors import CodesignError
from codesign.hardware import write_arch
from codesign.objectives import DEVICE_LATENCY
from codesign.pareto import objective_columns
from codesign.rubric import Rubric, load_rubric
from codesign.runs import Run
from codesign.search.seeds import SeedDesign, load_seeds, resolve_seed_names
from codesign.search.settings import SearchSettings
from codesign.space import SearchSpace, load_space
from codesign.storage import Storage


@dataclass(frozen=True)
class PreparedSearch:
    """Everything a search reads, loaded once: what the driver, the sampler, the scheduler and the trials share."""

    settings: SearchSettings  # as search.json holds them: the data set, resources and seed names resolved
    space: SearchSpace
    rubric: Rubric
    base_arch: Arch  # the accelerator designs are costed on (a joint search's base)
    info: DatasetInfo  # the data set's shapes and classes
    seeds: tuple[SeedDesign, ...] = ()  # designs trained first (none for a search Tune restores: it has them)
    restoring: bool = False  # a resumed search whose Tune state is restored (its study and queue with it)

    @classmethod
    def load(cls, settings: SearchSettings, base_arch: Arch | None = None, seeds: bool = True) -> PreparedSearch:
        """Everything `settings` name, loaded (nothing checked against the run folder, nothing written)."""
        space = with_objectives(load_space(settings.space), settings.objectives)
        timed = settings.timing != TimingSettings() or settings.resources.latency_on is not None
        if timed and DEVICE_LATENCY not in space.objectives:
            raise CodesignError(
                "--device, --runtime, --threads, the timing flags and --latency-on time the device_latency "
                "objective: add --objectives accuracy,device_latency (or list it in the space's objectives)"
            )
        rubric = load_rubric(settings.rubric)
        arch = base_arch or load_arch(space.hardware_base or settings.arch or rubric.accelerator)
        dataset = settings.data.dataset or space.dataset  # the space's unless the settings name one
        data = dataclasses.replace(settings.data, dataset=dataset)
        settings = dataclasses.replace(settings, data=data, objectives=space.objectives)
        info = DATASETS[dataset]
        designs = tuple(load_seeds(settings.tune.seed_designs, info, settings.tune.seed)) if seeds else ()
        return cls(settings, space, rubric, arch, info, designs)

    @property
    def run(self) -> Run:
        """The run folder."""
        return Run(self.settings.run_dir)

    @property
    def objectives(self) -> tuple[tuple[str, str], ...]:
        """(trials.csv column, direction) of each objective."""
        return objective_columns(self.settings.objectives)


def with_objectives(space: SearchSpace, objectives: tuple[str, ...]) -> SearchSpace:
    """The space with the objectives the settings name (--objectives), when they name any."""
    if not objectives or objectives == space.objectives:
        return space
    if "area" in objectives and space.hardware is None:
        raise CodesignError(f"objective `area` needs a space with a `hardware` section; {space.name} has none")
    return dataclasses.replace(space, objectives=tuple(objectives))


def prepare(settings: SearchSettings, resume: bool) -> PreparedSearch:
    """Check every input before Ray starts (one-line errors); a resumed search takes its saved settings (the
    budget, the trial count and where it runs may change). Nothing is written here (see `save_new`)."""
    _check_runs_dir(settings.runs_dir)
    run = Run(settings.run_dir)
    if resume:
        return _resumed(settings, run)
    if run.has_settings():
        raise CodesignError(
            f"{run.folder} already holds a search: pass --resume to continue it or --name to start another"
        )
    # seed designs are named by absolute path in search.json (checked as they load: one line each)
    named = dataclasses.replace(settings.tune, seed_designs=resolve_seed_names(settings.tune.seed_designs))
    prepared = PreparedSearch.load(dataclasses.replace(settings, tune=named))
    _check_mapper(prepared)
    CostCache().close()  # a damaged cost cache is replaced here, where its warning is seen (workers' is not)
    data = prepared.settings.data
    locate_dataset(prepared.info.name, Path(data.data_dir) if data.data_dir else None, download=True)
    if settings.tune.budget_s is None and settings.tune.trials is None:
        raise CodesignError("give a --budget (e.g. 8h) or a number of --trials")
    resources = prepared.settings.resolved().resources
    if resources.storage is not None:  # every node must find it: an absolute path, or a URI as given
        resources = dataclasses.replace(resources, storage=Storage.at(resources.storage).location)
    saved = dataclasses.replace(prepared.settings, objectives=prepared.space.objectives, resources=resources)
    return dataclasses.replace(prepared, settings=saved)


def save_new(prepared: PreparedSearch) -> None:
    """A new search starts: write search.json, the run's arch and a copy of its space file (the run folder needs
    nothing outside itself), and mark the run as this user's (what lets --resume load its Tune state)."""
    run, settings = prepared.run, prepared.settings
    storage = Storage.at(settings.storage_dir)
    if storage.local_path != run.folder.resolve():  # a storage elsewhere that cannot be written: one line, first
        storage.make()
    run.folder.mkdir(parents=True, exist_ok=True)
    space = Path(settings.space)
    inputs = [run.search_arch_file]
    if space.is_file():  # a built-in space stays a name
        copy = run.folder / SPACE_COPY / space.name
        copy.parent.mkdir(exist_ok=True)
        shutil.copyfile(space, copy)
        settings = dataclasses.replace(settings, space=str(copy))
        inputs.append(copy)
    write_arch(prepared.base_arch, run.search_arch_file)
    run.mark_owned()
    run.save_settings(settings)  # last: a run folder with search.json is a whole run
    run.publish(*inputs)


SPACE_COPY = "inputs"  # the run's copy of its space file: RUN/inputs/<name>.yaml


def _check_mapper(prepared: PreparedSearch) -> None:
    """The exhaustive mapper maps the lab's ws mapspace only: a space drawing another dataflow is one line here,
    not a failed trial each time one is drawn."""
    from codesign.cost.analytic.exhaustive import supports

    arch = prepared.base_arch
    if (prepared.settings.mapper or arch.mapper.algorithm) != "exhaustive":
        return
    knob = (prepared.space.hardware or {}).get("dataflow")
    flows = knob.bounds if knob is not None else (arch.dataflow,)
    bad = [str(f) for f in flows if not supports(dataclasses.replace(arch, dataflow=f))]
    if bad:
        raise CodesignError(
            f"{prepared.settings.space}: the exhaustive mapper maps the ws dataflow only, but the search draws "
            f"dataflow {', '.join(bad)}: use --mapper random-pruned (every dataflow) or keep ws alone"
        )


def _check_runs_dir(runs_dir: str) -> None:
    """The runs folder is a folder (or can be made): one line naming it otherwise."""
    path = Path(runs_dir)
    for parent in (path, *path.parents):
        if parent.exists():
            if not parent.is_dir():
                raise CodesignError(f"--runs-dir {runs_dir}: {parent} is a file, not a folder")
            return


def _resumed(settings: SearchSettings, run: Run) -> PreparedSearch:
    """A resumed search: its saved settings, with the budget, trial count and where it runs as now given; a
    space, data set or rubric other than the run's is refused, and so is Tune's pickled state of a run this
    user did not write (unless `trust`)."""
    from ray import tune as ray_tune

    if not run.has_settings():
        raise CodesignError(f"{run.folder}: nothing to resume (no search.json); start it without --resume")
    saved = run.settings()
    _check_same_search(settings, saved, run)
    tune = dataclasses.replace(
        saved.tune,
        budget_s=settings.tune.budget_s or saved.tune.budget_s,
        trials=settings.tune.trials or saved.tune.trials,
    )
    if settings.resources.storage is not None and Storage.at(settings.storage_dir) != run.storage:
        raise CodesignError(
            f"{run.folder}: this search keeps its trials in {run.storage.location}; resume it without --storage"
        )
    resources = dataclasses.replace(
        saved.resources,
        address=settings.resources.address,
        dashboard=settings.resources.dashboard,
        verbose=settings.resources.verbose,
        trust=settings.resources.trust,
    )
    restoring = ray_tune.Tuner.can_restore(run.experiment)
    if restoring and not run.owned():
        if not settings.resources.trust:
            raise CodesignError(
                f"{run.folder}: not a run this user started here (no {run.owner_file.name} signed with your key: "
                f"copied from elsewhere, or made by an older codesign); resuming unpickles its Ray Tune state in "
                f"{run.experiment}, which runs any code those files hold: pass --trust if you trust where it came from"
            )
        run.mark_owned()  # vouched for: later resumes need no --trust
    merged = dataclasses.replace(saved, tune=tune, resources=resources)
    prepared = PreparedSearch.load(merged, base_arch=load_arch(run.search_arch_file), seeds=not restoring)
    return dataclasses.replace(prepared, restoring=restoring)


def _check_same_search(given: SearchSettings, saved: SearchSettings, run: Run) -> None:
    """--resume continues the run's own search: another space, data set or rubric is one line, not ignored."""
    default = SearchSettings(name=given.name)
    if given.data.dataset is not None and given.data.dataset != saved.data.dataset:
        raise CodesignError(
            f"{run.folder}: this run searched {saved.data.dataset}, not {given.data.dataset}: resume it without "
            f"--dataset, or start a new run with --name"
        )
    if given.space != default.space and not _same(load_space(given.space), load_space(saved.space)):
        raise CodesignError(
            f"{run.folder}: --space {given.space} is not the space this run searched ({saved.space}): resume it "
            f"without --space, or start a new run with --name"
        )
    if given.rubric is not None and load_rubric(given.rubric) != load_rubric(saved.rubric):
        raise CodesignError(
            f"{run.folder}: --rubric {given.rubric} is not the rubric this run scored with "
            f"({saved.rubric or 'the default'}): resume it without --rubric, or start a new run with --name"
        )


def _same(a: SearchSpace, b: SearchSpace) -> bool:
    """Whether two spaces draw the same designs (their names, from their file names, aside)."""
    return dataclasses.replace(a, name="") == dataclasses.replace(b, name="")
