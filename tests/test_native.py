"""The compiled core against the NumPy reference it follows: the same mappings, counts, cycles and energies,
bit for bit, on many layers, archs and mapper settings; its variant walk; and the fallback without it."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from codesign.arch import MapperSettings
from codesign.builtin_models import LeNet5
from codesign.cost import cost_of
from codesign.cost.analytic import AnalyticEngine, core, native
from codesign.cost.analytic.engine import cost_of_mapping
from codesign.cost.analytic.exhaustive import best_mapping
from codesign.cost.analytic.mapspace import spatial_choices, spatial_table
from codesign.cost.analytic.nest import INPUTS, LEVEL_NAMES, Prepared, evaluate
from codesign.cost.analytic.random_pruned import mapspace_of, search
from codesign.cost.analytic.timeloop_mapspace import _cofactor_table, cofactor_table
from codesign.cost.cache import CostCache
from codesign.cost.variants import cost_variants
from codesign.hardware import HardwareParams, derive_arch
from codesign.workload import Layer, trace
from tests.helpers import layer_of, reference_rows

pytestmark = pytest.mark.skipif(not core.built(), reason="the compiled core is not built (pip install -e .)")

REFERENCE_LAYERS = [layer_of(r) for r in reference_rows()]
# The 10-layer CIFAR-size network of benchmarks/bench_cost.py: 3x3 convs 3-16-32-32-64-64-96-128, a 1x1 conv,
# two FC layers.
CIFAR_LAYERS = [
    Layer("conv", 1, 3, 16, 32, 32, 3, 3),
    Layer("conv", 1, 16, 32, 32, 32, 3, 3),
    Layer("conv", 1, 32, 32, 16, 16, 3, 3),
    Layer("conv", 1, 32, 64, 16, 16, 3, 3),
    Layer("conv", 1, 64, 64, 8, 8, 3, 3),
    Layer("conv", 1, 64, 96, 8, 8, 3, 3),
    Layer("conv", 1, 96, 128, 4, 4, 3, 3),
    Layer("conv", 1, 128, 128, 4, 4, 1, 1),
    Layer("linear", 1, 2048, 256, 1, 1, 1, 1),
    Layer("linear", 1, 256, 10, 1, 1, 1, 1),
]
# Strides, dilations, depthwise, 5x5 and rectangular kernels beyond the reference layers.
ODD_LAYERS = [
    Layer("depthwise", 1, 24, 24, 14, 14, 3, 3),
    Layer("depthwise", 1, 48, 48, 7, 7, 5, 5, 2, 2),
    Layer("conv", 1, 12, 20, 9, 9, 3, 3, 2, 2, 2, 2),
    Layer("conv", 1, 8, 24, 6, 10, 5, 3, 1, 2),
    Layer("conv", 2, 6, 10, 5, 5, 3, 3),
]


def _archs(arch):
    """Derived archs: other arrays (one row, one column, 32 x 32), scratchpads, buffers, bandwidth, 8-bit."""
    sizes = [
        HardwareParams(8, 4, 64, 4096),
        HardwareParams(16, 1, 192, 65536, 8),
        HardwareParams(1, 8, 96, 16384),
        HardwareParams(32, 32, 384, 131072, 32, 8),
        HardwareParams(4, 16, 96, 8192, 16, 8),
    ]
    return [derive_arch(arch, hw) for hw in sizes]


def _settings(arch):
    """The lab's arch under other mapper settings: threads, timeout, victory, permutations per IF, metrics."""
    settings = [
        MapperSettings(num_threads=1, timeout=60, victory_condition=40),
        MapperSettings(num_threads=3, timeout=100, victory_condition=150, max_permutations_per_if_visit=4),
        MapperSettings(num_threads=5, timeout=30, victory_condition=300, max_permutations_per_if_visit=12),
        MapperSettings(optimization_metrics=("energy", "delay")),
        MapperSettings(num_threads=2, optimization_metrics=("energy",)),
    ]
    return [dataclasses.replace(arch, mapper=s) for s in settings]


def _thread_view(results):
    """Everything a search's threads ended with: costs, counters, stop reasons and which mapping is best."""

    def best(r):
        return None if r.best is None else (r.best.if_id, r.best.lp, r.best.split, r.best.keep)

    return [(r.cost, r.total, r.valid, r.stop, best(r)) for r in results]


def _same_cost(layer, arch, nest, mapper):
    """The LayerCost of one mapping through the compiled core and through nest.evaluate: identical fields."""
    fast = cost_of_mapping(layer, arch, nest, mapper, native=True)
    slow = cost_of_mapping(layer, arch, nest, mapper, native=False)
    assert fast == slow
    return fast


def _search_cases(arch):
    cases = [(layer, arch) for layer in REFERENCE_LAYERS + CIFAR_LAYERS + ODD_LAYERS]
    small = [REFERENCE_LAYERS[1], REFERENCE_LAYERS[6], REFERENCE_LAYERS[11], CIFAR_LAYERS[4], ODD_LAYERS[1]]
    cases += [(layer, derived) for derived in _archs(arch) for layer in small]
    cases += [(layer, other) for other in _settings(arch) for layer in small[:3]]
    return cases


