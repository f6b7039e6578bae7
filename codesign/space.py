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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from codesign.arch import load_arch
from codesign.data import DATASETS
from codesign.errors import CodesignError
from codesign.hardware import FIELDS as HARDWARE_FIELDS, HardwareParams
from codesign.pareto import COLUMNS
from codesign.network import ACTIVATIONS, CONV_KINDS, POOLS, SCHEDULES, CandidateSpec, ConvStage, SGDConfig
from codesign.yamlfile import read_yaml, resolve_yaml

SPACE_DIR = Path(__file__).resolve().parent.parent / "search_spaces"
_STAGE_FIELDS = {f.name: f for f in dataclasses.fields(ConvStage)}
_SGD_FIELDS = {f.name: f for f in dataclasses.fields(SGDConfig) if f.name != "seed"}
_NETWORK_KEYS = {"depth", "stage", "stages", "head_width", "head_depth", "global_pool", "dropout"}
_TOP_KEYS = {"name", "description", "dataset", "network", "sgd", "hardware", "objectives", "constraints"}
_CONSTRAINT_KEYS = {"max_parameters", "max_layers", "max_area_mm2", "max_pes"}
OBJECTIVES = tuple(COLUMNS)
_ALLOWED = {"kind": CONV_KINDS, "pool": POOLS, "activation": tuple(ACTIVATIONS), "schedule": SCHEDULES}


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

    def options(self) -> tuple:
        """Every value a fixed or choice parameter can take (for checks)."""
        return self.values


def _param(raw: Any, where: str, source: str) -> Param:
    if not isinstance(raw, dict):
        if isinstance(raw, list):
            raise CodesignError(f"{source}: `{where}`: a list is ambiguous; write {{choice: [...]}}")
        return Param("fixed", (raw,))
    kinds = [k for k in ("choice", "int", "float") if k in raw]
    extra = sorted(set(raw) - {"choice", "int", "float", "log", "step"})
    if len(kinds) != 1 or extra:
        bad = f"unknown key `{extra[0]}`" if extra else "needs exactly one of choice, int, float"
        raise CodesignError(f"{source}: `{where}`: {bad} (write {{choice: [...]}}, {{int: [low, high]}} or "
                            f"{{float: [low, high], log: true}})")
    kind = kinds[0]
    body = raw[kind]
    if kind == "choice":
        if not isinstance(body, list) or not body:
            raise CodesignError(f"{source}: `{where}.choice` must be a non-empty list")
        if not all(v is None or isinstance(v, (bool, int, float, str)) for v in body):
            raise CodesignError(f"{source}: `{where}.choice` may hold only numbers, strings, booleans or null")
        return Param("choice", tuple(body))
    if not (isinstance(body, list) and len(body) == 2 and all(isinstance(v, (int, float)) and not isinstance(v, bool)
                                                             for v in body)):
        raise CodesignError(f"{source}: `{where}.{kind}` must be [low, high]")
    low, high = body
    if kind == "int" and not (float(low).is_integer() and float(high).is_integer()):
        raise CodesignError(f"{source}: `{where}.int` bounds must be whole numbers")
    if low > high:
        raise CodesignError(f"{source}: `{where}.{kind}`: low {low} is above high {high}")
    log = bool(raw.get("log", False))
    if log and low <= 0:
        raise CodesignError(f"{source}: `{where}`: a log scale needs low > 0, got {low}")
    step = raw.get("step")
    if step is not None and (log or not isinstance(step, (int, float)) or step <= 0):
        raise CodesignError(f"{source}: `{where}.step` must be a positive number and cannot go with log")
    return Param(kind, (), low, high, log, step)


