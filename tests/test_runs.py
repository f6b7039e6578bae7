"""The run folder: trials read back with every number checked, the best trial picked, a trial's arch."""

from __future__ import annotations

import pandas as pd
import pytest

from codesign.arch import load_arch
from codesign.errors import CodesignError
from codesign.hardware import HardwareParams, derive_arch
from codesign.network import CandidateSpec, ConvStage
from codesign.runs import Run, Status, TrialRecord


def _records():
    spec = CandidateSpec(stages=(ConvStage(8),))
    return [TrialRecord("a", Status.OK, val_accuracy=0.8, energy_pj=2e6, cycles=100, rubric_points=80, spec=spec),
            TrialRecord("b", Status.OK, val_accuracy=0.9, energy_pj=5e6, cycles=300, rubric_points=80, spec=spec),
            TrialRecord("c", Status.STOPPED, val_accuracy=0.99, energy_pj=1e6, cycles=50, rubric_points=100),
            TrialRecord("d", Status.INFEASIBLE, reason="peak activation 2,000,000 B >= 1,000,000 B")]


def test_pick_by_id_or_best(tmp_path):
    run = Run(tmp_path)
    run.write_trials(_records())
    assert run.pick().trial_id == "b"  # same points, more accurate; the stopped trial never counts
    assert run.pick(best="energy").trial_id == "a" and run.pick(best="latency").trial_id == "a"
    assert run.pick("d").reason.startswith("peak activation")
    with pytest.raises(CodesignError, match="no trial 'zz'"):
        run.pick("zz")
    with pytest.raises(CodesignError, match="--best must be one of"):
        run.pick(best="beauty")


def test_a_damaged_trials_table_is_one_line(tmp_path):
    run = Run(tmp_path)
    with pytest.raises(CodesignError, match="no trials.csv yet"):
        run.trials()
    run.write_trials(_records())
    table = pd.read_csv(run.trials_file, dtype=str, keep_default_na=False)
    table.loc[1, "val_accuracy"] = "high"
    table.to_csv(run.trials_file, index=False)
    with pytest.raises(CodesignError, match="row 3: column `val_accuracy` holds 'high', not a number"):
        run.trials()
    table.loc[1, "val_accuracy"] = "0.9"
    table.loc[0, "status"] = "great"
    table.to_csv(run.trials_file, index=False)
    with pytest.raises(CodesignError, match="row 2: status 'great' is not one of"):
        run.pick()
    run.trials_file.write_bytes(b"\x00\xff\xfe garbage")
    with pytest.raises(CodesignError, match="trials.csv"):
        run.trials()


def test_a_trials_arch_comes_from_the_run_folder(tmp_path):
    run = Run(tmp_path)
    small = derive_arch(load_arch(), HardwareParams(pe_x=8))
    joint = TrialRecord("j", Status.OK, hardware=HardwareParams(pe_x=8))
    with pytest.raises(CodesignError, match="accelerator is missing"):
        run.arch_of(joint)
    run.save_arch("j", small)
    assert run.arch_of(joint) == small
    assert run.arch_of(TrialRecord("f", Status.OK)) is None  # no arch.yaml: the profile's default
