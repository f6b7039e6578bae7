"""Parse `timeloop-mapper.stats.txt`: summary energy/cycles and per-level, per-tensor access counts."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from codesign.errors import CodesignError

_LEVEL = re.compile(r"^=== (\S+) ===$")
_TENSOR = re.compile(r"^    (Weights|Inputs|Outputs):$")
_FIELD = re.compile(r"^\s+(.+?)\s+:\s+(-?\d[\d.e+-]*)")
_COUNTS = {
    "Scalar reads (per-instance)": "reads",
    "Scalar fills (per-instance)": "fills",
    "Scalar updates (per-instance)": "updates",
    "Utilized instances (max)": "instances",
    "Partition size": "partition",
    "Energy (total)": "energy_pj",
}


@dataclass
class TimeloopStats:
    """What codesign reads from one Timeloop run: totals and per (level, tensor) counts."""

    cycles: int
    energy_pj: float
    utilization: float
    computes: int
    level_energy_pj: dict[str, float] = field(default_factory=dict)
    counts: dict[tuple[str, str], dict[str, float]] = field(default_factory=dict)


def parse_stats(text: str, source: str = "timeloop-mapper.stats.txt") -> TimeloopStats:
    """Parse the text of a Timeloop stats file."""
    level = tensor = None
    counts: dict[tuple[str, str], dict[str, float]] = {}
    level_energy: dict[str, float] = {}
    mac_energy = cycles = computes = None
    for line in text.splitlines():
        if line.startswith("Networks"):
            break  # network stats repeat tensor names but add no energy
        match = _LEVEL.match(line)
        if match:
            level, tensor = match.group(1), None
            continue
        match = _TENSOR.match(line)
        if match and level:
            tensor = match.group(1)
            counts[(level, tensor)] = {}
            continue
        match = _FIELD.match(line)
        if not match or level is None:
            continue
        name, value = match.group(1), float(match.group(2))
        if level == "mac":
            if name == "Energy (total)":
                mac_energy = value
            elif name == "Cycles":
                cycles = int(value)
            elif name == "Computes (total)":
                computes = int(value)
        elif tensor and name in _COUNTS:
            counts[(level, tensor)][_COUNTS[name]] = value
    if mac_energy is None or cycles is None:
        raise CodesignError(f"{source}: no `=== mac ===` block with Cycles and Energy: not a Timeloop stats file")
    level_energy["mac"] = mac_energy
    for (lv, _), values in counts.items():
        level_energy[lv] = level_energy.get(lv, 0.0) + values.get("energy_pj", 0.0)
    summary = re.search(r"^Utilization: ([\d.]+)", text, re.M)
    # The mac level's cycles ignore bandwidth; the summary's are the slowest level's (what Timeloop reports).
    overall = re.search(r"^Cycles: (\d+)", text, re.MULTILINE)
    cycles = int(overall.group(1)) if overall else cycles
    return TimeloopStats(
        cycles=cycles,
        energy_pj=sum(level_energy.values()),
        utilization=float(summary.group(1)) if summary else 0.0,
        computes=computes or 0,
        level_energy_pj=level_energy,
        counts=counts,
    )


def load_stats(path: str | Path) -> TimeloopStats:
    """Parse a Timeloop stats file from disk."""
    path = Path(path)
    if not path.is_file():
        raise CodesignError(f"{path}: Timeloop stats file not found")
    return parse_stats(path.read_text(), str(path))
