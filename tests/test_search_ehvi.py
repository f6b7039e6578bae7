"""The ehvi sampler, driven by Optuna alone (no Ray): it trains only designs that can improve the front."""

from __future__ import annotations

import pickle

import optuna
import pytest
import yaml

from codesign.cost import CostCache
from codesign.hardware import HardwareParams
from codesign.network import CandidateSpec
from codesign.profiling import profile_workload
from codesign.search.ehvi import EHVISampler
from codesign.spec_workload import spec_workload
from tests.helpers import bigger_is_better, sampler_for, stand_in_objective

optuna.logging.set_verbosity(optuna.logging.WARNING)
DIRECTIONS = ["maximize", "minimize", "minimize"]


@pytest.fixture(autouse=True)
def _shared_cache(tmp_path_factory, monkeypatch):
    """One layer cache for this file's tests (cold layers cost up to a second each to map)."""
    monkeypatch.setenv("CODESIGN_CACHE", str(tmp_path_factory.getbasetemp() / "ehvi-cache.sqlite"))


def _space(tmp_path, network, sgd=None):
    path = tmp_path / "space.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "dataset": "fashion-mnist",
                "network": network,
                "sgd": sgd or {"lr": {"float": [0.01, 0.1], "log": True}, "epochs": 1},
            }
        )
    )
    return sampler_for(path)


def _joint_objective(design, sampler):
    """The stand-in objective of a joint space: each trial costed on its own accelerator, area a fourth value."""
    cache = CostCache()

    def objective(trial):
        config = design(trial)
        assert config["feasible"], config["reason"]
        spec = CandidateSpec.from_dict(config["spec"])
        arch, area = sampler.screen.arch(HardwareParams(**config["hardware"]))
        net = profile_workload(spec_workload(spec), arch, cache=cache)
        return bigger_is_better(trial.number, spec, net), net.energy_pj, net.cycles, area

    return objective


def test_never_trains_a_design_a_complete_trial_beats_beyond_doubt(tmp_path):
    design = _space(
        tmp_path,
        {
            "depth": {"int": [1, 2]},
            "stage": {"channels": {"choice": [4, 8, 16]}, "kernel": {"choice": [3, 5]}, "pool": "max"},
            "head_width": {"choice": [0, 32]},
        },
    )
    sampler = EHVISampler(design, seed=0, startup=2)
    study = optuna.create_study(directions=DIRECTIONS, sampler=sampler)
    # a mid-size design that scores 100 %: nothing that costs as much or more in energy and cycles can beat it,
    # although the surrogate, which sees accuracy grow with size, expects bigger designs to be as good
    study.enqueue_trial({"depth": 1, "stage0_channels": 8, "stage0_kernel": 5, "head_width": 32, "lr": 0.05})
    perfect = lambda number, spec, net: 1.0 if number == 0 else bigger_is_better(number, spec, net)
    study.optimize(stand_in_objective(design, perfect), n_trials=12)
    planted = study.trials[0].values
    later = [t.values for t in study.trials[1:]]
    assert all(e < planted[1] or c < planted[2] for _, e, c in later), "trained a design that cannot improve"
    modes = [sampler.choices[n]["mode"] for n in sorted(sampler.choices)]
    assert "ehvi" in modes and sum(sampler.choices[n].get("pruned", 0) for n in sampler.choices) > 0
    assert len({t.params.values().__repr__() for t in study.trials}) == 12  # never the same design twice


def test_a_trial_is_vetoed_when_nothing_can_improve_the_front(tmp_path):
    design = _space(
        tmp_path,
        {"depth": 1, "stage": {"channels": {"choice": [4, 8]}, "kernel": 3, "pool": "max"}},
        sgd={"lr": {"choice": [0.05, 0.1]}, "epochs": 1},
    )
    sampler = EHVISampler(design, seed=0, startup=1)
    study = optuna.create_study(directions=DIRECTIONS, sampler=sampler)
    # the cheapest design (4 channels: least energy, fewest cycles) at 100 %: no other design can improve on it
    study.enqueue_trial({"depth": 1, "stage0_channels": 4, "lr": 0.05})
    study.optimize(stand_in_objective(design, lambda number, spec, net: 1.0), n_trials=1)
    trial = study.ask()
    config = design(trial)
    assert config["feasible"] is False and "can improve the front" in config["reason"]
    assert study.trials[trial.number].system_attrs["constraints:improvable"] > 0
    assert sampler.choices[trial.number]["mode"] == "veto"


def test_draws_what_it_chose_never_an_infeasible_design_and_survives_pickling(tmp_path):
    # 400 first-stage channels break the 1 MB peak-activation limit: a third of random draws are infeasible
    design = _space(
        tmp_path,
        {
            "depth": {"int": [1, 2]},
            "stage": {"channels": {"choice": [4, 8]}, "pool": "max"},
            "stages": [{"channels": {"choice": [4, 8, 400]}}],
        },
    )
    sampler = EHVISampler(design, seed=1, startup=3)
    study = optuna.create_study(directions=DIRECTIONS, sampler=sampler)
    objective = stand_in_objective(design, bigger_is_better, stopped={2})
    study.optimize(objective, n_trials=4)
    restored = pickle.loads(pickle.dumps(sampler))  # as Tune saves and restores the searcher
    assert restored.choices == {} and restored._serving == sampler._serving
    study.sampler = restored
    study.optimize(objective, n_trials=3)
    assert all(t.values[1] < 1e15 for t in study.trials), "an infeasible design was proposed"
    for trial in study.trials[4:]:
        chosen = restored.choices[trial.number]
        assert (chosen["energy_pj"], chosen["cycles"]) == pytest.approx(tuple(trial.values[1:]))
    # the stopped trial teaches the surrogate (as partial) but is no complete trial
    history = {h.status for h in restored.history(study)}
    assert history == {"ok", "stopped"}
    assert restored.choices[6]["complete"] == 5
    # trials running at once (--concurrency): the second is told about the first and picks another design
    first = study.ask()
    first_spec = CandidateSpec.from_dict(design(first)["spec"])
    second = study.ask()
    assert [c.spec for c in restored.running(study, second.number)] == [first_spec]
    assert CandidateSpec.from_dict(design(second)["spec"]) != first_spec


