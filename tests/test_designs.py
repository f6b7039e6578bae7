"""Every way a user names a design, read by one module: built-ins, files, specs, runs and exports."""

from __future__ import annotations

import pytest
import torch

from codesign.designs import load_design
from codesign.errors import CodesignError
from codesign.network import CandidateSpec, ConvStage
from codesign.runs import Run, Status, TrialRecord


def test_builtin_spec_and_python_file(tmp_path):
    assert load_design("lenet5").label == "lenet5"
    spec = CandidateSpec(stages=(ConvStage(8),))
    (tmp_path / "s.json").write_text(spec.to_json())
    design = load_design(str(tmp_path / "s.json"))
    assert design.spec == spec and design.input_shape == (1, 3, 32, 32)
    (tmp_path / "m.py").write_text(
        "from torch import nn\n\nclass Net(nn.Sequential):\n"
        "    def __init__(self):\n        super().__init__(nn.Flatten(), nn.Linear(4, 2))\n"
    )
    assert isinstance(load_design(f"{tmp_path / 'm.py'}:Net").module, torch.nn.Sequential)
    with pytest.raises(CodesignError, match="name the class too"):
        load_design(str(tmp_path / "m.py"))
    with pytest.raises(CodesignError, match="has no class `Nope`"):
        load_design(f"{tmp_path / 'm.py'}:Nope")
    with pytest.raises(CodesignError, match="unknown model 'resnet999'"):
        load_design("resnet999")


def test_a_run_folder_gives_its_best_trial_with_weights(tmp_path):
    spec = CandidateSpec(stages=(ConvStage(8),))
    run = Run(tmp_path)
    run.write_trials(
        [
            TrialRecord("a", Status.OK, val_accuracy=0.5, energy_pj=2e6, cycles=100, rubric_points=50, spec=spec),
            TrialRecord("b", Status.OK, val_accuracy=0.7, energy_pj=3e6, cycles=200, rubric_points=60, spec=spec),
        ]
    )
    run.weights_file("b").parent.mkdir()
    torch.save(spec.build().state_dict(), run.weights_file("b"))
    design = load_design(str(tmp_path))
    assert design.label.endswith("trial b") and design.weights == run.weights_file("b")
    assert design.facts["val_accuracy"] == 0.7 and design.arch is None
    assert load_design(str(tmp_path), trial="a").weights is None
    with pytest.raises(CodesignError, match="--trial needs a search run folder"):
        load_design("lenet5", trial="a")
