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

    def bands(self, error: float | None, energy_pj: float, cycles: float) -> list[Band]:
        """Each objective's band and the distance to the next one (error only when an error rate is known)."""
        shown = [] if error is None else [band(self.error_points, error, "error")]
        return [
            *shown,
            band(self.energy_points_mj, energy_pj / PJ_PER_MJ, "energy"),
            band(self.latency_points_cycles, cycles, "latency"),
        ]

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
class Band:
    """Where a value stands in one points table, and what the next better band asks of it."""

    objective: str  # error, energy (mJ) or latency (cycles): the table's unit
    value: float
    points: int  # what the value earns now
    threshold: float | None  # the next better band's bound (value must be below it); None at the top band
    next_points: int | None

    @property
    def change(self) -> float | None:
        """How much lower the value must go to reach the next band: a fraction of the value (energy, latency)
        or of the error rate's points (error: threshold and value are fractions, so this is absolute)."""
        if self.threshold is None:
            return None
        if self.objective == "error":
            return self.value - self.threshold
        return 1.0 - self.threshold / self.value if self.value > 0 else 0.0

    def describe(self) -> str:
        """E.g. `15 pts; -19 % to 20` or `20 pts (top)`: the points and the step to the next band."""
        if self.threshold is None or self.next_points is None:
            return f"{self.points} pts (top)"
        change = self.change or 0.0
        step = f"+{change * 100:.1f} pt accuracy" if self.objective == "error" else f"-{change:.0%}"
        return f"{self.points} pts; {step} to {self.next_points}"


def band(table: tuple[tuple[float, int], ...], value: float, objective: str) -> Band:
    """The band `value` is in (a table's thresholds are strict upper bounds, best first) and the next one up."""
    points = _lookup(table, value)
    better = [(t, p) for t, p in table if p > points]
    threshold, next_points = min(better, key=lambda b: b[1]) if better else (None, None)  # the nearest better one
    return Band(objective, value, points, threshold, next_points)


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