def _check_options(param: Param, name: str, where: str, source: str) -> None:
    if name in _ALLOWED and param.kind in ("fixed", "choice"):
        for value in param.options():
            if value not in _ALLOWED[name]:
                raise CodesignError(f"{source}: `{where}` value {value!r} is not one of {_ALLOWED[name]}")


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
    max_parameters: int | None = None
    max_layers: int | None = None
    source: str = "<space>"
    hardware: dict[str, Param] | None = None  # None: the fixed --arch (the rubric's mode)
    hardware_base: str | None = None
    objectives: tuple[str, ...] = OBJECTIVES[:3]
    max_area_mm2: float | None = None
    max_pes: int | None = None

    def sample_hardware(self, trial: Any, base: HardwareParams) -> HardwareParams | None:
        """Draw the accelerator's sizes, keeping `base`'s where the space names none (None: fixed hardware)."""
        if self.hardware is None:
            return None
        drawn = {name: int(p.sample(trial, f"hw_{name}")) for name, p in self.hardware.items()}
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
        sgd = {name: p.sample(trial, name) for name, p in self.sgd.items()}
        return CandidateSpec(stages=tuple(stages), input_shape=tuple(input_shape), num_classes=num_classes,
                             head=(width,) * head_depth if width else (), sgd=SGDConfig(seed=seed, **sgd),
                             **net)

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
    _unknown(raw, _TOP_KEYS, "", source)
    network = raw.get("network") or {}
    if not isinstance(network, dict):
        raise CodesignError(f"{source}: `network` must be a mapping")
    _unknown(network, _NETWORK_KEYS, "network", source)
    if "depth" not in network:
        raise CodesignError(f"{source}: missing `network.depth` (number of conv stages, e.g. {{int: [2, 5]}})")
    depth = _param(network["depth"], "network.depth", source)
    lows = depth.values if depth.kind in ("fixed", "choice") else (depth.low,)
    if any(not isinstance(v, (int, float)) or v < 1 for v in lows):
        raise CodesignError(f"{source}: `network.depth` must be at least 1")
    stage_raw = network.get("stage") or {}
    _unknown(stage_raw, set(_STAGE_FIELDS), "network.stage", source)
    if "channels" not in stage_raw:
        raise CodesignError(f"{source}: missing `network.stage.channels`")
    stage = {k: _param(v, f"network.stage.{k}", source) for k, v in stage_raw.items()}
    for k, p in stage.items():
        _check_options(p, k, f"network.stage.{k}", source)
    overrides = []
    for i, item in enumerate(network.get("stages") or []):
        _unknown(item, set(_STAGE_FIELDS), f"network.stages[{i}]", source)
        params = {k: _param(v, f"network.stages[{i}].{k}", source) for k, v in item.items()}
        for k, p in params.items():
            _check_options(p, k, f"network.stages[{i}].{k}", source)
        overrides.append(params)
    net = {k: _param(network[k], f"network.{k}", source)
           for k in ("head_width", "head_depth", "global_pool", "dropout") if k in network}
    sgd_raw = raw.get("sgd") or {}
    _unknown(sgd_raw, set(_SGD_FIELDS), "sgd", source)
    sgd = {k: _param(v, f"sgd.{k}", source) for k, v in sgd_raw.items()}
    for k, p in sgd.items():
        _check_options(p, k, f"sgd.{k}", source)
    constraints = raw.get("constraints") or {}
    _unknown(constraints, _CONSTRAINT_KEYS, "constraints", source)
    hardware, base = _hardware(raw.get("hardware"), path)
    objectives = raw.get("objectives", list(OBJECTIVES[:3]))
    if (not isinstance(objectives, list) or not objectives or any(o not in OBJECTIVES for o in objectives)
            or len(set(objectives)) != len(objectives)):
        raise CodesignError(f"{source}: `objectives` must list some of {', '.join(OBJECTIVES)} once each")
    if "area" in objectives and hardware is None:
        raise CodesignError(f"{source}: the `area` objective needs a `hardware` section (fixed hardware has one area)")
    for key in ("max_area_mm2", "max_pes"):
        value = constraints.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0):
            raise CodesignError(f"{source}: `constraints.{key}` must be a positive number")
    dataset = raw.get("dataset", "cifar10")
    if dataset not in DATASETS:
        raise CodesignError(f"{source}: `dataset` {dataset!r} is not one of {', '.join(DATASETS)}")
    return SearchSpace(name=str(raw.get("name", path.stem)), dataset=dataset, depth=depth, stage=stage,
                       stage_overrides=tuple(overrides), network=net, sgd=sgd,
                       max_parameters=constraints.get("max_parameters"), max_layers=constraints.get("max_layers"),
                       source=source, hardware=hardware, hardware_base=base, objectives=tuple(objectives),
                       max_area_mm2=constraints.get("max_area_mm2"), max_pes=constraints.get("max_pes"))


def _hardware(raw: Any, path: Path) -> tuple[dict[str, Param] | None, str | None]:
    """The `hardware` section: a base arch (a name, or a YAML path relative to the space file) and sizes."""
    source = str(path)
    if raw is None:
        return None, None
    _unknown(raw, set(HARDWARE_FIELDS) | {"base"}, "hardware", source)
    params = {k: _param(v, f"hardware.{k}", source) for k, v in raw.items() if k != "base"}
    for name, p in params.items():
        values = p.options() if p.kind in ("fixed", "choice") else (p.low, p.high)
        if p.kind == "float" or any(isinstance(v, bool) or not isinstance(v, int) or v < 1 for v in values):
            raise CodesignError(f"{source}: `hardware.{name}` takes positive whole numbers")
        try:
            [HardwareParams(**{name: v}) for v in values]
        except CodesignError as exc:
            raise CodesignError(f"{source}: {str(exc).replace('hardware `', '`hardware.')}") from None
    base = raw.get("base")
    if base is not None and not isinstance(base, str):
        raise CodesignError(f"{source}: `hardware.base` must be an arch name or a YAML path")
    if base is not None and Path(base).suffix in (".yaml", ".yml") and not Path(base).is_absolute():
        base = str((path.parent / base).resolve())
    try:
        load_arch(base)
    except CodesignError as exc:
        raise CodesignError(f"{source}: `hardware.base`: {exc}") from None
    return params, base


def _unknown(raw: Any, allowed: set[str], where: str, source: str) -> None:
    if not isinstance(raw, dict):
        raise CodesignError(f"{source}: `{where}` must be a mapping")
    for key in raw:
        if key not in allowed:
            prefix = f"{where}." if where else ""
            raise CodesignError(f"{source}: unknown key `{prefix}{key}` (expected one of: {', '.join(sorted(allowed))})")
