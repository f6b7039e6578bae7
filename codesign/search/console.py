"""What a search prints while it runs: one line per finished trial and one live progress line.

Ray Tune's own status table (a 6-line block every few seconds with no trial metrics) and Optuna's log are
shown only with `codesign search -v`. On a terminal the progress line is redrawn in place about once a
second; into a pipe or a CI log it is printed as a line of its own at most every `every_s` seconds and once
at the end, so a log holds one line per trial and a few progress lines.

The progress line's hypervolume is that of the front in a fixed unit cube (`pareto.front_volume`): it only
grows as the search finds better designs, and runs over the same objectives compare.
"""

from __future__ import annotations

import contextlib
import math
import shutil
import sys
import time
import warnings
from collections import Counter
from collections.abc import Iterator
from typing import Any, TextIO

import pandas as pd
from ray.tune import Callback

from codesign.pareto import front_volume, pareto_front
from codesign.runs import Status, TrialRecord
from codesign.search.table import TrialTable

_MEASURED = (Status.OK, Status.STOPPED)  # trials whose objectives were measured (stopped: partially)
_REDRAW_S = 1.0  # how often a terminal's progress line is redrawn


def duration(seconds: float) -> str:
    """A short duration: 42s, 3m05s, 2h07m."""
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


def trial_line(record: TrialRecord, number: int, total: int | None, objectives: tuple[tuple[str, str], ...]) -> str:
    """The line announcing a finished trial: its objectives and rubric points, or why it has none."""
    head = f"[codesign] trial {number}{f'/{total}' if total else ''} {record.trial_id} {record.status}"
    if record.status not in _MEASURED:
        return f"{head}: {record.reason or 'no reason recorded'}"
    parts = [
        f"val_acc {record.val_accuracy:.4f}",
        f"energy {record.energy_mj:.4f} mJ",
        f"{record.cycles:,.0f} cycles",
    ]
    if any(column == "area_mm2" for column, _ in objectives) or not math.isnan(record.area_mm2):
        parts.append(f"area {record.area_mm2:.3f} mm2")
    if not math.isnan(record.device_latency_ms):  # the device_latency objective: timed on the device
        parts.append(f"device {record.device_latency_ms:.4f} ms")
        if not math.isnan(record.score_per_ms):
            parts.append(f"score {record.score_per_ms:.2f}/ms")
    parts.append(f"rubric {record.rubric_points}")
    if not math.isnan(record.trial_seconds):
        parts.append(f"({duration(record.trial_seconds)})")
    note = f" [{record.reason}]" if record.reason else ""
    return f"{head}: {'  '.join(parts)}{note}"


