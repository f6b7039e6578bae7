"""Joint hardware-network search end to end on real Fashion-MNIST: derived archs per trial, area as an
objective and a constraint, 8-bit designs scored quantized, and the trial's arch carried into export/profile."""

from __future__ import annotations

import json

import pandas as pd
import pytest
import yaml

from codesign.arch import load_arch
from codesign.cli import main
from codesign.data import DEBIAN_FASHION_MNIST
from codesign.hardware import HardwareParams, area_mm2, derive_arch, write_arch
from codesign.pareto import as_minimization, non_dominated, objective_columns

pytestmark = pytest.mark.skipif(
    not DEBIAN_FASHION_MNIST.is_dir(), reason="apt-get install dataset-fashion-mnist (.ci/run does)"
)

SPACE = {
    "dataset": "fashion-mnist",
    "network": {"depth": 2, "stage": {"channels": {"choice": [8, 16]}, "kernel": 3, "pool": "max"}, "head_width": 0},
    "sgd": {"lr": 0.05, "batch_size": 64, "schedule": "onecycle", "epochs": 1},
    # 32 x 32 PEs at 16 bits (3.85 mm2) break the area budget; the rest fit
    "hardware": {
        "pe_x": {"choice": [8, 32]},
        "pe_y": {"choice": [8, 32]},
        "word_bits": {"choice": [8, 16]},
        "glb_depth": {"choice": [16384, 65536]},
    },
    "objectives": ["accuracy", "energy", "latency", "area"],
    "constraints": {"max_area_mm2": 3.0},
}


def test_joint_search_searches_the_accelerator_too(tmp_path, capsys):
    space = tmp_path / "codesign.yaml"
    space.write_text(yaml.safe_dump(SPACE))
    runs = tmp_path / "runs"
    assert (
        main(
            [
                "search",
                "--space",
                str(space),
                "--name",
                "joint",
                "--runs-dir",
                str(runs),
                "--trials",
                "8",
                "--sampler",
                "random",
                "--train-size",
                "3000",
                "--val-size",
                "1000",
                "--no-dashboard",
            ]
        )
        == 0
    )
    run = runs / "joint"
    trials = pd.read_csv(run / "trials.csv", dtype={"trial_id": str})
    assert len(trials) == 8
    for column in ("pe_x", "pe_y", "weight_spad_depth", "glb_depth", "glb_bandwidth", "word_bits", "area_mm2"):
        assert trials[column].notna().all(), column
    base = load_arch(None)
    for row in trials.to_dict("records"):
        hw = HardwareParams(
            **{k: int(row[k]) for k in ("pe_x", "pe_y", "weight_spad_depth", "glb_depth", "glb_bandwidth", "word_bits")}
        )
        assert row["area_mm2"] == pytest.approx(area_mm2(derive_arch(base, hw)))
        assert (row["status"] == "infeasible") == (row["area_mm2"] > 3.0)
    ok = trials[trials["status"] == "ok"]
    assert len(ok) >= 2 and (ok["val_accuracy"] > 0.5).all()
    eight = ok[ok["word_bits"] == 8]
    assert len(eight) and (eight["val_accuracy"] != eight["val_accuracy_float"]).any()  # scored quantized
    front = pd.read_csv(run / "pareto.csv", dtype={"trial_id": str})
    assert non_dominated(as_minimization(front, objective_columns(["accuracy", "energy", "latency", "area"]))).all()
    assert json.loads((run / "search.json").read_text())["objectives"] == ["accuracy", "energy", "latency", "area"]
    assert 'class="plotly-graph-div"' in (run / "report.html").read_text()

    # the trial's own accelerator follows it into profile and export
    trial = ok.iloc[0]
    capsys.readouterr()
    assert main(["profile", str(run), "--trial", trial["trial_id"], "--json", "--no-cache"]) == 0
    profiled = json.loads(capsys.readouterr().out)
    assert profiled["total"]["energy_pj"] == pytest.approx(trial["energy_pj"], rel=1e-9)
    assert profiled["total"]["cycles"] == trial["cycles"]
    out = tmp_path / "export"
    assert main(["export", str(run), "--trial", trial["trial_id"], "--out", str(out)]) == 0
    exported = load_arch(out / "arch.yaml")
    assert (exported.pe_array.x, exported.word_bits) == (trial["pe_x"], trial["word_bits"])
    capsys.readouterr()
    assert main(["profile", str(out), "--json", "--no-cache"]) == 0  # an export profiles on its arch.yaml
    assert json.loads(capsys.readouterr().out)["total"]["energy_pj"] == pytest.approx(trial["energy_pj"], rel=1e-9)


