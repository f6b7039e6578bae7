"""The `ehvi` sampler: screen many candidate designs per trial, train the one that can push the front out most.

Energy, cycles (and a joint search's area) of a design are known before training, from the cost model in
milliseconds; only accuracy costs a training run. So for each trial the sampler draws a pool of candidates
from the space (half at random, half mutations of designs on the current front), drops the infeasible ones,
costs the rest, predicts their accuracy with a Gaussian process fitted to the trials so far, and picks the
candidate with the largest expected hypervolume improvement over the front of complete trials
(codesign/search/acquisition.py). A candidate that a complete trial matches or beats in every known
objective, and whose optimistic accuracy (mean + 3 std of the prediction, at most 100 %) does not exceed
that trial's, cannot improve the front and is never trained; when nothing in the pool can, the trial is
vetoed (reported infeasible, not trained). The first trials, before the surrogate has data, train feasible
designs drawn at random.

Designs training at the same time (`--concurrency`) are never drawn again and count in the front at their
predicted accuracy, so concurrent trials spread out.

It is an Optuna sampler: the choice is made in `before_trial` and served parameter by parameter through
`sample_independent`, so the search's define-by-run function draws exactly the chosen design and Optuna's
study records it like any other (`--resume` and the report work as with TPE). Trials enqueued with fixed
parameters (seed designs) are left alone. How long screening may take per trial is a share of a typical
trial's duration (`budget_share`, within [min_budget_s, max_budget_s]); every choice is kept in `choices`.

Filling the pool maps nothing: a candidate whose layers are not in the layer cache is scored at lower bounds
on its energy and cycles (codesign/cost/bounds.py, microseconds), which gives an upper bound on its EHVI. Then
candidates are visited best bound first and mapped (grader-exact) only while one could still beat the best
mapped candidate: branch and bound, so the pick is the whole pool's exact best in a few mappings, and a cold
cache no longer shrinks the pool (sampler.csv: `bounded`, `mapped`, `proven`). With `cost_ahead` (as
`codesign search` runs it), a background thread draws and costs the next trials' pools while trials train
(codesign/search/prefetch.py) and takes the candidates left at their bounds. A startup trial takes the first
feasible design drawn, so it draws no further.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import statistics
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import optuna
from optuna.samplers import BaseSampler
from optuna.trial import FixedTrial, FrozenTrial, TrialState

from codesign.errors import ConfigError
from codesign.hardware import HardwareParams
from codesign.network import CandidateSpec
from codesign.pareto import non_dominated
from codesign.search.acquisition import cannot_improve, front_cells, improvement_in_cells, minimised
from codesign.search.candidates import CandidateScreen, ParamDraw, ScreenedDesign
from codesign.search.objective import DesignObjective
from codesign.search.prefetch import UNKNOWN, CostAhead, stream_state
from codesign.search.seeds import SEED_DESIGN
from codesign.search.surrogate import AccuracyModel, Features, design_features
from codesign.status import Status

# user attributes the Tune searcher writes on each finished trial (codesign/search/searcher.py)
STATUS, EPOCHS_DONE, PLANNED_EPOCHS = "status", "epochs_done", "planned_epochs"
REFERENCE = 1.1  # the reference point, in objectives scaled to [0, 1] over what is known (as bench_search does)
_MIN_SPAN = {"accuracy": 0.02}  # scaled objectives never divide by less (log10 units for the others)
_DEFERRED = 200  # candidates left at their bounds handed to costing ahead per trial, at most


@dataclass
class _Trained:
    """A finished trial as the sampler sees it."""

    key: tuple  # the design: (spec, hardware)
    params: dict[str, Any]
    features: Features
    values: np.ndarray  # objectives, minimised: 1 - accuracy, log10 of the others
    accuracy: float  # what the surrogate learns (a diverged trial: chance)
    status: Status


@dataclass
class _Scores:
    """A pool's scores, and what scoring one candidate again (once mapped) needs: the scale and the front."""

    names: tuple[str, ...]
    order: list[int]  # objective columns, the predicted one first
    low: np.ndarray
    span: np.ndarray
    done: np.ndarray  # complete trials, scaled
    cells: tuple[np.ndarray, np.ndarray, np.ndarray]  # the front's cells (codesign/search/acquisition.py)
    mean: np.ndarray  # predicted accuracy
    std: np.ndarray
    m: np.ndarray  # the predicted objective, scaled: mean, std and optimistic floor
    s: np.ndarray
    floor: np.ndarray
    ehvi: np.ndarray
    pruned: np.ndarray
    predicted: bool  # whether column 0 is accuracy (else it is a known objective)

    def score(self, rows: np.ndarray, candidates: list[ScreenedDesign]) -> None:
        """Score the pool's rows `rows`, holding `candidates` (EHVI and the cannot-improve mask) at their known
        values."""
        columns = self.order[1:] if self.predicted else self.order
        known = np.array([[minimised(self.names[i], _known(c, self.names[i])) for i in columns] for c in candidates])
        known = known.reshape(len(rows), len(columns))
        if not self.predicted:  # every objective known: column 0 is the candidate's own, exactly
            self.m[rows] = self.floor[rows] = (known[:, 0] - self.low[0]) / self.span[0]
            known = known[:, 1:]
        scaled = (known - self.low[1:]) / self.span[1:]
        ehvi = improvement_in_cells(self.cells, scaled, self.m[rows], self.s[rows], self.floor[rows])
        pruned = cannot_improve(self.done, scaled, self.floor[rows])
        self.ehvi[rows] = np.where(pruned, 0.0, ehvi)
        self.pruned[rows] = pruned


