"""One Tune trial: cost the sampled design on its accelerator, train it, report every epoch."""

from __future__ import annotations

import time
from functools import lru_cache
from typing import Any

import torch
from ray import tune

from codesign.arch import Arch
from codesign.cost import CostCache
from codesign.cost.analytic import AnalyticEngine
from codesign.data import Dataset, Split, load_dataset
from codesign.hardware import HardwareParams, derive_arch
from codesign.network import CandidateSpec
from codesign.profile import NetworkCost, mapper_columns, other_mapper, profile_workload
from codesign.quantize import quantized_accuracy
from codesign.rubric import Rubric
from codesign.runs import Run, Status
from codesign.search.settings import DataSettings, SearchSettings
from codesign.train import EpochMetrics, build_model, train
from codesign.workload import trace

# Finite stand-ins for "as bad as it gets": Optuna must never see NaN or a missing objective.
WORST = {"val_accuracy": 0.0, "energy_pj": 1e15, "cycles": 1e12, "area_mm2": 1e6}


def trial_arch(base: Arch, hardware: dict | None) -> Arch:
    """The accelerator a trial is costed on: the search's, or its base resized to the trial's sizes."""
    return base if hardware is None else derive_arch(base, HardwareParams(**hardware))


@lru_cache(maxsize=2)
def _dataset(data: DataSettings, device: str) -> Dataset:
    """The worker's copy of the data set, loaded once per process and kept on its device."""
    loaded = load_dataset(
        data.dataset, data.data_dir, device, split_seed=data.split_seed, val_size=data.val_size, download=False
    )
    if data.train_size:
        loaded.train = Split(loaded.train.images[: data.train_size], loaded.train.labels[: data.train_size])
    return loaded


def _report_infeasible(config: dict[str, Any]) -> None:
    """An infeasible design reports once, with the worst objectives, and never trains."""
    spec = config.get("spec")
    tune.report(
        {
            **WORST,
            "status": Status.INFEASIBLE.value,
            "epoch": 0,
            "planned_epochs": spec["sgd"]["epochs"] if spec else 0,
            "peak_activation_bytes": config.get("peak_activation_bytes", 0),
            "rubric_points": 0,
            "train_seconds": 0.0,
            "reason": config.get("reason", ""),
        }
    )


class _EpochReporter:
    """Reports a training trial to Tune after every epoch: objectives, rubric points, status."""

    def __init__(
        self,
        net: NetworkCost,
        rubric: Rubric,
        model: torch.nn.Module,
        data: Dataset,
        planned: int,
        extra: dict[str, Any],
    ):
        self.net, self.rubric, self.model, self.data, self.planned = net, rubric, model, data, planned
        self.start = time.perf_counter()
        self.common = {
            "energy_pj": net.energy_pj,
            "cycles": net.cycles,
            "peak_activation_bytes": net.peak_activation_bytes,
            "parameters": net.workload.parameters,
            "macs": net.workload.macs,
            "planned_epochs": planned,
            "reason": "",
            **extra,
        }

    def __call__(self, m: EpochMetrics) -> None:
        done = m.epoch >= self.planned
        metrics = {"val_accuracy": m.val_accuracy}
        bits = self.net.arch.word_bits
        if done and bits < 16:  # the design as the narrow-word accelerator would run it
            metrics = {
                "val_accuracy": quantized_accuracy(self.model, self.data, self.data.val, bits),
                "val_accuracy_float": m.val_accuracy,
            }
        score = self.net.score(self.rubric, error=1.0 - metrics["val_accuracy"])
        tune.report(
            {
                **self.common,
                **metrics,
                "epoch": m.epoch,
                "train_loss": m.train_loss,
                "status": (Status.OK if done else Status.RUNNING).value,
                "rubric_points": score.total,
                "train_seconds": time.perf_counter() - self.start,
            }
        )

    def diverged(self, epochs: int) -> None:
        """The loss became NaN/inf: report the worst accuracy, finite as Optuna needs."""
        tune.report(
            {
                **self.common,
                "val_accuracy": WORST["val_accuracy"],
                "epoch": epochs + 1,
                "status": Status.DIVERGED.value,
                "rubric_points": 0,
                "train_seconds": time.perf_counter() - self.start,
                "reason": "loss became NaN/inf",
            }
        )


def run_trial(config: dict[str, Any], settings: SearchSettings, rubric: Rubric, base_arch: Arch) -> None:
    """One Tune trial: cost the design, train it, report every epoch (never a NaN)."""
    if not config.get("feasible"):
        _report_infeasible(config)
        return
    spec = CandidateSpec.from_dict(config["spec"], "trial spec")
    model = build_model(spec)
    arch = trial_arch(base_arch, config.get("hardware"))
    cache = CostCache()
    net = profile_workload(trace(model, (1, *spec.input_shape)), arch, AnalyticEngine(settings.mapper), cache)
    both = mapper_columns(net, other_mapper(net, cache))  # graded (the lab's mapper) and best, side by side
    torch.set_num_threads(max(1, int(settings.resources.cpus_per_trial or 1)))
    device = "cuda" if settings.resources.gpus_per_trial > 0 and torch.cuda.is_available() else "cpu"
    data = _dataset(settings.data, device)
    area = {"area_mm2": config["area_mm2"]} if "area_mm2" in config else {}
    reporter = _EpochReporter(net, rubric, model, data, spec.sgd.epochs, {**area, **both})
    result = train(model, data, spec.sgd, rubric, on_epoch=reporter)
    if result.status == "ok":  # keep the weights, so that `codesign export` can hand the design over
        path = Run(settings.run_dir).weights_file(tune.get_context().get_trial_id())
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.save(model.state_dict(), path)
    if result.status == "diverged":
        reporter.diverged(result.epochs)
