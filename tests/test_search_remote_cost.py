"""Costing ahead on the other nodes of a Ray cluster: layer batches, a batch costed as the driver would cost it,
and on a real 2-node cluster (Ray's `ray.cluster_utils.Cluster`) the ehvi sampler's background thread handing
layers to the worker node, whose costs land in the driver's layer cache and the worker's own."""

from __future__ import annotations

import shutil
import tempfile
import time
from types import SimpleNamespace

import pytest
import yaml

from codesign.cost import CostCache, cost_of
from codesign.cost.analytic import AnalyticEngine
from codesign.hardware import HardwareParams, derive_arch
from codesign.network import CandidateSpec
from codesign.search import driver, remote_cost
from codesign.search.ehvi import EHVISampler
from codesign.search.remote_cost import BATCH, LayerJob, RemoteCosting, batches, cost_batch
from codesign.spec_workload import spec_workload
from codesign.workload import Layer
from tests.helpers import sampler_for

# a joint space: every accelerator makes its layers new, and the task derives the accelerator as the screen does
SPACE = {
    "dataset": "fashion-mnist",
    "network": {
        "depth": {"int": [1, 3]},
        "stage": {"channels": {"choice": [4, 6, 8, 12, 16]}, "kernel": {"choice": [3, 5]}, "pool": "max"},
        "head_width": {"choice": [0, 16, 32]},
    },
    "sgd": {"lr": {"float": [0.01, 0.1], "log": True}, "epochs": 1},
    "hardware": {"pe_x": {"choice": [8, 16]}, "pe_y": {"choice": [8, 16]}, "word_bits": {"choice": [8, 16]}},
    "objectives": ["accuracy", "energy", "latency", "area"],
}


@pytest.fixture
def design(tmp_path):
    path = tmp_path / "space.yaml"
    path.write_text(yaml.safe_dump(SPACE))
    return sampler_for(path)


def _job(design, layer: Layer, hardware: HardwareParams | None) -> LayerJob:
    """The job the driver's thread makes for a layer: keyed as the screen keys it."""
    arch = design.base_arch if hardware is None else derive_arch(design.base_arch, hardware)
    engine = AnalyticEngine(design.mapper)
    return LayerJob(CostCache.key(engine.cache_key(arch), arch.digest, layer.key), layer, hardware)


def _layers(design) -> list[Layer]:
    spec = CandidateSpec.from_dict(
        {"stages": [{"channels": 8, "kernel": 3, "pool": "max"}, {"channels": 16, "kernel": 5, "pool": "max"}]}
        | {"input_shape": [1, 28, 28], "num_classes": 10}
    )
    return list(spec_workload(spec).layers)


def _same(a, b) -> bool:
    """Two layer costs equal in everything but the time the engine took."""
    return {**a.to_dict(), "seconds": 0} == {**b.to_dict(), "seconds": 0}


