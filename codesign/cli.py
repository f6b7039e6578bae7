"""The `codesign` command line."""

from __future__ import annotations

import argparse
import dataclasses
import json
import re
import sys
import time
from pathlib import Path

import torch

from codesign.arch import load_arch
from codesign.cost import ENGINES, CostCache, get_engine
from codesign.cost.analytic import cost_under_mapping
from codesign.data import DATASETS, load_dataset
from codesign.designs import load_design
from codesign.errors import CodesignError
from codesign.network import SGDConfig
from codesign.profile import NetworkCost, format_comparison, format_table, profile_workload
from codesign.rubric import PJ_PER_MJ, load_rubric
from codesign.train import accuracy, build_model, resolve_device, train
from codesign.workload import trace

MODEL_HELP = (
    "`path/to/file.py:ClassName` (built with no arguments), a spec .json file, a built-in (lenet5, lab2023), "
    "a search run folder (with --trial, else its best trial) or an exported / trained folder"
)


def _shape(text: str) -> tuple[int, ...]:
    try:
        shape = tuple(int(v) for v in text.replace("x", ",").split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a shape like 1,3,32,32") from None
    if not shape or any(v <= 0 for v in shape):
        raise argparse.ArgumentTypeError(f"{text!r}: every size must be positive")
    return shape


def cmd_profile(args: argparse.Namespace) -> int:
    """codesign profile: per-layer energy/cycles table and totals for one model."""
    rubric = load_rubric(args.rubric)
    design = load_design(args.model, args.trial)
    arch = load_arch(args.arch or rubric.accelerator) if args.arch or design.arch is None else design.arch
    shape = args.input_shape or design.input_shape or (1, 3, 32, 32)
    workload = trace(design.module, shape)
    if args.timeloop_map:
        if len(workload.layers) != 1:
            raise CodesignError(
                f"--timeloop-map evaluates one layer, but {args.model} has "
                f"{len(workload.layers)} distinct Conv2d/Linear layers"
            )
        net = NetworkCost(
            workload, arch, [cost_under_mapping(workload.layers[0], arch, args.timeloop_map)], "timeloop-map"
        )
    else:
        cache = None if args.no_cache else CostCache(args.cache)
        engine = get_engine(args.engine, timeloop_lab=args.timeloop_lab)
        net = profile_workload(workload, arch, engine, cache, progress=engine.parallel and not args.json)
        if args.compare:
            if args.engine == "analytic":
                raise CodesignError(
                    "--compare puts the analytic model beside another engine: add --engine accelforge or timeloop"
                )
            print(format_comparison(profile_workload(workload, arch, "analytic", cache), net))
            return 0
    if args.json:
        print(json.dumps(net.to_dict(rubric), indent=2))
    else:
        print(format_table(net, rubric, show_mapping=args.show_mapping))
    return 0


_SGD_FLAGS = ("lr", "momentum", "nesterov", "weight_decay", "batch_size", "epochs", "schedule", "warmup_epochs", "seed")


def cmd_train(args: argparse.Namespace) -> int:
    """codesign train: SGD on the training split, validation accuracy per epoch, optional final test."""
    rubric = load_rubric(args.rubric)
    device = resolve_device(args.device)
    design = load_design(args.model)
    base = design.spec.sgd if design.spec else SGDConfig(epochs=rubric.max_epochs)
    sgd = dataclasses.replace(base, **{k: getattr(args, k) for k in _SGD_FLAGS if getattr(args, k) is not None})
    data = load_dataset(args.dataset, args.data_dir, device, split_seed=args.split_seed, val_size=args.val_size)
    if design.spec:
        if tuple(design.spec.input_shape) != data.info.input_shape:
            raise CodesignError(
                f"{args.model}: input_shape {tuple(design.spec.input_shape)} does not match "
                f"{data.info.name} images {data.info.input_shape}"
            )
        model = build_model(design.spec, sgd.seed)
    else:
        torch.manual_seed(sgd.seed)  # rebuild so that the weights' initialisation follows the seed
        model = load_design(args.model).module
    out = Path(args.out or Path("runs") / f"train-{re.sub(r'[^A-Za-z0-9_.-]+', '_', Path(args.model).stem)}")
    out.mkdir(parents=True, exist_ok=True)
    print(
        f"training {args.model} on {data.info.name} ({len(data.train):,} train / {len(data.val):,} validation, "
        f"split seed {args.split_seed}) on {device}: SGD lr {sgd.lr} momentum {sgd.momentum} "
        f"{'nesterov ' if sgd.nesterov else ''}wd {sgd.weight_decay} batch {sgd.batch_size} "
        f"{sgd.epochs} epochs {sgd.schedule}, seed {sgd.seed}"
    )
    result = train(model, data, sgd, rubric, progress=not args.quiet)
    torch.save(model.state_dict(), out / "weights.pt")
    summary = {
        "model": args.model,
        "spec": design.spec.to_dict() if design.spec else None,
        "dataset": data.info.name,
        "data_dir": str(data.source),
        "split_seed": args.split_seed,
        "train_size": len(data.train),
        "val_size": len(data.val),
        "device": str(device),
        "sgd": dataclasses.asdict(sgd),
        "seed": sgd.seed,
        "status": result.status,
        "val_accuracy": result.val_accuracy,
        "best_val_accuracy": result.best_val_accuracy,
        "epochs": result.epochs,
        "seconds": result.seconds,
        "images_per_second": result.images_per_second,
        "history": [dataclasses.asdict(h) for h in result.history],
    }
    print(
        f"{result.status}: validation accuracy {result.val_accuracy:.4f} after {result.epochs} epochs "
        f"({result.seconds:.1f} s, {result.images_per_second:,.0f} images/s)"
    )
    if args.final:
        test_accuracy = accuracy(model, data, data.load_test())
        net = profile_workload(
            trace(model.cpu(), (1, *data.info.input_shape)),
            load_arch(args.arch or rubric.accelerator),
            cache=CostCache(),
        )
        score = net.score(rubric, error=1.0 - test_accuracy)
        summary.update(
            test_accuracy=test_accuracy,
            energy_pj=net.energy_pj,
            cycles=net.cycles,
            peak_activation_bytes=net.peak_activation_bytes,
            rubric=score.to_dict(),
            arch=net.arch.name,
        )
        print(
            f"test accuracy {test_accuracy:.4f} (error {1 - test_accuracy:.2%}) -> {score.error_points} points\n"
            f"energy {net.energy_pj / PJ_PER_MJ:.4f} mJ -> {score.energy_points} points; "
            f"latency {net.cycles:,} cycles -> {score.latency_points} points; "
            f"peak activation {net.peak_activation_bytes:,} B (limit {rubric.peak_activation_limit_bytes:,} B)\n"
            f"rubric score {score.total} / {rubric.max_points}{'' if score.feasible else ' (a hard constraint fails)'}"
        )
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    print(f"saved {out / 'weights.pt'} and {out / 'summary.json'}")
    return 0 if result.status != "diverged" else 1


def _print_front(run_dir: Path, trials) -> None:
    from codesign.pareto import pareto_front
    from codesign.runs import Run

    front = pareto_front(trials, Run(run_dir).objectives())
    counts = trials["status"].value_counts().to_dict() if len(trials) else {}
    print(
        f"\n{len(trials)} trials ({', '.join(f'{n} {s}' for s, n in sorted(counts.items()))}); "
        f"Pareto front of complete trials: {len(front)} designs"
    )
    cols = [
        "trial_id",
        "rubric_points",
        "val_accuracy",
        "energy_mj",
        "cycles",
        "area_mm2",
        "peak_activation_bytes",
        "channels",
        "strides",
        "epochs",
        "pe_x",
        "pe_y",
        "word_bits",
    ]
    if len(front):
        best = front.sort_values(["rubric_points", "val_accuracy"], ascending=False)
        print(best[[c for c in cols if c in best]].head(15).to_string(index=False))
    print(f"outputs: {run_dir}/trials.csv, pareto.csv, report.html, pareto.png")


def cmd_search(args: argparse.Namespace) -> int:
    """codesign search: Ray Tune + Optuna co-design search, Pareto front and report under runs/<name>/."""
    from codesign.search import DataSettings, ResourceSettings, SearchSettings, TuneSettings, parse_budget
    from codesign.search.driver import run_search
    from codesign.space import load_space

    name = args.name or f"search-{time.strftime('%Y%m%d-%H%M%S')}"
    dataset = args.dataset or (None if args.resume else load_space(args.space).dataset)
    settings = SearchSettings(
        name=name,
        space=args.space,
        runs_dir=args.runs_dir,
        arch=args.arch,
        rubric=args.rubric,
        data=DataSettings(
            dataset=dataset or "cifar10",
            data_dir=args.data_dir,
            train_size=args.train_size,
            val_size=args.val_size,
            split_seed=args.split_seed,
        ),
        tune=TuneSettings(
            trials=args.trials,
            budget_s=parse_budget(args.budget),
            sampler=args.sampler,
            seed=args.seed,
            asha=args.asha,
            multi_fidelity=args.multi_fidelity,
            concurrency=args.concurrency,
            seed_designs=tuple(args.seed_designs),
        ),
        resources=ResourceSettings(
            address=args.address,
            cpus_per_trial=args.cpus_per_trial,
            gpus_per_trial=args.gpus_per_trial,
            dashboard=not args.no_dashboard,
        ),
    )
    trials = run_search(settings, resume=args.resume)
    _print_front(settings.run_dir, trials)
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    """codesign report: rebuild pareto.csv, report.html and pareto.png from a run's trials.csv."""
    from codesign.report import write_outputs

    run_dir = Path(args.run)
    if not run_dir.is_dir():
        raise CodesignError(f"{run_dir}: no such run folder")
    _print_front(run_dir, write_outputs(run_dir))
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    """codesign export: standalone model.py, spec.json, weights.pt, model.onnx and README.md."""
    from codesign.export import export
    from codesign.runs import Run

    if args.weights and Run.holds_run(args.source):
        raise CodesignError("--weights is for a MODEL; a search run exports its trial's own weights")
    design = load_design(args.source, args.trial, args.best, Path(args.weights) if args.weights else None)
    written = export(design, Path(args.out), onnx=args.onnx)
    if design.weights is None:
        print(f"note: {design.label} has no saved weights (train it with `codesign train`, then --weights)")
    print(f"exported {design.label} to {args.out}: {', '.join(p.name for p in written)}")
    return 0


def cmd_arch(args: argparse.Namespace) -> int:
    """codesign arch: a derived accelerator (other sizes, scaled energies and area) as a YAML file."""
    from codesign.hardware import FIELDS, HardwareParams, arch_yaml, area_mm2, derive_arch, write_arch

    base = load_arch(args.base)
    given = {k: getattr(args, k) for k in FIELDS if getattr(args, k) is not None}
    arch = derive_arch(base, dataclasses.replace(HardwareParams.of(base), **given), args.name)
    if args.out:
        write_arch(arch, Path(args.out))
        print(
            f"wrote {args.out}: {arch.name}, {arch.pe_array.x}x{arch.pe_array.y} PEs, {area_mm2(arch):.3f} mm^2 "
            f"(profile with --arch {args.out})"
        )
    else:
        print(arch_yaml(arch), end="")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every sub-command."""
    parser = argparse.ArgumentParser(prog="codesign", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("profile", help="energy, cycles and peak activation of a model on an accelerator")
    p.add_argument("model", help=MODEL_HELP)
    p.add_argument("--trial", help="with a search run folder: the trial to profile")
    p.add_argument("--input-shape", type=_shape, help="input tensor shape, batch first (default 1,3,32,32)")
    p.add_argument("--arch", help="architecture YAML or built-in name (default simple_weight_stationary)")
    p.add_argument("--engine", default="analytic", choices=sorted(ENGINES), help="cost engine")
    p.add_argument("--rubric", help="rubric YAML overriding the lab's default")
    p.add_argument("--timeloop-map", type=Path, help="evaluate a one-layer model under this Timeloop map.yaml")
    p.add_argument(
        "--timeloop-lab",
        type=Path,
        help="with --engine timeloop: the lab's folder (arch/, constraints/, "
        "constraints_dw/, mapper/) to use instead of files written from --arch",
    )
    p.add_argument("--compare", action="store_true", help="print the analytic model beside --engine, per layer")
    p.add_argument("--json", action="store_true", help="print one JSON object (layers, total)")
    p.add_argument("--show-mapping", action="store_true", help="print each layer's chosen mapping")
    p.add_argument("--cache", help="layer-cost cache file (default $CODESIGN_CACHE or ~/.cache/codesign)")
    p.add_argument("--no-cache", action="store_true", help="neither read nor write the layer-cost cache")
    p.set_defaults(func=cmd_profile)

    t = sub.add_parser("train", help="train a model with SGD (rubric rules) and report validation accuracy")
    t.add_argument("model", help=MODEL_HELP)
    t.add_argument("--dataset", default="cifar10", choices=sorted(DATASETS))
    t.add_argument("--data-dir", help="folder holding the dataset (default: the download cache)")
    t.add_argument("--out", help="output folder (default runs/train-MODEL)")
    t.add_argument(
        "--final", action="store_true", help="after training, evaluate the test set once and print the rubric score"
    )
    t.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    t.add_argument("--split-seed", type=int, default=0, help="seed of the train/validation split")
    t.add_argument("--val-size", type=int, help="validation images (default 5000 CIFAR-10, 6000 MNISTs)")
    t.add_argument("--epochs", type=int, help="default: the spec's, else the rubric's maximum (29)")
    t.add_argument("--lr", type=float)
    t.add_argument("--momentum", type=float)
    t.add_argument("--nesterov", action=argparse.BooleanOptionalAction, default=None)
    t.add_argument("--weight-decay", type=float)
    t.add_argument("--batch-size", type=int)
    t.add_argument("--schedule", choices=["constant", "step", "cosine", "onecycle"])
    t.add_argument("--warmup-epochs", type=float)
    t.add_argument("--seed", type=int, help="training seed (weights and batch order)")
    t.add_argument("--arch", help="architecture for --final's energy and latency")
    t.add_argument("--rubric", help="rubric YAML overriding the lab's default")
    t.add_argument("--quiet", action="store_true", help="no progress bar")
    t.set_defaults(func=cmd_train)

    s = sub.add_parser("search", help="co-design search: Pareto front of accuracy, energy and latency")
    s.add_argument("--space", default="rubric_cnn", help="search-space YAML or built-in name (rubric_cnn, lenet)")
    s.add_argument("--dataset", choices=sorted(DATASETS), help="default: the space's dataset")
    s.add_argument("--data-dir", help="folder holding the dataset")
    s.add_argument("--budget", help="time budget, e.g. 8h, 30m, 90s")
    s.add_argument("--trials", type=int, help="number of trials (with or without a budget)")
    s.add_argument("--name", help="run name: outputs go to RUNS_DIR/NAME (default search-<time>)")
    s.add_argument("--runs-dir", default="runs")
    s.add_argument("--resume", action="store_true", help="continue the run --name, keeping every finished trial")
    s.add_argument("--address", help="join an existing Ray cluster (e.g. auto or ray://host:10001)")
    s.add_argument("--concurrency", type=int, default=1, help="trials running at once")
    s.add_argument("--cpus-per-trial", type=float, help="default: CPUs / concurrency")
    s.add_argument("--gpus-per-trial", type=float, default=0.0, help="GPU fraction per trial (e.g. 0.25)")
    s.add_argument(
        "--sampler",
        default="ehvi",
        choices=["ehvi", "tpe", "nsga2", "random"],
        help="ehvi (default): cost many candidates per trial, predict their accuracy, train the one with the best "
        "expected hypervolume improvement; or one of Optuna's samplers",
    )
    s.add_argument(
        "--seed-designs",
        nargs="+",
        default=(),
        metavar="DESIGN",
        help="designs to train first: lenet5, spec .json files, export folders, or past runs (their front)",
    )
    s.add_argument("--asha", action="store_true", help="early-stop weak trials (ASHA on validation accuracy)")
    s.add_argument(
        "--multi-fidelity",
        action="store_true",
        help="train short first: at epochs 1, 3, 9... keep the best third by non-dominated sorting of all objectives",
    )
    s.add_argument("--seed", type=int, default=0, help="sampler and training seed")
    s.add_argument("--train-size", type=int, help="train each trial on the first N training images only")
    s.add_argument("--val-size", type=int, help="validation images carved from the training set")
    s.add_argument("--split-seed", type=int, default=0)
    s.add_argument("--arch", help="architecture YAML or built-in name")
    s.add_argument("--rubric", help="rubric YAML overriding the lab's default")
    s.add_argument("--no-dashboard", action="store_true", help="start Ray without its dashboard")
    s.set_defaults(func=cmd_search)

    e = sub.add_parser("export", help="write a design as a standalone model.py (+ spec, weights, ONNX, README)")
    e.add_argument("source", help="runs/<name>, or any MODEL as in `codesign profile`")
    e.add_argument("--trial", help="with a run folder: the trial to export")
    e.add_argument(
        "--best",
        default="score",
        choices=["score", "accuracy", "energy", "latency"],
        help="with a run folder and no --trial: which best trial (default: rubric score)",
    )
    e.add_argument("--out", required=True, help="output folder")
    e.add_argument("--weights", help="with a MODEL: a state dict to include (e.g. from `codesign train`)")
    e.add_argument("--onnx", action="store_true", help="also write model.onnx (needs codesign[onnx])")
    e.set_defaults(func=cmd_export)

    a = sub.add_parser("arch", help="derive an accelerator of other sizes (energies and area scaled) as YAML")
    a.add_argument("--base", help="arch to resize (default simple_weight_stationary)")
    a.add_argument("--pe-x", type=int, help="PE columns (input channels of dense layers)")
    a.add_argument("--pe-y", type=int, help="PE rows (output channels)")
    a.add_argument("--weight-spad-depth", type=int, help="words in each PE's weight scratchpad")
    a.add_argument("--glb-depth", type=int, help="words in the global buffer")
    a.add_argument("--glb-bandwidth", type=int, help="global-buffer words per cycle (read and write)")
    a.add_argument("--word-bits", type=int, choices=[8, 16, 32])
    a.add_argument("--name", help="the new arch's name (default: base name + sizes)")
    a.add_argument("--out", help="YAML file to write (default: print it)")
    a.set_defaults(func=cmd_arch)

    r = sub.add_parser("report", help="rebuild a run's pareto.csv, report.html and pareto.png")
    r.add_argument("run", help="runs/<name>")
    r.set_defaults(func=cmd_report)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point: one line and exit code 2 for bad input, never a traceback."""
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except CodesignError as exc:
        print(f"codesign: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("codesign: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
