"""Warm starts: known designs (`--seed-designs`) trained first, so the front starts from them.

A seed is a built-in network with a spec equivalent (lenet5), a spec JSON, an export or training folder with
a spec, or a past search run (every design on its front); all are read by `codesign.designs.load_design`. A
seed the space can draw is enqueued in Optuna's study with its parameters, so every sampler learns from it;
one the space cannot draw (other widths, a two-layer head, ...) is enqueued with its spec, trained as it is
and recorded with the parameters it did draw. A built-in network brings no SGD settings: the space draws
them. lab2023 has no spec equivalent (its last block is a depthwise conv without a pointwise one): refused.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from codesign.builtin_models import BUILTINS
from codesign.data import DatasetInfo
from codesign.designs import load_design
from codesign.errors import CodesignError, ConfigError
from codesign.network import CandidateSpec, ConvStage, SGDConfig
from codesign.pareto import pareto_front
from codesign.runs import Run
from codesign.space import SearchSpace

SEED_DESIGN = "seed_design"  # user attribute of an enqueued seed trial: where the design came from
SEED_SPEC = "seed_spec"  # ... the design itself, when the space cannot draw it
SEED_SGD_FROM_SPACE = "seed_sgd_from_space"  # ... true when the space draws its SGD hyper-parameters


def lenet5_spec(input_shape: tuple[int, int, int], num_classes: int) -> CandidateSpec:
    """builtin_models.LeNet5 as a spec (equal layers on 3x32x32; on other inputs, the same recipe)."""
    stage = ConvStage(6, kernel=5, padding=0, batch_norm=False, activation="relu", pool="max")
    return CandidateSpec(
        stages=(stage, dataclasses.replace(stage, channels=16)),
        input_shape=input_shape,
        num_classes=num_classes,
        head=(120, 84),
    )


SPEC_EQUIVALENTS: dict[str, Callable[[tuple[int, int, int], int], CandidateSpec]] = {"lenet5": lenet5_spec}
_NO_SPEC = {
    "lab2023": "its last block is a depthwise conv without a pointwise one, which a CandidateSpec cannot "
    "express; give a spec JSON of a design close to it",
}


@dataclass(frozen=True)
class SeedDesign:
    """A design to train before the search samples any."""

    label: str
    spec: CandidateSpec
    sgd_from_space: bool = False  # a built-in network: the space draws its SGD hyper-parameters


def resolve_seed_names(names: Sequence[str]) -> tuple[str, ...]:
    """Built-in names as they are, files and folders as absolute paths (search.json must not depend on cwd)."""
    return tuple(n if n in BUILTINS or not Path(n).exists() else str(Path(n).resolve()) for n in names)


def load_seeds(names: Sequence[str], info: DatasetInfo, seed: int) -> list[SeedDesign]:
    """Every seed design `names` give, checked against the dataset (one line naming the one that is wrong)."""
    seeds: list[SeedDesign] = []
    for name in names:
        for found in _designs(name, info):
            spec = found.spec
            if spec.input_shape != info.input_shape or spec.num_classes != info.num_classes:
                raise CodesignError(
                    f"seed design {found.label}: made for inputs {spec.input_shape} and {spec.num_classes} "
                    f"classes, but {info.name} has {info.input_shape} and {info.num_classes}"
                )
            spec = dataclasses.replace(spec, sgd=dataclasses.replace(spec.sgd, seed=seed))
            seeds.append(dataclasses.replace(found, spec=spec))
    return seeds


def _designs(name: str, info: DatasetInfo) -> list[SeedDesign]:
    if name in SPEC_EQUIVALENTS:
        return [SeedDesign(name, SPEC_EQUIVALENTS[name](info.input_shape, info.num_classes), sgd_from_space=True)]
    if name in _NO_SPEC:
        raise CodesignError(f"seed design {name}: {_NO_SPEC[name]}")
    if Run.holds_run(name):  # a past search: every design on its front
        run = Run(name)
        front = pareto_front(run.trials(), run.objectives())
        if front.empty:
            raise CodesignError(f"seed designs {name}: the run has no complete trial to start from")
        return [_with_spec(load_design(name, trial=str(t)), f"{run.name} trial {t}") for t in front["trial_id"]]
    return [_with_spec(load_design(name), name)]


def _with_spec(design: Any, label: str) -> SeedDesign:
    if design.spec is None:
        raise CodesignError(
            f"seed design {label}: a plain nn.Module has no spec to search from; give a spec JSON, a search run, "
            f"an export or training folder with spec.json, or one of {', '.join(SPEC_EQUIVALENTS)}"
        )
    return SeedDesign(label, design.spec)


class _Replay:
    """An Optuna-trial stand-in that answers each suggest_* from `params` (checked against the distribution);
    with `lenient`, a parameter it lacks takes its lowest value."""

    def __init__(self, params: Mapping[str, Any], lenient: bool):
        self.params, self.lenient = params, lenient
        self.asked: dict[str, Any] = {}
        self.user_attrs: dict[str, Any] = {}

    def _answer(self, name: str, fits: Callable[[Any], bool], lowest: Any) -> Any:
        if name not in self.params:
            if not self.lenient:
                raise KeyError(name)
            return lowest
        value = self.params[name]
        if not fits(value):
            raise KeyError(name)
        self.asked[name] = value
        return value

    def suggest_categorical(self, name: str, choices: Sequence[Any]) -> Any:
        return self._answer(name, lambda v: v in choices, choices[0])

    def suggest_int(self, name: str, low: int, high: int, *, step: int = 1, log: bool = False) -> int:
        return self._answer(name, lambda v: low <= v <= high and (v - low) % step == 0, low)

    def suggest_float(
        self, name: str, low: float, high: float, *, step: float | None = None, log: bool = False
    ) -> float:
        return self._answer(name, lambda v: low <= v <= high, low)


def _spec_params(spec: CandidateSpec, with_sgd: bool) -> dict[str, Any]:
    """Every parameter name a space may ask for, with `spec`'s value (the inverse of SearchSpace.sample)."""
    params: dict[str, Any] = {"depth": len(spec.stages)}
    for i, stage in enumerate(spec.stages):
        params |= {f"stage{i}_{k}": v for k, v in dataclasses.asdict(stage).items()}
    params |= {
        "head_width": spec.head[0] if spec.head else 0,
        "head_depth": len(spec.head),
        "global_pool": spec.global_pool,
        "dropout": spec.dropout,
    }
    if with_sgd:
        params |= {f.name: getattr(spec.sgd, f.name) for f in dataclasses.fields(SGDConfig)}
    return params


