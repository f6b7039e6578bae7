"""Bad inputs and faults against the `codesign` command line (issue 12's list), each in a subprocess.

Every case runs `python -m codesign.cli ...` from a scratch folder with a private cost cache, under a
wall-clock timeout and a memory cap (the process tree's resident memory, polled), and is judged against
what it should do: most should fail with one line and exit code 2, never a traceback; some should succeed
(a damaged cache is replaced, `--help` prints). A case may also check what exit codes cannot show (a
search that never stops, a file written outside --runs-dir, code run from a data file, NaN in JSON).

    python benchmarks/hostile_inputs.py                       # this checkout
    python benchmarks/hostile_inputs.py --root /tmp/before    # another checkout (its package on PYTHONPATH)
    python benchmarks/hostile_inputs.py --json after.json     # also keep the results
    python benchmarks/hostile_inputs.py --compare before.json after.json   # a before/after table

It never imports codesign itself, so it runs against any version: fixtures are written in the formats'
own bytes (YAML, JSON, CSV, idx, pickle, SQLite). Processes it starts (a search's Ray daemons included)
are ended by their ids when each case ends.
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import json
import os
import pickle
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import psutil

HERE = Path(__file__).resolve().parent.parent


@dataclass
class Result:
    """What one case did."""

    case: str
    expect: str
    exit: int | str  # an exit code, or "timeout" / "memory"
    line: str  # the last stderr line, or "traceback: <exception>"
    problem: str = ""  # what was wrong ("" when the case behaved)
    seconds: float = 0.0
    peak_mb: float = 0.0

    @property
    def verdict(self) -> str:
        return "ok" if not self.problem else "FAIL"


@dataclass
class Case:
    """One bad input or fault: the command, what it should do, and checks beyond the exit code."""

    name: str
    args: list[str]
    expect: str = "error"  # "error": one line, exit 2; "ok": exit 0; "warn": exit 0 and one warning line
    check: Callable[[subprocess.CompletedProcess, Path], str] | None = None
    timeout: float = 120.0
    interrupt_after: Callable[[Path], bool] | None = None  # send SIGINT (Ctrl-C) once this holds
    then: list[str] | None = None  # a second command after the first ends (e.g. --resume)
    kill_after: Callable[[Path], bool] | None = None  # SIGKILL the first command once this holds


# ----------------------------------------------------------------------------------------------- fixtures

SPEC_28 = {
    "stages": [{"channels": 4, "pool": "max"}],
    "input_shape": [1, 28, 28],
    "head": [],
    "sgd": {"epochs": 1, "batch_size": 64, "lr": 0.05},
}
SPEC_32 = {**SPEC_28, "input_shape": [3, 32, 32]}
SPACE = {
    "dataset": "mnist",
    "network": {
        "depth": {"int": [1, 2]},
        "stage": {"channels": {"choice": [4, 8]}, "kernel": 3, "pool": "max"},
        "head_width": {"choice": [0, 16]},
    },
    "sgd": {"lr": {"float": [0.02, 0.06], "log": True}, "batch_size": 64, "schedule": "onecycle", "epochs": 1},
}
MHA_MODEL = """
import torch
from torch import nn

class AttnNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.attn = nn.MultiheadAttention(8, 2, batch_first=True)
        self.fc = nn.Linear(8, 10)

    def forward(self, x):
        t = self.conv(x).flatten(2).transpose(1, 2)
        t, _ = self.attn(t, t, t)
        return self.fc(t.mean(1))

class Residual(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Conv2d(3, 3, 3, padding=1)
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(3072, 10))

    def forward(self, x):
        return self.head(x + self.a(x))

class Small(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(3, 4, 3), nn.Flatten(), nn.Linear(3600, 10))

    def forward(self, x):
        return self.body(x)
