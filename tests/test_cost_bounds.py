"""Lower bounds on a layer's energy and cycles (codesign/cost/bounds.py): never above what the mapper finds."""

from __future__ import annotations

import dataclasses

import pytest

from codesign.arch import load_arch
from codesign.builtin_models import LeNet5
from codesign.cost.analytic import AnalyticEngine
from codesign.cost.bounds import layer_bound, network_bound
from codesign.dataflow import dataflow_names
from codesign.errors import CodesignError
from codesign.hardware import HardwareParams, derive_arch
from codesign.profiling import profile_workload
from codesign.workload import Layer, trace

# LeNet-5's and CIFAR-size layers: odd channel counts, strides past and within the kernel, depthwise, linear
LAYERS = [
    Layer("conv", 1, 3, 16, 32, 32, 3, 3),
    Layer("conv", 1, 16, 24, 16, 16, 3, 3, 2, 2),
    Layer("conv", 1, 48, 96, 8, 8, 5, 5),
    Layer("conv", 1, 6, 16, 10, 10, 5, 5),
    Layer("conv", 1, 24, 32, 7, 7, 1, 1, 3, 3),
    Layer("depthwise", 1, 32, 32, 16, 16, 3, 3),
    Layer("linear", 1, 400, 120, 1, 1, 1, 1),
]
SIZES = [HardwareParams(pe_x=8, pe_y=16), HardwareParams(pe_x=16, pe_y=16, word_bits=8, glb_bandwidth=8)]


@pytest.fixture(scope="module")
def engine():
    return AnalyticEngine()


@pytest.mark.parametrize("dataflow", dataflow_names())
def test_bounds_never_exceed_the_mappers_cost_on_any_dataflow(dataflow, engine):
    for size in SIZES:
        arch = derive_arch(load_arch(), dataclasses.replace(size, dataflow=dataflow))
        for layer in LAYERS:
            try:
                cost = engine.cost(layer, arch)
            except CodesignError:  # no valid mapping of this layer on this array: nothing to bound
                continue
            energy, cycles = layer_bound(layer, arch)
            assert 0 < energy <= cost.energy_pj * (1 + 1e-9), (layer, arch.name)
            assert 0 < cycles <= cost.cycles, (layer, arch.name)


def test_on_the_lab_accelerator_the_cycles_bound_is_the_mappers_cycles_when_bandwidth_does_not_stretch_them():
    """Weight-stationary C x M arrays: cycles are MACs over the spatial C x M factors (../shared/DESIGN.md)."""
    arch = load_arch()
    workload = trace(LeNet5())
    net = profile_workload(workload, arch, AnalyticEngine())
    energy, cycles = network_bound(workload.layers, arch)
    assert energy <= net.energy_pj and cycles <= net.cycles
    conv1 = workload.layers[0]
    assert layer_bound(conv1, arch)[1] == net.costs[0].cycles
