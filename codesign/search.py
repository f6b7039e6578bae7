"""`codesign search`: Ray Tune drives trials, Optuna samples them (multi-objective, with constraints).

Per trial: the define-by-run sampler draws a CandidateSpec from the YAML space and checks every hard
constraint that needs no training (peak activation, the rubric's epoch limit, parameter and layer
budgets), telling Optuna through `trial.set_constraint`; an infeasible design reports at once and never
trains. A feasible one is costed on the accelerator (shared SQLite cache), trained with SGD on the
training split, and reports validation accuracy every epoch (ASHA may cut it). The TrialTable callback
rewrites runs/<name>/trials.csv each time a trial finishes, so no finished trial is ever lost.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import re
import time
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import pandas as pd
from ray.tune import Callback

from codesign.arch import Arch, load_arch
from codesign.data import DATASETS, Split, load_dataset, locate_dataset
from codesign.errors import CodesignError
from codesign.hardware import HardwareParams, area_mm2, derive_arch
from codesign.network import CandidateSpec
from codesign.pareto import objective_columns
from codesign.rubric import PJ_PER_MJ, load_rubric
from codesign.space import SearchSpace, load_space, resolve_space_path

# Finite stand-ins for "as bad as it gets": Optuna must never see NaN or a missing objective.
WORST = {"val_accuracy": 0.0, "energy_pj": 1e15, "cycles": 1e12, "area_mm2": 1e6}
FINAL_STATUSES = ("ok", "diverged", "infeasible", "error")


@dataclass(frozen=True)
class SearchSettings:
    """Everything a search needs; saved as runs/<name>/search.json so that --resume and report reuse it."""

    name: str
    space: str
    dataset: str
    runs_dir: str = "runs"
    data_dir: str | None = None
    arch: str | None = None
    rubric: str | None = None
    budget_s: float | None = None
    trials: int | None = None
    sampler: str = "tpe"
    seed: int = 0
    concurrency: int = 1
    cpus_per_trial: float | None = None
    gpus_per_trial: float = 0.0
    asha: bool = False
    address: str | None = None
    train_size: int | None = None
    val_size: int | None = None
    split_seed: int = 0
    dashboard: bool = True
    objectives: tuple[str, ...] = ("accuracy", "energy", "latency")  # the space's; filled in by prepare()

    @property
    def run_dir(self) -> Path:
        return Path(self.runs_dir).resolve() / self.name

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), indent=2)

    @classmethod
    def load(cls, run_dir: Path) -> "SearchSettings":
        """Settings of an existing run folder."""
        path = run_dir / "search.json"
        if not path.is_file():
            raise CodesignError(f"{run_dir}: not a codesign search folder (no search.json)")
        data = json.loads(path.read_text())
        data["objectives"] = tuple(data.get("objectives", cls.objectives))
        return cls(**data)


def trial_arch(settings: SearchSettings, space: SearchSpace, hardware: dict | None) -> Arch:
    """The accelerator a trial is costed on: --arch, or the space's base resized to the trial's hardware."""
    if hardware is None:
        return load_arch(settings.arch)
    return derive_arch(load_arch(space.hardware_base or settings.arch), HardwareParams(**hardware))


def parse_budget(text: str | None) -> float | None:
    """'8h', '30m', '90s', '1h30m' or plain seconds → seconds."""
    if text is None:
        return None
    text = str(text).strip().lower()
    if re.fullmatch(r"\d+(\.\d+)?", text):
        return float(text)
    parts = re.findall(r"(\d+(?:\.\d+)?)\s*([dhms])", text)
    if not parts or "".join(f"{n}{u}" for n, u in parts) != text.replace(" ", ""):
        raise CodesignError(f"budget {text!r}: write it like 8h, 30m, 90s or 1h30m")
    return sum(float(n) * {"d": 86400, "h": 3600, "m": 60, "s": 1}[u] for n, u in parts)


class SpaceSampler:
    """Optuna define-by-run function: sample a spec, check the no-training constraints, hand it to Tune."""

    def __init__(self, settings: SearchSettings):
        self.settings = settings
        self.space = load_space(settings.space)
        self.rubric = load_rubric(settings.rubric)
        self.info = DATASETS[settings.dataset]
        self.base_arch = load_arch(self.space.hardware_base or settings.arch) if self.space.hardware else None

    def __call__(self, trial: Any) -> dict[str, Any]:
        from codesign.workload import trace

        try:
            spec = self.space.sample(trial, self.info.input_shape, self.info.num_classes, self.settings.seed)
        except CodesignError as exc:  # e.g. the stages shrink the image to nothing
            trial.set_constraint("buildable", 1.0)
            return {"spec": None, "feasible": False, "reason": str(exc).split(": ", 1)[-1]}
        hardware = None
        if self.base_arch is not None:
            hardware = self.space.sample_hardware(trial, HardwareParams.of(self.base_arch))
        workload = trace(spec.build(), (1, *spec.input_shape))
        limit = self.rubric.peak_activation_limit_bytes
        peak, params = workload.peak_activation_bytes, workload.parameters
        # name -> (Optuna constraint value, <= 0 is feasible; why it fails)
        checks = {
            "peak_activation": ((peak - limit + 1) / limit, f"peak activation {peak:,} B >= {limit:,} B"),
            "epochs": (spec.sgd.epochs - self.rubric.max_epochs,
                       f"{spec.sgd.epochs} epochs > {self.rubric.max_epochs}"),
        }
        if self.space.max_parameters:
            checks["parameters"] = ((params - self.space.max_parameters) / self.space.max_parameters,
                                    f"{params:,} parameters > {self.space.max_parameters:,}")
        if self.space.max_layers:
            layers = sum(layer.count for layer in workload.layers)
            checks["layers"] = (layers - self.space.max_layers, f"{layers} layers > {self.space.max_layers}")
        extra: dict[str, Any] = {}
        if hardware is not None:
            area = area_mm2(derive_arch(self.base_arch, hardware))
            extra = {"hardware": dataclasses.asdict(hardware), "area_mm2": area}
            if self.space.max_area_mm2:
                checks["area"] = ((area - self.space.max_area_mm2) / self.space.max_area_mm2,
                                  f"area {area:.3f} mm2 > {self.space.max_area_mm2}")
            if self.space.max_pes:
                pes = hardware.pe_x * hardware.pe_y
                checks["pes"] = (pes - self.space.max_pes, f"{pes} PEs > {self.space.max_pes}")
        for key, (value, _) in checks.items():
            trial.set_constraint(key, value)
        broken = [why for value, why in checks.values() if value > 0]
        reason = "; ".join(broken)
        return {"spec": spec.to_dict(), "feasible": not broken, "reason": reason, "peak_activation_bytes": peak,
                "parameters": params, **extra}


@lru_cache(maxsize=2)
def _dataset(name: str, data_dir: str | None, device: str, split_seed: int, val_size: int | None,
             train_size: int | None):
    """The worker's copy of the data set, loaded once per process and kept on its device."""
    data = load_dataset(name, data_dir, device, split_seed=split_seed, val_size=val_size, download=False)
    if train_size:
        data.train = Split(data.train.images[:train_size], data.train.labels[:train_size])
    return data


