"""Search-space YAML: schema errors, define-by-run sampling and the constraints checked before training."""

from __future__ import annotations

import optuna
import pytest
import yaml

from codesign.errors import CodesignError
from codesign.runs import Status
from codesign.search.settings import parse_budget
from codesign.search.table import final_status
from codesign.space import load_space
from tests.helpers import sampler_for

optuna.logging.set_verbosity(optuna.logging.WARNING)


def _space(tmp_path, network=None, sgd=None, **top):
    body = {"dataset": "fashion-mnist",
            "network": network or {"depth": {"int": [1, 2]}, "stage": {"channels": {"choice": [4, 8]}}},
            "sgd": sgd or {"epochs": 1}, **top}
    path = tmp_path / "space.yaml"
    path.write_text(yaml.safe_dump(body))
    return path


@pytest.mark.parametrize("network, message", [
    ({"depth": 2, "stage": {"channels": 4, "kernal": 3}}, "unknown field `network.stage.kernal`"),
    ({"depth": 2, "stage": {"channels": {"int": [16, 8]}}}, "low 16 is above high 8"),
    ({"depth": 2, "stage": {"channels": {"int": [0, 8], "log": True}}}, "log scale needs low > 0"),
    ({"depth": 2, "stage": {"channels": 4, "pool": {"choice": ["max", "median"]}}}, "must be one of none, max, avg, got 'median'"),
    ({"depth": 2, "stage": {"channels": [4, 8]}}, "a list is ambiguous"),
    ({"stage": {"channels": 4}}, "missing `network.depth`"),
    ({"depth": 2, "stage": {"channels": {"range": [1, 2]}}}, "unknown field `network.stage.channels.range`"),
])
def test_schema_errors_name_the_key(tmp_path, network, message):
    with pytest.raises(CodesignError) as info:
        load_space(_space(tmp_path, network=network))
    assert message in str(info.value) and str(info.value).startswith(str(tmp_path))


def test_broken_yaml_and_unknown_top_key(tmp_path):
    (tmp_path / "bad.yaml").write_text("network: {depth: [1, 2\n")
    with pytest.raises(CodesignError, match="not valid YAML"):
        load_space(tmp_path / "bad.yaml")
    with pytest.raises(CodesignError, match="unknown field `optimizer`"):
        load_space(_space(tmp_path, optimizer="adam"))
    with pytest.raises(CodesignError, match="unknown field `sgd.optimizer`"):
        load_space(_space(tmp_path, sgd={"optimizer": "adam"}))


def test_shipped_spaces_load_and_sample_conditionally():
    for name in ("rubric_cnn", "lenet"):
        space = load_space(name)
        study = optuna.create_study()
        for _ in range(5):
            trial = study.ask()
            try:
                spec = space.sample(trial, (3, 32, 32), 10, seed=1)
            except CodesignError:
                continue  # a draw whose stages shrink the image to nothing
            # per-stage parameters exist only for the stages drawn (define-by-run conditionals)
            depth = trial.params["depth"]
            assert len(spec.stages) == depth
            assert not any(k.startswith(f"stage{depth}_") for k in trial.params)
            assert spec.sgd.seed == 1


def test_infeasible_designs_are_caught_before_training(tmp_path):
    path = _space(tmp_path, network={"depth": 1, "stage": {"channels": {"choice": [4, 400]}}},
                  sgd={"epochs": {"int": [1, 40]}})
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


def test_budget_and_status_rules():
    assert parse_budget("8h") == 28800 and parse_budget("1h30m") == 5400 and parse_budget("90") == 90
    with pytest.raises(CodesignError, match="write it like"):
        parse_budget("eight hours")
    assert final_status({"status": "ok", "epoch": 3, "planned_epochs": 3}) == Status.OK
    assert final_status({"status": "running", "epoch": 1, "planned_epochs": 3}) == "stopped"  # ASHA / budget
    assert final_status({"status": "infeasible", "epoch": 0, "planned_epochs": 3}) == "infeasible"
    assert final_status({"status": "diverged", "epoch": 1, "planned_epochs": 3}) == "diverged"
    assert final_status(None, errored=True) == "error"