"""


def _yaml(value) -> str:
    return json.dumps(value)  # JSON is YAML


def _idx(path: Path, array: np.ndarray, gz: bool = True) -> None:
    header = bytes([0, 0, 8, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    (gzip.open if gz else open)(path, "wb").write(header + array.astype(np.uint8).tobytes())


def _mnist(folder: Path, train: tuple[int, int] = (600, 600)) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    _idx(folder / "train-images-idx3-ubyte.gz", rng.integers(0, 256, (train[0], 28, 28)))
    _idx(folder / "train-labels-idx1-ubyte.gz", rng.integers(0, 10, train[1]))
    _idx(folder / "t10k-images-idx3-ubyte.gz", rng.integers(0, 256, (50, 28, 28)))
    _idx(folder / "t10k-labels-idx1-ubyte.gz", rng.integers(0, 10, 50))
    return folder


class _RunsCode:
    def __init__(self, marker: str):
        self.marker = marker

    def __reduce__(self):
        return os.mkdir, (self.marker,)


def _cifar(folder: Path, crafted_marker: Path | None = None) -> Path:
    batches = folder / "cifar-10-batches-py"
    batches.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        entry = {
            "batch_label": name,
            "data": rng.integers(0, 256, (40, 3072), dtype=np.uint8),
            "labels": rng.integers(0, 10, 40).tolist(),
            "filenames": [f"{i}.png" for i in range(40)],
        }
        if crafted_marker is not None and name == "data_batch_1":
            entry["filenames"] = _RunsCode(str(crafted_marker))
        (batches / name).write_bytes(pickle.dumps(entry, protocol=2))
    return folder


def _alias_bomb_field(field_name: str, levels: int = 9) -> str:
    lines = [f"{field_name}:", "  - &a0 [" + ", ".join(["lol"] * 10) + "]"]
    lines += [f"  - &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, levels)]
    return "\n".join(lines) + "\n"


TRIALS_CSV = None  # the good run folder's trials.csv text (written by `_fixtures`)


def _run_folder(scratch: Path, name: str, text: str | bytes) -> Path:
    folder = scratch / "runs-csv" / name
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "trials.csv").write_bytes(text if isinstance(text, bytes) else text.encode())
    return folder


def _trials_csv(rows: list[dict]) -> str:
    columns = [
        "trial_id",
        "status",
        "val_accuracy",
        "energy_pj",
        "cycles",
        "peak_activation_bytes",
        "rubric_points",
        "spec",
    ]
    lines = [",".join(columns)]
    for row in rows:
        cells = []
        for c in columns:
            v = row.get(c, "")
            v = json.dumps(v) if isinstance(v, dict) else str(v)
            cells.append('"' + v.replace('"', '""') + '"' if ("," in v or '"' in v) else v)
        lines.append(",".join(cells))
    return "\n".join(lines) + "\n"


def _fixtures(scratch: Path, root: Path, python: str, env: dict) -> dict[str, Path]:
    """Every file the cases read, in scratch."""
    f: dict[str, Path] = {}
    files = scratch / "files"
    files.mkdir(parents=True, exist_ok=True)
    binary = bytes(range(256)) * 16
    for kind in ("arch", "space", "rubric"):
        (files / f"binary-{kind}.yaml").write_bytes(binary)
    (files / "binary.json").write_bytes(binary)
    (files / "deep.yaml").write_text("x: " + "[" * 200_000 + "]" * 200_000 + "\n")
    (files / "bomb-rubric.yaml").write_text(_alias_bomb_field("max_epochs"))
    valid_space = "".join(f"{key}: {json.dumps(value)}\n" for key, value in SPACE.items())
    (files / "bomb-space.yaml").write_text(valid_space + _alias_bomb_field("name"))
    (files / "huge.yaml").write_text("name: '" + "y" * 50_000_000 + "'\n")
    arch_text = (root / "arch" / "simple_weight_stationary.yaml").read_text()
    (files / "arch-nan.yaml").write_text(arch_text.replace("energy_pj: 2.20035", "energy_pj: .nan"))
    (files / "arch-inf.yaml").write_text(arch_text.replace("read_pj: 512.0", "read_pj: .inf"))
    for name, change in {
        "lr-negative": {"sgd": {**SPACE["sgd"], "lr": -0.1}},
        "momentum-5": {"sgd": {**SPACE["sgd"], "momentum": {"float": [0.5, 5.0]}}},
        "channels-negative": {"network": {**SPACE["network"], "stage": {"channels": {"choice": [-4, 0]}}}},
        "log-string": {"sgd": {**SPACE["sgd"], "lr": {"float": [0.02, 0.06], "log": "false"}}},
        "dataset-list": {"dataset": ["mnist"]},
    }.items():
        (files / f"space-{name}.yaml").write_text(_yaml({**SPACE, **change}))
    (files / "space.yaml").write_text(_yaml(SPACE))
    for name, text in {
        "epochs-fraction": "max_epochs: 29.7\n",
        "epochs-negative": "max_epochs: -5\n",
        "accelerator-bogus": "accelerator: bogus\n",
        "limit-nan": "max_test_error: .nan\n",
    }.items():
        (files / f"rubric-{name}.yaml").write_text(text)
    (files / "spec28.json").write_text(json.dumps(SPEC_28))
    (files / "spec32.json").write_text(json.dumps(SPEC_32))
    (files / "models.py").write_text(MHA_MODEL)
    home = scratch / "home" / "someone" / "secret-project"
    home.mkdir(parents=True, exist_ok=True)
    (home / "net.py").write_text(MHA_MODEL)
    f["home"] = home
    (files / "garbage.pt").write_bytes(b"definitely not a state dict")
    # a state dict of another model (torch's zip format is needed: write it with the checkout's torch)
    subprocess.run(
        [
            python,
            "-c",
            "import torch, sys; from torch import nn; "
            "torch.save(nn.Sequential(nn.Conv2d(1, 2, 3)).state_dict(), sys.argv[1])",
            str(files / "wrong-shape.pt"),
        ],
        check=True,
        env=env,
        timeout=300,
    )
    # data sets
    _mnist(scratch / "data" / "mnist-ok")
    _mnist(scratch / "data" / "mnist-mismatch", train=(600, 100))
    for name in ("mnist-truncated-gz", "mnist-truncated-raw"):
        folder = _mnist(scratch / "data" / name)
        path = folder / "train-images-idx3-ubyte.gz"
        if name.endswith("raw"):
            raw = gzip.decompress(path.read_bytes())
            path.unlink()
            path = folder / "train-images-idx3-ubyte"
            path.write_bytes(raw[: len(raw) // 2])
        else:
            path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    f["marker"] = scratch / "crafted-pickle-ran"
    _cifar(scratch / "data" / "cifar-crafted", crafted_marker=f["marker"])
    _cifar(scratch / "data" / "cifar-garbage")
    (scratch / "data" / "cifar-garbage" / "cifar-10-batches-py" / "data_batch_3").write_bytes(b"\x80\x02garbage")
    # a cost cache filled by the checkout itself, then damaged in six ways
    good = scratch / "cache-good.sqlite"
    subprocess.run(
        [python, "-m", "codesign.cli", "profile", "lenet5"],
        check=True,
        capture_output=True,
        env={**env, "CODESIGN_CACHE": str(good)},
        timeout=300,
        cwd=scratch,
    )
    db = sqlite3.connect(good)
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()
    raw = good.read_bytes()
    damaged = {
        "random-bytes": bytes(np.random.default_rng(1).integers(0, 256, len(raw), dtype=np.uint8)),
        "header": b"\xff" * 16 + raw[16:],
        "truncated": raw[: len(raw) // 2],
        "pages": raw[: len(raw) // 2] + b"\xa5" * 4096 + raw[len(raw) // 2 + 4096 :],
        "text": b"this is not a database\n",
    }
    for name, data in damaged.items():
        (scratch / f"cache-{name}.sqlite").write_bytes(data)
    rows = scratch / "cache-entries.sqlite"
    rows.write_bytes(raw)
    db = sqlite3.connect(rows)
    db.execute("UPDATE layer_costs SET cost = '{\"energy_pj\": [garbage'")
    db.commit()
    db.close()
    # search run folders with damaged trials.csv
    good_row = {
        "trial_id": "a1",
        "status": "ok",
        "val_accuracy": 0.8,
        "energy_pj": 2e6,
        "cycles": 5e4,
        "peak_activation_bytes": 1e4,
        "rubric_points": 90,
        "spec": SPEC_32,
    }
    text = _trials_csv([good_row])
    f["csv-empty"] = _run_folder(scratch, "empty", "")
    f["csv-binary"] = _run_folder(scratch, "binary", binary)
    f["csv-truncated"] = _run_folder(scratch, "truncated", text[: len(text) - 60])
    f["csv-no-column"] = _run_folder(scratch, "no-column", text.replace("val_accuracy,", "val_acc,"))
    f["csv-not-numbers"] = _run_folder(scratch, "not-numbers", text.replace(",0.8,", ",abc,"))
    f["csv-short-row"] = _run_folder(scratch, "short-row", text.splitlines()[0] + "\na1,ok,0.8\n")
    _export_fixtures(f, scratch, python, env)
    return f


# A trial id, a run name or a file name that is Python code: writing it into model.py unescaped runs it when the
# export imports model.py (to check it), and again wherever the user imports it.
EXPORT_MARKER = "export-payload-ran"


def _payload(marker: Path) -> str:
    return f'x"""+str(__import__("os").makedirs({str(marker)!r}))+"""'


def _export_fixtures(f: dict[str, Path], scratch: Path, python: str, env: dict) -> None:
    """Run folders and spec files whose names are code, a folder holding a user's files, small file systems."""
    marker = scratch / EXPORT_MARKER
    f["export-marker"] = marker
    f["python"] = Path(python)
    spec = {**SPEC_28, "input_shape": [1, 28, 28]}
    f["hostile-id"] = _run_folder(
        scratch,
        "hostile-id",
        _trials_csv(
            [
                {
                    "trial_id": _payload(marker),
                    "status": "ok",
                    "val_accuracy": 0.8,
                    "energy_pj": 2e6,
                    "cycles": 5e4,
                    "peak_activation_bytes": 1e4,
                    "rubric_points": 90,
                    "spec": spec,
                }
            ]
        ),
    )
    f["hostile-id-trial"] = Path(_payload(marker))  # the id, as `--trial` names it
    newline = f'x"""\nimport os\nos.makedirs({str(marker)!r})\n"""'
    f["newline-id"] = _run_folder(
        scratch,
        "newline-id",
        _trials_csv(
            [
                {
                    "trial_id": newline,
                    "status": "ok",
                    "val_accuracy": 0.8,
                    "energy_pj": 2e6,
                    "cycles": 5e4,
                    "peak_activation_bytes": 1e4,
                    "rubric_points": 90,
                    "spec": spec,
                }
            ]
        ),
    )
    f["newline-id-trial"] = Path(newline)
    names = scratch / "files" / "names"
    names.mkdir(parents=True, exist_ok=True)
    hostile = names / (_payload(Path(EXPORT_MARKER)).replace("/", "_") + ".json")  # relative: the case's cwd
    hostile.write_text(json.dumps(SPEC_32))
    f["hostile-spec"] = hostile
    mine = scratch / "exports" / "users-folder"
    mine.mkdir(parents=True, exist_ok=True)
    (mine / "README.md").write_text("the user's own notes\n")
    (mine / "results.csv").write_text("a,b\n1,2\n")
    f["users-folder"] = mine
    big = scratch / "files" / "big.json"  # a design whose weights (about 17 MB) do not fit a 1 MB disk
    big.write_text(json.dumps({"stages": [{"channels": 64}, {"channels": 64}], "head": [256]}))
    subprocess.run(
        [
            python,
            "-c",
            "import json, sys, torch; from codesign.network import CandidateSpec; "
            "spec = CandidateSpec.from_dict(json.load(open(sys.argv[1]))); "
            "torch.save(spec.build().state_dict(), sys.argv[2])",
            str(big),
            str(scratch / "files" / "big.pt"),
        ],
        check=True,
        env=env,
        timeout=300,
    )
    f["big-spec"], f["big-weights"] = big, scratch / "files" / "big.pt"
    for name, options in (("full-disk", "size=1m"), ("read-only", "size=1m,ro")):
        disk = scratch / name
        disk.mkdir(exist_ok=True)
        mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(disk)], capture_output=True)
        if mounted.returncode == 0:  # needs root; the cases are left out otherwise
            f[name] = disk


