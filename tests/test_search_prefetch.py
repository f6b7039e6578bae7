"""Costing ahead: the ehvi sampler's background thread fills the layer cache from an empty one, and the screen
fills its pool although some designs cannot be costed in time (driven by Optuna alone, no Ray)."""

from __future__ import annotations

import threading

import optuna
import pytest
import yaml

from codesign.search import prefetch
from codesign.search.candidates import CandidateScreen, ParamDraw
from codesign.search.ehvi import EHVISampler
from tests.helpers import sampler_for, stand_in_objective

optuna.logging.set_verbosity(optuna.logging.WARNING)
DIRECTIONS = ["maximize", "minimize", "minimize"]
POOL = 40


@pytest.fixture(autouse=True)
def _empty_cache(tmp_path, monkeypatch):
    """Each test starts from an empty layer cache of its own."""
    monkeypatch.setenv("CODESIGN_CACHE", str(tmp_path / "layer-cache.sqlite"))


@pytest.fixture
def design(tmp_path):
    path = tmp_path / "space.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "dataset": "fashion-mnist",
                "network": {
                    "depth": {"int": [1, 3]},
                    "stage": {"channels": {"choice": [4, 6, 8, 12, 16]}, "kernel": {"choice": [3, 5]}, "pool": "max"},
                    "head_width": {"choice": [0, 16, 32]},
                },
                "sgd": {"lr": {"float": [0.01, 0.1], "log": True}, "epochs": 1},
            }
        )
    )
    return sampler_for(path)


def test_costing_ahead_fills_an_empty_cache_and_the_first_guided_trial_screens_its_whole_pool(design):
    sampler = EHVISampler(design, seed=3, pool_size=POOL, startup=2, cost_ahead=True)
    assert sampler.cost_ahead is not None and sampler.cost_ahead.wait(300)
    assert sampler.cost_ahead.mapped > 0  # it mapped new layers: the cache was empty
    # what it drew for the first guided trial (number 2) is costed in the persistent cache: a screen in another
    # process (fresh memory) finds every layer there
    fresh = CandidateScreen(design)
    drawn = [entry for entry in sampler.cost_ahead.pool(2).values() if entry[2] is not None]
    assert len(drawn) >= POOL
    assert all(fresh.costed(c.workload, c.hardware) for _, _, c in drawn)

    study = optuna.create_study(directions=DIRECTIONS, sampler=sampler)
    study.optimize(stand_in_objective(design), n_trials=4)
    sampler.close()
    guided = [sampler.choices[n] for n in sorted(sampler.choices) if sampler.choices[n]["mode"] == "ehvi"]
    assert guided and all(c["candidates"] == POOL and not c.get("deferred") for c in guided)
    assert [sampler.choices[n]["candidates"] for n in (0, 1)] == [1, 1]  # a startup trial draws one design


def test_costing_ahead_changes_no_choice(design, tmp_path, monkeypatch):
    """The pools drawn ahead are the pools the screen would draw: same designs trained, with or without it."""
    runs, reused = [], 0
    for i, ahead in enumerate((False, True)):
        monkeypatch.setenv("CODESIGN_CACHE", str(tmp_path / f"cache-{i}.sqlite"))
        sampler = EHVISampler(
            design, seed=4, pool_size=POOL, startup=2, cost_ahead=ahead, max_budget_s=600.0, min_budget_s=600.0
        )
        study = optuna.create_study(directions=DIRECTIONS, sampler=sampler)
        for _ in range(8):
            if sampler.cost_ahead is not None:
                sampler.cost_ahead.wait(300)  # as if the trials trained longer than the costing takes
            study.optimize(stand_in_objective(design), n_trials=1)
        sampler.close()
        runs.append([t.params for t in study.trials])
        reused += sum(c.get("drawn_ahead", 0) for c in sampler.choices.values())
    assert runs[0] == runs[1] and reused > 100


def test_a_design_that_cannot_be_costed_in_time_does_not_stop_the_pool(design, monkeypatch):
    monkeypatch.setattr(prefetch, "_EXPLORE_CAP", 0)  # only the deferred designs in the background
    sampler = EHVISampler(
        design, seed=5, pool_size=POOL, startup=1, ahead=0, cost_ahead=True, min_budget_s=600.0, max_budget_s=600.0
    )
    screen, main = sampler.screen, threading.current_thread()
    costed_on_main: list[object] = []
    real_cost = CandidateScreen.cost

    def cost(workload, hardware):
        if threading.current_thread() is main and not screen.costed(workload, hardware):
            costed_on_main.append(workload)
        return real_cost(screen, workload, hardware)

    monkeypatch.setattr(screen, "cost", cost)
    study = optuna.create_study(directions=DIRECTIONS, sampler=sampler)
    study.optimize(stand_in_objective(design), n_trials=2)
    guided = sampler.choices[1]
    assert guided["mode"] == "ehvi" and guided["deferred"] > 0
    # the pool filled on (cold designs at their lower bounds) instead of mapping each cold one as it came
    assert guided["candidates"] == POOL and guided["bounded"] > 0
    # the startup design, and the few the branch and bound mapped: the rest was handed to costing ahead
    assert len(costed_on_main) == 1 + guided["mapped"] and guided["mapped"] < guided["bounded"]
    assert sampler.cost_ahead is not None and sampler.cost_ahead.wait(300)
    fresh = CandidateScreen(design)
    drawn = []
    for index in range(guided["drawn"]):
        parent, stream = sampler.draw_at(1, index, [t.params for t in study.trials[:1]])
        candidate = fresh.candidate(ParamDraw(stream, parent), defer=lambda w, h: drawn.append((w, h)))
        assert candidate is None or fresh.costed(candidate.workload, candidate.hardware)
    assert not drawn  # every design the screen deferred has been costed since


def test_the_next_pool_is_drawn_ahead_for_the_front_it_will_mutate(design):
    """With one trial at a time, the pool of the next trial is drawn while this one trains: its random half for
    sure, its mutations too when the trial joins the front (the sampler guesses it will)."""
    sampler = EHVISampler(design, seed=6, pool_size=POOL, startup=2, cost_ahead=True)
    study = optuna.create_study(directions=DIRECTIONS, sampler=sampler)
    objective = stand_in_objective(design)
    for _ in range(7):
        assert sampler.cost_ahead is not None and sampler.cost_ahead.wait(300)  # "training" outlasts costing
        study.optimize(objective, n_trials=1)
    sampler.close()
    guided = [sampler.choices[n] for n in sorted(sampler.choices) if sampler.choices[n]["mode"] == "ehvi"]
    assert len(guided) >= 4
    assert all(c["drawn_ahead"] >= 0.3 * c["drawn"] for c in guided)  # the random half at least
    assert any(c["drawn_ahead"] == c["drawn"] for c in guided)  # mutations included: the front was guessed right
