"""Drawing designs: the define-by-run function Optuna samples through, and the hard constraints checked on a
design before it trains."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from codesign.arch import Arch
from codesign.data import DATASETS
from codesign.errors import UnbuildableDesign
from codesign.hardware import HardwareParams, area_mm2, derive_arch
from codesign.network import CandidateSpec
from codesign.rubric import Rubric
from codesign.search.seeds import SEED_DESIGN, SEED_SGD_FROM_SPACE, SEED_SPEC
from codesign.search.settings import SearchSettings
from codesign.search.trial import TrialConfig
from codesign.space import SearchSpace, SpaceConstraints
from codesign.workload import Workload, trace


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


class SpaceSampler:
    """Optuna define-by-run function: sample a spec, check the no-training constraints, hand it to Tune.

    The trial's config (TrialConfig, a dict for Tune) says what was drawn; an infeasible design is marked so and
    never trains. A
    trial enqueued with a seed design (codesign/search/seeds.py) trains that design; a guided sampler may
    veto a trial when nothing it could draw can improve the front (reported infeasible, never trained).
    """

    def __init__(self, settings: SearchSettings, space: SearchSpace, rubric: Rubric, base_arch: Arch):
        self.seed = settings.tune.seed
        self.space = space
        self.rubric = rubric
        self.info = DATASETS[settings.data.dataset or space.dataset]
        self.base_arch = base_arch
        self.mapper = settings.mapper  # the analytic mapper the objectives are costed with (None: the arch's)

    def draw(self, trial: Any) -> tuple[CandidateSpec, HardwareParams | None]:
        """The design `trial` stands for (anything with Optuna's suggest_* and user_attrs): drawn from the
        space, or the seed design it was enqueued with; raises UnbuildableDesign."""
        seed_spec = trial.user_attrs.get(SEED_SPEC)
        if seed_spec is None:
            spec = self.space.sample(trial, self.info.input_shape, self.info.num_classes, self.seed)
        else:
            spec = CandidateSpec.from_dict(seed_spec, "seed design")
            if trial.user_attrs.get(SEED_SGD_FROM_SPACE):
                spec = dataclasses.replace(spec, sgd=self.space.sample_sgd(trial, self.seed))
        return spec, self.space.sample_hardware(trial, HardwareParams.of(self.base_arch))

    def config(self, trial: Any) -> TrialConfig:
        """The design `trial` draws and what is known of it before training (its constraints told to Optuna)."""
        veto = getattr(trial.study.sampler, "veto", None)
        reason = veto(trial.number) if veto is not None else None
        if reason:
            trial.set_constraint("improvable", 1.0)
            return TrialConfig(reason=reason)
        try:
            spec, hardware = self.draw(trial)
        except UnbuildableDesign as exc:  # e.g. the stages shrink the image to nothing
            trial.set_constraint("buildable", 1.0)
            return TrialConfig(reason=exc.message)
        area = None if hardware is None else area_mm2(derive_arch(self.base_arch, hardware))
        workload = trace(spec.build(), (1, *spec.input_shape))
        checks = check_constraints(spec, workload, self.rubric, self.space.constraints, hardware, area)
        for check in checks:
            trial.set_constraint(check.name, check.value)
        reason = "; ".join(c.why for c in checks if c.broken)
        return TrialConfig(
            spec=spec,
            feasible=not reason,
            reason=reason,
            peak_activation_bytes=workload.peak_activation_bytes,
            parameters=workload.parameters,
            hardware=hardware,
            area_mm2=area,
            seed_design=trial.user_attrs.get(SEED_DESIGN),
        )

    def __call__(self, trial: Any) -> dict[str, Any]:
        """Optuna's define-by-run call from Ray's OptunaSearch: the trial's config, as Tune keeps it."""
        return self.config(trial).to_tune()
