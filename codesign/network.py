"""CandidateSpec: a small CNN and its SGD hyper-parameters as plain data, and the nn.Module it builds."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from codesign.errors import CodesignError

ACTIVATIONS = {"relu": nn.ReLU, "relu6": nn.ReLU6, "leaky_relu": nn.LeakyReLU, "silu": nn.SiLU,
               "gelu": nn.GELU, "tanh": nn.Tanh}
POOLS = ("none", "max", "avg")
CONV_KINDS = ("conv", "separable")  # separable = depthwise 3x3-style conv + pointwise 1x1
SCHEDULES = ("constant", "step", "cosine", "onecycle")


@dataclass(frozen=True)
class ConvStage:
    """One conv block: conv (or depthwise-separable conv), optional batch-norm, activation, pooling."""

    channels: int
    kernel: int = 3
    stride: int = 1
    padding: int | None = None  # None: kernel // 2 ("same" for odd kernels at stride 1)
    kind: str = "conv"
    batch_norm: bool = True
    activation: str = "relu"
    pool: str = "none"
    pool_size: int = 2


@dataclass(frozen=True)
class SGDConfig:
    """SGD hyper-parameters; the rubric allows nothing but SGD."""

    lr: float = 0.05
    momentum: float = 0.9
    nesterov: bool = True
    weight_decay: float = 5e-4
    batch_size: int = 128
    epochs: int = 10
    schedule: str = "cosine"
    warmup_epochs: float = 0.0
    seed: int = 0


@dataclass(frozen=True)
class CandidateSpec:
    """A candidate design: input shape, conv stages, classifier head and its training recipe."""

    stages: tuple[ConvStage, ...]
    input_shape: tuple[int, int, int] = (3, 32, 32)
    num_classes: int = 10
    head: tuple[int, ...] = ()  # hidden widths of the classifier before the output layer
    global_pool: bool = False  # average-pool to 1x1 before the classifier instead of flattening
    dropout: float = 0.0
    sgd: SGDConfig = field(default_factory=SGDConfig)

    def __post_init__(self) -> None:
        validate(self)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-friendly dict."""
        return dataclasses.asdict(self)

    def to_json(self, indent: int | None = 2) -> str:
        """JSON text that `from_json` reads back to an equal spec."""
        return json.dumps(self.to_dict(), indent=indent)

    @classmethod
    def from_dict(cls, data: Any, source: str = "spec") -> "CandidateSpec":
        """Build and validate a spec from a parsed JSON/YAML dict."""
        return _from_dict(data, source)

    @classmethod
    def from_json(cls, text: str, source: str = "spec") -> "CandidateSpec":
        """Parse JSON text into a validated spec."""
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise CodesignError(f"{source}: not valid JSON (line {exc.lineno}: {exc.msg})") from None
        return _from_dict(data, source)

    @classmethod
    def load(cls, path: str | Path) -> "CandidateSpec":
        """Read a spec JSON file."""
        path = Path(path)
        if not path.is_file():
            raise CodesignError(f"{path}: spec file not found")
        return cls.from_json(path.read_text(), str(path))

    def build(self) -> nn.Module:
        """The PyTorch model of this spec."""
        return CandidateNet(self)


def _check(ok: bool, source: str, message: str) -> None:
    if not ok:
        raise CodesignError(f"{source}: {message}")


def validate(spec: CandidateSpec, source: str = "spec") -> None:
    """Raise CodesignError naming the first field that makes no sense."""
    _check(len(spec.input_shape) == 3 and all(isinstance(v, int) and v > 0 for v in spec.input_shape),
           source, f"`input_shape` must be 3 positive integers (channels, height, width), got {spec.input_shape}")
    _check(isinstance(spec.num_classes, int) and spec.num_classes >= 2, source, "`num_classes` must be >= 2")
    _check(len(spec.stages) >= 1, source, "`stages` must hold at least one conv stage")
    _check(0.0 <= spec.dropout < 1.0, source, f"`dropout` must be in [0, 1), got {spec.dropout}")
    _check(all(isinstance(w, int) and w > 0 for w in spec.head), source, "`head` widths must be positive integers")
    for i, st in enumerate(spec.stages):
        where = f"{source}: `stages[{i}]"
        _check(isinstance(st.channels, int) and st.channels > 0, where + ".channels`", "must be a positive integer")
        _check(isinstance(st.kernel, int) and st.kernel > 0, where + ".kernel`", "must be a positive integer")
        _check(isinstance(st.stride, int) and st.stride > 0, where + ".stride`", "must be a positive integer")
        _check(st.padding is None or (isinstance(st.padding, int) and st.padding >= 0), where + ".padding`",
               "must be a non-negative integer or null")
        _check(st.kind in CONV_KINDS, where + ".kind`", f"must be one of {CONV_KINDS}, got {st.kind!r}")
        _check(st.activation in ACTIVATIONS, where + ".activation`",
               f"must be one of {tuple(ACTIVATIONS)}, got {st.activation!r}")
        _check(st.pool in POOLS, where + ".pool`", f"must be one of {POOLS}, got {st.pool!r}")
        _check(isinstance(st.pool_size, int) and st.pool_size >= 1, where + ".pool_size`", "must be >= 1")
    sgd = spec.sgd
    _check(sgd.lr > 0, source, "`sgd.lr` must be > 0")
    _check(0 <= sgd.momentum < 1, source, "`sgd.momentum` must be in [0, 1)")
    _check(not sgd.nesterov or sgd.momentum > 0, source, "`sgd.nesterov` needs `sgd.momentum` > 0")
    _check(sgd.weight_decay >= 0, source, "`sgd.weight_decay` must be >= 0")
    _check(isinstance(sgd.batch_size, int) and sgd.batch_size >= 1, source, "`sgd.batch_size` must be >= 1")
    _check(isinstance(sgd.epochs, int) and sgd.epochs >= 1, source, "`sgd.epochs` must be >= 1")
    _check(sgd.schedule in SCHEDULES, source, f"`sgd.schedule` must be one of {SCHEDULES}, got {sgd.schedule!r}")
    _check(0 <= sgd.warmup_epochs <= sgd.epochs, source, "`sgd.warmup_epochs` must be in [0, epochs]")
    _check(spatial_size(spec) >= 1, source, "the stages shrink the image to nothing; use fewer strides or pools")