def _unmount(scratch: Path) -> None:
    for name in ("full-disk", "read-only"):
        if (scratch / name).is_mount():
            subprocess.run(["umount", str(scratch / name)], check=False)


# ----------------------------------------------------------------------------------------------- checks


def _strict_json(result: subprocess.CompletedProcess, scratch: Path) -> str:
    if result.returncode != 0:
        return ""
    try:
        json.loads(result.stdout, parse_constant=lambda c: (_ for _ in ()).throw(ValueError(c)))
    except ValueError as exc:
        return f"--json printed invalid JSON ({exc})"
    return "exit 0: accepted a non-finite energy"


def _exists(path_of: Callable[[Path], Path], what: str) -> Callable:
    def check(result: subprocess.CompletedProcess, scratch: Path) -> str:
        return what if path_of(scratch).exists() else ""

    return check


def _trials_statuses(run: str) -> Callable:
    def check(result: subprocess.CompletedProcess, scratch: Path) -> str:
        table = scratch / "runs" / run / "trials.csv"
        if result.returncode != 0 or not table.is_file():
            return ""
        text = table.read_text()
        errors = text.count(",error,")
        rows = max(0, len(text.strip().splitlines()) - 1)
        return f"{errors} of {rows} trials marked error" if errors else ""

    return check


def _rows_and_duplicates(run: str, trials: int) -> Callable:
    def check(result: subprocess.CompletedProcess, scratch: Path) -> str:
        import csv

        table = scratch / "runs" / run / "trials.csv"
        if not table.is_file():
            return "no trials.csv"
        rows = list(csv.DictReader(table.open()))
        done = [r for r in rows if r.get("status") in ("ok", "infeasible")]
        specs = [r.get("spec") for r in done]
        problems = []
        if len(rows) > trials:
            problems.append(f"{len(rows)} rows for --trials {trials}")
        if len(set(specs)) < len(specs):
            problems.append("a finished design ran twice")
        return "; ".join(problems)

    return check


def _no_code_ran(out_name: str, python: Path) -> Callable:
    """The export ran no payload, and its model.py imports (in a fresh interpreter) without running one either."""

    def check(result: subprocess.CompletedProcess, scratch: Path) -> str:
        marker = scratch / EXPORT_MARKER
        if marker.exists():
            return "the export ran code from a name"
        out = scratch / "exports" / out_name
        if result.returncode != 0 or not (out / "model.py").is_file():
            return ""
        loaded = subprocess.run(
            [str(python), "-c", "import sys; sys.path.insert(0, sys.argv[1]); from model import Net; Net()", str(out)],
            capture_output=True,
            text=True,
            cwd=scratch,
            timeout=120,
        )
        if marker.exists():
            return "the exported model.py runs code from a name"
        return "" if loaded.returncode == 0 else f"the exported model.py does not import ({loaded.stderr[-80:]})"

    return check


def _users_files(forced: bool) -> Callable:
    """Refused: the user's files unchanged. Forced: the user's other file kept byte for byte."""

    def check(result: subprocess.CompletedProcess, scratch: Path) -> str:
        mine = scratch / "exports" / "users-folder"
        if (mine / "results.csv").read_text() != "a,b\n1,2\n":
            return "the user's results.csv was changed or removed"
        if not forced and (mine / "README.md").read_text() != "the user's own notes\n":
            return "the user's README.md was replaced without --force"
        stray = [p.name for p in mine.parent.iterdir() if p.name.startswith(".")]
        return f"left {stray[0]}" if stray else ""

    return check


def _disk_left_empty(name: str) -> Callable:
    def check(result: subprocess.CompletedProcess, scratch: Path) -> str:
        left = sorted(p.name for p in (scratch / name).iterdir())
        return f"left {', '.join(left)} on the {name.replace('-', ' ')}" if left else ""

    return check


def _readme_leak(result: subprocess.CompletedProcess, scratch: Path) -> str:
    out = scratch / "exports" / "by-path"
    leaked = [p.name for p in out.glob("*") if p.suffix in (".md", ".py") and "someone" in p.read_text()]
    return f"the path as typed is in {', '.join(leaked)}" if leaked else ""


# ----------------------------------------------------------------------------------------------- cases


