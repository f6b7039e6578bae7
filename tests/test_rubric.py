"""The rubric: the lab points table and YAML overrides."""

from __future__ import annotations

import pytest
import yaml

from codesign.errors import CodesignError
from codesign.rubric import Rubric, load_rubric


def _write(tmp_path, data, name="arch.yaml"):
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data))
    return path


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
