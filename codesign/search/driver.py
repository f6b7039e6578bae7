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

import contextlib
import copy
import logging
import os
import shutil
import signal
import socket
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
from ray.tune.search import ConcurrencyLimiter, SearchGenerator

from codesign.errors import CodesignError, SearchInterrupted
from codesign.objectives import DEVICE_LATENCY
from codesign.report import write_outputs
from codesign.runs import Run
from codesign.search.console import SearchConsole, library_output
from codesign.search.fidelity import make_scheduler
from codesign.search.prepared import PreparedSearch, prepare, save_new
from codesign.search.remeasure import remeasure_front
from codesign.search.replay import Replays
from codesign.search.searcher import make_search
from codesign.search.settings import SearchSettings
from codesign.search.shared import SharedData, load_split
from codesign.search.table import FaultStop, TrialTable
from codesign.search.trainable import run_trial


def _start_ray(settings: SearchSettings) -> bool:
    """Join the cluster at --address (or $RAY_ADDRESS), or start a private local Ray; print the dashboard's address.

    Returns whether this call connected (so the search disconnects at its end); a caller already connected
    to Ray keeps its connection. Without an address a search never joins a cluster some other program started.
    A cluster that does not answer is one line at once (Ray itself would retry for minutes).
    """
    import ray

    if ray.is_initialized():
        return False
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
    resources = settings.resources
    address = resources.address or os.environ.get("RAY_ADDRESS") or "local"
    named = "--address" if resources.address else "$RAY_ADDRESS"
    if address not in ("local", "auto"):
        _check_reachable(address, named)
    try:
        context = ray.init(
            address=address,
            include_dashboard=resources.dashboard,
            log_to_driver=resources.log_to_driver,
            configure_logging=False,
        )
    except (ConnectionError, ValueError, RuntimeError, TimeoutError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        where = "" if address == "local" else f"{named} {address}: "
        raise CodesignError(f"{where}Ray did not start: {first[:300]}") from None
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


def _check_reachable(address: str, named: str) -> None:
    """A cluster address is HOST:PORT (or ray://HOST:PORT) that answers: one line at once when it does not."""
    hostport = address.split("://", 1)[1] if "://" in address else address
    host, _, port = hostport.rstrip("/").rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise CodesignError(
            f"{named} {address!r}: not a Ray address; give HOST:PORT of the head node (e.g. 10.0.0.1:6379), "
            f"ray://HOST:10001, or auto"
        )
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=5).close()
    except OSError as exc:
        reason = exc.strerror or str(exc) or type(exc).__name__
        raise CodesignError(
            f"{named} {address}: nothing answers there ({reason}); start the head node (`ray start --head`) "
            f"or leave the address out for a private local Ray"
        ) from None


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
            num_samples=settings.tune.trials or _UNLIMITED,
            max_concurrent_trials=settings.tune.concurrency,
            time_budget_s=settings.tune.budget_s,
            reuse_actors=True,
            trial_dirname_creator=_trial_folder,
        ),
        run_config=tune.RunConfig(
            name="ray",  # the experiment folder, inside the run's storage
            storage_path=run.storage.location,
            callbacks=[table, console, *callbacks],
            stop=FaultStop(table),  # a full disk or a read-only folder ends the search (finished trials kept)
            verbose=1 if settings.resources.verbose else 0,  # Ray's status table: only with -v
            failure_config=tune.FailureConfig(max_failures=settings.resources.max_failures),
        ),
    )


_UNLIMITED = 1_000_000  # trials of a search with a budget and no trial count


def _restored_tuner(prepared: PreparedSearch, trainable: Any) -> Any:
    """Tune's own restore of the run's experiment, made to follow the run folder where it is now and to run
    the trials and budget given now (`--resume --trials N` extends a finished run).

    Tune restores its Tuner, callbacks and searcher from their pickles, which hold the paths of the folder the
    run was made in: the trials table, the console and the sampler's log are pointed at this folder (a copied
    run never writes into its original), and the storage is the experiment path given here.
    """
    from ray import tune

    settings, run = prepared.settings, prepared.run
    tuner = tune.Tuner.restore(run.experiment, trainable, resume_unfinished=True, resume_errored=True)
    internal = getattr(tuner, "_local_tuner", None)  # Ray's restored TunerInternal: its configs as pickled
    if internal is None:
        return tuner
    config, run_config = internal._tune_config, internal._run_config
    for callback in run_config.callbacks or ():
        if isinstance(callback, TrialTable):
            callback.run = run
        if isinstance(callback, SearchConsole):
            callback.trials, callback.budget_s = settings.tune.trials, settings.tune.budget_s
    total = settings.tune.trials or _UNLIMITED
    config.num_samples, config.time_budget_s = total, settings.tune.budget_s
    search = config.search_alg
    if hasattr(search, "log_file"):
        search.log_file = run.sampler_file
    if not isinstance(search, (ConcurrencyLimiter, SearchGenerator)) and config.max_concurrent_trials:
        search = ConcurrencyLimiter(search, max_concurrent=config.max_concurrent_trials)
        config.max_concurrent_trials = None
    if not isinstance(search, SearchGenerator):
        config.search_alg = _Extended(search, total, run.storage.location)
    return tuner


