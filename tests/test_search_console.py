"""The search console: one line per finished trial, one progress line (redrawn on a terminal, throttled in a
pipe), and nothing of Ray's status table or Optuna's log."""

from __future__ import annotations

import io
import pickle
from types import SimpleNamespace

import pytest

from codesign.pareto import OBJECTIVES
from codesign.runs import Status, TrialRecord
from codesign.search import console as console_module
from codesign.search.console import SearchConsole, duration, library_output, trial_line


class _Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def _console(monkeypatch, tty, trials=4, budget_s=None, every_s=60.0):
    monkeypatch.setenv("COLUMNS", "200")  # the terminal's width: progress lines are cut to fit
    clock = _Clock()
    monkeypatch.setattr(console_module.time, "monotonic", clock)
    table = SimpleNamespace(records={})
    stream = io.StringIO()
    console = SearchConsole(table, OBJECTIVES, trials, budget_s, every_s=every_s, stream=stream, tty=tty)
    console.setup()
    return console, table, stream, clock


def _finish(console, table, clock, record, seconds=30.0):
    clock.now += seconds
    table.records[record.trial_id] = record
    console.on_trial_complete(0, [], SimpleNamespace(trial_id=record.trial_id))


OK_A = TrialRecord(
    "a1", Status.OK, val_accuracy=0.8738, energy_pj=3.8366e6, cycles=24955, rubric_points=100, trial_seconds=462.4
)
OK_B = TrialRecord("b2", Status.OK, val_accuracy=0.8872, energy_pj=1.2297e7, cycles=9120, rubric_points=100)
BAD = TrialRecord("c3", Status.INFEASIBLE, reason="peak activation 1,254,400 B > 1,000,000 B")


def test_trial_lines():
    assert trial_line(OK_A, 1, 12, OBJECTIVES) == (
        "[codesign] trial 1/12 a1 ok: val_acc 0.8738  energy 0.0038 mJ  24,955 cycles  rubric 100  (7m42s)"
    )
    assert trial_line(BAD, 3, None, OBJECTIVES) == (
        "[codesign] trial 3 c3 infeasible: peak activation 1,254,400 B > 1,000,000 B"
    )
    assert [duration(s) for s in (0, 59.4, 61, 3600 * 2 + 7 * 60)] == ["0s", "59s", "1m01s", "2h07m"]


def test_in_a_pipe_one_line_per_trial_and_progress_at_most_every_interval(monkeypatch):
    console, table, stream, clock = _console(monkeypatch, tty=False, every_s=60.0)
    console.on_step_end(0, [])  # due at once: the first progress line
    _finish(console, table, clock, OK_A, seconds=30)
    console.on_step_end(0, [])  # 30 s after the last progress line: not yet
    _finish(console, table, clock, BAD, seconds=40)
    console.on_step_end(0, [])  # 70 s: due
    _finish(console, table, clock, OK_B, seconds=10)
    console.on_experiment_end([])
    lines = stream.getvalue().splitlines()
    assert "\r" not in stream.getvalue()
    assert [line.split(":")[0] for line in lines] == [
        "[codesign] 0/4 trials (none yet) | 0s elapsed | front 0 designs | hypervolume 0.0000",
        "[codesign] trial 1/4 a1 ok",
        "[codesign] trial 2/4 c3 infeasible",
        "[codesign] 2/4 trials (1 infeasible, 1 ok) | 1m10s elapsed, about 1m10s left | best val_acc 0.8738 | "
        "front 1 design | hypervolume 0.2210",
        "[codesign] trial 3/4 b2 ok",
        "[codesign] 3/4 trials (1 infeasible, 2 ok) | 1m20s elapsed, about 27s left | best val_acc 0.8872 | "
        "front 2 designs | hypervolume 0.2399",
    ]


def test_on_a_terminal_the_progress_line_is_redrawn_in_place(monkeypatch):
    console, table, stream, clock = _console(monkeypatch, tty=True, trials=None, budget_s=600)
    console.on_step_end(0, [])
    clock.now += 0.5
    console.on_step_end(0, [])  # under a second: not redrawn
    clock.now += 1
    console.on_step_end(0, [])
    _finish(console, table, clock, OK_A, seconds=5)
    console.on_experiment_end([])
    text = stream.getvalue()
    assert text.count("\r\x1b[K[codesign] 0 trials (none yet)") == 2
    assert "\r\x1b[K[codesign] trial 1 a1 ok: val_acc 0.8738" in text  # the trial line replaces the progress line
    assert text.endswith(
        "\r\x1b[K[codesign] 1 trial (1 ok) | 6s elapsed, about 9m54s left | best val_acc 0.8738 | "
        "front 1 design | hypervolume 0.2210\n"
    )
    assert "0s elapsed, about 10m00s left" in text  # of the 10-minute budget
    assert text.count("\n") == 2  # the trial line and the final progress line


def test_a_resumed_search_counts_earlier_trials_without_announcing_them(monkeypatch):
    console, table, stream, clock = _console(monkeypatch, tty=False)
    table.records["a1"] = OK_A
    console.setup()
    _finish(console, table, clock, OK_B)
    assert "[codesign] trial 2/4 b2 ok" in stream.getvalue() and "a1" not in stream.getvalue()


def test_the_console_pickles_without_its_stream(monkeypatch):
    console, *_ = _console(monkeypatch, tty=False)
    assert pickle.loads(pickle.dumps(console)).stream is None  # Ray pickles callbacks for --resume


def test_optuna_is_quiet_unless_verbose(capsys):
    import optuna

    with library_output(verbose=False):
        optuna.create_study()
        optuna.samplers.TPESampler(multivariate=True, group=True)
    assert capsys.readouterr().err == ""
    with library_output(verbose=True), pytest.warns(optuna.exceptions.ExperimentalWarning):
        optuna.samplers.TPESampler(multivariate=True, group=True)
