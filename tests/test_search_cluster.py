"""A search on a real 2-node Ray cluster (Ray's own `ray.cluster_utils.Cluster`, head and worker on this
machine, 1 CPU each): trials on both nodes, the data set shared through the object store (its folder is gone
before any trial starts), checkpoints in a storage given as a URI and read back from there, and a worker node
lost in the middle of a trial."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import tempfile

import pandas as pd
import pytest
import ray
import torch
import yaml
from ray import tune
from ray.cluster_utils import Cluster

from codesign.cli import main
from codesign.data import DEBIAN_FASHION_MNIST
from codesign.network import CandidateSpec
from codesign.search import DataSettings, ResourceSettings, SearchSettings, TuneSettings, driver
from tests.helpers import needs_fmnist

pytestmark = needs_fmnist

# Small LeNets, every one feasible, two epochs each (so that a trial can be caught between its epochs).
SPACE = {
    "dataset": "fashion-mnist",
    "network": {"depth": 1, "stage": {"channels": {"choice": [4, 6, 8]}, "kernel": 3, "pool": "max"}, "head_width": 0},
    "sgd": {"lr": {"float": [0.03, 0.06]}, "batch_size": 64, "schedule": "onecycle", "epochs": 2},
}
TEXT = {"trial_id": str, "node_id": str, "checkpoint": str}


@pytest.fixture(scope="module")
def cluster():
    """A head and a worker node. Their Ray files live in a private temporary folder, so that no other Ray
    program on this machine finds this cluster; a node's death is noticed within seconds."""
    temp = tempfile.mkdtemp(prefix="rc", dir="/tmp")  # short: Ray's socket paths must fit in 107 bytes
    env = pytest.MonkeyPatch()
    env.setenv("RAY_TMPDIR", temp)
    env.setenv("RAY_AUTH_MODE", "disabled")
    system = {"health_check_initial_delay_ms": 0, "health_check_period_ms": 1000, "health_check_failure_threshold": 3}
    nodes = Cluster(
        initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False, "_system_config": system}
    )
    nodes.add_node(num_cpus=1)
    yield nodes
    ray.shutdown()
    nodes.shutdown()
    env.undo()
    shutil.rmtree(temp, ignore_errors=True)


def _space(tmp_path):
    path = tmp_path / "space.yaml"
    path.write_text(yaml.safe_dump(SPACE))
    return str(path)


