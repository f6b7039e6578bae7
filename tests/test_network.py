"""CandidateSpec: JSON round trip, validation and the model it builds."""

from __future__ import annotations

import json
import re

import pytest
import torch

from codesign.errors import CodesignError
from codesign.network import CandidateSpec, ConvStage, SGDConfig
from codesign.workload import trace


def _spec(**kw):
    return CandidateSpec(
        stages=(
            ConvStage(16, kernel=3, pool="max"),
            ConvStage(32, kind="separable", stride=2),
            ConvStage(48, batch_norm=False, activation="relu6"),
        ),
        head=(64,),
        sgd=SGDConfig(lr=0.1, epochs=5),
        **kw,
    )


def test_json_round_trip_and_forward():
    spec = _spec()
    again = CandidateSpec.from_json(spec.to_json())
    assert again == spec
    out = spec.build()(torch.zeros(2, 3, 32, 32))
    assert out.shape == (2, 10)
    layers = trace(spec.build()).layers
    assert [layer.kind for layer in layers] == ["conv", "depthwise", "conv", "conv", "linear", "linear"]


def test_non_square_and_global_pool():
    spec = CandidateSpec(stages=(ConvStage(8, stride=2),), input_shape=(1, 28, 20), global_pool=False)
    assert spec.build()(torch.zeros(1, 1, 28, 20)).shape == (1, 10)
    pooled = CandidateSpec(stages=(ConvStage(8),), global_pool=True)
    assert pooled.build()(torch.zeros(1, 3, 32, 32)).shape == (1, 10)


@pytest.mark.parametrize(
    "patch, message",
    [
        ({"stages": [{"channels": 8, "kernal": 3}]}, "unknown field `stages[0].kernal`"),
        ({"stages": [{"channels": 8, "activation": "swishy"}]}, "`stages[0].activation`"),
        ({"stages": [{"channels": 8}], "sgd": {"optimizer": "adam"}}, "unknown field `sgd.optimizer`"),
        ({"stages": [{"channels": 8}], "sgd": {"schedule": "plateau"}}, "`sgd.schedule` must be one of"),
        ({"stages": [{"channels": 8, "pool": "max", "pool_size": 8}] * 3}, "shrink the image to nothing"),
        ({"stages": []}, "at least one conv stage"),
    ],
)
def test_validation_names_the_field(patch, message):
    with pytest.raises(CodesignError) as info:
        CandidateSpec.from_json(json.dumps(patch), "cand.json")
    assert message in str(info.value) and str(info.value).startswith("cand.json")


@pytest.mark.parametrize(
    "content, message",
    [
        (bytes(range(256)) * 4, "not a spec JSON file (UnicodeDecodeError"),
        (b"[" * 100_000, "nested too deeply to be a spec"),
    ],
)
def test_a_hostile_spec_file_is_one_line(tmp_path, content, message):
    path = tmp_path / "spec.json"
    path.write_bytes(content)
    with pytest.raises(CodesignError, match=re.escape(f"{path}: {message}")):
        CandidateSpec.load(path)


def test_a_map_down_to_1x1_builds_with_batch_norm():
    # the classifier's width is measured with one image: BatchNorm must not see it in training mode
    spec = CandidateSpec(stages=(ConvStage(16, stride=2, pool="max"),) * 2 + (ConvStage(16, stride=2),))
    model = spec.build()
    assert model.training and model.features.training
    assert model(torch.zeros(2, 3, 32, 32)).shape == (2, 10)
    assert trace(model).layers[-1].C == 16