def _cases(f: dict[str, Path], scratch: Path) -> list[Case]:
    files = scratch / "files"
    data = scratch / "data"
    search = [
        "search",
        "--space",
        str(files / "space.yaml"),
        "--dataset",
        "mnist",
        "--data-dir",
        str(data / "mnist-ok"),
        "--runs-dir",
        str(scratch / "runs"),
        "--no-dashboard",
        "--train-size",
        "300",
        "--val-size",
        "100",
    ]
    quick = ["--trials", "2", "--budget", "120s"]

    def in_search(space: str, name: str) -> list[str]:
        return [
            "search",
            "--space",
            str(files / space),
            "--dataset",
            "mnist",
            "--data-dir",
            str(data / "mnist-ok"),
            "--runs-dir",
            str(scratch / "runs"),
            "--no-dashboard",
            "--train-size",
            "300",
            "--val-size",
            "100",
            "--name",
            name,
            *quick,
        ]

    def rows_at_least(run: str, n: int) -> Callable[[Path], bool]:
        def ready(s: Path) -> bool:
            table = s / "runs" / run / "trials.csv"
            return table.is_file() and len(table.read_text().strip().splitlines()) - 1 >= n

        return ready

    cases = [
        # the first screen
        Case(
            "--help",
            ["--help"],
            expect="ok",
            check=lambda r, s: (
                ""
                if "search" in r.stdout and "The `codesign` command line." not in r.stdout
                else "no one-sentence description of the tool"
            ),
        ),
        Case("--version", ["--version"], expect="ok"),
        # built-ins on any data set
        Case("profile lenet5 --input-shape 1,1,28,28", ["profile", "lenet5", "--input-shape", "1,1,28,28"], "ok"),
        Case(
            "train lenet5 --dataset mnist (fake data)",
            [
                "train",
                "lenet5",
                "--dataset",
                "mnist",
                "--data-dir",
                str(data / "mnist-ok"),
                "--epochs",
                "1",
                "--quiet",
                "--val-size",
                "100",
                "--out",
                str(scratch / "trained"),
            ],
            "ok",
            timeout=300,
        ),
        # search flags
        Case(
            "search --trials 0",
            [*search, "--name", "t0", "--trials", "0"],
            timeout=90,
            check=lambda r, s: "a search started that does not stop" if r.returncode == "timeout" else "",
        ),
        Case(
            "search --budget 0",
            [*search, "--name", "b0", "--budget", "0"],
            timeout=90,
            check=lambda r, s: "a search started that does not stop" if r.returncode == "timeout" else "",
        ),
        Case(
            "search --trials=-1",
            [*search, "--name", "tm1", "--trials=-1"],
            timeout=90,
            check=lambda r, s: "a search started that does not stop" if r.returncode == "timeout" else "",
        ),
        Case(
            "search --name ../../escaped",
            [*search, "--runs-dir", str(scratch / "r1" / "r2"), "--name", "../../escaped", *quick],
            timeout=300,
            check=_exists(lambda s: s / "escaped", "wrote outside --runs-dir"),
        ),
        Case(
            "search --name /abs",
            [*search, "--name", str(scratch / "abs-run"), *quick],
            timeout=300,
            check=_exists(lambda s: s / "abs-run", "wrote outside --runs-dir"),
        ),
        # shapes
        Case("profile --input-shape 3,32,32 (rank 3)", ["profile", "lenet5", "--input-shape", "3,32,32"]),
        Case("profile --input-shape 1,3,0,32", ["profile", "lenet5", "--input-shape", "1,3,0,32"]),
        # files that are not YAML
        Case("binary file as --arch", ["profile", "lenet5", "--arch", str(files / "binary-arch.yaml")]),
        Case("binary file as --space", [*in_search("binary-space.yaml", "bin")]),
        Case("binary file as --rubric", ["profile", "lenet5", "--rubric", str(files / "binary-rubric.yaml")]),
        Case("binary spec .json as MODEL", ["profile", str(files / "binary.json")]),
        Case("200k-deep nested YAML list", ["profile", "lenet5", "--arch", str(files / "deep.yaml")]),
        Case(
            "YAML alias bomb in rubric max_epochs",
            ["profile", "lenet5", "--rubric", str(files / "bomb-rubric.yaml")],
            timeout=90,
        ),
        Case("YAML alias bomb in space name", [*in_search("bomb-space.yaml", "bomb")], timeout=90),
        Case("50 MB YAML file as --arch", ["profile", "lenet5", "--arch", str(files / "huge.yaml")], timeout=90),
        # values
        Case(
            "arch energy .nan (--json)",
            ["profile", "lenet5", "--json", "--arch", str(files / "arch-nan.yaml")],
            check=_strict_json,
        ),
        Case(
            "arch energy .inf (--json)",
            ["profile", "lenet5", "--json", "--arch", str(files / "arch-inf.yaml")],
            check=_strict_json,
        ),
        *[
            Case(
                f"space {label}",
                in_search(f"space-{name}.yaml", f"space-{name}"),
                timeout=300,
                check=lambda r, s: "exit 0: the space was accepted" if r.returncode == 0 else "",
            )
            for name, label in (
                ("lr-negative", "lr: -0.1"),
                ("momentum-5", "momentum up to 5"),
                ("channels-negative", "channels [-4, 0]"),
                ("log-string", 'log: "false"'),
                ("dataset-list", "dataset: [mnist]"),
            )
        ],
        *[
            Case(
                f"rubric {label}",
                ["profile", "lenet5", "--rubric", str(files / f"rubric-{name}.yaml")],
                check=lambda r, s: "exit 0: the rubric was accepted" if r.returncode == 0 else "",
            )
            for name, label in (
                ("epochs-fraction", "max_epochs: 29.7"),
                ("epochs-negative", "max_epochs: -5"),
                ("accelerator-bogus", "accelerator: bogus"),
                ("limit-nan", "max_test_error: .nan"),
            )
        ],
        # models
        Case(
            "MultiheadAttention in a conv net",
            ["profile", f"{files / 'models.py'}:AttnNet"],
            check=lambda r, s: "exit 0: the attention was left out" if r.returncode == 0 else "",
        ),
        Case("profile m.py without :Class", ["profile", str(files / "models.py")]),
        # data sets
        Case(
            "idx: 600 images, 100 labels",
            [
                "train",
                str(files / "spec28.json"),
                "--dataset",
                "mnist",
                "--data-dir",
                str(data / "mnist-mismatch"),
                "--epochs",
                "1",
                "--quiet",
                "--val-size",
                "50",
                "--out",
                str(scratch / "t-mismatch"),
            ],
            timeout=300,
            check=lambda r, s: "exit 0: trained on mismatched images and labels" if r.returncode == 0 else "",
        ),
        Case(
            "idx: truncated .gz",
            [
                "train",
                str(files / "spec28.json"),
                "--dataset",
                "mnist",
                "--data-dir",
                str(data / "mnist-truncated-gz"),
                "--epochs",
                "1",
                "--quiet",
                "--out",
                str(scratch / "t-gz"),
            ],
        ),
        Case(
            "idx: truncated raw file",
            [
                "train",
                str(files / "spec28.json"),
                "--dataset",
                "mnist",
                "--data-dir",
                str(data / "mnist-truncated-raw"),
                "--epochs",
                "1",
                "--quiet",
                "--out",
                str(scratch / "t-raw"),
            ],
        ),
        Case(
            "CIFAR-10 batch that runs code",
            [
                "train",
                str(files / "spec32.json"),
                "--dataset",
                "cifar10",
                "--data-dir",
                str(data / "cifar-crafted"),
                "--epochs",
                "1",
                "--quiet",
                "--val-size",
                "20",
                "--out",
                str(scratch / "t-crafted"),
            ],
            timeout=300,
            check=_exists(lambda s: s / "crafted-pickle-ran", "the batch's code ran"),
        ),
        Case(
            "CIFAR-10 batch of garbage",
            [
                "train",
                str(files / "spec32.json"),
                "--dataset",
                "cifar10",
                "--data-dir",
                str(data / "cifar-garbage"),
                "--epochs",
                "1",
                "--quiet",
                "--out",
                str(scratch / "t-g"),
            ],
        ),
        # the cost cache
        *[
            Case(
                f"damaged cost cache: {name}", ["profile", "lenet5"], expect="warn", check=lambda r, s: "", timeout=120
            )
            for name in ("random-bytes", "header", "truncated", "pages", "text", "entries")
        ],
        Case(
            "damaged cost cache in a search",
            [*search, "--name", "damaged-cache", *quick],
            expect="warn",
            timeout=300,
            check=_trials_statuses("damaged-cache"),
        ),
        # trials.csv
        *[
            Case(
                f"trials.csv {kind}: {command}",
                [command, str(f[f"csv-{kind}"])]
                + (["--out", str(scratch / "exports" / f"csv-{kind}")] if command == "export" else []),
                check=lambda r, s: "exit 0 on a damaged trials.csv" if r.returncode == 0 else "",
            )
            for kind in ("empty", "binary", "truncated", "no-column", "not-numbers", "short-row")
            for command in ("profile", "export", "report")
        ],
        # export
        Case(
            "export --weights garbage",
            [
                "export",
                str(files / "spec32.json"),
                "--weights",
                str(files / "garbage.pt"),
                "--out",
                str(scratch / "exports" / "garbage"),
            ],
        ),
        Case(
            "export --weights of another model",
            [
                "export",
                str(files / "spec32.json"),
                "--weights",
                str(files / "wrong-shape.pt"),
                "--out",
                str(scratch / "exports" / "wrong"),
            ],
        ),
        Case(
            "failed export leaves no model.py",
            ["export", f"{files / 'models.py'}:Residual", "--out", str(scratch / "exports" / "failed")],
            check=_exists(lambda s: s / "exports" / "failed" / "model.py", "a stray model.py is left"),
        ),
        Case(
            "export by path: no path in README",
            ["export", f"{f['home'] / 'net.py'}:Small", "--out", str(scratch / "exports" / "by-path")],
            expect="ok",
            check=_readme_leak,
        ),
        # export: data stays data, the user's files are safe (issue 24)
        Case(
            "export: trial id that is Python code",
            [
                "export",
                str(f["hostile-id"]),
                "--trial",
                str(f["hostile-id-trial"]),
                "--out",
                str(scratch / "exports" / "hostile-id"),
            ],
            expect="ok",
            check=_no_code_ran("hostile-id", f["python"]),
        ),
        Case(
            "export: trial id with newlines and code",
            [
                "export",
                str(f["newline-id"]),
                "--trial",
                str(f["newline-id-trial"]),
                "--out",
                str(scratch / "exports" / "newline-id"),
            ],
            expect="ok",
            check=_no_code_ran("newline-id", f["python"]),
        ),
        Case(
            "export: spec file name that is Python code",
            ["export", str(f["hostile-spec"]), "--out", str(scratch / "exports" / "hostile-spec")],
            expect="ok",
            check=_no_code_ran("hostile-spec", f["python"]),
        ),
        Case(
            "export into a folder holding the user's README.md",
            ["export", str(files / "spec32.json"), "--out", str(f["users-folder"])],
            check=_users_files(forced=False),
        ),
        Case(
            "export --force into the user's folder",
            ["export", str(files / "spec32.json"), "--out", str(f["users-folder"]), "--force"],
            expect="ok",
            check=_users_files(forced=True),
        ),
        *(
            [
                Case(
                    "export onto a full disk (1 MB tmpfs)",
                    [
                        "export",
                        str(f["big-spec"]),
                        "--weights",
                        str(f["big-weights"]),
                        "--out",
                        str(f["full-disk"] / "export"),
                    ],
                    check=_disk_left_empty("full-disk"),
                )
            ]
            if "full-disk" in f
            else []
        ),
        *(
            [
                Case(
                    "export into a read-only folder",
                    ["export", str(files / "spec32.json"), "--out", str(f["read-only"] / "export")],
                    check=_disk_left_empty("read-only"),
                )
            ]
            if "read-only" in f
            else []
        ),
        Case("arch --out /proc/x.yaml", ["arch", "--pe-x", "8", "--out", "/proc/x.yaml"]),
        # interruptions
        Case(
            "Ctrl-C during a search",
            [*search, "--name", "ctrl-c", "--trials", "6"],
            expect="interrupted",
            timeout=300,
            interrupt_after=rows_at_least("ctrl-c", 1),
        ),
        Case(
            "SIGKILL, then --resume",
            [*search, "--name", "killed", "--trials", "4"],
            expect="ok",
            timeout=400,
            kill_after=rows_at_least("killed", 2),
            then=[*search, "--name", "killed", "--trials", "4", "--resume"],
            check=_rows_and_duplicates("killed", 4),
        ),
    ]
    return cases


