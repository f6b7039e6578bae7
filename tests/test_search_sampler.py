"""The search's sampler: designs drawn define-by-run, and every constraint checked before training."""

from __future__ import annotations

import pickle

import optuna
import pytest
import yaml

from codesign.arch import load_arch
from codesign.hardware import HardwareParams, area_mm2, derive_arch, write_arch
from codesign.search.samplers import make_sampler
from tests.helpers import sampler_for

optuna.logging.set_verbosity(optuna.logging.WARNING)
BASE = load_arch(None)


def _space(tmp_path, network=None, sgd=None, **top):
    body = {
        "dataset": "fashion-mnist",
        "network": network or {"depth": {"int": [1, 2]}, "stage": {"channels": {"choice": [4, 8]}}},
        "sgd": sgd or {"epochs": 1},
        **top,
    }
    path = tmp_path / "space.yaml"
    path.write_text(yaml.safe_dump(body))
    return path


def test_infeasible_designs_are_caught_before_training(tmp_path):
    path = _space(
        tmp_path, network={"depth": 1, "stage": {"channels": {"choice": [4, 400]}}}, sgd={"epochs": {"int": [1, 40]}}
    )
    sampler = sampler_for(path)
    study = optuna.create_study(directions=["maximize", "minimize", "minimize"])
    study.enqueue_trial({"depth": 1, "stage0_channels": 400, "epochs": 2})
    study.enqueue_trial({"depth": 1, "stage0_channels": 4, "epochs": 35})
    study.enqueue_trial({"depth": 1, "stage0_channels": 4, "epochs": 2})
    too_big, too_long, fine = (sampler(study.ask()) for _ in range(3))
    # 400 channels x 28 x 28 x 4 B = 1.25 MB of output alone
    assert too_big["feasible"] is False and "peak activation" in too_big["reason"]
    assert too_long["feasible"] is False and "35 epochs > 29" in too_long["reason"]
    assert fine["feasible"] is True and fine["peak_activation_bytes"] == (784 + 4 * 784) * 4
    # Optuna sees the constraints (<= 0 feasible) and can learn from them
    trials = study.get_trials(deepcopy=False)
    assert trials[0].system_attrs["constraints:peak_activation"] > 0
    assert trials[2].system_attrs["constraints:peak_activation"] <= 0


def test_area_and_pe_budgets_are_checked_before_training(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "dataset": "fashion-mnist",
                "network": {"depth": 1, "stage": {"channels": 4}},
                "sgd": {"epochs": 1},
                "hardware": {"pe_x": {"choice": [16, 64]}, "pe_y": 16},
                "constraints": {"max_area_mm2": 3.0},
                "objectives": ["accuracy", "energy", "latency", "area"],
            }
        )
    )
    sampler = sampler_for(path)
    study = optuna.create_study(directions=["maximize", "minimize", "minimize", "minimize"])
    study.enqueue_trial({"depth": 1, "hw_pe_x": 64})
    study.enqueue_trial({"depth": 1, "hw_pe_x": 16})
    big, base = sampler(study.ask()), sampler(study.ask())
    assert big["feasible"] is False and "area" in big["reason"] and big["area_mm2"] > 3.0
    assert base["feasible"] is True and base["area_mm2"] == pytest.approx(area_mm2(BASE))
    assert base["hardware"] == {**vars(HardwareParams()), "pe_x": 16}


def test_sizes_a_space_leaves_out_are_the_base_archs(tmp_path):
    small = derive_arch(BASE, HardwareParams(pe_x=8, glb_depth=16384), name="small")
    write_arch(small, tmp_path / "small.yaml")
    (tmp_path / "s.yaml").write_text(
        yaml.safe_dump(
            {
                "dataset": "fashion-mnist",
                "network": {"depth": 1, "stage": {"channels": 4}},
                "sgd": {"epochs": 1},
                "hardware": {"base": "small.yaml", "word_bits": {"choice": [8, 16]}},
            }
        )
    )
    sampler = sampler_for(tmp_path / "s.yaml")
    study = optuna.create_study(directions=["maximize", "minimize", "minimize"])
    study.enqueue_trial({"depth": 1, "hw_word_bits": 8})
    config = sampler(study.ask())
    assert config["hardware"] == {**vars(HardwareParams.of(small)), "word_bits": 8}
    assert config["hardware"]["pe_x"] == 8 and config["hardware"]["glb_depth"] == 16384
    assert config["area_mm2"] == pytest.approx(area_mm2(derive_arch(small, HardwareParams(**config["hardware"]))))


@pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")  # TPE's group=True
@pytest.mark.parametrize("name", ["tpe", "nsga2", "random"])
def test_optunas_samplers_pickle_as_tune_saves_them(name):
    """Tune pickles the searcher with its sampler when a search starts (Optuna 5.1's NSGA-II held a lock that
    does not pickle: `--sampler nsga2` failed before its first trial); the copy samples as the original would."""
    sampler = make_sampler(name, seed=3)
    copy = pickle.loads(pickle.dumps(sampler))
    assert type(copy) is type(sampler)
    studies = [optuna.create_study(directions=["maximize", "minimize"], sampler=s) for s in (sampler, copy)]
    for study in studies:
        study.optimize(lambda t: (t.suggest_float("x", 0, 1), t.suggest_int("n", 1, 9)), n_trials=20)
    assert [t.params for t in studies[0].trials] == [t.params for t in studies[1].trials]
    if name == "nsga2":  # generations recorded under NSGA-II's own key, as a plain NSGAIISampler reads them
        assert "NSGAIISampler:generation" in studies[0].trials[-1].system_attrs
