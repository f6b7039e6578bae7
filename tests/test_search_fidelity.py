"""Multi-fidelity over every objective: rungs, non-dominated sorting, and who stops where."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
from ray.tune.schedulers import TrialScheduler

from codesign.search.fidelity import ParetoHalving, sorting_order

OBJECTIVES = ("accuracy", "energy", "latency")


def test_sorting_order_is_rank_then_crowding():
    points = np.array([[0.1, 3.0], [0.2, 2.0], [0.3, 1.0], [0.25, 2.5], [0.4, 3.5]])
    order = sorting_order(points).tolist()
    assert set(order[:3]) == {0, 1, 2} and order[3:] == [3, 4]
    assert order[2] == 1  # the middle of the first front is the most crowded of it


def _result(epoch, accuracy, energy, cycles, planned=9):
    return {
        "epoch": epoch,
        "planned_epochs": planned,
        "val_accuracy": accuracy,
        "energy_pj": energy,
        "cycles": cycles,
        "status": "ok" if epoch >= planned else "running",
    }


def test_trials_are_stopped_at_a_rung_unless_they_rank_in_the_best_third():
    halving = ParetoHalving(OBJECTIVES)
    assert [e for e in range(1, 30) if halving.is_rung(e)] == [1, 3, 9, 27]
    decide = lambda name, result: halving.on_trial_result(None, SimpleNamespace(trial_id=name), result)
    # the first two at a rung go on (too few to judge); epochs between rungs always go on
    assert decide("a", _result(1, 0.80, 2e6, 2e4)) == TrialScheduler.CONTINUE
    assert decide("b", _result(1, 0.70, 1e6, 1e4)) == TrialScheduler.CONTINUE
    assert decide("a", _result(2, 0.10, 9e9, 9e9)) == TrialScheduler.CONTINUE
    # the third is judged: b beats it in every objective
    assert decide("c", _result(1, 0.60, 3e6, 3e4)) == TrialScheduler.STOP
    # dominated by a and b in every objective: stopped; a cheap one on the front goes on although less accurate
    assert decide("d", _result(1, 0.55, 4e6, 4e4)) == TrialScheduler.STOP
    assert decide("e", _result(1, 0.50, 1e5, 1e3)) == TrialScheduler.CONTINUE
    # a trial that ends at a rung is recorded there but never stopped
    assert decide("f", _result(3, 0.10, 9e6, 9e4, planned=3)) == TrialScheduler.CONTINUE
    assert set(halving.rungs[1]) == {"a", "b", "c", "d", "e"} and halving.stopped == 2


@pytest.mark.parametrize("grace, reduction, rungs", [(1, 2, [1, 2, 4, 8, 16]), (2, 3, [2, 6, 18])])
def test_rungs_follow_grace_and_reduction(grace, reduction, rungs):
    halving = ParetoHalving(OBJECTIVES, grace_epochs=grace, reduction=reduction)
    assert [e for e in range(1, 20) if halving.is_rung(e)] == rungs
