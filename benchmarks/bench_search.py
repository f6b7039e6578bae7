"""Search quality where users search: the default sampler (ehvi) against random sampling given twice the trials,
and against TPE and NSGA-II given the same trials, on a rubric_cnn-like space and on the joint space, each seed
starting from an empty layer cache.

    python benchmarks/bench_search.py [--spaces cnn joint] [--seeds 0 1 2 3 4] [--trials 12]
                                      [--train-size 1500] [--val-size 1000] [--out results.csv]

Per space and seed, four searches run one after the other in this process (Optuna's ask and tell, no Ray):
ehvi for N trials, random for 2N, TPE and NSGA-II for N; every trial draws through the search's own
define-by-run objective (constraints, seed streams) and a feasible design trains for real (one epoch of
Fashion-MNIST on --train-size images, one core, the joint space's 8-bit designs measured quantised, as
`codesign search` does). A design drawn again by another sampler (same spec, SGD settings and seed, same
accelerator) is not trained twice: its result is reused within the run. ehvi costs ahead on the other core while
a design trains, as in `codesign search`; each seed gets an empty layer cache (a new CODESIGN_CACHE file).

Hypervolume (not capped by the space: random gets twice the trials): per space and seed, the complete trials of
all four searches are pooled, each objective made minimised (error, log10 energy, cycles, area) and scaled to
[0, 1] over the pool, and each search's front measured against the pool's worst point. Printed per seed: each
search's hypervolume, its complete trials, the sampler's own seconds per trial (ask plus the define-by-run draw:
ehvi's screen) beside the training seconds per trained trial, and ehvi's candidates per guided trial; then per
space on how many seeds ehvi after N reached random after 2N and beat TPE and NSGA-II after N.
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import pandas as pd
import torch

from codesign.cost import CostCache
from codesign.data import Dataset
from codesign.hardware import derive_arch
from codesign.pareto import hypervolume, non_dominated
from codesign.profiling import profile_workload
from codesign.quantize import quantized_accuracy
from codesign.search import DataSettings, SearchSettings, TuneSettings, prefetch
from codesign.search.acquisition import minimised
from codesign.search.ehvi import STATUS
from codesign.search.objective import DesignObjective
from codesign.search.prepared import PreparedSearch
from codesign.search.samplers import make_sampler
from codesign.search.shared import load_split
from codesign.status import Status
from codesign.train import build_model, train
from codesign.workload import trace

HERE = Path(__file__).resolve().parent
SPACES = {"cnn": HERE / "bench_space_cnn.yaml", "joint": HERE / "bench_space_joint.yaml"}


@dataclass
class Trained:
    """A design's measured accuracy and how long it took to train."""

    accuracy: float
    seconds: float
    ok: bool


class Trainings:
    """Training results shared by every search of one benchmark run: a design trains once."""

    def __init__(self, data: Dataset):
        self.data = data
        self.results: dict[tuple, Trained] = {}
        self.reused = 0

    def of(self, config: Any, word_bits: int) -> Trained:
        """The design's validation accuracy (quantised for a narrow-word accelerator), trained if new."""
        key = (config.spec, config.hardware)
        found = self.results.get(key)
        if found is not None:
            self.reused += 1
            return found
        start = time.perf_counter()
        model = build_model(config.spec)
        result = train(model, self.data, config.spec.sgd)
        accuracy = result.val_accuracy
        if word_bits < 16 and result.status is Status.OK:
            accuracy = quantized_accuracy(model, self.data, self.data.val, word_bits)
        ok = result.status is Status.OK and math.isfinite(accuracy)
        found = self.results[key] = Trained(accuracy, time.perf_counter() - start, ok)
        return found


