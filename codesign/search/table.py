"""The trials table as the search runs: a Ray Tune callback that records every trial the moment it ends.

Each finished trial becomes a TrialRecord in runs/<name>/trials.csv (rewritten whole, atomically, and copied
to the run's storage), with the node it ran on, how often it failed and where its checkpoint is, so no
finished trial is ever lost and the run folder alone is enough to report, export and re-profile.
"""

from __future__ import annotations

import dataclasses
import errno
import os
from pathlib import Path
from typing import Any

from ray.tune import Callback, Stopper

from codesign.runs import Run, TrialRecord
from codesign.search.trial import TrialConfig, TrialReport, known
from codesign.status import Status


def final_status(last: TrialReport | None, errored: bool = False) -> Status:
    """How a trial ended: ok (complete), diverged, infeasible, error, or stopped (ASHA/budget, partial)."""
    if errored:
        return Status.ERROR
    if last is None:
        return Status.STOPPED
    if last.status in (Status.INFEASIBLE, Status.DIVERGED):
        return last.status
    return Status.OK if last.complete else Status.STOPPED


def trial_record(
    trial_id: str,
    config: TrialConfig,
    last: TrialReport | None,
    status: Status,
    error: str = "",
    failures: int = 0,
    checkpoint: str = "",
) -> TrialRecord:
    """The record of a trial from its config (the sampled design), its last reported result and how it ran."""
    report = last or TrialReport(status=status)
    config_known = {"peak_activation_bytes": config.peak_activation_bytes, "parameters": config.parameters}
    return TrialRecord(
        trial_id=trial_id,
        status=status,
        val_accuracy=known(report.val_accuracy),
        energy_pj=known(report.energy_pj),
        cycles=known(report.cycles),
        graded_energy_pj=known(report.graded_energy_pj),
        graded_cycles=known(report.graded_cycles),
        best_energy_pj=known(report.best_energy_pj),
        best_cycles=known(report.best_cycles),
        peak_activation_bytes=known(_first(report.peak_activation_bytes, config_known["peak_activation_bytes"])),
        parameters=known(_first(report.parameters, config_known["parameters"])),
        macs=known(report.macs),
        epochs_done=report.epoch,
        rubric_points=report.rubric_points,
        train_seconds=known(report.train_seconds),
        train_accuracy=known(report.train_accuracy),
        trial_seconds=known(report.time_total_s),
        spec=config.spec,
        hardware=config.hardware,
        area_mm2=known(config.area_mm2),
        val_accuracy_float=known(_first(report.val_accuracy_float, report.val_accuracy)),
        device_latency_ms=known(report.device_latency_ms),
        score_per_ms=known(report.score_per_ms),
        device_node_id=report.device_node_id or "",
        device_name=report.device_name or "",
        node_ip=report.node_ip,
        node_id=report.node_id,
        failures=failures,
        checkpoint=checkpoint,
        reason=error or report.reason or config.reason,
    )


def _first(*values: float | None) -> float | None:
    return next((v for v in values if v is not None), None)


# what a trial's error or a failed write says when the disk, not the trial, is at fault: the search stops
DISK_FAULTS = {
    errno.ENOSPC: "No space left on device",
    errno.EROFS: "Read-only file system",
    errno.EDQUOT: "Disk quota exceeded",
}


def disk_fault(text: str) -> bool:
    """Whether an error line is a full disk, a read-only file system or an exhausted quota."""
    return any(f"[Errno {code}]" in text or words in text for code, words in DISK_FAULTS.items())


def error_line(trial: Any) -> str:
    """The last line of a trial's latest error (Tune appends every failure to the trial's error file)."""
    path = getattr(trial, "error_file", None)
    if path and os.path.exists(path):
        lines = [ln for ln in Path(path).read_text().splitlines() if ln.strip()]
        return lines[-1].strip()[:300] if lines else ""
    return ""


