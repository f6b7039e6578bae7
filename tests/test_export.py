"""`codesign export` of any MODEL, and `codesign profile` of run folders and exports."""

from __future__ import annotations

import json
import subprocess
import sys

import pandas as pd
import pytest
import torch

from codesign.cli import main
from codesign.data import DEBIAN_FASHION_MNIST
from codesign.designs import load_design
from codesign.errors import CodesignError
from codesign.export import build_net, check_source, load_exported, module_source
from codesign.network import CandidateSpec, ConvStage, SGDConfig
from tests.helpers import needs_fmnist


def _spec():
    return CandidateSpec(
        stages=(ConvStage(8, pool="max"), ConvStage(16, kind="separable", stride=2)), head=(32,), global_pool=True
    )


def test_export_spec_with_trained_weights(tmp_path, capsys):
    spec = _spec()
    (tmp_path / "spec.json").write_text(spec.to_json())
    model = spec.build().eval()
    for p in model.parameters():  # weights unlike a fresh initialisation
        p.data.normal_()
    torch.save(model.state_dict(), tmp_path / "weights.pt")
    out = tmp_path / "out"
    assert (
        main(["export", str(tmp_path / "spec.json"), "--weights", str(tmp_path / "weights.pt"), "--out", str(out)]) == 0
    )
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
        "        self.a = nn.Conv2d(3, 3, 3, padding=1)\n"
        "        self.head = nn.Sequential(nn.Flatten(), nn.Linear(3072, 10))\n\n"
        "    def forward(self, x):\n        return self.head(x + self.a(x))\n"
    )
    assert main(["export", f"{tmp_path / 'res.py'}:Res", "--out", str(tmp_path / "o")]) == 2


def test_profile_a_trial_of_a_run_folder(tmp_path, capsys):
    run = tmp_path / "run"
    run.mkdir()
    spec = _spec()
    rows = [
        {
            "trial_id": "a1",
            "status": "ok",
            "rubric_points": 90,
            "val_accuracy": 0.8,
            "energy_pj": 1.0,
            "cycles": 1.0,
            "spec": spec.to_json(indent=None),
        },
        {
            "trial_id": "b2",
            "status": "infeasible",
            "rubric_points": 0,
            "val_accuracy": 0.0,
            "energy_pj": 1e15,
            "cycles": 1e12,
            "spec": "",
            "reason": "peak activation",
        },
    ]
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
        "        self.a = nn.Conv2d(3, 3, 3, padding=1)\n"
        "        self.head = nn.Sequential(nn.Flatten(), nn.Linear(3072, 10))\n\n"
        "    def forward(self, x):\n        return self.head(x + self.a(x))\n"
    )
    assert main(["export", f"{tmp_path / 'res.py'}:Res", "--out", str(tmp_path / "o")]) == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["res.py"]  # no model.py, no staging folder


@pytest.mark.parametrize(
    "weights, message",
    [
        (b"garbage, not a state dict", "not a PyTorch state dict"),
        (b"", "not a PyTorch state dict"),
        ("tensor", "not a state dict (a dict of tensors"),
        ("other model", "the weights do not fit this model (Error(s) in loading state_dict for"),
    ],
)
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
        "    def forward(self, x):\n        return self.body(x)\n"
    )
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


# ------------------------------------------------------------------------------ what a user is handed