def test_batches_keep_the_order_drop_repeated_keys_and_respect_the_size(design):
    layers = _layers(design)
    small = HardwareParams(pe_x=8, pe_y=8)
    jobs = [_job(design, layer, hw) for hw in (None, small) for layer in layers]
    assert len({j.key for j in jobs}) == len(jobs) == 2 * len(layers)  # the accelerator is part of the key
    out = batches(jobs + jobs[:3], size=3)
    assert [j for group in out for j in group] == jobs  # in order, each key once
    assert all(len(group) == 3 for group in out[:-1]) and 1 <= len(out[-1]) <= 3
    assert batches([], 4) == []
    assert len(batches(jobs)) == -(-len(jobs) // BATCH)
    with pytest.raises(ValueError, match="at least 1"):
        batches(jobs, 0)


def test_a_batch_costs_what_a_local_costing_gives_and_fills_the_nodes_cache(design, tmp_path, monkeypatch):
    monkeypatch.setenv("CODESIGN_CACHE", str(tmp_path / "node.sqlite"))
    layers = _layers(design)
    hardware = HardwareParams(pe_x=8, pe_y=16, word_bits=8)
    jobs = [_job(design, layer, hw) for hw in (None, hardware) for layer in layers]
    foreign = LayerJob(("analytic-other/v0", "0" * 16, "[]"), layers[0], None)  # a key this codesign never makes
    result = cost_batch(design.base_arch, design.mapper, [*jobs, foreign], node_id="n1")
    assert result.node_id == "n1" and result.skipped == 1 and result.mapped == len(jobs)
    assert [key for key, _ in result.costs] == [j.key for j in jobs]
    node = CostCache()
    engine = AnalyticEngine(design.mapper)
    for job, (_, cost) in zip(jobs, result.costs):
        arch = design.base_arch if job.hardware is None else derive_arch(design.base_arch, job.hardware)
        (local,) = cost_of([job.layer], arch, engine)  # no cache: mapped here and now
        assert _same(local, type(local).from_dict(cost)) and _same(local, node.get(job.key))
    again = cost_batch(design.base_arch, design.mapper, jobs)  # the node's cache holds them: nothing mapped
    assert again.mapped == 0 and [c for _, c in again.costs] == [c for _, c in result.costs]


def test_no_cluster_no_remote_costing(design):
    assert remote_cost.other_nodes() == {}  # Ray not connected (an Optuna-only run, or one node)
    assert RemoteCosting.for_cluster(design.base_arch, design.mapper) is None


def test_the_search_stops_costing_ahead_through_tunes_wrappers_before_ray_shuts_down():
    closed = []
    sampler = SimpleNamespace(close=lambda: closed.append(True))
    searcher = SimpleNamespace(_ot_study=SimpleNamespace(sampler=sampler))  # Ray's OptunaSearch
    wrapped = SimpleNamespace(searcher=SimpleNamespace(searcher=searcher))  # SearchGenerator(ConcurrencyLimiter)
    tuner = SimpleNamespace(_local_tuner=SimpleNamespace(_tune_config=SimpleNamespace(search_alg=wrapped)))
    driver._stop_costing_ahead(tuner)
    assert closed == [True]
    driver._stop_costing_ahead(None)  # a search that failed before its tuner existed
    driver._stop_costing_ahead(SimpleNamespace(_local_tuner=None))


@pytest.fixture(scope="module")
def cluster():
    """A head and a worker node, 1 CPU each, the worker with a layer cache of its own (as another machine has);
    their Ray files in a private temporary folder."""
    import ray
    from ray.cluster_utils import Cluster

    temp = tempfile.mkdtemp(prefix="rc", dir="/tmp")  # short: Ray's socket paths must fit in 107 bytes
    env = pytest.MonkeyPatch()
    env.setenv("RAY_TMPDIR", temp)
    env.setenv("RAY_AUTH_MODE", "disabled")
    nodes = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False})
    worker = nodes.add_node(num_cpus=1, env_vars={"CODESIGN_CACHE": f"{temp}/worker-cache.sqlite"})
    ray.init(address=nodes.address)
    yield nodes, worker, f"{temp}/worker-cache.sqlite"
    ray.shutdown()
    nodes.shutdown()
    env.undo()
    shutil.rmtree(temp, ignore_errors=True)


def test_on_two_nodes_the_worker_costs_layers_that_land_in_the_drivers_cache(
    cluster, design, tmp_path, monkeypatch, capsys
):
    _, worker, worker_cache = cluster
    monkeypatch.setenv("CODESIGN_CACHE", str(tmp_path / "driver.sqlite"))
    sent: list[LayerJob] = []
    submit = RemoteCosting.submit

    def recording(self, jobs):
        jobs = list(jobs)
        count = submit(self, jobs)
        sent.extend(j for j in jobs if j.key in self.pending)
        return count

    monkeypatch.setattr(RemoteCosting, "submit", recording)
    sampler = EHVISampler(design, seed=2, pool_size=40, startup=2, cost_ahead=True)
    ahead = sampler.cost_ahead
    assert ahead is not None
    deadline, remote = time.monotonic() + 120, None
    while time.monotonic() < deadline and (remote is None or len(remote.records) < 4):
        time.sleep(0.2)
        remote = ahead._remote
    sampler.close()
    assert ahead._remote is None  # closed: it makes no more calls to Ray (a search then shuts Ray down)
    ahead.wait(60)
    assert remote is not None and len(remote.records) >= 4 and not remote.busy()
    assert "costing ahead also on the cluster's 1 other node (1 CPUs" in capsys.readouterr().out
    # every batch ran on the worker node (the driver's node costs in its own thread) and brought layers back
    assert {r.node_id for r in remote.records} == {worker.node_id}
    assert sum(r.layers for r in remote.records) == remote.landed > 0
    # what the worker costed is in the driver's layer cache and the worker's own, as a local costing gives it
    driver, node = CostCache(), CostCache(worker_cache)
    engine = AnalyticEngine(design.mapper)
    in_driver = in_node = 0
    for job in sent:
        arch = design.base_arch if job.hardware is None else derive_arch(design.base_arch, job.hardware)
        (local,) = cost_of([job.layer], arch, engine)  # no cache: mapped here and now
        for cache in (driver, node):
            found = cache.get(job.key)  # None: a batch cancelled when the search ended
            assert found is None or _same(local, found)
        in_driver += driver.get(job.key) is not None
        in_node += node.get(job.key) is not None
    assert min(in_node, in_driver) >= remote.landed and any(j.hardware is not None for j in sent)