class EHVISampler(BaseSampler):
    """Cheap-objective-aware Optuna sampler: expected hypervolume improvement over screened candidates."""

    def __init__(
        self,
        objective: DesignObjective,
        seed: int = 0,
        pool_size: int = 600,
        startup: int = 4,
        optimism: float = 3.0,
        budget_share: float = 0.1,
        min_budget_s: float = 0.5,
        max_budget_s: float = 5.0,
        cost_ahead: bool = False,
        ahead: int = 2,
    ):
        self.objective, self.seed = objective, seed
        self.pool_size, self.startup, self.optimism = pool_size, startup, optimism
        self.budget_share, self.min_budget_s, self.max_budget_s = budget_share, min_budget_s, max_budget_s
        self.objectives = tuple(objective.space.objectives)
        self.screen = CandidateScreen(objective)
        self.fallback = optuna.samplers.RandomSampler(seed=seed)
        self.choices: dict[int, dict[str, Any]] = {}  # trial number -> what was decided, and how long it took
        self._serving: dict[int, dict[str, Any]] = {}
        self._vetoes: dict[int, str] = {}
        self._history: dict[int, _Trained | None] = {}
        self.ahead = ahead  # trials whose pools are drawn ahead
        self.map_share = 0.5  # the share of the budget kept for mapping the pool's most promising candidates
        self._reused = 0
        self.cost_ahead: CostAhead | None = None
        if cost_ahead:
            self.cost_ahead = CostAhead(self)
            self.cost_ahead.plan(self._targets(-1, 0), [])

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_history"], state["choices"] = {}, {}  # rebuilt from the study, logged already
        state["cost_ahead"] = self.cost_ahead is not None  # a thread is not pickled: a restored sampler starts one
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        if "design" in state:  # pickled by codesign 0.2 (a resumed search), which called the objective so
            state["objective"] = state.pop("design")
        state.setdefault("ahead", 2)
        state.setdefault("map_share", 0.5)
        cost_ahead = bool(state.pop("cost_ahead", False))
        self.__dict__.update(state)
        self.cost_ahead = CostAhead(self) if cost_ahead else None

    def close(self) -> None:
        """Stop costing ahead (a search that ended: its thread would otherwise finish its current plan)."""
        if self.cost_ahead is not None:
            self.cost_ahead.stop()

    # -- Optuna's sampler interface ------------------------------------------------------------------------
    def infer_relative_search_space(self, study: Any, trial: FrozenTrial) -> dict[str, Any]:
        """Nothing is sampled jointly by Optuna: the whole design is chosen in before_trial."""
        return {}

    def sample_relative(self, study: Any, trial: FrozenTrial, search_space: dict[str, Any]) -> dict[str, Any]:
        """Nothing (see infer_relative_search_space)."""
        return {}

    def sample_independent(self, study: Any, trial: FrozenTrial, param_name: str, param_distribution: Any) -> Any:
        """The chosen candidate's value of a parameter; at random for a trial nothing was chosen for."""
        chosen = self._serving.get(trial.number)
        if chosen is not None and param_name in chosen:
            return chosen[param_name]
        return self.fallback.sample_independent(study, trial, param_name, param_distribution)

    def before_trial(self, study: Any, trial: FrozenTrial) -> None:
        """Choose the design this trial will train (seed designs and other enqueued trials excepted)."""
        if trial.system_attrs.get("fixed_params") or SEED_DESIGN in trial.user_attrs:
            return
        start = time.perf_counter()
        with self.cost_ahead.paused() if self.cost_ahead is not None else contextlib.nullcontext():
            info = self.choose(study, trial.number, start)
        info["seconds"] = time.perf_counter() - start
        self.choices[trial.number] = info

    def after_trial(self, study: Any, trial: FrozenTrial, state: TrialState, values: Any) -> None:
        """Forget what was served to a finished trial."""
        self._serving.pop(trial.number, None)
        self._vetoes.pop(trial.number, None)

    def reseed_rng(self) -> None:
        """Fresh random streams (Optuna calls this for parallel workers)."""
        self.fallback.reseed_rng()

    def veto(self, number: int) -> str | None:
        """Why trial `number` must not train (nothing could improve the front), or None."""
        return self._vetoes.get(number)

    # -- the choice ----------------------------------------------------------------------------------------
    def choose(self, study: Any, number: int, start: float | None = None) -> dict[str, Any]:
        """Screen a pool, pick the design for trial `number` and remember it; returns what was decided."""
        start = time.perf_counter() if start is None else start
        history, running = self.history(study), self.running(study, number)
        complete = [h for h in history if h.status is Status.OK]
        size = 1 if len(complete) < self.startup else self.pool_size  # a startup trial takes the first one
        budget = self._budget(study)
        pool, drawn = self._pool(history, running, number, start, budget, size)
        info = self._decide(history, complete, running, pool, number, start + budget)
        info |= {"drawn": drawn, "candidates": len(pool), "complete": len(complete)}
        if self.cost_ahead is not None:
            # this trial and those running now count as trained for the next ones, and the next pool mutates the
            # front as it will be after this trial, if it scores as predicted
            chosen = next((c for c in pool if c.params is self._serving.get(number)), None)
            parents = _parents(history + ([self._expected(chosen, info)] if chosen is not None else []))
            self.cost_ahead.plan(self._targets(number, len(complete) + len(running) + 1), parents)
        if self.cost_ahead is not None:
            info["deferred"] = self._defer(pool)
        if self.cost_ahead is not None:
            info["drawn_ahead"] = self._reused  # draws the screen found drawn (and costed) ahead
        return info

    def _expected(self, chosen: ScreenedDesign, info: dict[str, Any]) -> _Trained:
        """The trial about to train `chosen` as it will be if it scores as predicted (a startup trial, whose
        accuracy is not predicted: as good as any, so it joins the front)."""
        accuracy = float(info.get("predicted_accuracy", 1.0))
        known = {"accuracy": accuracy} | {n: _known(chosen, n) for n in self.objectives if n != "accuracy"}
        return _Trained(
            key=(chosen.spec, chosen.hardware),
            params=chosen.params,
            features={},
            values=np.array([minimised(n, known[n]) for n in self.objectives]),
            accuracy=accuracy,
            status=Status.OK,
        )

    def _decide(
        self,
        history: list[_Trained],
        complete: list[_Trained],
        running: list[ScreenedDesign],
        pool: list[ScreenedDesign],
        number: int,
        deadline: float,
    ) -> dict[str, Any]:
        """Pick trial `number`'s design from the pool (or veto the trial); what was decided. The pool's candidates
        not mapped yet are scored at their lower bounds, and mapped (in `pool`, in place) only while they could
        still beat the best mapped one, until `deadline`."""
        info: dict[str, Any] = {}
        if not pool:
            info["mode"] = "random"  # nothing feasible was drawn in time: the space's own draw decides
            return info
        if len(complete) < self.startup:
            pick = 0  # a feasible design drawn at random, as other samplers start
            info |= {"mode": "startup"}
        else:
            scores = self._score(history, complete, pool, running)
            info |= {"mode": "ehvi", "pruned": int(scores.pruned.sum())}
            bounded = sum(not c.exact for c in pool)
            best, proven, mapped = self._best(pool, scores, deadline)
            info |= {"bounded": bounded, "mapped": mapped, "proven": int(proven)}
            if best is None:
                self._vetoes[number] = (
                    f"none of {len(pool)} feasible candidates can improve the front (each is matched or beaten in "
                    f"every known objective by a complete trial at least as accurate as it could be)"
                )
                info["mode"] = "veto"
                return info
            pick = best
            info |= {
                "ehvi": float(scores.ehvi[pick]),
                "predicted_accuracy": float(scores.mean[pick]),
                "predicted_std": float(scores.std[pick]),
            }
        chosen = pool[pick]
        self._serving[number] = chosen.params
        info |= {"energy_pj": chosen.energy_pj, "cycles": chosen.cycles}
        return info

    def _budget(self, study: Any) -> float:
        """Seconds of screening per trial: a share of a typical complete trial's duration."""
        durations = [
            t.duration.total_seconds()
            for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
            if t.duration is not None and t.user_attrs.get(STATUS, Status.OK) == Status.OK
        ]
        if not durations:
            return 4 * self.min_budget_s  # the layer cache is cold at the start
        return min(max(self.budget_share * statistics.median(durations), self.min_budget_s), self.max_budget_s)

    def _targets(self, number: int, trained: int) -> list[tuple[int, int]]:
        """The trials after `number` whose pools are drawn ahead, and how many feasible draws each needs: the
        first design for a startup trial, twice the pool for a guided one (a mutation drawn ahead serves only
        if the front still holds its parent), up to `ahead` guided trials. `trained`: what trial number + 1
        will count as trained."""
        out: list[tuple[int, int]] = []
        next_number = number + 1
        while sum(n > 1 for _, n in out) < self.ahead and len(out) < self.ahead + self.startup:
            guided = trained + len(out) >= self.startup
            out.append((next_number, 2 * self.pool_size if guided else 1))
            next_number += 1
        return out

    def draw_at(
        self, number: int, index: int, parents: list[dict[str, Any]], front: bool | None = None
    ) -> tuple[dict[str, Any] | None, np.random.Generator]:
        """Draw `index` of trial `number`'s pool: the parent it mutates (None: drawn at random) and its stream.

        Half the draws mutate a design of the front when there is one. `front` True: the pool will have one
        (costing ahead before the first trial completes); a mutation of a parent not known yet is then UNKNOWN.
        """
        rng = np.random.default_rng([self.seed, number, index])
        if (bool(parents) if front is None else front) and rng.random() < 0.5:
            return (parents[int(rng.integers(len(parents)))] if parents else UNKNOWN), rng
        return None, rng

    def _pool(
        self,
        history: list[_Trained],
        running: list[ScreenedDesign],
        number: int,
        start: float,
        budget: float,
        size: int,
    ) -> tuple[list[ScreenedDesign], int]:
        """Feasible candidates not trained yet, up to `size`, and the draws made. A candidate whose layers are not
        all costed yet comes at its lower bounds (mapped later only if it can win: `_best`).

        Filling may take the budget's first part (`1 - map_share`); the deadline may cut the pool short (never
        below one). Each draw has its own random stream, so a pool that was not cut short is the same on every
        machine: the search is reproducible when screening keeps within its budget. Costing ahead, draws made
        already are reused."""
        parents = _parents(history)
        self._reused = 0
        seen = {h.key for h in history} | {(c.spec, c.hardware) for c in running}
        ahead = self.cost_ahead.pool(number) if self.cost_ahead is not None else {}
        pool: list[ScreenedDesign] = []
        drawn = 0
        deadline = start + (1.0 - self.map_share) * budget
        while len(pool) < size and drawn < 20 * self.pool_size:
            now = time.perf_counter()
            if (now > deadline and pool) or now > deadline + 10 * self.max_budget_s:
                break
            parent, rng = self.draw_at(number, drawn, parents)
            done = ahead.get(drawn)
            drawn += 1
            if done is not None and done[0] == stream_state(bool(parents), len(parents), parent) and done[1] == parent:
                candidate = done[2]  # drawn ahead from the same stream, in the same state, from the same parent
                self._reused += 1
            else:
                # a startup trial trains its one design: no bound for it
                candidate = self.screen.candidate(ParamDraw(rng, parent), bound=size > 1)
            if candidate is None:
                continue
            key = (candidate.spec, candidate.hardware)
            if key not in seen:
                seen.add(key)
                pool.append(candidate)
        return pool, drawn

    def _defer(self, pool: list[ScreenedDesign]) -> int:
        """Hand the pool's candidates left at their bounds to costing ahead (their layers are those of designs
        near the front); how many."""
        assert self.cost_ahead is not None
        left = [c for c in pool if not c.exact]
        for candidate in left[:_DEFERRED]:
            self.cost_ahead.defer(candidate.workload, candidate.hardware)
        return len(left)

    def _best(self, pool: list[ScreenedDesign], scores: _Scores, deadline: float) -> tuple[int | None, bool, int]:
        """Branch and bound over the pool: the candidate with the largest exact EHVI (ties: the most uncertain),
        whether it is proven the pool's best, and how many candidates were mapped.

        A candidate at its lower bounds scores at least its exact EHVI (EHVI never grows with energy or cycles),
        so candidates are visited best score first, each not mapped yet is mapped and scored again, and the
        search stops once no score left can beat the best exact one. Past `deadline` no further candidate is
        mapped and the best exact one so far is taken (not proven); the first open one is mapped even late.
        """
        order = [int(i) for i in np.lexsort((-scores.std, -scores.ehvi)) if not scores.pruned[i]]
        best: int | None = None
        mapped = 0
        for i in order:
            if best is not None and (scores.ehvi[i], scores.std[i]) <= (scores.ehvi[best], scores.std[best]):
                return best, True, mapped
            if not pool[i].exact:
                if best is not None and time.perf_counter() > deadline:
                    return best, False, mapped
                exact = self.screen.exactly(pool[i])
                mapped += 1
                if exact is None:
                    scores.pruned[i], scores.ehvi[i] = True, 0.0
                    continue
                pool[i] = exact
                scores.score(np.array([i]), [exact])
                if scores.pruned[i]:
                    continue
            if best is None or (scores.ehvi[i], scores.std[i]) > (scores.ehvi[best], scores.std[best]):
                best = i
        return best, True, mapped

    def _features(self, candidate: ScreenedDesign) -> Features:
        return design_features(candidate.spec, candidate.workload, candidate.hardware) | {"trained_fraction": 1.0}

    def _score(
        self,
        history: list[_Trained],
        complete: list[_Trained],
        pool: list[ScreenedDesign],
        running: list[ScreenedDesign],
    ) -> _Scores:
        """Predicted accuracy, EHVI and the cannot-improve mask of every candidate (at its lower bounds where it
        is not mapped yet: an upper bound on its EHVI). Designs training now count in the front at their
        predicted accuracy (so concurrent trials spread out), never in the mask. The objectives are scaled over
        the complete trials and the pool's lower bounds, so the scale does not depend on what was mapped."""
        rows = [self._features(c) for c in pool]
        model = AccuracyModel(self.seed).fit(
            [h.features for h in history], np.array([h.accuracy for h in history]), rows
        )
        mean, std = model.predict(rows)
        ceiling = np.minimum(mean + self.optimism * std, 1.0)
        names = self.objectives
        # column 0: the predicted objective (error), then the known ones, all minimised
        order = sorted(range(len(names)), key=lambda i: names[i] != "accuracy")
        done = np.array([h.values for h in complete])[:, order]
        predicted = names[order[0]] == "accuracy"
        believed = np.zeros((0, len(names)))
        if running and predicted:
            guess, _ = model.predict([self._features(c) for c in running])
            believed = np.array([[1.0 - a, *self._known(c, names, order[1:])] for c, a in zip(running, guess)])
        columns = order[1:] if predicted else order  # the known objectives
        scale = np.array([self._known(self._lowest(c), names, columns) for c in pool])  # lower bounds
        if predicted:
            m, s, floor = 1.0 - mean, std, 1.0 - ceiling
            scale = np.hstack([np.full((len(pool), 1), done[0, 0]), scale])  # the predicted column: the trials'
        else:  # every objective is known: the first is "predicted" exactly (score() sets m and floor)
            m, s, floor = np.zeros(len(pool)), np.full(len(pool), 1e-12), np.zeros(len(pool))
        low = np.minimum(done.min(axis=0), scale.min(axis=0))
        high = np.maximum(done.max(axis=0), scale.max(axis=0))
        span = np.maximum(high - low, [_MIN_SPAN.get(names[i], 0.05) for i in order])
        front = np.vstack([done, believed]) if len(believed) else done
        scores = _Scores(
            names=names,
            order=order,
            low=low,
            span=span,
            done=(done - low) / span,
            cells=front_cells((front - low) / span, np.full(len(names), REFERENCE)),
            mean=mean,
            std=std,
            m=(m - low[0]) / span[0],
            s=s / span[0],
            floor=(floor - low[0]) / span[0],
            ehvi=np.zeros(len(pool)),
            pruned=np.zeros(len(pool), dtype=bool),
            predicted=predicted,
        )
        scores.score(np.arange(len(pool)), pool)
        return scores

    def _known(self, c: ScreenedDesign, names: tuple[str, ...], columns: list[int]) -> list[float]:
        return [minimised(names[i], _known(c, names[i])) for i in columns]

    def _lowest(self, c: ScreenedDesign) -> ScreenedDesign:
        """The candidate at its lower bounds (whether or not it is mapped): what the scale is taken over."""
        energy, cycles = self.screen.bound(c.workload, c.hardware)
        return dataclasses.replace(c, energy_pj=min(energy, c.energy_pj), cycles=min(cycles, c.cycles), exact=False)

    # -- what has been trained -----------------------------------------------------------------------------
    def history(self, study: Any) -> list[_Trained]:
        """Every finished trial that trained (complete, stopped early or diverged), as the sampler sees it."""
        out = []
        for trial in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
            if trial.number not in self._history:
                self._history[trial.number] = self._trained(trial)
            entry = self._history[trial.number]
            if entry is not None:
                out.append(entry)
        return out

    def running(self, study: Any, number: int) -> list[ScreenedDesign]:
        """The feasible designs training now (other than trial `number`), costed like candidates."""
        out = []
        for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
            if trial.number == number or _broken(trial):
                continue
            drawn = self._replay(trial)
            if drawn is not None:
                spec, hardware = drawn
                workload = self.screen.workload(spec)
                energy, cycles = self.screen.cost(workload, hardware)
                area, latency = self.screen.arch(hardware)[1], self.screen.device_latency(spec)
                out.append(ScreenedDesign(dict(trial.params), spec, hardware, workload, energy, cycles, area, latency))
        return out

    def _replay(self, trial: FrozenTrial) -> tuple[CandidateSpec, HardwareParams | None] | None:
        """The design a trial drew, drawn again from its parameters; None when it cannot be (no spec, another
        space's parameters)."""
        replay = FixedTrial(trial.params)
        for key, value in trial.user_attrs.items():
            replay.set_user_attr(key, value)
        try:
            return self.objective.draw(replay)
        except (ConfigError, ValueError):
            return None

    def _trained(self, trial: FrozenTrial) -> _Trained | None:
        """A finished trial's design and results; None for one that did not train."""
        recorded = trial.user_attrs.get(STATUS)  # Optuna's boundary: a user attribute is text
        if recorded is None:  # a study driven without the Tune searcher: constraints tell the infeasible ones
            status = Status.INFEASIBLE if _broken(trial) else Status.OK
        else:
            status = Status(recorded)
        if status not in (Status.OK, Status.STOPPED, Status.DIVERGED) or trial.values is None:
            return None
        drawn = self._replay(trial)
        if drawn is None:  # a trial of another space, say: it teaches nothing here
            return None
        spec, hardware = drawn
        workload = self.screen.workload(spec)
        fraction = 1.0
        if status is Status.STOPPED:
            done, planned = trial.user_attrs.get(EPOCHS_DONE, 0), trial.user_attrs.get(PLANNED_EPOCHS, 1)
            fraction = min(max(float(done) / max(float(planned), 1.0), 0.0), 1.0)
        values = dict(zip(self.objectives, trial.values))
        accuracy = values.get("accuracy", math.nan)
        if status is Status.DIVERGED:
            accuracy = 1.0 / self.objective.info.num_classes
        return _Trained(
            key=(spec, hardware),
            params=dict(trial.params),
            features=design_features(spec, workload, hardware) | {"trained_fraction": fraction},
            values=np.array([minimised(n, values[n]) for n in self.objectives]),
            accuracy=float(accuracy) if not math.isnan(accuracy) else 0.0,
            status=status,
        )


def _broken(trial: FrozenTrial) -> bool:
    """Whether the trial broke a constraint (it never trains)."""
    return any(k.startswith("constraints:") and v > 0 for k, v in trial.system_attrs.items())


def _known(candidate: ScreenedDesign, name: str) -> float:
    """A candidate's known value of a cost objective."""
    return {
        "energy": candidate.energy_pj,
        "latency": candidate.cycles,
        "area": candidate.area_mm2,
        "device_latency": candidate.device_latency_ms,
    }[name]


def _parents(history: list[_Trained]) -> list[dict[str, Any]]:
    """The parameters of the front's designs, which the pool mutates."""
    return [h.params for h in _front(history) if h.params]


def _front(history: list[_Trained]) -> list[_Trained]:
    """The complete trials no other complete trial dominates."""
    complete = [h for h in history if h.status is Status.OK]
    if not complete:
        return []
    keep = non_dominated(np.array([h.values for h in complete]))
    return [h for h, k in zip(complete, keep) if k]
