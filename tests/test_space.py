"""Search-space YAML: schema errors naming the key, define-by-run sampling, the hardware section."""

from __future__ import annotations

import re

import optuna
import pytest
import yaml

from codesign.arch import load_arch
from codesign.errors import CodesignError
from codesign.hardware import HardwareParams, derive_arch, write_arch
from codesign.space import load_space


def _space(tmp_path, network=None, sgd=None, **top):
    body = {
        "dataset": "fashion-mnist",
        "network": network or {"depth": {"int": [1, 2]}, "stage": {"channels": {"choice": [4, 8]}}},
        "sgd": sgd or {"epochs": 1},
        **top,
    }
    path = tmp_path / "space.yaml"
    path.write_text(yaml.safe_dump(body))
    return path


@pytest.mark.parametrize(
    "network, message",
    [
        ({"depth": 2, "stage": {"channels": 4, "kernal": 3}}, "unknown field `network.stage.kernal`"),
        ({"depth": 2, "stage": {"channels": {"int": [16, 8]}}}, "low 16 is above high 8"),
        ({"depth": 2, "stage": {"channels": {"int": [0, 8], "log": True}}}, "log scale needs low > 0"),
        (
            {"depth": 2, "stage": {"channels": 4, "pool": {"choice": ["max", "median"]}}},
            "must be one of none, max, avg, got 'median'",
        ),
        ({"depth": 2, "stage": {"channels": [4, 8]}}, "a list is ambiguous"),
        ({"stage": {"channels": 4}}, "missing `network.depth`"),
        ({"depth": 2, "stage": {"channels": {"range": [1, 2]}}}, "unknown field `network.stage.channels.range`"),
    ],
)
def test_schema_errors_name_the_key(tmp_path, network, message):
    with pytest.raises(CodesignError) as info:
        load_space(_space(tmp_path, network=network))
    assert message in str(info.value) and str(info.value).startswith(str(tmp_path))


def test_broken_yaml_and_unknown_top_key(tmp_path):
    (tmp_path / "bad.yaml").write_text("network: {depth: [1, 2\n")
    with pytest.raises(CodesignError, match="not valid YAML"):
        load_space(tmp_path / "bad.yaml")
    with pytest.raises(CodesignError, match="unknown field `optimizer`"):
        load_space(_space(tmp_path, optimizer="adam"))
    with pytest.raises(CodesignError, match=re.escape("unknown field `sgd.optimizer`")):
        load_space(_space(tmp_path, sgd={"optimizer": "adam"}))


def test_shipped_spaces_load_and_sample_conditionally():
    for name in ("rubric_cnn", "lenet"):
        space = load_space(name)
        study = optuna.create_study()
        for _ in range(5):
            trial = study.ask()
            try:
                spec = space.sample(trial, (3, 32, 32), 10, seed=1)
            except CodesignError:
                continue  # a draw whose stages shrink the image to nothing
            # per-stage parameters exist only for the stages drawn (define-by-run conditionals)
            depth = trial.params["depth"]
            assert len(spec.stages) == depth
            assert not any(k.startswith(f"stage{depth}_") for k in trial.params)
            assert spec.sgd.seed == 1


@pytest.mark.parametrize(
    "hardware, message",
    [
        ({"pe_z": 4}, "unknown field `hardware.pe_z`"),
        ({"word_bits": {"choice": [8, 12]}}, "`hardware.word_bits.choice[1]` must be one of 8, 16, 32, got 12"),
        ({"pe_x": {"float": [1, 4]}}, "`hardware.pe_x` takes whole numbers"),
        ({"glb_depth": 0}, "`hardware.glb_depth` must be a positive integer"),
    ],
)
def test_hardware_section_errors_name_the_key(tmp_path, hardware, message):
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump({"network": {"depth": 1, "stage": {"channels": 4}}, "hardware": hardware}))
    with pytest.raises(CodesignError, match=re.escape(message)):
        load_space(path)


def test_dataflow_is_a_hardware_knob(tmp_path):
    path = tmp_path / "s.yaml"
    hardware = {"pe_x": {"choice": [8, 16]}, "dataflow": {"choice": ["ws", "os_pq_m"]}}
    path.write_text(yaml.safe_dump({"network": {"depth": 1, "stage": {"channels": 4}}, "hardware": hardware}))
    space = load_space(path)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    drawn = set()
    for _ in range(16):
        trial = study.ask()
        hw = space.sample_hardware(trial, HardwareParams(weight_spad_depth=96))
        assert type(hw.pe_x) is int and hw.weight_spad_depth == 96 and trial.params["hw_dataflow"] == hw.dataflow
        drawn.add(hw.dataflow)
    assert drawn == {"ws", "os_pq_m"}
    hardware["dataflow"] = {"choice": ["ws", "rs"]}
    path.write_text(yaml.safe_dump({"network": {"depth": 1, "stage": {"channels": 4}}, "hardware": hardware}))
    with pytest.raises(CodesignError) as error:
        load_space(path)
    message = str(error.value)
    assert "\n" not in message and str(path) in message and "`hardware.dataflow.choice[1]`" in message
    assert "got 'rs'" in message and "os_pq_m" in message  # the known dataflows listed


def test_area_objective_needs_hardware(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text(
        yaml.safe_dump({"network": {"depth": 1, "stage": {"channels": 4}}, "objectives": ["accuracy", "area"]})
    )
    with pytest.raises(CodesignError, match="`area` objective needs a `hardware` section"):
        load_space(path)


def test_hardware_base_is_a_name_or_a_path_beside_the_space(tmp_path):
    write_arch(derive_arch(load_arch(None), HardwareParams(pe_x=8)), tmp_path / "archs" / "small.yaml")
    body = {"network": {"depth": 1, "stage": {"channels": 4}}, "hardware": {"base": "archs/small.yaml"}}
    (tmp_path / "s.yaml").write_text(yaml.safe_dump(body))
    assert load_space(tmp_path / "s.yaml").hardware_base == str(tmp_path / "archs" / "small.yaml")
    body["hardware"]["base"] = "simple_weight_stationry"
    (tmp_path / "s.yaml").write_text(yaml.safe_dump(body))
    with pytest.raises(
        CodesignError, match=re.escape("`hardware.base`: unknown architecture 'simple_weight_stationry'")
    ):
        load_space(tmp_path / "s.yaml")
