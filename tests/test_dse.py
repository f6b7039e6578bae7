"""codesign dse (array shape x dataflow brute force) and codesign arch --dataflow, end to end on LeNet-5."""

from __future__ import annotations

import csv

import pytest
import yaml

from codesign import api
from codesign.arch import load_arch
from codesign.builtin_models import LeNet5
from codesign.cli import main
from codesign.dse import pareto, parse_shapes, run_dse
from codesign.errors import CodesignError
from codesign.workload import trace


def read(path):
    with path.open() as f:
        return list(csv.DictReader(f))


def test_dse_points_pareto_page_and_resume(tmp_path):
    """Every point once (the lab's ws 16x16 gives the lab's LeNet-5 numbers), Pareto points, one heat map per
    dataflow; a second run computes nothing; a point removed from the CSV is computed again."""
    layers = trace(LeNet5()).layers
    out = tmp_path / "dse"
    rows = run_dse(layers, load_arch(), out, ("ws", "os_pq_m"), ((16, 16), (8, 8)), workers=2, progress=False)
    assert len(rows) == 4 == len(read(out / "points.csv"))
    lab = next(r for r in rows if (r["dataflow"], r["pe_x"], r["pe_y"]) == ("ws", "16", "16"))
    assert int(lab["cycles"]) == 22467 and float(lab["energy_pj"]) == pytest.approx(30.74e6, rel=1e-3)
    assert len(read(out / "layers.csv")) == 4 * len(layers)
    front = read(out / "pareto.csv")
    assert front and all(r in rows for r in front)
    page = (out / "dse.html").read_text()
    assert page.count("<h2>dataflow ") == 2 and "best point per layer" in page
    # resumable: nothing new to compute, then only the missing point
    again = run_dse(layers, load_arch(), out, ("ws", "os_pq_m"), ((16, 16), (8, 8)), workers=1, progress=False)
    assert again == rows
    kept = [r for r in rows if r["dataflow"] != "os_pq_m" or r["pe_x"] != "8"]
    with (out / "points.csv").open("w", newline="") as f:
        writer = csv.DictWriter(f, list(rows[0]))
        writer.writeheader()
        writer.writerows(kept)
    redone = run_dse(layers, load_arch(), out, ("ws", "os_pq_m"), ((16, 16), (8, 8)), workers=1, progress=False)
    assert len(redone) == 4
    assert {(r["dataflow"], r["pe_x"]) for r in redone} == {(r["dataflow"], r["pe_x"]) for r in rows}


def test_pareto_and_shapes():
    rows = [
        {"energy_pj": 1, "cycles": 5, "area_mm2": 1},
        {"energy_pj": 2, "cycles": 5, "area_mm2": 1},
        {"energy_pj": 2, "cycles": 1, "area_mm2": 1},
    ]
    assert pareto(rows) == [rows[0], rows[2]]
    assert parse_shapes("8x8, 16x32") == ((8, 8), (16, 32))
    with pytest.raises(CodesignError, match="COLUMNSxROWS"):
        parse_shapes("16")


def test_unknown_dataflow_fails_before_work(tmp_path):
    with pytest.raises(CodesignError, match=r"dataflows\[0\]` must be one of ws, .*got 'xs'"):
        api.dse("lenet5", out=tmp_path, dataflows=["xs"], progress=False)
    assert not (tmp_path / "points.csv").exists()


def test_cli_arch_writes_timeloop_inputs_of_a_dataflow(tmp_path, capsys):
    """`codesign arch --dataflow os --out DIR`: Timeloop's arch, ERT, mapper and the dataflow's constraints,
    and codesign's arch naming the dataflow, which `profile` reads back."""
    assert main(["arch", "--dataflow", "os", "--pe-x", "8", "--out", str(tmp_path / "os")]) == 0
    folder = tmp_path / "os"
    names = {p.name for p in folder.iterdir()}
    assert {"arch.yaml", "ert.yaml", "mapper.yaml", "constraints.yaml", "constraints_dw.yaml"} <= names
    cons = yaml.safe_load((folder / "constraints.yaml").read_text())["architecture_constraints"]["targets"]
    assert {"target": "pe_spad", "type": "bypass", "keep": ["Outputs"], "bypass": ["Inputs", "Weights"]} in cons
    arch = load_arch(folder / "codesign_arch.yaml")
    assert arch.dataflow == "os" and arch.pe_array.x == 8 and "os8x16" in arch.name
    result = api.profile("lenet5", arch=folder / "codesign_arch.yaml", progress=False)
    assert result.cycles > 0 and result.best_cycles is None  # no exhaustive mapspace for os: graded only
