"""The trials table as a search writes it: how a trial's status is decided and what its row records."""

from __future__ import annotations

import math
from types import SimpleNamespace

from codesign.network import CandidateSpec, ConvStage
from codesign.runs import Run, Status, TrialRecord
from codesign.search.replay import Replays
from codesign.search.table import TrialTable, final_status, trial_record
from codesign.search.trial import TrialConfig, TrialReport


def _status(result):
    return final_status(TrialReport.from_tune(result))  # a result as Tune hands it back


def test_status_rules():
    assert _status({"status": "ok", "epoch": 3, "planned_epochs": 3}) is Status.OK
    assert _status({"status": "ok", "epoch": 2, "planned_epochs": 3}) is Status.STOPPED
    assert _status({"status": "running", "epoch": 1, "planned_epochs": 3}) is Status.STOPPED  # ASHA / budget
    assert _status({"status": "infeasible", "epoch": 0, "planned_epochs": 3}) is Status.INFEASIBLE
    assert _status({"status": "diverged", "epoch": 1, "planned_epochs": 3}) is Status.DIVERGED
    assert final_status(None, errored=True) is Status.ERROR
    assert final_status(None) is Status.STOPPED


def test_a_trial_record_survives_trials_csv(tmp_path):
    spec = CandidateSpec(stages=(ConvStage(8, pool="max"),), head=(16,))
    config = {
        "spec": spec.to_dict(),
        "feasible": True,
        "peak_activation_bytes": 1234,
        "parameters": 99,
        "hardware": {
            "pe_x": 8,
            "pe_y": 16,
            "weight_spad_depth": 192,
            "glb_depth": 65536,
            "glb_bandwidth": 16,
            "word_bits": 8,
        },
        "area_mm2": 1.5,
    }
    last = {
        "val_accuracy": 0.8,
        "val_accuracy_float": 0.81,
        "energy_pj": 2e6,
        "cycles": 1000,
        "epoch": 2,
        "planned_epochs": 2,
        "rubric_points": 90,
        "train_seconds": 3.0,
        "time_total_s": 4.0,
        "status": "ok",
    }
    record = trial_record("t1", TrialConfig.from_tune(config), TrialReport.from_tune(last), _status(last))
    infeasible = trial_record(
        "t2", TrialConfig.from_tune({"spec": None, "feasible": False, "reason": "too big"}), None, Status.INFEASIBLE
    )
    run = Run(tmp_path)
    run.write_trials([record, infeasible])
    back, other = run.records()
    assert back.spec == spec and back.status is Status.OK and back.hardware == record.hardware
    assert (back.val_accuracy, back.val_accuracy_float, back.energy_mj, back.cycles) == (0.8, 0.81, 0.002, 1000)
    assert back.to_row() == record.to_row()
    assert other.spec is None and other.reason == "too big" and math.isnan(other.val_accuracy)


def test_a_trial_that_repeats_a_finished_one_adds_no_row(tmp_path):
    """After a hard kill Tune may run a finished design again (search/replay.py): the first trial that repeats
    a record reports it and adds no row; a second trial of the same design counts as a trial of its own."""
    spec = CandidateSpec(stages=(ConvStage(8),))
    run = Run(tmp_path)
    run.write_trials(
        [
            TrialRecord(
                "old",
                Status.OK,
                val_accuracy=0.8,
                energy_pj=2e6,
                cycles=100,
                epochs_done=1,
                spec=spec,
                checkpoint="ray/old/checkpoint_000000",
            )
        ]
    )
    config = {"spec": spec.to_dict(), "feasible": True}
    typed = TrialConfig.from_tune(config)
    assert Replays.of(run.records(), finished_in_tune={"old"}).match("new", typed) is None  # Tune knows it
    replays = Replays.of(run.records(), finished_in_tune=set())
    assert replays.match("new", typed).trial_id == "old"
    assert replays.match("new", TrialConfig(spec=CandidateSpec(stages=(ConvStage(4),)))) is None
    table = TrialTable(tmp_path)
    table.setup()
    result = {
        "status": "ok",
        "epoch": 1,
        "planned_epochs": 1,
        "val_accuracy": 0.8,
        "energy_pj": 2e6,
        "cycles": 100,
        "replay_of": "old",
    }
    for trial_id in ("new", "again"):
        trial = SimpleNamespace(trial_id=trial_id, config=config, last_result=result, num_failures=0, checkpoint=None)
        table.on_trial_result(0, [], trial, result)
        table.on_trial_complete(0, [], trial)
    table.on_experiment_end([])
    old, again = run.records()
    assert (old.trial_id, again.trial_id) == ("old", "again") and again.val_accuracy == 0.8
    assert again.checkpoint == old.checkpoint  # the same design's weights
