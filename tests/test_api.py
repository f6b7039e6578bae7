"""The Python API (codesign.profile/train/search/load_run/export): the same numbers as the CLI, notebook display."""

from __future__ import annotations

import dataclasses
import inspect
import json
import typing

import pandas as pd
import pytest
import torch
import yaml
from torch import nn

import codesign
from codesign.cli import main
from codesign.errors import CodesignError
from codesign.network import CandidateSpec, ConvStage
from tests.helpers import needs_fmnist

NET_SOURCE = """from torch import nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                                  nn.Conv2d(16, 32, 3, stride=2), nn.Flatten(), nn.Linear(32 * 7 * 7, 10))

    def forward(self, x):
        return self.body(x)
"""


def test_profile_of_a_module_instance_equals_the_cli(tmp_path, capsys):
    (tmp_path / "net.py").write_text(NET_SOURCE)
    assert main(["profile", f"{tmp_path / 'net.py'}:Net", "--json"]) == 0
    cli = json.loads(capsys.readouterr().out)["total"]
    namespace: dict = {}
    exec(NET_SOURCE, namespace)
    result = codesign.profile(namespace["Net"]())
    assert (result.energy_pj, result.cycles, result.peak_activation_bytes) == (
        cli["energy_pj"],
        cli["cycles"],
        cli["peak_activation_bytes"],
    )
    assert (result.energy_points, result.latency_points) == (cli["energy_points"], cli["latency_points"])
    table = result.to_pandas()
    assert len(table) == 3 and {"layer", "cycles", "energy_uj", "mapping"} <= set(table.columns)
    assert "<table" in result._repr_html_() and "mJ" in str(result)
    spec = CandidateSpec(stages=(ConvStage(8),))
    assert codesign.profile(spec).cycles == codesign.profile(spec.build()).cycles


