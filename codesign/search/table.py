"""The trials table as the search runs: a Ray Tune callback that records every trial the moment it ends.

Each finished trial becomes a TrialRecord in runs/<name>/trials.csv (rewritten whole, atomically), and a
joint-search trial's accelerator is written beside it, so no finished trial is ever lost and the run
folder alone is enough to report, export and re-profile.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

from ray.tune import Callback

from codesign.arch import Arch
from codesign.hardware import HardwareParams
from codesign.network import CandidateSpec
from codesign.runs import Run, Status, TrialRecord
from codesign.search.trainable import trial_arch


def final_status(last: dict | None, errored: bool = False) -> Status:
    """How a trial ended: ok (complete), diverged, infeasible, error, or stopped (ASHA/budget, partial)."""
    if errored:
        return Status.ERROR
    if not last:
        return Status.STOPPED
    status = last.get("status")
    if status in (Status.INFEASIBLE.value, Status.DIVERGED.value):
        return Status(status)
    if status == Status.OK.value and last.get("epoch", 0) >= last.get("planned_epochs", math.inf):
        return Status.OK
    return Status.STOPPED


def trial_record(trial_id: str, config: dict, last: dict | None, status: Status, error: str = "") -> TrialRecord:
    """The record of a trial from its config (the sampled design) and its last reported result."""
    last = last or {}
    hardware = config.get("hardware")
    val_accuracy = last.get("val_accuracy", math.nan)
    return TrialRecord(
        trial_id=trial_id,
        status=status,
        val_accuracy=val_accuracy,
        energy_pj=last.get("energy_pj", math.nan),
        cycles=last.get("cycles", math.nan),
        **{k: last.get(k, math.nan) for k in ("graded_energy_pj", "graded_cycles", "best_energy_pj", "best_cycles")},
        peak_activation_bytes=last.get("peak_activation_bytes", config.get("peak_activation_bytes", math.nan)),
        parameters=last.get("parameters", config.get("parameters", math.nan)),
        macs=last.get("macs", math.nan),
        epochs_done=last.get("epoch", 0),
        rubric_points=last.get("rubric_points", 0),
        train_seconds=last.get("train_seconds", math.nan),
        trial_seconds=last.get("time_total_s", math.nan),
        spec=CandidateSpec.from_dict(config["spec"], f"trial {trial_id}") if config.get("spec") else None,
        hardware=HardwareParams(**hardware) if hardware else None,
        area_mm2=config.get("area_mm2", math.nan),
        val_accuracy_float=last.get("val_accuracy_float", val_accuracy),
        reason=error or last.get("reason") or config.get("reason", ""),
    )


class TrialTable(Callback):
    """Rewrites trials.csv whenever a trial ends, keeping the rows of earlier sessions (resume).

    Ray restores this object from its pickle on --resume, so the table is (re)read in `setup`.
    """

    def __init__(self, run_dir: Path, base_arch: Arch):
        self.run = Run(run_dir)
        self.base_arch = base_arch
        self.records: dict[str, TrialRecord] = {}
        self.last: dict[str, dict] = {}

    def setup(
        self, stop: Any = None, num_samples: int | None = None, total_num_samples: int | None = None, **info: Any
    ) -> None:
        """Read the rows of earlier sessions (resume)."""
        self.records, self.last = {}, {}
        if self.run.trials_file.is_file():
            self.records = {r.trial_id: r for r in self.run.records()}

    def on_trial_result(self, iteration: int, trials: list, trial: Any, result: dict, **info: Any) -> None:
        """Remember a trial's latest report."""
        self.last[trial.trial_id] = result

    def _end(self, trial: Any, errored: bool, error: str = "") -> None:
        last = self.last.get(trial.trial_id) or trial.last_result
        status = final_status(last, errored)
        record = trial_record(trial.trial_id, trial.config, last, status, error)
        if trial.config.get("hardware"):
            self.run.save_arch(trial.trial_id, trial_arch(self.base_arch, trial.config["hardware"]))
        self.records[trial.trial_id] = record
        self.run.write_trials(list(self.records.values()))  # the SearchConsole listed after it announces it

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        """Record a trial that ended normally."""
        self._end(trial, errored=False)

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        """Record a crashed trial with the last line of its error."""
        error = ""
        path = getattr(trial, "error_file", None)
        if path and os.path.exists(path):
            lines = [ln for ln in Path(path).read_text().splitlines() if ln.strip()]
            error = lines[-1][:300] if lines else ""
        self._end(trial, errored=True, error=error)

    def on_experiment_end(self, trials: list, **info: Any) -> None:
        """Record the trials the budget stopped (they get no completion event)."""
        for trial in trials:  # budget-stopped trials end without a completion event
            last = self.last.get(trial.trial_id) or trial.last_result
            if trial.trial_id not in self.records and last:
                self.records[trial.trial_id] = trial_record(trial.trial_id, trial.config, last, Status.STOPPED)
        self.run.write_trials(list(self.records.values()))