def test_a_joint_search_screens_the_accelerator_too(tmp_path):
    path = tmp_path / "joint.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "dataset": "fashion-mnist",
                "network": {"depth": 1, "stage": {"channels": {"choice": [4, 8]}, "pool": "max"}},
                "sgd": {"lr": {"float": [0.01, 0.1], "log": True}, "epochs": 1},
                "hardware": {"pe_x": {"choice": [8, 16, 64]}},
                "constraints": {"max_area_mm2": 3.0},
                "objectives": ["accuracy", "energy", "latency", "area"],
            }
        )
    )
    design = sampler_for(path)
    sampler = EHVISampler(design, seed=0, startup=2)
    study = optuna.create_study(directions=[*DIRECTIONS, "minimize"], sampler=sampler)
    # the objective asserts every proposed design feasible: 64 PE columns break the area budget
    study.optimize(_joint_objective(design, sampler), n_trials=5)
    assert {t.params["hw_pe_x"] for t in study.trials} <= {8, 16}
    assert sampler.choices[4]["mode"] == "ehvi"


def test_a_sampler_pickled_by_codesign_0_2_restores(tmp_path):
    """`--resume` of a search started before the objective was renamed: Tune's pickled searcher names
    codesign.search.sampler.SpaceSampler, and the sampler and its screen hold it as `design`."""
    from codesign.search.candidates import CandidateScreen
    from codesign.search.objective import DesignObjective
    from codesign.search.sampler import SpaceSampler

    assert SpaceSampler is DesignObjective
    design = _space(tmp_path, {"depth": 1, "stage": {"channels": {"choice": [4, 8]}, "pool": "max"}})
    state = EHVISampler(design, seed=0, startup=1).__getstate__()
    state["design"] = state.pop("objective")
    old_screen = CandidateScreen.__new__(CandidateScreen)
    old_screen.__setstate__({"design": design})
    state["screen"] = old_screen
    restored = EHVISampler.__new__(EHVISampler)
    restored.__setstate__(pickle.loads(pickle.dumps(state)))
    study = optuna.create_study(directions=DIRECTIONS, sampler=restored)
    study.optimize(stand_in_objective(design, bigger_is_better), n_trials=2)
    assert restored.objective.space.objectives == design.space.objectives and len(restored.choices) == 2


def test_from_a_cold_cache_the_screen_picks_the_pools_exact_best_mapping_a_few(tmp_path, monkeypatch):
    """Branch and bound: candidates not mapped are scored at lower bounds on energy and cycles, and only those
    that could still win are mapped. It must pick what scoring every candidate exactly picks."""
    path = tmp_path / "joint.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "dataset": "fashion-mnist",
                "network": {
                    "depth": {"int": [1, 2]},
                    "stage": {"channels": {"choice": [4, 8, 16]}, "kernel": {"choice": [3, 5]}, "pool": "max"},
                },
                "sgd": {"lr": {"float": [0.01, 0.1], "log": True}, "epochs": 1},
                "hardware": {"pe_x": {"choice": [8, 16]}, "dataflow": {"choice": ["ws", "os", "os_pq_m"]}},
                "objectives": ["accuracy", "energy", "latency", "area"],
            }
        )
    )
    design = sampler_for(path)

    def run(cache: str, exact: bool) -> tuple[list[dict], dict]:
        monkeypatch.setenv("CODESIGN_CACHE", str(tmp_path / cache))
        sampler = EHVISampler(design, seed=3, startup=2, pool_size=40, min_budget_s=60.0)
        if exact:  # every candidate mapped as the pool fills: nothing left at its bounds
            screen = sampler.screen
            whole = screen.candidate
            monkeypatch.setattr(screen, "candidate", lambda draw, defer=None, bound=False: whole(draw))
        study = optuna.create_study(directions=[*DIRECTIONS, "minimize"], sampler=sampler)
        study.optimize(_joint_objective(design, sampler), n_trials=6)
        return [t.params for t in study.trials], sampler.choices

    bounded, choices = run("cold.sqlite", exact=False)
    exact, _ = run("exact.sqlite", exact=True)
    assert bounded == exact
    guided = [choices[n] for n in range(2, 6)]
    assert all(c["mode"] == "ehvi" and c["proven"] == 1 for c in guided)
    assert all(c["candidates"] == 40 for c in guided)
    assert sum(c["bounded"] for c in guided) > 0  # the cache was cold: the bounds did the screening
    assert sum(c["mapped"] for c in guided) < sum(c["bounded"] for c in guided)