def run_trial(config: dict, settings: SearchSettings) -> None:
    """One Tune trial: cost the design, train it, report every epoch (never a NaN)."""
    import torch
    from ray import tune

    from codesign.cost import CostCache
    from codesign.profile import profile_workload
    from codesign.quantize import quantized_accuracy
    from codesign.train import build_model, train
    from codesign.workload import trace

    start = time.perf_counter()
    spec_dict = config.get("spec")
    planned = spec_dict["sgd"]["epochs"] if spec_dict else 0
    area = {"area_mm2": config["area_mm2"]} if "area_mm2" in config else {}
    if not config.get("feasible"):
        tune.report({**WORST, "status": "infeasible", "epoch": 0, "planned_epochs": planned,
                     "peak_activation_bytes": config.get("peak_activation_bytes", 0), "rubric_points": 0,
                     "train_seconds": 0.0, "reason": config.get("reason", "")})
        return
    spec = CandidateSpec.from_dict(spec_dict, "trial spec")
    rubric = load_rubric(settings.rubric)
    model = build_model(spec)
    arch = trial_arch(settings, load_space(settings.space), config.get("hardware"))
    net = profile_workload(trace(model, (1, *spec.input_shape)), arch, cache=CostCache())
    cpus = settings.cpus_per_trial or 1
    torch.set_num_threads(max(1, int(cpus)))
    device = "cuda" if settings.gpus_per_trial > 0 and torch.cuda.is_available() else "cpu"
    data = _dataset(settings.dataset, settings.data_dir, device, settings.split_seed, settings.val_size,
                    settings.train_size)
    common = {"energy_pj": net.energy_pj, "cycles": net.cycles, "peak_activation_bytes": net.peak_activation_bytes,
              "parameters": net.workload.parameters, "macs": net.workload.macs, "planned_epochs": planned,
              "reason": "", **area}

    def on_epoch(m) -> None:
        done = m.epoch >= planned
        metrics = {"val_accuracy": m.val_accuracy}
        if done and arch.word_bits < 16:  # the design as the narrow-word accelerator would run it
            metrics = {"val_accuracy": quantized_accuracy(model, data, data.val, arch.word_bits),
                       "val_accuracy_float": m.val_accuracy}
        score = net.score(rubric, error=1.0 - metrics["val_accuracy"])
        tune.report({**common, **metrics, "epoch": m.epoch, "train_loss": m.train_loss,
                     "status": "ok" if done else "running", "rubric_points": score.total,
                     "train_seconds": time.perf_counter() - start})

    result = train(model, data, spec.sgd, rubric, on_epoch=on_epoch)
    if result.status == "ok":  # keep the weights, so that `codesign export` can hand the design over
        folder = settings.run_dir / "weights"
        folder.mkdir(parents=True, exist_ok=True)
        torch.save(model.state_dict(), folder / f"{tune.get_context().get_trial_id()}.pt")
    if result.status == "diverged":
        tune.report({**common, "val_accuracy": WORST["val_accuracy"], "epoch": result.epochs + 1,
                     "status": "diverged", "rubric_points": 0, "train_seconds": time.perf_counter() - start,
                     "reason": "loss became NaN/inf"})


