"""Run integrity (issue 24): a run folder that is its own wherever it lies, one search per run, a failed start
that leaves nothing, resume that trusts only its own pickles and refuses another space, disk faults and SIGTERM
as one line with every finished trial kept, an exploding loss and one-class data caught before they are scored.
"""

from __future__ import annotations

import errno
import hashlib
import io
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml

from codesign.cli import main
from codesign.data import DEBIAN_FASHION_MNIST, load_dataset
from codesign.errors import CodesignError
from codesign.network import CandidateSpec, ConvStage, SGDConfig
from codesign.runs import Run, RunLock, TrialRecord, write_atomically
from codesign.search.settings import SearchSettings
from codesign.search.table import TrialTable, disk_fault
from codesign.status import Status
from codesign.train import build_model, train
from tests.helpers import ROOT, start_codesign, write_idx

needs_fmnist = pytest.mark.skipif(
    not DEBIAN_FASHION_MNIST.is_dir(), reason="apt-get install dataset-fashion-mnist (.ci/run does)"
)

SPACE = {
    "dataset": "fashion-mnist",
    "network": {
        "depth": {"int": [1, 2]},
        "stage": {"channels": {"choice": [4, 8]}, "kernel": 3, "pool": "max"},
        "head_width": {"choice": [0, 16]},
    },
    "sgd": {"lr": {"float": [0.02, 0.06], "log": True}, "batch_size": 64, "schedule": "onecycle", "epochs": 1},
}


def _args(tmp_path, name, *extra, runs=None):
    space = tmp_path / "space.yaml"
    if not space.is_file():
        space.write_text(yaml.safe_dump(SPACE))
    return [
        "search",
        "--space",
        str(space),
        "--name",
        name,
        "--runs-dir",
        str(runs or tmp_path / "runs"),
        "--train-size",
        "600",
        "--val-size",
        "200",
        "--no-dashboard",
        *extra,
    ]


def _wait(proc, ready, what, seconds=240):
    deadline = time.time() + seconds
    while time.time() < deadline and proc.poll() is None:
        if ready():
            return
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)
    raise AssertionError(f"the search never reached {what}:\n" + proc.stdout.read())


def _rows(table: Path) -> int:
    return len(pd.read_csv(table)) if table.is_file() else 0


def _digests(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def _one_error_line(capsys) -> str:
    err = capsys.readouterr().err
    lines = [ln for ln in err.splitlines() if ln.startswith("codesign: error:")]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


# ----------------------------------------------------------------------------------------------- fast, no search


def test_the_run_lock_refuses_a_second_holder_and_dies_with_its_process(tmp_path):
    folder = tmp_path / "run"
    held = f"another search is running in this run folder \\(process {os.getpid()}"
    with RunLock(folder), pytest.raises(CodesignError, match=held):
        RunLock(folder).__enter__()
    with RunLock(folder):  # released on exit
        pass
    # a holder killed with SIGKILL leaves no stuck lock: the kernel drops it with the process
    code = (
        "import sys, time; from pathlib import Path; from codesign.runs import RunLock; "
        "RunLock(Path(sys.argv[1])).__enter__(); print('held', flush=True); time.sleep(600)"
    )
    holder = subprocess.Popen([sys.executable, "-c", code, str(folder)], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "held"
    with pytest.raises(CodesignError, match="another search is running"):
        RunLock(folder).__enter__()
    holder.kill()
    holder.wait(timeout=30)
    with RunLock(folder):
        pass


def test_search_json_names_no_absolute_runs_folder_and_follows_a_moved_run(tmp_path):
    settings = SearchSettings(name="r", runs_dir=str(tmp_path / "runs"))
    run = Run(settings.run_dir)
    run.save_settings(settings)
    assert str(tmp_path) not in run.settings_file.read_text()
    moved = tmp_path / "elsewhere" / "r2"
    moved.parent.mkdir()
    shutil.move(run.folder, moved)
    back = Run(moved).settings()
    assert back.run_dir == moved.resolve() and back.name == "r2"


def test_only_runs_signed_with_this_users_key_are_owned(tmp_path, monkeypatch):
    run = Run(tmp_path / "run")
    run.folder.mkdir()
    assert not run.owned()
    run.mark_owned()
    assert run.owned()
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "another-user"))
    assert not run.owned()  # a run copied from another user (or forged) is not trusted


