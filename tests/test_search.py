"""End-to-end searches on real Fashion-MNIST: outputs, the front, infeasible designs, kill and --resume."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pandas as pd
import pytest
import torch
import yaml

from codesign.cli import main
from codesign.data import DEBIAN_FASHION_MNIST, load_dataset
from codesign.designs import load_exported
from codesign.network import CandidateSpec
from codesign.pareto import as_minimization, non_dominated, pareto_front
from codesign.runs import Run
from codesign.train import accuracy
from tests.helpers import start_codesign

pytestmark = pytest.mark.skipif(
    not DEBIAN_FASHION_MNIST.is_dir(), reason="apt-get install dataset-fashion-mnist (.ci/run does)"
)

# A LeNet-family space where 400 first-stage channels (400 x 28 x 28 x 4 B) break the 1 MB limit.
SPACE = {
    "dataset": "fashion-mnist",
    "network": {
        "depth": {"int": [1, 2]},
        "stage": {"channels": {"choice": [4, 8]}, "kernel": {"choice": [3, 5]}, "pool": "max"},
        "stages": [{"channels": {"choice": [4, 8, 400]}}],
        "head_width": {"choice": [0, 32]},
    },
    "sgd": {"lr": {"float": [0.02, 0.06], "log": True}, "batch_size": 64, "schedule": "onecycle", "epochs": 1},
}


def _args(tmp_path, name, *extra, space=SPACE, train_size=6000):
    path = tmp_path / "space.yaml"
    path.write_text(yaml.safe_dump(space))
    return [
        "search",
        "--space",
        str(path),
        "--name",
        name,
        "--runs-dir",
        str(tmp_path / "runs"),
        "--train-size",
        str(train_size),
        "--val-size",
        "1000",
        "--no-dashboard",
        "--seed",
        "0",
        *extra,
    ]


def test_six_trial_search_writes_everything(tmp_path, capsys):
    # TPE, which draws infeasible designs (ehvi, the default, screens them out before proposing any)
    assert main(_args(tmp_path, "six", "--trials", "6", "--budget", "10m", "--sampler", "tpe")) == 0
    run = tmp_path / "runs" / "six"
    for name in ("trials.csv", "pareto.csv", "report.html", "pareto.png", "search.json"):
        assert (run / name).is_file(), name
    assert (run / "ray").is_dir()
    trials = pd.read_csv(run / "trials.csv", dtype={"trial_id": str})
    assert len(trials) == 6 and set(trials["status"]) <= {"ok", "infeasible"}
    infeasible = trials[trials["status"] == "infeasible"]
    assert len(infeasible) >= 1, "the seeded sampler draws 400 channels at least once"
    assert (infeasible["epochs_done"] == 0).all() and (infeasible["train_seconds"] == 0).all()
    assert infeasible["reason"].str.contains("peak activation").all()
    ok = trials[trials["status"] == "ok"]
    assert (ok["val_accuracy"] > 0.4).all() and (ok["energy_pj"] > 0).all() and (ok["cycles"] > 0).all()
    front = pd.read_csv(run / "pareto.csv", dtype={"trial_id": str})
    assert 1 <= len(front) <= len(ok) and set(front["status"]) == {"ok"}
    assert non_dominated(as_minimization(front)).all()
    # every complete trial off the front is dominated by one on it
    assert set(front["trial_id"]) == set(pareto_front(trials)["trial_id"])
    page = (run / "report.html").read_text()
    assert "plotly" in page and "Pareto front" in page and page.count('class="plotly-graph-div"') >= 6
    out = capsys.readouterr().out
    assert "Pareto front of complete trials" in out
    # the console: a line per trial and a progress line, none of Ray's status blocks
    assert sum(line.startswith("[codesign] trial ") for line in out.splitlines()) == 6
    assert "[codesign] 6/6 trials (" in out and "| hypervolume " in out and "== Status ==" not in out
    # `codesign report` rebuilds the outputs from trials.csv alone
    for name in ("pareto.csv", "report.html", "pareto.png"):
        (run / name).unlink()
    assert main(["report", str(run)]) == 0
    assert (run / "pareto.csv").is_file() and (run / "report.html").is_file() and (run / "pareto.png").is_file()
    _export_best_trial(run, tmp_path)


def _export_best_trial(run, tmp_path):
    """The best trial, exported, loads in a fresh process and reproduces its validation accuracy."""
    out = tmp_path / "export"
    assert main(["export", str(run), "--out", str(out), "--onnx"]) == 0
    for name in ("model.py", "spec.json", "weights.pt", "model.onnx", "README.md"):
        assert (out / name).is_file(), name
    source = (out / "model.py").read_text()
    assert "codesign" not in source.split('"""', 2)[2] and "import torch" in source
    row = Run(run).pick()
    spec = CandidateSpec.load(out / "spec.json")
    original = spec.build().eval()
    original.load_state_dict(torch.load(Run(run).weights_of(row), weights_only=True))  # its Tune checkpoint
    torch.manual_seed(0)
    x = torch.rand(4, *spec.input_shape)  # images in [0, 1]: the export normalises them itself
    torch.save(x, tmp_path / "x.pt")
    script = (
        "import sys, torch; sys.path.insert(0, sys.argv[1]); from model import Net; net = Net(); "
        "net.load_state_dict(torch.load(sys.argv[1] + '/weights.pt', weights_only=True)); net.eval(); "
        "torch.save(net(torch.load(sys.argv[2])).detach(), sys.argv[3])"
    )
    subprocess.run(
        [sys.executable, "-c", script, str(out), str(tmp_path / "x.pt"), str(tmp_path / "y.pt")],
        check=True,
        cwd=tmp_path,
        timeout=120,
    )
    with torch.no_grad():
        assert torch.allclose(torch.load(tmp_path / "y.pt"), original((x - 0.2860) / 0.3530), atol=1e-5)
    data = load_dataset("fashion-mnist", val_size=1000)  # the search's split: seed 0, 1,000 images
    exported = load_exported(out).eval()
    with torch.no_grad():  # the validation images as stored (uint8): the trial's accuracy to the last image
        correct = (exported(data.val.images).argmax(1) == data.val.labels).sum().item()
    assert correct / len(data.val) == pytest.approx(row.val_accuracy, abs=1e-12)
    assert accuracy(original, data, data.val) == pytest.approx(row.val_accuracy, abs=1e-12)


