"""codesign: find small CNNs that are accurate and cheap to run on an inference accelerator.

The command line is a thin layer over the Python API (codesign.api): each command parses its flags, calls one
API function and prints the result.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, NoReturn

from codesign import __version__, api
from codesign.arch import MAPPER_ALGORITHMS
from codesign.cost import ENGINES
from codesign.data import DATASETS
from codesign.errors import CodesignError
from codesign.rubric import PJ_PER_MJ

MODEL_HELP = (
    "a built-in (lenet5, lab2023), `path/to/file.py:ClassName` (built with no arguments; runs that file's code), "
    "a spec .json file, a search run folder (with --trial, else its best trial) or an exported / trained folder"
)
MAPPER_HELP = (
    "analytic engine's mapper: random-pruned (timeloop-mapper's own search: the numbers the lab grades; the "
    "arch's default) or exhaustive (the best mapping); the other one's numbers are shown beside"
)
DESCRIPTION = "Find small CNNs that are accurate and cheap to run on an inference accelerator."
EXAMPLES = """common commands:
  codesign search --budget 8h                       search CIFAR-10 designs for the lab's rubric and accelerator
  codesign search --space lenet --dataset fashion-mnist --trials 12 --name quickstart
  codesign profile lenet5                           energy, cycles and rubric points of a model, per layer
  codesign train runs/quickstart --dataset fashion-mnist --final    train a design, score it on the test set
  codesign export runs/quickstart --out best/       the best design as a standalone model.py with weights
  codesign report runs/quickstart                   rebuild a run's Pareto front and report.html

`codesign COMMAND --help` describes each command's flags; `import codesign` gives the same from Python."""


