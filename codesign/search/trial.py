"""What flows through one trial, typed: the design the sampler hands it (TrialConfig) and what it reports after
each epoch (TrialReport), beside the row trials.csv keeps of it (codesign.runs.TrialRecord).

Ray Tune holds a trial's config and its results as dicts: they are converted at Tune's boundary only
(`to_tune` where codesign hands them to Tune, `from_tune` where Tune hands them back), with the keys earlier
versions wrote, so that a search resumed from their Tune state reads the same. Statuses are `Status` (as
Optuna's FrozenTrial carries a TrialState).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from codesign.hardware import HardwareParams
from codesign.network import CandidateSpec
from codesign.status import Status

# Finite stand-ins for "as bad as it gets": Optuna must never see NaN or a missing objective.
WORST_ACCURACY, WORST_ENERGY_PJ, WORST_CYCLES, WORST_AREA_MM2 = 0.0, 1e15, 1e12, 1e6
WORST_LATENCY_MS = 1e6


@dataclass(frozen=True)
class TrialConfig:
    """The design a trial stands for, and everything known of it before training (Tune's trial config)."""

    spec: CandidateSpec | None = None  # None: nothing buildable was drawn (or the sampler vetoed the trial)
    feasible: bool = False
    reason: str = ""  # why it cannot train
    peak_activation_bytes: int | None = None
    parameters: int | None = None
    hardware: HardwareParams | None = None  # a joint search's accelerator sizes
    area_mm2: float | None = None  # ... and its silicon area
    seed_design: str | None = None  # where a seed design came from (--seed-designs)

    def to_tune(self) -> dict[str, Any]:
        """The config as Tune keeps it (plain JSON values)."""
        config: dict[str, Any] = {
            "spec": None if self.spec is None else self.spec.to_dict(),
            "feasible": self.feasible,
            "reason": self.reason,
        }
        for name in ("peak_activation_bytes", "parameters"):
            if getattr(self, name) is not None:
                config[name] = getattr(self, name)
        if self.hardware is not None:
            config |= {"hardware": dataclasses.asdict(self.hardware), "area_mm2": self.area_mm2}
        if self.seed_design is not None:
            config["seed_design"] = self.seed_design
        return config

    @classmethod
    def from_tune(cls, config: Mapping[str, Any], source: str = "trial config") -> TrialConfig:
        """A config as Tune hands it back (a trial's `config`)."""
        spec, hardware = config.get("spec"), config.get("hardware")
        return cls(
            spec=CandidateSpec.from_dict(spec, source) if spec else None,
            feasible=bool(config.get("feasible")),
            reason=str(config.get("reason") or ""),
            peak_activation_bytes=config.get("peak_activation_bytes"),
            parameters=config.get("parameters"),
            hardware=HardwareParams(**hardware) if hardware else None,
            area_mm2=config.get("area_mm2"),
            seed_design=config.get("seed_design"),
        )


@dataclass(frozen=True)
class TrialReport:
    """What a trial reports to Tune after each epoch (once, for a design that never trains); None: not reported.

    The objectives are always there (finite: the worst values when there is nothing to measure), so that
    Optuna always gets a result.
    """

    status: Status
    epoch: int = 0  # epochs trained so far
    planned_epochs: int | None = None
    val_accuracy: float | None = None
    energy_pj: float | None = None
    cycles: float | None = None
    area_mm2: float | None = None
    # the device_latency objective: predicted from the latency table until the trained design is timed
    device_latency_ms: float | None = None
    score_per_ms: float | None = None  # validation accuracy / device latency (the device users' score)
    device_node_id: str | None = None  # the Ray node the device latency was measured on
    device_name: str | None = None  # ... and the device's name (the CPU's model, the GPU's name)
    # the energy and cycles under each analytic mapper: graded (timeloop-mapper's search) and best
    graded_energy_pj: float | None = None
    graded_cycles: float | None = None
    best_energy_pj: float | None = None
    best_cycles: float | None = None
    peak_activation_bytes: float | None = None
    parameters: float | None = None
    macs: float | None = None
    val_accuracy_float: float | None = None  # before quantization to a narrow-word accelerator
    train_loss: float | None = None
    train_accuracy: float | None = None  # on the training split, during the epoch (dropout and all)
    train_seconds: float | None = None
    rubric_points: int = 0
    reason: str = ""
    replay_of: str | None = None  # the recorded trial whose result this repeats (search/replay.py)
    node_id: str = ""  # Ray's id of the node the trial runs on
    # what Tune adds to every result it hands back
    node_ip: str = ""
    time_total_s: float | None = None

    def to_tune(self) -> dict[str, Any]:
        """The result as Tune takes it (`tune.report`): the fields that are set."""
        result: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if value is not None and f.name not in _ADDED_BY_TUNE:
                result[f.name] = value.value if isinstance(value, Status) else value
        return result

    @classmethod
    def from_tune(cls, result: Mapping[str, Any] | None) -> TrialReport | None:
        """A result as Tune hands it back (None when there is none yet)."""
        if not result or "status" not in result:
            return None
        values = {name: result[name] for name in _FIELDS if name in result and name != "status"}
        return cls(status=Status(result["status"]), **values)

    @property
    def complete(self) -> bool:
        """Trained for every epoch it planned."""
        return self.status is Status.OK and self.planned_epochs is not None and self.epoch >= self.planned_epochs

    def objective(self, column: str) -> float | None:
        """The value of an objective by its trials.csv column (val_accuracy, energy_pj, cycles, area_mm2,
        device_latency_ms)."""
        value = getattr(self, column)
        return None if value is None else float(value)


_FIELDS = tuple(f.name for f in dataclasses.fields(TrialReport))
_ADDED_BY_TUNE = ("node_ip", "time_total_s")


def known(value: float | None) -> float:
    """A reported number, NaN where it was not reported (as trials.csv writes a missing number)."""
    return math.nan if value is None else value