def one_search(space: Path, sampler_name: str, seed: int, trials: int, trainings: Trainings) -> dict[str, Any]:
    """One search of `trials` trials: each trial's objectives and status, and the sampler's seconds."""
    settings = SearchSettings(
        name=f"bench-{sampler_name}-{seed}",
        space=str(space),
        data=DataSettings(dataset="fashion-mnist"),
        tune=TuneSettings(seed=seed, sampler=sampler_name),
    )
    objective = DesignObjective(PreparedSearch.load(settings))
    names = list(objective.space.objectives)
    sampler = make_sampler(sampler_name, seed, objective)
    study = optuna.create_study(
        directions=["maximize" if n == "accuracy" else "minimize" for n in names], sampler=sampler
    )
    cache = CostCache()
    rows, sampler_s, train_s = [], [], []
    for _ in range(trials):
        start = time.perf_counter()
        trial = study.ask()
        config = objective.config(trial)  # the sampler's choice is made in ask; the draw is the space's code
        sampler_s.append(time.perf_counter() - start)
        if not config.feasible or config.spec is None:
            trial.set_user_attr(STATUS, Status.INFEASIBLE.value)
            study.tell(trial, [0.0 if n == "accuracy" else 1e30 for n in names])
            rows.append({"status": "infeasible"})
            continue
        arch = objective.base_arch if config.hardware is None else derive_arch(objective.base_arch, config.hardware)
        net = profile_workload(trace(config.spec.build(), (1, *config.spec.input_shape)), arch, cache=cache)
        done = trainings.of(config, arch.word_bits)
        train_s.append(done.seconds)
        known = {
            "accuracy": done.accuracy if done.ok else 0.0,
            "energy": net.energy_pj,
            "latency": net.cycles,
            "area": config.area_mm2 or 0.0,
        }
        status = Status.OK if done.ok else Status.DIVERGED
        trial.set_user_attr(STATUS, status.value)
        study.tell(trial, [known[n] for n in names])
        rows.append({"status": status.value, **{n: known[n] for n in names}})
    choices = getattr(sampler, "choices", {})
    guided = [c["candidates"] for c in choices.values() if c.get("mode") == "ehvi"]
    close = getattr(sampler, "close", None)
    if close is not None:
        close()
    return {"trials": pd.DataFrame(rows), "names": names, "sampler_s": sampler_s, "train_s": train_s, "guided": guided}


def pooled_hypervolumes(runs: dict[str, dict[str, Any]]) -> dict[str, float]:
    """Each run's front hypervolume in the pooled, normalised, minimised space; reference: the pool's worst."""
    names = next(iter(runs.values()))["names"]

    def points(run: dict[str, Any]) -> np.ndarray:
        ok = run["trials"][run["trials"]["status"] == "ok"] if len(run["trials"]) else run["trials"]
        return np.array([[minimised(n, float(v)) for n, v in zip(names, row)] for row in ok[names].to_numpy()])

    sets = {k: points(r) for k, r in runs.items()}
    pooled = np.vstack([p for p in sets.values() if len(p)])
    low, high = pooled.min(axis=0), pooled.max(axis=0)
    span = np.where(high - low > 0, high - low, 1.0)
    out = {}
    for key, p in sets.items():
        if not len(p):
            out[key] = 0.0
            continue
        scaled = (p - low) / span
        out[key] = hypervolume(scaled[non_dominated(scaled)], np.ones(len(names)))
    return out


def seed_rows(space: str, seed: int, trials: int, trainings: Trainings) -> list[dict[str, Any]]:
    """The four searches of one seed on an empty layer cache, one row each."""
    folder = Path(tempfile.mkdtemp(prefix=f"bench-search-{space}-{seed}-"))
    os.environ["CODESIGN_CACHE"] = str(folder / "layer-cost.sqlite")
    plan = {
        "ehvi": ("ehvi", trials),
        "random-2N": ("random", 2 * trials),
        "tpe": ("tpe", trials),
        "nsga2": ("nsga2", trials),
    }
    runs = {key: one_search(SPACES[space], name, seed, n, trainings) for key, (name, n) in plan.items()}
    volumes = pooled_hypervolumes(runs)
    rows = []
    for key, run in runs.items():
        t = run["trials"]
        rows.append(
            {
                "space": space,
                "seed": seed,
                "search": key,
                "trials": len(t),
                "complete": int((t["status"] == "ok").sum()) if len(t) else 0,
                "hypervolume": volumes[key],
                "sampler_s_mean": statistics.fmean(run["sampler_s"]),
                "sampler_s_max": max(run["sampler_s"]),
                "train_s_mean": statistics.fmean(run["train_s"]) if run["train_s"] else float("nan"),
                "guided_candidates_min": min(run["guided"]) if run["guided"] else None,
                "guided_candidates_mean": statistics.fmean(run["guided"]) if run["guided"] else None,
            }
        )
    return rows


