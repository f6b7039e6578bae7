"""Derived accelerators: other sizes of the lab template, energies and area scaled by documented rules."""

from __future__ import annotations

import json

import pytest

from codesign.arch import load_arch
from codesign.cli import main
from codesign.cost import cost_of
from codesign.hardware import HardwareParams, area_mm2, derive_arch, register_energy_pj, write_arch
from codesign.workload import Layer

BASE = load_arch(None)


def test_the_base_sizes_give_back_the_base_arch():
    same = derive_arch(BASE, HardwareParams.of(BASE))
    assert same.digest == BASE.digest and same.area == BASE.area
    assert area_mm2(BASE) == pytest.approx(2.4149317)  # Accelergy's ART total, reference README section 2
    assert register_energy_pj(16) == pytest.approx(BASE.registers.read_pj)  # Timeloop's PAT fallback


def test_energies_and_area_scale_by_the_documented_rules():
    arch = derive_arch(
        BASE, HardwareParams(pe_x=32, pe_y=8, weight_spad_depth=768, glb_depth=16384, glb_bandwidth=8, word_bits=8)
    )
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
    lenet = [
        Layer("conv", 1, 3, 6, 28, 28, 5, 5),
        Layer("conv", 1, 6, 16, 10, 10, 5, 5),
        Layer("linear", 1, 400, 120, 1, 1, 1, 1),
        Layer("linear", 1, 120, 84, 1, 1, 1, 1),
        Layer("linear", 1, 84, 10, 1, 1, 1, 1),
    ]
    assert total["energy_pj"] == pytest.approx(sum(c.energy_pj for c in cost_of(lenet, arch)))
    # the analytic model follows the array's shape: C on its 8 columns, M on its 32 rows
    layer = Layer("linear", 1, 64, 64, 1, 1, 1, 1)
    assert cost_of([layer], arch)[0].cycles == 64 * 64 // (8 * 32)
    assert cost_of([layer], BASE)[0].cycles == 64 * 64 // 256
