"""SGD training: schedules, real Fashion-MNIST epochs, determinism, statuses, codesign train."""

from __future__ import annotations

import json
import math

import pytest
import torch

from codesign.cli import main
from codesign.data import DEBIAN_FASHION_MNIST, Split, load_dataset
from codesign.errors import CodesignError
from codesign.network import CandidateSpec, ConvStage, SGDConfig
from codesign.train import build_model, lr_factor, train
from tests.helpers import needs_fmnist


def test_lr_schedules():
    total = 100
    assert lr_factor("constant", total, 0)(99) == 1.0
    assert [lr_factor("step", total, 0)(s) for s in (0, 50, 80)] == pytest.approx([1.0, 0.1, 0.01])
    assert lr_factor("cosine", total, 0)(0) == 1.0 and lr_factor("cosine", total, 0)(100) == pytest.approx(0)
    warm = lr_factor("cosine", total, 10)
    assert warm(0) == pytest.approx(0.1) and warm(9) == pytest.approx(1.0)
    one = lr_factor("onecycle", total, 0)
    assert one(0) == pytest.approx(0.1) and one(30) == pytest.approx(1.0) and one(100) == pytest.approx(0.01)
    assert not math.isnan(one(99))


def lenet_spec(epochs=2, **sgd):
    """A LeNet-size CNN (about 60k parameters) for 28x28 grey images."""
    return CandidateSpec(
        stages=(ConvStage(6, kernel=5, padding=2, pool="max"), ConvStage(16, kernel=5, padding=0, pool="max")),
        input_shape=(1, 28, 28),
        head=(120, 84),
        sgd=SGDConfig(**{"lr": 0.05, "epochs": epochs, "batch_size": 128, "schedule": "onecycle", **sgd}),
    )


@pytest.fixture(scope="module")
def fmnist():
    if not DEBIAN_FASHION_MNIST.is_dir():
        pytest.skip("apt-get install dataset-fashion-mnist (.ci/run does)")
    return load_dataset("fashion-mnist")


@needs_fmnist
def test_two_epochs_on_real_fashion_mnist(fmnist):
    spec = lenet_spec(epochs=2)
    seen = []
    result = train(build_model(spec), fmnist, spec.sgd, on_epoch=seen.append)
    assert result.status == "ok" and result.epochs == 2 and [m.epoch for m in seen] == [1, 2]
    assert (len(fmnist.train), len(fmnist.val)) == (54_000, 6_000)
    assert result.val_accuracy > 0.85, result.metrics


def _subset(data, n):
    data.train = Split(data.train.images[:n], data.train.labels[:n])
    data.val = Split(data.val.images[:1000], data.val.labels[:1000])
    return data


@needs_fmnist
def test_same_seed_same_result_to_the_last_digit(fmnist):
    spec = lenet_spec(epochs=1, seed=7)
    data = _subset(load_dataset("fashion-mnist"), 4096)
    runs = []
    for _ in range(2):
        model = build_model(spec)
        result = train(model, data, spec.sgd)
        runs.append(
            (
                result.val_accuracy,
                result.metrics[0].train_loss,
                torch.cat([p.detach().flatten() for p in model.parameters()]),
            )
        )
    assert runs[0][0] == runs[1][0] and runs[0][1] == runs[1][1]
    assert torch.equal(runs[0][2], runs[1][2])
    reseeded = lenet_spec(epochs=1, seed=8)
    other = train(build_model(reseeded), data, reseeded.sgd)
    assert other.metrics[0].train_loss != runs[0][1]


@needs_fmnist
def test_divergence_and_early_stop_are_statuses_not_crashes(fmnist):
    data = _subset(load_dataset("fashion-mnist"), 2048)
    spec = CandidateSpec(
        stages=(ConvStage(8, batch_norm=False),),
        input_shape=(1, 28, 28),
        sgd=SGDConfig(lr=1e6, momentum=0.9, epochs=3, schedule="constant"),
    )
    result = train(build_model(spec), data, spec.sgd)
    assert result.status == "diverged" and result.epochs == 0 and result.val_accuracy == 0.0
    calm = lenet_spec(epochs=3)
    stopped = train(build_model(calm), data, calm.sgd, on_epoch=lambda m: m.epoch == 1)
    assert stopped.status == "stopped" and stopped.epochs == 1
    with pytest.raises(CodesignError, match="breaks the rubric"):
        train(build_model(calm), data, SGDConfig(epochs=30))


@needs_fmnist
def test_cli_train_final(tmp_path, capsys):
    spec_path = tmp_path / "lenet.json"
    spec_path.write_text(lenet_spec(epochs=1).to_json())
    out = tmp_path / "run"
    assert main(["train", str(spec_path), "--dataset", "fashion-mnist", "--out", str(out), "--final", "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert "test accuracy" in printed and "rubric score" in printed
    summary = json.loads((out / "summary.json").read_text())
    assert 0.7 < summary["val_accuracy"] <= 1 and 0.7 < summary["test_accuracy"] <= 1
    assert summary["seed"] == 0 and summary["sgd"]["epochs"] == 1 and len(summary["history"]) == 1
    assert summary["energy_pj"] > 0 and summary["cycles"] > 0 and summary["rubric"]["total"] > 0
    state = torch.load(out / "weights.pt", weights_only=True)
    model = build_model(lenet_spec())
    model.load_state_dict(state)