def test_joint_search_draws_the_dataflow(tmp_path, capsys):
    """The dataflow is a hardware knob: trials.csv names each trial's, its costs are `codesign profile`'s of the
    trial's spec on the base resized under that dataflow, and the report and the export name it."""
    space = tmp_path / "flows.yaml"
    flows = ["os", "os_pq_m"]  # both other than the lab's ws, so any draw costs a non-ws dataflow
    small = {**SPACE, "hardware": {"pe_x": {"choice": [8, 16]}, "dataflow": {"choice": flows}}, "constraints": {}}
    small["network"] = {**SPACE["network"], "depth": 1}
    space.write_text(yaml.safe_dump(small))
    runs = tmp_path / "runs"
    assert (
        main(
            [
                "search",
                "--space",
                str(space),
                "--name",
                "flows",
                "--runs-dir",
                str(runs),
                "--trials",
                "2",
                "--sampler",
                "random",
                "--train-size",
                "1000",
                "--val-size",
                "500",
                "--no-dashboard",
            ]
        )
        == 0
    )
    run = runs / "flows"
    trials = pd.read_csv(run / "trials.csv", dtype={"trial_id": str})
    assert len(trials) == 2 and set(trials["dataflow"]) <= set(flows)
    base = load_arch(None)
    for row in trials.to_dict("records"):
        assert row["status"] == "ok"
        sizes = HardwareParams(pe_x=int(row["pe_x"]))  # every other size is the base's
        arch = derive_arch(base, sizes, dataflow=row["dataflow"])
        assert arch.dataflow == row["dataflow"] and row["area_mm2"] == pytest.approx(area_mm2(arch))
        spec = tmp_path / f"{row['trial_id']}.json"
        spec.write_text(row["spec"])
        arch_file = write_arch(arch, tmp_path / f"{row['trial_id']}.yaml")
        capsys.readouterr()
        assert main(["profile", str(spec), "--arch", str(arch_file), "--json", "--no-cache"]) == 0
        profiled = json.loads(capsys.readouterr().out)["total"]
        assert profiled["energy_pj"] == pytest.approx(row["energy_pj"], rel=1e-9)
        assert profiled["cycles"] == row["cycles"]
    front = pd.read_csv(run / "pareto.csv", dtype={"trial_id": str})
    page = (run / "report.html").read_text()
    assert '<th class="">dataflow</th>' in page
    assert all(f'<td class="">{flow}</td>' in page for flow in front["dataflow"])
    trial = front.iloc[0]
    out = tmp_path / "export"
    assert main(["export", str(run), "--trial", trial["trial_id"], "--out", str(out)]) == 0
    exported = (out / "arch.yaml").read_text()
    assert f"dataflow: {trial['dataflow']}" in exported and load_arch(out / "arch.yaml").dataflow == trial["dataflow"]
    assert f"({trial['dataflow']} dataflow)" in (out / "README.md").read_text()


def test_the_exhaustive_mapper_with_another_dataflow_is_refused_at_start(tmp_path, capsys):
    space = tmp_path / "flows.yaml"
    space.write_text(yaml.safe_dump({**SPACE, "hardware": {"dataflow": {"choice": ["ws", "os"]}}}))
    runs = tmp_path / "runs"
    args = ["search", "--space", str(space), "--name", "x", "--runs-dir", str(runs), "--trials", "2", "--no-dashboard"]
    capsys.readouterr()
    assert main([*args, "--mapper", "exhaustive"]) == 2
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(lines) == 1 and "exhaustive mapper maps the ws dataflow only" in lines[0] and "dataflow os:" in lines[0]
    assert str(space) in lines[0] and not (runs / "x").exists()
