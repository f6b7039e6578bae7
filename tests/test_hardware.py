"""Derived accelerators: scaling rules, area, YAML round trip, the space's hardware section, quantized scoring."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import optuna
import pytest
import torch
import yaml
from torch import nn

from codesign.arch import load_arch
from codesign.cli import main
from codesign.cost import cost_of
from codesign.data import Dataset, DatasetInfo, Split
from codesign.errors import CodesignError
from codesign.hardware import HardwareParams, area_mm2, derive_arch, register_energy_pj, write_arch
from codesign.quantize import quantized, quantized_accuracy
from codesign.space import load_space
from codesign.workload import Layer
from tests.helpers import sampler_for

optuna.logging.set_verbosity(optuna.logging.WARNING)
BASE = load_arch(None)


def test_the_base_sizes_give_back_the_base_arch():
    same = derive_arch(BASE, HardwareParams.of(BASE))
    assert same.digest == BASE.digest and same.area == BASE.area
    assert area_mm2(BASE) == pytest.approx(2.4149317)  # Accelergy's ART total, reference README section 2
    assert register_energy_pj(16) == pytest.approx(BASE.registers.read_pj)  # Timeloop's PAT fallback


def test_energies_and_area_scale_by_the_documented_rules():
    arch = derive_arch(BASE, HardwareParams(pe_x=32, pe_y=8, weight_spad_depth=768, glb_depth=16384,
                                            glb_bandwidth=8, word_bits=8))
    assert arch.mac.energy_pj == pytest.approx(BASE.mac.energy_pj / 4)  # bits^2
    assert arch.dram.read_pj == pytest.approx(256.0)  # 8 pJ/bit, 4 words of 8 bits
    # SRAM: bits x sqrt(depth): half the bits, a quarter of the depth -> a quarter of the energy
    assert arch.global_buffer.read_pj == pytest.approx(BASE.global_buffer.read_pj / 4)
    assert arch.weight_spad.read_pj == pytest.approx(BASE.weight_spad.read_pj * 0.5 * 2)
    assert arch.global_buffer.read_bandwidth == 8 and arch.pe_array.x * arch.pe_array.y == 256
    a = BASE.area
    expected = (a.global_buffer_um2 / 8 + 256 * (a.weight_spad_um2 * 2 + a.mac_um2 / 4 + 3 * a.register_um2 / 2)) / 1e6
    assert area_mm2(arch) == pytest.approx(expected)


def test_a_derived_arch_is_a_yaml_file_every_command_reads(tmp_path, capsys):
    arch = derive_arch(BASE, HardwareParams(pe_x=8, pe_y=32, word_bits=8))
    back = load_arch(write_arch(arch, tmp_path / "a.yaml"))
    assert back == arch
    assert main(["arch", "--pe-x", "8", "--pe-y", "32", "--word-bits", "8", "--out", str(tmp_path / "b.yaml")]) == 0
    assert load_arch(tmp_path / "b.yaml").digest == arch.digest
    capsys.readouterr()
    assert main(["profile", "lenet5", "--arch", str(tmp_path / "b.yaml"), "--json", "--no-cache"]) == 0
    total = json.loads(capsys.readouterr().out)["total"]
    lenet = [Layer("conv", 1, 3, 6, 28, 28, 5, 5), Layer("conv", 1, 6, 16, 10, 10, 5, 5),
             Layer("linear", 1, 400, 120, 1, 1, 1, 1), Layer("linear", 1, 120, 84, 1, 1, 1, 1),
             Layer("linear", 1, 84, 10, 1, 1, 1, 1)]
    assert total["energy_pj"] == pytest.approx(sum(c.energy_pj for c in cost_of(lenet, arch)))
    # the analytic model follows the array's shape: C on its 8 columns, M on its 32 rows
    layer = Layer("linear", 1, 64, 64, 1, 1, 1, 1)
    assert cost_of([layer], arch)[0].cycles == 64 * 64 // (8 * 32)
    assert cost_of([layer], BASE)[0].cycles == 64 * 64 // 256


@pytest.mark.parametrize("hardware, message", [
    ({"pe_z": 4}, "unknown field `hardware.pe_z`"),
    ({"word_bits": {"choice": [8, 12]}}, "`hardware.word_bits.choice[1]` must be one of 8, 16, 32, got 12"),
    ({"pe_x": {"float": [1, 4]}}, "`hardware.pe_x` takes whole numbers"),
    ({"glb_depth": 0}, "`hardware.glb_depth` must be a positive integer"),
])
def test_hardware_section_errors_name_the_key(tmp_path, hardware, message):
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump({"network": {"depth": 1, "stage": {"channels": 4}}, "hardware": hardware}))
    with pytest.raises(CodesignError, match=re.escape(message)):
        load_space(path)


def test_area_objective_needs_hardware(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump({"network": {"depth": 1, "stage": {"channels": 4}},
                                    "objectives": ["accuracy", "area"]}))
    with pytest.raises(CodesignError, match="`area` objective needs a `hardware` section"):
        load_space(path)


def test_area_and_pe_budgets_are_checked_before_training(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump({
        "dataset": "fashion-mnist", "network": {"depth": 1, "stage": {"channels": 4}}, "sgd": {"epochs": 1},
        "hardware": {"pe_x": {"choice": [16, 64]}, "pe_y": 16}, "constraints": {"max_area_mm2": 3.0},
        "objectives": ["accuracy", "energy", "latency", "area"]}))
    sampler = sampler_for(path)
    study = optuna.create_study(directions=["maximize", "minimize", "minimize", "minimize"])
    study.enqueue_trial({"depth": 1, "hw_pe_x": 64})
    study.enqueue_trial({"depth": 1, "hw_pe_x": 16})
    big, base = sampler(study.ask()), sampler(study.ask())
    assert big["feasible"] is False and "area" in big["reason"] and big["area_mm2"] > 3.0
    assert base["feasible"] is True and base["area_mm2"] == pytest.approx(area_mm2(BASE))
    assert base["hardware"] == {**vars(HardwareParams()), "pe_x": 16}


def test_sizes_a_space_leaves_out_are_the_base_archs(tmp_path):
    small = derive_arch(BASE, HardwareParams(pe_x=8, glb_depth=16384), name="small")
    write_arch(small, tmp_path / "small.yaml")
    (tmp_path / "s.yaml").write_text(yaml.safe_dump({
        "dataset": "fashion-mnist", "network": {"depth": 1, "stage": {"channels": 4}}, "sgd": {"epochs": 1},
        "hardware": {"base": "small.yaml", "word_bits": {"choice": [8, 16]}}}))
    sampler = sampler_for(tmp_path / "s.yaml")
    study = optuna.create_study(directions=["maximize", "minimize", "minimize"])
    study.enqueue_trial({"depth": 1, "hw_word_bits": 8})
    config = sampler(study.ask())
    assert config["hardware"] == {**vars(HardwareParams.of(small)), "word_bits": 8}
    assert config["hardware"]["pe_x"] == 8 and config["hardware"]["glb_depth"] == 16384
    assert config["area_mm2"] == pytest.approx(area_mm2(derive_arch(small, HardwareParams(**config["hardware"]))))


def _toy_data(n=512):
    torch.manual_seed(0)
    x = torch.randint(0, 256, (n, 1, 8, 8), dtype=torch.uint8)
    y = (x.float().mean(dim=(1, 2, 3)) > 127.5).long()
    split = Split(x, y)
    info = DatasetInfo("toy", (1, 8, 8), 2, n, (0.5,), (0.25,))
    return Dataset(info, split, split, Path("."), 0), split


def test_quantized_scoring_rounds_weights_and_inputs():
    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(144, 2))
    q = quantized(model, 8)
    w = q[0].weight.detach()
    steps = w / (w.abs().amax(dim=(1, 2, 3), keepdim=True) / 127)
    assert torch.allclose(steps, steps.round(), atol=1e-4)  # every weight sits on the 8-bit grid
    assert not torch.equal(w, model[0].weight)
    data, split = _toy_data()
    float_acc = quantized_accuracy(model, data, split, 16)
    assert quantized_accuracy(model, data, split, 8) == pytest.approx(float_acc, abs=0.05)
    assert math.isfinite(quantized_accuracy(model, data, split, 2))


def test_hardware_base_is_a_name_or_a_path_beside_the_space(tmp_path):
    write_arch(derive_arch(BASE, HardwareParams(pe_x=8)), tmp_path / "archs" / "small.yaml")
    body = {"network": {"depth": 1, "stage": {"channels": 4}}, "hardware": {"base": "archs/small.yaml"}}
    (tmp_path / "s.yaml").write_text(yaml.safe_dump(body))
    assert load_space(tmp_path / "s.yaml").hardware_base == str(tmp_path / "archs" / "small.yaml")
    body["hardware"]["base"] = "simple_weight_stationry"
    (tmp_path / "s.yaml").write_text(yaml.safe_dump(body))
    with pytest.raises(CodesignError, match="`hardware.base`: unknown architecture 'simple_weight_stationry'"):
        load_space(tmp_path / "s.yaml")
