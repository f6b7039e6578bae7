"""CandidateSpec: a small CNN and its SGD hyper-parameters as plain data, and the nn.Module it builds."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from codesign.config import build, check, limits
from codesign.errors import CodesignError, ConfigError, UnbuildableDesign
from codesign.sgd import SGDConfig

ACTIVATIONS = {
    "relu": nn.ReLU,
    "relu6": nn.ReLU6,
    "leaky_relu": nn.LeakyReLU,
    "silu": nn.SiLU,
    "gelu": nn.GELU,
    "tanh": nn.Tanh,
}
POOLS = ("none", "max", "avg")
CONV_KINDS = ("conv", "separable")  # separable = depthwise 3x3-style conv + pointwise 1x1
_POSITIVE = limits(min=1)


@dataclass(frozen=True)
class ConvStage:
    """One conv block: conv (or depthwise-separable conv), optional batch-norm, activation, pooling."""

    channels: int = field(metadata=_POSITIVE)
    kernel: int = field(default=3, metadata=_POSITIVE)
    stride: int = field(default=1, metadata=_POSITIVE)
    padding: int | None = field(default=None, metadata=limits(min=0))  # None: kernel // 2 ("same" at stride 1)
    kind: str = field(default="conv", metadata=limits(choices=CONV_KINDS))
    batch_norm: bool = True
    activation: str = field(default="relu", metadata=limits(choices=tuple(ACTIVATIONS)))
    pool: str = field(default="none", metadata=limits(choices=POOLS))
    pool_size: int = field(default=2, metadata=_POSITIVE)


@dataclass(frozen=True)
class CandidateSpec:
    """A candidate design: input shape, conv stages, classifier head and its training recipe."""

    stages: tuple[ConvStage, ...] = field(metadata=limits(min_length=1, items="conv stage"))
    input_shape: tuple[int, int, int] = field(default=(3, 32, 32), metadata=_POSITIVE)
    num_classes: int = field(default=10, metadata=limits(min=2))
    head: tuple[int, ...] = field(default=(), metadata=_POSITIVE)  # hidden widths before the output layer
    global_pool: bool = False  # average-pool to 1x1 before the classifier instead of flattening
    dropout: float = field(default=0.0, metadata=limits(min=0, below=1))
    sgd: SGDConfig = field(default_factory=SGDConfig)

    def __post_init__(self) -> None:
        check(self, "spec")
        if spatial_size(self) < 1:
            raise UnbuildableDesign("spec", "", "the stages shrink the image to nothing; use fewer strides or pools")

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-friendly dict."""
        return dataclasses.asdict(self)

    def to_json(self, indent: int | None = 2) -> str:
        """JSON text that `from_json` reads back to an equal spec."""
        return json.dumps(self.to_dict(), indent=indent)

    @classmethod
    def from_dict(cls, data: Any, source: str = "spec") -> CandidateSpec:
        """Build and validate a spec from a parsed JSON/YAML dict (an `about` block of notes is set aside)."""
        if isinstance(data, dict) and "about" in data:  # what an export notes beside the spec (codesign/export.py)
            if not isinstance(data["about"], dict):
                raise ConfigError(source, "about", "{field} must be a mapping of notes (an export writes it)")
            data = {k: v for k, v in data.items() if k != "about"}
        return build(cls, data, source)

    @classmethod
    def from_json(cls, text: str, source: str = "spec") -> CandidateSpec:
        """Parse JSON text into a validated spec."""
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise CodesignError(f"{source}: not valid JSON (line {exc.lineno}: {exc.msg})") from None
        except RecursionError:  # json recurses once per level: a hostile file nests thousands deep
            raise CodesignError(f"{source}: nested too deeply to be a spec") from None
        return cls.from_dict(data, source)

    @classmethod
    def load(cls, path: str | Path) -> CandidateSpec:
        """Read a spec JSON file."""
        path = Path(path)
        if not path.is_file():
            raise CodesignError(f"{path}: spec file not found")
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise CodesignError(f"{path}: not a spec JSON file ({type(exc).__name__}: {exc})") from None
        return cls.from_json(text, str(path))

    def build(self) -> nn.Module:
        """The PyTorch model of this spec."""
        return CandidateNet(self)


def spatial_size(spec: CandidateSpec) -> int:
    """Height (= width for square inputs) of the feature map after the last stage."""
    h = min(spec.input_shape[1:])
    for st in spec.stages:
        pad = st.kernel // 2 if st.padding is None else st.padding
        h = (h + 2 * pad - st.kernel) // st.stride + 1
        if st.pool != "none" and h >= 1:
            h = h // st.pool_size
    return h


class CandidateNet(nn.Module):
    """A plain feed-forward CNN: `features` (conv stages) then `classifier`."""

    def __init__(self, spec: CandidateSpec):
        super().__init__()
        layers: list[nn.Module] = []
        channels = spec.input_shape[0]
        for st in spec.stages:
            pad = st.kernel // 2 if st.padding is None else st.padding
            if st.kind == "separable":
                layers.append(
                    nn.Conv2d(channels, channels, st.kernel, st.stride, pad, groups=channels, bias=not st.batch_norm)
                )
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
            # eval mode: a batch of one cannot pass BatchNorm in training mode when the map is down to 1x1
            with torch.no_grad():
                width = self.features.eval()(torch.zeros(1, *spec.input_shape)).numel()
            self.features.train()
        head.append(nn.Flatten())
        for hidden in spec.head:
            head += [nn.Linear(width, hidden), nn.ReLU()]
            if spec.dropout:
                head.append(nn.Dropout(spec.dropout))
            width = hidden
        head.append(nn.Linear(width, spec.num_classes))
        self.classifier = nn.Sequential(*head)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits of a batch of images."""
        return self.classifier(self.features(x))
