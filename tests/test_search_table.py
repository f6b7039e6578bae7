"""The trials table as a search writes it: how a trial's status is decided and what its row records."""

from __future__ import annotations

import math

from codesign.network import CandidateSpec, ConvStage
from codesign.runs import Run, Status
from codesign.search.table import final_status, trial_record


def test_status_rules():
    assert final_status({"status": "ok", "epoch": 3, "planned_epochs": 3}) is Status.OK
    assert final_status({"status": "ok", "epoch": 2, "planned_epochs": 3}) is Status.STOPPED
    assert final_status({"status": "running", "epoch": 1, "planned_epochs": 3}) is Status.STOPPED  # ASHA / budget
    assert final_status({"status": "infeasible", "epoch": 0, "planned_epochs": 3}) is Status.INFEASIBLE
    assert final_status({"status": "diverged", "epoch": 1, "planned_epochs": 3}) is Status.DIVERGED
    assert final_status(None, errored=True) is Status.ERROR
    assert final_status(None) is Status.STOPPED


def test_a_trial_record_survives_trials_csv(tmp_path):
    spec = CandidateSpec(stages=(ConvStage(8, pool="max"),), head=(16,))
    config = {"spec": spec.to_dict(), "feasible": True, "peak_activation_bytes": 1234, "parameters": 99,
              "hardware": {"pe_x": 8, "pe_y": 16, "weight_spad_depth": 192, "glb_depth": 65536,
                           "glb_bandwidth": 16, "word_bits": 8}, "area_mm2": 1.5}
    last = {"val_accuracy": 0.8, "val_accuracy_float": 0.81, "energy_pj": 2e6, "cycles": 1000, "epoch": 2,
            "planned_epochs": 2, "rubric_points": 90, "train_seconds": 3.0, "time_total_s": 4.0, "status": "ok"}
    record = trial_record("t1", config, last, final_status(last))
    infeasible = trial_record("t2", {"spec": None, "feasible": False, "reason": "too big"}, None, Status.INFEASIBLE)
    run = Run(tmp_path)
    run.write_trials([record, infeasible])
    back, other = run.records()
    assert back.spec == spec and back.status is Status.OK and back.hardware == record.hardware
    assert (back.val_accuracy, back.val_accuracy_float, back.energy_mj, back.cycles) == (0.8, 0.81, 0.002, 1000)
    assert back.to_row() == record.to_row()
    assert other.spec is None and other.reason == "too big" and math.isnan(other.val_accuracy)
