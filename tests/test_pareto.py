"""Pareto fronts and hypervolume, against hand-worked and brute-force answers."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest

from codesign.pareto import (
    as_minimization,
    eligible,
    front_volume,
    hypervolume,
    non_dominated,
    objective_columns,
    pareto_front,
)


def test_non_dominated_keeps_ties_and_drops_dominated():
    points = np.array([[1, 3], [2, 2], [3, 1], [2, 3], [1, 3], [3, 3]])
    assert non_dominated(points).tolist() == [True, True, True, False, True, False]


def test_front_is_complete_trials_only_best_accuracy_first():
    df = pd.DataFrame(
        {
            "trial_id": ["a", "b", "c", "d", "e"],
            "status": ["ok", "ok", "stopped", "ok", "ok"],
            "val_accuracy": [0.9, 0.8, 0.99, 0.7, 0.85],
            "energy_pj": [3.0, 1.0, 0.5, 2.0, float("nan")],
            "cycles": [10, 10, 1, 20, 5],
        }
    )
    assert eligible(df)["trial_id"].tolist() == ["a", "b", "d"]  # stopped and NaN rows never enter
    front = pareto_front(df)
    assert front["trial_id"].tolist() == ["a", "b"]  # d: less accurate, more energy and cycles than b
    flipped = as_minimization(df.iloc[:2])
    assert flipped[:, 0].tolist() == [-0.9, -0.8]


def test_objectives_by_name():
    assert objective_columns(["accuracy", "area"]) == (("val_accuracy", "max"), ("area_mm2", "min"))


def test_hypervolume_worked_examples():
    ref = np.array([4.0, 4.0])
    assert hypervolume(np.array([[1.0, 1.0]]), ref) == 9.0
    # an L shape: 3x1 + 1x3 - 1x1
    assert hypervolume(np.array([[1.0, 3.0], [3.0, 1.0]]), ref) == 5.0
    assert hypervolume(np.array([[5.0, 5.0]]), ref) == 0.0  # outside the reference box
    assert hypervolume(np.array([[1.0, 1.0, 1.0]]), np.array([2.0, 3.0, 4.0])) == 6.0


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_hypervolume_matches_a_grid_count_in_3d(seed):
    rng = np.random.default_rng(seed)
    points = rng.integers(0, 6, size=(7, 3)).astype(float)
    ref = np.full(3, 6.0)
    # every unit cell [x, x+1) x ... below the reference, counted when some point dominates its corner
    cells = sum(1 for cell in itertools.product(range(6), repeat=3) if np.any(np.all(points <= np.array(cell), axis=1)))
    assert hypervolume(points, ref) == pytest.approx(cells)


def test_front_volume_is_measured_in_a_fixed_cube():
    one = pd.DataFrame({"status": ["ok"], "val_accuracy": [0.9], "energy_pj": [1e6], "cycles": [1e5]})
    # error 0.1; log10 energy 6 of 12; log10 cycles 5 of 10: (1 - 0.1) * (1 - 0.5) * (1 - 0.5)
    assert front_volume(one) == pytest.approx(0.9 * 0.5 * 0.5)
    better = pd.concat(
        [
            one,
            pd.DataFrame(
                {"status": ["ok", "error"], "val_accuracy": [0.8, 0.99], "energy_pj": [1e3, 1.0], "cycles": [1e5, 1.0]}
            ),
        ]
    )
    assert front_volume(better) > front_volume(one)  # only grows: the cube does not depend on the trials
    assert front_volume(better.iloc[[2]]) == 0.0 and 0 < front_volume(better) <= 1
    assert front_volume(one.iloc[0:0]) == 0.0


def test_volume_history_is_the_front_volume_of_every_prefix():
    from codesign.pareto import front_volume, volume_history

    rng = np.random.default_rng(3)
    n = 120
    trials = pd.DataFrame(
        {
            "trial_id": [str(i) for i in range(n)],
            "status": rng.choice(["ok", "ok", "stopped"], n),
            "val_accuracy": rng.uniform(0.5, 0.9, n),
            "energy_pj": rng.uniform(1e6, 1e8, n),
            "cycles": rng.uniform(1e3, 1e5, n),
        }
    )
    trials.loc[7] = trials.loc[3]  # a repeated design changes nothing
    history = volume_history(trials)
    assert history == pytest.approx([front_volume(trials.iloc[:k]) for k in range(1, n + 1)], abs=1e-12)
    assert all(a <= b for a, b in itertools.pairwise(history))  # it only grows
