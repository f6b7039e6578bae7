"""Architecture YAML validation and the rubric's points."""

from __future__ import annotations

import pytest
import yaml

from codesign.arch import ARCH_DIR, load_arch
from codesign.errors import CodesignError
from codesign.rubric import Rubric, load_rubric


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


def test_rubric_points_and_the_human_design():
    rubric = Rubric()
    # the lab's 90-point human design: 79.66 % accuracy, 0.322 mJ, 46,344 cycles, 98,304 B
    score = rubric.score(1 - 0.7966, 0.322e9, 46_344, 98_304)
    assert (score.error_points, score.energy_points, score.latency_points, score.total) == (50, 20, 20, 90)
    assert rubric.score(0.19, 0.4e9, 99_999, 98_304).total == 100 == rubric.max_points
    assert rubric.score(0.19, 0.4e9, 99_999, 1_000_000).total == 0  # peak limit is strict
    assert rubric.score(0.55, 0.4e9, 99_999, 1000).feasible is False
    assert [rubric.points_for_energy(e * 1e9) for e in (0.49, 0.99, 1.49, 1.99, 2.0)] == [20, 15, 10, 5, 0]
    assert [rubric.points_for_latency(c) for c in (9e4, 2e5, 4e5, 9e5, 1e6)] == [20, 15, 10, 5, 0]
    assert [rubric.points_for_error(e) for e in (0.1, 0.25, 0.35, 0.45, 0.5)] == [60, 50, 40, 30, 0]


def test_rubric_yaml_override(tmp_path):
    path = _write(tmp_path, {"peak_activation_limit_bytes": 1048576, "energy_points_mj": [[1.0, 20]]}, "r.yaml")
    rubric = load_rubric(path)
    assert rubric.peak_activation_limit_bytes == 1048576
    assert rubric.points_for_energy(0.9e9) == 20 and rubric.max_epochs == 29
    with pytest.raises(CodesignError, match="unknown field `peak_limit`"):
        load_rubric(_write(tmp_path, {"peak_limit": 3}, "r2.yaml"))