class _Parser(argparse.ArgumentParser):
    """argparse, with a bad flag reported in one line (and exit code 2) instead of the usage block."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _shape(text: str) -> tuple[int, ...]:
    try:
        shape = tuple(int(v) for v in text.replace("x", ",").split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a shape like 1,3,32,32") from None
    if not shape or any(v <= 0 for v in shape):
        raise argparse.ArgumentTypeError(f"{text!r}: every size must be positive")
    return shape


def _positive(kind: type) -> Any:
    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a {kind.__name__}") from None
        if not value > 0:
            raise argparse.ArgumentTypeError(f"must be more than 0, got {text}")
        return value

    parse.__name__ = f"positive {kind.__name__}"
    return parse


def cmd_profile(args: argparse.Namespace) -> int:
    """codesign profile: per-layer energy/cycles table and totals for one model."""
    options = {
        "arch": args.arch,
        "dataset": args.dataset,
        "trial": args.trial,
        "rubric": args.rubric,
        "mapper": args.mapper,
        "cache": False if args.no_cache else (args.cache or True),
    }
    if args.timeloop_map:
        result = api.profile(args.model, args.input_shape, timeloop_map=args.timeloop_map, **options)
    else:
        result = api.profile(
            args.model,
            args.input_shape,
            engine=args.engine,
            timeloop_lab=args.timeloop_lab,
            progress=not args.json,
            **options,
        )
    if args.compare:
        if args.engine == "analytic" or args.timeloop_map:
            raise CodesignError(
                "--compare puts the analytic model beside another engine: add --engine accelforge or timeloop"
            )
        print(api.profile(args.model, args.input_shape, **options).compare(result))
    elif args.json:
        print(json.dumps(result.to_dict(), indent=2, allow_nan=False))
    else:
        print(result.table(show_mapping=args.show_mapping))
    return 0


_SGD_FLAGS = ("lr", "momentum", "nesterov", "weight_decay", "batch_size", "epochs", "schedule", "warmup_epochs", "seed")


def cmd_train(args: argparse.Namespace) -> int:
    """codesign train: SGD on the training split, validation accuracy per epoch, optional final test."""
    sgd = {k: getattr(args, k) for k in _SGD_FLAGS if getattr(args, k) is not None}
    done = api.train(
        args.model,
        args.dataset,
        data_dir=args.data_dir,
        device=args.device,
        split_seed=args.split_seed,
        val_size=args.val_size,
        train_size=args.train_size,
        final=args.final,
        arch=args.arch,
        rubric=args.rubric,
        progress=not args.quiet,
        **sgd,
    )
    summary = done.summary
    print(
        f"{done.status}: validation accuracy {done.val_accuracy:.4f} after {done.epochs} epochs "
        f"({done.seconds:.1f} s, {done.images_per_second:,.0f} images/s)"
    )
    if done.profile is not None and done.test_accuracy is not None:
        p, rubric = done.profile, done.profile.rubric
        score = summary["rubric"]
        print(
            f"test accuracy {done.test_accuracy:.4f} (error {1 - done.test_accuracy:.2%}) -> "
            f"{score['error_points']} points\n"
            f"energy {p.energy_pj / PJ_PER_MJ:.4f} mJ -> {score['energy_points']} points; "
            f"latency {p.cycles:,} cycles -> {score['latency_points']} points; "
            f"peak activation {p.peak_activation_bytes:,} B (limit {rubric.peak_activation_limit_bytes:,} B)\n"
            f"rubric score {score['total']} / {rubric.max_points}"
            f"{'' if score['feasible'] else ' (a hard constraint fails)'}"
        )
    out = done.save(args.out or Path("runs") / f"train-{_slug(args.model)}")
    print(f"saved {out / 'weights.pt'} and {out / 'summary.json'}")
    return 0 if done.status != "diverged" else 1


def _slug(model: str) -> str:
    import re

    return re.sub(r"[^A-Za-z0-9_.-]+", "_", Path(model).stem) or "model"


def _print_front(run: api.SearchRun) -> None:
    trials, front = run.trials, run.front
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
    print(f"outputs: {run.path}/trials.csv, pareto.csv, report.html, pareto.png")


def cmd_search(args: argparse.Namespace) -> int:
    """codesign search: Ray Tune + Optuna co-design search, Pareto front and report under runs/<name>/."""
    run = api.search(
        args.space,
        args.dataset,
        budget=args.budget,
        trials=args.trials,
        name=args.name,
        runs_dir=args.runs_dir,
        sampler=args.sampler,
        seed=args.seed,
        concurrency=args.concurrency,
        cpus_per_trial=args.cpus_per_trial,
        gpus_per_trial=args.gpus_per_trial,
        asha=args.asha,
        address=args.address,
        dashboard=not args.no_dashboard,
        verbose=args.verbose,
        data_dir=args.data_dir,
        train_size=args.train_size,
        val_size=args.val_size,
        split_seed=args.split_seed,
        arch=args.arch,
        rubric=args.rubric,
        mapper=args.mapper,
        resume=args.resume,
        storage=args.storage,
        max_failures=args.max_failures,
        multi_fidelity=args.multi_fidelity,
        seed_designs=tuple(args.seed_designs),
    )
    _print_front(run)
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    """codesign report: rebuild pareto.csv, report.html and pareto.png from a run's trials.csv."""
    from codesign.report import write_outputs

    run = api.load_run(args.run)
    write_outputs(run.path)
    _print_front(run)
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    """codesign export: standalone model.py, spec.json, weights.pt, model.onnx and README.md."""
    from codesign.export import stale_files

    written = api.export(
        args.source,
        args.out,
        trial=args.trial,
        best=args.best,
        weights=args.weights,
        onnx=args.onnx,
        mapper=args.mapper,
        force=args.force,
        dataset=args.dataset,
    )
    names = [p.name for p in written]
    kept = stale_files(Path(args.out), written)
    if kept:
        print(f"note: kept {', '.join(p.name for p in kept)} from before in {args.out} (not written by this export)")
    if "weights.pt" not in names:
        print(f"note: {args.source} has no saved weights (train it with `codesign train`, then --weights)")
    which = f" trial {args.trial}" if args.trial else ""
    print(f"exported {args.source}{which} to {args.out}: {', '.join(names)}")
    return 0


