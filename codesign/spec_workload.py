"""A CandidateSpec's workload from its shapes alone, without building the model.

`workload.trace(spec.build(), ...)` builds the network and runs it once (tens of milliseconds); a sampler that
screens thousands of candidate designs per trial cannot afford that. This follows CandidateNet's structure
(codesign/network.py) and the lab's peak-activation rules (codesign/workload.py) in arithmetic, in tens of
microseconds; tests/test_spec_workload.py checks that it equals `trace` exactly on every kind of stage.
"""

from __future__ import annotations

from codesign.network import CandidateSpec
from codesign.workload import BYTES_PER_ELEMENT, Layer, Workload, merge_identical


class _Walk:
    """CandidateNet's leaf modules in forward order: the layers they make, their footprints and parameters."""

    def __init__(self) -> None:
        self.layers: list[Layer] = []
        self.parameters = 0
        self.peak, self.peak_module = 0, ""
        self.index = {"features": 0, "classifier": 0}

    def module(self, part: str, footprint_bytes: int) -> str:
        """The next leaf module of `features` or `classifier` ran, charged `footprint_bytes`; its name."""
        name = f"{part}.{self.index[part]}"
        self.index[part] += 1
        if footprint_bytes > self.peak:
            self.peak, self.peak_module = footprint_bytes, name
        return name

    def conv(
        self, c: int, m: int, hw: tuple[int, int], k: int, stride: int, pad: int, groups: int, bias: bool
    ) -> tuple[int, int]:
        """A Conv2d on a (c, h, w) input; returns the output's (h, w)."""
        h, w = ((d + 2 * pad - k) // stride + 1 for d in hw)
        # the lab's counter: input plus output / groups
        name = self.module("features", c * hw[0] * hw[1] * BYTES_PER_ELEMENT + m * h * w * BYTES_PER_ELEMENT // groups)
        kind = "depthwise" if groups == c and m == c and groups > 1 else "conv"
        self.layers.append(Layer(kind, 1, c, m, h, w, k, k, stride, stride, names=(name,)))
        self.parameters += m * (c // groups) * k * k + (m if bias else 0)
        return h, w

    def norm_and_activation(self, c: int, hw: tuple[int, int], batch_norm: bool) -> None:
        """BatchNorm (when used) and the activation: each charged its input."""
        if batch_norm:
            self.module("features", c * hw[0] * hw[1] * BYTES_PER_ELEMENT)
            self.parameters += 2 * c
        self.module("features", c * hw[0] * hw[1] * BYTES_PER_ELEMENT)

    def linear(self, c: int, m: int) -> None:
        """A Linear layer, charged its input and output."""
        name = self.module("classifier", (c + m) * BYTES_PER_ELEMENT)
        self.layers.append(Layer("linear", 1, c, m, 1, 1, 1, 1, names=(name,)))
        self.parameters += c * m + m


def spec_workload(spec: CandidateSpec) -> Workload:
    """What `trace(spec.build(), (1, *spec.input_shape))` returns, computed from the spec's shapes."""
    walk = _Walk()
    c, hw = spec.input_shape[0], (spec.input_shape[1], spec.input_shape[2])
    for st in spec.stages:
        pad = st.kernel // 2 if st.padding is None else st.padding
        bias = not st.batch_norm
        if st.kind == "separable":
            hw = walk.conv(c, c, hw, st.kernel, st.stride, pad, c, bias)
            walk.norm_and_activation(c, hw, st.batch_norm)
            hw = walk.conv(c, st.channels, hw, 1, 1, 0, 1, bias)
        else:
            hw = walk.conv(c, st.channels, hw, st.kernel, st.stride, pad, 1, bias)
        c = st.channels
        walk.norm_and_activation(c, hw, st.batch_norm)
        if st.pool != "none":
            walk.module("features", 0)  # pooling
            hw = (hw[0] // st.pool_size, hw[1] // st.pool_size)
    if spec.global_pool:
        walk.module("classifier", 0)  # AdaptiveAvgPool2d
        width = c
    else:
        width = c * hw[0] * hw[1]
    walk.module("classifier", 0)  # Flatten
    for hidden in spec.head:
        walk.linear(width, hidden)
        walk.module("classifier", hidden * BYTES_PER_ELEMENT)  # ReLU
        if spec.dropout:
            walk.module("classifier", 0)  # Dropout
        width = hidden
    walk.linear(width, spec.num_classes)
    return Workload(
        layers=merge_identical(walk.layers),
        peak_activation_bytes=walk.peak,
        peak_module=walk.peak_module,
        input_shape=(1, *spec.input_shape),
        parameters=walk.parameters,
    )