def test_a_search_on_two_nodes_never_reads_the_data_and_keeps_checkpoints_in_storage(
    cluster, tmp_path, monkeypatch, capsys
):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))  # where a run read from a URI is copied
    data = tmp_path / "data"
    data.mkdir()
    for path in DEBIAN_FASHION_MNIST.iterdir():
        (data / path.name).symlink_to(path)

    load_split = driver.load_split

    def load_then_remove(settings):
        split = load_split(settings)
        shutil.rmtree(data)  # from here on, a trial that opened the data set would fail
        return split

    monkeypatch.setattr(driver, "load_split", load_then_remove)
    storage = f"file://{tmp_path}/store"
    args = [
        "search",
        "--space",
        _space(tmp_path),
        "--name",
        "two",
        "--runs-dir",
        str(tmp_path / "runs"),
        "--storage",
        storage,
        "--address",
        cluster.address,
        "--data-dir",
        str(data),
        "--trials",
        "4",
        "--concurrency",
        "2",
        "--cpus-per-trial",
        "1",
        "--train-size",
        "3000",
        "--val-size",
        "1000",
        "--no-dashboard",
    ]
    assert main(args) == 0
    assert not data.exists()
    out = capsys.readouterr().out
    assert "Ray cluster at" in out
    # the ehvi sampler's costing ahead used the worker node too (codesign/search/remote_cost.py)
    assert "costing ahead also on the cluster's 1 other node" in out
    trials = pd.read_csv(tmp_path / "runs/two/trials.csv", dtype=TEXT)
    assert len(trials) == 4 and (trials["status"] == "ok").all() and (trials["val_accuracy"] > 0.4).all()
    head, worker = cluster.head_node.node_id, next(iter(cluster.worker_nodes)).node_id
    assert set(trials["node_id"]) == {head, worker}  # trials ran on both nodes, and the table says which
    assert (trials["failures"] == 0).all() and trials["node_ip"].notna().all()
    # every checkpoint is in the storage; the local run folder holds the tables and the report
    store = tmp_path / "store/two"
    assert all(
        (store / c / "weights.pt").is_file() and (store / c / "summary.json").is_file() for c in trials["checkpoint"]
    )
    assert not (tmp_path / "runs/two/ray").exists()
    for name in ("search.json", "arch.yaml", "trials.csv", "pareto.csv", "report.html", "pareto.png"):
        assert (tmp_path / "runs/two" / name).is_file() and (store / name).is_file(), name

    # the best trial, exported from the storage alone, holds the weights its trial trained
    out = tmp_path / "export"
    assert main(["export", f"{storage}/two", "--out", str(out)]) == 0
    best = trials.sort_values(["rubric_points", "val_accuracy"], ascending=False).iloc[0]
    trained = torch.load(store / best["checkpoint"] / "weights.pt", weights_only=True)
    exported = torch.load(out / "weights.pt", weights_only=True)
    # and its input normalisation (Fashion-MNIST's), which model.py applies itself
    assert set(exported) == {*trained, "input_mean", "input_std"} and all(
        torch.equal(trained[k], exported[k]) for k in trained
    )
    assert CandidateSpec.load(out / "spec.json") == CandidateSpec.from_json(best["spec"], "trials.csv")
    assert main(["profile", f"{storage}/two", "--trial", best["trial_id"]]) == 0
    assert main(["report", f"{storage}/two"]) == 0


class _LoseWorkerMidTrial(tune.Callback):
    """Removes the worker node when a trial there reports epoch 1 of 2, and kills that trial's process with it,
    as a lost machine would: a node's worker processes outlive its raylet for a moment, long enough for a
    short trial to deliver its last epoch straight to the driver."""

    def __init__(self, cluster, node):
        self.cluster, self.node, self.trial = cluster, node, None

    def __getstate__(self):  # Tune saves its callbacks for a restore: a restored search loses no node
        return {"cluster": None, "node": None, "trial": self.trial}

    def on_trial_result(self, iteration, trials, trial, result, **info):
        if (
            self.trial is None
            and self.node is not None
            and result.get("node_id") == self.node.node_id
            and result.get("epoch") == 1
        ):
            self.trial = trial.trial_id
            self.cluster.remove_node(self.node, allow_graceful=False)
            with contextlib.suppress(ProcessLookupError):
                os.kill(result["pid"], signal.SIGKILL)


def test_a_trial_on_a_lost_node_runs_again_on_the_other(cluster, tmp_path, capsys):
    worker = next(iter(cluster.worker_nodes), None) or cluster.add_node(num_cpus=1)
    lose = _LoseWorkerMidTrial(cluster, worker)
    settings = SearchSettings(
        name="lost",
        space=_space(tmp_path),
        runs_dir=str(tmp_path / "runs"),
        # an epoch long beside the driver's handling of a result, so the trial is still training when it is lost
        data=DataSettings(dataset="fashion-mnist", train_size=12000, val_size=1000),
        tune=TuneSettings(trials=3, concurrency=2),
        resources=ResourceSettings(address=cluster.address, cpus_per_trial=1, dashboard=False, max_failures=1),
    )
    trials = driver.run_search(settings, callbacks=[lose]).set_index("trial_id")
    assert lose.trial is not None, "no trial ran on the worker node"
    assert len(trials) == 3 and (trials["status"] == "ok").all()  # the search finished, no trial lost
    retried = trials.loc[lose.trial]
    assert retried["failures"] == 1 and retried["node_id"] == cluster.head_node.node_id
    assert "retrying, failure 1 of 1 allowed" in capsys.readouterr().out