def final_status(last: dict | None, errored: bool = False) -> str:
    """How a trial ended: ok (complete), diverged, infeasible, error, or stopped (ASHA/budget, partial)."""
    if errored:
        return "error"
    if not last:
        return "stopped"
    status = last.get("status")
    if status in ("infeasible", "diverged"):
        return status
    if status == "ok" and last.get("epoch", 0) >= last.get("planned_epochs", math.inf):
        return "ok"
    return "stopped"


def spec_columns(spec: dict | None) -> dict[str, Any]:
    """Readable columns of a spec for trials.csv."""
    if not spec:
        return {}
    stages = spec["stages"]
    join = lambda key: "-".join(str(s[key]) for s in stages)  # noqa: E731
    sgd = spec["sgd"]
    return {"depth": len(stages), "channels": join("channels"), "kernels": join("kernel"), "strides": join("stride"),
            "kinds": join("kind"), "pools": join("pool"), "head": "-".join(map(str, spec["head"])) or "none",
            "global_pool": spec["global_pool"], "lr": sgd["lr"], "momentum": sgd["momentum"],
            "nesterov": sgd["nesterov"], "weight_decay": sgd["weight_decay"], "batch_size": sgd["batch_size"],
            "schedule": sgd["schedule"], "epochs": sgd["epochs"]}


