"""Architecture YAML: the lab accelerator, one-line errors naming the field, sizes read from the file."""

from __future__ import annotations

import pytest
import yaml

from codesign.arch import ARCH_DIR, load_arch
from codesign.errors import CodesignError


def _write(tmp_path, data, name="arch.yaml"):
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data))
    return path


def test_default_arch_matches_reference_numbers():
    arch = load_arch()
    assert (arch.pe_array.x, arch.pe_array.y) == (16, 16)
    assert arch.global_buffer.depth_words == 65536 and arch.weight_spad.depth_words == 192
    assert arch.registers.read_pj == pytest.approx(0.9749725)
    assert load_arch("simple_weight_stationary") == load_arch(ARCH_DIR / "simple_weight_stationary.yaml")


def test_arch_typo_names_the_field(tmp_path):
    data = yaml.safe_load((ARCH_DIR / "simple_weight_stationary.yaml").read_text())
    data["global_buffer"]["depth_wrods"] = data["global_buffer"].pop("depth_words")
    with pytest.raises(CodesignError, match=r"unknown field `global_buffer.depth_wrods`"):
        load_arch(_write(tmp_path, data))
    data = yaml.safe_load((ARCH_DIR / "simple_weight_stationary.yaml").read_text())
    data["pe_array"]["x"] = -4
    with pytest.raises(CodesignError, match=r"`pe_array.x` must be a positive integer"):
        load_arch(_write(tmp_path, data))
    del data["dram"]
    with pytest.raises(CodesignError, match=r"missing field `dram`"):
        load_arch(_write(tmp_path, data))
    (tmp_path / "bad.yaml").write_text("name: [unclosed\n")
    with pytest.raises(CodesignError, match="not valid YAML"):
        load_arch(tmp_path / "bad.yaml")
    with pytest.raises(CodesignError, match="unknown architecture"):
        load_arch("no_such_arch")


def test_arch_sizes_are_read_not_hardcoded(tmp_path):
    from codesign.cost.analytic.exhaustive import best_mapping
    from codesign.workload import Layer

    data = yaml.safe_load((ARCH_DIR / "simple_weight_stationary.yaml").read_text())
    data["pe_array"] = {"x": 8, "y": 8}
    small = load_arch(_write(tmp_path, data))
    layer = Layer(kind="conv", N=1, C=16, M=16, P=8, Q=8, R=3, S=3)
    _, cycles16, _ = best_mapping(layer, load_arch())
    _, cycles8, _ = best_mapping(layer, small)
    assert (cycles16, cycles8) == (layer.macs / 256, layer.macs / 64)
