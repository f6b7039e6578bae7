"""Helpers the tests share: the lab's reference Timeloop runs, one-layer models, samplers of a space."""

from __future__ import annotations

import csv
import gzip
import json
import math
import os
import pickle
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from codesign.data import DEBIAN_FASHION_MNIST
from codesign.search.objective import DesignObjective
from codesign.search.prepared import PreparedSearch
from codesign.search.settings import DataSettings, SearchSettings
from codesign.workload import Layer

ROOT = Path(__file__).resolve().parent.parent
# Real Timeloop runs of the lab's setup (a copy of ../shared/reference, kept in the project so that every
# clone checks the cost model's claims); CODESIGN_REFERENCE points elsewhere.
REFERENCE = Path(os.environ.get("CODESIGN_REFERENCE", ROOT / "tests" / "data" / "timeloop"))
KINDS = {"conv": "conv", "dwconv": "depthwise", "fc": "linear"}
DATAFLOW_RUNS = ROOT / "tests" / "data" / "timeloop" / "dataflows"  # the real mapper on each dataflow
needs_fmnist = pytest.mark.skipif(
    not DEBIAN_FASHION_MNIST.is_dir(), reason="apt-get install dataset-fashion-mnist (.ci/run does)"
)


def reference_rows() -> list[dict]:
    """dev.csv rows (real Timeloop runs on the lab's setup)."""
    path = REFERENCE / "dev.csv"
    if not path.is_file():
        pytest.fail(f"reference measurements not found at {REFERENCE} (unset CODESIGN_REFERENCE)", pytrace=False)
    with path.open() as f:
        rows = list(csv.DictReader(f))
    for row in rows:
        row["level_energy"] = json.loads(row["level_energy_pJ"])
    return rows


def dataflow_rows(name: str) -> list[dict]:
    """The real mapper's runs on dataflow `name` (DATAFLOW_RUNS/NAME.csv; the same columns as dev.csv's)."""
    with (DATAFLOW_RUNS / f"{name}.csv").open() as f:
        return list(csv.DictReader(f))


def layer_of(row: dict) -> Layer:
    """The Layer a dev.csv (or dataflow_rows) row describes."""
    sizes = {k: int(row[k]) for k in ("N", "C", "M", "P", "Q", "R", "S", "Wstride", "Hstride")}
    return Layer(kind=KINDS[row["kind"]], names=(row["name"],), **sizes)


def module_source(row: dict) -> tuple[str, str]:
    """Python source of a one-layer nn.Module reproducing the row, and its input shape."""
    c, m, h, r = int(row["C"]), int(row["M"]), int(row["H"]), int(row["R"])
    stride, pad, groups = int(row["stride"]), int(row["pad"]), int(row["groups"])
    if row["kind"] == "fc":
        body, shape = f"nn.Linear({c}, {m})", f"1,{c}"
    else:
        body, shape = f"nn.Conv2d({c}, {m}, {r}, stride={stride}, padding={pad}, groups={groups})", f"1,{c},{h},{h}"
    source = (
        "from torch import nn\n\n\n"
        "class Layer(nn.Module):\n"
        "    def __init__(self):\n"
        "        super().__init__()\n"
        f"        self.op = {body}\n\n"
        "    def forward(self, x):\n"
        "        return self.op(x)\n"
    )
    return source, shape


def sampler_for(space_path: Path, dataset: str = "fashion-mnist", **settings: Any) -> DesignObjective:
    """The search's define-by-run objective for a space file, as `codesign search` builds it."""
    search = SearchSettings(name="t", space=str(space_path), data=DataSettings(dataset=dataset), **settings)
    return DesignObjective(PreparedSearch.load(search))


def bigger_is_better(number: int, spec: Any, net: Any) -> float:
    """A made-up accuracy for a stand-in training: it grows with the log of the design's MACs."""
    return min(0.5 + 0.03 * math.log2(net.workload.macs), 0.99)


def stand_in_objective(design: DesignObjective, accuracy: Any = bigger_is_better, stopped: Any = ()) -> Any:
    """Optuna objective standing in for training: real constraints and costs (the search's arch), `accuracy`
    made up; trials numbered in `stopped` are marked stopped early."""
    from codesign.cost import CostCache
    from codesign.network import CandidateSpec
    from codesign.profiling import profile_workload
    from codesign.search.ehvi import STATUS
    from codesign.spec_workload import spec_workload

    cache = CostCache()

    def objective(trial: Any) -> tuple[float, float, float]:
        config = design(trial)
        if not config["feasible"]:
            return 0.0, 1e15, 1e12
        spec = CandidateSpec.from_dict(config["spec"])
        net = profile_workload(spec_workload(spec), design.base_arch, cache=cache)
        if trial.number in stopped:
            trial.set_user_attr(STATUS, "stopped")
        return accuracy(trial.number, spec, net), net.energy_pj, net.cycles

    return objective


def write_fake_cifar10(root, per_batch=20, test=10):
    """A tiny CIFAR-10 in the real `cifar-10-batches-py` pickle format."""
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for name, n in [(f"data_batch_{i}", per_batch) for i in range(1, 6)] + [("test_batch", test)]:
        entry = {
            "batch_label": name,
            "data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
            "labels": rng.integers(0, 10, n).tolist(),
            "filenames": [f"{name}_{i}.png" for i in range(n)],
        }
        with (folder / name).open("wb") as f:
            pickle.dump(entry, f)
    with (folder / "batches.meta").open("wb") as f:
        pickle.dump({"label_names": [str(i) for i in range(10)], "num_vis": 3072, "num_cases_per_batch": per_batch}, f)
    return folder


def write_idx(path, array, gz):
    header = bytes([0, 0, 8, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    data = header + array.astype(np.uint8).tobytes()
    (gzip.open if gz else open)(path, "wb").write(data)


def start_codesign(args: list[str], **env: str) -> subprocess.Popen[str]:
    """`codesign ARGS` in its own process group, as a terminal runs a job (stdout and stderr merged)."""
    return subprocess.Popen(
        [sys.executable, "-m", "codesign.cli", *args],
        cwd=ROOT,
        env={**os.environ, "PYTHONUNBUFFERED": "1", **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
