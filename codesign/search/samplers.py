"""The search's samplers, registered by name in codesign.registry.SAMPLERS: each is `(objective, seed) -> sampler`.

`ehvi` is codesign's own (codesign/search/ehvi.py): it screens the objective's space for candidates. The others
are Optuna's, seeded; they draw through the objective like any define-by-run function.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from codesign.registry import SAMPLERS

if TYPE_CHECKING:
    from codesign.search.objective import DesignObjective


def ehvi(objective: DesignObjective, seed: int) -> Any:
    """Expected hypervolume improvement over candidates screened on their known costs (costed ahead on an
    idle core while trials train)."""
    from codesign.search.ehvi import EHVISampler

    return EHVISampler(objective, seed, cost_ahead=True)


def tpe(objective: DesignObjective | None, seed: int) -> Any:
    """Optuna's TPE, multivariate and grouped."""
    import optuna

    # group=True: per-stage parameters exist only for the stages a trial has (conditional space); grouping
    # lets multivariate TPE model each subspace jointly (benchmarks/bench_search.py compares the samplers).
    return optuna.samplers.TPESampler(multivariate=True, group=True, seed=seed, n_startup_trials=8)


def nsga2(objective: DesignObjective | None, seed: int) -> Any:
    """Optuna's NSGA-II (a subclass that Tune can pickle)."""
    from codesign.search.nsga2 import PicklableNSGAIISampler

    return PicklableNSGAIISampler(seed=seed, population_size=16)


def random(objective: DesignObjective | None, seed: int) -> Any:
    """Optuna's random sampler."""
    import optuna

    return optuna.samplers.RandomSampler(seed=seed)


def make_sampler(name: str, seed: int, objective: DesignObjective | None = None) -> Any:
    """The sampler registered as `name`, seeded (ehvi needs the search's objective to screen its space)."""
    if objective is None and name == "ehvi":
        raise ValueError("the ehvi sampler screens the search's space: give its objective")
    return SAMPLERS.load(name)(objective, seed)