def params_in_space(seed: SeedDesign, space: SearchSpace) -> dict[str, Any] | None:
    """The parameters that make `space` draw the seed's network (and its SGD settings unless the space
    draws them), or None when the space cannot draw it."""
    replay = _Replay(_spec_params(seed.spec, with_sgd=not seed.sgd_from_space), lenient=seed.sgd_from_space)
    spec = seed.spec
    try:
        drawn = space.sample(replay, spec.input_shape, spec.num_classes, spec.sgd.seed)
    except (KeyError, ConfigError):
        return None
    if dataclasses.replace(drawn, sgd=spec.sgd) != spec or (not seed.sgd_from_space and drawn.sgd != spec.sgd):
        return None
    return replay.asked


def enqueue_seeds(study: Any, seeds: Sequence[SeedDesign], space: SearchSpace) -> None:
    """Queue the seed designs in Optuna's study so that they are the first trials asked for."""
    for seed in seeds:
        params = params_in_space(seed, space)
        if params is not None:
            study.enqueue_trial(params, user_attrs={SEED_DESIGN: seed.label})
        else:
            attrs = {SEED_DESIGN: seed.label, SEED_SPEC: seed.spec.to_dict(), SEED_SGD_FROM_SPACE: seed.sgd_from_space}
            study.enqueue_trial({}, user_attrs=attrs)
