"""From a PyTorch model to Timeloop-style layer problems and the lab's peak-activation figure.

Every multiply-accumulate a model does must be costed or refused by name, never left out: while the model
runs once, every torch function it calls is watched, and one that multiplies matrices or convolves (conv,
linear, matmul, einsum, attention, recurrent cells, ...) is accepted only as the work of a Conv2d or Linear
layer, the two codesign costs; anywhere else (inside `nn.MultiheadAttention`, or in a custom `forward`)
the module running it is refused. What torch functions cannot show is not seen: arithmetic done in NumPy,
in a compiled extension or by a module's own C++ code behind a single unwatched call.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import torch
from torch import nn
from torch.overrides import TorchFunctionMode

from codesign.errors import CodesignError

BYTES_PER_ELEMENT = 4  # the lab counts activations as 32-bit values

# Leaf modules that Timeloop never sees; the lab's counter charges their input (norms, activations)
# or nothing (pooling, reshaping, dropout).
_INPUT_ONLY = (
    nn.BatchNorm1d,
    nn.BatchNorm2d,
    nn.GroupNorm,
    nn.LayerNorm,
    nn.ReLU,
    nn.ReLU6,
    nn.LeakyReLU,
    nn.PReLU,
    nn.ELU,
    nn.SELU,
    nn.GELU,
    nn.SiLU,
    nn.Mish,
    nn.Hardswish,
    nn.Hardsigmoid,
    nn.Sigmoid,
    nn.Tanh,
    nn.Softmax,
    nn.LogSoftmax,
)
_FREE = (
    nn.MaxPool2d,
    nn.AvgPool2d,
    nn.AdaptiveAvgPool2d,
    nn.AdaptiveMaxPool2d,
    nn.Flatten,
    nn.Dropout,
    nn.Dropout2d,
    nn.Identity,
    nn.Unflatten,
)
# torchvision residual blocks whose input the lab's counter keeps alive while the block runs
_RESIDUAL_BLOCKS = ("BasicBlock", "Bottleneck")
# torch functions (by name) that do multiply-accumulates; elementwise arithmetic, norms and pooling cost
# nothing in the lab's model, as in Timeloop's
_MAC_FUNCTIONS = frozenset(
    {
        "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d", "conv_transpose3d", "conv_tbc",
        "convolution", "_convolution", "linear", "bilinear", "matmul", "__matmul__", "__rmatmul__", "mm", "bmm",
        "addmm", "addmv", "addbmm", "baddbmm", "addr", "mv", "dot", "vdot", "inner", "outer", "ger", "einsum",
        "tensordot", "chain_matmul", "linalg_multi_dot", "multi_dot", "kron", "scaled_dot_product_attention",
        "multi_head_attention_forward", "lstm", "gru", "rnn_tanh", "rnn_relu", "lstm_cell", "gru_cell",
        "rnn_tanh_cell", "rnn_relu_cell", "embedding_bag",
    }
)  # fmt: skip
# the functions through which the two costed layers do their work
_COSTED = ((nn.Conv2d, frozenset({"conv2d", "convolution", "_convolution"})), (nn.Linear, frozenset({"linear"})))
_SUPPORTED = (
    "codesign profiles Conv2d and Linear layers and knows norms, activations, pooling, Flatten and Dropout; "
    "replace it or build it from those"
)


@dataclass(frozen=True)
class Layer:
    """One Timeloop CNN-layer problem (batch N); Linear is a 1x1 conv, depthwise has no M loop."""

    kind: str  # "conv", "depthwise" or "linear"
    N: int
    C: int
    M: int
    P: int
    Q: int
    R: int
    S: int
    Wstride: int = 1  # pairs with P and R
    Hstride: int = 1  # pairs with Q and S
    Wdilation: int = 1
    Hdilation: int = 1
    count: int = 1
    names: tuple[str, ...] = field(default=(), compare=False)

    @property
    def depthwise(self) -> bool:
        return self.kind == "depthwise"

    @property
    def macs(self) -> int:
        """Multiply-accumulates of one instance of this layer."""
        m = 1 if self.depthwise else self.M
        return self.N * self.C * m * self.P * self.Q * self.R * self.S

    @property
    def key(self) -> tuple:
        """What makes two layers the same problem for the cost model."""
        return (
            self.depthwise,
            self.N,
            self.C,
            self.M,
            self.P,
            self.Q,
            self.R,
            self.S,
            self.Wstride,
            self.Hstride,
            self.Wdilation,
            self.Hdilation,
        )

    @property
    def shape(self) -> str:
        """Short human-readable shape, e.g. `C3 M6 P28 Q28 R5 S5 s1`."""
        m = "" if self.depthwise else f" M{self.M}"
        stride = f" s{self.Wstride}" if self.Wstride == self.Hstride else f" s{self.Wstride}x{self.Hstride}"
        return f"C{self.C}{m} P{self.P} Q{self.Q} R{self.R} S{self.S}{stride}"

    def to_dict(self) -> dict:
        """JSON-friendly description."""
        return {
            "kind": self.kind,
            "N": self.N,
            "C": self.C,
            "M": self.M,
            "P": self.P,
            "Q": self.Q,
            "R": self.R,
            "S": self.S,
            "Wstride": self.Wstride,
            "Hstride": self.Hstride,
            "Wdilation": self.Wdilation,
            "Hdilation": self.Hdilation,
            "count": self.count,
            "names": list(self.names),
            "macs": self.macs,
        }


@dataclass(frozen=True)
class Workload:
    """The profiled layers of a network (identical ones merged, with counts) and its peak activation."""

    layers: tuple[Layer, ...]
    peak_activation_bytes: int
    peak_module: str
    input_shape: tuple[int, ...]
    parameters: int

    @property
    def macs(self) -> int:
        return sum(layer.macs * layer.count for layer in self.layers)


def _pair(value: int | tuple[int, ...]) -> tuple[int, int]:
    return (value, value) if isinstance(value, int) else (int(value[0]), int(value[1]))


def conv_layer(module: nn.Conv2d, out_shape: torch.Size, name: str, batch: int) -> Layer:
    """The Timeloop problem of a Conv2d that produced an output of `out_shape`."""
    (r, s), (sh, sw), (dh, dw) = _pair(module.kernel_size), _pair(module.stride), _pair(module.dilation)
    cin, cout, groups = module.in_channels, module.out_channels, module.groups
    kind = "depthwise" if groups == cin and cout == cin and groups > 1 else "conv"
    # The lab's converter models other grouped convs as dense ones (full C and M).
    return Layer(
        kind=kind,
        N=batch,
        C=cin,
        M=cout,
        P=int(out_shape[2]),
        Q=int(out_shape[3]),
        R=r,
        S=s,
        Wstride=sh,
        Hstride=sw,
        Wdilation=dh,
        Hdilation=dw,
        names=(name,),
    )


def linear_layer(module: nn.Linear, name: str, batch: int) -> Layer:
    """A Linear layer as the 1x1 conv the lab's converter makes of it."""
    return Layer(kind="linear", N=batch, C=module.in_features, M=module.out_features, P=1, Q=1, R=1, S=1, names=(name,))


