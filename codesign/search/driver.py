"""`codesign search`: Ray Tune drives trials, Optuna samples them (multi-objective, with constraints).

Per trial: the define-by-run sampler draws a CandidateSpec from the YAML space and checks every hard
constraint that needs no training (peak activation, the rubric's epoch limit, parameter and layer
budgets), telling Optuna through `trial.set_constraint`; an infeasible design reports at once and never
trains. A feasible one is costed on the accelerator (shared SQLite cache), trained with SGD on the
training split, and reports validation accuracy every epoch (ASHA may cut it). The TrialTable callback
rewrites runs/<name>/trials.csv each time a trial finishes, so no finished trial is ever lost.

On a cluster (`--address`): the driver reads the data once and shares it through the object store
(search/shared.py), trials write their checkpoints to the run's storage (`--storage`: a path every node sees
or a URI), and a trial whose process or node dies runs again, up to `--max-failures` times.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Sequence
from typing import Any

import pandas as pd

from codesign.errors import SearchInterrupted
from codesign.objectives import DEVICE_LATENCY
from codesign.report import write_outputs
from codesign.runs import Run
from codesign.search.console import SearchConsole, library_output
from codesign.search.fidelity import make_scheduler
from codesign.search.prepared import PreparedSearch, prepare
from codesign.search.remeasure import remeasure_front
from codesign.search.replay import Replays
from codesign.search.searcher import make_search
from codesign.search.settings import SearchSettings
from codesign.search.shared import SharedData, load_split
from codesign.search.table import TrialTable
from codesign.search.trainable import run_trial


def _start_ray(settings: SearchSettings) -> bool:
    """Join the cluster at --address (or $RAY_ADDRESS), or start a private local Ray; print the dashboard's address.

    Returns whether this call connected (so the search disconnects at its end); a caller already connected
    to Ray keeps its connection. Without an address a search never joins a cluster some other program started.
    """
    import ray

    if ray.is_initialized():
        return False
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
    resources = settings.resources
    address = resources.address or os.environ.get("RAY_ADDRESS") or "local"
    context = ray.init(
        address=address,
        include_dashboard=resources.dashboard,
        log_to_driver=resources.log_to_driver,
        configure_logging=False,
    )
    if address != "local":
        nodes = [n for n in ray.nodes() if n.get("Alive")]
        cpus = sum(n.get("Resources", {}).get("CPU", 0) for n in nodes)
        print(f"[codesign] Ray cluster at {address}: {len(nodes)} nodes, {cpus:g} CPUs", flush=True)
        if len(nodes) > 1 and resources.storage is None:
            print(
                f"[codesign] warning: trials on other machines cannot write checkpoints to {settings.run_dir}: "
                f"give --storage a path every node sees, or a URI (s3://, gs://)",
                flush=True,
            )
    if resources.dashboard and getattr(context, "dashboard_url", None):
        token = (
            ""
            if os.environ.get("RAY_AUTH_MODE") == "disabled"
            else " (it asks for a token: run `ray get-auth-token`, or start with RAY_AUTH_MODE=disabled on a "
            "trusted machine)"
        )
        print(f"[codesign] Ray dashboard: http://{context.dashboard_url}{token}", flush=True)
    return True


def _trial_folder(trial: Any) -> str:
    """A trial's folder in the experiment (its checkpoints' path in storage): `trial_<id>`."""
    return f"trial_{trial.trial_id}"


def _new_tuner(prepared: PreparedSearch, trainable: Any, callbacks: Sequence[Any]) -> Any:
    """A fresh Tuner: the sampler draws from the space (constraints first, seed designs first), ASHA or
    ParetoHalving optionally cut weak trials."""
    from ray import tune

    settings, run = prepared.settings, prepared.run
    table = TrialTable(run.folder)
    console = SearchConsole(table, prepared.objectives, settings.tune.trials, settings.tune.budget_s)
    return tune.Tuner(
        trainable,
        tune_config=tune.TuneConfig(
            search_alg=make_search(prepared, log_file=run.sampler_file),
            scheduler=make_scheduler(prepared),
            num_samples=settings.tune.trials or 1_000_000,
            max_concurrent_trials=settings.tune.concurrency,
            time_budget_s=settings.tune.budget_s,
            reuse_actors=True,
            trial_dirname_creator=_trial_folder,
        ),
        run_config=tune.RunConfig(
            name="ray",  # the experiment folder, inside the run's storage
            storage_path=run.storage.location,
            callbacks=[table, console, *callbacks],
            verbose=1 if settings.resources.verbose else 0,  # Ray's status table: only with -v
            failure_config=tune.FailureConfig(max_failures=settings.resources.max_failures),
        ),
    )


def _replays(run: Run, restoring: bool) -> Replays:
    """The recorded trials that Tune's last snapshot does not hold as finished (search/replay.py)."""
    if not run.trials_file.is_file():
        return Replays()
    finished: set[str] = set()
    if restoring:
        from ray.tune import ExperimentAnalysis

        finished = {t.trial_id for t in ExperimentAnalysis(run.experiment).trials if t.status == "TERMINATED"}
    replays = Replays.of(run.records(), finished)
    if len(replays):
        print(
            f"[codesign] {len(replays)} finished trials are newer than Ray Tune's last snapshot of the search: "
            f"a trial that repeats one reports its recorded result instead of training again",
            flush=True,
        )
    return replays


