"""Latency measured on this machine's CPU: the timing method, the runtimes, the per-layer table (few runs each:
these check what is measured and recorded, never how fast anything is)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from codesign.device.calibration import Calibration, fit
from codesign.device.settings import TimingSettings
from codesign.device.table import LatencyCache, LatencyTable, segments
from codesign.device.timing import Latency, busy, measure, quartiles
from codesign.errors import CodesignError
from codesign.workload import trace

FEW = {"warmup": 2, "runs": 7, "rounds": 1, "run_ms": 0.2, "calibrate": 0}


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


def test_segments_are_a_layer_and_what_follows_it_counted_and_rebuilt():
    net = nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.Conv2d(4, 4, 3, padding=1), nn.BatchNorm2d(4),
        nn.ReLU(), nn.Conv2d(4, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
        nn.Linear(4 * 4 * 4, 10),
    )  # fmt: skip
    found = segments(net, (1, 1, 8, 8))
    layers = trace(net, (1, 1, 8, 8)).layers
    # every layer is in a segment; the same layer followed by other work is another segment
    assert list(dict.fromkeys(s.layer.key for s in found)) == [layer.key for layer in layers]
    assert len(found) == 4
    first, middle, last_conv, linear = found
    assert middle.count == 1 and first.input_shape == (1, 1, 8, 8)
    assert [t.partition("(")[0] for t in middle.tail] == ["BatchNorm2d", "ReLU"]
    assert last_conv.tail[-2:] == ("MaxPool2d(kernel_size=2, stride=2, padding=0, dilation=1, ceil_mode=False)",
                                   "Flatten(start_dim=1, end_dim=-1)")  # fmt: skip
    assert linear.input_shape == (1, 64) and linear.tail == ()
    # two identical stages are one segment counted twice
    twice = nn.Sequential(nn.Conv2d(4, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, 4, 3, padding=1), nn.ReLU())
    (only,) = segments(twice, (1, 4, 8, 8))
    assert only.count == 2 and only.label == "conv C4 M4 P8 Q8 R3 S3 s1 + ReLU"
    rebuilt = only.module()
    assert torch.isfinite(rebuilt(torch.rand(1, 4, 8, 8))).all()
    assert all(p.device.type == "cpu" for p in net.parameters())  # traced on a meta copy


@pytest.mark.parametrize("runtime", ["torch", "onnxruntime"])
def test_the_table_predicts_two_small_nets_and_is_cached(runtime, tmp_path):
    settings = TimingSettings(runtime=runtime, **FEW)
    cache = LatencyCache(tmp_path / "latency.sqlite")
    wider = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Conv2d(4, 4, 3), nn.Flatten(), nn.Linear(4 * 4 * 4, 10))
    table = LatencyTable(settings, cache)
    one, two = table.predict(tiny(), (1, 1, 8, 8)), table.predict(wider, (1, 1, 8, 8))
    overhead = one.overhead.median_ms
    assert one.ms == pytest.approx(overhead + sum(max(0, r.latency.median_ms - overhead) for r in one.rows))
    assert two.ms > 0 and len(two.rows) == 3 and runtime in table.fingerprint
    assert one.raw_ms == pytest.approx(sum(r.latency.median_ms for r in one.rows))
    # a fresh table on the same file reads every entry back instead of timing it again
    again = LatencyTable(settings, LatencyCache(tmp_path / "latency.sqlite")).predict(wider, (1, 1, 8, 8))
    assert again.ms == pytest.approx(two.ms)
    assert [r.latency for r in again.rows] == [r.latency for r in two.rows]


def test_the_calibration_fit_recovers_a_known_line_and_round_trips():
    rows = [(0.1, 3, 0.01), (0.5, 5, 0.05), (1.2, 8, 0.02), (0.3, 4, 0.2), (2.0, 9, 0.1)]
    features = [(1.0, s, n, a) for s, n, a in rows]
    truth = (0.002, 1.2, 0.001, -0.05)
    excess = [sum(c * f for c, f in zip(truth, row)) for row in features]
    found = fit(features, excess, [e + 0.004 for e in excess])
    assert found == pytest.approx(truth, abs=1e-9)
    calibration = Calibration(found, 5, 11, 1.0)
    assert calibration.apply(0.004, features[2]) == pytest.approx(0.004 + excess[2])
    assert calibration.apply(0.004, (1.0, 0.0, 0.0, 100.0)) == 0.004  # never below the per-call cost
    assert Calibration.from_dict(calibration.to_dict()) == calibration


def test_the_table_is_calibrated_on_whole_networks_once_and_the_fit_is_cached(tmp_path, monkeypatch):
    settings = TimingSettings(runtime="torch", **{**FEW, "calibrate": 5})
    table = LatencyTable(settings, LatencyCache(tmp_path / "latency.sqlite"))
    prediction = table.predict(tiny(), (1, 1, 8, 8))
    calibration = prediction.calibration
    assert calibration is not None and calibration.networks == 5 and len(calibration.coefficients) == 4
    assert 0 <= calibration.fit_within10 <= 1 and table.to_dict()["calibration"] == {"1": calibration.to_dict()}
    assert prediction.ms == pytest.approx(calibration.apply(prediction.overhead.median_ms, prediction.features))
    assert prediction.features[0] == 1.0 and prediction.features[2] == 2  # the conv segment, the linear one
    conv = prediction.rows[0].segment
    assert conv.output_shape == (1, 36) and conv.activations == 64 + 36  # through pooling and flatten
    # a fresh table on the same file reads the fit back: nothing is timed again
    monkeypatch.setattr(LatencyTable, "_fit", lambda *a: pytest.fail("calibrated again"))
    again = LatencyTable(settings, LatencyCache(tmp_path / "latency.sqlite"))
    assert again.predict(tiny(), (1, 1, 8, 8)).ms == pytest.approx(prediction.ms)
    # without calibration the prediction is the table's plain corrected sum
    plain = LatencyTable(TimingSettings(runtime="torch", **FEW), LatencyCache(tmp_path / "latency.sqlite"))
    assert plain.predict(tiny(), (1, 1, 8, 8)).ms == pytest.approx(prediction.summed_ms)


FEW_FLAGS = ["--warmup", "2", "--runs", "7", "--rounds", "0", "--run-ms", "0.2", "--calibrate", "0"]


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
    assert device["latencies"][0]["median_ms"] > 0 and len(device["table"]["layers"]) == 5  # one segment a layer
    assert data["total"]["cycles"] == 22467  # the accelerator's numbers stay beside
    profile = codesign.profile("lenet5", engine="device", runs=7, warmup=1, rounds=0)
    assert profile.device is not None and profile.device.median_ms > 0 and "measured" in str(profile)
    assert profile.device.score(0.5) == pytest.approx(0.5 / profile.device.median_ms)


def test_timing_flags_without_the_device_engine_are_one_line(capsys):
    from codesign.cli import main

    assert main(["profile", "lenet5", "--device", "cuda"]) == 2
    assert "add --engine device" in capsys.readouterr().err