def trial_row(trial_id: str, config: dict, last: dict | None, status: str, error: str = "") -> dict[str, Any]:
    """One trials.csv row."""
    last = last or {}
    energy = last.get("energy_pj", math.nan)
    row = {"trial_id": trial_id, "status": status,
           "val_accuracy": last.get("val_accuracy", math.nan), "energy_pj": energy,
           "energy_mj": energy / PJ_PER_MJ if energy == energy else math.nan,
           "cycles": last.get("cycles", math.nan),
           "peak_activation_bytes": last.get("peak_activation_bytes", config.get("peak_activation_bytes", math.nan)),
           "parameters": last.get("parameters", config.get("parameters", math.nan)),
           "macs": last.get("macs", math.nan), "epochs_done": last.get("epoch", 0),
           "rubric_points": last.get("rubric_points", 0), "train_seconds": last.get("train_seconds", math.nan),
           "trial_seconds": last.get("time_total_s", math.nan)}
    if config.get("hardware"):
        row.update(config["hardware"])
        row["area_mm2"] = config.get("area_mm2", math.nan)
        row["val_accuracy_float"] = last.get("val_accuracy_float", row["val_accuracy"])
    row.update(spec_columns(config.get("spec")))
    row["reason"] = error or last.get("reason") or config.get("reason", "")
    row["spec"] = json.dumps(config.get("spec")) if config.get("spec") else ""
    return row


class TrialTable(Callback):
    """Rewrites trials.csv whenever a trial ends, keeping the rows of earlier sessions (resume).

    Ray restores this object from its pickle on --resume, so the table is (re)read in `setup`.
    """

    def __init__(self, run_dir: Path):
        self.path = Path(run_dir) / "trials.csv"
        self.rows: dict[str, dict] = {}
        self.last: dict[str, dict] = {}

    def setup(self, **info) -> None:
        self.rows, self.last = {}, {}
        if self.path.is_file():
            for row in pd.read_csv(self.path, dtype={"trial_id": str}, keep_default_na=False).to_dict("records"):
                self.rows[row["trial_id"]] = row

    def on_trial_result(self, iteration, trials, trial, result, **info):
        self.last[trial.trial_id] = result

    def _end(self, trial, errored: bool, error: str = "") -> None:
        last = self.last.get(trial.trial_id) or trial.last_result
        status = final_status(last, errored)
        row = trial_row(trial.trial_id, trial.config, last, status, error)
        self.rows[trial.trial_id] = row
        self._write()
        print(f"[codesign] trial {trial.trial_id} {status}: val_acc {row['val_accuracy']:.4f} "
              f"energy {row['energy_mj']:.4f} mJ, {row['cycles']:,.0f} cycles, rubric {row['rubric_points']} "
              f"({len(self.rows)} trials done)", flush=True)

    def on_trial_complete(self, iteration, trials, trial, **info):
        self._end(trial, errored=False)

    def on_trial_error(self, iteration, trials, trial, **info):
        error = ""
        path = getattr(trial, "error_file", None)
        if path and os.path.exists(path):
            lines = [ln for ln in Path(path).read_text().splitlines() if ln.strip()]
            error = lines[-1][:300] if lines else ""
        self._end(trial, errored=True, error=error)

    def on_experiment_end(self, trials, **info):
        for trial in trials:  # budget-stopped trials end without a completion event
            last = self.last.get(trial.trial_id) or trial.last_result
            if trial.trial_id not in self.rows and last:
                self.rows[trial.trial_id] = trial_row(trial.trial_id, trial.config, last, "stopped")
        self._write()

    def _write(self) -> None:
        tmp = self.path.with_suffix(".csv.tmp")
        pd.DataFrame(list(self.rows.values())).to_csv(tmp, index=False)
        tmp.replace(self.path)


def _sampler(name: str, seed: int):
    import optuna

    if name == "tpe":
        # group=True: per-stage parameters exist only for the stages a trial has (conditional space);
        # grouping lets multivariate TPE model each subspace jointly (bench_search: 1.21-1.28x random).
        return optuna.samplers.TPESampler(multivariate=True, group=True, seed=seed, n_startup_trials=8)
    if name == "nsga2":
        return optuna.samplers.NSGAIISampler(seed=seed, population_size=16)
    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    raise CodesignError(f"unknown sampler {name!r} (tpe, nsga2, random)")


