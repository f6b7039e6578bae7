"""Lower bounds on a layer's energy and cycles over every mapping its dataflow allows, in microseconds.

The ehvi sampler's screen needs a network's energy and cycles before it can score a candidate, and an exact
(grader-exact) cost maps every new layer: milliseconds each, too slow for a pool of 600 designs on new
accelerators. A bound is enough to rule most candidates out: expected hypervolume improvement only grows as
energy or cycles fall, so a candidate scored at its bounds scores at least what it would exactly, and only the
candidates whose optimistic score could still beat the best exact one need mapping
(codesign/search/ehvi.py). So each term here is one every mapping of the analytic model pays
(codesign/cost/analytic/nest.py, Timeloop's counting), and nothing a mapping may avoid:

- energy: every MAC; every operand read from the innermost PE buffer that keeps it, once per MAC (outputs:
  an update per MAC); every distinct weight and input filled at least once into each PE buffer on its chain
  and read at least once from DRAM; every output written to DRAM at least once. The global buffer and the
  scratchpad reads a mapping may bypass or reuse count nothing.
- cycles: the MACs spread over at most the PEs the dataflow can fill with this layer (the product of
  exact divisors of the dimensions it puts on each array axis, no larger than the axis).

`tests/test_cost_bounds.py` checks both against the mapper's cost on every dataflow.
"""

from __future__ import annotations

import functools
import math
from itertools import product

from codesign.arch import Arch
from codesign.cost.analytic.nest import pe_chains
from codesign.dataflow import load_dataflow
from codesign.workload import Layer

_DIMS = "NCMPQRS"


def layer_bound(layer: Layer, arch: Arch) -> tuple[float, float]:
    """A lower bound on one execution of `layer` on `arch`: energy (pJ) and cycles."""
    return _energy_bound(layer, arch), _cycles_bound(layer, arch)


def network_bound(layers: tuple[Layer, ...], arch: Arch) -> tuple[float, float]:
    """A lower bound on a network's energy (pJ) and cycles: its layers' bounds times their counts."""
    energy = cycles = 0.0
    for layer in layers:
        e, c = layer_bound(layer, arch)
        energy += layer.count * e
        cycles += layer.count * c
    return energy, cycles


def _sizes(layer: Layer) -> tuple[int, int, int]:
    """Distinct weights, inputs the layer reads, and outputs."""
    channels_out = layer.C if layer.depthwise else layer.M
    weights = layer.C * (1 if layer.depthwise else layer.M) * layer.R * layer.S
    width = _touched(layer.P, layer.Wstride, layer.R, layer.Wdilation)
    height = _touched(layer.Q, layer.Hstride, layer.S, layer.Hdilation)
    return weights, layer.N * layer.C * width * height, layer.N * channels_out * layer.P * layer.Q


@functools.cache
def _touched(outputs: int, stride: int, kernel: int, dilation: int) -> int:
    """Input positions along one axis that some output reads (a stride past the kernel skips some)."""
    return len({p * stride + r * dilation for p in range(outputs) for r in range(kernel)})


def _energy_bound(layer: Layer, arch: Arch) -> float:
    macs = layer.macs
    weights, inputs, outputs = _sizes(layer)
    chains = pe_chains(arch.dataflow, layer.depthwise)
    fill = {"reg": arch.registers.fill_pj, "spad": arch.weight_spad.fill_pj}
    read = {"reg": arch.registers.read_pj, "spad": arch.weight_spad.read_pj}
    energy = macs * arch.mac.energy_pj
    for tensor, size in ((0, weights), (1, inputs)):
        chain = [_kind(level) for level in chains[tensor]]
        if chain:
            energy += macs * read[chain[0]] + size * sum(fill[k] for k in chain)
    if chains[2]:
        inner = _kind(chains[2][0])
        energy += macs * (arch.registers.update_pj if inner == "reg" else arch.weight_spad.fill_pj)
    dram = arch.dram
    energy += math.ceil(weights / dram.block_words) * dram.read_pj
    energy += math.ceil(inputs / dram.block_words) * dram.read_pj
    energy += math.ceil(outputs / dram.block_words) * dram.update_pj
    return energy


def _kind(level: int) -> str:
    from codesign.cost.analytic.nest import SPAD

    return "spad" if level == SPAD else "reg"


def _cycles_bound(layer: Layer, arch: Arch) -> float:
    x, y = load_dataflow(arch.dataflow).array(layer.depthwise)
    size = dict(zip(_DIMS, (layer.N, layer.C, 1 if layer.depthwise else layer.M, layer.P, layer.Q, layer.R, layer.S)))
    pe = arch.pe_array
    # which axis is which does not matter for a bound: the better of the two assignments
    spread = max(_fanout(x, size, pe.x) * _fanout(y, size, pe.y), _fanout(x, size, pe.y) * _fanout(y, size, pe.x))
    return math.ceil(layer.macs / min(spread, pe.count))


def _fanout(dims: str, size: dict[str, int], axis: int) -> int:
    """The most PEs along one axis a product of exact divisors of `dims` can fill ('*': any dimension)."""
    if dims == "*":
        return axis
    if dims == "-":
        return 1
    best = 1
    for factors in product(*(_divisors(size[d]) for d in dims if d in size)):
        total = math.prod(factors)
        if best < total <= axis:
            best = total
    return best


@functools.cache
def _divisors(n: int) -> tuple[int, ...]:
    return tuple(d for d in range(1, n + 1) if n % d == 0)
