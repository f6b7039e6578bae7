"""Pareto fronts over accuracy, energy, latency (and, in a joint search, area), and their hypervolume."""

from __future__ import annotations

import numpy as np
import pandas as pd

from codesign.objectives import COLUMNS as COLUMNS  # re-exported: their owner is codesign/objectives.py
from codesign.objectives import OBJECTIVES as OBJECTIVES
from codesign.objectives import objective_columns as objective_columns
from codesign.status import Status

Objectives = tuple[tuple[str, str], ...]  # (trials.csv column, direction) of each objective

COMPLETE = Status.OK  # the status of a fully trained, feasible trial: the only kind a front may hold


def as_minimization(df: pd.DataFrame, objectives: Objectives = OBJECTIVES) -> np.ndarray:
    """(rows, objectives) array where smaller is better in every column."""
    cols = [df[name].to_numpy(dtype=float) * (-1.0 if sense == "max" else 1.0) for name, sense in objectives]
    return np.stack(cols, axis=1) if cols else np.zeros((len(df), 0))


def non_dominated(points: np.ndarray) -> np.ndarray:
    """Mask of the rows no other row dominates (all objectives minimised; duplicates are all kept)."""
    n = len(points)
    keep = np.ones(n, dtype=bool)
    for i in range(n):
        no_worse = np.all(points <= points[i], axis=1)
        better = np.any(points < points[i], axis=1)
        if np.any(no_worse & better):
            keep[i] = False
    return keep


def eligible(df: pd.DataFrame, objectives: Objectives = OBJECTIVES) -> pd.DataFrame:
    """Trials that may enter a front: complete, feasible, finite objectives."""
    if df.empty or "status" not in df or any(name not in df for name, _ in objectives):
        return df.iloc[0:0]
    ok = df["status"] == COMPLETE
    for name, _ in objectives:
        ok &= np.isfinite(pd.to_numeric(df[name], errors="coerce"))
    return df[ok]


def pareto_front(df: pd.DataFrame, objectives: Objectives = OBJECTIVES) -> pd.DataFrame:
    """The non-dominated complete trials, best accuracy first."""
    pool = eligible(df, objectives)
    if pool.empty:
        return pool
    front = pool[non_dominated(as_minimization(pool, objectives))]
    return front.sort_values(objectives[0][0], ascending=objectives[0][1] != "max")


def hypervolume(points: np.ndarray, reference: np.ndarray) -> float:
    """Volume dominated by `points` (minimised) and bounded by `reference` (exact, any number of objectives)."""
    pts = points[np.all(points < reference, axis=1)]
    if len(pts) == 0:
        return 0.0
    if pts.shape[1] == 1:
        return float(reference[0] - pts[:, 0].min())
    if pts.shape[1] == 2:
        pts = pts[np.argsort(pts[:, 0])]
        volume, best_y = 0.0, reference[1]
        for x, y in pts:
            if y < best_y:
                volume += (reference[0] - x) * (best_y - y)
                best_y = y
        return float(volume)
    # slice along the last objective: each slab is the 2-D volume of the points below it
    pts = pts[np.argsort(pts[:, -1])]
    volume = 0.0
    for i, z in enumerate(pts[:, -1]):
        top = pts[i + 1, -1] if i + 1 < len(pts) else reference[-1]
        if top > z:
            volume += hypervolume(pts[: i + 1, :-1], reference[:-1]) * (top - z)
    return float(volume)


# The fixed cube `front_volume` measures in: error in [0, 1]; energy (pJ), latency (cycles) and area (mm²) as
# log10 over ranges far wider than any design codesign searches (1 pJ to 1 J, 1 to 10^10 cycles, 0.001 to 10^4 mm²).
_VOLUME_LOG_RANGES = {"energy_pj": (0.0, 12.0), "cycles": (0.0, 10.0), "area_mm2": (-3.0, 4.0)}


def front_volume(df: pd.DataFrame, objectives: Objectives = OBJECTIVES) -> float:
    """Hypervolume of the complete trials in a fixed unit cube (error; log energy, latency and area), in [0, 1].

    The cube does not depend on the trials, so the volume only grows as a search finds better designs.
    """
    pool = eligible(df, objectives)
    if pool.empty:
        return 0.0
    points = _unit_points(pool, objectives)
    return hypervolume(points[non_dominated(points)], np.ones(len(objectives)))


def _unit_points(pool: pd.DataFrame, objectives: Objectives) -> np.ndarray:
    """Trials in `front_volume`'s fixed unit cube, all objectives minimised."""
    columns = []
    for name, sense in objectives:
        values = pool[name].to_numpy(dtype=float)
        if name in _VOLUME_LOG_RANGES:
            low, high = _VOLUME_LOG_RANGES[name]
            scaled = (np.log10(np.maximum(values, 1e-300)) - low) / (high - low)
        else:  # accuracy: error
            scaled = 1.0 - values if sense == "max" else values
        columns.append(np.clip(scaled, 0.0, 1.0))
    return np.stack(columns, axis=1)


def volume_history(df: pd.DataFrame, objectives: Objectives = OBJECTIVES) -> list[float]:
    """`front_volume` of the first 1, 2, ..., n rows (the front grown one trial at a time, in row order)."""
    ok = np.zeros(len(df), dtype=bool)
    ok[df.index.get_indexer(eligible(df, objectives).index)] = True
    points = _unit_points(df, objectives) if len(df) and all(name in df for name, _ in objectives) else None
    reference = np.ones(len(objectives))
    front = np.zeros((0, len(objectives)))
    volume, history = 0.0, []
    for i in range(len(df)):
        if ok[i] and points is not None:
            p = points[i]
            if not np.any(np.all(front <= p, axis=1)):  # not matched or beaten by the front: it joins it
                keep = ~(np.all(p <= front, axis=1) & np.any(p < front, axis=1))
                front = np.vstack([front[keep], p])
                volume = hypervolume(front, reference)
        history.append(volume)
    return history
