"""How many candidates the ehvi sampler screens per trial from an empty layer cache, with and without costing
ahead, when trials take a given time: the sampler driven through Optuna (no Ray, no training).

    python benchmarks/bench_cold_screen.py [--space search_spaces/rubric_cnn.yaml] [--trial-s 60] [--trials 8]
                                          [--seed 5] [--no-cost-ahead]

Each trial draws through the search's own define-by-run objective (constraints, seed streams), its design is
costed, and a sleep of --trial-s seconds stands for its training (the accuracy is made up: it grows with the
log of the MACs), so the screen has what a search with trials that long would give it. Printed per trial: mode,
draws, candidates screened, of them scored at their lower bounds (not mapped when the pool filled), mapped by
the branch and bound, whether the pick is proven the pool's best, candidates left to costing ahead, draws
found drawn ahead, seconds. The costing thread runs at
this process's priority (in a search it runs at the trials' priority: here nothing else trains). Compare runs
in the same conditions: the counts depend on how much CPU the costing gets while the trials "train".
"""

from __future__ import annotations

import argparse
import math
import os
import tempfile
import time
from pathlib import Path

import optuna

from codesign.cost import CostCache
from codesign.network import CandidateSpec
from codesign.profiling import profile_workload
from codesign.search import DataSettings, SearchSettings, prefetch
from codesign.search.ehvi import EHVISampler
from codesign.search.objective import DesignObjective
from codesign.search.prepared import PreparedSearch
from codesign.spec_workload import spec_workload

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    """Run the trials and print what the screen saw in each."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--space", default=str(ROOT / "search_spaces" / "rubric_cnn.yaml"))
    parser.add_argument("--trial-s", type=float, default=60.0)
    parser.add_argument("--trials", type=int, default=8)
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--no-cost-ahead", action="store_true")
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    os.environ["CODESIGN_CACHE"] = str(Path(tempfile.mkdtemp(prefix="bench-cold-")) / "cache.sqlite")
    prefetch.THREAD_NICE = os.getpriority(os.PRIO_PROCESS, 0)
    settings = SearchSettings(name="cold", space=args.space, data=DataSettings(dataset="fashion-mnist"))
    objective = DesignObjective(PreparedSearch.load(settings))
    sampler = EHVISampler(objective, args.seed, cost_ahead=not args.no_cost_ahead)
    names = list(objective.space.objectives)
    cache = CostCache()

    def trial_values(trial: optuna.Trial) -> list[float]:
        config = objective.config(trial)
        if not config.feasible or config.spec is None:
            return [0.0 if n == "accuracy" else 1e30 for n in names]
        spec = CandidateSpec.from_dict(config.spec.to_dict())
        arch, area = sampler.screen.arch(config.hardware)
        net = profile_workload(spec_workload(spec), arch, cache=cache)
        time.sleep(args.trial_s)
        known = {
            "accuracy": min(0.5 + 0.03 * math.log2(net.workload.macs), 0.99),
            "energy": net.energy_pj,
            "latency": net.cycles,
            "area": area,
        }
        return [known[n] for n in names]

    study = optuna.create_study(
        directions=["maximize" if n == "accuracy" else "minimize" for n in names], sampler=sampler
    )
    study.optimize(trial_values, n_trials=args.trials)
    sampler.close()
    print(f"{Path(args.space).name}, trials of {args.trial_s:g} s, costing ahead {not args.no_cost_ahead}")
    print(
        f"{'trial':>5} {'mode':>8} {'drawn':>6} {'screened':>8} {'bounded':>8} {'mapped':>6} {'proven':>6} "
        f"{'deferred':>8} {'ahead':>6} {'seconds':>8}"
    )
    for number in sorted(sampler.choices):
        c = sampler.choices[number]
        print(
            f"{number:>5} {c['mode']:>8} {c.get('drawn', 0):>6} {c.get('candidates', 0):>8} "
            f"{c.get('bounded', ''):>8} {c.get('mapped', ''):>6} {c.get('proven', ''):>6} "
            f"{c.get('deferred', 0):>8} {c.get('drawn_ahead', 0):>6} {c['seconds']:>8.2f}"
        )


if __name__ == "__main__":
    main()