class _CtrlC:
    """Whether Ctrl-C stopped Tune's loop during the block.

    Tune catches the first SIGINT, stops the trials, saves the experiment and returns normally, then puts back
    the handler it found: so one is installed here first, and after the block it is back iff SIGINT came.
    """

    def __enter__(self) -> _CtrlC:
        self.interrupted = False
        self.watching = threading.current_thread() is threading.main_thread() and not int(
            os.environ.get("TUNE_DISABLE_SIGINT_HANDLER", "0")
        )
        if self.watching:
            self.previous = signal.getsignal(signal.SIGINT)
            signal.signal(signal.SIGINT, _second_ctrl_c)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.watching:
            self.interrupted = signal.getsignal(signal.SIGINT) is _second_ctrl_c
            signal.signal(signal.SIGINT, self.previous)


def _second_ctrl_c(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt  # Ctrl-C again while Tune saves its state: stop at once (finished trials are kept)


def run_search(settings: SearchSettings, resume: bool = False, callbacks: Sequence[Any] = ()) -> pd.DataFrame:
    """Run (or resume) a search; returns the trials table. Outputs land in runs/<name>/ (and its storage).

    Ctrl-C stops it cleanly: the outputs are written, then SearchInterrupted (a KeyboardInterrupt holding the
    trials table) is raised. `callbacks`: more Ray Tune callbacks (a logger...) for a new search; a resumed
    one keeps those it started with.
    """
    import ray
    from ray import tune

    prepared = prepare(settings, resume)
    settings, run = prepared.settings, prepared.run
    split = load_split(settings.data)  # the only read of the data set: trials get it from the object store
    connected = _start_ray(settings)
    try:
        trainable = tune.with_parameters(
            run_trial,
            prepared=prepared,
            data=SharedData.put(split),
            replays=_replays(run, prepared.restoring) if resume else Replays(),
        )
        del split
        resources = {"cpu": settings.resources.cpus_per_trial or 1}
        if settings.resources.gpus_per_trial:
            resources["gpu"] = settings.resources.gpus_per_trial
        trainable = tune.with_resources(trainable, resources)
        with library_output(settings.resources.verbose), _CtrlC() as ctrl_c:  # Optuna's log: only with -v
            if prepared.restoring:
                tuner = tune.Tuner.restore(run.experiment, trainable, resume_unfinished=True, resume_errored=True)
            else:
                tuner = _new_tuner(prepared, trainable, callbacks)
            tuner.fit()
        if DEVICE_LATENCY in settings.objectives and not ctrl_c.interrupted:
            remeasure_front(prepared)  # the front timed again with no trial beside it (Ray still up)
    finally:
        if connected:
            ray.shutdown()
    trials = write_outputs(run)
    if ctrl_c.interrupted:
        raise SearchInterrupted(
            f"search interrupted: {len(trials)} finished trials kept in {run.trials_file}; "
            f"the same command with --resume continues it",
            trials,
        )
    return trials
