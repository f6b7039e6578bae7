"""Conformance of every registered cost engine (scikit-learn's check_estimator idea): what `codesign.cost`
relies on, checked on each name in codesign.registry.ENGINES. A new engine is registered with one line and
must pass these as it is. Engines that need an outside tool run through the recorded stand-ins in tests/
(fake_timeloop, fake_accelforge) where the real one is absent."""

from __future__ import annotations

import dataclasses
import math
import os
import pickle
import shutil
from pathlib import Path

import pytest

from codesign.cost import CostCache, LayerCost, cost_of, get_engine
from codesign.errors import CodesignError
from codesign.hardware import HardwareParams, derive_arch
from codesign.registry import ENGINES, MAPPERS, MEASURED_ENGINES, RUNTIMES, SAMPLERS, SIMULATED_ENGINES, Registry
from codesign.workload import Layer
from tests.helpers import REFERENCE

TESTS = Path(__file__).resolve().parent
LAYER = Layer(kind="linear", names=("fc3",), N=1, C=84, M=10, P=1, Q=1, R=1, S=1)  # LeNet-5's last layer: recorded


@pytest.fixture(autouse=True)
def _stand_ins(monkeypatch):
    """The recorded stand-ins for the outside tools, where the real ones are absent."""
    mapper = shutil.which("timeloop-mapper")
    if mapper is None or mapper.startswith(str(TESTS)):
        monkeypatch.setenv("PATH", f"{TESTS / 'fake_timeloop'}{os.pathsep}{os.environ['PATH']}")
        monkeypatch.setenv("CODESIGN_REFERENCE", str(REFERENCE))
    monkeypatch.setenv(
        "CODESIGN_ACCELFORGE_PYTHON",
        os.environ.get("CODESIGN_ACCELFORGE_PYTHON") or str(TESTS / "fake_accelforge" / "python"),
    )


@pytest.fixture(params=ENGINES.names())
def name(request):
    return request.param


def test_an_engine_is_a_frozen_dataclass_built_from_its_name(name):
    kind = ENGINES.load(name)
    assert dataclasses.is_dataclass(kind) and kind.__dataclass_params__.frozen
    engine = get_engine(name)
    assert type(engine) is kind and engine == kind()  # every option has a default
    assert engine.name == name and isinstance(engine.parallel, bool)
    assert ENGINES.entry(name).help and "\n" not in ENGINES.entry(name).help
    assert pickle.loads(pickle.dumps(engine)) == engine  # it travels to worker threads and processes


def test_unavailable_is_one_line_or_none(name):
    why = get_engine(name).unavailable()
    assert why is None or (isinstance(why, str) and why.strip() and "\n" not in why)


def test_cache_key_names_what_decides_the_numbers(name, arch):
    engine = get_engine(name)
    key = engine.cache_key(arch)
    assert isinstance(key, str) and key and key == engine.cache_key(arch) and key.startswith(name)


def test_cost_of_one_layer(name, arch):
    engine = get_engine(name)
    if engine.unavailable():
        pytest.skip(engine.unavailable())
    cost = engine.cost(LAYER, arch)
    assert isinstance(cost, LayerCost) and cost.engine == name
    assert isinstance(cost.cycles, int) and cost.cycles >= math.ceil(LAYER.macs / arch.pe_array.count)
    assert math.isfinite(cost.energy_pj) and cost.energy_pj > 0
    assert 0 < cost.utilization <= 1
    assert cost.utilization == pytest.approx(LAYER.macs / (cost.cycles * arch.pe_array.count))
    assert LayerCost.from_dict(cost.to_dict()) == cost  # what the layer cache stores


def test_a_layer_is_never_costed_twice(name, arch, tmp_path, monkeypatch):
    engine = get_engine(name)
    if engine.unavailable():
        pytest.skip(engine.unavailable())
    cache = CostCache(tmp_path / "cache.sqlite")
    first = cost_of([LAYER], arch, engine, cache)

    def never(layer, arch):
        raise AssertionError("costed again")

    monkeypatch.setattr(type(engine), "cost", lambda self, layer, arch: never(layer, arch))
    assert cost_of([LAYER], arch, engine, cache) == first


def test_the_numbers_follow_the_arch(name, arch):
    """A derived arch (other sizes) gives another cache key: its numbers are its own."""
    engine = get_engine(name)
    small = derive_arch(arch, HardwareParams(pe_x=8))
    assert engine.cache_key(small) != engine.cache_key(arch) or small.digest != arch.digest


def test_engine_options_reach_the_engines_that_take_them():
    assert get_engine("analytic", mapper="exhaustive").mapper == "exhaustive"
    assert get_engine("timeloop", mapper="exhaustive", timeloop_lab="lab").lab_dir == Path("lab")
    with pytest.raises(CodesignError, match=r"unknown cost engine 'scalesim' \(available: analytic, timeloop"):
        get_engine("scalesim")
    with pytest.raises(CodesignError, match="unknown mapper 'greedy'"):
        get_engine("analytic", mapper="greedy")


@pytest.mark.parametrize(
    "registry", [ENGINES, MAPPERS, SAMPLERS, MEASURED_ENGINES, SIMULATED_ENGINES, RUNTIMES], ids=lambda r: r.kind
)
def test_every_registered_name_imports_and_is_documented(registry: Registry):
    for entry in registry.entries():
        assert callable(registry.load(entry.name)), entry.target
        assert entry.help and "\n" not in entry.help
    assert {entry.role for entry in MAPPERS.entries()} == {"graded", "best"}
