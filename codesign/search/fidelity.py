"""Multi-fidelity that respects every objective: successive halving by non-dominated sorting (MO-ASHA).

Ray Tune's schedulers rank trials on one metric. Here a trial reaching a rung (epoch 1, 3, 9, ... below its
planned epochs) is compared with every trial that reached the same rung: their partial accuracy with their
energy, cycles (and area), all known, ranked by non-dominated sorting and, within a rank, by crowding
distance (NSGA-II's order). A trial goes on if it is in the best 1/reduction of them (or while fewer than
`reduction` trials have reached the rung), else it stops there. A stopped trial's status is `stopped`: its
accuracy is partial and it never enters the front (codesign.search.table's rule).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from ray.tune.schedulers import ASHAScheduler, FIFOScheduler, TrialScheduler

from codesign.pareto import COLUMNS, non_dominated
from codesign.registry import SCHEDULERS
from codesign.search.acquisition import minimised
from codesign.search.prepared import PreparedSearch
from codesign.search.trial import TrialReport
from codesign.status import Status


def sorting_order(points: np.ndarray) -> np.ndarray:
    """Row indices of `points` (minimised) best first: non-dominated rank, then crowding distance."""
    rank = np.full(len(points), -1)
    left = np.arange(len(points))
    level = 0
    while len(left):
        front = non_dominated(points[left])
        rank[left[front]] = level
        left = left[~front]
        level += 1
    crowding = np.zeros(len(points))
    for level in np.unique(rank):
        members = np.flatnonzero(rank == level)
        for d in range(points.shape[1]):
            order = members[np.argsort(points[members, d], kind="stable")]
            span = points[order[-1], d] - points[order[0], d]
            crowding[order[0]] = crowding[order[-1]] = np.inf
            if span > 0 and len(order) > 2:
                crowding[order[1:-1]] += (points[order[2:], d] - points[order[:-2], d]) / span
    return np.lexsort((-crowding, rank))


class ParetoHalving(FIFOScheduler):
    """Asynchronous successive halving whose promotions rank every objective (see the module docstring)."""

    def __init__(self, objectives: tuple[str, ...], grace_epochs: int = 1, reduction: int = 3):
        super().__init__()
        self.objectives, self.grace, self.reduction = tuple(objectives), grace_epochs, reduction
        self.rungs: dict[int, dict[str, np.ndarray]] = {}  # epoch -> trial id -> objectives (minimised)
        self.stopped = 0

    def is_rung(self, epoch: int) -> bool:
        """Whether trials are compared after `epoch` epochs (grace * reduction**k)."""
        if epoch < self.grace:
            return False
        k = round(math.log(epoch / self.grace, self.reduction))
        return self.grace * self.reduction**k == epoch

    def on_trial_result(self, tune_controller: Any, trial: Any, result: dict) -> str:
        """Record a trial at a rung; stop it there unless it ranks in the best 1/reduction of the rung."""
        report = TrialReport.from_tune(result)  # Tune's boundary
        if report is None or not self.is_rung(report.epoch):
            return TrialScheduler.CONTINUE
        values = [report.objective(COLUMNS[n][0]) for n in self.objectives]
        if any(v is None for v in values):
            return TrialScheduler.CONTINUE
        point = np.array([minimised(n, v) for n, v in zip(self.objectives, values) if v is not None])
        records = self.rungs.setdefault(report.epoch, {})
        records[trial.trial_id] = point
        planned = report.planned_epochs or 0
        if (
            report.epoch >= planned
            or report.status is not Status.RUNNING
            or self.promotes(report.epoch, trial.trial_id)
        ):
            return TrialScheduler.CONTINUE
        self.stopped += 1
        return TrialScheduler.STOP

    def promotes(self, epoch: int, trial_id: str) -> bool:
        """Whether `trial_id` is among the best ceil(n / reduction) of the n trials at rung `epoch`."""
        records = self.rungs.get(epoch, {})
        if len(records) < self.reduction:
            return True
        ids = list(records)
        order = sorting_order(np.array([records[i] for i in ids]))
        keep = math.ceil(len(ids) / self.reduction)
        return ids.index(trial_id) in set(order[:keep].tolist())

    def debug_string(self) -> str:
        """One line for Tune's status table."""
        return f"ParetoHalving: {self.stopped} stopped, rungs {sorted(self.rungs)}"


def no_scheduler(prepared: PreparedSearch) -> TrialScheduler | None:
    """Every trial trains for all its epochs."""
    return None


def asha(prepared: PreparedSearch) -> TrialScheduler | None:
    """ASHA on validation accuracy alone (Ray Tune's)."""
    return ASHAScheduler(
        time_attr="epoch",
        metric="val_accuracy",
        mode="max",
        max_t=max(prepared.space.max_epochs, 1),
        grace_period=1,
        reduction_factor=3,
    )


def pareto_halving(prepared: PreparedSearch) -> TrialScheduler | None:
    """ParetoHalving over the search's objectives."""
    return ParetoHalving(prepared.settings.objectives)


def make_scheduler(prepared: PreparedSearch) -> TrialScheduler | None:
    """The search's trial scheduler (codesign.registry.SCHEDULERS: none, asha or multi-fidelity)."""
    scheduler: TrialScheduler | None = SCHEDULERS.load(prepared.settings.tune.scheduler)(prepared)
    return scheduler
