"""Search spaces from YAML: ranges, choices and log scales, sampled define-by-run into CandidateSpecs.

Schema (see search_spaces/*.yaml):

    dataset: cifar10                 # default dataset of `codesign search` with this space
    network:
      depth: {int: [2, 5]}           # number of conv stages
      stage:                         # every stage's parameters (sampled only for stages that exist)
        channels: {choice: [8, 16, 32]}
        kernel: 3                    # a plain value is fixed
      stages:                        # optional per-stage overrides, by position
        - {stride: 1}
      head_width: {choice: [0, 64]}  # 0: no hidden classifier layer
      global_pool: false
      dropout: 0.0
    sgd:
      lr: {float: [0.01, 0.2], log: true}
      epochs: {int: [2, 6]}
    hardware:                        # optional: search the accelerator too (codesign/hardware.py)
      base: simple_weight_stationary # the arch whose energies are scaled (a name or a YAML path)
      pe_x: {choice: [8, 16, 32]}    # also pe_y, weight_spad_depth, glb_depth, glb_bandwidth, word_bits;
      word_bits: {choice: [8, 16]}   # a key left out keeps the base's value
      dataflow: {choice: [ws, os]}   # arch/dataflows/*.yaml (the exhaustive mapper takes ws only)
    objectives: [accuracy, energy, latency, area]   # default: the first three
    constraints:                     # optional, besides the rubric's
      max_parameters: 500000
      max_area_mm2: 2.5              # hardware budgets (joint search only)
      max_pes: 256

A value is a constant, `{choice: [...]}`, `{int: [low, high]}` (optional `log`, `step`) or
`{float: [low, high]}` (optional `log`, `step`).
"""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from codesign.arch import load_arch
from codesign.config import build, check_keys, convert, limits
from codesign.data import DATASETS
from codesign.errors import CodesignError, ConfigError
from codesign.hardware import FIELDS as HARDWARE_FIELDS
from codesign.hardware import HardwareParams
from codesign.network import CandidateSpec, ConvStage, SGDConfig
from codesign.pareto import COLUMNS
from codesign.yamlfile import read_yaml, resolve_yaml

SPACE_DIR = Path(__file__).resolve().parent.parent / "search_spaces"
OBJECTIVES = tuple(COLUMNS)
_TOP_KEYS = ("name", "description", "dataset", "network", "sgd", "hardware", "objectives", "constraints")
_NETWORK_KEYS = ("depth", "stage", "stages", "head_width", "head_depth", "global_pool", "dropout")
Target = tuple[Any, typing.Mapping[str, Any]]  # what a parameter's values must be: type hint and limits


def _targets(cls: type, skip: tuple[str, ...] = ()) -> dict[str, Target]:
    """The type hint and limits of every field of `cls` a space may set."""
    hints = typing.get_type_hints(cls)
    return {f.name: (hints[f.name], f.metadata) for f in dataclasses.fields(cls) if f.name not in skip}


_STAGE = _targets(ConvStage)
_SGD = _targets(SGDConfig, skip=("seed",))  # the search's --seed sets it
_NETWORK = {
    "depth": (int, limits(min=1)),
    "head_width": (int, limits(min=0)),
    "head_depth": (int, limits(min=0)),
    **{k: v for k, v in _targets(CandidateSpec).items() if k in ("global_pool", "dropout")},
}
_HARDWARE = _targets(HardwareParams)


@dataclass(frozen=True)
class SpaceConstraints:
    """Budgets a space adds to the rubric's, checked before training."""

    max_parameters: int | None = field(default=None, metadata=limits(min=1))
    max_layers: int | None = field(default=None, metadata=limits(min=1))
    max_area_mm2: float | None = field(default=None, metadata=limits(above=0))  # joint search only
    max_pes: int | None = field(default=None, metadata=limits(min=1))  # joint search only


@dataclass(frozen=True)
class Param:
    """One searchable (or fixed) value."""

    kind: str  # "fixed", "choice", "int", "float"
    values: tuple = ()
    low: float = 0
    high: float = 0
    log: bool = False
    step: float | None = None

    def sample(self, trial: Any, name: str) -> Any:
        """Ask an Optuna trial (or anything with suggest_*) for this parameter's value."""
        if self.kind == "fixed":
            return self.values[0]
        if self.kind == "choice":
            return trial.suggest_categorical(name, list(self.values))
        if self.kind == "int":
            return trial.suggest_int(name, int(self.low), int(self.high), log=self.log, step=int(self.step or 1))
        return trial.suggest_float(name, float(self.low), float(self.high), log=self.log, step=self.step)

    @property
    def bounds(self) -> tuple:
        """Every value a fixed or choice parameter can take; a range's two ends."""
        return self.values if self.kind in ("fixed", "choice") else (self.low, self.high)


