"""Search quality per trial and per hour, through `codesign search` itself (Ray Tune): hypervolume of the front
that each sampler finds in the same space, after the same number of trials and after the same wall-clock time,
over several seeds (same run). benchmarks/bench_search.py is the uncapped comparison (ehvi after N trials
against random after 2N, on the spaces users search, from an empty cache); this one compares at equal
wall-clock and with multi-fidelity.

    python benchmarks/bench_search_wallclock.py [--trials 30] [--seeds 0 1 2 3 4] [--samplers ehvi random nsga2 tpe]
                                      [--train-size 2000] [--val-size 1000] [--space FILE] [--out results.csv]

`--samplers ehvi ehvi+mf --space benchmarks/bench_space_epochs.yaml` compares multi-fidelity at equal
wall-clock on a space whose designs train for several epochs.

Samplers run one after the other within each seed (so that a shared machine's load falls on all of them). Per
seed, every run's complete trials are scaled together (error, log10 energy, log10 cycles to [0, 1] over all
runs of that seed; reference point 1.1) and each run's front measured in that space:
  - same trials: the whole run;
  - same wall-clock: the trials each run had finished when the fastest run of that seed ended (time from each
    run's first trial start; Ray's start-up is left out, as it is the same for all).
In that scaled space no front can measure more than 1.1**3 = 1.331 (one design best in every objective), so a
sampler's ratio to random is at most 1.331 / random's hypervolume; the summary prints that bound.
Reported: per seed and sampler the two hypervolumes, complete/infeasible trials, best accuracy, the sampler's
own seconds per trial (sampler.csv: Optuna's ask with the define-by-run code) beside the training seconds;
then each sampler's hypervolume ratio to random (mean +- standard deviation, min-max over seeds) and on how
many seeds ehvi beat TPE. Targets: ehvi / random >= 1.5 on average, ehvi > TPE on most seeds; the sampler's
time small beside training. Real Fashion-MNIST training (1 epoch per trial) on this machine's CPUs.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from codesign.pareto import eligible, hypervolume
from codesign.runs import Run
from codesign.search import DataSettings, ResourceSettings, SearchSettings, TuneSettings
from codesign.search.driver import run_search

SPACE = Path(__file__).resolve().parent / "bench_space.yaml"
IDEAL = 1.1**3  # the hypervolume of a front holding one design best in every objective (scaled space)


def normalised_front_volume(runs: dict[str, pd.DataFrame]) -> dict[str, float]:
    """Hypervolume per run in a space shared by all runs: error, log energy, log cycles scaled to [0, 1]."""
    frames = {k: eligible(v) for k, v in runs.items()}
    pooled = pd.concat(frames.values())

    def raw(df: pd.DataFrame) -> np.ndarray:
        return np.stack([1 - df["val_accuracy"], np.log10(df["energy_pj"]), np.log10(df["cycles"])], axis=1).astype(
            float
        )

    lo, hi = raw(pooled).min(axis=0), raw(pooled).max(axis=0)
    span = np.where(hi - lo > 0, hi - lo, 1.0)
    return {k: hypervolume((raw(df) - lo) / span, np.full(3, 1.1)) if len(df) else 0.0 for k, df in frames.items()}


def trial_end_times(run: Run) -> dict[str, float]:
    """Seconds from the run's first trial start to each trial's last report (Ray's result.json files)."""
    ends, starts = {}, []
    for path in Path(run.experiment).glob("*/result.json"):  # the default storage: the run folder
        lines = [ln for ln in path.read_text().splitlines() if ln.strip()]
        if not lines:
            continue
        last = json.loads(lines[-1])
        ends[str(last["trial_id"])] = float(last["timestamp"])
        starts.append(float(last["timestamp"]) - float(last.get("time_total_s", 0.0)))
    origin = min(starts) if starts else 0.0
    return {trial: end - origin for trial, end in ends.items()}


def one_run(config: str, seed: int, args: argparse.Namespace, runs_dir: Path) -> dict:
    """Run one search (`config`: a sampler, `+mf` for --multi-fidelity); its trials, their end times and the
    sampler's seconds per suggestion."""
    sampler, _, extra = config.partition("+")
    settings = SearchSettings(
        name=f"{config}-{seed}",
        space=str(args.space),
        runs_dir=str(runs_dir),
        data=DataSettings(dataset="fashion-mnist", train_size=args.train_size, val_size=args.val_size),
        tune=TuneSettings(
            trials=args.trials, sampler=sampler, seed=seed, scheduler="multi-fidelity" if extra == "mf" else "none"
        ),
        resources=ResourceSettings(dashboard=False),
    )
    start = time.perf_counter()
    trials = run_search(settings)
    run = Run(settings.run_dir)
    ends = trial_end_times(run)
    trials["ended_s"] = trials["trial_id"].map(ends)
    log = pd.read_csv(run.sampler_file) if run.sampler_file.is_file() else pd.DataFrame({"seconds": []})
    return {"trials": trials, "sampler_s": log["seconds"], "wall_s": time.perf_counter() - start}


def seed_rows(seed: int, results: dict[str, dict]) -> list[dict]:
    """One row per sampler of a seed: hypervolume after all trials and at the common wall-clock."""
    same_trials = normalised_front_volume({k: r["trials"] for k, r in results.items()})
    horizon = min(r["trials"]["ended_s"].max() for r in results.values())
    by_time = {k: r["trials"][r["trials"]["ended_s"] <= horizon] for k, r in results.items()}
    same_time = normalised_front_volume(by_time)
    rows = []
    for sampler, r in results.items():
        trials = r["trials"]
        spent = trials["trial_seconds"].fillna(0)
        trained = trials[trials["status"] != "infeasible"]
        rows.append(
            {
                "seed": seed,
                "sampler": sampler,
                "hv_trials": same_trials[sampler],
                "hv_time": same_time[sampler],
                "horizon_s": horizon,
                "complete": int((trials["status"] == "ok").sum()),
                "complete_by_horizon": int((by_time[sampler]["status"] == "ok").sum()),
                "infeasible": int((trials["status"] == "infeasible").sum()),
                "infeasible_share": spent[trials["status"] == "infeasible"].sum() / spent.sum() if spent.sum() else 0,
                "best_val_accuracy": eligible(trials)["val_accuracy"].max(),
                "sampler_s_mean": float(r["sampler_s"].mean()) if len(r["sampler_s"]) else float("nan"),
                "sampler_s_max": float(r["sampler_s"].max()) if len(r["sampler_s"]) else float("nan"),
                "train_s_mean": float(trained["train_seconds"].mean()),
                "run_s": r["trials"]["ended_s"].max(),
            }
        )
    return rows


def summary(table: pd.DataFrame, baseline: str = "random") -> str:
    """Hypervolume ratios to the baseline (mean +- std, min-max over seeds) and ehvi-vs-TPE wins."""
    lines = []
    for column, what in (("hv_trials", "same trials"), ("hv_time", "same wall-clock")):
        wide = table.pivot(index="seed", columns="sampler", values=column)
        for sampler in wide.columns:
            if sampler == baseline or baseline not in wide:
                continue
            ratio = wide[sampler] / wide[baseline]
            lines.append(
                f"{what:>15}: {sampler:>6} / {baseline} = {ratio.mean():.2f} +- {ratio.std(ddof=1):.2f} "
                f"(min {ratio.min():.2f}, max {ratio.max():.2f}, {len(ratio)} seeds)"
            )
        if "ehvi" in wide and "tpe" in wide:
            wins = int((wide["ehvi"] > wide["tpe"]).sum())
            lines.append(f"{what:>15}: ehvi > tpe on {wins} of {len(wide)} seeds")
        if baseline in wide:  # one design best in all three objectives would measure 1.1 ** 3
            bound = IDEAL / wide[baseline]
            lines.append(
                f"{what:>15}: no front can beat {baseline} by more than {bound.mean():.2f}x on average here "
                f"(ideal {IDEAL:.3f} / {baseline}'s); share of that ideal: "
                + ", ".join(f"{s} {(wide[s] / IDEAL).mean():.0%}" for s in wide.columns)
            )
    per = table.groupby("sampler")[["sampler_s_mean", "sampler_s_max", "train_s_mean"]].mean()
    for sampler, row in per.iterrows():
        lines.append(
            f"{sampler:>6}: sampler {row['sampler_s_mean']:.2f} s per trial (max {row['sampler_s_max']:.2f} s) "
            f"beside {row['train_s_mean']:.1f} s of training per trained trial"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--trials", type=int, default=30)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument(
        "--samplers",
        nargs="+",
        default=["ehvi", "random", "nsga2", "tpe"],
        help="samplers to compare; SAMPLER+mf adds --multi-fidelity (needs a space of several epochs)",
    )
    parser.add_argument("--space", type=Path, default=SPACE)
    parser.add_argument("--train-size", type=int, default=2000)
    parser.add_argument("--val-size", type=int, default=1000)
    parser.add_argument("--out", type=Path, help="also write the per-seed table as CSV")
    args = parser.parse_args()
    runs_dir = Path(tempfile.mkdtemp(prefix="bench_search_"))
    print(f"runs under {runs_dir}", flush=True)
    rows = []
    for seed in args.seeds:
        results = {sampler: one_run(sampler, seed, args, runs_dir) for sampler in args.samplers}
        rows += seed_rows(seed, results)
        table = pd.DataFrame(rows)
        if args.out:
            table.to_csv(args.out, index=False)
        print(table.to_string(index=False, float_format=lambda v: f"{v:.4f}"), flush=True)
    table = pd.DataFrame(rows)
    print("\n" + summary(table), flush=True)


if __name__ == "__main__":
    main()
