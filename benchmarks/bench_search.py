"""Search quality and waste: hypervolume of the front after the same number of trials, Optuna's
multi-objective TPE vs random sampling (same seeds, same run), and the share of trial time spent on
infeasible designs (rejected before training).

    python benchmarks/bench_search.py [--trials 30] [--seeds 0 1]

Targets: hypervolume ratio TPE / random >= 1.2; infeasible share < 1 %. Real Fashion-MNIST training
(6,000 images, 1 epoch per trial) on this machine's CPUs.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from codesign.pareto import eligible, hypervolume
from codesign.search import DataSettings, ResourceSettings, SearchSettings, TuneSettings
from codesign.search.driver import run_search

SPACE = Path(__file__).resolve().parent / "bench_space.yaml"


def normalised_front_volume(runs: dict[str, pd.DataFrame]) -> dict[str, float]:
    """Hypervolume per run in a space shared by all runs: error, log energy, log cycles scaled to [0, 1]."""
    frames = {k: eligible(v) for k, v in runs.items()}
    pooled = pd.concat(frames.values())
    cols = {"error": 1 - pooled["val_accuracy"], "energy": np.log10(pooled["energy_pj"]),
            "cycles": np.log10(pooled["cycles"])}
    lo = {k: v.min() for k, v in cols.items()}
    hi = {k: v.max() for k, v in cols.items()}

    def points(df):
        raw = np.stack([1 - df["val_accuracy"], np.log10(df["energy_pj"]), np.log10(df["cycles"])], axis=1)
        span = np.array([hi[k] - lo[k] or 1.0 for k in cols])
        return (raw - np.array([lo[k] for k in cols])) / span

    return {k: hypervolume(points(df), np.full(3, 1.1)) if len(df) else 0.0 for k, df in frames.items()}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--trials", type=int, default=30)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--train-size", type=int, default=6000)
    args = parser.parse_args()
    runs_dir = Path(tempfile.mkdtemp())
    results = []
    for seed in args.seeds:
        runs = {}
        for sampler in ("tpe", "random"):
            settings = SearchSettings(
                name=f"{sampler}-{seed}", space=str(SPACE), runs_dir=str(runs_dir),
                data=DataSettings(dataset="fashion-mnist", train_size=args.train_size, val_size=2000),
                tune=TuneSettings(trials=args.trials, sampler=sampler, seed=seed),
                resources=ResourceSettings(dashboard=False))
            runs[sampler] = run_search(settings)
        volumes = normalised_front_volume(runs)
        for sampler, trials in runs.items():
            spent = trials["trial_seconds"].fillna(0)
            infeasible = spent[trials["status"] == "infeasible"].sum()
            results.append({"seed": seed, "sampler": sampler, "hypervolume": volumes[sampler],
                            "complete": int((trials["status"] == "ok").sum()),
                            "infeasible": int((trials["status"] == "infeasible").sum()),
                            "infeasible_share": infeasible / spent.sum() if spent.sum() else 0.0,
                            "best_val_accuracy": eligible(trials)["val_accuracy"].max()})
    table = pd.DataFrame(results)
    print(table.to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    tpe = table[table.sampler == "tpe"]["hypervolume"].mean()
    rnd = table[table.sampler == "random"]["hypervolume"].mean()
    print(f"\nhypervolume TPE / random = {tpe / rnd:.2f} (target >= 1.2), "
          f"infeasible share of trial time: TPE {table[table.sampler == 'tpe']['infeasible_share'].mean():.3%}, "
          f"random {table[table.sampler == 'random']['infeasible_share'].mean():.3%} (target < 1 %)")


if __name__ == "__main__":
    main()
