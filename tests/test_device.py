"""Latency measured on this machine's CPU: the timing method, the runtimes, the per-layer table (few runs each:
these check what is measured and recorded, never how fast anything is)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from codesign.device.settings import TimingSettings
from codesign.device.table import LatencyCache, LatencyTable, layer_module
from codesign.device.timing import Latency, busy, measure, quartiles
from codesign.errors import CodesignError
from codesign.workload import Layer, trace

FEW = {"warmup": 2, "runs": 7, "rounds": 1, "run_ms": 0.2}


def tiny() -> nn.Module:
    return nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(4 * 3 * 3, 10))


@pytest.mark.parametrize("runtime", ["torch", "onnxruntime"])
def test_a_tiny_model_is_timed_and_the_method_recorded(runtime):
    settings = TimingSettings(runtime=runtime, **FEW)
    model = tiny().train()
    latency = measure(model, (1, 1, 8, 8), settings)
    assert model.training  # the caller's module is left as it was (timed as an inference copy)
    assert latency.median_ms > 0 and latency.iqr_ms >= 0 and latency.runs == 7
    assert 1 <= latency.rounds <= 2 and latency.calls_per_run >= 1
    assert (latency.runtime, latency.threads, latency.batch, latency.device) == (runtime, 1, 1, "cpu")
    assert latency.device_name and latency.throughput == pytest.approx(1e3 / latency.median_ms)
    assert torch.get_num_threads() >= 1
    row = latency.to_dict()
    assert row["spread"] == pytest.approx(latency.iqr_ms / latency.median_ms) and "warning" in row


def test_a_batch_is_timed_at_its_size_and_threads_are_restored():
    before = torch.get_num_threads()
    latency = measure(tiny(), (4, 1, 8, 8), TimingSettings(threads=2, **FEW))
    assert latency.batch == 4 and latency.threads == 2
    assert latency.throughput == pytest.approx(4e3 / latency.median_ms)
    assert torch.get_num_threads() == before


def test_the_method_is_checked_and_its_limits_named():
    with pytest.raises(CodesignError, match="cuda:N"):
        TimingSettings(device="gpu")
    with pytest.raises(CodesignError, match="runtime"):
        TimingSettings(runtime="tvm")
    with pytest.raises(CodesignError, match="threads"):
        TimingSettings(threads=0)


@pytest.mark.skipif(torch.cuda.is_available(), reason="a GPU is present")
def test_cuda_without_a_gpu_is_one_line():
    with pytest.raises(CodesignError, match="no CUDA GPU"):
        measure(tiny(), (1, 1, 8, 8), TimingSettings(device="cuda", **FEW))


def test_quartiles_and_the_busy_machine_warning():
    assert quartiles([4.0, 1.0, 3.0, 2.0, 5.0]) == (2.0, 3.0, 4.0)
    assert not busy(load=1.0, cores=2, threads=1) and busy(load=16.0, cores=2, threads=1)
    assert busy(load=2.2, cores=2, threads=2) and not busy(load=0.9, cores=2, threads=2)
    base = dict(runs=50, rounds=1, calls_per_run=1, threads=1, runtime="torch", device="cpu", device_name="x",
                batch=1, warmup=10, cores=2)  # fmt: skip
    quiet = Latency(median_ms=1.0, iqr_ms=0.02, load=0.5, **base)
    assert quiet.warning is None and not quiet.noisy
    loud = Latency(median_ms=1.0, iqr_ms=0.5, load=9.0, **base)
    assert loud.noisy and "load average 9.0 on 2 cores" in loud.warning and "IQR/median 50%" in loud.warning


@pytest.mark.parametrize(
    "layer",
    [
        Layer(kind="conv", N=1, C=3, M=8, P=6, Q=5, R=3, S=3, Wstride=2, Hstride=1),
        Layer(kind="depthwise", N=1, C=8, M=8, P=4, Q=4, R=3, S=3),
        Layer(kind="linear", N=2, C=20, M=10, P=1, Q=1, R=1, S=1),
    ],
)
def test_a_layer_module_does_exactly_the_layers_work(layer):
    module, shape = layer_module(layer)
    traced = trace(module, shape).layers
    assert len(traced) == 1 and traced[0].key == layer.key


@pytest.mark.parametrize("runtime", ["torch", "onnxruntime"])
def test_the_table_predicts_two_small_nets_and_is_cached(runtime, tmp_path):
    settings = TimingSettings(runtime=runtime, **FEW)
    cache = LatencyCache(tmp_path / "latency.sqlite")
    small = trace(tiny(), (1, 1, 8, 8))
    wider = trace(nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Conv2d(4, 4, 3), nn.Flatten(),
                                nn.Linear(4 * 4 * 4, 10)), (1, 1, 8, 8))  # fmt: skip
    table = LatencyTable(settings, cache)
    one, two = table.predict(small), table.predict(wider)
    overhead = one.overhead.median_ms
    assert one.ms == pytest.approx(overhead + sum(max(0, r.latency.median_ms - overhead) for r in one.rows))
    assert two.ms > 0 and len(two.rows) == 3 and runtime in table.fingerprint
    assert one.raw_ms == pytest.approx(sum(r.latency.median_ms for r in one.rows))
    # a fresh table on the same file reads every entry back instead of timing it again
    again = LatencyTable(settings, LatencyCache(tmp_path / "latency.sqlite")).predict(wider)
    assert again.ms == pytest.approx(two.ms)
    assert [r.latency for r in again.rows] == [r.latency for r in two.rows]


FEW_FLAGS = ["--warmup", "2", "--runs", "7", "--rounds", "0", "--run-ms", "0.2"]


def test_profile_engine_device_prints_latency_spread_throughput_and_the_device(capsys):
    from codesign.cli import main
    from codesign.device.timing import cpu_name

    assert main(["profile", "lenet5", "--engine", "device", "--runtime", "onnxruntime", "--batch", "4", "--compare",
                 *FEW_FLAGS]) == 0  # fmt: skip
    out = capsys.readouterr().out
    assert cpu_name() in out and "onnxruntime, 1 thread" in out
    assert out.count("measured    ") == 2 and "at batch 1" in out and "at batch 4" in out and "inputs/s" in out
    assert "IQR" in out and "median of 7 runs" in out and "table       " in out
    assert "22,467 cycles on simple_weight_stationary" in out and "accel. cycles" in out  # --compare: beside


def test_profile_engine_device_json_and_the_python_api(capsys):
    import json

    import codesign
    from codesign.cli import main

    assert main(["profile", "lenet5", "--engine", "device", "--json", *FEW_FLAGS]) == 0
    data = json.loads(capsys.readouterr().out)
    device = data["device"]
    assert device["runtime"] == "torch" and device["threads"] == 1 and len(device["latencies"]) == 1
    assert device["latencies"][0]["median_ms"] > 0 and len(device["table"]["layers"]) == 5
    assert data["total"]["cycles"] == 22467  # the accelerator's numbers stay beside
    profile = codesign.profile("lenet5", engine="device", runs=7, warmup=1, rounds=0)
    assert profile.device is not None and profile.device.median_ms > 0 and "measured" in str(profile)
    assert profile.device.score(0.5) == pytest.approx(0.5 / profile.device.median_ms)


def test_timing_flags_without_the_device_engine_are_one_line(capsys):
    from codesign.cli import main

    assert main(["profile", "lenet5", "--device", "cuda"]) == 2
    assert "add --engine device" in capsys.readouterr().err