CACHE_OF = {
    f"damaged cost cache: {name}": f"cache-{name}.sqlite"
    for name in ("random-bytes", "header", "truncated", "pages", "text", "entries")
}
CACHE_OF["damaged cost cache in a search"] = "cache-random-bytes.sqlite"


# ----------------------------------------------------------------------------------------------- running


class _Tree:
    """A started process and every descendant seen, to watch its memory and end them all by id."""

    def __init__(self, proc: subprocess.Popen):
        self.proc = proc
        self.seen: dict[int, psutil.Process] = {}
        self.peak = 0.0

    def sample(self) -> float:
        try:
            root = psutil.Process(self.proc.pid)
            members = [root, *root.children(recursive=True)]
        except psutil.Error:
            members = []
        rss = 0.0
        for p in members:
            self.seen.setdefault(p.pid, p)
            with contextlib.suppress(psutil.Error):
                rss += p.memory_info().rss
        self.peak = max(self.peak, rss)
        return rss

    def end(self) -> None:
        for p in [psutil.Process(self.proc.pid)] if self.proc.poll() is None else []:
            self.seen.setdefault(p.pid, p)
        for p in self.seen.values():
            try:
                if p.is_running():  # is_running compares the creation time: never another process
                    p.kill()
            except psutil.Error:
                pass
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=10)


def _run_one(
    args: list[str],
    env: dict,
    cwd: Path,
    timeout: float,
    memory_mb: float,
    signal_when: Callable[[Path], bool] | None,
    sig: int,
    scratch: Path,
) -> tuple[subprocess.CompletedProcess, float]:
    """Run one command; end it (and every process it started) at the timeout or the memory cap."""
    # the files outlive any one block: the child writes to them for its whole life, and they are read back after
    out, err = tempfile.TemporaryFile("w+"), tempfile.TemporaryFile("w+")  # noqa: SIM115
    proc = subprocess.Popen(
        [env["CODESIGN_PYTHON"], "-m", "codesign.cli", *args],
        cwd=cwd,
        env=env,
        stdout=out,
        stderr=err,
        text=True,
        start_new_session=True,
    )
    tree = _Tree(proc)
    start, code, signalled = time.monotonic(), None, False
    while True:
        code = proc.poll()
        if code is not None:
            break
        if tree.sample() > memory_mb * 1e6:
            code = "memory"
            break
        if time.monotonic() - start > timeout:
            code = "timeout"
            break
        if signal_when is not None and not signalled and signal_when(scratch):
            proc.send_signal(sig)
            signalled = True
        time.sleep(0.2)
    tree.end()
    out.seek(0)
    err.seek(0)
    return subprocess.CompletedProcess(args, code, out.read(), err.read()), tree.peak / 1e6


def _last_line(result: subprocess.CompletedProcess) -> str:
    lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
    if "Traceback (most recent call last)" in result.stderr:
        errors = [ln for ln in lines if re.match(r"^[A-Za-z_][\w.]*(Error|Exception|Interrupt|Exit|Warning)\b", ln)]
        return "traceback: " + (errors[-1] if errors else lines[-1])[:160]
    ours = [ln for ln in lines if re.match(r"codesign( \w+)?:", ln)]
    if ours:
        return ours[-1][:200]
    if lines:
        return lines[-1][:160]
    out = [ln for ln in result.stdout.splitlines() if ln.strip()]
    return ("stdout: " + out[-1][:150]) if out else ""


def judge(case: Case, result: subprocess.CompletedProcess) -> str:
    """What was wrong with what a case did ("" when it behaved)."""
    code, err = result.returncode, result.stderr
    if code == "timeout":
        return "did not finish (killed at the timeout)"
    if code == "memory":
        return "killed at the memory cap"
    if "Traceback (most recent call last)" in err:
        return "traceback"
    ours = [ln for ln in err.splitlines() if re.match(r"codesign( \w+)?: error", ln)]
    if case.expect == "error":
        if code != 2:
            return f"exit {code}, not 2"
        if len(ours) != 1 or any(ln.startswith("usage:") for ln in err.splitlines()):
            return "no one-line error"
    elif case.expect == "interrupted":
        if code != 130:
            return f"exit {code} after Ctrl-C, not 130"
    elif code != 0:
        return f"exit {code}"
    elif case.expect == "warn":
        warnings = [ln for ln in err.splitlines() if ln.startswith("codesign: warning")]
        if len(warnings) != 1:
            return f"{len(warnings)} warning lines, not 1"
    return ""


