"""One Tune trial: cost the sampled design on its accelerator, train it, report every epoch.

A complete trial's last report carries a Tune checkpoint (weights.pt, a joint-search trial's arch.yaml,
summary.json) that Tune writes to the run's storage, so nothing is written to a driver path from a worker.
Every report says which node the trial runs on.
"""

from __future__ import annotations

import json
import math
import tempfile
import time
from pathlib import Path
from typing import Any

import ray
import torch
from ray import tune

from codesign.arch import Arch
from codesign.cost import CostCache
from codesign.cost.analytic import AnalyticEngine
from codesign.data import Dataset
from codesign.hardware import HardwareParams, derive_arch, write_arch
from codesign.network import CandidateSpec
from codesign.profile import NetworkCost, mapper_columns, other_mapper, profile_workload
from codesign.quantize import quantized_accuracy
from codesign.rubric import Rubric
from codesign.runs import Status, TrialRecord
from codesign.search.replay import Replays
from codesign.search.settings import SearchSettings
from codesign.search.shared import SharedData
from codesign.train import EpochMetrics, build_model, train
from codesign.workload import trace

# Finite stand-ins for "as bad as it gets": Optuna must never see NaN or a missing objective.
WORST = {"val_accuracy": 0.0, "energy_pj": 1e15, "cycles": 1e12, "area_mm2": 1e6}


def trial_arch(base: Arch, hardware: dict | None) -> Arch:
    """The accelerator a trial is costed on: the search's, or its base resized to the trial's sizes."""
    return base if hardware is None else derive_arch(base, HardwareParams(**hardware))


def _node() -> dict[str, str]:
    """Which node this trial runs on (Tune adds the node's IP to every report; several nodes may share one)."""
    return {"node_id": ray.get_runtime_context().get_node_id()}


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
            **_node(),
        }
    )


def recorded_result(record: TrialRecord) -> dict[str, Any]:
    """What a trial reports to repeat a result trials.csv already holds (see search/replay.py): no training."""

    def finite(value: float, worst: float) -> float:
        return worst if math.isnan(value) else value

    result = {
        "val_accuracy": finite(record.val_accuracy, WORST["val_accuracy"]),
        "energy_pj": finite(record.energy_pj, WORST["energy_pj"]),
        "cycles": finite(record.cycles, WORST["cycles"]),
        "area_mm2": finite(record.area_mm2, WORST["area_mm2"]),
        "status": record.status.value,
        "epoch": record.epochs_done,
        "planned_epochs": record.spec.sgd.epochs if record.spec else 0,
        "rubric_points": record.rubric_points,
        "reason": record.reason,
        "replay_of": record.trial_id,
        **_node(),
    }
    for name in ("peak_activation_bytes", "parameters", "macs", "train_seconds", "val_accuracy_float"):
        if not math.isnan(getattr(record, name)):
            result[name] = getattr(record, name)
    return result


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
        keep: dict[str, Any],
    ):
        self.net, self.rubric, self.model, self.data, self.planned = net, rubric, model, data, planned
        self.keep = keep  # what the checkpoint's summary.json records besides the result (the sampled config)
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
            **_node(),
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
        result = {
            **self.common,
            **metrics,
            "epoch": m.epoch,
            "train_loss": m.train_loss,
            "status": (Status.OK if done else Status.RUNNING).value,
            "rubric_points": score.total,
            "train_seconds": time.perf_counter() - self.start,
        }
        if not done:
            tune.report(result)
            return
        with tempfile.TemporaryDirectory(prefix="codesign-checkpoint-") as folder:
            self._write_checkpoint(Path(folder), result)
            tune.report(result, checkpoint=tune.Checkpoint.from_directory(folder))  # Tune copies it to storage

    def _write_checkpoint(self, folder: Path, result: dict[str, Any]) -> None:
        """What a complete trial hands over: its weights, its accelerator (a joint search's own), a summary."""
        torch.save(self.model.state_dict(), folder / "weights.pt")
        if "hardware" in self.keep:
            write_arch(self.net.arch, folder / "arch.yaml")
        summary = {"trial_id": tune.get_context().get_trial_id(), **self.keep, "result": result}
        (folder / "summary.json").write_text(json.dumps(summary, indent=2, default=str))

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


def run_trial(
    config: dict[str, Any],
    settings: SearchSettings,
    rubric: Rubric,
    base_arch: Arch,
    data: SharedData,
    replays: Replays,
) -> None:
    """One Tune trial: cost the design, train it on the shared split, report every epoch (never a NaN)."""
    repeated = replays.match(tune.get_context().get_trial_id(), config)
    if repeated is not None:  # it finished before the search was stopped: report that, do not train again
        tune.report(recorded_result(repeated))
        return
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
    device = "cuda" if (settings.resources.gpus_per_trial or 0) > 0 and torch.cuda.is_available() else "cpu"
    area = {"area_mm2": config["area_mm2"]} if "area_mm2" in config else {}
    keep = {k: config[k] for k in ("spec", "hardware") if config.get(k) is not None}
    reporter = _EpochReporter(net, rubric, model, data.on(device), spec.sgd.epochs, {**area, **both}, keep)
    result = train(model, reporter.data, spec.sgd, rubric, on_epoch=reporter)
    if result.status == "diverged":
        reporter.diverged(result.epochs)
