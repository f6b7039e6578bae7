"""The analytic model against real Timeloop runs on the lab's accelerator (../shared/reference)."""

from __future__ import annotations

import csv
import json

import pytest

from codesign.builtin_models import Lab2023Mobile, LeNet5
from codesign.cli import main
from codesign.cost.analytic.exhaustive import best_mapping
from codesign.cost.analytic.nest import evaluate
from codesign.cost.analytic.timeloop_map import load_timeloop_map, nest_from_timeloop_map, timeloop_mapping
from codesign.cost.external.timeloop_stats import load_stats
from codesign.workload import trace
from tests.helpers import REFERENCE, layer_of, module_source, reference_rows

ROWS = reference_rows()
IDS = [row["name"] for row in ROWS]


@pytest.mark.parametrize("row", ROWS, ids=IDS)
def test_timeloop_mapping_reproduced_exactly(row, arch):
    """Under Timeloop's own mapping: same cycles, total and per-level energy within 0.1 %."""
    layer = layer_of(row)
    ev = evaluate(layer, arch, load_timeloop_map(REFERENCE / "layers" / row["name"] / "map.yaml", layer))
    assert ev.valid[0]
    assert int(ev.cycles[0]) == int(row["cycles"])
    assert ev.energy_pj[0] == pytest.approx(float(row["energy_pJ"]), rel=1e-3)
    for level, energy in row["level_energy"].items():
        assert ev.level_energy[level][0] == pytest.approx(energy, rel=1e-3, abs=0.01), level


@pytest.mark.parametrize("row", ROWS, ids=IDS)
def test_every_access_count_matches_stats(row, arch):
    """Reads, fills and updates per level and tensor equal Timeloop's stats.txt, count for count."""
    layer = layer_of(row)
    folder = REFERENCE / "layers" / row["name"]
    ev = evaluate(layer, arch, load_timeloop_map(folder / "map.yaml", layer))
    stats = load_stats(folder / "stats.txt")
    assert stats.cycles == int(row["cycles"])
    for (level, tensor), values in stats.counts.items():
        for action in ("reads", "fills", "updates"):
            ours = ev.counts.get((level, tensor, action))
            expected = values[action]
            got = 0.0 if ours is None else float(ours[0])
            assert got == pytest.approx(expected, abs=0.5), f"{level}.{tensor}.{action}"


@pytest.mark.parametrize("row", ROWS, ids=IDS)
def test_mapper_never_loses_to_timeloop(row, arch):
    """Our exhaustive mapper: cycles <= Timeloop's; at equal cycles, energy <= Timeloop's x 1.001."""
    layer = layer_of(row)
    nest, cycles, energy = best_mapping(layer, arch)
    assert cycles <= int(row["cycles"])
    if cycles == int(row["cycles"]):
        assert energy <= float(row["energy_pJ"]) * 1.001
    # The winner, written as a Timeloop map.yaml and read back, costs the same.
    again = evaluate(layer, arch, nest_from_timeloop_map(timeloop_mapping(nest), layer))
    assert again.valid[0]
    assert (int(again.cycles[0]), again.energy_pj[0]) == (int(cycles), pytest.approx(energy, rel=1e-12))


@pytest.mark.parametrize("name", ["lenet_conv1", "gx_l2_dw", "lenet_fc1"])
def test_cli_timeloop_map_json(name, tmp_path, capsys):
    """`codesign profile file.py:Layer --timeloop-map map.yaml --json` prints Timeloop's numbers."""
    row = next(r for r in ROWS if r["name"] == name)
    source, shape = module_source(row)
    (tmp_path / "layer.py").write_text(source)
    code = main(
        [
            "profile",
            f"{tmp_path / 'layer.py'}:Layer",
            "--input-shape",
            shape,
            "--json",
            "--timeloop-map",
            str(REFERENCE / "layers" / name / "map.yaml"),
        ]
    )
    assert code == 0
    out = json.loads(capsys.readouterr().out)
    assert out["total"]["cycles"] == int(row["cycles"])
    assert out["total"]["energy_pj"] == pytest.approx(float(row["energy_pJ"]), rel=1e-6)
    assert len(out["layers"]) == 1 and out["layers"][0]["C"] == int(row["C"])


def _totals_under_reference_maps(model, arch):
    by_shape = {layer_of(r).key: r for r in ROWS}
    energy = cycles = 0.0
    for layer in trace(model).layers:
        row = by_shape[layer.key]
        ev = evaluate(layer, arch, load_timeloop_map(REFERENCE / "layers" / row["name"] / "map.yaml", layer))
        energy += round(ev.energy_pj[0] / 1e6, 2) * layer.count  # the 2023 profiler sums uJ rounded to 0.01
        cycles += ev.cycles[0] * layer.count
    return energy, cycles


def test_lenet5_total_matches_published(arch):
    energy_uj, cycles = _totals_under_reference_maps(LeNet5(), arch)
    published = [r for r in ROWS if r["name"].startswith("lenet_")]
    assert cycles == sum(int(r["cycles"]) for r in published) == 22467
    assert energy_uj == pytest.approx(sum(round(float(r["energy_pJ"]) / 1e6, 2) for r in published), abs=1e-9)
    assert energy_uj == pytest.approx(30.75, abs=1e-9)


def test_lab2023_network_total_matches_published(arch):
    """The lab's 2023 network (Feb-28-2023 layers 1-12): published 87.97 uJ and 12,172 cycles."""
    with (REFERENCE / "lab_published_results.csv").open() as f:
        published = [
            r
            for r in csv.DictReader(f)
            if r["layer_key"].startswith("network-Feb-28-2023_layer")
            and int(r["layer_key"].rsplit("layer", 1)[1]) <= 12
        ]
    energy_uj, cycles = _totals_under_reference_maps(Lab2023Mobile(), arch)
    assert len(published) == 12
    assert cycles == sum(int(r["cycles"]) for r in published) == 12172
    assert energy_uj == pytest.approx(sum(float(r["energy_uJ_rounded"]) for r in published), abs=1e-9)
    assert energy_uj == pytest.approx(87.97, abs=1e-9)
