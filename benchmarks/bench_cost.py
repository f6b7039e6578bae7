"""How long the analytic engine takes to cost a new layer: per layer and for a whole 10-layer CIFAR-size network,
with both mappers (random-pruned: timeloop-mapper's search reproduced, the default; exhaustive: codesign's
best mapping), cold (empty cache) and warm (cache hit).

Prints figures, not pass/fail: these machines are noisy. The baseline, measured in the same run, is the NumPy
reference of the same model (CODESIGN_NATIVE=0: the modules the compiled core follows); both give the same
mappings and numbers bit for bit (tests/test_native.py). The recorded timeloop-mapper wall time per layer
(tests/data/timeloop/dev.csv, the lab's settings on this kind of machine) is printed beside.

    python benchmarks/bench_cost.py [--repeat 5] [--reference-repeat 1] [--mappers-only]

Per-layer times are process CPU seconds of the mapper and the final costing (one core; the machine may be
shared), the best of the repeats, each with every in-process memo table emptied first (a fresh process).
"""

from __future__ import annotations

import argparse
import csv
import functools
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path

from torch import nn

from codesign.arch import load_arch
from codesign.cost import CostCache, cost_of
from codesign.cost.analytic import AnalyticEngine, core, mapspace, native, nest, timeloop_mapspace
from codesign.workload import Layer, trace

REFERENCE = Path(__file__).resolve().parents[1] / "tests" / "data" / "timeloop" / "dev.csv"
MAPPERS = ("random-pruned", "exhaustive")


