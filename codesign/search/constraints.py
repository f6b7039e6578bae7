"""The hard constraints of a design that need no training: the rubric's limits and the space's budgets, checked
on its spec and workload in milliseconds (Optuna's convention: a value <= 0 is feasible)."""

from __future__ import annotations

from dataclasses import dataclass

from codesign.hardware import HardwareParams
from codesign.network import CandidateSpec
from codesign.rubric import Rubric
from codesign.space import SpaceConstraints
from codesign.workload import Workload


@dataclass(frozen=True)
class Constraint:
    """One hard constraint of a design: Optuna's convention, `value` <= 0 is feasible."""

    name: str
    value: float
    why: str  # what is wrong when it is broken

    @property
    def broken(self) -> bool:
        return self.value > 0


def check_constraints(
    spec: CandidateSpec,
    workload: Workload,
    rubric: Rubric,
    budgets: SpaceConstraints,
    hardware: HardwareParams | None = None,
    area: float | None = None,
) -> list[Constraint]:
    """Every constraint that needs no training: the rubric's limits and the space's budgets."""
    limit = rubric.peak_activation_limit_bytes
    peak, params = workload.peak_activation_bytes, workload.parameters
    checks = [
        Constraint("peak_activation", (peak - limit + 1) / limit, f"peak activation {peak:,} B >= {limit:,} B"),
        Constraint("epochs", spec.sgd.epochs - rubric.max_epochs, f"{spec.sgd.epochs} epochs > {rubric.max_epochs}"),
    ]
    if budgets.max_parameters:
        checks.append(
            Constraint(
                "parameters",
                (params - budgets.max_parameters) / budgets.max_parameters,
                f"{params:,} parameters > {budgets.max_parameters:,}",
            )
        )
    if budgets.max_layers:
        layers = sum(layer.count for layer in workload.layers)
        checks.append(Constraint("layers", layers - budgets.max_layers, f"{layers} layers > {budgets.max_layers}"))
    if hardware is not None and area is not None:
        if budgets.max_area_mm2:
            checks.append(
                Constraint(
                    "area",
                    (area - budgets.max_area_mm2) / budgets.max_area_mm2,
                    f"area {area:.3f} mm2 > {budgets.max_area_mm2}",
                )
            )
        if budgets.max_pes:
            pes = hardware.pe_x * hardware.pe_y
            checks.append(Constraint("pes", pes - budgets.max_pes, f"{pes} PEs > {budgets.max_pes}"))
    return checks
