"""How the ehvi sampler's own cost grows with the search: seconds per suggestion with 100, 500 and 1,000 finished
trials in the study (an 8-hour search reaches hundreds), beside the time share it may take.

    python benchmarks/bench_sampler_growth.py [--space search_spaces/rubric_cnn.yaml] [--sizes 100 500 1000]
                                              [--suggestions 3] [--trial-s 60]

Finished trials are fabricated through Optuna's API: designs drawn from the space as `codesign search` draws
them, their real energy and cycles (layer cache), a made-up but realistic accuracy (grows with log MACs, with
noise) and a duration of --trial-s seconds each; then the sampler suggests --suggestions more designs (screen
of its full pool, surrogate fit, EHVI) and the seconds of each are printed, with the parts: the pool, the fit
and scoring. The layer cache is warmed first (the designs' layers and one pool), so this measures the sampler,
not the cost model. Run it on an idle machine for absolute numbers; under load, compare the sizes to each other.
"""

from __future__ import annotations

import argparse
import datetime
import math
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import optuna
from optuna.trial import FrozenTrial, TrialState

from codesign.search import DataSettings, SearchSettings
from codesign.search.candidates import ParamDraw
from codesign.search.ehvi import STATUS, EHVISampler
from codesign.search.objective import DesignObjective
from codesign.search.prepared import PreparedSearch

ROOT = Path(__file__).resolve().parent.parent


class _Recording(ParamDraw):
    """A random draw that also records each parameter's Optuna distribution (a finished trial needs them)."""

    def __init__(self, rng: np.random.Generator):
        super().__init__(rng)
        self.distributions: dict[str, Any] = {}

    def suggest_categorical(self, name: str, choices: Any) -> Any:
        self.distributions[name] = optuna.distributions.CategoricalDistribution(list(choices))
        return super().suggest_categorical(name, choices)

    def suggest_int(self, name: str, low: int, high: int, *, step: int = 1, log: bool = False) -> int:
        self.distributions[name] = optuna.distributions.IntDistribution(low, high, step=step, log=log)
        return super().suggest_int(name, low, high, step=step, log=log)

    def suggest_float(
        self, name: str, low: float, high: float, *, step: float | None = None, log: bool = False
    ) -> float:
        self.distributions[name] = optuna.distributions.FloatDistribution(low, high, step=step, log=log)
        return super().suggest_float(name, low, high, step=step, log=log)


def fabricated(objective: DesignObjective, sampler: EHVISampler, count: int, trial_s: float, seed: int) -> list:
    """`count` finished trials of feasible designs drawn at random, with realistic values and durations."""
    rng = np.random.default_rng(seed)
    out: list[FrozenTrial] = []
    start = datetime.datetime(2026, 1, 1)
    while len(out) < count:
        draw = _Recording(rng)
        candidate = sampler.screen.candidate(draw)  # feasible and costed, as the search's screen sees designs
        if candidate is None:
            continue
        accuracy = min(0.55 + 0.03 * math.log2(candidate.workload.macs) + rng.normal(0, 0.03), 0.95)
        known = {
            "accuracy": accuracy,
            "energy": candidate.energy_pj,
            "latency": candidate.cycles,
            "area": candidate.area_mm2,
        }
        begun = start + datetime.timedelta(seconds=trial_s * len(out))
        out.append(
            FrozenTrial(
                number=len(out),
                state=TrialState.COMPLETE,
                value=None,
                values=[known[name] for name in objective.space.objectives],
                datetime_start=begun,
                datetime_complete=begun + datetime.timedelta(seconds=trial_s),
                params=dict(draw.params),
                distributions=draw.distributions,
                user_attrs={STATUS: "ok"},
                system_attrs={},
                intermediate_values={},
                trial_id=len(out),
            )
        )
    return out


def suggest_seconds(objective: DesignObjective, trials: list, suggestions: int, seed: int) -> list[dict]:
    """Seconds of each of `suggestions` suggestions (ask + the define-by-run draw) after `trials`."""
    sampler = EHVISampler(objective, seed=seed)
    parts = {"pool": 0.0, "score": 0.0}
    for part in parts:  # time the screen's two parts
        real = getattr(sampler, f"_{part}")

        def timed(*a, _real=real, _part=part, **k):  # type: ignore[no-untyped-def]
            begun = time.perf_counter()
            try:
                return _real(*a, **k)
            finally:
                parts[_part] += time.perf_counter() - begun

        setattr(sampler, f"_{part}", timed)
    directions = ["maximize" if n == "accuracy" else "minimize" for n in objective.space.objectives]
    study = optuna.create_study(directions=directions, sampler=sampler)
    study.add_trials(trials)
    sampler.choose(study, len(trials))  # warms the layer cache for this pool (the cost model is not measured)
    rows = []
    for _ in range(suggestions):
        parts.update(pool=0.0, score=0.0)
        start = time.perf_counter()
        trial = study.ask()
        objective.config(trial)
        seconds = time.perf_counter() - start
        info = sampler.choices.get(trial.number, {})
        rows.append({"seconds": seconds, "candidates": info.get("candidates"), "mode": info.get("mode"), **parts})
        study.tell(trial, state=TrialState.FAIL)  # not finished: the next suggestion sees the same history
    return rows


def main() -> None:
    """Print seconds per suggestion for each study size."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--space", default=str(ROOT / "search_spaces" / "rubric_cnn.yaml"))
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 500, 1000])
    parser.add_argument("--suggestions", type=int, default=3)
    parser.add_argument("--trial-s", type=float, default=60.0, help="duration of each fabricated trial")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    os.environ.setdefault("CODESIGN_CACHE", str(Path(tempfile.mkdtemp(prefix="bench-growth-")) / "cache.sqlite"))
    settings = SearchSettings(name="growth", space=args.space, data=DataSettings(dataset="fashion-mnist"))
    objective = DesignObjective(PreparedSearch.load(settings))
    helper = EHVISampler(objective, seed=args.seed)
    start = time.perf_counter()
    trials = fabricated(objective, helper, max(args.sizes), args.trial_s, args.seed)
    print(
        f"fabricated {len(trials)} finished trials in {time.perf_counter() - start:.1f} s "
        f"(space {Path(args.space).name}, each trial {args.trial_s:g} s)"
    )
    budget = min(max(helper.budget_share * args.trial_s, helper.min_budget_s), helper.max_budget_s)
    print(
        f"the screen's time share per trial: {budget:.2f} s ({helper.budget_share:.0%} of a trial, "
        f"within [{helper.min_budget_s}, {helper.max_budget_s}] s)"
    )
    print(
        f"{'finished':>8} {'s/suggestion':>12} {'max':>6} {'% of trial':>10} {'pool s':>7} {'fit+score s':>11} "
        f"{'candidates':>10}"
    )
    for size in args.sizes:
        rows = suggest_seconds(objective, trials[:size], args.suggestions, args.seed)
        seconds = [r["seconds"] for r in rows]
        print(
            f"{size:>8} {statistics.median(seconds):>12.3f} {max(seconds):>6.3f} "
            f"{statistics.median(seconds) / args.trial_s:>10.1%} {statistics.median(r['pool'] for r in rows):>7.3f} "
            f"{statistics.median(r['score'] for r in rows):>11.3f} "
            f"{statistics.median(r['candidates'] or 0 for r in rows):>10}"
        )


if __name__ == "__main__":
    main()