def test_random_pruned_search_is_the_references_bit_for_bit(arch):
    """Every thread's best (cost and mapping), IDs tried, valid count and stop reason, the winner, and the
    chosen mapping's cycles, energy and per-level energy, on every case."""
    for layer, case_arch in _search_cases(arch):
        _, fast, winner = search(layer, case_arch, native=True)
        _, slow, winner_ref = search(layer, case_arch, native=False)
        where = f"{layer.shape} on {case_arch.name} {case_arch.mapper}"
        assert _thread_view(fast) == _thread_view(slow), where
        assert winner == winner_ref, where
        if winner >= 0:
            compact = fast[winner].best.nest()
            full = slow[winner].best.nest()  # decoded from the IDs, every slot of the mapspace
            assert compact.loops(0) == full.loops(0) and compact.glb_keep.tolist() == full.glb_keep.tolist(), where
            _same_cost(layer, case_arch, full, "random-pruned")


def test_exhaustive_mapper_is_the_references_bit_for_bit(arch):
    """The same mapping (loops, axes, keep/bypass), cycles and energy as mapspace.py + exhaustive.py, ties
    broken the same way."""
    cifar = [layer for i, layer in enumerate(CIFAR_LAYERS) if i not in (3, 6)]  # (the reference's slowest two)
    cases = [(layer, arch) for layer in REFERENCE_LAYERS + cifar + ODD_LAYERS]
    cases += [(layer, derived) for derived in _archs(arch)[:3] for layer in (REFERENCE_LAYERS[1], CIFAR_LAYERS[4])]
    for layer, case_arch in cases:
        nest, cycles, energy = best_mapping(layer, case_arch, native=True)
        ref, ref_cycles, ref_energy = best_mapping(layer, case_arch, native=False)
        where = f"{layer.shape} on {case_arch.name}"
        assert (cycles, energy) == (ref_cycles, ref_energy), where
        assert nest.loops(0) == ref.loops(0) and nest.glb_keep.tolist() == ref.glb_keep.tolist(), where
        _same_cost(layer, case_arch, ref, "exhaustive")


def test_every_count_of_random_mappings_is_the_references(arch):
    """Thousands of mappings drawn from Timeloop's mapspace, valid or not, under every keep choice: the compiled
    evaluation's validity, cycles, energy, per-level energies and access counts equal nest.evaluate's."""
    rng = np.random.default_rng(7)
    layers = REFERENCE_LAYERS[::3] + CIFAR_LAYERS[::3] + ODD_LAYERS
    for layer, case_arch in [(layer, arch) for layer in layers] + [(ODD_LAYERS[0], a) for a in _archs(arch)]:
        space = mapspace_of(layer, case_arch)
        ids = rng.integers(0, space.if_size, 40)
        factors = space.factors(ids)
        parts = space.parts(factors)
        radices = space.radices(parts)
        lps = np.array([rng.integers(0, int(np.prod(r))) for r in radices])
        orders = space.orders(factors, parts, radices, lps)
        keeps = space.keep_masks[rng.integers(0, space.n_keep, len(ids))]
        batch = space.nest(factors, orders, np.zeros(len(ids), dtype=np.int64), keeps)
        ref = evaluate(layer, case_arch, batch)
        for i in range(len(ids)):
            one = native.evaluate(layer, case_arch, batch.row(i))
            assert one.valid == bool(ref.valid[i])
            assert (one.cycles, one.compute_cycles, one.energy_pj) == (
                ref.cycles[i],
                ref.compute_cycles[i],
                ref.energy_pj[i],
            )
            assert list(one.level_energy) == list(ref.level_energy)
            assert [one.level_energy[k] for k in one.level_energy] == [v[i] for v in ref.level_energy.values()]
            for key, values in ref.counts.items():
                assert one.counts.get(key, 0.0) == values[i], key  # levels that bypass the tensor count 0


def test_a_one_word_window_moved_by_its_innermost_loop_is_filled_at_every_step(arch):
    """What the exhaustive core's bound relies on (Analysis::one_word_fills): where a level holds one input word
    and the innermost loop above it moves the word, Timeloop's sliding-window fills are the product of the
    loops above. (Where that loop does not move it, an outer step that cancels the inner ones counts as no
    move: fewer fills than run_fills, which the bound therefore does not use there.)"""
    rng = np.random.default_rng(3)
    checked = fewer = 0
    for layer in REFERENCE_LAYERS + ODD_LAYERS:
        space = mapspace_of(layer, arch)
        ids = rng.integers(0, space.if_size, 300)
        factors = space.factors(ids)
        parts = space.parts(factors)
        radices = space.radices(parts)
        lps = np.array([rng.integers(0, int(np.prod(r))) for r in radices])
        batch = space.nest(
            factors,
            space.orders(factors, parts, radices, lps),
            np.zeros(len(ids), dtype=np.int64),
            np.ones((len(ids), 3, 6), dtype=bool),
        )
        prepared = Prepared(layer, batch)
        moves = np.any(prepared.projections[INPUTS] != 0, axis=0)
        for level in LEVEL_NAMES:
            start = prepared.start(level)
            one = prepared.tile(level, INPUTS) == 1
            sliding = prepared._sliding_fills(level, INPUTS)
            for i in np.flatnonzero(one):
                above = [j for j in range(start) if not batch.spatial[j] and batch.bounds[i, j] > 1]
                if above and moves[batch.dims[i, above[-1]]]:
                    assert sliding[i] == np.prod(batch.bounds[i, above])
                    checked += 1
            fewer += int(np.sum(sliding[one] < prepared._run_fills(level, INPUTS)[one]))
    assert checked > 1000 and fewer > 0  # the exception exists: the bound is right to avoid it


