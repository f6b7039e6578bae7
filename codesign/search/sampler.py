"""The name codesign 0.2 gave the search's Optuna objective, kept so that `--resume` restores a search it started
(Ray Tune pickled the objective with the searcher's state under this module and name)."""

from codesign.search.objective import DesignObjective as SpaceSampler

__all__ = ["SpaceSampler"]