def cifar_net() -> nn.Module:
    """8 convs + 2 FC layers, all distinct problems (so nothing is deduplicated)."""

    def block(cin, cout, pool):
        return [nn.Conv2d(cin, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU()] + (
            [nn.MaxPool2d(2)] if pool else []
        )

    return nn.Sequential(
        *block(3, 16, False),
        *block(16, 32, True),
        *block(32, 32, False),
        *block(32, 64, True),
        *block(64, 64, False),
        *block(64, 96, True),
        *block(96, 128, False),
        nn.Conv2d(128, 128, 1),
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(128 * 16, 256),
        nn.ReLU(),
        nn.Linear(256, 10),
    )


@contextmanager
def path(use_native: bool):
    """The compiled core (the default) or the NumPy reference, for everything inside."""
    before = os.environ.get("CODESIGN_NATIVE")
    os.environ["CODESIGN_NATIVE"] = "1" if use_native else "0"
    try:
        yield
    finally:
        if before is None:
            del os.environ["CODESIGN_NATIVE"]
        else:
            os.environ["CODESIGN_NATIVE"] = before


def forget() -> None:
    """Empty every in-process memo table the engine keeps (what a fresh process starts with)."""
    timeloop_mapspace._cofactor_table.cache_clear()
    mapspace.ordered_splits.cache_clear()
    mapspace._orders.cache_clear()
    native.template_keeps.cache_clear()
    nest._OFFSET_COUNTS.clear()


def cpu_cold(fn: Callable[[], object], repeat: int) -> float:
    """Best-of-`repeat` CPU seconds of `fn`, the memo tables emptied before each run."""
    best = float("inf")
    for _ in range(repeat):
        forget()
        start = time.process_time()
        fn()
        best = min(best, time.process_time() - start)
    return best


def wall(fn: Callable[[], object], repeat: int, before: Callable[[], object] = lambda: None) -> tuple[float, float]:
    """Median wall seconds of `fn` over `repeat` runs (`before` run untimed ahead of each), and its least CPU
    seconds (every thread's)."""
    times, cpu = [], []
    for _ in range(repeat):
        before()
        start, start_cpu = time.perf_counter(), time.process_time()
        fn()
        times.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    return statistics.median(times), min(cpu)


def reference_layers() -> list[tuple[str, Layer]]:
    """The reference layers (tests/data/timeloop/dev.csv) with their names."""
    kinds = {"conv": "conv", "dwconv": "depthwise", "fc": "linear"}
    with REFERENCE.open() as f:
        rows = list(csv.DictReader(f))
    return [
        (
            r["name"],
            Layer(
                kind=kinds[r["kind"]],
                **{k: int(r[k]) for k in ("N", "C", "M", "P", "Q", "R", "S", "Wstride", "Hstride")},
            ),
        )
        for r in rows
    ]


def layer_table(title: str, named: list[tuple[str, Layer]], arch, repeat: int, reference_repeat: int) -> None:
    """Per layer, each mapper through the compiled core and through the NumPy reference, with median and max."""
    print(f"\n{title}: CPU ms per new layer (mapper + costing, best of {repeat}; reference best of {reference_repeat})")
    print(
        f"  {'layer':14s} {'shape':28s} {'random-pruned':>14s} {'reference':>10s} {'exhaustive':>11s} "
        f"{'reference':>10s}"
    )
    columns: dict[str, list[float]] = {}
    for name, layer in named:
        row = []
        for mapper in MAPPERS:
            engine = AnalyticEngine(mapper)
            for use_native, n in ((True, repeat), (False, reference_repeat)):
                with path(use_native):
                    seconds = cpu_cold(functools.partial(engine.cost, layer, arch), n)
                columns.setdefault(f"{mapper}-{use_native}", []).append(seconds)
                row.append(seconds * 1e3)
        print(f"  {name:14s} {layer.shape:28s} {row[0]:14.2f} {row[1]:10.1f} {row[2]:11.2f} {row[3]:10.1f}")
    for label, reduce in (("median", statistics.median), ("max", max)):
        values = [reduce(columns[f"{m}-{n}"]) * 1e3 for m in MAPPERS for n in (True, False)]
        print(f"  {label:43s} {values[0]:14.2f} {values[1]:10.1f} {values[2]:11.2f} {values[3]:10.1f}")
    for mapper in MAPPERS:
        ratio = statistics.median(columns[f"{mapper}-False"]) / statistics.median(columns[f"{mapper}-True"])
        print(f"  {mapper}: the compiled core is {ratio:,.0f}x the reference (medians)")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--reference-repeat", type=int, default=1, help="runs of the (slow) NumPy reference")
    parser.add_argument("--mappers-only", action="store_true", help="only the per-layer tables")
    args = parser.parse_args()
    arch = load_arch()
    where = core.module().__file__ if core.built() else None
    print(
        f"compiled core: {'built, ' + Path(where).name if where else 'NOT BUILT (every number is the reference)'}; "
        f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}"
    )
    layers = trace(cifar_net()).layers
    assert len(layers) == 10, len(layers)
    if REFERENCE.is_file():
        layer_table(
            "reference layers (tests/data/timeloop)", reference_layers(), arch, args.repeat, args.reference_repeat
        )
    layer_table(
        "10-layer CIFAR-size network",
        [(f"layer{i + 1}", layer) for i, layer in enumerate(layers)],
        arch,
        args.repeat,
        args.reference_repeat,
    )
    if args.mappers_only:
        return

    tmp = Path(tempfile.mkdtemp())
    made: list[CostCache] = []

    def new_cache() -> None:  # an empty cache file, made before the clock starts (once per machine in real use)
        forget()
        made.append(CostCache(tmp / f"cold-{time.perf_counter_ns()}.sqlite"))

    print(
        f"\n10-layer CIFAR-size network, {sum(layer.macs for layer in layers):,} MACs, arch {arch.name}: "
        f"wall ms from an empty cache (new layers costed on {AnalyticEngine().threads} threads), load average "
        f"{os.getloadavg()[0]:.1f}"
    )
    results = {}
    for mapper in MAPPERS:
        engine = AnalyticEngine(mapper)
        for use_native, n in ((True, args.repeat), (False, args.reference_repeat)):
            with path(use_native):
                results[(mapper, use_native)] = wall(
                    lambda engine=engine: cost_of(layers, arch, engine, cache=made[-1]), n, new_cache
                )
        (fast, fast_cpu), (slow, _) = results[(mapper, True)], results[(mapper, False)]
        print(
            f"  cold, {mapper:14s} {fast * 1e3:9.2f} ms   ({fast_cpu * 1e3:.1f} ms CPU; target < 50 ms; NumPy "
            f"reference {slow * 1e3:,.0f} ms: {slow / fast:,.0f}x)"
        )
    start = time.perf_counter()
    CostCache(tmp / "new.sqlite")
    print(f"  a new cache file (once per machine)   {(time.perf_counter() - start) * 1e3:6.2f} ms")
    warm_path = tmp / "warm.sqlite"
    cost_of(layers, arch, cache=CostCache(warm_path))
    warm_cache = CostCache(warm_path)
    t_disk = wall(lambda: cost_of(layers, arch, cache=CostCache(warm_path)), args.repeat)[0]
    t_warm = wall(lambda: cost_of(layers, arch, cache=warm_cache), args.repeat * 20)[0]
    print(f"  warm, cache file reopened             {t_disk * 1e3:6.2f} ms")
    print(f"  warm, same cache object               {t_warm * 1e3:6.3f} ms   (target < 2 ms)")
    if REFERENCE.is_file():
        with REFERENCE.open() as f:
            timeloop_s = statistics.median(float(r["mapper_wall_s"]) for r in csv.DictReader(f))
        per_layer = results[("random-pruned", True)][0] / len(layers)
        print(
            f"  recorded timeloop-mapper per layer    {timeloop_s:6.2f} s    -> the same search here is "
            f"{timeloop_s / per_layer:,.0f}x faster per layer"
        )


if __name__ == "__main__":
    main()