class _Extended(SearchGenerator):
    """Tune's SearchGenerator whose trial count and storage are the ones given now, not those its pickled state
    holds (the experiment it restores names the storage new trials write to: the run's, where it was made)."""

    def __init__(self, searcher: Any, total: int, storage_path: str):
        super().__init__(searcher)
        self.total, self.storage_path = total, storage_path

    def set_state(self, state: dict) -> None:
        """Restore the pickled state, then set the trial count (more trials extend a finished run) and the
        storage (the run folder where it is now) as given."""
        from ray.train._internal.storage import get_fs_and_path

        super().set_state(state)
        self._total_samples = self.total
        self._finished = False
        experiment: Any = self._experiment
        storage = copy.copy(experiment.storage)  # as Tune itself moves a restored trial's storage
        storage.storage_filesystem, fs_path = get_fs_and_path(self.storage_path, None)
        storage.storage_fs_path = Path(fs_path).as_posix()
        experiment.storage = storage
        experiment.spec["storage"] = storage


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


@contextlib.contextmanager
def _quiet_trial_errors(settings: SearchSettings) -> Iterator[None]:
    """Without -v, a failed trial is the one line the trials table prints (its error's last line), not Tune's
    traceback of it (a full disk would print one per retry), and Tune's other errors are one line each."""
    loggers = [logging.getLogger(f"ray.tune.execution.{name}") for name in ("tune_controller", "experiment_state")]

    def one_line(record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if message.startswith("Trial task failed"):
            return False
        error = record.exc_info[1] if record.exc_info else None
        if error is not None:
            record.msg, record.args = f"{message.strip()} {type(error).__name__}: {error}".replace("\n", " "), None
            record.exc_info, record.exc_text = None, None
        return True

    if not settings.resources.verbose:
        for logger in loggers:
            logger.addFilter(one_line)
    try:
        yield
    finally:
        for logger in loggers:
            logger.removeFilter(one_line)


class _Stop:
    """Whether Ctrl-C (SIGINT) or SIGTERM (what a batch scheduler sends) stopped Tune's loop during the block.

    Tune catches the first SIGINT, stops the trials, saves the experiment and returns normally, then puts back
    the handler it found: so one is installed here first, and after the block it is back iff SIGINT came.
    SIGTERM is handled the same way (Ray's own handler would exit at once, with a native stack dump): it hands
    the signal to whatever handles SIGINT at that moment.
    """

    def __enter__(self) -> _Stop:
        self.signum = 0
        self.watching = threading.current_thread() is threading.main_thread() and not int(
            os.environ.get("TUNE_DISABLE_SIGINT_HANDLER", "0")
        )
        if self.watching:
            self.previous = signal.getsignal(signal.SIGINT)
            self.previous_term = signal.getsignal(signal.SIGTERM)
            signal.signal(signal.SIGINT, _second_ctrl_c)
            signal.signal(signal.SIGTERM, self._sigterm)
        return self

    def _sigterm(self, signum: int, frame: Any) -> None:
        self.signum = signal.SIGTERM
        handler = signal.getsignal(signal.SIGINT)
        if callable(handler):
            handler(signal.SIGINT, frame)  # Tune's: stop the trials, save, return

    def __exit__(self, *exc: object) -> None:
        if self.watching:
            if signal.getsignal(signal.SIGINT) is _second_ctrl_c and not self.signum:
                self.signum = signal.SIGINT
            signal.signal(signal.SIGINT, self.previous)
            signal.signal(signal.SIGTERM, self.previous_term)


def _second_ctrl_c(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt  # Ctrl-C again while Tune saves its state: stop at once (finished trials are kept)


def run_search(settings: SearchSettings, resume: bool = False, callbacks: Sequence[Any] = ()) -> pd.DataFrame:
    """Run (or resume) a search; returns the trials table. Outputs land in runs/<name>/ (and its storage).

    Ctrl-C or SIGTERM stops it cleanly: the outputs are written, then SearchInterrupted (a KeyboardInterrupt
    holding the trials table and the signal) is raised. `callbacks`: more Ray Tune callbacks (a logger...) for a
    new search; a resumed one keeps those it started with. Only one search runs in a run folder at a time, and a
    search that fails to start leaves nothing behind that blocks its name.
    """
    prepared = prepare(settings, resume)
    run = prepared.run
    existed = run.folder.exists()
    try:
        with run.lock():
            try:
                return _locked_search(prepared, resume, callbacks)
            finally:
                if not existed and not run.has_settings():  # a failed start: nothing left that blocks the name
                    shutil.rmtree(run.folder, ignore_errors=True)
    except OSError as exc:  # a full disk, a read-only folder: one line naming the path
        raise CodesignError(_fault_line(exc, run)) from None


def _fault_line(exc: OSError, run: Run) -> str:
    """An OSError as one line: the path, what went wrong, and what was kept."""
    where = exc.filename or run.folder
    kept = f"; finished trials are kept in {run.trials_file}" if run.trials_file.is_file() else ""
    return f"{where}: {exc.strerror or exc}{kept}"


def _locked_search(prepared: PreparedSearch, resume: bool, callbacks: Sequence[Any]) -> pd.DataFrame:
    """The search, its run folder held: read the data, start Ray, then (a new search) write search.json."""
    import ray
    from ray import tune

    settings, run = prepared.settings, prepared.run
    if not resume and run.has_settings():  # another search took the name between prepare() and the lock
        raise CodesignError(
            f"{run.folder} already holds a search: pass --resume to continue it or --name to start another"
        )
    split = load_split(settings.data)  # the only read of the data set: trials get it from the object store
    if prepared.restoring:  # before anything of Tune's is read back (its experiment state holds pickles too)
        print(
            f"[codesign] resuming: loading Ray Tune's pickled state from {run.experiment} (unpickling runs any code "
            f"those files hold: resume only runs you trust)",
            flush=True,
        )
    connected = _start_ray(settings)
    started = resume  # a new search takes its name when Tune starts it: a start that fails before gives it back
    tuner = None
    try:
        if not resume:
            save_new(prepared)
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
        with library_output(settings.resources.verbose), _quiet_trial_errors(settings), _Stop() as stop:
            if prepared.restoring:
                tuner = _restored_tuner(prepared, trainable)
            else:
                tuner = _new_tuner(prepared, trainable, callbacks)
            started = True
            tuner.fit()
            fault = _fault_of(tuner)
        if DEVICE_LATENCY in settings.objectives and not stop.signum and not fault:
            remeasure_front(prepared)  # the front timed again with no trial beside it (Ray still up)
    finally:
        if not started:
            run.settings_file.unlink(missing_ok=True)
        _stop_costing_ahead(tuner)  # its thread calls Ray: done before Ray shuts down
        if connected:
            ray.shutdown()
    if fault:
        raise CodesignError(f"{fault}: the search stopped; every finished trial is kept in {run.trials_file}")
    try:
        trials = write_outputs(run)
    except (OSError, CodesignError) as exc:  # a full disk: the report's writer says which file, or Python does
        what = f"{exc.filename or run.folder}: {exc.strerror or exc}" if isinstance(exc, OSError) else str(exc)
        raise CodesignError(
            f"{what}: the report was not written; every finished trial is kept in {run.trials_file} "
            f"(free space, then `codesign report {run.folder}`)"
        ) from None
    if stop.signum:
        how = "stopped by SIGTERM" if stop.signum == signal.SIGTERM else "interrupted"
        raise SearchInterrupted(
            f"search {how}: {len(trials)} finished trials kept in {run.trials_file}; "
            f"the same command with --resume continues it",
            trials,
            signum=stop.signum,
        )
    return trials


def _stop_costing_ahead(tuner: Any) -> None:
    """Stop the sampler's costing ahead (codesign/search/prefetch.py), if it has one: the search is over."""
    internal = getattr(tuner, "_local_tuner", None)
    search = getattr(getattr(internal, "_tune_config", None), "search_alg", None)
    while search is not None and not hasattr(search, "_ot_study"):  # Tune's wrappers (ConcurrencyLimiter...)
        search = getattr(search, "searcher", None)
    study = getattr(search, "_ot_study", None)
    close = getattr(getattr(study, "sampler", None) or getattr(search, "_sampler", None), "close", None)
    if callable(close):
        close()


def _fault_of(tuner: Any) -> str:
    """The disk fault (full, read-only) that stopped the search, if one did: the trials table saw it."""
    internal = getattr(tuner, "_local_tuner", None)
    run_config = getattr(internal, "_run_config", None)
    for callback in getattr(run_config, "callbacks", None) or ():
        if isinstance(callback, TrialTable) and callback.fault:
            return callback.fault
    return ""