def run_cases(
    root: Path, python: str, timeout_scale: float, memory_mb: float, only: str | None, scratch: Path
) -> list[Result]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CODESIGN_", "RAY_ADDRESS"))}
    env.update(
        PYTHONPATH=str(root),
        CODESIGN_DATA=str(scratch / "no-data"),
        CODESIGN_PYTHON=python,
        RAY_AUTH_MODE="disabled",
        PYTHONUNBUFFERED="1",
        CODESIGN_CACHE=str(scratch / "cache.sqlite"),
    )
    print(f"preparing fixtures in {scratch} ...", file=sys.stderr, flush=True)
    fixtures = _fixtures(scratch, root, python, env)
    results = []
    for case in _cases(fixtures, scratch):
        if only and not re.search(only, case.name):
            continue
        case_env = dict(env)
        if case.name in CACHE_OF:
            cache = scratch / "caches" / re.sub(r"\W+", "-", case.name) / "layer_costs.sqlite"
            cache.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(scratch / CACHE_OF[case.name], cache)
            case_env["CODESIGN_CACHE"] = str(cache)
        start = time.monotonic()
        signal_when, sig = case.interrupt_after, signal.SIGINT
        if case.kill_after is not None:
            signal_when, sig = case.kill_after, signal.SIGKILL
        result, peak = _run_one(
            case.args, case_env, scratch, case.timeout * timeout_scale, memory_mb, signal_when, sig, scratch
        )
        if case.then is not None:
            result, peak2 = _run_one(
                case.then, case_env, scratch, case.timeout * timeout_scale, memory_mb, None, 0, scratch
            )
            peak = max(peak, peak2)
        problem = judge(case, result)
        if case.check is not None and not problem.startswith(("traceback", "killed")):
            extra = case.check(result, scratch)
            if extra:
                problem = f"{problem}; {extra}" if problem and problem != extra else extra
        results.append(
            Result(
                case.name,
                case.expect,
                result.returncode,
                _last_line(result),
                problem,
                round(time.monotonic() - start, 1),
                round(peak),
            )
        )
        r = results[-1]
        print(
            f"{r.verdict:4} {r.exit!s:8} {r.seconds:6.1f}s {r.case}: {r.problem or r.line}", file=sys.stderr, flush=True
        )
    results += run_integrity(env, scratch, timeout_scale, memory_mb, only)  # issue 24's run faults, below
    return results


# ----------------------------------------------------------------------------------------------- run integrity
# Issue 24: a run folder copied, moved, resumed with other inputs, searched twice at once, started wrongly, on a
# full or read-only disk, stopped by SIGTERM; exploding losses, one-class data, the Python API's arguments. Kept
# apart from the cases above: each scenario runs several commands (a finished run to copy, two processes at
# once, a small tmpfs, a second user's key) and returns the command it is judged on, with what else went wrong.

INTEGRITY = "integrity: "


@dataclass
class Scenario:
    """One integrity case: `run` does it and returns (the judged command's result, extra problems)."""

    name: str
    expect: str  # as Case.expect, or "sigterm": exit 143
    run: Callable[[_Ctx], tuple[subprocess.CompletedProcess, str]]


class _Ctx:
    """What a scenario runs commands with: the checkout's environment, a scratch folder, a finished base run."""

    def __init__(self, env: dict, scratch: Path, timeout_scale: float, memory_mb: float):
        self.env = {**env, "XDG_CONFIG_HOME": str(scratch / "integrity" / "config")}  # the user's key, private
        self.root = scratch / "integrity"
        self.scratch, self.scale, self.memory_mb = scratch, timeout_scale, memory_mb
        self.data = scratch / "data" / "mnist-ok"
        self.space = scratch / "files" / "space.yaml"
        self._base: Path | None = None
        self.peak = 0.0

    def search(self, runs: Path, name: str, *extra: str) -> list[str]:
        return [
            "search",
            "--space",
            str(self.space),
            "--dataset",
            "mnist",
            "--data-dir",
            str(self.data),
            "--runs-dir",
            str(runs),
            "--no-dashboard",
            "--train-size",
            "300",
            "--val-size",
            "100",
            "--name",
            name,
            *extra,
        ]

    def cli(
        self,
        args: list[str],
        timeout: float = 300,
        env: dict | None = None,
        when: Callable[[Path], bool] | None = None,
        sig: int = signal.SIGINT,
    ) -> subprocess.CompletedProcess:
        result, peak = _run_one(
            args, {**self.env, **(env or {})}, self.root, timeout * self.scale, self.memory_mb, when, sig, self.scratch
        )
        self.peak = max(self.peak, peak)
        return result

    def python(self, code: str, timeout: float = 300) -> subprocess.CompletedProcess:
        try:
            return subprocess.run(
                [self.env["CODESIGN_PYTHON"], "-c", code],
                env=self.env,
                cwd=self.root,
                capture_output=True,
                text=True,
                timeout=timeout * self.scale,
            )
        except subprocess.TimeoutExpired:
            return subprocess.CompletedProcess(code, "timeout", "", "")

    def base(self) -> Path:
        """A finished 2-trial run (made once), for the scenarios that copy or resume one."""
        if self._base is None:
            result = self.cli(self.search(self.root / "runs", "base", "--trials", "2"))
            if result.returncode != 0:
                raise RuntimeError(f"the base run failed: {_last_line(result)}")
            self._base = self.root / "runs" / "base"
        return self._base

    def copy_of_base(self, runs: str, name: str) -> Path:
        target = self.root / runs / name
        shutil.copytree(self.base(), target)
        return target


def _digests(folder: Path) -> dict[str, str]:
    import hashlib

    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def _trial_rows(folder: Path) -> list[dict]:
    import csv

    table = folder / "trials.csv"
    return list(csv.DictReader(table.open())) if table.is_file() else []


def _problems(*found: str) -> str:
    return "; ".join(p for p in found if p)


def _resume_copy(ctx: _Ctx, env: dict | None = None) -> tuple[subprocess.CompletedProcess, str]:
    base = ctx.base()
    before = _digests(base)
    copy = ctx.copy_of_base("copies", "theirs" if env else "mine")
    result = ctx.cli(ctx.search(copy.parent, copy.name, "--trials", "3", "--resume"), env=env)
    rows = len(_trial_rows(copy))
    return result, _problems(
        "" if _digests(base) == before else "the original run's files changed",
        "" if env or rows == 3 else f"the copy has {rows} trials, not 3",
    )


def _moved(ctx: _Ctx) -> tuple[subprocess.CompletedProcess, str]:
    copy = ctx.copy_of_base("moved-from", "moved")
    target = ctx.root / "moved-to" / "moved"
    target.parent.mkdir(parents=True)
    shutil.move(copy, target)
    result = ctx.cli(ctx.search(target.parent, "moved", "--trials", "3", "--resume"))
    rows = len(_trial_rows(target))
    return result, _problems(
        "" if rows == 3 else f"{rows} trials, not 3",
        "wrote into the old place" if (ctx.root / "moved-from" / "moved").exists() else "",
    )


def _extend(ctx: _Ctx) -> tuple[subprocess.CompletedProcess, str]:
    copy = ctx.copy_of_base("extend", "run")
    result = ctx.cli(ctx.search(copy.parent, "run", "--trials", "4", "--resume"))
    rows = len(_trial_rows(copy))
    return result, "" if rows == 4 else f"{rows} trials after --trials 4, not 4"


def _mismatch(flag: list[str]) -> Callable[[_Ctx], tuple[subprocess.CompletedProcess, str]]:
    def run(ctx: _Ctx) -> tuple[subprocess.CompletedProcess, str]:
        copy = ctx.copy_of_base("mismatch", re.sub(r"\W+", "-", flag[0]).strip("-"))
        args = ["search", "--name", copy.name, "--runs-dir", str(copy.parent), "--resume", "--no-dashboard", *flag]
        return ctx.cli(args), ""

    return run