def _wait_for_rows(proc, table, rows):
    deadline = time.time() + 240
    while time.time() < deadline and proc.poll() is None:
        if table.is_file() and len(pd.read_csv(table)) >= rows:
            return
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)
    raise AssertionError(f"the search never reached {rows} trials while running:\n" + proc.stdout.read())


def _kept(earlier, later):
    """Every finished trial of an earlier table is in the later one, unchanged (an interrupted one may change)."""
    later = later.set_index("trial_id")
    for _, row in earlier[earlier["status"].isin(["ok", "infeasible"])].iterrows():
        kept = later.loc[row["trial_id"]]
        assert kept["status"] == row["status"] and kept["spec"] == row["spec"]
        assert kept["val_accuracy"] == pytest.approx(row["val_accuracy"], nan_ok=True)
        assert kept["energy_pj"] == pytest.approx(row["energy_pj"], nan_ok=True)


def test_a_killed_or_interrupted_search_resumes_without_losing_or_repeating_trials(tmp_path):
    """SIGKILL, --resume, Ctrl-C, --resume: every finished trial is kept unchanged and none runs twice; Ctrl-C
    writes the outputs and exits 130. (Before: resumed after SIGKILL, the finished designs ran again under new
    ids, `--trials 4` giving 5 rows and a design twice on the front; Ctrl-C exited 0.)"""
    args = _args(tmp_path, "resume", "--trials", "5")
    table = tmp_path / "runs" / "resume" / "trials.csv"
    read = lambda: pd.read_csv(table, dtype={"trial_id": str})

    # SIGKILL after a trial finished, with Ray Tune's snapshot of the search (its trials, the sampler's state)
    # older than that: the worst case of the seconds between two snapshots, every time
    proc = start_codesign(args, TUNE_GLOBAL_CHECKPOINT_S="3600")
    _wait_for_rows(proc, table, 1)
    os.killpg(proc.pid, signal.SIGKILL)  # the driver and the local Ray it started
    proc.wait(timeout=60)
    killed = read()

    # resumed: Tune draws the finished designs again, and they report their records instead of training
    proc = start_codesign([*args, "--resume"])
    _wait_for_rows(proc, table, len(killed) + 1)
    proc.send_signal(signal.SIGINT)  # what Ctrl-C sends
    try:
        proc.wait(timeout=120)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        raise
    output = proc.stdout.read()
    assert proc.returncode == 130, output  # scripts can tell an interrupted search from a finished one
    assert "search interrupted" in output and "--resume" in output
    assert (tmp_path / "runs" / "resume" / "pareto.csv").is_file()  # the outputs are written all the same
    assert output.count("not trained again") == len(killed), output
    interrupted = read()
    _kept(killed, interrupted)

    assert main([*args, "--resume"]) == 0
    after = read()
    assert len(after) == 5 and after["trial_id"].is_unique
    assert after["spec"].is_unique  # no design twice (the seeded sampler draws 5 different ones)
    assert (after["status"].isin(["ok", "infeasible"])).all()
    _kept(interrupted, after)


def test_multi_fidelity_search_starts_from_a_seed_design(tmp_path, capsys):
    """The default sampler (ehvi) with --multi-fidelity and --seed-designs: lenet5 trains first, a trial cut at
    epoch 1 is `stopped` and never on the front, a complete one trained all its epochs; suggestions are logged."""
    space = {**SPACE, "sgd": {**SPACE["sgd"], "epochs": 3}}
    args = _args(
        tmp_path,
        "mf",
        "--trials",
        "5",
        "--multi-fidelity",
        "--seed-designs",
        "lenet5",
        "-v",
        space=space,
        train_size=500,
    )
    assert main(args) == 0
    assert "ParetoHalving:" in capsys.readouterr().out  # Tune's status table (-v) names the scheduler
    run = Run(tmp_path / "runs" / "mf")
    trials = run.trials()
    log = pd.read_csv(run.sampler_file, keep_default_na=False)
    assert len(trials) == len(log) == 5 and log["seed_design"].tolist()[0] == "lenet5"
    assert set(log["mode"][1:]) <= {"startup", "ehvi"} and (log["seconds"] > 0).all()
    assert set(trials["status"]) <= {"ok", "stopped"}
    stopped, ok = trials[trials["status"] == "stopped"], trials[trials["status"] == "ok"]
    assert (stopped["epochs_done"] == 1).all() and (ok["epochs_done"] == 3).all() and len(ok) >= 2
    front = pd.read_csv(run.front_file, dtype={"trial_id": str})
    assert not set(front["trial_id"]) & set(stopped["trial_id"]) and set(front["status"]) == {"ok"}
