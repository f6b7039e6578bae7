"""One Tune trial: cost the sampled design on its accelerator, train it, report every epoch.

A complete trial's last report carries a Tune checkpoint (weights.pt, a joint-search trial's arch.yaml,
summary.json) that Tune writes to the run's storage, so nothing is written to a driver path from a worker.
Every report says which node the trial runs on.
"""

from __future__ import annotations

import dataclasses
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
from codesign.device.remote import measured_ms, on_device, predicted_ms
from codesign.device.settings import TimingSettings
from codesign.hardware import HardwareParams, derive_arch, write_arch
from codesign.objectives import DEVICE_LATENCY
from codesign.profiling import Profile, other_mapper, profile_workload
from codesign.quantize import quantized_accuracy
from codesign.runs import TrialRecord
from codesign.search.prepared import PreparedSearch
from codesign.search.replay import Replays
from codesign.search.shared import SharedData
from codesign.search.trial import (
    WORST_ACCURACY,
    WORST_AREA_MM2,
    WORST_CYCLES,
    WORST_ENERGY_PJ,
    WORST_LATENCY_MS,
    TrialConfig,
    TrialReport,
)
from codesign.status import Status
from codesign.train import EpochMetrics, build_model, train
from codesign.workload import trace


def trial_arch(base: Arch, hardware: HardwareParams | None) -> Arch:
    """The accelerator a trial is costed on: the search's, or its base resized to the trial's sizes."""
    return base if hardware is None else derive_arch(base, hardware)


def _node() -> str:
    """Which node this trial runs on (Tune adds the node's IP to every report; several nodes may share one)."""
    return str(ray.get_runtime_context().get_node_id())


def _on_cpu(model: torch.nn.Module) -> torch.nn.Module:
    """A copy of a trained model on the CPU, to be sent to the node that times it."""
    import copy

    return copy.deepcopy(model).cpu()


def _report_infeasible(config: TrialConfig, timed: bool = False) -> None:
    """An infeasible design reports once, with the worst objectives, and never trains."""
    report = TrialReport(
        device_latency_ms=WORST_LATENCY_MS if timed else None,
        status=Status.INFEASIBLE,
        val_accuracy=WORST_ACCURACY,
        energy_pj=WORST_ENERGY_PJ,
        cycles=WORST_CYCLES,
        area_mm2=WORST_AREA_MM2,
        epoch=0,
        planned_epochs=config.spec.sgd.epochs if config.spec else 0,
        peak_activation_bytes=config.peak_activation_bytes or 0,
        rubric_points=0,
        train_seconds=0.0,
        reason=config.reason,
        node_id=_node(),
    )
    tune.report(report.to_tune())


def recorded_result(record: TrialRecord) -> TrialReport:
    """What a trial reports to repeat a result trials.csv already holds (see search/replay.py): no training."""

    def finite(value: float, worst: float) -> float:
        return worst if math.isnan(value) else value

    def measured(value: float) -> float | None:
        return None if math.isnan(value) else value

    return TrialReport(
        status=record.status,
        val_accuracy=finite(record.val_accuracy, WORST_ACCURACY),
        energy_pj=finite(record.energy_pj, WORST_ENERGY_PJ),
        cycles=finite(record.cycles, WORST_CYCLES),
        area_mm2=finite(record.area_mm2, WORST_AREA_MM2),
        epoch=record.epochs_done,
        planned_epochs=record.spec.sgd.epochs if record.spec else 0,
        rubric_points=record.rubric_points,
        reason=record.reason,
        replay_of=record.trial_id,
        node_id=_node(),
        peak_activation_bytes=measured(record.peak_activation_bytes),
        parameters=measured(record.parameters),
        macs=measured(record.macs),
        train_seconds=measured(record.train_seconds),
        train_accuracy=measured(record.train_accuracy),
        val_accuracy_float=measured(record.val_accuracy_float),
        device_latency_ms=None if math.isnan(record.device_latency_ms) else record.device_latency_ms,
        score_per_ms=measured(record.score_per_ms),
    )


