"""The persistent layer-cost cache: round trips, several writing processes, and no layer mapped twice."""

from __future__ import annotations

import multiprocessing as mp

from codesign.cost import CostCache, cost_of
from codesign.cost.analytic import AnalyticEngine
from codesign.cost.layer_cost import LayerCost
from codesign.workload import Layer


def _writer(path: str, worker: int) -> int:
    cache = CostCache(path)
    for i in range(40):
        key = CostCache.key("analytic", "arch", (worker, i))
        cache.put(key, LayerCost("analytic", float(i), i, 0.5))
        assert cache.get(key).cycles == i
    cache.close()
    return worker


def test_many_processes_write_at_once(tmp_path):
    path = str(tmp_path / "shared.sqlite")
    with mp.get_context("spawn").Pool(4) as pool:
        assert sorted(pool.starmap(_writer, [(path, w) for w in range(4)])) == [0, 1, 2, 3]
    cache = CostCache(path)
    assert len(cache) == 160
    assert cache.get(CostCache.key("analytic", "arch", (3, 39))).energy_pj == 39.0


def test_cost_of_maps_each_layer_once(tmp_path, arch, monkeypatch):
    calls = []

    class Counting(AnalyticEngine):
        def cost(self, layer, a):
            calls.append(layer)
            return super().cost(layer, a)

    layers = [Layer(kind="conv", N=1, C=8, M=16, P=8, Q=8, R=3, S=3),
              Layer(kind="linear", N=1, C=64, M=10, P=1, Q=1, R=1, S=1)]
    first = cost_of(layers, arch, Counting(), cache=CostCache(tmp_path / "c.sqlite"))
    # a new process would open the file afresh: a new CostCache has an empty memory layer
    second = cost_of(layers, arch, Counting(), cache=CostCache(tmp_path / "c.sqlite"))
    assert len(calls) == 2
    assert [c.to_dict() for c in first] == [c.to_dict() for c in second]
    other_arch = CostCache.key("analytic", "different", layers[0].key)
    assert CostCache(tmp_path / "c.sqlite").get(other_arch) is None


def test_the_key_names_the_mapper_and_its_settings(arch):
    import dataclasses

    from codesign.arch import MapperSettings

    graded, best = AnalyticEngine("random-pruned"), AnalyticEngine("exhaustive")
    assert graded.cache_key(arch) != best.cache_key(arch)
    slower = dataclasses.replace(arch, mapper=MapperSettings(victory_condition=800))
    assert graded.cache_key(slower) != graded.cache_key(arch) and best.cache_key(slower) == best.cache_key(arch)
    assert AnalyticEngine().cache_key(arch) == graded.cache_key(arch)  # the arch's default: random-pruned
