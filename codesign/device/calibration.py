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
fitted by least squares on relative error over `calibrate` networks drawn at random from the shipped search
spaces (their own seed: the benchmark's evaluation networks are drawn with another and checked disjoint).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from codesign.errors import CodesignError

if TYPE_CHECKING:
    from codesign.network import CandidateSpec

CALIBRATION_SEED = 11  # the calibration networks' draw (the benchmark evaluates on seed 2026's)
CALIBRATION_SPACES = ("lenet", "rubric_cnn", "codesign")  # shipped spaces: small CIFAR/MNIST-size CNNs
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


def draw_networks(count: int, seed: int, spaces: Sequence[str] = CALIBRATION_SPACES) -> list[tuple[str, CandidateSpec]]:
    """`count` networks drawn at random from the shipped spaces in turn (as a search draws them): (label, spec)."""
    import optuna

    from codesign.data import DATASETS
    from codesign.space import load_space

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    drawn: list[tuple[str, CandidateSpec]] = []
    per_space = -(-count // len(spaces))
    for offset, name in enumerate(spaces):
        space = load_space(name)
        info = DATASETS[space.dataset]
        study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed + offset))
        kept = tries = 0
        while kept < per_space and tries < 50 * per_space:
            tries += 1
            try:  # a draw that cannot be built is one the search would not train either: draw again
                spec = space.sample(study.ask(), info.input_shape, info.num_classes, seed)
            except CodesignError:
                continue
            drawn.append((f"{name}#{kept}", spec))
            kept += 1
    # interleave the spaces so that a smaller count still samples each of them
    ordered = sorted(drawn, key=lambda item: (int(item[0].rpartition("#")[2]), item[0]))
    return ordered[:count]


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