class TrialTable(Callback):
    """Rewrites trials.csv whenever a trial ends, keeping the rows of earlier sessions (resume).

    Ray restores this object from its pickle on --resume, so the table is (re)read in `setup`.
    """

    def __init__(self, run_dir: Path):
        self.run = Run(run_dir)
        self.records: dict[str, TrialRecord] = {}
        self.last: dict[str, TrialReport] = {}
        self.claimed: dict[str, str] = {}  # recorded trial -> the trial that repeated it (search/replay.py)
        self.fault = ""  # a full disk or read-only folder, as one line: the search stops (see FaultStop)

    def setup(
        self, stop: Any = None, num_samples: int | None = None, total_num_samples: int | None = None, **info: Any
    ) -> None:
        """Read the rows of earlier sessions (resume)."""
        self.run = Run(self.run.folder)  # unpickled from an earlier codesign, it may lack newer attributes
        self.records, self.last, self.claimed, self.fault = {}, {}, {}, ""
        if self.run.trials_file.is_file():
            self.records = {r.trial_id: r for r in self.run.records()}

    def on_trial_result(self, iteration: int, trials: list, trial: Any, result: dict, **info: Any) -> None:
        """Remember a trial's latest report."""
        report = TrialReport.from_tune(result)
        if report is not None:
            self.last[trial.trial_id] = report

    def on_trial_recover(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        """Say that a trial's process or node died and that it runs again (from scratch)."""
        last = self.last.get(trial.trial_id)
        node = last.node_ip if last is not None and last.node_ip else "?"
        error = error_line(trial)
        if disk_fault(error):  # retrying cannot help: stop the search, keeping what finished
            self._fault(f"trial {trial.trial_id} on node {node}: {error}")
            return
        print(
            f"[codesign] trial {trial.trial_id} failed on node {node} ({error}): retrying, "
            f"failure {trial.num_failures} of {trial.max_failures} allowed",
            flush=True,
        )

    def _fault(self, line: str) -> None:
        """Remember the first disk fault (FaultStop ends the search on it)."""
        if not self.fault:
            self.fault = line
            print(f"[codesign] {line}: stopping the search", flush=True)

    def _write(self) -> None:
        """Rewrite trials.csv; a full disk or read-only folder stops the search instead of crashing Tune."""
        try:
            self.run.write_trials(list(self.records.values()))
        except OSError as exc:
            self._fault(f"{exc.filename or self.run.trials_file}: {exc.strerror or exc}")

    def _checkpoint(self, trial: Any) -> str:
        checkpoint = trial.checkpoint
        return self.run.storage.relative(checkpoint.path) if checkpoint is not None else ""

    def _repeat(self, trial: Any, original: str) -> bool:
        """A trial that reported a recorded result: the first to repeat a record adds no row of its own."""
        if original not in self.records or self.claimed.get(original, trial.trial_id) != trial.trial_id:
            return False  # a second trial of the same design: a row of its own, as if it had trained
        self.claimed[original] = trial.trial_id
        same = "" if original == trial.trial_id else f" repeats trial {original} (same design), which"
        print(
            f"[codesign] trial {trial.trial_id}{same} finished before the search was stopped: kept, not trained again",
            flush=True,
        )
        return True

    def _last(self, trial: Any) -> TrialReport | None:
        """A trial's latest report (Tune's own record of it when none came through on_trial_result)."""
        return self.last.get(trial.trial_id) or TrialReport.from_tune(trial.last_result)

    def _end(self, trial: Any, errored: bool, error: str = "") -> None:
        last = self._last(trial)
        replayed = last.replay_of if last is not None else None
        if not errored and replayed and self._repeat(trial, replayed):
            return
        status = final_status(last, errored)
        config = TrialConfig.from_tune(trial.config, f"trial {trial.trial_id}")  # Tune's boundary
        record = trial_record(trial.trial_id, config, last, status, error, trial.num_failures, self._checkpoint(trial))
        if replayed in self.records:  # the copy of a record shares its checkpoint
            original = self.records[replayed]
            record = dataclasses.replace(record, checkpoint=original.checkpoint, train_seconds=original.train_seconds)
        self.records[trial.trial_id] = record
        if disk_fault(error):
            self._fault(f"trial {trial.trial_id}: {error}")
        self._write()  # the SearchConsole listed after it announces it

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        """Record a trial that ended normally."""
        self._end(trial, errored=False)

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        """Record a trial that failed more often than --max-failures allows, with the last line of its error."""
        self._end(trial, errored=True, error=error_line(trial))

    def on_experiment_end(self, trials: list, **info: Any) -> None:
        """Record the trials the budget stopped (they get no completion event)."""
        for trial in trials:  # budget-stopped trials end without a completion event
            last = self._last(trial)
            if trial.trial_id not in self.records and trial.trial_id not in self.claimed.values() and last:
                config = TrialConfig.from_tune(trial.config, f"trial {trial.trial_id}")
                self.records[trial.trial_id] = trial_record(
                    trial.trial_id, config, last, Status.STOPPED, failures=trial.num_failures
                )
        self._write()


class FaultStop(Stopper):
    """Ends the search once the trials table has seen a disk fault (every finished trial is already kept)."""

    def __init__(self, table: TrialTable):
        self.table = table

    def __call__(self, trial_id: str, result: dict) -> bool:
        """No single trial is stopped for itself."""
        return False

    def stop_all(self) -> bool:
        """Stop every trial once a write failed for want of space or permission."""
        return bool(getattr(self.table, "fault", ""))