def test_a_full_disk_keeps_the_last_whole_trials_table(tmp_path, monkeypatch):
    """trials.csv is replaced whole or not at all; a failed write stops the search (TrialTable.fault)."""
    run = Run(tmp_path / "run")
    spec = CandidateSpec(stages=(ConvStage(8),))
    first = TrialRecord("a", Status.OK, val_accuracy=0.8, energy_pj=2e6, cycles=100, spec=spec)
    run.write_trials([first])
    before = run.trials_file.read_bytes()

    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(OSError):
        write_atomically(run.trials_file, "x")
    table = TrialTable(run.folder)
    table.setup()
    table.records["b"] = TrialRecord("b", Status.OK, val_accuracy=0.7, energy_pj=1e6, cycles=90, spec=spec)
    table._write()
    assert "No space left on device" in table.fault and str(run.trials_file) in table.fault
    assert run.trials_file.read_bytes() == before
    assert [p.name for p in run.folder.iterdir()] == ["trials.csv"]  # no temporary file left behind
    assert disk_fault("OSError: [Errno 28] Error writing bytes to file") and not disk_fault("ValueError: x")


@needs_fmnist
def test_a_loss_that_explodes_is_diverged_not_scored():
    """lr 100 with BatchNorm: the mean loss climbs past 1e14 and stays finite (before: status ok, loss 1.5e34,
    accuracy 0.126, on the front)."""
    data = load_dataset("fashion-mnist", val_size=500)
    data.train.images, data.train.labels = data.train.images[:2048], data.train.labels[:2048]
    spec = CandidateSpec(
        stages=(ConvStage(8, pool="max"),),
        input_shape=(1, 28, 28),
        head=(16,),
        sgd=SGDConfig(lr=100, epochs=1, batch_size=64, schedule="onecycle"),
    )
    result = train(build_model(spec), data, spec.sgd)
    assert result.status is Status.DIVERGED and result.epochs == 0
    assert "loss exploded" in result.reason


def test_one_class_training_labels_are_refused_before_training(tmp_path):
    """A 10-class data set whose training labels are all 0 (before: trained, validation accuracy 1.0)."""
    import numpy as np

    import codesign

    rng = np.random.default_rng(0)
    write_idx(tmp_path / "train-images-idx3-ubyte.gz", rng.integers(0, 256, (60, 28, 28)), True)
    write_idx(tmp_path / "train-labels-idx1-ubyte.gz", np.zeros(60, dtype=np.uint8), True)
    write_idx(tmp_path / "t10k-images-idx3-ubyte.gz", rng.integers(0, 256, (7, 28, 28)), True)
    write_idx(tmp_path / "t10k-labels-idx1-ubyte.gz", rng.integers(0, 10, 7), True)
    with pytest.raises(CodesignError, match="every training label is 0"):
        load_dataset("mnist", data_dir=tmp_path, val_size=10)
    with pytest.raises(CodesignError, match="every training label is 0"):
        codesign.train("lenet5", "mnist", data_dir=str(tmp_path), val_size=10, epochs=1, progress=False)


# ----------------------------------------------------------------------------------------------- real searches