def spatial_size(spec: CandidateSpec) -> int:
    """Height (= width for square inputs) of the feature map after the last stage."""
    h = min(spec.input_shape[1:])
    for st in spec.stages:
        pad = st.kernel // 2 if st.padding is None else st.padding
        h = (h + 2 * pad - st.kernel) // st.stride + 1
        if st.pool != "none" and h >= 1:
            h = h // st.pool_size
    return h


def _from_dict(data: Any, source: str) -> CandidateSpec:
    def build(cls: type, raw: Any, where: str) -> Any:
        if not isinstance(raw, dict):
            raise CodesignError(f"{source}: `{where}` must be an object")
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(raw) - names)
        if unknown:
            prefix = f"{where}." if where else ""
            raise CodesignError(f"{source}: unknown field `{prefix}{unknown[0]}` "
                                f"(expected one of: {', '.join(sorted(names))})")
        return raw

    raw = build(CandidateSpec, data, "")
    if "stages" not in raw:
        raise CodesignError(f"{source}: missing field `stages`")
    stages = []
    for i, st in enumerate(raw["stages"] or []):
        fields = build(ConvStage, st, f"stages[{i}]")
        if "channels" not in fields:
            raise CodesignError(f"{source}: missing field `stages[{i}].channels`")
        try:
            stages.append(ConvStage(**fields))
        except TypeError as exc:
            raise CodesignError(f"{source}: `stages[{i}]`: {exc}") from None
    kwargs = {k: v for k, v in raw.items() if k not in ("stages", "sgd")}
    for key in ("input_shape", "head"):
        if key in kwargs:
            kwargs[key] = tuple(kwargs[key])
    sgd = SGDConfig(**build(SGDConfig, raw.get("sgd", {}), "sgd"))
    try:
        return CandidateSpec(stages=tuple(stages), sgd=sgd, **kwargs)
    except TypeError as exc:
        raise CodesignError(f"{source}: {exc}") from None
    except CodesignError as exc:  # __post_init__ names the spec generically; name the file instead
        raise CodesignError(f"{source}:{str(exc).removeprefix('spec:')}") from None


class CandidateNet(nn.Module):
    """A plain feed-forward CNN: `features` (conv stages) then `classifier`."""

    def __init__(self, spec: CandidateSpec):
        super().__init__()
        layers: list[nn.Module] = []
        channels = spec.input_shape[0]
        for st in spec.stages:
            pad = st.kernel // 2 if st.padding is None else st.padding
            if st.kind == "separable":
                layers.append(nn.Conv2d(channels, channels, st.kernel, st.stride, pad, groups=channels,
                                        bias=not st.batch_norm))
                if st.batch_norm:
                    layers.append(nn.BatchNorm2d(channels))
                layers.append(ACTIVATIONS[st.activation]())
                layers.append(nn.Conv2d(channels, st.channels, 1, bias=not st.batch_norm))
            else:
                layers.append(nn.Conv2d(channels, st.channels, st.kernel, st.stride, pad, bias=not st.batch_norm))
            if st.batch_norm:
                layers.append(nn.BatchNorm2d(st.channels))
            layers.append(ACTIVATIONS[st.activation]())
            if st.pool == "max":
                layers.append(nn.MaxPool2d(st.pool_size))
            elif st.pool == "avg":
                layers.append(nn.AvgPool2d(st.pool_size))
            channels = st.channels
        self.features = nn.Sequential(*layers)
        head: list[nn.Module] = []
        if spec.global_pool:
            head.append(nn.AdaptiveAvgPool2d(1))
            width = channels
        else:
            with torch.no_grad():
                width = self.features(torch.zeros(1, *spec.input_shape)).numel()
        head.append(nn.Flatten())
        for hidden in spec.head:
            head += [nn.Linear(width, hidden), nn.ReLU()]
            if spec.dropout:
                head.append(nn.Dropout(spec.dropout))
            width = hidden
        head.append(nn.Linear(width, spec.num_classes))
        self.classifier = nn.Sequential(*head)

    def forward(self, x):
        return self.classifier(self.features(x))
