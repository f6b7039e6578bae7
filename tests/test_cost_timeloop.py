"""The real-Timeloop engine, tested with a recorded stand-in for timeloop-mapper where the binary is absent."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from codesign.cli import main
from codesign.cost.external.timeloop import constraints, problem
from codesign.cost.external.timeloop_stats import load_stats, parse_stats
from tests.helpers import REFERENCE, layer_of, reference_rows

ROWS = reference_rows()
FAKE = Path(__file__).resolve().parent / "fake_timeloop"


@pytest.mark.parametrize("row", ROWS, ids=[r["name"] for r in ROWS])
def test_problem_files_are_timeloops_own(row):
    """What we write for a layer is exactly the problem the lab's converter wrote."""
    recorded = yaml.safe_load((REFERENCE / "layers" / row["name"] / "problem.yaml").read_text())
    assert problem(layer_of(row)) == recorded


def test_stats_parser_reads_the_summary():
    row = next(r for r in ROWS if r["name"] == "gx_l11")
    stats = load_stats(REFERENCE / "layers" / "gx_l11" / "stats.txt")
    assert stats.cycles == int(row["cycles"]) and stats.computes == int(row["macs"])
    assert stats.energy_pj == pytest.approx(float(row["energy_pJ"]), abs=0.1)
    assert stats.utilization == pytest.approx(float(row["utilization"]))


def test_stats_parser_takes_bandwidth_stretched_cycles():
    """A level throttled by its bandwidth stretches the layer: the summary's cycles, not the mac's, count."""
    text = (REFERENCE / "layers" / "gx_l11" / "stats.txt").read_text()
    stretched = text.replace("\nCycles: 512\n", "\nCycles: 1030\n")
    assert stretched != text
    assert parse_stats(stretched).cycles == 1030


@pytest.fixture
def fake_mapper(monkeypatch):
    if shutil.which("timeloop-mapper") and not shutil.which("timeloop-mapper").startswith(str(FAKE)):
        pytest.skip("a real timeloop-mapper is installed: the recorded fake is for machines without one")
    monkeypatch.setenv("PATH", f"{FAKE}:{__import__('os').environ['PATH']}")
    monkeypatch.setenv("CODESIGN_REFERENCE", str(REFERENCE))


def test_timeloop_engine_profiles_a_network(fake_mapper, capsys):
    assert main(["profile", "lab2023", "--engine", "timeloop", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    recorded = [r for r in ROWS if r["name"].startswith("gx_l") and int(r["name"][4:].split("_")[0]) <= 12]
    assert out["total"]["cycles"] == sum(int(r["cycles"]) for r in recorded) == 12172
    assert out["total"]["energy_pj"] == pytest.approx(sum(float(r["energy_pJ"]) for r in recorded), rel=1e-6)
    assert all(layer["engine"] == "timeloop" for layer in out["layers"])
    assert "for " in out["layers"][0]["mapping"]


def test_cached_timeloop_results_need_no_binary(fake_mapper, monkeypatch, capsys):
    assert main(["profile", "lenet5", "--engine", "timeloop", "--json"]) == 0
    first = json.loads(capsys.readouterr().out)
    monkeypatch.setenv("PATH", __import__("os").environ["PATH"].replace(f"{FAKE}:", ""))
    assert main(["profile", "lenet5", "--engine", "timeloop", "--json"]) == 0  # every layer from the cache
    assert json.loads(capsys.readouterr().out)["total"] == first["total"]
    assert main(["profile", "lenet5", "--engine", "timeloop", "--json", "--no-cache"]) == 2


def test_compare_puts_engines_side_by_side(fake_mapper, capsys):
    assert main(["profile", "lenet5", "--engine", "timeloop", "--compare", "--no-cache"]) == 0
    out = capsys.readouterr().out
    assert "analytic cyc" in out and "timeloop cyc" in out and "%" in out
    assert "22,467" in out  # Timeloop's LeNet-5 total cycles


def test_missing_mapper_is_one_clear_line(monkeypatch, capsys):
    if shutil.which("timeloop-mapper"):
        pytest.skip("timeloop-mapper is installed here")
    assert main(["profile", "lenet5", "--engine", "timeloop"]) == 2
    err = capsys.readouterr().err
    assert "timeloop-mapper is not on PATH" in err and "Docker" in err and err.count("\n") == 1


def test_generated_constraints_follow_the_lab():
    dense = {(t["target"], t["type"]): t for t in constraints(False)["architecture_constraints"]["targets"]}
    assert dense[("shared_glb", "spatial")]["permutation"] == "CM"
    assert dense[("pe_spad", "bypass")]["keep"] == ["Weights"]
    dw = {(t["target"], t["type"]): t for t in constraints(True)["architecture_constraints"]["targets"]}
    assert ("shared_glb", "spatial") not in dw
    # The lab's depthwise set keeps the dense input-register factors (C, P, Q, N at 1): the real mapper's
    # logs on depthwise layers count 70 factorization options for C and P (5 free levels), not 126.
    assert dw[("input_activation_reg", "temporal")]["factors"] == "P=1 Q=1 C=1 N=1"