def _concurrent(ctx: _Ctx) -> tuple[subprocess.CompletedProcess, str]:
    import threading

    runs = ctx.root / "concurrent"
    args = ctx.search(runs, "same", "--trials", "2")
    results: list[subprocess.CompletedProcess] = []
    threads = [threading.Thread(target=lambda: results.append(ctx.cli(args))) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    codes = sorted(str(r.returncode) for r in results)
    rows = _trial_rows(runs / "same")
    refused = [r for r in results if r.returncode != 0]
    judged = refused[0] if refused else results[-1]
    return judged, _problems(
        "" if codes == ["0", "2"] else f"exit codes {', '.join(codes)}: both ran" if codes == ["0", "0"] else "",
        "" if len(rows) == 2 else f"trials.csv holds {len(rows)} trials, not 2",
    )


def _resume_while_running(ctx: _Ctx) -> tuple[subprocess.CompletedProcess, str]:
    """A second process on a run that is running (a --resume of it): judged on the second."""
    import threading

    runs = ctx.root / "running"
    args = ctx.search(runs, "r", "--trials", "4")
    first: list[subprocess.CompletedProcess] = []
    thread = threading.Thread(target=lambda: first.append(ctx.cli(args)))
    thread.start()
    deadline = time.monotonic() + 300 * ctx.scale
    while thread.is_alive() and not _trial_rows(runs / "r") and time.monotonic() < deadline:
        time.sleep(0.2)
    second = ctx.cli([*args, "--resume"])
    thread.join()
    rows = _trial_rows(runs / "r")
    specs = [r.get("spec") for r in rows if r.get("status") in ("ok", "infeasible")]
    return second, _problems(
        "" if first and first[0].returncode == 0 else "the first search did not finish",
        "" if len(rows) == 4 else f"trials.csv holds {len(rows)} trials, not 4",
        "a design ran twice" if len(set(specs)) < len(specs) else "",
    )


def _failed_start(extra: list[str], env: dict | None = None, timeout: float = 120) -> Callable:
    def run(ctx: _Ctx) -> tuple[subprocess.CompletedProcess, str]:
        name = "start-" + re.sub(r"\W+", "-", " ".join(extra) or "env").strip("-")
        result = ctx.cli(ctx.search(ctx.root / "starts", name, "--trials", "2", *extra), env=env, timeout=timeout)
        left = ctx.root / "starts" / name / "search.json"
        return result, "search.json left behind: the name is stuck" if left.exists() else ""

    return run


def _tmpfs(ctx: _Ctx, name: str, options: str) -> Path | None:
    disk = ctx.root / name
    disk.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(disk)], capture_output=True)
    return disk if done.returncode == 0 else None


def _no_root() -> tuple[subprocess.CompletedProcess, str]:
    return subprocess.CompletedProcess([], "skipped", "", "cannot mount a tmpfs (needs root)"), ""


def _full_during_trials(ctx: _Ctx) -> tuple[subprocess.CompletedProcess, str]:
    disk = _tmpfs(ctx, "disk-trials", "size=8m")
    if disk is None:
        return _no_root()
    filled: list[bool] = []

    def fill_after_first_trial(s: Path) -> bool:
        if not filled and len(_trial_rows(disk / "t")) >= 1:
            filled.append(True)
            with (disk / "filler").open("wb") as f:
                try:
                    while True:
                        f.write(b"\0" * 65536)
                except OSError:
                    pass
        return False

    try:
        result = ctx.cli(ctx.search(disk, "t", "--trials", "4"), when=fill_after_first_trial)
        rows = _trial_rows(disk / "t")
        leftovers = [p.name for p in (disk / "t").glob("*.tmp")]
        tracebacks = result.stderr.count("Traceback")
        return result, _problems(
            "" if rows else "no finished trial kept",
            f"left {', '.join(leftovers)}" if leftovers else "",
            f"{tracebacks} tracebacks" if tracebacks else "",
        )
    finally:
        subprocess.run(["umount", str(disk)], capture_output=True)


def _full_during_report(ctx: _Ctx) -> tuple[subprocess.CompletedProcess, str]:
    disk = _tmpfs(ctx, "disk-report", "size=2m")
    if disk is None:
        return _no_root()
    try:
        result = ctx.cli(ctx.search(disk, "r", "--trials", "1"))
        rows = _trial_rows(disk / "r")
        page = disk / "r" / "report.html"
        cut = page.is_file() and not page.read_text(errors="replace").rstrip().endswith("</html>")
        return result, _problems(
            "" if rows else "no finished trial kept", "a truncated report.html left" if cut else ""
        )
    finally:
        subprocess.run(["umount", str(disk)], capture_output=True)


def _read_only(ctx: _Ctx) -> tuple[subprocess.CompletedProcess, str]:
    disk = _tmpfs(ctx, "disk-ro", "size=1m,ro")
    if disk is None:
        return _no_root()
    try:
        return ctx.cli(ctx.search(disk, "ro", "--trials", "2")), ""
    finally:
        subprocess.run(["umount", str(disk)], capture_output=True)


def _exploding(ctx: _Ctx) -> tuple[subprocess.CompletedProcess, str]:
    space = ctx.root / "space-exploding.yaml"
    space.write_text(
        _yaml(
            {
                **SPACE,
                "network": {**SPACE["network"], "head_width": 16},
                "sgd": {**SPACE["sgd"], "lr": {"float": [100, 1000], "log": True}},
            }
        )
    )
    runs = ctx.root / "exploding"
    args = ctx.search(runs, "x", "--trials", "2")
    args[args.index("--space") + 1] = str(space)
    result = ctx.cli(args)
    rows = _trial_rows(runs / "x")
    ok = [r for r in rows if r.get("status") == "ok"]
    front = []
    if (runs / "x" / "pareto.csv").is_file():
        import csv

        front = list(csv.DictReader((runs / "x" / "pareto.csv").open()))
    return result, _problems(
        f"{len(ok)} trials with an exploded loss scored ok" if ok else "",
        f"{len(front)} of them on the front" if front and ok else "",
    )


def _one_class(command: str) -> Callable:
    def run(ctx: _Ctx) -> tuple[subprocess.CompletedProcess, str]:
        folder = ctx.root / "data-one-class"
        if not folder.is_dir():
            _mnist(folder)
            _idx(folder / "train-labels-idx1-ubyte.gz", np.zeros(600, dtype=np.uint8))
        if command == "train":
            args = [
                "train",
                str(ctx.scratch / "files" / "spec28.json"),
                "--dataset",
                "mnist",
                "--data-dir",
                str(folder),
                "--epochs",
                "1",
                "--quiet",
                "--val-size",
                "100",
                "--out",
                str(ctx.root / "t-one"),
            ]
        else:
            args = ctx.search(ctx.root / "one-class", "o", "--trials", "1")
            args[args.index("--data-dir") + 1] = str(folder)
        result = ctx.cli(args)
        accuracy = re.search(r"validation accuracy ([\d.]+)", result.stdout)
        return result, f"exit 0: validation accuracy {accuracy.group(1)}" if accuracy and result.returncode == 0 else ""

    return run


def _sigterm(ctx: _Ctx) -> tuple[subprocess.CompletedProcess, str]:
    runs = ctx.root / "sigterm"
    result = ctx.cli(
        ctx.search(runs, "s", "--trials", "6"), when=lambda s: len(_trial_rows(runs / "s")) >= 1, sig=signal.SIGTERM
    )
    dump = "Fatal Python error" in result.stderr or "Stack (most recent call first)" in result.stderr
    return result, _problems(
        "a native stack dump" if dump else "",
        "" if (runs / "s" / "report.html").is_file() else "no report written",
        "" if _trial_rows(runs / "s") else "no finished trial kept",
    )


def _api(keyword: str) -> Callable:
    def run(ctx: _Ctx) -> tuple[subprocess.CompletedProcess, str]:
        code = (
            "import sys, codesign\n"
            "try:\n"
            f"    done = codesign.train('lenet5', 'mnist', data_dir={str(ctx.data)!r}, val_size=100, "
            f"progress=False, {keyword})\n"
            "except codesign.CodesignError as exc:\n"
            "    print(f'codesign: error: {exc}', file=sys.stderr); sys.exit(2)\n"
            "print(f'{done.status} after {done.epochs} epochs', file=sys.stderr)\n"
        )
        return ctx.python(code), ""

    return run