def prepare(settings: SearchSettings, resume: bool) -> SearchSettings:
    """Check every input before Ray starts (one-line errors) and write search.json."""
    run_dir = settings.run_dir
    if resume:
        if not (run_dir / "search.json").is_file():
            raise CodesignError(f"{run_dir}: nothing to resume (no search.json); start it without --resume")
        saved = SearchSettings.load(run_dir)
        # the budget and trial count may be changed on resume; the rest must stay
        return dataclasses.replace(saved, budget_s=settings.budget_s or saved.budget_s,
                                   trials=settings.trials or saved.trials, address=settings.address,
                                   dashboard=settings.dashboard)
    if (run_dir / "search.json").is_file():
        raise CodesignError(f"{run_dir} already holds a search: pass --resume to continue it or --name to start another")
    settings = dataclasses.replace(settings, space=str(resolve_space_path(settings.space).resolve()))
    space = load_space(settings.space)
    settings = dataclasses.replace(settings, objectives=space.objectives)
    load_arch(space.hardware_base or settings.arch)
    load_rubric(settings.rubric)
    locate_dataset(settings.dataset, Path(settings.data_dir) if settings.data_dir else None, download=True)
    if settings.concurrency < 1:
        raise CodesignError("--concurrency must be at least 1")
    if settings.budget_s is None and settings.trials is None:
        raise CodesignError("give a --budget (e.g. 8h) or a number of --trials")
    if settings.cpus_per_trial is None:
        settings = dataclasses.replace(settings, cpus_per_trial=max(1.0, (os.cpu_count() or 1) // settings.concurrency))
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "search.json").write_text(settings.to_json())
    return settings


def run_search(settings: SearchSettings, resume: bool = False) -> pd.DataFrame:
    """Run (or resume) a search; returns the trials table. Outputs land in runs/<name>/."""
    import ray
    from ray import tune
    from ray.tune.schedulers import ASHAScheduler
    from ray.tune.search.optuna import OptunaSearch

    from codesign.report import write_outputs

    settings = prepare(settings, resume)
    run_dir = settings.run_dir
    space = load_space(settings.space)
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
    context = ray.init(address=settings.address, include_dashboard=settings.dashboard, ignore_reinit_error=True,
                       log_to_driver=False, configure_logging=False)
    if settings.dashboard and getattr(context, "dashboard_url", None):
        print(f"[codesign] Ray dashboard: http://{context.dashboard_url} (it asks for a token: run "
              f"`ray get-auth-token`, or start with RAY_AUTH_MODE=disabled on a trusted machine)", flush=True)
    trainable = tune.with_parameters(run_trial, settings=settings)
    resources = {"cpu": settings.cpus_per_trial or 1}
    if settings.gpus_per_trial:
        resources["gpu"] = settings.gpus_per_trial
    trainable = tune.with_resources(trainable, resources)
    ray_dir = run_dir / "ray"
    try:
        if resume and tune.Tuner.can_restore(str(ray_dir)):
            tuner = tune.Tuner.restore(str(ray_dir), trainable, resume_unfinished=True, resume_errored=True)
        else:
            columns = objective_columns(settings.objectives)
            search = OptunaSearch(space=SpaceSampler(settings), metric=[c for c, _ in columns],
                                  mode=[m for _, m in columns], sampler=_sampler(settings.sampler, settings.seed))
            scheduler = None
            if settings.asha:
                scheduler = ASHAScheduler(time_attr="epoch", metric="val_accuracy", mode="max",
                                          max_t=max(space.max_epochs, 1), grace_period=1, reduction_factor=3)
            tuner = tune.Tuner(
                trainable,
                tune_config=tune.TuneConfig(search_alg=search, scheduler=scheduler,
                                            num_samples=settings.trials or 1_000_000,
                                            max_concurrent_trials=settings.concurrency,
                                            time_budget_s=settings.budget_s, reuse_actors=True),
                run_config=tune.RunConfig(name="ray", storage_path=str(run_dir),
                                          callbacks=[TrialTable(run_dir)], verbose=1,
                                          failure_config=tune.FailureConfig(max_failures=0)),
            )
        tuner.fit()
    finally:
        if not settings.address:
            ray.shutdown()
    return write_outputs(run_dir)
