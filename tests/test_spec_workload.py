"""A spec's workload from its shapes alone equals the traced model's, layer for layer."""

from __future__ import annotations

import optuna
import pytest

from codesign.errors import UnbuildableDesign
from codesign.network import CandidateSpec, ConvStage
from codesign.space import SPACE_DIR, load_space
from codesign.spec_workload import spec_workload
from codesign.workload import trace

optuna.logging.set_verbosity(optuna.logging.WARNING)


def _same(spec: CandidateSpec) -> None:
    traced, computed = trace(spec.build(), (1, *spec.input_shape)), spec_workload(spec)
    assert computed == traced  # layers and counts, peak activation and where, parameters
    assert [layer.names for layer in computed.layers] == [layer.names for layer in traced.layers]


@pytest.mark.parametrize(
    "spec",
    [
        CandidateSpec(
            stages=(
                ConvStage(6, kernel=5, padding=0, batch_norm=False, pool="max"),
                ConvStage(16, kernel=5, padding=0, batch_norm=False, pool="max"),
            ),
            head=(120, 84),
        ),
        CandidateSpec(
            stages=(
                ConvStage(16),
                ConvStage(32, kind="separable", stride=2),
                ConvStage(32, kind="separable"),
                ConvStage(64, kernel=5, stride=2, pool="avg", pool_size=3),
            ),
            global_pool=True,
        ),
        CandidateSpec(
            stages=(ConvStage(8, kind="separable", activation="tanh"),),
            input_shape=(1, 28, 20),
            head=(32, 32),
            dropout=0.3,
        ),
        CandidateSpec(stages=(ConvStage(400, pool="max"),), input_shape=(1, 28, 28)),  # peak at the first conv
    ],
)
def test_hand_made_specs(spec):
    _same(spec)


@pytest.mark.parametrize(
    "space, shape", [("rubric_cnn", (3, 32, 32)), ("codesign", (3, 32, 32)), ("lenet", (1, 28, 28))]
)
def test_every_design_a_space_draws(space, shape):
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=3))
    checked = 0
    for _ in range(25):
        try:
            spec = load_space(SPACE_DIR / f"{space}.yaml").sample(study.ask(), shape, 10, 0)
        except UnbuildableDesign:
            continue
        _same(spec)
        checked += 1
    assert checked >= 15
