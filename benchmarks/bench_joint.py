"""Joint hardware-network search vs the fixed-hardware search, same trials, same seed, same run.

    python benchmarks/bench_joint.py [--trials 24] [--seed 0] [--area-objective]

Both search the LeNet family on real Fashion-MNIST (6,000 training images, 1 epoch per trial); the joint
one also picks the accelerator's sizes within the base design's area (2.415 mm^2), optimising the same three
objectives (or, with --area-objective, area as a fourth). Prints how many of the fixed-hardware front's
designs some joint design dominates (accuracy, energy, latency), and the best of each.
"""

from __future__ import annotations

import argparse
import copy
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from codesign.pareto import as_minimization, pareto_front
from codesign.search import DataSettings, ResourceSettings, SearchSettings, TuneSettings
from codesign.search.driver import run_search

FIXED = {
    "dataset": "fashion-mnist",
    "network": {
        "depth": {"int": [1, 3]},
        "stage": {
            "channels": {"choice": [4, 8, 16, 32]},
            "kernel": {"choice": [3, 5]},
            "pool": "max",
            "batch_norm": {"choice": [True, False]},
        },
        "head_width": {"choice": [0, 32, 84]},
    },
    "sgd": {
        "lr": {"float": [0.01, 0.1], "log": True},
        "momentum": {"float": [0.8, 0.95]},
        "batch_size": {"choice": [64, 128]},
        "schedule": "onecycle",
        "epochs": 1,
    },
}
HARDWARE = {
    "pe_x": {"choice": [8, 16, 32]},
    "pe_y": {"choice": [8, 16, 32]},
    "weight_spad_depth": {"choice": [96, 192, 384]},
    "glb_depth": {"choice": [16384, 32768, 65536]},
    "glb_bandwidth": {"choice": [8, 16, 32]},
    "word_bits": {"choice": [8, 16]},
}
ACC_ENERGY_LATENCY = (("val_accuracy", "max"), ("energy_pj", "min"), ("cycles", "min"))


def dominated_by(front: pd.DataFrame, others: pd.DataFrame) -> list[bool]:
    """For each row of `front`: does some row of `others` dominate it on accuracy, energy and latency?"""
    mine, theirs = as_minimization(front, ACC_ENERGY_LATENCY), as_minimization(others, ACC_ENERGY_LATENCY)
    return [bool(np.any(np.all(theirs <= p, axis=1) & np.any(theirs < p, axis=1))) for p in mine]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--trials", type=int, default=24)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cpus-per-trial", type=float, default=None)
    parser.add_argument("--area-objective", action="store_true", help="the joint search also minimises area")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp())
    objectives = ["accuracy", "energy", "latency"] + (["area"] if args.area_objective else [])
    joint = copy.deepcopy(FIXED) | {
        "hardware": HARDWARE,
        "objectives": objectives,
        "constraints": {"max_area_mm2": 2.415},
    }
    fronts, trials = {}, {}
    for name, space in (("fixed", FIXED), ("joint", joint)):
        path = work / f"{name}.yaml"
        path.write_text(yaml.safe_dump(space))
        settings = SearchSettings(
            name=name,
            space=str(path),
            runs_dir=str(work),
            data=DataSettings(dataset="fashion-mnist", train_size=6000, val_size=2000),
            tune=TuneSettings(trials=args.trials, seed=args.seed),
            resources=ResourceSettings(dashboard=False, cpus_per_trial=args.cpus_per_trial),
        )
        trials[name] = run_search(settings)
        fronts[name] = pareto_front(trials[name], ACC_ENERGY_LATENCY)
    beaten = dominated_by(fronts["fixed"], trials["joint"][trials["joint"]["status"] == "ok"])
    cols = ["trial_id", "val_accuracy", "energy_mj", "cycles", "rubric_points"]
    hw_cols = ["pe_x", "pe_y", "weight_spad_depth", "glb_depth", "glb_bandwidth", "word_bits", "area_mm2"]
    print("\nfixed-hardware front (accuracy, energy, latency):")
    print(fronts["fixed"][cols].assign(dominated_by_joint=beaten).to_string(index=False))
    print("\njoint front (accuracy, energy, latency):")
    print(fronts["joint"][cols + hw_cols].to_string(index=False))
    for name, t in trials.items():
        ok = t[t["status"] == "ok"]
        print(
            f"{name}: {len(ok)} complete, {int((t['status'] == 'infeasible').sum())} infeasible; best accuracy "
            f"{ok['val_accuracy'].max():.4f}, lowest energy {ok['energy_mj'].min():.5f} mJ, fewest cycles "
            f"{ok['cycles'].min():,.0f}"
        )
    print(
        f"\n{sum(beaten)} of {len(beaten)} fixed-hardware front designs are dominated by a joint design "
        f"(same {args.trials} trials, seed {args.seed}; joint objectives: {', '.join(objectives)})"
    )


if __name__ == "__main__":
    main()
