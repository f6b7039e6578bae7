"""`codesign search`: Ray Tune drives trials, Optuna samples them (multi-objective, with constraints).

Per trial: the define-by-run sampler draws a CandidateSpec from the YAML space and checks every hard
constraint that needs no training (peak activation, the rubric's epoch limit, parameter and layer
budgets), telling Optuna through `trial.set_constraint`; an infeasible design reports at once and never
trains. A feasible one is costed on the accelerator (shared SQLite cache), trained with SGD on the
training split, and reports validation accuracy every epoch (ASHA may cut it). The TrialTable callback
rewrites runs/<name>/trials.csv each time a trial finishes, so no finished trial is ever lost.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

import pandas as pd

from codesign.arch import Arch, load_arch
from codesign.data import DATASETS, locate_dataset
from codesign.errors import CodesignError
from codesign.hardware import write_arch
from codesign.report import write_outputs
from codesign.rubric import Rubric, load_rubric
from codesign.runs import Run
from codesign.search.fidelity import make_scheduler
from codesign.search.searcher import make_search
from codesign.search.seeds import load_seeds, resolve_seed_names
from codesign.search.settings import SearchSettings
from codesign.search.table import TrialTable
from codesign.search.trainable import run_trial
from codesign.space import load_space, resolve_space_path


def prepare(settings: SearchSettings, resume: bool) -> SearchSettings:
    """Check every input before Ray starts (one-line errors), write search.json and the run's arch."""
    run = Run(settings.run_dir)
    if resume:
        if not run.has_settings():
            raise CodesignError(f"{run.folder}: nothing to resume (no search.json); start it without --resume")
        saved = run.settings()
        # the budget and trial count may be changed on resume, and where it runs; the rest must stay
        tune = dataclasses.replace(
            saved.tune,
            budget_s=settings.tune.budget_s or saved.tune.budget_s,
            trials=settings.tune.trials or saved.tune.trials,
        )
        resources = dataclasses.replace(
            saved.resources, address=settings.resources.address, dashboard=settings.resources.dashboard
        )
        return dataclasses.replace(saved, tune=tune, resources=resources)
    if run.has_settings():
        raise CodesignError(
            f"{run.folder} already holds a search: pass --resume to continue it or --name to start another"
        )
    settings = dataclasses.replace(settings, space=str(resolve_space_path(settings.space).resolve()))
    space = load_space(settings.space)
    rubric = load_rubric(settings.rubric)
    base_arch = load_arch(space.hardware_base or settings.arch or rubric.accelerator)
    data = settings.data
    locate_dataset(data.dataset, Path(data.data_dir) if data.data_dir else None, download=True)
    if settings.tune.budget_s is None and settings.tune.trials is None:
        raise CodesignError("give a --budget (e.g. 8h) or a number of --trials")
    resources = settings.resources
    if resources.cpus_per_trial is None:
        cpus = max(1.0, (os.cpu_count() or 1) // settings.tune.concurrency)
        resources = dataclasses.replace(resources, cpus_per_trial=cpus)
    # seed designs are checked now (one line each) and named by absolute path in search.json
    tune = dataclasses.replace(settings.tune, seed_designs=resolve_seed_names(settings.tune.seed_designs))
    load_seeds(tune.seed_designs, DATASETS[data.dataset], tune.seed)
    settings = dataclasses.replace(settings, objectives=space.objectives, resources=resources, tune=tune)
    run.save_settings(settings)
    write_arch(base_arch, run.search_arch_file)
    return settings


def _start_ray(settings: SearchSettings) -> None:
    """Join the cluster at --address, or start a local Ray; print the dashboard's address."""
    import ray

    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
    resources = settings.resources
    context = ray.init(
        address=resources.address,
        include_dashboard=resources.dashboard,
        ignore_reinit_error=True,
        log_to_driver=False,
        configure_logging=False,
    )
    if resources.dashboard and getattr(context, "dashboard_url", None):
        print(
            f"[codesign] Ray dashboard: http://{context.dashboard_url} (it asks for a token: run "
            f"`ray get-auth-token`, or start with RAY_AUTH_MODE=disabled on a trusted machine)",
            flush=True,
        )


def _new_tuner(settings: SearchSettings, run: Run, trainable: Any, rubric: Rubric, base_arch: Arch) -> Any:
    """A fresh Tuner: Optuna samples the space (constraints first, seed designs first), ASHA or
    ParetoHalving optionally cut weak trials."""
    from ray import tune

    space = load_space(settings.space)
    search = make_search(settings, space, rubric, base_arch, log_file=run.sampler_file)
    scheduler = make_scheduler(settings, space)
    return tune.Tuner(
        trainable,
        tune_config=tune.TuneConfig(
            search_alg=search,
            scheduler=scheduler,
            num_samples=settings.tune.trials or 1_000_000,
            max_concurrent_trials=settings.tune.concurrency,
            time_budget_s=settings.tune.budget_s,
            reuse_actors=True,
        ),
        run_config=tune.RunConfig(
            name=run.ray_dir.name,
            storage_path=str(run.folder),
            callbacks=[TrialTable(run.folder, base_arch)],
            verbose=1,
            failure_config=tune.FailureConfig(max_failures=0),
        ),
    )


def run_search(settings: SearchSettings, resume: bool = False) -> pd.DataFrame:
    """Run (or resume) a search; returns the trials table. Outputs land in runs/<name>/."""
    import ray
    from ray import tune

    settings = prepare(settings, resume)
    run = Run(settings.run_dir)
    rubric = load_rubric(settings.rubric)
    base_arch = load_arch(run.search_arch_file)
    _start_ray(settings)
    trainable = tune.with_parameters(run_trial, settings=settings, rubric=rubric, base_arch=base_arch)
    resources = {"cpu": settings.resources.cpus_per_trial or 1}
    if settings.resources.gpus_per_trial:
        resources["gpu"] = settings.resources.gpus_per_trial
    trainable = tune.with_resources(trainable, resources)
    try:
        if resume and tune.Tuner.can_restore(str(run.ray_dir)):
            tuner = tune.Tuner.restore(str(run.ray_dir), trainable, resume_unfinished=True, resume_errored=True)
        else:
            tuner = _new_tuner(settings, run, trainable, rubric, base_arch)
        tuner.fit()
    finally:
        if not settings.resources.address:
            ray.shutdown()
    return write_outputs(run.folder)
