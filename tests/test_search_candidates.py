"""Candidates drawn without Optuna: valid parameter values, mutations near a parent, the trainable's costs."""

from __future__ import annotations

import numpy as np
import optuna
import pytest
import yaml

from codesign.cost import CostCache
from codesign.profiling import profile_workload
from codesign.search.candidates import CandidateScreen, ParamDraw
from codesign.search.surrogate import AccuracyModel, design_features
from codesign.workload import trace
from tests.helpers import sampler_for


def test_draws_stay_in_their_distributions_and_mutations_stay_near():
    rng = np.random.default_rng(0)
    dists = {
        "c": optuna.distributions.CategoricalDistribution([4, 8, 16]),
        "i": optuna.distributions.IntDistribution(2, 11, step=3),
        "f": optuna.distributions.FloatDistribution(0.01, 0.2, log=True),
        "s": optuna.distributions.FloatDistribution(0.0, 1.0, step=0.25),
    }
    parent = {"c": 8, "i": 5, "f": 0.05, "s": 0.5}
    kept = 0
    for _ in range(200):
        for draw in (ParamDraw(rng), ParamDraw(rng, parent)):
            values = {
                "c": draw.suggest_categorical("c", [4, 8, 16]),
                "i": draw.suggest_int("i", 2, 11, step=3),
                "f": draw.suggest_float("f", 0.01, 0.2, log=True),
                "s": draw.suggest_float("s", 0.0, 1.0, step=0.25),
            }
            assert values == draw.params
            for name, value in values.items():
                assert dists[name]._contains(dists[name].to_internal_repr(value)), (name, value)
        kept += sum(draw.params[k] == v for k, v in parent.items())
    assert kept > 0.65 * 200 * 4  # a mutation keeps three quarters of the values


@pytest.fixture
def design(tmp_path):
    path = tmp_path / "space.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "dataset": "fashion-mnist",
                "network": {
                    "depth": {"int": [1, 2]},
                    "stage": {"channels": {"choice": [4, 8]}, "pool": "max"},
                    "stages": [{"channels": {"choice": [8, 400]}}],
                    "head_width": {"choice": [0, 32]},
                },
                "sgd": {"lr": {"float": [0.01, 0.1], "log": True}, "epochs": {"int": [1, 40]}},
            }
        )
    )
    return sampler_for(path)


def test_candidates_are_feasible_and_costed_as_the_trainable_costs_them(design):
    screen, rng = CandidateScreen(design), np.random.default_rng(1)
    found = [screen.candidate(ParamDraw(rng)) for _ in range(40)]
    kept = [c for c in found if c is not None]
    assert 5 <= len(kept) < 40  # 400 channels or over 29 epochs never pass
    for candidate in kept[:5]:
        assert candidate.spec.stages[0].channels == 8 and candidate.spec.sgd.epochs <= 29
        net = profile_workload(trace(candidate.spec.build(), (1, 1, 28, 28)), design.base_arch, cache=CostCache())
        assert (candidate.energy_pj, candidate.cycles) == pytest.approx((net.energy_pj, net.cycles))


def test_a_design_the_cost_model_cannot_map_is_skipped_with_one_warning(design, monkeypatch, capsys):
    screen, rng = CandidateScreen(design), np.random.default_rng(1)

    def broken(workload, hardware):
        raise IndexError("index 4096 is out of bounds")

    monkeypatch.setattr(screen, "cost", broken)
    assert [screen.candidate(ParamDraw(rng)) for _ in range(20)] == [None] * 20
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["codesign: warning: a candidate could not be costed and is skipped (index 4096 is out of bounds)"]


def test_the_surrogate_learns_and_knows_where_it_has_not_looked(design):
    screen, rng = CandidateScreen(design), np.random.default_rng(2)
    pool = [c for c in (screen.candidate(ParamDraw(rng)) for _ in range(80)) if c is not None]
    rows = [design_features(c.spec, c.workload) for c in pool]
    truth = np.array([0.5 + 0.02 * r["log2_macs"] - 0.3 * (r["log10_lr"] + 1.5) ** 2 for r in rows])
    model = AccuracyModel(seed=0).fit(rows[:20], truth[:20], rows)
    mean, std = model.predict(rows)
    assert np.corrcoef(mean[20:], truth[20:])[0, 1] > 0.8
    assert std[20:].mean() > std[:20].mean()


def test_a_long_search_s_surrogate_learns_from_every_trial():
    """Past 200 trials the kernel is tuned on a subset, but the model is conditioned on every trial."""
    rng = np.random.default_rng(0)
    rows = [{"a": float(a), "b": float(b)} for a, b in rng.uniform(0, 1, (400, 2))]
    truth = np.array([0.5 + 0.3 * r["a"] - 0.1 * r["b"] ** 2 for r in rows]) + rng.normal(0, 0.01, 400)
    model = AccuracyModel(seed=0).fit(rows[:300], truth[:300], rows)
    assert len(model.gp.X_train_) == 300
    mean, std = model.predict(rows[300:])
    assert np.abs(mean - truth[300:]).mean() < 0.02 and (std < 0.05).all()
