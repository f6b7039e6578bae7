"""Per reference layer: Timeloop's cycles/energy, ours under its mapping, and our mapper's best.

python benchmarks/compare_reference.py [--reference tests/data/timeloop]
"""

from __future__ import annotations

import argparse
import csv
import time
from pathlib import Path

from codesign.arch import load_arch
from codesign.cost.analytic.exhaustive import best_mapping
from codesign.cost.analytic.nest import evaluate
from codesign.cost.analytic.timeloop_map import load_timeloop_map
from codesign.workload import Layer

KINDS = {"conv": "conv", "dwconv": "depthwise", "fc": "linear"}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument(
        "--reference", type=Path, default=Path(__file__).resolve().parents[1] / "tests" / "data" / "timeloop"
    )
    args = parser.parse_args()
    arch = load_arch()
    print(
        f"{'layer':<12} {'TL cycles':>9} {'TL uJ':>8} | {'same-map err':>12} | {'ours cycles':>11} {'ours uJ':>8} "
        f"{'E ratio':>7} {'ms':>6}"
    )
    fewer = lower = worst = 0
    rows = list(csv.DictReader((args.reference / "dev.csv").open()))
    for row in rows:
        sizes = {k: int(row[k]) for k in ("N", "C", "M", "P", "Q", "R", "S", "Wstride", "Hstride")}
        layer = Layer(kind=KINDS[row["kind"]], **sizes)
        tl_cycles, tl_energy = int(row["cycles"]), float(row["energy_pJ"])
        same = evaluate(layer, arch, load_timeloop_map(args.reference / "layers" / row["name"] / "map.yaml", layer))
        err = abs(same.energy_pj[0] / tl_energy - 1)
        assert int(same.cycles[0]) == tl_cycles
        worst = max(worst, err)
        start = time.perf_counter()
        _, cycles, energy = best_mapping(layer, arch)
        ms = (time.perf_counter() - start) * 1e3
        fewer += cycles < tl_cycles
        lower += cycles == tl_cycles and energy < tl_energy * 0.999
        print(
            f"{row['name']:<12} {tl_cycles:>9,} {tl_energy / 1e6:>8.2f} | {err:>12.1e} | {int(cycles):>11,} "
            f"{energy / 1e6:>8.2f} {energy / tl_energy:>7.3f} {ms:>6.0f}"
        )
    print(
        f"\n{len(rows)} layers: same-mapping worst relative energy error {worst:.1e}; our mapper finds fewer "
        f"cycles on {fewer}, less energy at equal cycles on {lower}, equal on {len(rows) - fewer - lower}"
    )


if __name__ == "__main__":
    main()