def merge_identical(layers: list[Layer]) -> tuple[Layer, ...]:
    """Merge layers with the same problem, keeping first-seen order and adding up counts."""
    merged: dict[tuple, Layer] = {}
    for layer in layers:
        seen = merged.get(layer.key)
        if seen is None:
            merged[layer.key] = layer
        else:
            merged[layer.key] = replace(seen, count=seen.count + layer.count, names=seen.names + layer.names)
    return tuple(merged.values())


def _footprint(module: nn.Module, inputs: tuple, output: torch.Tensor) -> int:
    """Bytes the lab's counter charges one leaf module (its input, plus its output for Conv2d and Linear)."""
    x = inputs[0] if inputs else None
    in_bytes = x.numel() * BYTES_PER_ELEMENT if isinstance(x, torch.Tensor) else 0
    if isinstance(module, nn.Conv2d):
        return in_bytes + output.numel() * BYTES_PER_ELEMENT // module.groups
    if isinstance(module, nn.Linear):
        return in_bytes + output.numel() * BYTES_PER_ELEMENT
    if isinstance(module, _INPUT_ONLY):
        return in_bytes
    return 0


class _MacWatch(TorchFunctionMode):
    """Sees every torch function the model calls; refuses multiply-accumulates that no costed layer owns."""

    def __init__(self, tracer: _Tracer):
        super().__init__()
        self.tracer = tracer

    def __torch_function__(self, func: Any, types: Any, args: tuple = (), kwargs: dict | None = None) -> Any:
        name = getattr(func, "__name__", "")
        if name in _MAC_FUNCTIONS:
            self.tracer.check_owner(name)
        return func(*args, **(kwargs or {}))


