"""The persistent layer-cost cache: round trips, several writing processes, and no layer mapped twice."""

from __future__ import annotations

import multiprocessing as mp
import os
import sqlite3

import pytest

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

    layers = [
        Layer(kind="conv", N=1, C=8, M=16, P=8, Q=8, R=3, S=3),
        Layer(kind="linear", N=1, C=64, M=10, P=1, Q=1, R=1, S=1),
    ]
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


# --- a damaged cache is moved aside with one warning line, and the work goes on with a fresh one

_LAYERS = [
    Layer(kind="conv", N=1, C=8, M=16, P=8, Q=8, R=3, S=3),
    Layer(kind="linear", N=1, C=64, M=10, P=1, Q=1, R=1, S=1),
]


def _filled(path, arch):
    cache = CostCache(path)
    cost_of(_LAYERS, arch, cache=cache)
    for i in range(200):  # enough pages that damage in the middle lands in the table's data
        cache.put(CostCache.key("analytic", "arch", (i,)), LayerCost("analytic", float(i), i, 0.5, mapping="x" * 500))
    cache.close()
    return path


def _numbers(costs):
    return [(c.energy_pj, c.cycles, c.mapping) for c in costs]


def _overwrite(path, offset, data):
    raw = bytearray(path.read_bytes())
    raw[offset : offset + len(data)] = data
    path.write_bytes(bytes(raw))


def _rewrite_entries(path):  # a well-formed database whose entries do not decode: shows only on read
    db = sqlite3.connect(path)
    db.execute("UPDATE layer_costs SET cost = '{\"energy_pj\": [garbage'")
    db.commit()
    db.close()


def _foreign_table(path):
    path.unlink()
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE layer_costs (key TEXT, value BLOB)")
    db.commit()
    db.close()


DAMAGE = {
    "random bytes": lambda p: p.write_bytes(bytes(range(256)) * 64),
    "header overwritten": lambda p: _overwrite(p, 0, b"\xff" * 16),
    "truncated": lambda p: p.write_bytes(p.read_bytes()[: p.stat().st_size // 2 + 100]),
    "pages overwritten": lambda p: _overwrite(p, p.stat().st_size // 2, b"\xa5" * 8192),
    "a text file": lambda p: p.write_text("not a database\n"),
    "entries that do not decode": _rewrite_entries,
    "another program's table": _foreign_table,
}


@pytest.mark.parametrize("kind", DAMAGE)
def test_a_damaged_cache_is_moved_aside_and_replaced(kind, tmp_path, arch, capsys):
    path = _filled(tmp_path / "c.sqlite", arch)
    expected = _numbers(cost_of(_LAYERS, arch))
    DAMAGE[kind](path)
    assert _numbers(cost_of(_LAYERS, arch, cache=CostCache(path))) == expected
    warning = capsys.readouterr().err.strip().splitlines()
    assert len(warning) == 1 and warning[0].startswith(f"codesign: warning: layer-cost cache {path} is damaged (")
    aside = list(tmp_path.glob("c.sqlite.damaged-*"))
    assert len(aside) == 1 and aside[0].name in warning[0] and aside[0].name.endswith(f"-{os.getpid()}")
    assert len(CostCache(path)) == 2  # the fresh cache holds what was just computed
    assert capsys.readouterr().err == ""


def test_damage_that_shows_on_read_is_handled_mid_run(tmp_path, arch, capsys):
    path = _filled(tmp_path / "c.sqlite", arch)
    cache = CostCache(path)  # opened while the file was good
    _rewrite_entries(path)
    assert cache.get(CostCache.key("analytic", "arch", (7,))) is None
    assert "is damaged (an entry does not decode" in capsys.readouterr().err
    cost_of(_LAYERS, arch, cache=cache)
    assert len(CostCache(path)) == 2


def test_an_unusable_cache_path_leaves_the_costs_in_memory(tmp_path, arch, capsys):
    path = tmp_path / "c.sqlite"
    path.mkdir()  # not a file: nothing to move aside, nothing to write
    cache = CostCache(path)
    first = cost_of(_LAYERS, arch, cache=cache)
    assert capsys.readouterr().err.strip() == (
        f"codesign: warning: layer-cost cache {path}: unable to open database file; costs are kept in memory only "
        f"this run"
    )
    assert _numbers(cost_of(_LAYERS, arch, cache=cache)) == _numbers(first)
    assert path.is_dir() and not list(path.iterdir())


def _open_and_cost(path: str) -> int:
    from codesign.arch import load_arch

    return len(cost_of(_LAYERS, load_arch(), cache=CostCache(path)))


def test_processes_finding_the_same_damage_move_it_aside_once(tmp_path, arch):
    path = _filled(tmp_path / "c.sqlite", arch)
    DAMAGE["random bytes"](path)
    with mp.get_context("spawn").Pool(3) as pool:
        assert pool.map(_open_and_cost, [str(path)] * 6) == [2] * 6
    assert len(list(tmp_path.glob("c.sqlite.damaged-*"))) == 1
    assert len(CostCache(path)) == 2