@pytest.mark.parametrize("name", ["lenet5", "lab2023"])
def test_builtins_take_any_datasets_images(name, capsys):
    cifar = codesign.profile(name)
    assert cifar.to_dict()["input_shape"] == [1, 3, 32, 32]
    digits = codesign.profile(name, dataset="fashion-mnist")
    assert digits.to_dict()["input_shape"] == [1, 1, 28, 28]
    assert main(["profile", name, "--input-shape", "1,1,28,28", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["total"]["cycles"] == digits.cycles


def test_lenet5_keeps_the_labs_cifar_shapes():
    lenet = codesign.profile("lenet5")
    assert lenet.peak_activation_bytes == 31_104 and lenet.parameters == 62_006  # the lab's 2022 notebook


@needs_fmnist
def test_train_lenet5_on_fashion_mnist():
    done = codesign.train("lenet5", "fashion-mnist", epochs=1, lr=0.05, batch_size=128, val_size=2000)
    assert done.status == "ok" and done.val_accuracy > 0.75  # NOTES.md: 82 % after one epoch
    assert list(done.history["epoch"]) == [1] and "<table" in done._repr_html_()
    with pytest.raises(CodesignError, match="unknown SGD setting `optimizer`"):
        codesign.train("lenet5", "fashion-mnist", optimizer="adam")


SPACE = {
    "dataset": "fashion-mnist",
    "network": {"depth": 1, "stage": {"channels": {"choice": [4, 8]}, "pool": "max"}, "head_width": 0},
    "sgd": {"lr": 0.05, "batch_size": 64, "schedule": "onecycle", "epochs": 1},
}


@needs_fmnist
def test_search_returns_the_trials_the_cli_writes(tmp_path):
    space = tmp_path / "space.yaml"
    space.write_text(yaml.safe_dump(SPACE))
    common = [
        "--space",
        str(space),
        "--runs-dir",
        str(tmp_path),
        "--trials",
        "2",
        "--train-size",
        "1000",
        "--val-size",
        "500",
        "--no-dashboard",
        "--sampler",
        "random",
        "--seed",
        "3",
    ]
    assert main(["search", "--name", "cli", *common]) == 0
    run = codesign.search(
        space,
        trials=2,
        name="api",
        runs_dir=tmp_path,
        train_size=1000,
        val_size=500,
        sampler="random",
        seed=3,
        mapper="exhaustive",
    )
    written = pd.read_csv(tmp_path / "cli" / "trials.csv", dtype={"trial_id": str})
    assert (
        codesign.load_run(tmp_path / "cli")
        .trials[["trial_id", "val_accuracy"]]
        .equals(written[["trial_id", "val_accuracy"]])
    )
    columns = ["spec", "val_accuracy", "graded_energy_pj", "graded_cycles", "best_energy_pj", "best_cycles", "status"]
    api_rows = run.trials.sort_values("spec").reset_index(drop=True)
    cli_rows = written.sort_values("spec").reset_index(drop=True)
    assert api_rows[columns].equals(cli_rows[columns])  # seeded: the same designs, trained the same
    # the search optimises the graded numbers by default; mapper="exhaustive" switches its objectives
    assert cli_rows["energy_pj"].equals(cli_rows["graded_energy_pj"])
    assert cli_rows["cycles"].equals(cli_rows["graded_cycles"])
    assert api_rows["energy_pj"].equals(api_rows["best_energy_pj"])
    assert api_rows["cycles"].equals(api_rows["best_cycles"])
    assert (api_rows["best_energy_pj"] <= api_rows["graded_energy_pj"]).all()
    best = run.best()
    assert best.status is codesign.Status.OK and best.trial_id in set(run.front["trial_id"])
    assert run.plot().data and "Pareto front" in run._repr_html_()
    files = {p.name for p in run.export(tmp_path / "best")}
    assert {"model.py", "weights.pt", "spec.json", "README.md"} <= files


def test_public_names():
    for name in codesign.__all__:
        obj = getattr(codesign, name)
        if name != "__version__":
            assert (obj.__doc__ or "").strip(), name
    with pytest.raises(CodesignError, match="not a codesign search folder"):
        codesign.load_run(".")
    assert isinstance(codesign.derive(pe_x=8).pe_array.x, int)
    assert isinstance(codesign.profile(nn.Sequential(nn.Flatten(), nn.Linear(12, 2)), (1, 12)).cycles, int)
    assert torch.cuda.is_available() or codesign.search_settings("lenet", trials=1).resources.gpus_per_trial == 0


def _codesign_classes(hint: typing.Any) -> set[type]:
    found = {hint} if isinstance(hint, type) and hint.__module__.startswith("codesign") else set()
    for arg in typing.get_args(hint):
        found |= _codesign_classes(arg)
    return found


def test_no_public_name_leaks_an_internal_type():
    """What the public names take and give (arguments, returns, properties, fields) is itself public: a notebook
    user can name every type they meet. An Arch's sections (pe_array, dram, ...) are its parts, in codesign.arch."""
    leaks = set()
    for name in codesign.__all__:
        obj = getattr(codesign, name)
        typed = [obj] if inspect.isfunction(obj) else []
        if inspect.isclass(obj):
            members = [m for k, m in vars(obj).items() if not k.startswith("_")]
            typed += [m for m in members if inspect.isfunction(m)]
            typed += [m.fget for m in members if isinstance(m, property)]
        hints = [h for fn in typed for h in typing.get_type_hints(fn).values()]
        if dataclasses.is_dataclass(obj) and obj is not codesign.Arch:
            fields = typing.get_type_hints(obj)
            hints += [fields[f.name] for f in dataclasses.fields(obj) if not f.name.startswith("_")]
        leaks |= {
            f"{name}: {c.__module__}.{c.__name__}"
            for h in hints
            for c in _codesign_classes(h)
            if c.__name__ not in codesign.__all__
        }
    assert not leaks, sorted(leaks)


def test_every_api_function_is_documented_with_a_runnable_example():
    """Each function of codesign.api takes its options by keyword, says what each one is (Args:), and shows an
    example that runs as written (the slow ones are marked to skip: a search, a training)."""
    import doctest

    from codesign import api

    for name in ("profile", "train", "search", "search_settings", "load_run", "export", "derive"):
        function = getattr(api, name)
        doc = inspect.getdoc(function)
        assert "Args:" in doc and "Example:" in doc and ">>> import codesign" in doc, name
        parameters = inspect.signature(function).parameters.values()
        documented = [p.name for p in parameters if p.kind is not inspect.Parameter.VAR_KEYWORD]
        assert all(f"    {p} " in doc or f"    {p}:" in doc or f"**{p}" in doc for p in documented), name
        positional = [p.name for p in parameters if p.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD]
        assert len(positional) <= 2, (name, positional)  # the rest keyword-only
    finder, runner = doctest.DocTestFinder(), doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    for test in finder.find(api, "codesign.api"):
        runner.run(test)
    assert runner.summarize(verbose=False).failed == 0
