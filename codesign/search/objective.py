"""The search's Optuna objective: what a trial's parameters draw, and what is known of it before training."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

from codesign.errors import UnbuildableDesign
from codesign.hardware import HardwareParams, area_mm2, derive_arch
from codesign.network import CandidateSpec
from codesign.search.constraints import check_constraints
from codesign.search.prepared import PreparedSearch
from codesign.search.seeds import SEED_DESIGN, SEED_SGD_FROM_SPACE, SEED_SPEC
from codesign.search.trial import TrialConfig
from codesign.workload import trace


class DesignObjective:
    """The search's Optuna objective, define-by-run: a trial's parameters draw a design from the space, whose
    no-training constraints are told to Optuna (`trial.set_constraint`) before Tune trains it.

    Its answer is the trial's config (a TrialConfig, as a dict for Tune): an infeasible design is marked so and
    never trains. A trial enqueued with a seed design (codesign/search/seeds.py) draws that design; a guided
    sampler may veto a trial when nothing it could draw can improve the front (reported infeasible, not trained).
    """

    def __init__(self, prepared: PreparedSearch):
        # what drawing needs, kept small: Tune pickles the objective with the searcher's state
        self.seed = prepared.settings.tune.seed
        self.space = prepared.space
        self.rubric = prepared.rubric
        self.info = prepared.info
        self.base_arch = prepared.base_arch
        self.mapper = prepared.settings.mapper  # the analytic mapper the objectives are costed with (None: the arch's)
        # the cores the trials take (on the driver's machine, costing ahead uses the rest)
        cpus_per_trial = prepared.settings.resolved().resources.cpus_per_trial or 1
        self.trial_cpus = prepared.settings.tune.concurrency * max(1, math.ceil(cpus_per_trial))
        self.timing = prepared.settings.timing  # how the device_latency objective is timed
        self.latency_on = prepared.settings.resources.latency_on  # ... and on which Ray nodes (None: here)

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