def test_spatial_table_lists_the_spatial_choices_in_order(arch):
    """The exhaustive core's PE-array assignments (arrays) are mapspace.spatial_choices, in the same order."""
    for case_arch in [arch, *_archs(arch)]:
        for layer in REFERENCE_LAYERS + ODD_LAYERS + CIFAR_LAYERS[::4]:
            choices = spatial_choices(layer, case_arch)
            factors, on_x = spatial_table(layer, case_arch)
            assert factors.tolist() == [[s.factor(d) for d in range(7)] for s in choices]
            axes = [{d: axis for d, _, axis in s.factors} for s in choices]
            assert on_x.tolist() == [[a.get(d, "x") == "x" for d in range(7)] for a in axes]


def test_cofactor_tables_are_the_references():
    """Timeloop's factorization tables built by the core equal the Python recursion's, fixed factors included."""
    for n in (1, 6, 64, 96, 360, 2048, 1155):
        for levels in (6, 7):
            for fixed, maxima in (({}, {}), ({1: 1, 2: 1}, {}), ({0: n}, {}), ({3: 2}, {4: 3}), ({1: 3, 4: 1}, {})):
                _cofactor_table.cache_clear()
                fast = cofactor_table(n, levels, fixed, maxima).copy()
                _cofactor_table.cache_clear()
                with pytest.MonkeyPatch.context() as mp:
                    mp.setenv("CODESIGN_NATIVE", "0")
                    slow = cofactor_table(n, levels, fixed, maxima)
                assert fast.shape == slow.shape and np.array_equal(fast, slow), (n, levels, fixed, maxima)
    _cofactor_table.cache_clear()


@pytest.mark.parametrize("mapper", ["random-pruned", "exhaustive"])
def test_variants_walk_once_and_equal_costing_each_arch_alone(mapper, arch, tmp_path):
    """Six accelerators of one mapspace (buffer bandwidth x word bits) costed together give each arch's own
    cost; archs of other sizes in the same call are costed in their own walk; the cache keeps them all."""
    archs = [derive_arch(arch, HardwareParams(16, 16, 192, 65536, bw, bits)) for bw in (8, 16, 32) for bits in (8, 16)]
    archs.append(derive_arch(arch, HardwareParams(8, 8, 96, 32768)))
    cache = CostCache(tmp_path / "cache.sqlite")
    for layer in (CIFAR_LAYERS[1], CIFAR_LAYERS[6], REFERENCE_LAYERS[6]):
        together = cost_variants(layer, archs, mapper, cache=cache)
        alone = [AnalyticEngine(mapper).cost(layer, a) for a in archs]
        for a, b in zip(together, alone):
            a.seconds = b.seconds = 0.0
        assert together == alone
        assert len({(c.cycles, c.energy_pj) for c in together}) > 1  # the variants do differ
        again = cost_variants(layer, archs, mapper, cache=CostCache(tmp_path / "cache.sqlite"))
        assert [c.to_dict() for c in again] == [c.to_dict() for c in together]  # served from the cache file


def test_without_the_core_codesign_says_so_once_and_runs_the_reference(arch, monkeypatch, capsys):
    """An install without a compiler: one warning line, then the NumPy reference, with the same numbers."""
    layers = trace(LeNet5()).layers
    expected = cost_of(layers, arch, AnalyticEngine())
    monkeypatch.setattr(core, "_core", None)
    monkeypatch.setattr(core, "_MISSING", "No module named 'codesign.cost.analytic._native'")
    core._say_missing.cache_clear()
    try:
        got = cost_of(layers, arch, AnalyticEngine())
        cost_of(layers[:1], arch, AnalyticEngine("exhaustive"))
    finally:
        core._say_missing.cache_clear()
    err = capsys.readouterr().err
    assert err.count("codesign: warning:") == 1 and "compiled core is not built" in err and "pip install" in err
    for a, b in zip(got, expected):
        a.seconds = b.seconds = 0.0
    assert got == expected
    assert AnalyticEngine().threads == 1


def test_the_reference_can_be_asked_for(arch, monkeypatch):
    """CODESIGN_NATIVE=0 runs the NumPy reference on purpose, without a warning."""
    monkeypatch.setenv("CODESIGN_NATIVE", "0")
    assert not core.enabled() and core.enabled(True)
    monkeypatch.setenv("CODESIGN_NATIVE", "1")
    assert core.enabled() and not core.enabled(False)