# Runs in a fresh interpreter where `import codesign` fails: the export must stand on torch (and onnxruntime) alone.
WITHOUT_CODESIGN = r"""
import gzip, importlib.abc, json, sys

class NoCodesign(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "codesign" or name.startswith("codesign."):
            raise ImportError("codesign is not importable here")

sys.meta_path.insert(0, NoCodesign())
export, data = sys.argv[1], sys.argv[2]
sys.path.insert(0, export)
import torch
from model import Net

def idx(path):
    raw = gzip.open(path).read()
    ndim = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    return torch.frombuffer(bytearray(raw[4 + 4 * ndim:]), dtype=torch.uint8).reshape(dims)

images = idx(f"{data}/t10k-images-idx3-ubyte.gz")[:, None]   # (10000, 1, 28, 28) uint8
labels = idx(f"{data}/t10k-labels-idx1-ubyte.gz").long()
net = Net()
net.load_state_dict(torch.load(f"{export}/weights.pt", weights_only=True))
net.eval()
unit = images.float() / 255                                  # what torchvision's ToTensor gives: [0, 1]
with torch.no_grad():
    result = {"float": (net(unit).argmax(1) == labels).float().mean().item(),
              "uint8": (net(images).argmax(1) == labels).float().mean().item()}
if len(sys.argv) > 3:
    import onnxruntime
    session = onnxruntime.InferenceSession(f"{export}/model.onnx")
    logits = session.run(None, {"images": unit.numpy()})[0]
    result["onnx"] = float((torch.from_numpy(logits).argmax(1) == labels).float().mean())
result["classes"] = list(Net.CLASSES)
result["codesign_loaded"] = any(m == "codesign" or m.startswith("codesign.") for m in sys.modules)
print(json.dumps(result))
"""


