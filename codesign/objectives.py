"""The objectives a search can have and where each lives in trials.csv: one table, read by the search's settings,
spaces, the front and the report (imports nothing heavy, so settings and `codesign --help` stay light)."""

from __future__ import annotations

# objective name (as a space's `objectives` lists it) -> (trials.csv column, direction)
COLUMNS = {
    "accuracy": ("val_accuracy", "max"),
    "energy": ("energy_pj", "min"),
    "latency": ("cycles", "min"),
    "area": ("area_mm2", "min"),
    "device_latency": ("device_latency_ms", "min"),  # measured on the device (codesign/device), milliseconds
}
DEVICE_LATENCY = "device_latency"  # the objective timed on a real device rather than costed on the accelerator
OBJECTIVES: tuple[tuple[str, str], ...] = tuple(COLUMNS[k] for k in ("accuracy", "energy", "latency"))


def objective_columns(names: tuple[str, ...] | list[str]) -> tuple[tuple[str, str], ...]:
    """(column, direction) of each named objective."""
    return tuple(COLUMNS[name] for name in names)
