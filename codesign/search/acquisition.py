"""Expected hypervolume improvement when one objective is predicted and the others are known exactly.

All objectives are minimised and normalised (the front and the reference point in the same units). A
candidate's known objectives (energy, cycles, area: the cost model's numbers) fix which part of the
objective space it can claim; only its predicted objective (the error, 1 - accuracy) is uncertain, a
normal N(mean, std) cut off below at `floor` — the best value the candidate can plausibly reach (the
surrogate's optimistic bound, never better than a perfect score). Over a grid of cells cut by the front's
known coordinates, each cell is claimed from the lowest predicted value of the front points covering it
(its `height`) up to the candidate's value, so

    HVI(y)  = sum over cells of  volume(cell within the candidate's box) * max(0, height - y)
    EHVI    = sum over cells of  volume * (G(max(height, floor)) - G(floor)),  G(t) = E[max(0, t - Y)]

in closed form. A candidate whose known objectives are all matched or beaten by a complete trial whose
predicted objective is at or below the candidate's floor gets exactly 0: it cannot improve the front.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
from scipy.special import ndtr

from codesign.pareto import non_dominated

_SQRT_2PI = np.sqrt(2.0 * np.pi)
_MAX_CELL_PRODUCT = 4_000_000  # candidates x cells evaluated at once (memory)
_PRUNE_ABOVE_CELLS = 20_000  # cells beyond which the dominated points are dropped first (a long search)


def minimised(name: str, value: float) -> float:
    """An objective as the search compares it, smaller being better: the error for accuracy, log10 for
    energy, cycles and area (they span orders of magnitude)."""
    return 1.0 - value if name == "accuracy" else math.log10(max(value, 1e-12))


def _expected_shortfall(t: np.ndarray, mean: np.ndarray, std: np.ndarray) -> np.ndarray:
    """G(t) = E[max(0, t - Y)] for Y ~ N(mean, std), elementwise (std > 0)."""
    z = (t - mean) / std
    return (t - mean) * ndtr(z) + std * np.exp(-0.5 * z * z) / _SQRT_2PI


def front_cells(front: np.ndarray, reference: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cells of the known objectives (columns 1..) cut at the front's coordinates: lower corners, upper
    corners and heights (the lowest column-0 value of a front point covering the cell, else the reference)."""
    inside = front[np.all(front < reference, axis=1)]
    if math.prod(len(np.unique(inside[:, d])) + 1 for d in range(1, len(reference))) > _PRUNE_ABOVE_CELLS:
        # a long search: only the points no other point dominates bound the region (the same volumes, from
        # far fewer cells; hundreds of trials made millions of cells)
        inside = inside[non_dominated(inside)]
    edges = []
    for d in range(1, len(reference)):
        cuts = np.unique(inside[:, d]) if len(inside) else np.zeros(0)
        edges.append(np.concatenate(([-np.inf], cuts, [reference[d]])))
    lows = np.array(list(itertools.product(*(e[:-1] for e in edges))), dtype=float).reshape(-1, len(edges))
    highs = np.array(list(itertools.product(*(e[1:] for e in edges))), dtype=float).reshape(-1, len(edges))
    heights = np.full(len(lows), float(reference[0]))
    if len(inside):
        covers = np.all(inside[None, :, 1:] <= lows[:, None, :], axis=2)  # (cells, points)
        best = np.where(covers, inside[None, :, 0], np.inf).min(axis=1)
        heights = np.minimum(heights, best)
    return lows, highs, heights


def expected_improvement(
    front: np.ndarray,
    reference: np.ndarray,
    known: np.ndarray,
    mean: np.ndarray,
    std: np.ndarray,
    floor: np.ndarray,
) -> np.ndarray:
    """EHVI of each candidate (rows of `known`, the known objectives) over `front` (column 0 predicted)."""
    return improvement_in_cells(front_cells(front, reference), known, mean, std, floor)


def improvement_in_cells(
    cells: tuple[np.ndarray, np.ndarray, np.ndarray],
    known: np.ndarray,
    mean: np.ndarray,
    std: np.ndarray,
    floor: np.ndarray,
) -> np.ndarray:
    """EHVI of each candidate over a front already cut into cells (`front_cells`): a candidate scored again
    does not cut them again."""
    lows, highs, heights = cells
    std = np.maximum(std, 1e-12)
    out = np.zeros(len(known))
    step = max(1, _MAX_CELL_PRODUCT // max(len(lows), 1))
    for start in range(0, len(known), step):
        part = slice(start, start + step)
        x = known[part]
        extent = highs[None, :, :] - np.maximum(lows[None, :, :], x[:, None, :])
        volume = np.prod(np.clip(extent, 0.0, None), axis=2)  # (candidates, cells)
        m, s, f = mean[part, None], std[part, None], floor[part, None]
        gain = _expected_shortfall(np.maximum(heights[None, :], f), m, s) - _expected_shortfall(f, m, s)
        out[part] = np.sum(volume * np.clip(gain, 0.0, None), axis=1)
    return out


def cannot_improve(complete: np.ndarray, known: np.ndarray, floor: np.ndarray) -> np.ndarray:
    """Mask of candidates that a complete trial matches or beats in every known objective and whose
    predicted objective cannot get below that trial's (`floor`): they can never improve the front."""
    if len(complete) == 0:
        return np.zeros(len(known), dtype=bool)
    covered = np.all(complete[None, :, 1:] <= known[:, None, :], axis=2)  # (candidates, trials)
    beaten = complete[None, :, 0] <= floor[:, None]
    return np.any(covered & beaten, axis=1)