class _EpochReporter:
    """Reports a training trial to Tune after every epoch: objectives, rubric points, status."""

    def __init__(
        self,
        net: Profile,
        model: torch.nn.Module,
        data: Dataset,
        config: TrialConfig,
        timing: TimingSettings | None = None,
        predicted: float | None = None,
        latency_on: str | None = None,
    ):
        self.net, self.model, self.data, self.config = net, model, data, config
        self.timing = timing  # the device_latency objective: the trained design is timed on the device
        self.latency_on = latency_on  # ... on the Ray nodes holding this resource (None: here)
        mappers = net.mapper_columns()  # graded (the lab's mapper) and best, side by side
        self.planned = config.spec.sgd.epochs if config.spec else 0
        self.start = time.perf_counter()
        self.known = TrialReport(  # what every report says: all that is known before training
            status=Status.RUNNING,
            energy_pj=net.energy_pj,
            cycles=net.cycles,
            area_mm2=config.area_mm2,
            peak_activation_bytes=net.peak_activation_bytes,
            parameters=net.workload.parameters,
            macs=net.workload.macs,
            planned_epochs=self.planned,
            reason="",
            node_id=_node(),
            graded_energy_pj=mappers.get("graded_energy_pj"),
            graded_cycles=mappers.get("graded_cycles"),
            best_energy_pj=mappers.get("best_energy_pj"),
            best_cycles=mappers.get("best_cycles"),
            device_latency_ms=predicted,  # the latency table's, until the trained design is timed
        )

    def __call__(self, m: EpochMetrics) -> None:
        done = m.epoch >= self.planned
        accuracy, before = m.val_accuracy, None
        bits = self.net.arch.word_bits
        if done and bits < 16:  # the design as the narrow-word accelerator would run it
            accuracy, before = quantized_accuracy(self.model, self.data, self.data.val, bits), m.val_accuracy
        score = self.net.score(error=1.0 - accuracy)
        known = self.known
        if done and self.timing is not None and self.config.spec is not None:
            shape = self.timing.search_shape(self.config.spec.input_shape)
            (ms, name), node = on_device(self.latency_on, measured_ms, _on_cpu(self.model), shape, self.timing)
            known = dataclasses.replace(
                known, device_latency_ms=ms, score_per_ms=accuracy / ms, device_node_id=node, device_name=name
            )
        report = dataclasses.replace(
            known,
            val_accuracy=accuracy,
            val_accuracy_float=before,
            epoch=m.epoch,
            train_loss=m.train_loss,
            train_accuracy=m.train_accuracy,
            status=Status.OK if done else Status.RUNNING,
            rubric_points=score.total,
            train_seconds=time.perf_counter() - self.start,
        )
        if not done:
            tune.report(report.to_tune())
            return
        with tempfile.TemporaryDirectory(prefix="codesign-checkpoint-") as folder:
            self._write_checkpoint(Path(folder), report)
            tune.report(report.to_tune(), checkpoint=tune.Checkpoint.from_directory(folder))  # Tune copies it

    def _write_checkpoint(self, folder: Path, report: TrialReport) -> None:
        """What a complete trial hands over: its weights, its accelerator (a joint search's own), a summary."""
        torch.save(self.model.state_dict(), folder / "weights.pt")
        if self.config.hardware is not None:
            write_arch(self.net.arch, folder / "arch.yaml")
        keep = {k: v for k, v in self.config.to_tune().items() if k in ("spec", "hardware") and v is not None}
        summary = {"trial_id": tune.get_context().get_trial_id(), **keep, "result": report.to_tune()}
        (folder / "summary.json").write_text(json.dumps(summary, indent=2, default=str))

    def diverged(self, epochs: int, reason: str) -> None:
        """The loss became NaN/inf or exploded: report the worst accuracy, finite as Optuna needs (never scored)."""
        report = dataclasses.replace(
            self.known,
            val_accuracy=WORST_ACCURACY,
            epoch=epochs + 1,
            status=Status.DIVERGED,
            rubric_points=0,
            train_seconds=time.perf_counter() - self.start,
            reason=reason or "loss became NaN/inf",
        )
        tune.report(report.to_tune())


def run_trial(config: dict[str, Any], prepared: PreparedSearch, data: SharedData, replays: Replays) -> None:
    """One Tune trial: cost the design, train it on the shared split, report every epoch (never a NaN)."""
    trial = TrialConfig.from_tune(config)  # Tune's boundary: the config as the sampler made it
    repeated = replays.match(tune.get_context().get_trial_id(), trial)
    if repeated is not None:  # it finished before the search was stopped: report that, do not train again
        tune.report(recorded_result(repeated).to_tune())
        return
    timed = DEVICE_LATENCY in prepared.settings.objectives
    if not trial.feasible or trial.spec is None:
        _report_infeasible(trial, timed)
        return
    spec = trial.spec
    model = build_model(spec)
    settings = prepared.settings
    arch = trial_arch(prepared.base_arch, trial.hardware)
    cache = CostCache()
    engine = AnalyticEngine(settings.mapper)
    net = profile_workload(trace(model, (1, *spec.input_shape)), arch, engine, cache, rubric=prepared.rubric)
    net.other = other_mapper(net, cache)
    torch.set_num_threads(max(1, int(settings.resources.cpus_per_trial or 1)))
    device = "cuda" if (settings.resources.gpus_per_trial or 0) > 0 and torch.cuda.is_available() else "cpu"
    timing, where = (settings.timing if timed else None), settings.resources.latency_on
    predicted = on_device(where, predicted_ms, spec, timing)[0] if timing is not None else None
    reporter = _EpochReporter(net, model, data.on(device), trial, timing, predicted, where)
    result = train(model, reporter.data, spec.sgd, prepared.rubric, on_epoch=reporter)
    if result.status is Status.DIVERGED:
        reporter.diverged(result.epochs, result.reason)
