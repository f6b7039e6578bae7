"""The AccelForge engine: our arch and layers in AccelForge's spec, and the engine end to end, replayed from
recorded real AccelForge runs (tests/fake_accelforge) where AccelForge is absent (it needs Python >= 3.12)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import yaml

from codesign.arch import load_arch
from codesign.cli import main
from codesign.cost.external.accelforge import arch_yaml, interpreter, workload
from codesign.workload import Layer

FAKE = Path(__file__).resolve().parent / "fake_accelforge"
RECORDED = json.loads((FAKE / "recorded.json").read_text())["layers"]


class _TagLoader(yaml.SafeLoader):
    """Reads AccelForge's `!Memory` / `!Container` / `!Compute` nodes as {'tag': ..., **fields}."""


_TagLoader.add_multi_constructor(
    "!", lambda loader, tag, node: {"tag": tag, **loader.construct_mapping(node, deep=True)}
)


def _layer(**kw) -> Layer:
    base = dict(kind="conv", N=1, C=1, M=1, P=1, Q=1, R=1, S=1)
    return Layer(**{**base, **kw})


def test_arch_translation_keeps_sizes_energies_and_the_lab_constraints():
    arch = load_arch(None)
    nodes = {n["name"]: n for n in yaml.load(arch_yaml(arch, depthwise=False), Loader=_TagLoader)["arch"]["nodes"]}
    assert list(nodes) == [
        "DRAM",
        "shared_glb",
        "PE",
        "pe_spad",
        "weight_reg",
        "input_activation_reg",
        "output_activation_reg",
        "mac",
    ]
    glb = nodes["shared_glb"]
    assert glb["tag"] == "Memory" and glb["size"] == 65536 * 16
    read = next(a for a in glb["actions"] if a["name"] == "read")
    assert read["energy"] == pytest.approx(74.1442e-12) and read["bits_per_action"] == 64 and read["throughput"] == 4
    assert nodes["pe_spad"]["size"] == 192 * 16 and nodes["pe_spad"]["tensors"] == {"keep": "weight"}
    assert nodes["mac"]["actions"][0]["energy"] == pytest.approx(2.20035e-12)
    x, y = nodes["PE"]["spatial"]
    assert (x["fanout"], y["fanout"]) == (16, 16)
    assert x["loop_bounds"][0]["expression"] == "~c" and y["loop_bounds"][0]["expression"] == "~m"
    free = {n["name"]: n for n in yaml.load(arch_yaml(arch, depthwise=True), Loader=_TagLoader)["arch"]["nodes"]}
    assert all("loop_bounds" not in s for s in free["PE"]["spatial"])  # depthwise: any of C, P, Q, R, S


def test_layers_become_einsums():
    conv = workload(_layer(C=3, M=6, P=14, Q=14, R=5, S=5, Wstride=2, Hstride=2), 16)["workload"]
    assert conv["iteration_space_shape"] == {
        "c": "0 <= c < 3",
        "m": "0 <= m < 6",
        "p": "0 <= p < 14",
        "q": "0 <= q < 14",
        "r": "0 <= r < 5",
        "s": "0 <= s < 5",
    }
    access = {t["name"]: t["projection"] for t in conv["einsums"][0]["tensor_accesses"]}
    assert access == {
        "I": {"H": "2*p + r", "W": "2*q + s", "C": "c"},
        "W": {"C": "c", "M": "m", "R": "r", "S": "s"},
        "O": {"M": "m", "P": "p", "Q": "q"},
    }
    fc = workload(_layer(C=84, M=10), 16)["workload"]
    assert set(fc["iteration_space_shape"]) == {"c", "m"}
    # a 1-channel input still has c, so the X axis's `~c == 1` bound keeps P, Q, R, S off the array
    gray = workload(_layer(C=1, M=8, P=28, Q=28, R=3, S=3), 16)["workload"]
    assert gray["iteration_space_shape"]["c"] == "0 <= c < 1"
    dw = workload(_layer(C=32, M=32, P=8, Q=8, R=3, S=3, kind="depthwise"), 8)["workload"]
    access = {t["name"]: t["projection"] for t in dw["einsums"][0]["tensor_accesses"]}
    assert "m" not in dw["iteration_space_shape"] and access["O"] == {"M": "c", "P": "p", "Q": "q"}
    assert dw["bits_per_value"] == {"All": 8}