def summary(table: pd.DataFrame) -> str:
    """Per space: ehvi after N against random after 2N and TPE, NSGA-II after N, over the seeds."""
    lines = []
    for space, part in table.groupby("space"):
        wide = part.pivot(index="seed", columns="search", values="hypervolume")
        seeds = len(wide)
        for other, what in (("random-2N", ">="), ("tpe", ">"), ("nsga2", ">")):
            if other not in wide or "ehvi" not in wide:
                continue
            wins = int((wide["ehvi"] >= wide[other]).sum() if what == ">=" else (wide["ehvi"] > wide[other]).sum())
            ratio = (wide["ehvi"] / wide[other].replace(0.0, np.nan)).dropna()
            lines.append(
                f"{space}: ehvi(N) {what} {other} on {wins} of {seeds} seeds; hypervolume ratio "
                f"{ratio.mean():.2f} (min {ratio.min():.2f}, max {ratio.max():.2f})"
            )
        per = part.groupby("search")[["sampler_s_mean", "sampler_s_max", "train_s_mean"]].mean()
        for search, row in per.iterrows():
            lines.append(
                f"{space}: {search:>9}: sampler {row['sampler_s_mean']:.2f} s per trial (max "
                f"{row['sampler_s_max']:.2f} s) beside {row['train_s_mean']:.1f} s of training per trained trial"
            )
        guided = part[part["search"] == "ehvi"]["guided_candidates_min"].dropna()
        if len(guided):
            lines.append(
                f"{space}: ehvi's fewest candidates screened in a guided trial, per seed: "
                + ", ".join(str(int(v)) for v in guided)
            )
    return "\n".join(lines)


def main() -> None:
    """Run the searches and print the per-seed table and the summary."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--spaces", nargs="+", choices=sorted(SPACES), default=["cnn", "joint"])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--trials", type=int, default=12, help="N: trials of ehvi, TPE and NSGA-II (random: 2N)")
    parser.add_argument("--train-size", type=int, default=1500)
    parser.add_argument("--val-size", type=int, default=1000)
    parser.add_argument("--out", type=Path, help="also write the per-seed table as CSV")
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    torch.set_num_threads(1)  # one core trains; ehvi costs ahead on the other
    # trainings run here, not in Ray's workers (nice 15): ehvi's costing ahead gets their priority, as in a search
    prefetch.THREAD_NICE = os.getpriority(os.PRIO_PROCESS, 0)
    data = load_split(DataSettings(dataset="fashion-mnist", train_size=args.train_size, val_size=args.val_size))
    trainings = Trainings(data)
    rows: list[dict[str, Any]] = []
    start = time.perf_counter()
    for space in args.spaces:
        for seed in args.seeds:
            rows += seed_rows(space, seed, args.trials, trainings)
            table = pd.DataFrame(rows)
            if args.out:
                table.to_csv(args.out, index=False)
            print(
                table[(table["seed"] == seed) & (table["space"] == space)].to_string(
                    index=False, float_format=lambda v: f"{v:.3f}"
                ),
                flush=True,
            )
    table = pd.DataFrame(rows)
    print(
        f"\n{len(trainings.results)} designs trained, {trainings.reused} results reused, "
        f"{time.perf_counter() - start:.0f} s in all",
        flush=True,
    )
    print(summary(table), flush=True)


if __name__ == "__main__":
    main()
