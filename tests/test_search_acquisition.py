"""Expected hypervolume improvement with one predicted objective: closed form against sampling."""

from __future__ import annotations

import numpy as np
import pytest

from codesign.pareto import hypervolume
from codesign.search.acquisition import cannot_improve, expected_improvement, minimised

REFERENCE = np.full(3, 1.1)


def _sampled(front, known, mean, std, floor, draws=20000, seed=0):
    """E[HVI] by drawing the predicted objective and measuring the front with and without the candidate."""
    rng = np.random.default_rng(seed)
    base = hypervolume(front, REFERENCE)
    ys = np.maximum(rng.normal(mean, std, draws), floor)
    # HVI is piecewise linear in y: interpolate it on a fine grid rather than measuring each draw
    grid = np.linspace(ys.min(), ys.max(), 150)
    hvi = [hypervolume(np.vstack([front, [y, *known]]), REFERENCE) - base for y in grid]
    return float(np.mean(np.interp(ys, grid, hvi)))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_closed_form_matches_sampling(seed):
    rng = np.random.default_rng(seed)
    front = rng.uniform(0.0, 1.0, (6, 3))
    known = rng.uniform(0.0, 1.0, (5, 2))
    mean, std = rng.uniform(0.0, 1.0, 5), rng.uniform(0.05, 0.4, 5)
    floor = mean - rng.uniform(0.1, 1.0, 5)
    exact = expected_improvement(front, REFERENCE, known, mean, std, floor)
    for i in range(5):
        assert exact[i] == pytest.approx(_sampled(front, known[i], mean[i], std[i], floor[i]), rel=0.03, abs=2e-4)


def test_a_candidate_that_cannot_improve_the_front_scores_zero():
    front = np.array([[0.2, 0.3, 0.3], [0.6, 0.1, 0.5]])
    known = np.array([[0.4, 0.4], [0.4, 0.4], [0.2, 0.4]])  # the third is cheaper than both in one objective
    mean, std = np.array([0.1, 0.1, 0.9]), np.array([0.3, 0.3, 0.01])
    floor = np.array([0.2, 0.19, 0.2])  # the first cannot get below the first front point's 0.2
    mask = cannot_improve(front, known, floor)
    gain = expected_improvement(front, REFERENCE, known, mean, std, floor)
    assert mask.tolist() == [True, False, False]
    assert gain[0] == 0.0 and gain[1] > 0.0 and gain[2] > 0.0


def test_objectives_are_compared_as_error_and_log_costs():
    assert minimised("accuracy", 0.8) == pytest.approx(0.2)
    assert minimised("energy", 1e6) == pytest.approx(6.0) and minimised("latency", 1000) == pytest.approx(3.0)


def test_a_long_search_s_front_gives_the_same_improvement_from_its_non_dominated_points(monkeypatch):
    """Hundreds of complete trials: the dominated ones are dropped before the cells are cut (far fewer cells),
    and every candidate's EHVI stays what the cells of all the trials give."""
    from codesign.search import acquisition

    rng = np.random.default_rng(3)
    trials = rng.uniform(0.0, 1.0, (300, 3))
    known, mean = rng.uniform(0.0, 1.0, (40, 2)), rng.uniform(0.0, 1.0, 40)
    std, floor = np.full(40, 0.1), mean - 0.3
    reference = np.full(3, 1.1)
    fast = acquisition.expected_improvement(trials, reference, known, mean, std, floor)
    monkeypatch.setattr(acquisition, "_PRUNE_ABOVE_CELLS", 10**9)
    every_cell = acquisition.expected_improvement(trials, reference, known, mean, std, floor)
    assert np.allclose(fast, every_cell, rtol=1e-9, atol=1e-12) and fast.max() > 0
    assert len(acquisition.front_cells(trials, reference)[0]) == 301 * 301  # the unpruned grid, as measured