_RANGE = {"log": (bool, {}), "step": (float, limits(above=0))}


def _param(raw: Any, where: str, source: str, target: Target) -> Param:
    """A parameter from its YAML form, every value it can take checked against `target`."""
    hint, field_limits = target
    if isinstance(raw, list):
        raise ConfigError(source, where, "{field}: a list is ambiguous; write {choice: [...]}")
    if not isinstance(raw, dict):
        param = Param("fixed", (raw,))
    else:
        check_keys(raw, ("choice", "int", "float", *_RANGE), source, where)
        kinds = [k for k in ("choice", "int", "float") if k in raw]
        if len(kinds) != 1:
            raise ConfigError(
                source,
                where,
                "{field}: needs exactly one of choice, int, float (write {choice: "
                "[...]}, {int: [low, high]} or {float: [low, high], log: true})",
            )
        check_keys(raw, (kinds[0], *_RANGE) if kinds[0] != "choice" else ("choice",), source, where)
        param = _range_or_choice(kinds[0], raw, where, source)
    if hint is int and param.kind == "float":
        raise ConfigError(source, where, "takes whole numbers: write {int: [low, high]} or {choice: [...]}")
    what = f"{where}.{param.kind}" if param.kind != "fixed" else where
    for i, value in enumerate(param.bounds):
        # an int range of a float field is fine; its ends are checked as that field's values
        convert(
            hint,
            float(value) if hint is float and param.kind == "int" else value,
            source,
            f"{what}[{i}]" if param.kind != "fixed" else what,
            field_limits,
        )
    return param


def _range_or_choice(kind: str, raw: dict, where: str, source: str) -> Param:
    body = raw[kind]
    if kind == "choice":
        if not isinstance(body, list) or not body:
            raise ConfigError(source, f"{where}.choice", "must be a non-empty list")
        return Param("choice", tuple(body))
    low, high = convert(tuple[float, float], body, source, f"{where}.{kind}")
    if kind == "int" and not (low.is_integer() and high.is_integer()):
        raise ConfigError(source, f"{where}.int", "bounds must be whole numbers")
    if low > high:
        raise ConfigError(source, f"{where}.{kind}", f"low {low:g} is above high {high:g}")
    log = convert(bool, raw.get("log", False), source, f"{where}.log")
    if log and low <= 0:
        raise ConfigError(source, where, f"a log scale needs low > 0, got {low:g}")
    step = raw.get("step")
    if step is not None:
        step = convert(float, step, source, f"{where}.step", limits(above=0))
        if log:
            raise ConfigError(source, f"{where}.step", "cannot go with log")
    if kind == "int":
        low, high = int(low), int(high)
    return Param(kind, (), low, high, log, step)


@dataclass(frozen=True)
class SearchSpace:
    """A validated search space: network shape, per-stage and SGD parameters, extra constraints."""

    name: str
    dataset: str
    depth: Param
    stage: dict[str, Param]
    stage_overrides: tuple[dict[str, Param], ...]
    network: dict[str, Param]
    sgd: dict[str, Param]
    constraints: SpaceConstraints = SpaceConstraints()
    hardware: dict[str, Param] | None = None  # None: the fixed --arch (the rubric's mode)
    hardware_base: str | None = None
    objectives: tuple[str, ...] = OBJECTIVES[:3]

    def sample_hardware(self, trial: Any, base: HardwareParams) -> HardwareParams | None:
        """Draw the accelerator's sizes and dataflow, keeping `base`'s where the space names none (None: fixed
        hardware)."""
        if self.hardware is None:
            return None
        drawn = {name: p.sample(trial, f"hw_{name}") for name, p in self.hardware.items()}
        drawn = {name: int(v) if _HARDWARE[name][0] is int else v for name, v in drawn.items()}
        return dataclasses.replace(base, **drawn)

    def sample(self, trial: Any, input_shape: tuple[int, int, int], num_classes: int, seed: int) -> CandidateSpec:
        """Define-by-run: draw one candidate (stage parameters exist only for the stages drawn)."""
        depth = int(self.depth.sample(trial, "depth"))
        stages = []
        for i in range(depth):
            params = dict(self.stage)
            if i < len(self.stage_overrides):
                params.update(self.stage_overrides[i])
            values = {name: p.sample(trial, f"stage{i}_{name}") for name, p in params.items()}
            stages.append(ConvStage(**values))
        net = {name: p.sample(trial, name) for name, p in self.network.items()}
        width = int(net.pop("head_width", 0) or 0)
        head_depth = int(net.pop("head_depth", 1 if width else 0) or 0)
        return CandidateSpec(
            stages=tuple(stages),
            input_shape=input_shape,
            num_classes=num_classes,
            head=(width,) * head_depth if width else (),
            sgd=self.sample_sgd(trial, seed),
            **net,
        )

    def sample_sgd(self, trial: Any, seed: int) -> SGDConfig:
        """Define-by-run: draw the SGD hyper-parameters alone (a seed design's, when it brings none)."""
        return SGDConfig(seed=seed, **{name: p.sample(trial, name) for name, p in self.sgd.items()})

    @property
    def max_epochs(self) -> int:
        """The most epochs a trial of this space can train for."""
        epochs = self.sgd.get("epochs", Param("fixed", (SGDConfig().epochs,)))
        if epochs.kind in ("fixed", "choice"):
            return int(max(epochs.values))
        return int(epochs.high)