@pytest.fixture
def fake_accelforge(monkeypatch):
    monkeypatch.setenv("CODESIGN_ACCELFORGE_PYTHON", str(FAKE / "python"))


def test_engine_profiles_lenet_and_compares(fake_accelforge, tmp_path, capsys):
    cache = str(tmp_path / "cache.sqlite")
    assert main(["profile", "lenet5", "--engine", "accelforge", "--json", "--cache", cache]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["total"]["cycles"] == sum(r["result"]["cycles"] for r in RECORDED) == 22354
    assert out["total"]["energy_pj"] == pytest.approx(sum(r["result"]["energy_pj"] for r in RECORDED))
    assert {layer["engine"] for layer in out["layers"]} == {"accelforge"}
    assert all(layer["seconds"] > 0 and layer["level_energy_pj"] for layer in out["layers"])
    assert main(["profile", "lenet5", "--engine", "accelforge", "--compare", "--cache", cache]) == 0
    table = capsys.readouterr().out
    assert "accelforge cyc" in table and "22,354" in table
    os.environ["CODESIGN_ACCELFORGE_PYTHON"] = "/nonexistent/python"  # every layer now comes from the cache
    assert main(["profile", "lenet5", "--engine", "accelforge", "--json", "--cache", cache]) == 0
    assert json.loads(capsys.readouterr().out)["total"] == out["total"]


def test_a_failing_layer_is_one_line_and_the_rest_are_kept(fake_accelforge, tmp_path, capsys):
    cache = str(tmp_path / "cache.sqlite")
    assert main(["profile", "lab2023", "--engine", "accelforge", "--cache", cache]) == 2  # nothing recorded for it
    err = capsys.readouterr().err.strip().splitlines()  # a progress bar, then the error
    errors = [line for line in err if line.startswith("codesign: error:")]
    assert errors == err[-1:] and "AccelForge failed on layer" in errors[0] and "no recorded" in errors[0]
    assert "more layers failed" in errors[0] and "Traceback" not in "".join(err)


def test_missing_accelforge_says_how_to_get_it(monkeypatch, capsys):
    monkeypatch.delenv("CODESIGN_ACCELFORGE_PYTHON", raising=False)
    try:
        interpreter()
    except Exception:
        assert main(["profile", "lenet5", "--engine", "accelforge", "--no-cache"]) == 2
        assert "CODESIGN_ACCELFORGE_PYTHON" in capsys.readouterr().err
    else:
        pytest.skip("AccelForge is importable here")


@pytest.fixture(scope="session")
def real_accelforge():
    """A Python with AccelForge: CODESIGN_ACCELFORGE_PYTHON, else `.venv-accelforge/`, made here the first time
    (tests/accelforge_env.py: the same on every machine, so `pytest` runs what `.ci/run` runs)."""
    from tests.accelforge_env import accelforge_python

    python, why = accelforge_python()
    if python is None:
        pytest.skip(why)
    return python


def test_real_accelforge_maps_a_small_layer(real_accelforge, monkeypatch):
    """With a real AccelForge: LeNet's last layer (84 -> 10) takes 6 cycles on the 16 x 16 array, as recorded."""
    from codesign.cost.external.accelforge import accelforge_cost

    monkeypatch.setenv("CODESIGN_ACCELFORGE_PYTHON", real_accelforge)

    cost = accelforge_cost(_layer(C=84, M=10), load_arch(None))
    recorded = next(r["result"] for r in RECORDED if r["iteration_space"] == {"c": 84, "m": 10})
    assert cost.cycles == recorded["cycles"] == 6
    assert cost.energy_pj == pytest.approx(recorded["energy_pj"], rel=1e-6)


def test_accelforge_without_graphviz_says_to_install_it(tmp_path, monkeypatch):
    """AccelForge >= 1.0.467 draws each mapping with Graphviz: a missing `dot` is named, with the fix."""
    from codesign.cost.external.accelforge import accelforge_cost
    from codesign.errors import CodesignError

    python = tmp_path / "python"
    python.write_text("#!/bin/sh\necho 'FileNotFoundError: [Errno 2] \"dot\" not found in path.' >&2\nexit 1\n")
    python.chmod(0o755)
    monkeypatch.setenv("CODESIGN_ACCELFORGE_PYTHON", str(python))
    with pytest.raises(CodesignError, match=r"Graphviz's `dot` on PATH: install Graphviz"):
        accelforge_cost(_layer(C=84, M=10), load_arch(None))