def cmd_arch(args: argparse.Namespace) -> int:
    """codesign arch: a derived accelerator (other sizes, scaled energies and area) as a YAML file."""
    from codesign.hardware import FIELDS, arch_yaml, area_mm2, write_arch

    arch = api.derive(args.base, args.name, **{k: getattr(args, k) for k in FIELDS if getattr(args, k) is not None})
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
    parser = _Parser(
        prog="codesign", description=DESCRIPTION, epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--version", action="version", version=f"codesign {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=_Parser)
    p = sub.add_parser("profile", help="energy, cycles and peak activation of a model on an accelerator")
    p.add_argument("model", help=MODEL_HELP)
    p.add_argument("--trial", help="with a search run folder: the trial to profile")
    p.add_argument("--input-shape", type=_shape, help="input tensor shape, batch first (default 1,3,32,32)")
    p.add_argument("--dataset", choices=sorted(DATASETS), help="shape a built-in model for this data set's images")
    p.add_argument(
        "--arch", help="architecture YAML or built-in name (default: the rubric's, simple_weight_stationary)"
    )
    p.add_argument("--engine", default="analytic", choices=sorted(ENGINES), help="cost engine")
    p.add_argument("--mapper", choices=MAPPER_ALGORITHMS, help=MAPPER_HELP)
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
    t.add_argument("--val-size", type=_positive(int), help="validation images (default 5000 CIFAR-10, 6000 MNISTs)")
    t.add_argument(
        "--train-size", type=_positive(int), help="train on the first N training images only (as a search's)"
    )
    t.add_argument("--epochs", type=_positive(int), help="default: the spec's, else the rubric's maximum (29)")
    t.add_argument("--lr", type=_positive(float))
    t.add_argument("--momentum", type=float)
    t.add_argument("--nesterov", action=argparse.BooleanOptionalAction, default=None)
    t.add_argument("--weight-decay", type=float)
    t.add_argument("--batch-size", type=_positive(int))
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
    s.add_argument("--trials", type=_positive(int), help="number of trials (with or without a budget)")
    s.add_argument("--name", help="run name: outputs go to RUNS_DIR/NAME (default search-<time>)")
    s.add_argument("--runs-dir", default="runs")
    s.add_argument("--resume", action="store_true", help="continue the run --name, keeping every finished trial")
    s.add_argument("--address", help="join an existing Ray cluster (e.g. auto or ray://host:10001)")
    s.add_argument(
        "--storage",
        help="where trials write their checkpoints: a path every node sees, or s3://, gs://, file:// "
        "(default: --runs-dir); run files are copied there too",
    )
    s.add_argument(
        "--max-failures", type=int, default=2, help="retries of a trial whose process or node dies (default 2)"
    )
    s.add_argument("--concurrency", type=_positive(int), default=1, help="trials running at once")
    s.add_argument("--cpus-per-trial", type=_positive(float), help="default: CPUs / concurrency")
    s.add_argument(
        "--gpus-per-trial", type=float, help="GPU fraction per trial (default: 1/concurrency with CUDA, else 0)"
    )
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
    s.add_argument("--train-size", type=_positive(int), help="train each trial on the first N training images only")
    s.add_argument("--val-size", type=_positive(int), help="validation images carved from the training set")
    s.add_argument("--split-seed", type=int, default=0)
    s.add_argument("--arch", help="architecture YAML or built-in name")
    s.add_argument("--mapper", choices=MAPPER_ALGORITHMS, help=MAPPER_HELP + " (the energy and latency objectives)")
    s.add_argument("--rubric", help="rubric YAML overriding the lab's default")
    s.add_argument("--no-dashboard", action="store_true", help="start Ray without its dashboard")
    s.add_argument("-v", "--verbose", action="store_true", help="also print Ray Tune's status table and Optuna's log")
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
    e.add_argument("--mapper", choices=MAPPER_ALGORITHMS, help=MAPPER_HELP + " (the README's inference cost)")
    e.add_argument(
        "--dataset",
        choices=sorted(DATASETS),
        help="the data set the weights were trained on, when the source does not record it (a run or a "
        "`codesign train` folder does): its normalisation goes inside the model",
    )
    e.add_argument(
        "--force",
        action="store_true",
        help="write into a folder that is not empty (files of the export's names are replaced, others kept)",
    )
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
    r.add_argument("run", help="runs/<name>, or the run in its storage (e.g. s3://bucket/runs/<name>)")
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
    except KeyboardInterrupt as exc:  # a search stopped by Ctrl-C says what it kept
        print(f"codesign: {exc or 'interrupted'}", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