def _scenarios() -> list[Scenario]:
    return [
        Scenario(
            "--resume of a run copied from another user",
            "error",
            lambda c: _resume_copy(c, env={"XDG_CONFIG_HOME": str(c.root / "another-user")}),
        ),
        Scenario("--resume --trials 3 of a copied run", "ok", _resume_copy),
        Scenario("--resume --trials 3 of a moved run", "ok", _moved),
        Scenario("--resume --trials 4 of a finished 2-trial run", "ok", _extend),
        Scenario("--resume with another --space", "error", _mismatch(["--space", "lenet"])),
        Scenario("--resume with another --dataset", "error", _mismatch(["--dataset", "fashion-mnist"])),
        Scenario("two searches with one --name at once", "error", _concurrent),
        Scenario("--resume of a run while it runs", "error", _resume_while_running),
        Scenario("failed start: --storage /proc/x", "error", _failed_start(["--storage", "/proc/codesign-x"])),
        Scenario(
            "failed start: --address 127.0.0.1:1", "error", _failed_start(["--address", "127.0.0.1:1"], timeout=90)
        ),
        Scenario(
            "failed start: RAY_ADDRESS=garbage", "error", _failed_start([], env={"RAY_ADDRESS": "garbage"}, timeout=90)
        ),
        Scenario("failed start: --val-size above the data set", "error", _failed_start(["--val-size", "100000"])),
        Scenario(
            "--runs-dir naming a file",
            "error",
            lambda c: (c.cli(c.search(c.scratch / "files" / "space.yaml", "f", "--trials", "2")), ""),
        ),
        Scenario("read-only runs folder", "error", _read_only),
        Scenario("full disk during trials", "error", _full_during_trials),
        Scenario("full disk during the report", "error", _full_during_report),
        Scenario("SIGTERM during a search", "sigterm", _sigterm),
        Scenario("space with lr in [100, 1000] (exploding loss)", "ok", _exploding),
        Scenario("one-class training labels: train", "error", _one_class("train")),
        Scenario("one-class training labels: search", "error", _one_class("search")),
        *[
            Scenario(f"codesign.train(..., {kw})", "error", _api(kw))
            for kw in ("epochs=0", "lr=float('nan')", "epochs='2'", "batch_size=0", "lr=-1")
        ],
    ]


def run_integrity(env: dict, scratch: Path, timeout_scale: float, memory_mb: float, only: str | None) -> list[Result]:
    """Run the integrity scenarios (names start with "integrity: ")."""
    ctx = _Ctx(env, scratch, timeout_scale, memory_mb)
    ctx.root.mkdir(parents=True, exist_ok=True)
    results = []
    for scenario in _scenarios():
        name = INTEGRITY + scenario.name
        if only and not re.search(only, name):
            continue
        start, ctx.peak = time.monotonic(), 0.0
        try:
            result, extra = scenario.run(ctx)
        except RuntimeError as exc:
            result, extra = subprocess.CompletedProcess([], "error", "", str(exc)), str(exc)
        if result.returncode == "skipped":
            problem = ""
        elif scenario.expect == "sigterm":
            problem = judge(Case(name, [], "ok"), result) if result.returncode != 143 else ""
            problem = f"exit {result.returncode} after SIGTERM, not 143" if problem else ""
            if "Traceback (most recent call last)" in result.stderr:
                problem = "traceback"
        else:
            problem = judge(Case(name, [], scenario.expect), result)
        if extra and not problem.startswith(("traceback", "killed")):
            problem = f"{problem}; {extra}" if problem else extra
        results.append(
            Result(
                name,
                scenario.expect,
                result.returncode,
                _last_line(result),
                problem,
                round(time.monotonic() - start, 1),
                round(ctx.peak),
            )
        )
        r = results[-1]
        print(
            f"{r.verdict:4} {r.exit!s:8} {r.seconds:6.1f}s {r.case}: {r.problem or r.line}", file=sys.stderr, flush=True
        )
    return results


# ----------------------------------------------------------------------------------------------- tables


def _cell(text: str, width: int = 110) -> str:
    text = text.replace("|", "\\|").replace("\n", " ")
    return text if len(text) <= width else text[: width - 3] + "..."


def table(results: list[Result]) -> str:
    """A markdown table of one run."""
    lines = ["| case | expect | exit | verdict | last line (stderr) |", "| --- | --- | --- | --- | --- |"]
    for r in results:
        verdict = r.verdict if not r.problem else f"FAIL: {r.problem}"
        lines.append(f"| {_cell(r.case, 60)} | {r.expect} | {r.exit} | {_cell(verdict, 60)} | {_cell(r.line)} |")
    return "\n".join(lines) + "\n\n" + summary(results)


def summary(results: list[Result]) -> str:
    """Counts: how many behaved, tracebacks, silent acceptances, hangs."""
    ok = sum(not r.problem for r in results)
    tracebacks = sum(r.problem.startswith("traceback") for r in results)
    hung = sum(str(r.exit) in ("timeout", "memory") for r in results)
    return (
        f"{len(results)} cases: {ok} behaved, {len(results) - ok} did not "
        f"({tracebacks} tracebacks, {hung} killed at the timeout or memory cap)"
    )


def compare(before: list[Result], after: list[Result]) -> str:
    """A markdown before/after table."""
    by_case = {r.case: r for r in before}
    lines = ["| case | before: exit | before: line | after: exit | after: line |", "| --- | --- | --- | --- | --- |"]
    for r in after:
        b = by_case.get(r.case)
        before_cell = "–" if b is None else (f"**{b.exit}**" if b.problem else str(b.exit))
        before_line = "" if b is None else _cell((f"[{b.problem}] " if b.problem else "") + b.line, 80)
        after_cell = f"**{r.exit}**" if r.problem else str(r.exit)
        after_line = _cell((f"[{r.problem}] " if r.problem else "") + r.line, 80)
        lines.append(f"| {_cell(r.case, 50)} | {before_cell} | {before_line} | {after_cell} | {after_line} |")
    return (
        "\n".join(lines)
        + "\n\n(bold: the case misbehaved; [..]: how)\n\nbefore: "
        + summary(before)
        + "\nafter: "
        + summary(after)
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=HERE, help="checkout whose codesign to run (default: this)")
    parser.add_argument("--python", default=sys.executable, help="interpreter with codesign's dependencies")
    parser.add_argument("--timeout-scale", type=float, default=1.0, help="multiply every case's timeout")
    parser.add_argument("--memory-mb", type=float, default=4000, help="memory cap per case (resident, whole tree)")
    parser.add_argument("--only", help="run the cases whose name matches this regular expression")
    parser.add_argument("--json", type=Path, help="write the results here")
    parser.add_argument("--keep", action="store_true", help="keep the scratch folder")
    parser.add_argument("--compare", nargs=2, type=Path, metavar=("BEFORE", "AFTER"), help="print a table of two runs")
    args = parser.parse_args()
    if args.compare:
        before, after = ([Result(**r) for r in json.loads(p.read_text())] for p in args.compare)
        print(compare(before, after))
        return
    scratch = Path(tempfile.mkdtemp(prefix="codesign-hostile-"))
    try:
        results = run_cases(args.root.resolve(), args.python, args.timeout_scale, args.memory_mb, args.only, scratch)
    finally:
        _unmount(scratch)
        if not args.keep:
            shutil.rmtree(scratch, ignore_errors=True)
    if args.json:
        args.json.write_text(json.dumps([r.__dict__ for r in results], indent=1))
    print(table(results))


if __name__ == "__main__":
    main()
