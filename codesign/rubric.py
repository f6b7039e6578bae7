"""The lab's rubric as data: training rules, hard constraints and the points table (YAML-overridable)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from codesign.arch import resolve_arch_path
from codesign.config import build, limits
from codesign.errors import CodesignError, ConfigError
from codesign.yamlfile import read_yaml

PJ_PER_MJ = 1e9


_TABLE = limits(min_length=1)


@dataclass(frozen=True)
class Rubric:
    """Rules, limits and points. Thresholds are strict upper bounds: value < threshold earns points.

    codesign always trains as the lab's rules say (SGD only, no augmentation, no pre-trained weights,
    hyper-parameters chosen on a validation split); a rubric file may state those rules but not change them.
    """

    name: str = "lab-2023"
    # training rules
    optimizer: str = field(default="sgd", metadata=limits(choices=("sgd",)))  # codesign trains with SGD only
    max_epochs: int = field(default=29, metadata=limits(min=1))  # "fewer than 30 epochs"
    augmentation: bool = field(default=False, metadata=limits(choices=(False,)))
    pretrained: bool = field(default=False, metadata=limits(choices=(False,)))
    # hard constraints
    peak_activation_limit_bytes: int = field(default=1_000_000, metadata=limits(min=1))  # 1 MB = 10^6 B
    max_test_error: float = field(default=0.50, metadata=limits(above=0, max=1))
    # points: [threshold, points], best first
    error_points: tuple[tuple[float, int], ...] = field(
        default=((0.20, 60), (0.30, 50), (0.40, 40), (0.50, 30)), metadata=_TABLE
    )
    energy_points_mj: tuple[tuple[float, int], ...] = field(
        default=((0.5, 20), (1.0, 15), (1.5, 10), (2.0, 5)), metadata=_TABLE
    )
    latency_points_cycles: tuple[tuple[float, int], ...] = field(
        default=((1e5, 20), (2.5e5, 15), (5e5, 10), (1e6, 5)), metadata=_TABLE
    )
    accelerator: str = "simple_weight_stationary"  # the arch the points are defined on: the default --arch

    @property
    def max_points(self) -> int:
        return sum(table[0][1] for table in (self.error_points, self.energy_points_mj, self.latency_points_cycles))

    def points_for_error(self, error: float) -> int:
        """Points for a test (or validation) error rate given as a fraction."""
        return _lookup(self.error_points, error)

    def points_for_energy(self, energy_pj: float) -> int:
        """Points for an inference energy in pJ (the table is in mJ)."""
        return _lookup(self.energy_points_mj, energy_pj / PJ_PER_MJ)

    def points_for_latency(self, cycles: float) -> int:
        """Points for an inference latency in cycles."""
        return _lookup(self.latency_points_cycles, cycles)

    def peak_ok(self, peak_bytes: float) -> bool:
        """Whether a peak activation (bytes) meets the hard limit."""
        return peak_bytes < self.peak_activation_limit_bytes

    def score(self, error: float | None, energy_pj: float, cycles: float, peak_bytes: float) -> Score:
        """Points of a design; a broken hard constraint scores 0 in total."""
        e_pts = self.points_for_energy(energy_pj)
        l_pts = self.points_for_latency(cycles)
        a_pts = None if error is None else self.points_for_error(error)
        feasible = self.peak_ok(peak_bytes) and (error is None or error < self.max_test_error)
        total = (a_pts or 0) + e_pts + l_pts if feasible else 0
        return Score(error_points=a_pts, energy_points=e_pts, latency_points=l_pts, total=total, feasible=feasible)


@dataclass(frozen=True)
class Score:
    """Rubric points of one design (error_points is None when no accuracy is known yet)."""

    error_points: int | None
    energy_points: int
    latency_points: int
    total: int
    feasible: bool

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form."""
        return dataclasses.asdict(self)


def _lookup(table: tuple[tuple[float, int], ...], value: float) -> int:
    for threshold, points in table:
        if value < threshold:
            return points
    return 0


def load_rubric(path: str | Path | None = None) -> Rubric:
    """The default lab rubric, or one overridden field by field from a YAML file."""
    if path is None:
        return Rubric()
    path = Path(path)
    data = read_yaml(path, "rubric")
    rubric = build(Rubric, {} if data is None else data, str(path))
    try:
        resolve_arch_path(rubric.accelerator)
    except CodesignError as exc:
        raise ConfigError(str(path), "accelerator", f"{{field}}: {exc}") from None
    return rubric
