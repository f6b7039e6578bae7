"""`codesign export` of any MODEL, and `codesign profile` of run folders and exports."""

from __future__ import annotations

import json

import pandas as pd
import pytest
import torch

from codesign.cli import main
from codesign.export import load_exported
from codesign.network import CandidateSpec, ConvStage


def _spec():
    return CandidateSpec(stages=(ConvStage(8, pool="max"), ConvStage(16, kind="separable", stride=2)),
                         head=(32,), global_pool=True)


def test_export_spec_with_trained_weights(tmp_path, capsys):
    spec = _spec()
    (tmp_path / "spec.json").write_text(spec.to_json())
    model = spec.build().eval()
    for p in model.parameters():  # weights unlike a fresh initialisation
        p.data.normal_()
    torch.save(model.state_dict(), tmp_path / "weights.pt")
    out = tmp_path / "out"
    assert main(["export", str(tmp_path / "spec.json"), "--weights", str(tmp_path / "weights.pt"),
                 "--out", str(out)]) == 0
    net = load_exported(out).eval()
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        assert torch.allclose(net(x), model(x), atol=1e-6)
    readme = (out / "README.md").read_text()
    assert "lr 0.05" in readme and "seed 0" in readme
    assert CandidateSpec.load(out / "spec.json") == spec


def test_custom_forward_cannot_be_flattened(tmp_path):
    (tmp_path / "res.py").write_text(
        "from torch import nn\n\nclass Res(nn.Module):\n    def __init__(self):\n        super().__init__()\n"
        "        self.a = nn.Conv2d(3, 3, 3, padding=1)\n        self.head = nn.Sequential(nn.Flatten(), nn.Linear(3072, 10))\n\n"
        "    def forward(self, x):\n        return self.head(x + self.a(x))\n")
    assert main(["export", f"{tmp_path / 'res.py'}:Res", "--out", str(tmp_path / "o")]) == 2


def test_profile_a_trial_of_a_run_folder(tmp_path, capsys):
    run = tmp_path / "run"
    run.mkdir()
    spec = _spec()
    rows = [{"trial_id": "a1", "status": "ok", "rubric_points": 90, "val_accuracy": 0.8, "energy_pj": 1.0,
             "cycles": 1.0, "spec": spec.to_json(indent=None)},
            {"trial_id": "b2", "status": "infeasible", "rubric_points": 0, "val_accuracy": 0.0,
             "energy_pj": 1e15, "cycles": 1e12, "spec": "", "reason": "peak activation"}]
    pd.DataFrame(rows).to_csv(run / "trials.csv", index=False)
    assert main(["profile", str(run), "--trial", "a1", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["total"]["cycles"] > 0 and len(out["layers"]) == 5
    assert main(["profile", str(run), "--trial", "b2"]) == 2  # no spec: it never got past the constraints
    assert main(["profile", str(run), "--trial", "zz"]) == 2
    assert main(["export", str(run), "--out", str(tmp_path / "best")]) == 0  # best by rubric score: a1
    assert (tmp_path / "best" / "spec.json").is_file() and not (tmp_path / "best" / "weights.pt").exists()
    assert main(["profile", str(tmp_path / "best"), "--json"]) == 0


def test_a_failed_export_leaves_nothing_behind(tmp_path):
    (tmp_path / "res.py").write_text(
        "from torch import nn\n\nclass Res(nn.Module):\n    def __init__(self):\n        super().__init__()\n"
        "        self.a = nn.Conv2d(3, 3, 3, padding=1)\n        self.head = nn.Sequential(nn.Flatten(), nn.Linear(3072, 10))\n\n"
        "    def forward(self, x):\n        return self.head(x + self.a(x))\n")
    assert main(["export", f"{tmp_path / 'res.py'}:Res", "--out", str(tmp_path / "o")]) == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["res.py"]  # no model.py, no staging folder


@pytest.mark.parametrize("weights, message", [
    (b"garbage, not a state dict", "not a PyTorch state dict"),
    (b"", "not a PyTorch state dict"),
    ("tensor", "not a state dict (a dict of tensors"),
    ("other model", "the weights do not fit this model (Error(s) in loading state_dict for"),
])
def test_bad_weights_are_one_line_and_write_nothing(tmp_path, capsys, weights, message):
    (tmp_path / "spec.json").write_text(_spec().to_json())
    path = tmp_path / "weights.pt"
    if weights == "tensor":
        torch.save(torch.zeros(3), path)
    elif weights == "other model":
        torch.save(CandidateSpec(stages=(ConvStage(4),), head=()).build().state_dict(), path)
    else:
        path.write_bytes(weights)
    capsys.readouterr()
    assert main(["export", str(tmp_path / "spec.json"), "--weights", str(path), "--out", str(tmp_path / "o")]) == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith(f"codesign: error: {path}: {message}") and "\n" not in error
    assert not (tmp_path / "o").exists() and not list(tmp_path.glob(".o.*"))


def test_an_export_names_the_model_file_not_the_path_typed(tmp_path):
    home = tmp_path / "home" / "someone" / "models"
    home.mkdir(parents=True)
    (home / "net.py").write_text(
        "from torch import nn\n\nclass Net(nn.Module):\n    def __init__(self):\n        super().__init__()\n"
        "        self.body = nn.Sequential(nn.Conv2d(3, 4, 3), nn.Flatten(), nn.Linear(3600, 10))\n\n"
        "    def forward(self, x):\n        return self.body(x)\n")
    (home / "spec.json").write_text(_spec().to_json())
    for model, label in ((f"{home / 'net.py'}:Net", "net.py:Net"), (str(home / "spec.json"), "spec.json")):
        out = tmp_path / label.replace(":", "_")
        assert main(["export", model, "--out", str(out)]) == 0
        for name in ("README.md", "model.py"):
            text = (out / name).read_text()
            assert label in text and "someone" not in text, name


def test_arch_out_where_nothing_can_be_written_is_one_line(tmp_path, capsys):
    (tmp_path / "file").write_text("")
    for target in ("/proc/x.yaml", str(tmp_path / "file" / "x.yaml")):
        assert main(["arch", "--pe-x", "8", "--out", target]) == 2
        error = capsys.readouterr().err.strip()
        assert error.startswith(f"codesign: error: {target}: cannot write it (") and "\n" not in error