def _without_codesign(export, *extra):
    done = subprocess.run(
        [sys.executable, "-I", "-c", WITHOUT_CODESIGN, str(export), str(DEBIAN_FASHION_MNIST), *extra],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=export,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


@needs_fmnist
def test_an_exported_model_scores_its_validation_accuracy_on_the_real_test_images(tmp_path, capsys):
    """Trained on Fashion-MNIST, exported, run where codesign is not importable, fed plain [0, 1] images:
    the 10,000 test images score the validation accuracy within a point (torch, and ONNX Runtime)."""
    import codesign

    spec = CandidateSpec(
        stages=(ConvStage(6, kernel=5, pool="max"), ConvStage(16, kernel=5, pool="max")),
        input_shape=(1, 28, 28),
        head=(84,),
        sgd=SGDConfig(lr=0.05, momentum=0.9, batch_size=128, epochs=2, schedule="onecycle"),
    )
    done = codesign.train(spec, "fashion-mnist")
    folder = done.save(tmp_path / "trained")
    out = tmp_path / "export"
    assert main(["export", str(folder), "--out", str(out), "--onnx"]) == 0
    scores = _without_codesign(out, "onnx")
    assert not scores["codesign_loaded"]
    assert abs(scores["float"] - done.val_accuracy) < 0.01, (scores, done.val_accuracy)
    assert scores["uint8"] == scores["float"] and abs(scores["onnx"] - scores["float"]) < 1e-3
    assert scores["classes"][:2] == ["T-shirt/top", "Trouser"]
    # what the user reads: the data set, the input, the classes, the accuracy and the command that trains it again
    readme = (out / "README.md").read_text()
    assert "Fashion-MNIST" in readme and "[0, 1]" in readme and "uint8" in readme and "Ankle boot" in readme
    assert "codesign train spec.json --dataset fashion-mnist --out retrained" in readme
    about = json.loads((out / "spec.json").read_text())["about"]
    assert about["dataset"] == "fashion-mnist" and about["input"]["shape"] == ["N", 1, 28, 28]
    assert about["scores"]["val_accuracy"] == done.val_accuracy and len(about["classes"]) == 10
    assert CandidateSpec.load(out / "spec.json") == spec  # the notes do not change the spec codesign reads back
    # the export is a design again: profiled on its spec, and its weights load into codesign's own model
    capsys.readouterr()
    assert main(["profile", str(out), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["input_shape"] == [1, 1, 28, 28]
    assert load_design(str(out)).trained_on.dataset == "fashion-mnist"


# ------------------------------------------------------------------------------ data stays data

PAYLOAD = '"""+str(__import__("os").makedirs({marker!r}))+"""'


def _hostile_run(tmp_path, trial_id):
    run = tmp_path / "run"
    run.mkdir()
    spec = CandidateSpec(stages=(ConvStage(4, pool="max"),), input_shape=(1, 28, 28))
    pd.DataFrame(
        [
            {
                "trial_id": trial_id,
                "status": "ok",
                "rubric_points": 90,
                "val_accuracy": 0.8,
                "energy_pj": 1.0,
                "cycles": 1.0,
                "spec": spec.to_json(indent=None),
            }
        ]
    ).to_csv(run / "trials.csv", index=False)
    return run


def _imports_cleanly(out, marker):
    """model.py imports and builds in a fresh interpreter, and no payload runs there either."""
    subprocess.run(
        [sys.executable, "-c", "import sys; sys.path.insert(0, sys.argv[1]); from model import Net; Net()", str(out)],
        check=True,
        timeout=120,
        cwd=out,
    )
    assert not marker.exists(), "the exported model.py ran the payload"


@pytest.mark.parametrize("shape", ["docstring", "newline"])
def test_a_hostile_trial_id_runs_no_code_and_the_export_still_imports(tmp_path, shape):
    marker = tmp_path / "payload-ran"
    trial_id = "x" + PAYLOAD.format(marker=str(marker))
    if shape == "newline":
        trial_id = f'x"""\nimport os\nos.makedirs({str(marker)!r})\n"""'
    run = _hostile_run(tmp_path, trial_id)
    out = tmp_path / "out"
    assert main(["export", str(run), "--trial", trial_id, "--out", str(out)]) == 0
    assert not marker.exists(), "export ran the trial id"
    source = (out / "model.py").read_text()
    assert '"""+' not in source and "\nimport os" not in source
    check_source(source)  # nothing but what codesign writes: the id is inert text in a docstring
    _imports_cleanly(out, marker)
    assert main(["profile", str(out)]) == 0 and not marker.exists()


def test_a_hostile_spec_file_name_runs_no_code(tmp_path):
    marker = tmp_path / "payload-ran"
    folder = tmp_path / "specs"
    folder.mkdir()
    name = PAYLOAD.format(marker="payload-ran").replace("/", "_") + ".json"
    (folder / name).write_text(_spec().to_json())
    out = tmp_path / "out"
    # in a fresh process, as a user runs it (torch imports its own parts lazily while the check runs model.py)
    done = subprocess.run(
        [sys.executable, "-m", "codesign.cli", "export", str(folder / name), "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert not marker.exists()
    assert '"""+' not in (out / "model.py").read_text() + (out / "README.md").read_text()
    check_source((out / "model.py").read_text())
    _imports_cleanly(out, marker)


def test_generated_source_is_checked_before_it_runs():

    source = module_source(_spec().build(), "t", "d", None, (1, 3, 32, 32))
    check_source(source)  # what codesign writes passes its own check
    for bad in (
        '__import__("os").system("true")',
        'open("x", "w")',
        "torch.load('w.pt')",
        "eval('1')",
        "x.__class__",
        "[1 for _ in ()]",
        "lambda: 0",
    ):
        tampered = source.replace("        return ", f"        {bad}\n        return ", 1)
        with pytest.raises(CodesignError, match="which codesign never writes"):
            build_net(tampered)


# ------------------------------------------------------------------------------ the user's files


def test_an_export_refuses_a_folder_with_the_users_files_unless_forced(tmp_path, capsys):
    (tmp_path / "spec.json").write_text(_spec().to_json())
    out = tmp_path / "mine"
    out.mkdir()
    (out / "README.md").write_text("my own notes\n")
    (out / "data.csv").write_text("1,2\n")
    capsys.readouterr()
    assert main(["export", str(tmp_path / "spec.json"), "--out", str(out)]) == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith(f"codesign: error: {out}: not empty (README.md, data.csv)") and "--force" in error
    assert sorted(p.name for p in out.iterdir()) == ["README.md", "data.csv"]
    assert (out / "README.md").read_text() == "my own notes\n" and not list(tmp_path.glob(".mine.*"))
    assert main(["export", str(tmp_path / "spec.json"), "--out", str(out), "--force"]) == 0
    assert (out / "data.csv").read_text() == "1,2\n"  # the user's other file is kept, byte for byte
    assert (out / "README.md").read_text().startswith("# spec.json")  # --force: the export's own file replaces it
    # a later export without --onnx keeps (and names) the model.onnx an earlier one wrote
    (out / "model.onnx").write_bytes(b"earlier")
    capsys.readouterr()
    assert main(["export", str(tmp_path / "spec.json"), "--out", str(out), "--force"]) == 0
    assert "kept model.onnx from before" in capsys.readouterr().out and (out / "model.onnx").read_bytes() == b"earlier"
    assert main(["export", str(tmp_path / "spec.json"), "--out", str(tmp_path / "spec.json")]) == 2


def _mount_tmpfs(path, options):
    path.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({done.stderr.decode().strip()[:80]})")


@pytest.mark.skipif(
    not hasattr(sys, "getwindowsversion") and __import__("os").geteuid() != 0,
    reason="mounting a small tmpfs needs root",
)
@pytest.mark.parametrize("fault", ["full", "read-only"])
def test_a_full_disk_or_a_read_only_folder_is_one_line_and_leaves_nothing(tmp_path, capsys, fault):
    spec = CandidateSpec(stages=(ConvStage(64), ConvStage(64)), head=(256,))  # weights.pt: about 17 MB
    (tmp_path / "spec.json").write_text(spec.to_json())
    torch.save(spec.build().state_dict(), tmp_path / "weights.pt")
    disk = tmp_path / "disk"
    _mount_tmpfs(disk, "size=1m" if fault == "full" else "size=1m,ro")
    try:
        capsys.readouterr()
        out = disk / "export"
        assert (
            main(["export", str(tmp_path / "spec.json"), "--weights", str(tmp_path / "weights.pt"), "--out", str(out)])
            == 2
        )
        error = capsys.readouterr().err.strip()
        reason = "No space left on device" if fault == "full" else "Read-only file system"
        assert error.startswith(f"codesign: error: {out}") and reason in error and "\n" not in error, error
        assert list(disk.iterdir()) == []  # no half-written export, no staging folder
    finally:
        subprocess.run(["umount", str(disk)], check=False)


def test_the_readme_names_the_command_that_repeats_a_trials_training():
    from codesign.designs import Design, TrainedOn
    from codesign.export import reproduce_command

    spec = _spec()
    design = Design(spec.build(), "run trial a", spec, trained_on=TrainedOn("fashion-mnist", 3, 1000, 2000, True))
    assert reproduce_command(design, "fashion-mnist") == (
        "codesign train spec.json --dataset fashion-mnist --train-size 2000 --val-size 1000 --split-seed 3 "
        "--data-dir DATA_DIR --out retrained"
    )
    plain = Design(spec.build(), "run trial a", spec, trained_on=TrainedOn("cifar10", 0, 5000))
    assert reproduce_command(plain, "cifar10") == "codesign train spec.json --dataset cifar10 --out retrained"
    assert "--dataset DATASET" in reproduce_command(Design(spec.build(), "s", spec), None)


@needs_fmnist
def test_train_size_trains_on_the_first_images_as_a_search_does(tmp_path):
    import codesign

    spec = CandidateSpec(
        stages=(ConvStage(4, pool="max"),), input_shape=(1, 28, 28), sgd=SGDConfig(epochs=1, batch_size=64)
    )
    done = codesign.train(spec, "fashion-mnist", train_size=500, val_size=500)
    assert done.summary["train_size"] == 500 and done.summary["train_size_limit"] == 500
    folder = done.save(tmp_path / "t")
    assert load_design(str(folder)).trained_on.train_size == 500
    with pytest.raises(CodesignError, match="`train_size` must be a positive integer"):
        codesign.train(spec, "fashion-mnist", train_size=0)


def test_an_export_in_a_fresh_process_of_a_python_class(tmp_path):
    """As a user runs it: torch imports its own parts lazily while the check runs model.py's text, so the check
    must leave torch its import machinery (a check that worked only in a process that had warmed torch up failed)."""
    (tmp_path / "net.py").write_text(
        "from torch import nn\n\nclass Small(nn.Module):\n    def __init__(self):\n        super().__init__()\n"
        "        self.body = nn.Sequential(nn.Conv2d(3, 4, 3), nn.Flatten(), nn.Linear(3600, 10))\n\n"
        "    def forward(self, x):\n        return self.body(x)\n"
    )
    done = subprocess.run(
        [sys.executable, "-m", "codesign.cli", "export", "net.py:Small", "--dataset", "cifar10", "--out", "out"],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert "DATASET = 'cifar10'" in (tmp_path / "out" / "model.py").read_text()
