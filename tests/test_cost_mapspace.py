"""The exhaustive mapper's mapspace enumerators: factorizations, PE-array assignments, candidate nests."""

from __future__ import annotations

import math

import numpy as np
import pytest

from codesign.cost.analytic.mapspace import candidates, divisors, ordered_splits, spatial_choices
from codesign.cost.analytic.nest import DIMS, SPAD, WEIGHTS, Prepared
from codesign.workload import Layer


def test_divisors_and_ordered_splits():
    assert divisors(12) == [1, 2, 3, 4, 6, 12] and divisors(1) == [1]
    splits = ordered_splits(12, 3)
    assert np.all(splits.prod(axis=1) == 12)
    assert len({tuple(r) for r in splits}) == len(splits) == 18  # 12 = 2^2 * 3: C(4,2) * C(3,2)
    assert len(ordered_splits(7, 4)) == 4


def test_dense_spatial_choices_are_exact_divisors_within_the_array(arch):
    layer = Layer(kind="conv", N=1, C=24, M=20, P=4, Q=4, R=3, S=3)
    choices = spatial_choices(layer, arch)
    pairs = {(s.factor(1), s.factor(2)) for s in choices}  # (C on X, M on Y)
    assert pairs == {(c, m) for c in divisors(24) if c <= 16 for m in divisors(20) if m <= 16}
    products = [s.product for s in choices]
    assert products == sorted(products, reverse=True) and products[0] == 12 * 10


def test_depthwise_spatial_choices_fit_both_axes(arch):
    layer = Layer(kind="depthwise", N=1, C=8, M=8, P=4, Q=4, R=3, S=3)
    for choice in spatial_choices(layer, arch):
        x = math.prod(f for _, f, ax in choice.factors if ax == "x")
        y = math.prod(f for _, f, ax in choice.factors if ax == "y")
        assert x <= arch.pe_array.x and y <= arch.pe_array.y


@pytest.mark.parametrize(
    "layer",
    [
        Layer(kind="conv", N=1, C=6, M=16, P=10, Q=10, R=5, S=5),
        Layer(kind="linear", N=1, C=120, M=84, P=1, Q=1, R=1, S=1),
        Layer(kind="depthwise", N=1, C=16, M=16, P=8, Q=8, R=3, S=3, Wstride=2, Hstride=2),
    ],
)
def test_every_candidate_covers_the_layer_and_fits_the_scratchpad(layer, arch):
    sizes = {
        "N": layer.N,
        "C": layer.C,
        "M": 1 if layer.depthwise else layer.M,
        "R": layer.R,
        "S": layer.S,
        "P": layer.P,
        "Q": layer.Q,
    }
    for spatial in spatial_choices(layer, arch)[:3]:
        batch = candidates(layer, arch, spatial)
        assert len(batch) > 0
        for d, name in enumerate(DIMS):
            product = np.prod(np.where(batch.dims == d, batch.bounds, 1), axis=1)
            assert np.all(product == sizes[name]), name
        assert np.all(Prepared(layer, batch).tile(SPAD, WEIGHTS) <= arch.weight_spad.depth_words)