class _Tracer:
    """Forward hooks that collect a model's layers and its peak activation during one forward pass."""

    def __init__(self, model: nn.Module, batch: int):
        self.batch = batch
        self.names = {module: name or type(module).__name__ for name, module in model.named_modules()}
        self.layers: list[Layer] = []
        self.peak_bytes, self.peak_module = 0, ""
        self.live_block_inputs: list[int] = []  # inputs of the residual blocks running now
        self.running: list[nn.Module] = []  # the modules whose forward is running, outermost first
        self.model = model

    def check_owner(self, function: str) -> None:
        """A multiply-accumulate function was called: only a costed layer may call its own."""
        module = self.running[-1] if self.running else None
        if module is None:
            raise CodesignError(f"the model computes {function} outside its modules, which codesign cannot cost")
        if not any(isinstance(module, kind) and function in own for kind, own in _COSTED):
            who = "the model's own forward" if module is self.model else f"module `{self.names[module]}`"
            raise CodesignError(
                f"{who} ({type(module).__name__}) computes {function} outside a Conv2d or Linear layer, so "
                f"codesign cannot cost it: {_SUPPORTED}"
            )

    def enter(self, module: nn.Module, inputs: tuple) -> None:
        """A module's forward started."""
        self.running.append(module)

    def leave(self, module: nn.Module, inputs: tuple, output: Any) -> None:
        """A module's forward ended."""
        if self.running and self.running[-1] is module:
            self.running.pop()

    def leaf(self, module: nn.Module, inputs: tuple, output: torch.Tensor) -> None:
        """A leaf module ran: record its layer (or refuse it) and its footprint."""
        name = self.names[module]
        if isinstance(module, nn.Conv2d):
            if output.dim() != 4:
                raise CodesignError(
                    f"module `{name}` (Conv2d) got a {output.dim()}-D tensor: give the input shape "
                    f"batch first, e.g. 1,3,32,32"
                )
            self.layers.append(conv_layer(module, output.shape, name, self.batch))
        elif isinstance(module, nn.Linear):
            x = inputs[0] if inputs else None
            if isinstance(x, torch.Tensor) and x.dim() > 2 and x[0].numel() != module.in_features:
                raise CodesignError(
                    f"module `{name}` (Linear) is applied to each of {x[0].numel() // module.in_features} "
                    f"vectors of a {tuple(x.shape)} input; codesign costs a Linear layer on (batch, features) "
                    f"inputs: flatten first, or use a 1x1 Conv2d"
                )
            self.layers.append(linear_layer(module, name, self.batch))
        elif not isinstance(module, _INPUT_ONLY + _FREE):
            raise CodesignError(f"module `{name}` ({type(module).__name__}) is not supported: {_SUPPORTED}")
        size = _footprint(module, inputs, output) + sum(self.live_block_inputs)
        if size > self.peak_bytes:
            self.peak_bytes, self.peak_module = size, name

    def block_start(self, module: nn.Module, inputs: tuple) -> None:
        """A residual block started: its input stays alive until it ends."""
        self.live_block_inputs.append(inputs[0].numel() * BYTES_PER_ELEMENT)

    def block_end(self, module: nn.Module, inputs: tuple, output: torch.Tensor) -> None:
        """A residual block ended."""
        self.live_block_inputs.pop()

    def attach(self, model: nn.Module) -> list:
        """Hook every module (which one runs), every leaf and every torchvision residual block; returns the
        hook handles."""
        handles = []
        for module in model.modules():
            handles.append(module.register_forward_pre_hook(self.enter))
            handles.append(module.register_forward_hook(self.leave))
            if type(module).__name__ in _RESIDUAL_BLOCKS and type(module).__module__.startswith("torchvision"):
                handles.append(module.register_forward_pre_hook(self.block_start))
                handles.append(module.register_forward_hook(self.block_end))
            elif not any(True for _ in module.children()):
                handles.append(module.register_forward_hook(self.leaf))
        return handles


def trace(model: nn.Module, input_shape: tuple[int, ...] = (1, 3, 32, 32)) -> Workload:
    """Run `model` once on zeros (batch 1 as the lab does) and collect its layers and peak activation."""
    if len(input_shape) < 2:
        raise CodesignError(f"input shape {input_shape} must be at least (batch, features)")
    tracer = _Tracer(model, int(input_shape[0]))
    handles = tracer.attach(model)
    was_training = model.training
    try:
        model.eval()
        with torch.no_grad(), _MacWatch(tracer):
            model(torch.zeros(input_shape))
    except CodesignError:
        raise
    except Exception as exc:  # the user's forward may raise anything: name it in one line
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        if not isinstance(exc, RuntimeError) or not first:
            first = f"{type(exc).__name__}: {first}".rstrip(": ")
        raise CodesignError(f"the model does not run on input shape {tuple(input_shape)}: {first}") from None
    finally:
        for handle in handles:
            handle.remove()
        model.train(was_training)
    if not tracer.layers:
        raise CodesignError("the model has no Conv2d or Linear layer to profile")
    return Workload(
        layers=merge_identical(tracer.layers),
        peak_activation_bytes=tracer.peak_bytes,
        peak_module=tracer.peak_module,
        input_shape=tuple(input_shape),
        parameters=sum(p.numel() for p in model.parameters()),
    )
