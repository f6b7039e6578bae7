"""The device_latency objective: known before training from the latency table, measured for real on each
complete trial, recorded in trials.csv with accuracy per millisecond, and the front made of it."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
import yaml

from codesign.cli import main
from codesign.device.settings import TimingSettings
from codesign.errors import CodesignError
from codesign.pareto import as_minimization, non_dominated
from codesign.search.candidates import CandidateScreen, ParamDraw
from codesign.search.settings import SearchSettings
from tests.helpers import needs_fmnist, sampler_for

FEW = TimingSettings(warmup=1, runs=5, rounds=0, run_ms=0.2, calibrate=0)
SPACE = {
    "dataset": "fashion-mnist",
    "network": {"depth": {"int": [1, 2]},
                "stage": {"channels": {"choice": [4, 8]}, "kernel": {"choice": [3, 5]}, "pool": "max"},
                "head_width": {"choice": [0, 32]}},
    "sgd": {"lr": {"float": [0.02, 0.06], "log": True}, "batch_size": 64, "schedule": "onecycle", "epochs": 1},
}  # fmt: skip


def test_objectives_on_the_command_line_are_checked_in_one_line():
    assert SearchSettings(objectives=("accuracy", "device_latency")).objectives == ("accuracy", "device_latency")
    with pytest.raises(CodesignError, match="name each once"):
        SearchSettings(objectives=("accuracy", "accuracy"))
    with pytest.raises(CodesignError, match="objectives"):
        SearchSettings(objectives=("accuracy", "speed"))


def test_timing_flags_without_the_objective_are_one_line(tmp_path, capsys):
    path = tmp_path / "space.yaml"
    path.write_text(yaml.safe_dump(SPACE))
    assert main(["search", "--space", str(path), "--runs-dir", str(tmp_path), "--trials", "1", "--runtime",
                 "onnxruntime"]) == 2  # fmt: skip
    assert "add --objectives accuracy,device_latency" in capsys.readouterr().err


def test_the_screen_knows_each_candidates_device_latency_before_training(tmp_path):
    path = tmp_path / "space.yaml"
    path.write_text(yaml.safe_dump({**SPACE, "objectives": ["accuracy", "device_latency"]}))
    objective = sampler_for(path, timing=FEW)
    screen = CandidateScreen(objective)
    rng = np.random.default_rng(0)
    found = [c for c in (screen.candidate(ParamDraw(rng)) for _ in range(6)) if c is not None]
    assert found and all(c.device_latency_ms > 0 and math.isfinite(c.device_latency_ms) for c in found)
    # the same network is predicted once (remembered), whatever its SGD settings
    again = screen.device_latency(found[0].spec)
    assert again == found[0].device_latency_ms
    # a search without the objective does not time anything
    plain = tmp_path / "plain.yaml"
    plain.write_text(yaml.safe_dump(SPACE))
    assert math.isnan(CandidateScreen(sampler_for(plain)).device_latency(found[0].spec))


def test_the_search_times_the_timing_settings_batch(monkeypatch):
    import dataclasses

    from codesign.device.remote import predicted_ms
    from codesign.device.table import LatencyTable
    from codesign.network import CandidateSpec, ConvStage

    shapes = []
    predict = LatencyTable.predict
    monkeypatch.setattr(LatencyTable, "predict", lambda self, m, shape: shapes.append(shape) or predict(self, m, shape))
    spec = CandidateSpec(stages=(ConvStage(4, kernel=3, pool="max"),), input_shape=(1, 12, 12), head=())
    assert predicted_ms(spec, dataclasses.replace(FEW, batch=3)) > 0
    assert predicted_ms(spec, FEW) > 0
    assert shapes == [(3, 1, 12, 12), (1, 1, 12, 12)]
    assert dataclasses.replace(FEW, batch=3).search_shape((3, 32, 32)) == (3, 3, 32, 32)


@needs_fmnist
def test_a_two_trial_search_on_accuracy_and_device_latency(tmp_path, capsys):
    path = tmp_path / "space.yaml"
    path.write_text(yaml.safe_dump(SPACE))
    runs = tmp_path / "runs"
    assert main(["search", "--space", str(path), "--name", "dl", "--runs-dir", str(runs), "--train-size", "2000",
                 "--val-size", "500", "--no-dashboard", "--trials", "2", "--objectives", "accuracy,device_latency",
                 "--warmup", "1", "--runs", "5", "--rounds", "0", "--run-ms", "0.2",
                 "--calibrate", "0", "--batch", "2"]) == 0  # fmt: skip
    out = capsys.readouterr().out
    run = runs / "dl"
    assert json.loads((run / "search.json").read_text())["objectives"] == ["accuracy", "device_latency"]
    trials = pd.read_csv(run / "trials.csv", dtype={"trial_id": str})
    ok = trials[trials["status"] == "ok"]
    assert len(ok) >= 1 and (ok["device_latency_ms"] > 0).all()
    assert np.allclose(ok["score_per_ms"], ok["val_accuracy"] / ok["device_latency_ms"])
    assert ((ok["train_accuracy"] > 0) & (ok["train_accuracy"] <= 1)).all()  # the last epoch's, recorded
    front = pd.read_csv(run / "pareto.csv", dtype={"trial_id": str})
    objectives = (("val_accuracy", "max"), ("device_latency_ms", "min"))
    assert len(front) >= 1 and non_dominated(as_minimization(front, objectives)).all()
    assert " ms  score " in out and "best accuracy per millisecond on the device: trial" in out
    page = (run / "report.html").read_text()
    assert "accuracy/ms" in page and "<h2>Latency on the device</h2>" in page
    from codesign.device.timing import cpu_name

    assert set(ok["device_name"]) == {cpu_name()} and cpu_name() in page
    # the front timed again at the end, alone: every design on it, and only those
    timed = trials[trials["device_latency_alone_ms"].notna()]
    assert set(timed["trial_id"]) == set(front["trial_id"]) and (timed["device_latency_alone_ms"] > 0).all()
    assert "designs on the front timed again on the device, alone" in out


@needs_fmnist
def test_latency_on_a_custom_resource_is_measured_only_on_the_node_holding_it(tmp_path, monkeypatch):
    """A real 2-node Ray cluster (ray.cluster_utils.Cluster): trials train on both nodes, but every timing (and
    every latency-table lookup) runs on the worker, the only node started with the `testdev` resource."""
    import shutil
    import tempfile

    import ray
    from ray.cluster_utils import Cluster

    temp = tempfile.mkdtemp(prefix="rd", dir="/tmp")  # short: Ray's socket paths must fit in 107 bytes
    monkeypatch.setenv("RAY_TMPDIR", temp)
    monkeypatch.setenv("RAY_AUTH_MODE", "disabled")
    nodes = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False})
    device = nodes.add_node(num_cpus=1, resources={"testdev": 1})
    try:
        path = tmp_path / "space.yaml"
        path.write_text(yaml.safe_dump(SPACE))
        runs = tmp_path / "runs"
        assert main(["search", "--space", str(path), "--name", "on", "--runs-dir", str(runs), "--train-size", "1000",
                     "--val-size", "300", "--no-dashboard", "--trials", "3", "--concurrency", "2",
                     "--cpus-per-trial", "1", "--address", nodes.address, "--objectives", "accuracy,device_latency",
                     "--latency-on", "testdev", "--warmup", "1", "--runs", "5", "--rounds", "0",
                     "--run-ms", "0.2", "--calibrate", "0"]) == 0  # fmt: skip
        trials = pd.read_csv(runs / "on" / "trials.csv", dtype={"trial_id": str, "node_id": str,
                                                                 "device_node_id": str})  # fmt: skip
        ok = trials[trials["status"] == "ok"]
        assert len(ok) >= 2 and (ok["device_latency_ms"] > 0).all()
        assert set(ok["device_node_id"]) == {device.node_id}  # measured on the device's node only
        alone = trials[trials["device_latency_alone_ms"].notna()]
        assert len(alone) >= 1 and set(alone["device_alone_node_id"].astype(str)) == {device.node_id}
        assert nodes.head_node.node_id in set(trials["node_id"])  # though trials also trained on the head
    finally:
        ray.shutdown()
        nodes.shutdown()
        shutil.rmtree(temp, ignore_errors=True)
