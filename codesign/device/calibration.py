"""The latency table's correction for how segments run inside a network, fitted once per device on whole networks.

A segment timed alone is not the same work as that segment inside a network, and the difference is not a fixed
per-call cost (measured on a 2-core Xeon, 45 networks, benchmarks/bench_latency.py):
- ONNX Runtime: a segment alone converts its input into the runtime's blocked layout (NCHWc) and its output back,
  and copies both through host memory; inside a network that happens once, at the network's ends. The sum of
  segments is too high by a cost that grows with the activations crossing each segment's boundary.
- PyTorch eager: a segment called back to back keeps its weights, its code path and its buffers hot; inside a
  network each layer's weights were pushed out by the others'. The sum is too low by a share of the compute
  (~18 %); keeping a layer's weights cold (rotating copies through the cache) explained about half of it.
So the prediction is corrected, per device fingerprint, by a line fitted to whole networks timed once:
    network ≈ per-call cost + c0 + c1 · Σ segments (less the per-call cost each) + c2 · segment calls
              + c3 · activation elements in and out of the segments (millions),
fitted by least squares on relative error over `calibrate` small CNNs drawn at random from a family of the
calibration's own (wider than the shipped search spaces, which the benchmark's evaluation networks are drawn from,
checked disjoint).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from codesign.errors import CodesignError

if TYPE_CHECKING:
    from codesign.network import CandidateSpec

CALIBRATION_SEED = 11  # the calibration networks' draw
CALIBRATION_VERSION = 1  # bump when the calibration's networks or features change: a cached fit is then redone
FEATURES = ("constant", "segments_ms", "segment_calls", "activations_m")


@dataclass(frozen=True)
class Calibration:
    """The fitted correction of one table at one batch size: coefficients of FEATURES, and how well it fitted (in
    sample)."""

    coefficients: tuple[float, ...]
    networks: int  # whole networks it was fitted on
    seed: int
    fit_within10: float  # share of those networks predicted within ±10 % after the fit (in sample)
    load: float = 0.0  # the highest 1-minute load average seen while timing them

    def apply(self, overhead_ms: float, features: Sequence[float]) -> float:
        """The corrected latency (ms): the per-call cost plus the fitted line, never below the per-call cost."""
        line = sum(c * f for c, f in zip(self.coefficients, features))
        return overhead_ms + max(0.0, line)

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form (as stored in the latency cache)."""
        return {**asdict(self), "coefficients": list(self.coefficients)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Calibration:
        """Read back what to_dict wrote."""
        return cls(
            tuple(float(c) for c in data["coefficients"]),
            int(data["networks"]),
            int(data["seed"]),
            float(data["fit_within10"]),
            float(data.get("load", 0.0)),
        )


def draw_networks(count: int, seed: int = CALIBRATION_SEED) -> list[tuple[str, CandidateSpec]]:
    """`count` small CNNs drawn at random for the calibration: (label, spec). A family of its own, wider than the
    shipped spaces (MNIST- and CIFAR-size inputs, 1-6 stages of 4-128 channels, 1x1 to 5x5 kernels, strides,
    separable convolutions, with or without batch norm, six activations, both poolings, 0-2 hidden layers or a
    global pool), so that the correction is not fitted to the networks a benchmark draws from those spaces."""
    import random

    from codesign.network import ACTIVATIONS, CandidateSpec, ConvStage

    rng = random.Random(seed)
    drawn: list[tuple[str, CandidateSpec]] = []
    while len(drawn) < count:
        stages = tuple(
            ConvStage(
                rng.choice((4, 8, 16, 24, 32, 48, 64, 96, 128)),
                kernel=rng.choice((1, 3, 3, 5)),
                stride=rng.choice((1, 1, 1, 2)),
                kind=rng.choice(("conv", "conv", "conv", "separable")),
                batch_norm=rng.random() < 0.7,
                activation=rng.choice(("relu", "relu", "relu", *ACTIVATIONS)),
                pool=rng.choice(("none", "none", "max", "avg")),
            )
            for _ in range(rng.randint(1, 6))
        )
        head = tuple(rng.choice((16, 32, 64, 84, 120, 128, 256)) for _ in range(rng.choice((0, 0, 1, 1, 2))))
        try:  # one that shrinks the image to nothing is drawn again, as a search would
            spec = CandidateSpec(
                stages=stages,
                input_shape=rng.choice(((1, 28, 28), (3, 32, 32))),
                head=head,
                global_pool=rng.random() < 0.3,
            )
        except CodesignError:
            continue
        drawn.append((f"calibration#{len(drawn)}", spec))
    return drawn


def fit(
    features: Sequence[Sequence[float]], excess_ms: Sequence[float], measured_ms: Sequence[float]
) -> tuple[float, ...]:
    """Least-squares coefficients of FEATURES for `excess_ms` (measured less the per-call cost), each network
    weighted by 1 / its measured latency (the error that matters is relative)."""
    import numpy as np

    weights = 1.0 / np.asarray(measured_ms, dtype=float)
    x = np.asarray(features, dtype=float) * weights[:, None]
    y = np.asarray(excess_ms, dtype=float) * weights
    coefficients, *_ = np.linalg.lstsq(x, y, rcond=None)
    if not all(math.isfinite(c) for c in coefficients):
        raise CodesignError("the latency table's calibration did not fit: time it again on quieter cores")
    return tuple(float(c) for c in coefficients)