def resolve_space_path(name_or_path: str | Path | None) -> Path:
    """A YAML path, or the stem of a file in search_spaces/ (default rubric_cnn)."""
    return resolve_yaml(name_or_path or "rubric_cnn", SPACE_DIR, "search space")


def load_space(name_or_path: str | Path | None = None) -> SearchSpace:
    """Load and validate a search-space YAML; any mistake is one line naming the file and key."""
    path = resolve_space_path(name_or_path)
    source = str(path)
    raw = read_yaml(path, "search space")
    if not isinstance(raw, dict):
        raise CodesignError(f"{source}: expected a mapping with `network` and `sgd`")
    check_keys(raw, _TOP_KEYS, source)
    network = raw.get("network") or {}
    check_keys(network, _NETWORK_KEYS, source, "network")
    if "depth" not in network:
        raise ConfigError(source, "network.depth", "missing {field} (number of conv stages, e.g. {int: [2, 5]})")
    stage_raw = network.get("stage") or {}
    check_keys(stage_raw, tuple(_STAGE), source, "network.stage")
    if "channels" not in stage_raw:
        raise ConfigError(source, "network.stage.channels", "missing {field}")
    stage = _params(stage_raw, _STAGE, "network.stage", source)
    overrides = []
    stages_raw = convert(tuple[Any, ...], network.get("stages") or [], source, "network.stages")
    for i, item in enumerate(stages_raw):
        check_keys(item, tuple(_STAGE), source, f"network.stages[{i}]")
        overrides.append(_params(item, _STAGE, f"network.stages[{i}]", source))
    net = _params(
        {k: v for k, v in network.items() if k not in ("depth", "stage", "stages")}, _NETWORK, "network", source
    )
    sgd_raw = raw.get("sgd") or {}
    check_keys(sgd_raw, tuple(_SGD), source, "sgd")
    hardware, base = _hardware(raw.get("hardware"), path)
    objectives = convert(
        tuple[str, ...],
        raw.get("objectives", list(OBJECTIVES[:3])),
        source,
        "objectives",
        limits(choices=OBJECTIVES, min_length=1, items="objective"),
    )
    if len(set(objectives)) != len(objectives):
        raise ConfigError(source, "objectives", f"must list some of {', '.join(OBJECTIVES)} once each")
    if "area" in objectives and hardware is None:
        raise CodesignError(f"{source}: the `area` objective needs a `hardware` section (fixed hardware has one area)")
    return SearchSpace(
        name=convert(str, raw.get("name", path.stem), source, "name"),
        dataset=convert(str, raw.get("dataset", "cifar10"), source, "dataset", limits(choices=tuple(DATASETS))),
        depth=_param(network["depth"], "network.depth", source, _NETWORK["depth"]),
        stage=stage,
        stage_overrides=tuple(overrides),
        network=net,
        sgd=_params(sgd_raw, _SGD, "sgd", source),
        constraints=build(SpaceConstraints, raw.get("constraints") or {}, source, "constraints"),
        hardware=hardware,
        hardware_base=base,
        objectives=objectives,
    )


def _params(raw: dict, targets: dict[str, Target], where: str, source: str) -> dict[str, Param]:
    return {k: _param(v, f"{where}.{k}", source, targets[k]) for k, v in raw.items()}


def _hardware(raw: Any, path: Path) -> tuple[dict[str, Param] | None, str | None]:
    """The `hardware` section: a base arch (a name, or a YAML path relative to the space file) and sizes."""
    source = str(path)
    if raw is None:
        return None, None
    check_keys(raw, (*HARDWARE_FIELDS, "base"), source, "hardware")
    params = _params({k: v for k, v in raw.items() if k != "base"}, _HARDWARE, "hardware", source)
    base = raw.get("base")
    if base is not None:
        base = convert(str, base, source, "hardware.base")
        if Path(base).suffix in (".yaml", ".yml") and not Path(base).is_absolute():
            base = str((path.parent / base).resolve())
    try:
        load_arch(base)
    except CodesignError as exc:
        raise CodesignError(f"{source}: `hardware.base`: {exc}") from None
    return params, base
