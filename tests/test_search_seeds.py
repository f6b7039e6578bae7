"""Warm starts: seed designs read, checked against the dataset, and queued as the study's first trials."""

from __future__ import annotations

import optuna
import pytest
import yaml

from codesign.builtin_models import LeNet5
from codesign.data import DATASETS
from codesign.errors import CodesignError
from codesign.network import CandidateSpec, ConvStage, SGDConfig
from codesign.runs import Run, Status, TrialRecord
from codesign.search.seeds import SEED_DESIGN, enqueue_seeds, lenet5_spec, load_seeds, params_in_space
from codesign.space import load_space
from codesign.workload import trace
from tests.helpers import sampler_for

optuna.logging.set_verbosity(optuna.logging.WARNING)
FMNIST = DATASETS["fashion-mnist"]
SPACE = {
    "dataset": "fashion-mnist",
    "network": {
        "depth": {"int": [1, 2]},
        "stage": {"channels": {"choice": [4, 8]}, "pool": "max"},
        "head_width": {"choice": [0, 32]},
    },
    "sgd": {"lr": {"float": [0.01, 0.1], "log": True}, "epochs": 1},
}


def _space_file(tmp_path):
    path = tmp_path / "space.yaml"
    path.write_text(yaml.safe_dump(SPACE))
    return path


def test_lenet5_spec_is_the_builtin_network():
    spec = lenet5_spec((3, 32, 32), 10)
    built, reference = trace(spec.build()), trace(LeNet5())
    assert built.layers == reference.layers and built.parameters == reference.parameters
    assert built.peak_activation_bytes == reference.peak_activation_bytes


def test_seeds_are_read_and_checked(tmp_path):
    spec = CandidateSpec(stages=(ConvStage(8, pool="max"),), input_shape=(1, 28, 28), sgd=SGDConfig(lr=0.03, seed=5))
    (tmp_path / "good.json").write_text(spec.to_json())
    (tmp_path / "cifar.json").write_text(CandidateSpec(stages=(ConvStage(8),)).to_json())
    (tmp_path / "net.py").write_text("from torch import nn\n\nclass Net(nn.Sequential):\n    pass\n")
    lenet, good = load_seeds(["lenet5", str(tmp_path / "good.json")], FMNIST, seed=3)
    assert lenet.sgd_from_space and lenet.spec.input_shape == (1, 28, 28) and lenet.spec.head == (120, 84)
    assert good.spec.sgd.lr == 0.03 and good.spec.sgd.seed == 3  # the search's training seed
    for name, message in [
        ("lab2023", "depthwise conv without a pointwise"),
        (str(tmp_path / "cifar.json"), "made for inputs (3, 32, 32)"),
        (f"{tmp_path / 'net.py'}:Net", "a plain nn.Module has no spec"),
    ]:
        with pytest.raises(CodesignError, match="seed design") as info:
            load_seeds([name], FMNIST, seed=0)
        assert message in str(info.value) and "\n" not in str(info.value)


def test_a_past_runs_front_seeds_the_search(tmp_path):
    small = CandidateSpec(stages=(ConvStage(4, pool="max"),), input_shape=(1, 28, 28))
    big = CandidateSpec(stages=(ConvStage(8, pool="max"),) * 2, input_shape=(1, 28, 28))
    Run(tmp_path / "old").write_trials(
        [
            TrialRecord("a", Status.OK, val_accuracy=0.7, energy_pj=1e6, cycles=1e4, spec=small),
            TrialRecord("b", Status.OK, val_accuracy=0.8, energy_pj=2e6, cycles=2e4, spec=big),
            TrialRecord("c", Status.OK, val_accuracy=0.6, energy_pj=3e6, cycles=3e4, spec=big),  # dominated
            TrialRecord("d", Status.STOPPED, val_accuracy=0.9, energy_pj=1e5, cycles=1e3, spec=small),  # partial
        ]
    )
    seeds = load_seeds([str(tmp_path / "old")], FMNIST, seed=0)
    assert sorted(s.label for s in seeds) == ["old trial a", "old trial b"]


def test_seed_trials_draw_the_seed_design_in_or_out_of_the_space(tmp_path):
    path = _space_file(tmp_path)
    design, space = sampler_for(path), load_space(path)
    inside = CandidateSpec(
        stages=(ConvStage(8, pool="max"),) * 2, input_shape=(1, 28, 28), head=(32,), sgd=SGDConfig(lr=0.02, epochs=1)
    )
    seeds = load_seeds(["lenet5"], FMNIST, seed=0)
    (tmp_path / "inside.json").write_text(inside.to_json())
    seeds += load_seeds([str(tmp_path / "inside.json")], FMNIST, seed=0)
    assert params_in_space(seeds[0], space) is None  # 6 and 16 channels, a two-layer head: not in this space
    assert params_in_space(seeds[1], space) == {
        "depth": 2,
        "stage0_channels": 8,
        "stage1_channels": 8,
        "head_width": 32,
        "lr": 0.02,
    }
    study = optuna.create_study(directions=["maximize", "minimize", "minimize"])
    enqueue_seeds(study, seeds, space)
    lenet, again = design(study.ask()), design(study.ask())
    spec = CandidateSpec.from_dict(lenet["spec"])
    assert lenet["seed_design"] == "lenet5" and spec.stages == seeds[0].spec.stages and spec.head == (120, 84)
    assert 0.01 <= spec.sgd.lr <= 0.1 and spec.sgd.epochs == 1  # SGD settings drawn from the space
    assert CandidateSpec.from_dict(again["spec"]) == seeds[1].spec
    assert study.trials[1].params == params_in_space(seeds[1], space)  # recorded like any drawn design
    assert study.trials[0].user_attrs[SEED_DESIGN] == "lenet5" and set(study.trials[0].params) == {"lr"}
