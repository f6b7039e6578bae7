"""How a trial ended (or that it is still running): one enum everywhere, as Optuna's TrialState is."""

from __future__ import annotations

import enum


class Status(enum.StrEnum):
    """How a trial ended (or that it is still running)."""

    OK = "ok"  # trained for all its epochs: the only status a front admits
    STOPPED = "stopped"  # cut early by ASHA or the budget: its accuracy is partial
    INFEASIBLE = "infeasible"  # broke a constraint before training
    DIVERGED = "diverged"  # the loss became NaN/inf
    ERROR = "error"  # the trial crashed; the search went on
    RUNNING = "running"

    def __str__(self) -> str:
        return self.value