class SearchConsole(Callback):
    """Prints one line per finished trial and keeps one progress line up to date (a Ray Tune callback).

    It reads the trials as `table` (the TrialTable callback listed before it) records them, so a resumed
    search counts the trials of earlier sessions too.
    """

    def __init__(
        self,
        table: TrialTable,
        objectives: tuple[tuple[str, str], ...],
        trials: int | None,
        budget_s: float | None,
        every_s: float = 60.0,
        stream: TextIO | None = None,
        tty: bool | None = None,
    ):
        self.table, self.objectives = table, objectives
        self.trials, self.budget_s, self.every_s = trials, budget_s, every_s
        self.stream, self.tty = stream, tty  # None: sys.stdout, and whether it is a terminal
        self.start = time.monotonic()
        self.announced: set[str] = set()
        self.finished_here = 0
        self.front_size, self.volume = 0, 0.0
        self.last_drawn = -math.inf
        self.line_open = False  # a terminal's progress line is on screen, without a newline

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["stream"] = None  # Ray pickles callbacks with the experiment (for --resume); streams do not pickle
        return state

    # -- Tune's events

    def setup(
        self, stop: Any = None, num_samples: int | None = None, total_num_samples: int | None = None, **info: Any
    ) -> None:
        """A session starts: earlier sessions' trials count, but are not announced again."""
        self.start = time.monotonic()
        self.announced = set(self.table.records)
        self.finished_here = 0
        self.last_drawn = -math.inf
        self._measure_front()

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        """Announce a finished trial."""
        self._announce(trial.trial_id)

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        """Announce a crashed trial."""
        self._announce(trial.trial_id)

    def on_step_end(self, iteration: int, trials: list, **info: Any) -> None:
        """Tune's loop turned: redraw the progress line when it is due."""
        self._progress()

    def on_experiment_end(self, trials: list, **info: Any) -> None:
        """Announce the trials the budget stopped, then the final progress line."""
        for trial_id in list(self.table.records):
            self._announce(trial_id)
        self._progress(force=True)
        if self.line_open:
            self._write("\n")
            self.line_open = False

    # -- what is printed

    def _announce(self, trial_id: str) -> None:
        record = self.table.records.get(trial_id)
        if record is None or trial_id in self.announced:
            return
        self.announced.add(trial_id)
        self.finished_here += 1
        if record.status == Status.OK:
            self._measure_front()
        line = trial_line(record, len(self.announced), self.trials, self.objectives)
        self._write(("\r\x1b[K" if self.line_open else "") + line + "\n")
        self.line_open = False
        self._progress(force=self._is_tty())

    def progress_line(self) -> str:
        """Trials done, time, best accuracy, front size and hypervolume, in one line."""
        records = list(self.table.records.values())
        counts = Counter(str(r.status) for r in records)
        done = f"{len(records)}/{self.trials} trials" if self.trials else f"{len(records)} trial"
        done += "" if self.trials or len(records) == 1 else "s"
        parts = [f"{done} ({', '.join(f'{n} {s}' for s, n in sorted(counts.items())) or 'none yet'})"]
        elapsed = time.monotonic() - self.start
        parts.append(f"{duration(elapsed)} elapsed{self._time_left(elapsed, len(records))}")
        accuracies = [r.val_accuracy for r in records if r.status == Status.OK and not math.isnan(r.val_accuracy)]
        if accuracies:
            parts.append(f"best val_acc {max(accuracies):.4f}")
        parts.append(f"front {self.front_size} design{'s' if self.front_size != 1 else ''}")
        parts.append(f"hypervolume {self.volume:.4f}")
        return "[codesign] " + " | ".join(parts)

    def _time_left(self, elapsed: float, done: int) -> str:
        left = []
        if self.budget_s is not None:
            left.append(max(0.0, self.budget_s - elapsed))
        if self.trials and self.finished_here:
            left.append(elapsed / self.finished_here * max(0, self.trials - done))
        return f", about {duration(min(left))} left" if left else ""

    def _measure_front(self) -> None:
        records = [r for r in self.table.records.values() if r.status == Status.OK]
        columns = {"status": [str(r.status) for r in records]}
        columns.update({name: [getattr(r, name) for r in records] for name, _ in self.objectives})
        frame = pd.DataFrame(columns)
        self.front_size = len(pareto_front(frame, self.objectives))
        self.volume = front_volume(frame, self.objectives)

    def _progress(self, force: bool = False) -> None:
        now = time.monotonic()
        tty = self._is_tty()
        if not force and now - self.last_drawn < (_REDRAW_S if tty else self.every_s):
            return
        self.last_drawn = now
        line = self.progress_line()
        if tty:
            width = shutil.get_terminal_size().columns
            self._write("\r\x1b[K" + (line if len(line) < width else line[: max(width - 4, 10)] + "..."))
            self.line_open = True
        else:
            self._write(line + "\n")

    def _out(self) -> TextIO:
        return self.stream or sys.stdout

    def _is_tty(self) -> bool:
        if self.tty is not None:
            return self.tty
        isatty = getattr(self._out(), "isatty", None)
        return bool(isatty and isatty())

    def _write(self, text: str) -> None:
        out = self._out()
        out.write(text)
        out.flush()


@contextlib.contextmanager
def library_output(verbose: bool) -> Iterator[None]:
    """Optuna's INFO log and its experimental-feature warnings, only when verbose."""
    import optuna

    if verbose:
        yield
        return
    level = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
            yield
    finally:
        optuna.logging.set_verbosity(level)
