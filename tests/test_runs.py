"""The run folder: trials read back with every number checked, the best trial picked, a trial's arch and
weights, a run kept in a storage elsewhere (a file:// URI stands for s3:// or gs://)."""

from __future__ import annotations

import dataclasses
import re

import pandas as pd
import pytest
import torch

from codesign.arch import load_arch
from codesign.errors import CodesignError
from codesign.hardware import HardwareParams, derive_arch, write_arch
from codesign.network import CandidateSpec, ConvStage
from codesign.runs import Run, Status, TrialRecord
from codesign.search.settings import ResourceSettings, SearchSettings


def _records():
    spec = CandidateSpec(stages=(ConvStage(8),))
    return [
        TrialRecord("a", Status.OK, val_accuracy=0.8, energy_pj=2e6, cycles=100, rubric_points=80, spec=spec),
        TrialRecord("b", Status.OK, val_accuracy=0.9, energy_pj=5e6, cycles=300, rubric_points=80, spec=spec),
        TrialRecord("c", Status.STOPPED, val_accuracy=0.99, energy_pj=1e6, cycles=50, rubric_points=100),
        TrialRecord("d", Status.INFEASIBLE, reason="peak activation 2,000,000 B >= 1,000,000 B"),
    ]


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
    with pytest.raises(CodesignError, match=re.escape("no trials.csv yet")):
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
    with pytest.raises(CodesignError, match=re.escape("trials.csv")):
        run.trials()


def test_a_trimmed_or_cut_off_trials_table_is_one_line_or_reads(tmp_path):
    run = Run(tmp_path)
    run.write_trials(_records())
    full = pd.read_csv(run.trials_file, dtype=str, keep_default_na=False)
    full.drop(columns=["energy_mj", "graded_energy_pj", "best_energy_pj"]).to_csv(run.trials_file, index=False)
    assert run.trials()["energy_mj"].tolist()[:2] == [0.002, 0.005]  # derived columns come back
    assert run.pick().trial_id == "b"
    full.drop(columns=["val_accuracy"]).to_csv(run.trials_file, index=False)
    with pytest.raises(CodesignError, match="missing column `val_accuracy`: not a trials table written by codesign"):
        run.trials()
    header = run.trials_file.read_text().splitlines()[0]
    run.trials_file.write_text(header.replace("val_accuracy,", "") + "\n" + "a,ok,0.8\n")
    with pytest.raises(CodesignError, match="missing column `val_accuracy`"):
        run.trials()
    full.to_csv(run.trials_file, index=False)
    run.trials_file.write_text(run.trials_file.read_text().splitlines()[0] + "\na,ok,0.8\n")  # a cut-off row
    with pytest.raises(CodesignError, match="row 2: column `energy_pj` is empty in a complete trial"):
        run.trials()
    run.write_trials(_records()[:2])
    text = run.trials_file.read_text().rstrip("\n")
    run.trials_file.write_text(text[:-62] + text[-2:] + "\n")  # 60 characters of the last spec lost, quotes kept
    with pytest.raises(CodesignError, match="column `spec` is not valid JSON"):
        run.trials()


def test_a_trials_arch_comes_from_its_checkpoint(tmp_path):
    run = Run(tmp_path)
    small = derive_arch(load_arch(), HardwareParams(pe_x=8))
    joint = TrialRecord("j", Status.OK, hardware=HardwareParams(pe_x=8), checkpoint="ray/j/checkpoint_000000")
    with pytest.raises(CodesignError, match="accelerator is missing"):
        run.arch_of(joint)
    write_arch(small, tmp_path / "ray/j/checkpoint_000000/arch.yaml")
    assert run.arch_of(joint) == small
    assert run.arch_of(TrialRecord("f", Status.OK)) is None  # no arch.yaml: the profile's default
    write_arch(load_arch(), run.search_arch_file)  # a trial without a checkpoint: derived from the run's arch
    assert run.arch_of(TrialRecord("i", Status.INFEASIBLE, hardware=HardwareParams(pe_x=8))) == small


def test_a_trials_dataflow_reads_back_and_an_older_run_reads_as_ws(tmp_path):
    run = Run(tmp_path)
    hw = HardwareParams(pe_x=8, dataflow="os_pq_m")
    run.write_trials(
        [
            TrialRecord("j", Status.OK, val_accuracy=0.9, energy_pj=1e6, cycles=10, hardware=hw),
            TrialRecord("k", Status.OK, val_accuracy=0.8, energy_pj=2e6, cycles=20, hardware=HardwareParams()),
        ]
    )
    table = pd.read_csv(run.trials_file, dtype=str, keep_default_na=False)
    assert list(table["dataflow"]) == ["os_pq_m", "ws"]
    assert [r.hardware for r in run.records()] == [hw, HardwareParams()]
    write_arch(load_arch(), run.search_arch_file)
    assert run.arch_of(run.records()[0]).dataflow == "os_pq_m"  # no checkpoint: re-derived under its dataflow
    table.drop(columns=["dataflow"]).to_csv(run.trials_file, index=False)  # a run from before the knob
    assert [r.hardware for r in run.records()] == [dataclasses.replace(hw, dataflow="ws"), HardwareParams()]


def test_a_run_in_remote_storage_is_read_back_from_there(tmp_path, monkeypatch):
    """Run files are copied to a storage elsewhere as they are written; Run.open(URI) reads the run from it."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    storage = f"file://{tmp_path}/store/r"
    spec = CandidateSpec(stages=(ConvStage(8),))
    settings = SearchSettings(
        name="r",
        space="s.yaml",
        runs_dir=str(tmp_path / "runs"),
        resources=ResourceSettings(storage=f"file://{tmp_path}/store"),
    )
    run = Run(settings.run_dir)
    run.save_settings(settings)
    assert run.storage.location == storage and run.mirrored
    record = TrialRecord(
        "a",
        Status.OK,
        val_accuracy=0.8,
        energy_pj=2e6,
        cycles=100,
        spec=spec,
        node_ip="10.0.0.2",
        node_id="12e45",
        failures=1,
        checkpoint="ray/a/checkpoint_000000",
    )
    run.write_trials([record])
    assert (tmp_path / "store/r/trials.csv").read_bytes() == run.trials_file.read_bytes()
    # the trial's checkpoint, as Tune writes it into the storage
    (tmp_path / "store/r/ray/a/checkpoint_000000").mkdir(parents=True)
    torch.save(spec.build().state_dict(), tmp_path / "store/r/ray/a/checkpoint_000000/weights.pt")
    assert run.weights_of(record) == run.folder / "ray/a/checkpoint_000000/weights.pt"  # fetched locally

    remote = Run.open(storage)
    assert remote.folder != run.folder and remote.storage.location == storage and remote.name == "r"
    back = remote.pick()
    assert (back.node_ip, back.node_id, back.failures) == ("10.0.0.2", "12e45", 1)  # a node id stays text
    assert torch.load(remote.weights_of(back), weights_only=True).keys() == spec.build().state_dict().keys()
    with pytest.raises(CodesignError, match=re.escape("no search.json")):
        Run.open(f"file://{tmp_path}/store/nothing")
