"""The Tune searcher: Ray's OptunaSearch over the search's study, seeded designs first, and a record of how
each trial ended and of what each suggestion cost.

Optuna's study is the search's record (`--resume` restores it with the searcher). On top of OptunaSearch this
writes, on each finished trial, its status (ok, stopped, diverged, infeasible: the trials table's rule) and
epochs into the Optuna trial's user attributes, so a sampler can tell a complete trial from one cut early;
and it appends one row per suggestion to runs/<name>/sampler.csv: the seconds the sampler and the space's
define-by-run code took (the sampler's own time per trial), and the ehvi sampler's choice.
"""

from __future__ import annotations

import csv
import time
from pathlib import Path
from typing import Any

import optuna
from ray.tune.search.optuna import OptunaSearch

from codesign.search.ehvi import EPOCHS_DONE, PLANNED_EPOCHS, STATUS
from codesign.search.objective import DesignObjective
from codesign.search.prepared import PreparedSearch
from codesign.search.samplers import make_sampler
from codesign.search.seeds import SEED_DESIGN, enqueue_seeds
from codesign.search.table import final_status
from codesign.search.trial import TrialReport

STUDY = "codesign"
LOG_COLUMNS = (
    "trial_id",
    "number",
    "sampler",
    "seconds",
    "mode",
    "seed_design",
    "drawn",
    "candidates",
    "pruned",
    "predicted_accuracy",
    "predicted_std",
    "ehvi",
    "energy_pj",
    "cycles",
    "deferred",
    "bounded",
    "mapped",
    "proven",
)


class RecordingSearch(OptunaSearch):
    """OptunaSearch that stamps each finished trial's status into Optuna and logs every suggestion."""

    def __init__(self, *args: Any, log_file: Path | None = None, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.log_file = log_file

    def suggest(self, trial_id: str) -> dict | None:
        """Optuna's suggestion for a new Tune trial, timed and logged."""
        start = time.perf_counter()
        config = super().suggest(trial_id)
        seconds = time.perf_counter() - start
        if self.log_file is not None and config is not None:
            number = self._ot_trials[trial_id].number  # Ray's map from Tune trial to Optuna trial
            sampler = self._ot_study.sampler if self._ot_study is not None else None
            info = getattr(sampler, "choices", {}).pop(number, {})
            row = {
                **info,
                "trial_id": trial_id,
                "number": number,
                "sampler": type(sampler).__name__,
                "seconds": round(seconds, 4),
                "seed_design": config.get(SEED_DESIGN, ""),
            }
            _append(self.log_file, {k: row.get(k, "") for k in LOG_COLUMNS})
        return config

    def restore(self, checkpoint_path: str) -> None:
        """Tune's restore of the pickled searcher, keeping the sampler's log where the run folder is now."""
        log_file = self.log_file
        super().restore(checkpoint_path)
        self.log_file = log_file

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False) -> None:
        """Write how the trial ended into its Optuna trial, then tell Optuna its values."""
        ot_trial = self._ot_trials.get(trial_id)
        if ot_trial is not None and trial_id not in self._completed_trials:
            report = TrialReport.from_tune(result)  # Tune's boundary
            ot_trial.set_user_attr(STATUS, final_status(report, error).value)
            if report is not None:
                ot_trial.set_user_attr(EPOCHS_DONE, report.epoch)
                ot_trial.set_user_attr(PLANNED_EPOCHS, report.planned_epochs or 0)
        super().on_trial_complete(trial_id, result=result, error=error)


def _append(path: Path, row: dict[str, Any]) -> None:
    new = not path.is_file()
    columns = list(LOG_COLUMNS)
    if not new:  # a resumed search's log keeps the columns it was started with
        with path.open(newline="") as f:
            columns = next(csv.reader(f), []) or columns
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns, extrasaction="ignore", restval="")
        if new:
            writer.writeheader()
        writer.writerow(row)


def make_search(prepared: PreparedSearch, log_file: Path | None = None) -> RecordingSearch:
    """The searcher of a new search: its study created with the seed designs queued first."""
    objective = DesignObjective(prepared)
    tune = prepared.settings.tune
    sampler = make_sampler(tune.sampler, tune.seed, objective)
    storage = optuna.storages.InMemoryStorage()
    study = optuna.create_study(
        storage=storage,
        study_name=STUDY,
        sampler=sampler,
        directions=["maximize" if mode == "max" else "minimize" for _, mode in prepared.objectives],
    )
    enqueue_seeds(study, prepared.seeds, prepared.space)
    return RecordingSearch(
        space=objective,
        metric=[c for c, _ in prepared.objectives],
        mode=[m for _, m in prepared.objectives],
        sampler=sampler,
        storage=storage,
        study_name=STUDY,
        log_file=log_file,
    )
