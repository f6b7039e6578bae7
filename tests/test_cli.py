"""`codesign profile` as a user runs it: tables, JSON, and one-line errors with exit code 2."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from codesign.cli import main
from codesign.network import CandidateSpec, ConvStage
from tests.helpers import ROOT


def test_profile_lenet_json(capsys):
    assert main(["profile", "lenet5", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert {"energy_pj", "cycles", "peak_activation_bytes"} <= set(out["total"])
    assert len(out["layers"]) == 5
    assert out["total"]["cycles"] == sum(layer["cycles"] * layer["count"] for layer in out["layers"])
    assert out["total"]["peak_activation_bytes"] == 31_104
    # graded by default: the lab's timeloop-mapper numbers; the best mapping beside them, never worse
    total = out["total"]
    assert out["mapper"] == "random-pruned" and total["graded"]["cycles"] == total["cycles"] == 22_467
    assert total["best"]["cycles"] <= 22_467 and total["best"]["energy_pj"] < total["energy_pj"]
    assert all("best" in layer for layer in out["layers"])


@pytest.mark.parametrize(
    "model, cycles, printed", [("lenet5", "22,467 cycles", "30.75 uJ"), ("lab2023", "12,172 cycles", "87.97 uJ")]
)
def test_profile_prints_the_labs_published_numbers(model, cycles, printed, capsys):
    assert main(["profile", model]) == 0
    out = capsys.readouterr().out
    assert cycles in out and f"({printed} as the lab's profiler prints it)" in out and "best" in out
    assert main(["profile", model, "--mapper", "exhaustive", "--json"]) == 0
    best = json.loads(capsys.readouterr().out)["total"]
    assert best["cycles"] == best["best"]["cycles"] < int(cycles.split()[0].replace(",", ""))


def test_profile_table_and_spec_json(tmp_path, capsys):
    spec = CandidateSpec(stages=(ConvStage(16, pool="max"), ConvStage(32, stride=2)), head=(64,))
    path = tmp_path / "spec.json"
    path.write_text(spec.to_json())
    assert main(["profile", str(path), "--show-mapping"]) == 0
    out = capsys.readouterr().out
    assert "mJ" in out and "cycles" in out and "mapping: DRAM" in out and "B (limit 1,000,000 B" in out


def _run(*args, cwd=ROOT):
    env = dict(os.environ)
    return subprocess.run(
        [sys.executable, "-m", "codesign.cli", *args], capture_output=True, text=True, cwd=cwd, env=env, timeout=120
    )


@pytest.mark.parametrize(
    "args, message",
    [
        (["profile", "missing.py:Net"], "missing.py: model file not found"),
        (["profile", "resnet999"], "unknown model 'resnet999'"),
        (["profile", "lenet5", "--arch", "arch/nope.yaml"], "architecture file not found"),
    ],
)
def test_bad_input_is_one_line_exit_2(args, message):
    result = _run(*args)
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0 and "Traceback" not in result.stderr
    assert message in result.stderr


def test_unsupported_layer_and_arch_typo(tmp_path):
    (tmp_path / "net.py").write_text(
        "from torch import nn\n\nclass Net(nn.Module):\n    def __init__(self):\n        super().__init__()\n"
        "        self.rnn = nn.Conv2d(3, 4, 3)\n        self.up = nn.Upsample(scale_factor=2)\n\n"
        "    def forward(self, x):\n        return self.up(self.rnn(x))\n"
    )
    result = _run("profile", f"{tmp_path / 'net.py'}:Net")
    assert result.returncode == 2 and "module `up` (Upsample) is not supported" in result.stderr
    arch = (
        (ROOT / "arch" / "simple_weight_stationary.yaml")
        .read_text()
        .replace("block_words: 4\n  read_bandwidth", "block_wrds: 4\n  read_bandwidth")
    )
    (tmp_path / "typo.yaml").write_text(arch)
    result = _run("profile", "lenet5", "--arch", str(tmp_path / "typo.yaml"))
    assert result.returncode == 2 and "unknown field `global_buffer.block_wrds`" in result.stderr
    assert "Traceback" not in result.stderr


def test_profile_says_which_input_shape_and_why_and_the_rubrics_total(tmp_path, capsys):
    assert main(["profile", "lenet5"]) == 0
    out = capsys.readouterr().out
    assert (
        "input (1, 3, 32, 32): the CIFAR-10 shape, the built-in's default; pass --dataset mnist or --dataset "
        "fashion-mnist, or --input-shape, for another"
    ) in out
    assert "rubric      20 + 20 = 40 of 100 points; accuracy adds up to 60 once trained" in out
    assert main(["profile", "lenet5", "--dataset", "fashion-mnist", "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["input_shape"] == [1, 1, 28, 28]
    assert shown["input_shape_reason"] == "the Fashion-MNIST shape (--dataset fashion-mnist)"
    total = shown["total"]  # the fields it always had, and the rubric's total beside them
    assert (total["energy_points"], total["latency_points"], total["rubric_points"], total["max_points"]) == (
        20,
        20,
        40,
        100,
    ) and total["accuracy_points"] is None
    # a searched trial: its spec's shape, and the points its validation accuracy earned, as the search printed
    spec = CandidateSpec(stages=(ConvStage(4, pool="max"),), input_shape=(1, 28, 28))
    run = tmp_path / "run"
    run.mkdir()
    quoted = '"' + spec.to_json(indent=None).replace('"', '""') + '"'
    (run / "trials.csv").write_text(
        f"trial_id,status,val_accuracy,energy_pj,cycles,rubric_points,spec\na1,ok,0.75,1.0,1.0,90,{quoted}\n"
    )
    assert main(["profile", str(run)]) == 0
    out = capsys.readouterr().out
    assert "input (1, 1, 28, 28): the spec's own" in out
    assert "rubric      50 (validation accuracy 0.7500) + 20 + 20 = 90 of 100 points, as the search scored it" in out