@needs_fmnist
def test_failed_starts_leave_nothing_that_blocks_the_name(tmp_path, capsys, monkeypatch):
    """--val-size above the data set, nothing listening at --address, RAY_ADDRESS garbage, --runs-dir a file:
    one line each, at once, and no run folder (before: search.json left, the same command then refused)."""
    run = tmp_path / "runs" / "f"
    for extra in (["--val-size", "100000"], ["--address", "127.0.0.1:1"]):
        start = time.monotonic()
        assert main(_args(tmp_path, "f", "--trials", "2", *extra)) == 2
        assert time.monotonic() - start < 60
        _one_error_line(capsys)
        assert not run.exists()
    monkeypatch.setenv("RAY_ADDRESS", "garbage")
    assert main(_args(tmp_path, "f", "--trials", "2")) == 2
    assert "$RAY_ADDRESS 'garbage'" in _one_error_line(capsys)
    assert not run.exists()
    monkeypatch.delenv("RAY_ADDRESS")
    (tmp_path / "a-file").write_text("")
    assert main(_args(tmp_path, "f", "--trials", "2", runs=tmp_path / "a-file")) == 2
    assert "is a file, not a folder" in _one_error_line(capsys)


@needs_fmnist
def test_a_copied_run_resumes_where_it_is_and_never_writes_into_the_original(tmp_path, capsys, monkeypatch):
    """Copy a finished 2-trial run, resume the copy with --trials 3: the copy gains a trial and the original is
    unchanged byte for byte (before: the resume rewrote the original's files and `--trials` on a finished run
    did nothing). Resume refuses another data set or space, and another user's pickles unless --trust."""
    assert main(_args(tmp_path, "orig", "--trials", "2")) == 0
    original = tmp_path / "runs" / "orig"
    before = _digests(original)
    copies = tmp_path / "copies"
    copies.mkdir()
    shutil.copytree(original, copies / "copy")
    (tmp_path / "space.yaml").unlink()  # the run needs nothing outside itself (its space is copied in)

    capsys.readouterr()
    assert main(["search", "--name", "copy", "--runs-dir", str(copies), "--resume", "--dataset", "mnist"]) == 2
    assert "this run searched fashion-mnist, not mnist" in _one_error_line(capsys)
    other = tmp_path / "other.yaml"
    other.write_text(yaml.safe_dump({**SPACE, "sgd": {**SPACE["sgd"], "epochs": 2}}))
    assert main(["search", "--name", "copy", "--runs-dir", str(copies), "--resume", "--space", str(other)]) == 2
    assert "is not the space this run searched" in _one_error_line(capsys)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "another-user"))
    assert main(["search", "--name", "copy", "--runs-dir", str(copies), "--resume", "--trials", "3"]) == 2
    line = _one_error_line(capsys)
    assert "runs any code" in line and "--trust" in line

    assert (
        main(
            [
                "search",
                "--name",
                "copy",
                "--runs-dir",
                str(copies),
                "--resume",
                "--trials",
                "3",
                "--trust",
                "--no-dashboard",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "unpickling runs any code" in out
    copy = copies / "copy"
    trials = pd.read_csv(copy / "trials.csv", dtype={"trial_id": str})
    assert len(trials) == 3 and trials["trial_id"].is_unique
    new = set(trials["trial_id"]) - set(pd.read_csv(original / "trials.csv", dtype={"trial_id": str})["trial_id"])
    assert len(new) == 1 and (copy / "ray" / f"trial_{new.pop()}" / "checkpoint_000000" / "weights.pt").is_file()
    assert _digests(original) == before
    assert Run(copy).owned()  # vouched for with --trust: the next resume needs no flag


@needs_fmnist
def test_two_searches_with_one_name_and_sigterm(tmp_path, capsys):
    """Two `codesign search --name X` started at once: one runs, the other is refused with one line (before: both
    ran and exited 0, trials.csv kept one process's trials); a --resume of X while it runs is refused too. SIGTERM
    then stops X like Ctrl-C: outputs written, exit 143, one line, no native stack dump (before: exit 15, a stack
    dump, no report)."""
    args = _args(tmp_path, "x", "--trials", "6")
    table = tmp_path / "runs" / "x" / "trials.csv"
    first, second = start_codesign(args), start_codesign(args)
    deadline = time.time() + 240
    while first.poll() is None and second.poll() is None and time.time() < deadline:
        time.sleep(0.2)
    loser, proc = (first, second) if first.poll() is not None else (second, first)
    refusal = loser.stdout.read()
    assert loser.returncode == 2, refusal
    lines = [ln for ln in refusal.splitlines() if ln.startswith("codesign: error:")]
    assert len(lines) == 1 and ("another search is running" in lines[0] or "already holds a search" in lines[0])
    _wait(proc, lambda: _rows(table) >= 1, "its first trial")
    assert main([*args, "--resume"]) == 2  # resuming it while it runs is a second search of the run
    assert "another search is running in this run folder" in _one_error_line(capsys)
    rows = _rows(table)
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=120)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        raise
    output = proc.stdout.read()
    assert proc.returncode == 143, output
    assert "search stopped by SIGTERM" in output and "--resume" in output
    assert "Fatal Python error" not in output and "Traceback" not in output
    assert _rows(table) >= rows and (tmp_path / "runs" / "x" / "report.html").is_file()


@pytest.fixture
def tmpfs(tmp_path):
    """A small tmpfs (root only): a disk that fills up."""
    mount = tmp_path / "disk"
    mount.mkdir()

    def mounted(size: str, *options: str) -> Path:
        opts = ",".join([f"size={size}", *options])
        if subprocess.run(["mount", "-t", "tmpfs", "-o", opts, "tmpfs", str(mount)], capture_output=True).returncode:
            pytest.skip("cannot mount a tmpfs here (needs root)")
        return mount

    yield mounted
    subprocess.run(["umount", str(mount)], capture_output=True)


@needs_fmnist
def test_a_full_disk_during_the_report_is_one_line_and_keeps_every_trial(tmp_path, tmpfs, capsys):
    """2 MB: the trials fit, the 5 MB report does not (before: a traceback and a truncated page)."""
    disk = tmpfs("2m")
    assert main(_args(tmp_path, "r", "--trials", "1", runs=disk)) == 2
    line = _one_error_line(capsys)
    assert "No space left on device" in line and "codesign report" in line
    assert len(Run(disk / "r").records()) == 1


@needs_fmnist
def test_a_full_disk_during_trials_stops_the_search_with_one_line(tmp_path, tmpfs):
    """The disk fills after the first trial: the search stops at the next write, one line, no retries, the
    finished trial kept (before: each trial retried, ~340 lines of tracebacks, an empty trials.csv.tmp)."""
    disk = tmpfs("8m")
    table = disk / "t" / "trials.csv"
    proc = start_codesign(_args(tmp_path, "t", "--trials", "4", runs=disk))
    _wait(proc, lambda: _rows(table) >= 1, "its first trial")
    kept = table.read_bytes()
    with (disk / "filler").open("wb") as f:
        try:
            while True:
                f.write(b"\0" * 65536)
        except OSError:
            pass
    proc.wait(timeout=180)
    output = proc.stdout.read()
    errors = [ln for ln in output.splitlines() if ln.startswith("codesign: error:")]
    assert proc.returncode == 2 and len(errors) == 1 and "No space left on device" in errors[0], output
    assert "Traceback" not in output and "retrying" not in output
    first = pd.read_csv(io.BytesIO(kept), dtype={"trial_id": str})["trial_id"].iloc[0]
    assert first in {r.trial_id for r in Run(disk / "t").records()}
    assert not list((disk / "t").glob("*.tmp")) and not list((disk / "t").glob(".*.tmp"))


@needs_fmnist
def test_a_read_only_runs_folder_is_one_line(tmp_path, tmpfs, capsys):
    disk = tmpfs("1m", "ro")
    assert main(_args(tmp_path, "ro", "--trials", "2", runs=disk)) == 2
    assert "Read-only file system" in _one_error_line(capsys)
